"""The files the jobs read and write: usage (JSON lines or an Avro container) and
commands (JSON lines) in, dead letters out as JSON lines."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, cast

import orjson

from rater.codec.deadletter import DeadLetter
from rater.codec.jsonl import BadInput, DecodeError, usage_from_json, usage_line
from rater.core.inputs import Command, Tick, UsageRecord


class Reading:
    """Bytes of an input file read so far (for the progress bar), and, in a process that
    rates a share of the partitions (`rater.jobs.shares`), which lines are its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total = path.stat().st_size if path.is_file() else None
        self.done = 0
        # the line's MSISDN (None if it has none that can be read) -> rated here?
        self.owns: Callable[[str | None], bool] | None = None


SKIPPED: Final = None  # a line another process of the run rates (`Reading.owns`)


def read_usage(
    path: Path, reading: Reading | None = None
) -> Iterator[UsageRecord | tuple[BadInput, bytes]]:
    """Usage as JSON lines or as an Avro container file; a line that cannot be read is
    yielded as (why, its raw bytes), in its place."""
    return cast(Iterator[UsageRecord | tuple[BadInput, bytes]], _read(path, reading, None))


def read_usage_share(
    path: Path, reading: Reading
) -> Iterator[UsageRecord | tuple[BadInput, bytes] | None]:
    """`read_usage` for a process rating a share of the partitions: a line of another
    share (`Reading.owns`, set once the job knows its router) is SKIPPED, unread, so
    that every process counts the same lines."""
    return _read(path, reading, reading)


def _read(
    path: Path, reading: Reading | None, shared: Reading | None
) -> Iterator[UsageRecord | tuple[BadInput, bytes] | None]:
    owns = shared.owns if shared is not None else None
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"Obj\x01":
            from rater.codec.container import read_usage_container

            bad: list[BadInput] = []
            for rec in read_usage_container(f, str(path), bad.append):
                for b in bad:
                    yield (b, b"") if owns is None or owns(None) else SKIPPED
                bad.clear()
                yield rec if owns is None or owns(rec.msisdn) else SKIPPED
            for b in bad:
                yield (b, b"") if owns is None or owns(None) else SKIPPED
            return
        done = 0
        loads = orjson.loads
        for n, raw in enumerate(f, start=1):
            done += len(raw)
            if reading is not None and not n & 1023:
                reading.done = done
            if not raw.strip():
                continue
            line = usage_line(raw)
            if line is not None:  # the common line, read in one step
                yield line if owns is None or owns(line.msisdn) else SKIPPED
                continue
            try:
                obj = loads(raw)
                if owns is not None:
                    msisdn = obj.get("msisdn") if type(obj) is dict else None
                    if not owns(msisdn if type(msisdn) is str else None):
                        yield SKIPPED
                        continue
                yield usage_from_json(obj)
            except orjson.JSONDecodeError as e:
                if owns is None or owns(None):
                    yield BadInput(str(path), n, f"not JSON: {e}"), raw
                else:
                    yield SKIPPED
            except DecodeError as e:
                yield BadInput(str(path), n, str(e)), raw
        if reading is not None:
            reading.done = done


def dead_letter_json(d: DeadLetter) -> bytes:
    """A dead letter as one JSON line (bytes fields in base64, `*_b64`), newline ended."""
    obj: dict[str, Any] = {}
    for f in dataclasses.fields(d):
        v = getattr(d, f.name)
        if isinstance(v, bytes):
            obj[f.name + "_b64"] = base64.b64encode(v).decode()
        else:
            obj[f.name] = v
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)


class CommandsError(ValueError):
    """A commands file that cannot be used, naming the file, line and reason."""


def read_commands(path: Path) -> list[Command | Tick]:
    """A commands file: JSON lines of the command schema (`rater.codec.jsonl`), ticks
    allowed. Refused whole on the first bad line: a person wrote it."""
    from rater.codec.jsonl import input_from_json

    out: list[Command | Tick] = []
    try:
        f = path.open("rb")
    except OSError as e:
        raise CommandsError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                item = input_from_json(orjson.loads(raw))
            except orjson.JSONDecodeError as e:
                raise CommandsError(f"{path}:{n}: not JSON: {e}") from None
            except DecodeError as e:
                raise CommandsError(f"{path}:{n}: {e}") from None
            if isinstance(item, UsageRecord):
                raise CommandsError(f"{path}:{n}: a usage record, not a command")
            out.append(item)
    return out


def in_time_order(*sources: list[Command | Tick]) -> list[Command | Tick]:
    """Commands of several files in the order they go on the command topic: by time;
    on a tie, the earlier file first, then file order (a stable sort)."""
    merged = [c for src in sources for c in src]
    merged.sort(key=lambda c: c.time)
    return merged

"""The files the jobs read and write: usage (JSON lines or an Avro container) and
commands (JSON lines) in, dead letters out as JSON lines."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Iterator
from itertools import compress
from pathlib import Path
from typing import Any, Final, cast

import orjson

from rater.codec.deadletter import DeadLetter
from rater.codec.jsonl import (
    BadInput,
    DecodeError,
    line_msisdns,
    usage_from_json,
    usage_line,
    usage_lines,
    usage_of_line,
)
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
        # the same for a block's MSISDNs at once (None: `owns` line by line)
        self.owns_many: Callable[[list[str]], list[bool]] | None = None


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
    owns_many = shared.owns_many if shared is not None else None
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
        n = 0  # lines so far, blank ones included: a bad line is named by its number
        rest = b""
        while True:
            data = f.read(BLOCK_BYTES)
            if data:
                data = rest + data if rest else data
                cut = data.rfind(b"\n") + 1
                if not cut:  # a line longer than a block so far
                    rest = data
                    continue
                block, rest = data[:cut], data[cut:]
                lines = block.split(b"\n")
                lines.pop()  # after the last newline: nothing
            elif rest:  # the last line, with no newline
                block, rest, lines = rest, b"", [rest]
            else:
                break
            done += len(block)
            ended = block.endswith(b"\n")
            if owns is None:
                parsed = usage_lines(lines)
                if parsed is not None:  # the common block: every line read in one step
                    yield from map(usage_of_line, parsed)
                else:
                    yield from _read_lines(path, lines, n, ended, None)
            else:
                yield from _read_share(path, lines, n, ended, owns, owns_many)
            n += len(lines)
            if reading is not None:
                reading.done = done


# bytes read at a time from a JSON-lines file (its lines read in one step: `usage_lines`):
# about a hundred lines. Reading 1 000 000 lines for a process that rates half of them
# took 1.24 s at 32 KiB, 2.1 s at 64 KiB and 2.9 s at 1 MiB (the lines and what is read
# from them no longer fit in the CPU's caches), against 1.9 s line by line
BLOCK_BYTES: Final = 1 << 15


def _read_share(
    path: Path,
    lines: list[bytes],
    before: int,
    ended: bool,
    owns: Callable[[str | None], bool],
    owns_many: Callable[[list[str]], list[bool]] | None,
) -> Iterator[UsageRecord | tuple[BadInput, bytes] | None]:
    """A block for a process that rates a share of the file: a line is its own if its
    "msisdn" is (`line_msisdns`; a line with none that can be read is the first share's,
    `_read_lines`); another share's line is SKIPPED, not read further."""
    msisdns = line_msisdns(lines)
    if msisdns is None:
        yield from _read_lines(path, lines, before, ended, owns)
        return
    mine = owns_many(msisdns) if owns_many is not None else list(map(owns, msisdns))
    parsed = usage_lines(list(compress(lines, mine)))
    if parsed is not None:  # its own lines, each the common line: read in one step
        records = map(usage_of_line, parsed)
        for m in mine:
            yield next(records) if m else SKIPPED
        return
    last = len(lines) - 1  # a block with a line that is not the common one
    for i, m in enumerate(mine):
        raw = lines[i] + b"\n" if ended or i < last else lines[i]
        yield _read_line(path, before + i + 1, raw, None) if m else SKIPPED


def _read_lines(
    path: Path,
    lines: list[bytes],
    before: int,
    ended: bool,
    owns: Callable[[str | None], bool] | None,
) -> Iterator[UsageRecord | tuple[BadInput, bytes] | None]:
    """A block of lines with one that is not the common well-formed line: each line on
    its own, a bad one with its precise error (and its bytes, newline included, in the
    dead letter). `before`: the lines before the block; `ended`: the block's last line
    ends with a newline (all but a file's last line do). With `owns`, a line belongs to
    the share of its "msisdn", read as `line_msisdns` reads it, else as the strict path
    reads it: every share decides alike."""
    last = len(lines) - 1
    for i, line in enumerate(lines):
        raw = line + b"\n" if ended or i < last else line
        if not raw.strip():
            continue
        if owns is not None:
            msisdn = line_msisdns([raw])
            if msisdn is not None:
                yield _read_line(path, before + i + 1, raw, None) if owns(msisdn[0]) else SKIPPED
                continue
        yield _read_line(path, before + i + 1, raw, owns)


def _read_line(
    path: Path, n: int, raw: bytes, owns: Callable[[str | None], bool] | None
) -> UsageRecord | tuple[BadInput, bytes] | None:
    """Line `n`: its record, or why it cannot be read with its bytes (SKIPPED if
    `owns` says another share has it)."""
    rec = usage_line(raw)
    if rec is not None:  # the common line, read in one step
        return rec if owns is None or owns(rec.msisdn) else SKIPPED
    try:
        obj = orjson.loads(raw)
        if owns is not None:
            msisdn = obj.get("msisdn") if type(obj) is dict else None
            if not owns(msisdn if type(msisdn) is str else None):
                return SKIPPED
        return usage_from_json(obj)
    except orjson.JSONDecodeError as e:
        if owns is None or owns(None):
            return BadInput(str(path), n, f"not JSON: {e}"), raw
        return SKIPPED
    except DecodeError as e:
        return BadInput(str(path), n, str(e)), raw


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

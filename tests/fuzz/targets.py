"""Fuzz targets of the decoders: each takes any bytes and checks the property every
input must have, raising AssertionError (or letting an unexpected exception out) when it
does not. They import no fuzzer: `fuzz_decoders.py` runs them under atheris, the unit
tests run the seeds and the crashes found once (`tests/fuzz/test_fuzz_regressions.py`).

The property, for ANY bytes: decoding gives an input of the right type that encodes back
to itself, or raises the project's `DecodeError` (or yields a `BadInput`), the way to the
dead-letter path; never another exception. Lengths and counts are bounded by the input
(the fuzzer's `-max_len`), hangs are caught by its `-timeout` and huge allocations by its
`-rss_limit_mb`.

Targets (`TARGETS`):

* `usage`, `command`: the generated Avro decoders on raw bodies;
* `framed`: the Confluent wire format (magic byte, schema id, body) through `FramedCodec`
  with a registry stub that knows the current schemas and older/newer writer versions
  (so the fastavro resolving path is fuzzed too), and answers 404 to any other id;
* `jsonl`: the JSON-lines usage reader of `rater simulate` (`read_usage`, which also
  reads Avro container files when the bytes start with their magic) and the commands
  file reader (`read_commands`), on the bytes as a file;
* `arrive`: what the stream calls per consumed message, `BatchRater.arrive`, on an
  `InMessage` built from the bytes (usage or command topic, plain or framed codecs, a
  key or none, a value or a tombstone); an input refused is then turned into its dead
  letter by `BatchRater.rate`, which must fit the dead-letter topic and decode back.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, cast

from rater.catalog.load import load_catalog
from rater.codec import avro
from rater.codec.codecs import PLAIN, WireCodecs, wire_codecs
from rater.codec.deadletter import MAX_DEAD_LETTER_BYTES, DeadLetter
from rater.codec.errors import BadInput, DecodeError, ErrorClass
from rater.codec.jsonl import input_from_json
from rater.codec.validate import check_command, check_usage
from rater.codec.wire import HEADER_SIZE, MAX_FAILED_IDS, FramedCodec, RegistryError, frame
from rater.config import Settings, Topics
from rater.core.engine import Rater
from rater.core.inputs import (
    AddSharingMember,
    CancelProduct,
    ChangePlan,
    CloseAccount,
    Command,
    OrderProduct,
    RemoveSharingMember,
    SetStatus,
    SubscriberStatus,
    Tick,
    UsageRecord,
)
from rater.jobs.files import CommandsError, read_commands, read_usage
from rater.pipeline.align import BAD, Arrival
from rater.pipeline.batch import COMMAND_TYPES, BatchRater
from rater.pipeline.messages import InMessage
from rater.subscribers import load_subscribers, to_commands

ROOT: Final = Path(__file__).resolve().parents[2]
EXAMPLES: Final = ROOT / "examples"
NOW_MS: Final = 1_776_000_000_000  # 2026-04-12: the examples' month
MAX_FUTURE_MS: Final = 24 * 3_600_000
TOPICS: Final = Topics()
# what a DecodeError may say: the decoders' own classes, and the JSON readers' range checks
_DECODE_CLASSES: Final = frozenset(
    {ErrorClass.DECODE_ERROR, ErrorClass.SCHEMA_MISMATCH, ErrorClass.INVALID_VALUE}
)
_DEAD_CLASSES: Final = frozenset(ErrorClass)
MAX_ERROR_TEXT: Final = 4_000  # a DecodeError's message is short: it never repeats input


# --- the registry stub ----------------------------------------------------------------


class StubRegistry:
    """What `FramedCodec` asks a registry, in memory: ids from 1 for what the codecs
    register, and a few other writer versions under fixed ids (`OTHER_WRITERS`)."""

    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.ids: dict[str, int] = {}
        for sid, schema in OTHER_WRITERS.items():
            self.schemas[sid] = json.dumps(schema)

    def register(self, subject: str, schema: str | dict[str, Any]) -> int:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        sid = self.ids.get(text)
        if sid is None:
            sid = self.ids[text] = len(self.ids) + 1
            self.schemas[sid] = text
        return sid

    def get_schema(self, schema_id: int) -> str:
        try:
            return self.schemas[schema_id]
        except KeyError:
            raise RegistryError(f"schema {schema_id} not found", 404, 40403) from None


def _usage_without(field: str) -> dict[str, Any]:
    raw = copy.deepcopy(avro.USAGE.schema)
    raw["fields"] = [f for f in raw["fields"] if f["name"] != field]
    return raw


def _usage_with_extras() -> dict[str, Any]:
    """A newer writer: fields the reader does not know, which resolution must skip."""
    raw = copy.deepcopy(avro.USAGE.schema)
    raw["fields"] += [
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {"name": "attrs", "type": {"type": "map", "values": "long"}, "default": {}},
        {"name": "blob", "type": ["null", "bytes"], "default": None},
        {"name": "ratio", "type": "double", "default": 0.0},
    ]
    return raw


def _command_with_fewer_branches() -> dict[str, Any]:
    raw = copy.deepcopy(avro.COMMAND.schema)
    for f in raw["fields"]:
        if f["name"] == avro.COMMAND_BODY_FIELD:
            f["type"] = [b for b in f["type"] if b["name"] in ("OrderProduct", "CancelProduct")]
    return raw


OTHER_WRITERS: Final[dict[int, dict[str, Any]]] = {
    1001: _usage_without("app_id"),
    1002: _usage_with_extras(),
    1003: _command_with_fewer_branches(),
}


def framed_codecs() -> tuple[StubRegistry, WireCodecs, FramedCodec[UsageRecord], FramedCodec[Any]]:
    """The stream's codecs with a registry (`wire_codecs`), and FramedCodecs of usage and
    commands on the same registry."""
    registry = StubRegistry()
    codecs = wire_codecs(Settings(), registry)
    usage = FramedCodec.registered(avro.USAGE, registry, "usage-value")  # type: ignore[arg-type]
    command = FramedCodec.registered(avro.COMMAND, registry, "commands-value")  # type: ignore[arg-type]
    return registry, codecs, usage, command


REGISTRY, FRAMED, FRAMED_USAGE, FRAMED_COMMAND = framed_codecs()
# usage is registered first, commands second, then the outputs' schemas
assert FRAMED_USAGE.schema_id == 1 and FRAMED_COMMAND.schema_id == 2

# --- shared checks --------------------------------------------------------------------


def _check_error(e: DecodeError) -> None:
    assert e.reason_class in _DECODE_CLASSES, e.reason_class
    assert isinstance(e.message, str)
    assert len(e.message) <= MAX_ERROR_TEXT, f"error text of {len(e.message)} chars"


def _check_usage(rec: object) -> None:
    """A decoded usage record: the right type, encodes back to itself, and the input
    checks answer (None or a reason) without raising."""
    assert type(rec) is UsageRecord, type(rec)
    assert avro.decode_usage(avro.encode_usage(rec)) == rec
    problem = check_usage(rec, NOW_MS, MAX_FUTURE_MS)
    assert problem is None or _is_reason(problem), problem


def _check_command(value: object) -> None:
    assert type(value) in (*COMMAND_TYPES, Tick), type(value)
    cmd = cast(Command | Tick, value)
    assert avro.decode_command(avro.encode_command(cmd)) == cmd
    problem = check_command(cmd)
    assert problem is None or _is_reason(problem), problem


def _is_reason(problem: object) -> bool:
    return (
        isinstance(problem, tuple)
        and len(problem) == 2
        and problem[0] in _DEAD_CLASSES
        and isinstance(problem[1], str)
    )


# --- targets --------------------------------------------------------------------------


def fuzz_usage(data: bytes) -> None:
    """The generated usage decoder on a raw Avro body."""
    try:
        rec = avro.decode_usage(data)
    except DecodeError as e:
        _check_error(e)
        return
    _check_usage(rec)


def fuzz_command(data: bytes) -> None:
    """The generated command decoder (the envelope of every command and the tick)."""
    try:
        cmd = avro.decode_command(data)
    except DecodeError as e:
        _check_error(e)
        return
    _check_command(cmd)


def fuzz_framed(data: bytes) -> None:
    """Confluent wire format, usage and commands codecs, own and other schema ids."""
    for codec, check in ((FRAMED_USAGE, _check_usage), (FRAMED_COMMAND, _check_command)):
        try:
            value = codec.decode(data)
        except DecodeError as e:
            _check_error(e)
            continue
        assert len(data) >= HEADER_SIZE and data[0] == 0
        check(value)
        # what the codec remembers of other schema ids is bounded, whatever ids come
        assert len(codec._decoders) <= len(REGISTRY.schemas)
        assert len(codec._failed) <= MAX_FAILED_IDS


# the readers take a path: the input goes into a file in memory that disappears with the
# process (opening a file on the disk costs a millisecond here, 20x the rest, and
# libFuzzer ends the process without running Python's exit handlers)
_FD: Final = os.memfd_create("rater-fuzz-input")
_FILE: Final = Path(f"/proc/self/fd/{_FD}")


def _as_file(data: bytes) -> Path:
    os.ftruncate(_FD, 0)
    os.pwrite(_FD, data, 0)
    return _FILE


def fuzz_jsonl(data: bytes) -> None:
    """`rater simulate`'s usage reader and commands reader on the bytes as a file."""
    path = _as_file(data)
    batch = _batch(PLAIN)
    for offset, item in enumerate(read_usage(path)):
        if isinstance(item, UsageRecord):
            _check_usage(item)
            # the offline path: checked like the stream, a refused one re-encoded into its
            # dead letter (value None: the bytes `rater produce` would send)
            m = InMessage(TOPICS.usage, 0, offset, None, None, item.start_time)
            _check_arrival(batch, PLAIN, batch.checked(m, item, item.msisdn, NOW_MS))
        else:
            bad, raw = item
            assert isinstance(bad, BadInput) and isinstance(bad.reason, str), item
            assert isinstance(raw, bytes)
    try:
        commands = read_commands(path)
    except CommandsError:
        return
    for cmd in commands:
        _check_command(cmd)


def fuzz_arrive(data: bytes) -> None:
    """`BatchRater.arrive` on a message built from the bytes. Byte 0 chooses: bit 0 the
    command topic (else usage), bit 1 the framed codecs (else plain Avro), bit 2 a key
    (its length is byte 1, then its bytes), bit 3 a tombstone (no value); the rest is the
    value."""
    if not data:
        return
    flags, rest = data[0], data[1:]
    key: bytes | None = None
    if flags & 4 and rest:
        n, rest = rest[0], rest[1:]
        key, rest = rest[:n], rest[n:]
    value = None if flags & 8 else rest
    topic = TOPICS.commands if flags & 1 else TOPICS.usage
    codecs = FRAMED if flags & 2 else PLAIN
    batch = _batch(codecs)
    m = InMessage(topic, 3, 7, key, value, NOW_MS)
    a = batch.arrive(m, NOW_MS)
    assert a.msg is m
    _check_arrival(batch, codecs, a)


_BATCHES: dict[int, BatchRater] = {}


def _batch(codecs: WireCodecs) -> BatchRater:
    b = _BATCHES.get(id(codecs))
    if b is None:
        rater = Rater(load_catalog(EXAMPLES / "catalog-basic.yaml"))
        b = _BATCHES[id(codecs)] = BatchRater(
            rater, TOPICS, MAX_FUTURE_MS, now_ms=lambda: NOW_MS, codecs=codecs
        )
    return b


def _check_arrival(batch: BatchRater, codecs: WireCodecs, a: Arrival) -> None:
    """A good arrival is an input that passed its checks; a refused one becomes one dead
    letter, on the dead-letter topic, within its size limit, that decodes back."""
    m = a.msg
    if a.time != BAD:
        it = a.item
        if m.topic == TOPICS.usage:
            assert type(it) is UsageRecord, type(it)
            assert check_usage(it, NOW_MS, MAX_FUTURE_MS) is None
            assert a.time == it.start_time and isinstance(a.key, str)
        elif type(it) is Tick:
            assert a.time == it.time and a.key is None
        else:
            assert type(it) in COMMAND_TYPES, type(it)
            cmd = cast(Command, it)
            assert check_command(cmd) is None
            assert a.time == cmd.time and isinstance(a.key, str)
        return
    it = a.item
    if isinstance(it, DecodeError):
        _check_error(it)
    else:
        assert _is_reason(it), it
    res = batch.rate([a], load=lambda keys: {}, due=lambda t, limit: [])
    assert len(res.dead) == 1 and len(res.out) == 1, (res.dead, res.out)
    (dl,), (out,) = res.dead, res.out
    assert out.topic == TOPICS.dead_letter
    header = 0 if codecs is PLAIN else HEADER_SIZE
    assert len(out.value) <= MAX_DEAD_LETTER_BYTES + header
    back = avro.decode_dead_letter(out.value[header:])
    assert back == dl and isinstance(back, DeadLetter)
    assert dl.error_class in _DEAD_CLASSES
    if m.value is not None:
        assert dl.payload == m.value and not dl.truncated


TARGETS: Final[dict[str, Callable[[bytes], None]]] = {
    "usage": fuzz_usage,
    "command": fuzz_command,
    "framed": fuzz_framed,
    "jsonl": fuzz_jsonl,
    "arrive": fuzz_arrive,
}


# --- seed corpora: real messages ------------------------------------------------------


def example_usage() -> list[UsageRecord]:
    """The good lines of examples/usage-basic.jsonl, decoded (it has a broken one too)."""
    return [r for r in read_usage(EXAMPLES / "usage-basic.jsonl") if isinstance(r, UsageRecord)]


def example_commands() -> list[Command | Tick]:
    """The commands of examples/subscribers-basic.yaml, one of every other kind, a tick."""
    cmds: list[Command | Tick] = list(
        to_commands(load_subscribers(EXAMPLES / "subscribers-basic.yaml"))
    )
    t = NOW_MS
    cmds += [
        OrderProduct("c-order", "13800000001", t, "T1G"),
        CancelProduct("c-cancel", "13800000001", t, "N2G"),
        ChangePlan("c-plan", "13800000002", t, "P58"),
        AddSharingMember("c-add", "13800000003", t, "13800000006"),
        RemoveSharingMember("c-remove", "13800000003", t, "13800000004"),
        SetStatus("c-status", "13800000005", t, SubscriberStatus.ARREARS),
        CloseAccount("c-close", "13800000005", t),
        Tick(t),
    ]
    return cmds


def seeds(target: str) -> Iterator[bytes]:
    """Real encoded messages to start each target from."""
    usage = [avro.encode_usage(r) for r in example_usage()]
    commands = [avro.encode_command(c) for c in example_commands()]
    if target == "usage":
        yield from usage
    elif target == "command":
        yield from commands
    elif target == "framed":
        yield from (frame(1, b) for b in usage)
        yield from (frame(2, b) for b in commands)
        yield frame(1001, _write_with(OTHER_WRITERS[1001], example_usage()[0], drop="app_id"))
        yield frame(1002, _write_with(OTHER_WRITERS[1002], example_usage()[2]))
        yield frame(1003, _write_with(OTHER_WRITERS[1003], example_commands()[-8]))
        yield frame(77, usage[0])  # an id the registry does not know
    elif target == "jsonl":
        lines = (EXAMPLES / "usage-basic.jsonl").read_bytes().splitlines(keepends=True)
        yield from lines[:4]
        yield b"".join(lines)
        yield from (
            json.dumps(input_from_json_dump(c)).encode() + b"\n" for c in example_commands()[:3]
        )
    elif target == "arrive":
        for b in usage:
            yield bytes([0]) + b
            yield bytes([4, 11]) + b"13800000001" + b
        for b in commands:
            yield bytes([1]) + b
        yield from (bytes([2]) + frame(1, b) for b in usage[:4])
        yield from (bytes([3]) + frame(2, b) for b in commands[:4])
        yield bytes([8])
    else:
        raise KeyError(target)


def input_from_json_dump(c: Command | Tick) -> dict[str, Any]:
    from rater.codec.jsonl import input_to_json

    out = input_to_json(c)
    assert input_from_json(out) == c
    return out


def _write_with(schema: dict[str, Any], value: Any, drop: str | None = None) -> bytes:
    """`value` written with another writer schema by fastavro (the reference)."""
    import io

    import fastavro

    from tests.unit.codec.strategies import avro_datum

    datum = avro_datum(value)
    if drop is not None:
        del datum[drop]
    parsed = fastavro.parse_schema(avro.strip_logical_types(schema), named_schemas={})
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, parsed, datum)
    return bio.getvalue()


def write_seeds(target: str, directory: Path) -> int:
    """The target's seeds as files named by content in `directory` (idempotent)."""
    import hashlib

    directory.mkdir(parents=True, exist_ok=True)
    n = 0
    for data in seeds(target):
        path = directory / f"seed-{hashlib.sha1(data).hexdigest()}"
        if not path.exists():
            path.write_bytes(data)
        n += 1
    return n

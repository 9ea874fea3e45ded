"""JSON lines for the offline simulator, fixtures and replay comparisons.

Objects use the Avro field names (the shapes are derived from schemas/*.avsc, so the
two formats cannot drift apart), plus a "type" field:

* usage records: optional "type": "usage";
* commands: "type" is one of new_subscriber, order, cancel, change_plan, add_member,
  remove_member, close_account, set_status; the common fields (command_id, msisdn, time)
  and the command's own fields sit side by side (no "body");
* clock ticks: {"type": "tick", "time": ...};
* output events: "type" is charge, throttle, notification or unrated.

Reading is strict: a missing field, an unknown field, a wrong JSON type (a bool or a
float is not an integer), an unknown enum symbol raise `DecodeError(DECODE_ERROR, ...)`,
a value out of range (negative bytes or duration, an int beyond Avro's long) raises
`DecodeError(INVALID_VALUE, ...)`; the message names the field. Nullable fields may be
omitted (null); "packs" and "draws" may be omitted (empty). Timestamps (fields that are
`timestamp-millis` in Avro) accept int epoch milliseconds or an ISO-8601 string with a
UTC offset ("2026-04-18T23:30:00+08:00", "...Z").

Writing is deterministic: `event_to_line` sorts keys, uses compact separators, writes
enums as their string value, timestamps as int epoch ms, and nulls explicitly.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson

from rater.codec import avro
from rater.codec.errors import BadInput, DecodeError
from rater.codec.jsonshape import (
    LONG_MAX,
    bad,
    command_shapes,
    parse_time,
    record_shape,
    show,
)
from rater.codec.kinds import COMMAND_CLASS, COMMAND_TYPE, EVENT_CLASS, EVENT_KIND
from rater.core.events import Event
from rater.core.inputs import Command, Direction, Roaming, Tick, UsageRecord, UsageType
from rater.frozen import fast_constructor

__all__ = [
    "BadInput",
    "DecodeError",
    "command_from_json",
    "command_to_json",
    "dumps_line",
    "event_from_json",
    "event_to_json",
    "event_to_line",
    "input_from_json",
    "input_to_json",
    "loads_line",
    "parse_time",
    "usage_from_json",
    "usage_to_json",
]


_USAGE: Final = record_shape(avro.USAGE)
_COMMANDS: Final = command_shapes()
_COMMAND_BY_TYPE: Final = {t: _COMMANDS[cls] for t, cls in COMMAND_CLASS.items()}
_EVENTS: Final = {kind: record_shape(avro.EVENT_TYPES[kind]) for kind in EVENT_CLASS}
_EVENT_BY_CLASS: Final = {EVENT_CLASS[kind]: shape for kind, shape in _EVENTS.items()}
_TYPE: Final = frozenset({"type"})


def _type_of(obj: object, what: str) -> str:
    if not isinstance(obj, Mapping):
        raise bad(what, f"expected a JSON object, got {type(obj).__name__}")
    t = obj.get("type")
    if not isinstance(t, str):
        raise bad(f"{what}.type", "missing" if t is None else f"expected a string, got {show(t)}")
    return t


# --- public API -----------------------------------------------------------------------


_USAGE_KEYS: Final = frozenset(f.name for f in dataclasses.fields(UsageRecord)) | {"type"}
_USAGE_TYPES: Final = {m.value: m for m in UsageType}
_ROAMING: Final = {m.value: m for m in Roaming}
_DIRECTIONS: Final = {m.value: m for m in Direction}
_new_usage: Final = fast_constructor(UsageRecord)


def _usage_fast(obj: Any) -> UsageRecord | None:
    """The common, well-formed usage line, without the generic per-field walk (about 5x
    faster; offline jobs read one per record). None for anything else, which the strict
    path then reads, with its precise error. Accepts only what the strict path accepts
    with the same result (a property test in tests/unit/codec/test_codec_jsonl.py)."""
    if type(obj) is not dict or not obj.keys() <= _USAGE_KEYS:
        return None
    try:
        rid, msisdn = obj["record_id"], obj["msisdn"]
        utype = _USAGE_TYPES[obj["usage_type"]]
        start, dur = obj["start_time"], obj["duration_s"]
        up, down = obj["uplink_bytes"], obj["downlink_bytes"]
        province, rat = obj["province"], obj["rat"]
        roaming = _ROAMING[obj["roaming"]]
        seq = obj["sequence"]
        d = obj.get("direction")
        direction = None if d is None else _DIRECTIONS[d]
    except (KeyError, TypeError):  # missing, or an unhashable value as an enum symbol
        return None
    app, group = obj.get("app_id"), obj.get("rating_group")
    if (
        type(rid) is not str
        or type(msisdn) is not str
        or type(province) is not str
        or type(rat) is not str
        or not (app is None or type(app) is str)
        or not (group is None or (type(group) is int and 0 <= group <= LONG_MAX))
        or type(start) is not int
        or type(dur) is not int
        or type(up) is not int
        or type(down) is not int
        or type(seq) is not int
        or not 0 <= start <= LONG_MAX
        or not 0 <= dur <= LONG_MAX
        or not 0 <= up <= LONG_MAX
        or not 0 <= down <= LONG_MAX
        or not 0 <= seq <= LONG_MAX
        or obj.get("type", "usage") != "usage"
    ):
        return None
    rec: UsageRecord = _new_usage(
        rid, msisdn, utype, start, dur, up, down, app, group, province, rat, roaming, direction, seq
    )
    return rec


_Long = Annotated[int, msgspec.Meta(ge=0, le=LONG_MAX)]


class UsageLine(msgspec.Struct, forbid_unknown_fields=True):
    """A well-formed usage line as msgspec decodes it (`usage_line`, `usage_lines`)."""

    record_id: str
    msisdn: str
    usage_type: UsageType
    start_time: _Long
    duration_s: _Long
    uplink_bytes: _Long
    downlink_bytes: _Long
    province: str
    rat: str
    roaming: Roaming
    sequence: _Long
    app_id: str | None = None
    rating_group: _Long | None = None
    direction: Direction | None = None
    type: Literal["usage"] = "usage"


_decode_usage_line: Final = msgspec.json.Decoder(UsageLine).decode


def usage_line(raw: bytes) -> UsageRecord | None:
    """The common, well-formed usage line read from its bytes in one step (msgspec
    parses and checks it; about twice as fast as parsing with orjson, then
    `_usage_fast`). None for anything else: read it with `usage_from_json`, which gives
    the precise error. Accepts only what that path accepts, with the same result (a
    property test in tests/unit/codec/test_codec_jsonl.py)."""
    try:
        u = _decode_usage_line(raw)
    except msgspec.DecodeError:  # malformed, or not what a record holds
        return None
    return usage_of_line(u)


def usage_lines(lines: list[bytes]) -> list[UsageLine] | None:
    """A block of lines, each read as `usage_line` reads one, in a loop that runs in C
    (a file's lines cost about a microsecond less each); None if any line is not the
    common well-formed one: read that block line by line. Turn the lines wanted into
    records with `usage_of_line` (a process rating a share of a file skips the rest)."""
    try:
        return list(map(_decode_usage_line, lines))
    except msgspec.DecodeError:
        return None


class _LineOwner(msgspec.Struct):
    msisdn: str


_decode_owner: Final = msgspec.json.Decoder(_LineOwner).decode
_msisdn_of: Final = operator.attrgetter("msisdn")


def line_msisdns(lines: list[bytes]) -> list[str] | None:
    """The "msisdn" of every line of a block, the rest of each line checked as JSON but
    not read (a fifth of what reading the line costs): a process that rates a share of
    a file skips the others' lines this way. None if a line is not a JSON object with a
    string "msisdn" (as orjson reads it: the last of repeated keys)."""
    try:
        return list(map(_msisdn_of, map(_decode_owner, lines)))
    except msgspec.DecodeError:
        return None


def usage_of_line(u: UsageLine) -> UsageRecord:
    """The record of a line decoded by `usage_lines`."""
    rec: UsageRecord = _new_usage(
        u.record_id,
        u.msisdn,
        u.usage_type,
        u.start_time,
        u.duration_s,
        u.uplink_bytes,
        u.downlink_bytes,
        u.app_id,
        u.rating_group,
        u.province,
        u.rat,
        u.roaming,
        u.direction,
        u.sequence,
    )
    return rec


def usage_from_json(obj: Mapping[str, Any]) -> UsageRecord:
    """A UsageRecord from its JSON object (Avro field names; optional "type": "usage")."""
    fast = _usage_fast(obj)
    if fast is not None:
        return fast
    if isinstance(obj, Mapping) and "type" in obj and obj["type"] != "usage":
        raise bad("UsageRecord.type", f"expected 'usage', got {show(obj['type'])}")
    rec: UsageRecord = _USAGE.parse(obj, "UsageRecord", _TYPE)
    return rec


def command_from_json(obj: Mapping[str, Any]) -> Command:
    """A command from its JSON object; "type" names the command (see COMMAND_CLASS)."""
    t = _type_of(obj, "command")
    shape = _COMMAND_BY_TYPE.get(t)
    if shape is None:
        allowed = ", ".join(COMMAND_CLASS)
        raise bad("command.type", f"unknown command {show(t)} (expected one of {allowed})")
    cmd: Command = shape.parse(obj, shape.name, _TYPE)
    return cmd


def input_from_json(obj: Mapping[str, Any]) -> UsageRecord | Command | Tick:
    """Any input of the simulator: a usage record (no "type" or "usage"), a tick
    ({"type": "tick", "time": ...}) or a command."""
    t = obj.get("type", "usage") if isinstance(obj, Mapping) else None
    if t == "usage":
        return usage_from_json(obj)
    if t == "tick":
        unknown = obj.keys() - {"type", "time"}
        if unknown:
            raise bad("Tick", f"unknown field(s) {sorted(map(str, unknown))}")
        if "time" not in obj:
            raise bad("Tick.time", "missing")
        return Tick(parse_time(obj["time"], "Tick.time"))
    return command_from_json(obj)


def usage_to_json(rec: UsageRecord) -> dict[str, Any]:
    """The JSON object of a usage record (with "type": "usage")."""
    out = _USAGE.dump(rec)
    out["type"] = "usage"
    return out


def command_to_json(cmd: Command) -> dict[str, Any]:
    """The JSON object of a command (with its "type")."""
    try:
        t = COMMAND_TYPE[cmd.__class__]
    except KeyError:
        raise TypeError(f"not a command: {type(cmd).__name__}") from None
    out = _COMMANDS[cmd.__class__].dump(cmd)
    out["type"] = t
    return out


def input_to_json(value: UsageRecord | Command | Tick) -> dict[str, Any]:
    """Inverse of `input_from_json`."""
    if isinstance(value, UsageRecord):
        return usage_to_json(value)
    if isinstance(value, Tick):
        return {"type": "tick", "time": value.time}
    return command_to_json(value)


def event_to_json(e: Event) -> dict[str, Any]:
    """The JSON object of an output event, with "type": charge/throttle/notification/
    unrated, enums as strings, timestamps as int epoch ms, draws as a list of objects."""
    try:
        kind = EVENT_KIND[e.__class__]
    except KeyError:
        raise TypeError(f"not an output event: {type(e).__name__}") from None
    out = _EVENT_BY_CLASS[e.__class__].dump(e)
    out["type"] = kind
    return out


def event_from_json(obj: Mapping[str, Any]) -> Event:
    """An output event from its JSON object (inverse of `event_to_json`)."""
    kind = _type_of(obj, "event")
    shape = _EVENTS.get(kind)
    if shape is None:
        allowed = ", ".join(EVENT_CLASS)
        raise bad("event.type", f"unknown event {show(kind)} (expected one of {allowed})")
    event: Event = shape.parse(obj, shape.name, _TYPE)
    return event


def dumps_line(obj: Mapping[str, Any]) -> str:
    """One deterministic JSON line (sorted keys, compact, no trailing newline)."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode()


def event_to_line(e: Event) -> str:
    """`event_to_json` as one deterministic JSON line (no trailing newline)."""
    return orjson.dumps(event_to_json(e), option=orjson.OPT_SORT_KEYS).decode()


def loads_line(line: str | bytes) -> dict[str, Any]:
    """Parses one JSON line into an object; DecodeError if it is not a JSON object."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise bad("line", f"invalid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise bad("line", f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _fast_dumper(cls: type[Any], kind: str) -> Callable[[Any], bytes]:
    """`event_to_line(e).encode()` for one event class, fast: msgspec encodes the
    dataclass with its keys sorted (nested draws too) and "type" goes in at its sorted
    place, the end or, for a charge, before its last keys, whose values are enum names
    or null, so the last `,"<key>":` found is the key (equality with the generic form:
    tests/unit/codec/test_codec_jsonl.py). About three times as fast as building the
    dict for orjson."""
    names = sorted(f.name for f in dataclasses.fields(cls))
    after = [n for n in names if n > "type"]
    encode = msgspec.json.Encoder(order="sorted").encode
    tag = b',"type":"' + kind.encode() + b'"'
    if not after:
        end = tag + b"}"

        def dump_last(e: Any) -> bytes:
            return encode(e)[:-1] + end

        return dump_last
    marker = b',"' + after[0].encode() + b'":'

    def dump(e: Any) -> bytes:
        out = encode(e)
        at = out.rindex(marker)
        return out[:at] + tag + out[at:]

    return dump


_EVENT_LINE: Final[dict[type[Any], Callable[[Any], bytes]]] = {
    cls: _fast_dumper(cls, kind) for kind, cls in EVENT_CLASS.items()
}


def event_line_bytes(e: Event) -> bytes:
    """`event_to_line(e)` as UTF-8 bytes, fast (no trailing newline)."""
    return _EVENT_LINE[e.__class__](e)

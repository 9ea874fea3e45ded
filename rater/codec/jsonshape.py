"""JSON shapes derived from the Avro schemas: for each record type, how a JSON object is
parsed strictly into its dataclass (every field checked, the message naming it) and how
the dataclass is dumped back. Derived, not written by hand, so that the JSON lines and
the Avro bodies cannot drift apart; `rater.codec.jsonl` uses them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Final

from rater.codec import avro
from rater.codec.errors import DecodeError, ErrorClass, SchemaError
from rater.core.inputs import Tick

__all__ = ["LONG_MAX", "Shape", "bad", "command_shapes", "parse_time", "record_shape", "show"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_LONG = (-(1 << 63), (1 << 63) - 1)
_INT = (-(1 << 31), (1 << 31) - 1)
LONG_MAX: Final = _LONG[1]

# value constraints that Avro cannot express: (type name, field) -> (min, max)
_RANGES: Final[dict[tuple[str, str], tuple[int, int]]] = {
    ("UsageRecord", "duration_s"): (0, _LONG[1]),
    ("UsageRecord", "uplink_bytes"): (0, _LONG[1]),
    ("UsageRecord", "downlink_bytes"): (0, _LONG[1]),
    ("NewSubscriber", "cycle_day"): (1, 31),
}


def bad(where: str, why: str, reason: str = ErrorClass.DECODE_ERROR) -> DecodeError:
    """A refused JSON value, the message naming where it is (`UsageRecord.msisdn`)."""
    return DecodeError(reason, f"{where}: {why}")


def show(value: object) -> str:
    """A JSON value as a message shows it: at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_time(value: object, where: str = "time") -> int:
    """Epoch milliseconds from an int or an ISO-8601 string with a UTC offset."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not _LONG[0] <= value <= _LONG[1]:
            raise bad(where, f"{value} out of range", ErrorClass.INVALID_VALUE)
        return value
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            raise bad(where, f"not an ISO-8601 timestamp: {show(value)}") from None
        if dt.tzinfo is None or dt.utcoffset() is None:
            raise bad(where, f"ISO-8601 timestamp needs a UTC offset (+08:00 or Z): {show(value)}")
        return (dt - _EPOCH) // _MS
    raise bad(
        where,
        f"expected epoch milliseconds (int) or an ISO-8601 string, got {type(value).__name__}",
    )


# --- shapes derived from the Avro schemas ---------------------------------------------

_In = Callable[[object, str], Any]  # (json value, where) -> python value
_Out = Callable[[Any], Any]  # python value -> json value
_MISSING: Final = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    parse: _In
    dump: _Out | None  # None: the value is already JSON
    default: Any  # _MISSING: required


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    name: str
    cls: type[Any]
    fields: tuple[_Field, ...]
    names: frozenset[str]

    def parse(self, obj: object, where: str, extra_keys: frozenset[str] = frozenset()) -> Any:
        if not isinstance(obj, Mapping):
            raise bad(where, f"expected a JSON object, got {type(obj).__name__}")
        unknown = obj.keys() - self.names - extra_keys
        if unknown:
            raise bad(where, f"unknown field(s) {sorted(map(str, unknown))}")
        kwargs = {}
        for f in self.fields:
            value = obj.get(f.name, _MISSING)
            if value is _MISSING:
                if f.default is _MISSING:
                    raise bad(f"{where}.{f.name}", "missing")
                kwargs[f.name] = f.default
            else:
                kwargs[f.name] = f.parse(value, f"{where}.{f.name}")
        return self.cls(**kwargs)

    def dump(self, value: Any) -> dict[str, Any]:
        out = {}
        for f in self.fields:
            v = getattr(value, f.name)
            out[f.name] = v if f.dump is None or v is None else f.dump(v)
        return out


def _parse_str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise bad(where, f"expected a string, got {type(value).__name__} {show(value)}")
    return value


def _int_parser(lo: int, hi: int) -> _In:
    def parse(value: object, where: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise bad(where, f"expected an integer, got {type(value).__name__} {show(value)}")
        if value < lo:
            raise bad(where, f"must be >= {lo}, got {value}", ErrorClass.INVALID_VALUE)
        if value > hi:
            raise bad(where, f"must be <= {hi}, got {value}", ErrorClass.INVALID_VALUE)
        return value

    return parse


def _enum_parser(enum: type[Enum]) -> _In:
    members = {str(m.value): m for m in enum}
    allowed = ", ".join(members)

    def parse(value: object, where: str) -> Enum:
        member = members.get(value) if isinstance(value, str) else None
        if member is None:
            raise bad(where, f"unknown value {show(value)} (expected one of {allowed})")
        return member

    return parse


def _nullable_parser(inner: _In) -> _In:
    def parse(value: object, where: str) -> Any:
        return None if value is None else inner(value, where)

    return parse


def _array_parser(inner: _In) -> _In:
    def parse(value: object, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise bad(where, f"expected a JSON array, got {type(value).__name__}")
        return tuple(inner(v, f"{where}[{k}]") for k, v in enumerate(value))

    return parse


def _not_null(inner: _In) -> _In:
    def parse(value: object, where: str) -> Any:
        if value is None:
            raise bad(where, "must not be null")
        return inner(value, where)

    return parse


def _enum_value(member: Enum) -> str:
    return str(member.value)


class _Builder:
    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named

    def converters(self, schema: Any, owner: str, field: str) -> tuple[_In, _Out | None]:
        if isinstance(schema, str) and schema in self.named:
            schema = self.named[schema]
        if isinstance(schema, list):
            if len(schema) == 2 and "null" in schema:
                inner = schema[1] if schema[0] == "null" else schema[0]
                parse, dump = self.converters(inner, owner, field)
                return _nullable_parser(parse), dump
            raise SchemaError(f"{owner}.{field}: unions other than [null, T] have no JSON form")
        prim = schema if isinstance(schema, str) else schema.get("type")
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if prim == "string":
            return _not_null(_parse_str), None
        if prim in ("int", "long"):
            if logical == "timestamp-millis":
                return _not_null(parse_time), None
            lo, hi = _RANGES.get((owner, field), _INT if prim == "int" else _LONG)
            return _not_null(_int_parser(lo, hi)), None
        if prim == "enum":
            enum = avro.BINDING.enums[schema["name"]]
            return _not_null(_enum_parser(enum)), _enum_value
        if prim == "array":
            parse, dump = self.converters(schema["items"], owner, field)
            item_dump = dump
            out: _Out = list if item_dump is None else (lambda xs: [item_dump(x) for x in xs])
            return _not_null(_array_parser(parse)), out
        if prim == "record":
            shape = self.shape(schema, avro.BINDING.records[schema["name"]])
            return _not_null(shape.parse), shape.dump
        raise SchemaError(f"{owner}.{field}: Avro type {prim!r} has no JSON form here")

    def field(self, f: Mapping[str, Any], owner: str) -> _Field:
        parse, dump = self.converters(f["type"], owner, f["name"])
        default: Any = _MISSING
        if "default" in f:
            default = tuple(f["default"]) if isinstance(f["default"], list) else f["default"]
        return _Field(f["name"], parse, dump, default)

    def shape(
        self, schema: Mapping[str, Any], cls: type[Any], common: tuple[_Field, ...] = ()
    ) -> Shape:
        owner = cls.__name__
        fields = common + tuple(self.field(f, owner) for f in schema["fields"])
        names = [f.name for f in fields]
        if set(names) != {f.name for f in dataclasses.fields(cls)}:
            raise SchemaError(f"JSON shape of {owner} {names} does not match the dataclass")
        return Shape(owner, cls, fields, frozenset(names))


def record_shape(t: avro.AvroType[Any]) -> Shape:
    builder = _Builder(t.parsed.get("__named_schemas", {}))
    return builder.shape(t.parsed, avro.BINDING.records[t.name])


def command_shapes() -> dict[type[Any], Shape]:
    t = avro.COMMAND
    builder = _Builder(t.parsed.get("__named_schemas", {}))
    common = tuple(
        builder.field(f, "Command")
        for f in t.parsed["fields"]
        if f["name"] != avro.COMMAND_BODY_FIELD
    )
    (body,) = [f for f in t.parsed["fields"] if f["name"] == avro.COMMAND_BODY_FIELD]
    shapes = {}
    for branch in body["type"]:
        if isinstance(branch, str):
            branch = builder.named[branch]
        cls = avro.BINDING.records[branch["name"]]
        if cls is Tick:  # {"type": "tick", "time": ...}: see input_from_json
            continue
        shapes[cls] = builder.shape(branch, cls, common)
    return shapes

"""Avro (schemaless binary) encoding of everything that crosses Kafka.

The schemas in the repository's `schemas/` directory are the single source of truth
(override the directory with the RATER_SCHEMAS_DIR environment variable, read once at
import). Each is parsed once with `fastavro.parse_schema`; the encoders/decoders are
generated from the parsed schemas (see `rater.codec._binary`), bound by name to the
dataclasses of `rater.core.inputs`, `rater.core.events` and `rater.codec.deadletter`.
Loading fails with `SchemaError` if a schema and its dataclass/StrEnum disagree.

Timestamps (`timestamp-millis`) stay int epoch milliseconds: no datetime conversion.

Hot-path API (bodies only; Confluent framing is in `rater.codec.wire`):

    encode_usage(rec) -> bytes          decode_usage(b) -> UsageRecord
    encode_command(cmd) -> bytes        decode_command(b) -> NewSubscriber | ... | Tick
    encode_event(e) -> bytes            decode_event("charge" | ChargeEvent | ..., b) -> Event
    encode_dead_letter(d) -> bytes      decode_dead_letter(b) -> DeadLetter

Every decoder raises only `DecodeError` (reason DECODE_ERROR or SCHEMA_MISMATCH) on bad
input; every encoder raises only `EncodeError`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Final, Generic, TypeVar, get_args

import fastavro
from fastavro.read import SchemaResolutionError

from rater.codec import _binary, errors
from rater.codec._binary import BytesLike
from rater.codec.errors import DecodeError, EncodeError, ErrorClass, SchemaError
from rater.codec.kinds import EVENT_CLASS, DeadLetter
from rater.core import events as ev
from rater.core import inputs as inp
from rater.core.events import Event
from rater.core.inputs import Command, Tick, UsageRecord

T = TypeVar("T")

CommandMessage = Command | Tick  # what travels on the command topic

NAMESPACE: Final = "rater.v1"
ENV_SCHEMAS_DIR: Final = "RATER_SCHEMAS_DIR"

# kind -> (file, top-level record name)
SCHEMA_FILES: Final[dict[str, tuple[str, str]]] = {
    "usage": ("usage_record.avsc", "UsageRecord"),
    "command": ("command.avsc", "Command"),
    "charge": ("charge_event.avsc", "ChargeEvent"),
    "throttle": ("throttle_event.avsc", "ThrottleEvent"),
    "notification": ("notification_event.avsc", "NotificationEvent"),
    "unrated": ("unrated_event.avsc", "UnratedEvent"),
    "dead_letter": ("dead_letter.avsc", "DeadLetter"),
}
COMMAND_BODY_FIELD: Final = "body"

_RECORD_CLASSES: tuple[type[Any], ...] = (
    inp.UsageRecord,
    inp.NewSubscriber,
    inp.OrderProduct,
    inp.CancelProduct,
    inp.ChangePlan,
    inp.AddSharingMember,
    inp.RemoveSharingMember,
    inp.CloseAccount,
    inp.SetStatus,
    inp.Tick,
    ev.ChargeEvent,
    ev.Draw,
    ev.ThrottleEvent,
    ev.NotificationEvent,
    ev.UnratedEvent,
    DeadLetter,
)
_ENUM_CLASSES: tuple[type[Enum], ...] = (
    inp.UsageType,
    inp.Roaming,
    inp.Direction,
    inp.SubscriberStatus,
    ev.ChargeKind,
    ev.Unit,
    ev.ThrottleAction,
    ev.NotificationKind,
    ev.UnratedReason,
)
BINDING: Final = _binary.Binding(
    records={f"{NAMESPACE}.{c.__name__}": c for c in _RECORD_CLASSES},
    enums={f"{NAMESPACE}.{e.__name__}": e for e in _ENUM_CLASSES},
    # string fields whose values are unique per message or come from an unbounded set
    # (subscribers): not worth caching in the encoders (see _binary.Binding)
    uncached=frozenset(
        {"event_id", "record_id", "command_id", "msisdn", "account", "owner", "member"}
        | {"error", "detail"}
    ),
)


def schemas_dir() -> Path:
    """$RATER_SCHEMAS_DIR if set, else `schemas/` at the repository root (next to the
    `rater` package, which is installed editable)."""
    env = os.environ.get(ENV_SCHEMAS_DIR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "schemas"


def strip_logical_types(schema: Any) -> Any:
    """A copy of a schema (JSON form) without `logicalType` annotations: the binary
    encoding is the same, but fastavro then leaves timestamps as ints."""
    if isinstance(schema, dict):
        return {k: strip_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [strip_logical_types(v) for v in schema]
    return schema


class AvroType(Generic[T]):
    """One schema file and its codec.

    `encode`/`decode` are the fast generated functions; `schema_text` is what to register
    in a schema registry; `parsed` the fastavro-parsed schema (logical types kept).
    """

    __slots__ = (
        "_plain",
        "canonical",
        "decode",
        "encode",
        "fingerprint",
        "kind",
        "name",
        "parsed",
        "path",
        "schema",
        "schema_text",
    )

    def __init__(
        self,
        kind: str,
        path: Path,
        schema: dict[str, Any],
        parsed: dict[str, Any],
        decode: Callable[[BytesLike], T],
        encode: Callable[[T], bytes],
    ) -> None:
        self.kind = kind
        self.path = path
        self.schema = schema
        self.parsed = parsed
        self.name: str = parsed["name"]
        self.schema_text = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
        self.canonical: str = fastavro.schema.to_parsing_canonical_form(parsed)
        self.fingerprint: str = fastavro.schema.fingerprint(self.canonical, "CRC-64-AVRO")
        self._plain = fastavro.parse_schema(strip_logical_types(schema), named_schemas={})
        self.decode = decode
        self.encode = encode

    def __repr__(self) -> str:
        return f"AvroType({self.kind!r}, {self.name}, fingerprint={self.fingerprint})"

    def resolving_decoder(self, writer_schema: str | Mapping[str, Any]) -> Callable[[BytesLike], T]:
        """A decoder for bodies written with another version of this schema (e.g. fetched
        from the registry by the id in the wire header), resolved with Avro's schema
        resolution rules into the current dataclass. The same schema gives back the
        fast `decode`. Slow path (fastavro + a re-encode): cache the result per writer."""
        try:
            raw = json.loads(writer_schema) if isinstance(writer_schema, str) else writer_schema
            writer = fastavro.parse_schema(strip_logical_types(raw), named_schemas={})
            same = fastavro.schema.to_parsing_canonical_form(writer) == self.canonical
        except Exception as exc:  # any malformed writer schema
            raise DecodeError(
                ErrorClass.SCHEMA_MISMATCH,
                f"{self.name}: unusable writer schema: {errors.clip_error(exc)}",
            ) from exc
        if same:
            return self.decode
        reader, fast = self._plain, self.decode
        name = self.name

        def decode(b: BytesLike) -> T:
            try:
                bio = io.BytesIO(b)
                datum = fastavro.schemaless_reader(bio, writer, reader, return_record_name=True)
            except SchemaResolutionError as exc:
                raise DecodeError(
                    ErrorClass.SCHEMA_MISMATCH, f"{name}: {errors.clip_error(exc)}"
                ) from exc
            except Exception as exc:  # fastavro raises many types on garbage
                raise DecodeError(
                    ErrorClass.DECODE_ERROR,
                    f"{name} (resolved): {type(exc).__name__}: {errors.clip_error(exc)}",
                ) from exc
            if bio.tell() != len(b):
                raise DecodeError(
                    ErrorClass.DECODE_ERROR, f"{name} (resolved): trailing bytes after record"
                )
            out = io.BytesIO()
            try:
                fastavro.schemaless_writer(out, reader, datum)
            except Exception as exc:
                raise DecodeError(
                    ErrorClass.SCHEMA_MISMATCH, f"{name}: cannot resolve: {errors.clip_error(exc)}"
                ) from exc
            return fast(out.getvalue())

        return decode


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """All schemas of one directory, with their codecs."""

    directory: Path
    usage: AvroType[UsageRecord]
    command: AvroType[CommandMessage]
    charge: AvroType[ev.ChargeEvent]
    throttle: AvroType[ev.ThrottleEvent]
    notification: AvroType[ev.NotificationEvent]
    unrated: AvroType[ev.UnratedEvent]
    dead_letter: AvroType[DeadLetter]

    def by_kind(self) -> dict[str, AvroType[Any]]:
        return {kind: getattr(self, kind) for kind in SCHEMA_FILES}


def _read_schema(directory: Path, kind: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    filename, record = SCHEMA_FILES[kind]
    path = directory / filename
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemaError(
            f"schema file {path} not found (set ${ENV_SCHEMAS_DIR} to the schemas/ directory)"
        ) from None
    except (OSError, ValueError) as exc:
        raise SchemaError(f"cannot read schema {path}: {exc}") from exc
    try:
        parsed = fastavro.parse_schema(raw, named_schemas={})
    except Exception as exc:
        raise SchemaError(f"invalid Avro schema {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(parsed, dict):
        raise SchemaError(f"{path}: the top-level schema must be a record")
    if parsed.get("name") != f"{NAMESPACE}.{record}":
        raise SchemaError(f"{path}: expected record {NAMESPACE}.{record}, got {parsed.get('name')}")
    return path, raw, parsed


def _record_type(directory: Path, kind: str) -> AvroType[Any]:
    path, raw, parsed = _read_schema(directory, kind)
    try:
        decode, encode = _binary.build_record_codec(parsed, BINDING)
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    return AvroType(kind, path, raw, parsed, decode, encode)


def _command_type(directory: Path) -> AvroType[CommandMessage]:
    path, raw, parsed = _read_schema(directory, "command")
    try:
        decode, encoders = _binary.build_envelope_codec(parsed, COMMAND_BODY_FIELD, BINDING)
    except SchemaError as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    missing = set(get_args(CommandMessage)) - set(encoders)
    if missing:
        raise SchemaError(f"{path}: no union branch for {sorted(c.__name__ for c in missing)}")

    def encode(cmd: CommandMessage) -> bytes:
        try:
            enc = encoders[cmd.__class__]
        except KeyError:
            raise EncodeError(f"not a command: {type(cmd).__name__}") from None
        return enc(cmd)

    return AvroType("command", path, raw, parsed, decode, encode)


def load_schemas(directory: Path | None = None) -> SchemaSet:
    """Reads, parses and compiles every schema of `directory` (default `schemas_dir()`)."""
    d = schemas_dir() if directory is None else Path(directory)
    return SchemaSet(
        directory=d,
        usage=_record_type(d, "usage"),
        command=_command_type(d),
        charge=_record_type(d, "charge"),
        throttle=_record_type(d, "throttle"),
        notification=_record_type(d, "notification"),
        unrated=_record_type(d, "unrated"),
        dead_letter=_record_type(d, "dead_letter"),
    )


SCHEMAS: Final = load_schemas()

USAGE: Final = SCHEMAS.usage
COMMAND: Final = SCHEMAS.command
CHARGE: Final = SCHEMAS.charge
THROTTLE: Final = SCHEMAS.throttle
NOTIFICATION: Final = SCHEMAS.notification
UNRATED: Final = SCHEMAS.unrated
DEAD_LETTER: Final = SCHEMAS.dead_letter

EVENT_TYPES: Final[dict[str, AvroType[Any]]] = {
    "charge": CHARGE,
    "throttle": THROTTLE,
    "notification": NOTIFICATION,
    "unrated": UNRATED,
}
assert set(EVENT_TYPES) == set(EVENT_CLASS)

encode_usage: Final[Callable[[UsageRecord], bytes]] = USAGE.encode
decode_usage: Final[Callable[[BytesLike], UsageRecord]] = USAGE.decode
encode_command: Final[Callable[[CommandMessage], bytes]] = COMMAND.encode
decode_command: Final[Callable[[BytesLike], CommandMessage]] = COMMAND.decode
encode_dead_letter: Final[Callable[[DeadLetter], bytes]] = DEAD_LETTER.encode
decode_dead_letter: Final[Callable[[BytesLike], DeadLetter]] = DEAD_LETTER.decode

_EVENT_ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {
    EVENT_CLASS[kind]: t.encode for kind, t in EVENT_TYPES.items()
}
_EVENT_DECODERS: dict[str | type[Any], Callable[[BytesLike], Any]] = {
    **{kind: t.decode for kind, t in EVENT_TYPES.items()},
    **{EVENT_CLASS[kind]: t.decode for kind, t in EVENT_TYPES.items()},
}


def encode_event(e: Event) -> bytes:
    """Encodes any output event with its own schema (dispatch on the class)."""
    try:
        enc = _EVENT_ENCODERS[e.__class__]
    except KeyError:
        raise EncodeError(f"not an output event: {type(e).__name__}") from None
    return enc(e)


def decode_event(kind: str | type[Event], b: BytesLike) -> Event:
    """Decodes an output event; `kind` is "charge", "throttle", "notification", "unrated"
    or the event class (Avro bodies carry no type tag: the topic or the wire schema id
    says which schema wrote them)."""
    try:
        dec = _EVENT_DECODERS[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown event kind {kind!r}") from None
    result: Event = dec(b)
    return result

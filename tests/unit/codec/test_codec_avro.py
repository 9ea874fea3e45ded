"""Avro bodies: round trips, byte-for-byte agreement with fastavro, robustness on bad
input, schema resolution."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import typing
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rater.codec import avro
from rater.codec.deadletter import DeadLetter, dead_letter_for
from rater.codec.errors import DecodeError, EncodeError, ErrorClass
from rater.core import events as ev
from rater.core import inputs as inp
from rater.frozen import fast_constructor

from .strategies import (
    avro_datum,
    charge_events,
    command_messages,
    commands,
    dead_letters,
    events,
    notification_events,
    throttle_events,
    ticks,
    unrated_events,
    usage_records,
)

USAGE = inp.UsageRecord(
    record_id="r-000001234",
    msisdn="8613800138000",
    usage_type=inp.UsageType.DATA,
    start_time=1776526200000,
    duration_s=300,
    uplink_bytes=123456,
    downlink_bytes=9876543,
    app_id="wechat",
    rating_group=10,
    province="GD",
    rat="NR",
    roaming=inp.Roaming.HOME,
    direction=None,
    sequence=42,
)
CHARGE = ev.ChargeEvent(
    event_id="ev-1",
    msisdn="8613800138000",
    account="acct-1",
    event_time=1776526200000,
    cycle="2026-04",
    catalog_version="cat-7",
    kind=ev.ChargeKind.USAGE,
    record_id="r-000001234",
    usage_type=inp.UsageType.DATA,
    product=None,
    quantity=9_980_000,
    unit=ev.Unit.BYTES,
    draws=(
        ev.Draw("b1", "PK1", "8613800138000", 5_000_000),
        ev.Draw("b2", "PLAN", "8613800138001", 4_980_000),
    ),
    overage=0,
    free=0,
    fen=0,
    reason="within allowance",
)
NEW_SUB = inp.NewSubscriber(
    "c1", "8613800138000", 1776526200000, "P58", 1, "GD", None, ("PK1", "PK2")
)

TYPES: dict[type[Any], avro.AvroType[Any]] = {
    inp.UsageRecord: avro.USAGE,
    ev.ChargeEvent: avro.CHARGE,
    ev.ThrottleEvent: avro.THROTTLE,
    ev.NotificationEvent: avro.NOTIFICATION,
    ev.UnratedEvent: avro.UNRATED,
    DeadLetter: avro.DEAD_LETTER,
    **{c: avro.COMMAND for c in typing.get_args(avro.CommandMessage)},
}
PLAIN = {
    t.kind: fastavro.parse_schema(avro.strip_logical_types(t.schema), named_schemas={})
    for t in avro.SCHEMAS.by_kind().values()
}
anything = st.one_of(usage_records, command_messages, events, dead_letters)


def fastavro_write(obj: Any) -> bytes:
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, PLAIN[TYPES[type(obj)].kind], avro_datum(obj))
    return bio.getvalue()


def fastavro_read(obj_type: type[Any], body: bytes) -> Any:
    return fastavro.schemaless_reader(
        io.BytesIO(body), PLAIN[TYPES[obj_type].kind], return_record_name=True
    )


# --- round trips and agreement with fastavro -------------------------------------------


@settings(max_examples=300)
@given(usage_records)
def test_usage_round_trip(rec: inp.UsageRecord) -> None:
    body = avro.encode_usage(rec)
    back = avro.decode_usage(body)
    assert back == rec
    assert type(back) is inp.UsageRecord
    assert type(back.usage_type) is inp.UsageType and type(back.roaming) is inp.Roaming


@settings(max_examples=300)
@given(commands)
def test_command_round_trip(cmd: inp.Command) -> None:
    back = avro.decode_command(avro.encode_command(cmd))
    assert back == cmd
    assert type(back) is type(cmd)


@settings(max_examples=300)
@given(events)
def test_event_round_trip(e: ev.Event) -> None:
    body = avro.encode_event(e)
    assert avro.decode_event(type(e), body) == e
    kind = {
        ev.ChargeEvent: "charge",
        ev.ThrottleEvent: "throttle",
        ev.NotificationEvent: "notification",
        ev.UnratedEvent: "unrated",
    }[type(e)]
    assert avro.decode_event(kind, body) == e
    assert avro.EVENT_TYPES[kind].encode(e) == body


@given(dead_letters)
def test_dead_letter_round_trip(d: DeadLetter) -> None:
    assert avro.decode_dead_letter(avro.encode_dead_letter(d)) == d


@pytest.mark.parametrize(
    "strategy",
    [charge_events, throttle_events, notification_events, unrated_events],
    ids=["charge", "throttle", "notification", "unrated"],
)
@settings(max_examples=100)
@given(data=st.data())
def test_each_event_type_round_trips(strategy: Any, data: st.DataObject) -> None:
    e = data.draw(strategy)
    assert avro.decode_event(type(e), avro.encode_event(e)) == e


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_same_bytes_as_fastavro(obj: Any) -> None:
    """The generated encoder writes exactly what fastavro writes, and each side reads the
    other's bytes."""
    t = TYPES[type(obj)]
    ours = t.encode(obj)
    assert ours == fastavro_write(obj)
    assert fastavro_read(type(obj), ours) == avro_datum(obj)
    # and fastavro with the real schema (logical types on) reads it too, as long as the
    # timestamps fit a datetime (years 1-9999): why the codec keeps them as ints
    with contextlib.suppress(OverflowError):
        fastavro.schemaless_reader(io.BytesIO(ours), t.parsed)


def test_negative_array_block_counts_are_read() -> None:
    """Other writers may emit array blocks as (-count, byte size)."""
    body = avro.encode_command(NEW_SUB)
    plain = avro.encode_command(
        inp.NewSubscriber("c1", "8613800138000", 1776526200000, "P58", 1, "GD", None, ())
    )
    prefix = plain[:-1]  # everything up to the empty array's terminating 0
    items = b"\x06PK1\x06PK2"
    blocked = prefix + b"\x03" + bytes([len(items) * 2]) + items + b"\x00"  # count -2 = zigzag 3
    assert avro.decode_command(blocked) == NEW_SUB
    assert body != blocked


@given(ticks)
def test_tick_round_trip(tick: inp.Tick) -> None:
    body = avro.encode_command(tick)
    assert body.startswith(b"\x00\x00")  # empty command_id and msisdn
    assert avro.decode_command(body) == tick


def test_tick_layout() -> None:
    assert avro.encode_command(inp.Tick(5)) == b"\x00\x00\x0a\x10"


def test_timestamps_stay_ints() -> None:
    back = avro.decode_usage(avro.encode_usage(USAGE))
    assert type(back.start_time) is int
    assert back.start_time == 1776526200000


def test_decoded_objects_are_ordinary_frozen_instances() -> None:
    back = avro.decode_usage(avro.encode_usage(USAGE))
    assert back == USAGE and hash(back) == hash(USAGE) and repr(back) == repr(USAGE)
    with pytest.raises(AttributeError):
        back.msisdn = "x"  # type: ignore[misc]
    c = avro.decode_event("charge", avro.encode_event(CHARGE))
    assert isinstance(c, ev.ChargeEvent)
    assert type(c.draws) is tuple and type(c.draws[0]) is ev.Draw


def test_accepts_bytearray_and_memoryview() -> None:
    body = avro.encode_usage(USAGE)
    assert avro.decode_usage(bytearray(body)) == USAGE
    assert avro.decode_usage(memoryview(body)) == USAGE


def test_known_encoding() -> None:
    """Pins the binary layout (a change here breaks every consumer)."""
    assert avro.encode_command(inp.OrderProduct("c", "m", 5, "p")) == b"\x02c\x02m\x0a\x02\x02p"
    assert avro.encode_command(inp.CloseAccount("c", "m", 5)) == b"\x02c\x02m\x0a\x0c"


def test_fast_constructor_falls_back_when_unsafe() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    assert fast_constructor(Checked) is Checked
    assert fast_constructor(NoSlots) is NoSlots
    mk = fast_constructor(inp.UsageRecord)
    assert mk is not inp.UsageRecord


# --- bad input -------------------------------------------------------------------------

DECODERS = {
    "usage": avro.decode_usage,
    "command": avro.decode_command,
    "charge": lambda b: avro.decode_event("charge", b),
    "throttle": lambda b: avro.decode_event("throttle", b),
    "notification": lambda b: avro.decode_event("notification", b),
    "unrated": lambda b: avro.decode_event("unrated", b),
    "dead_letter": avro.decode_dead_letter,
}


@pytest.mark.parametrize("obj", [USAGE, CHARGE, NEW_SUB], ids=["usage", "charge", "command"])
def test_every_truncation_is_a_decode_error(obj: Any) -> None:
    t = TYPES[type(obj)]
    body = t.encode(obj)
    for cut in range(len(body)):
        with pytest.raises(DecodeError) as info:
            t.decode(body[:cut])
        assert info.value.reason_class == "DECODE_ERROR"
        assert info.value.message.startswith(t.name.rsplit(".", 1)[1])


def test_truncation_message_names_the_field() -> None:
    body = avro.encode_usage(USAGE)
    cut = body.index(b"\x04GD") + 2  # inside the province string
    with pytest.raises(DecodeError, match=r"UsageRecord\.province: string length 2 out of range"):
        avro.decode_usage(body[:cut])
    with pytest.raises(DecodeError, match=r"UsageRecord\.rat: truncated input"):
        avro.decode_usage(body[: cut + 1])
    with pytest.raises(DecodeError, match="empty message"):
        avro.decode_usage(b"")


def test_trailing_bytes_are_a_schema_mismatch() -> None:
    with pytest.raises(DecodeError) as info:
        avro.decode_usage(avro.encode_usage(USAGE) + b"\x00")
    assert info.value.reason_class == ErrorClass.SCHEMA_MISMATCH


@pytest.mark.parametrize(
    ("kind", "body", "pattern"),
    [
        ("usage", b"\x02a\x02b\x08", "usage_type: enum index 4"),
        ("usage", b"\x02a\x02b\x01", "usage_type: enum index -1"),
        ("usage", b"\x02a\x02b\x00\x02\x02\x02\x02\x04", "app_id: union index"),
        ("usage", b"\x03", "record_id: string length -2"),
        ("usage", b"\x02\xff", "record_id: string is not valid UTF-8"),
        ("usage", b"\x02a" + b"\xff" * 11, "msisdn: varint longer than 10 bytes"),
        ("command", b"\x02c\x02m\x0a\x12", "body: union index 9"),
        ("command", b"\x02c\x02m\x0a\x00\x02p\xff\xff\xff\xff\x7f", "cycle_day: varint"),
        ("charge", b"\x00" * 12 + b"\x7f\x7f", "draws: array length 64"),
    ],
)
def test_malformed_bodies(kind: str, body: bytes, pattern: str) -> None:
    with pytest.raises(DecodeError, match=pattern) as info:
        DECODERS[kind](body)
    assert info.value.reason_class == "DECODE_ERROR"


@settings(max_examples=1000)
@given(kind=st.sampled_from(sorted(DECODERS)), data=st.binary(max_size=200))
def test_random_bytes_never_escape_as_another_exception(kind: str, data: bytes) -> None:
    try:
        DECODERS[kind](data)
    except DecodeError as exc:
        assert exc.reason_class in ("DECODE_ERROR", "SCHEMA_MISMATCH")


@settings(max_examples=300)
@given(obj=anything, data=st.data())
def test_corrupted_bodies_never_escape_as_another_exception(obj: Any, data: st.DataObject) -> None:
    body = bytearray(TYPES[type(obj)].encode(obj))
    if body:
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255))
    kind = data.draw(st.sampled_from(sorted(DECODERS)))
    with contextlib.suppress(DecodeError):
        DECODERS[kind](bytes(body))


def test_other_schema_is_rejected() -> None:
    for body, decode in [
        (avro.encode_usage(USAGE), avro.decode_command),
        (avro.encode_event(CHARGE), avro.decode_usage),
        (avro.encode_command(NEW_SUB), avro.decode_usage),
    ]:
        with pytest.raises(DecodeError):
            decode(body)


def test_non_bytes_input() -> None:
    for bad in (None, "text", 5):
        with pytest.raises(DecodeError, match="expected bytes"):
            avro.decode_usage(bad)  # type: ignore[arg-type]


def test_huge_lengths_fail_fast() -> None:
    # string length 2**62, array of 2**62 items: rejected without allocating or looping
    huge = b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f"
    with pytest.raises(DecodeError, match="length"):
        avro.decode_usage(huge)
    cmd = b"\x02c\x02m\x0a\x00\x02p\x02\x02g\x00" + huge
    with pytest.raises(DecodeError, match="array length"):
        avro.decode_command(cmd)


# --- encode errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"msisdn": None}, r"UsageRecord\.msisdn"),
        ({"usage_type": "SMS"}, r"UsageRecord\.usage_type"),
        ({"uplink_bytes": 2**63}, r"UsageRecord\.uplink_bytes: .*out of range"),
        ({"downlink_bytes": -(2**63) - 1}, r"UsageRecord\.downlink_bytes"),
        ({"duration_s": 1.5}, r"UsageRecord\.duration_s"),
        ({"sequence": "7"}, r"UsageRecord\.sequence"),
        ({"app_id": 5}, r"UsageRecord\.app_id"),
        ({"direction": "XX"}, r"UsageRecord\.direction"),
    ],
)
def test_encode_errors_name_the_field(change: dict[str, Any], pattern: str) -> None:
    bad = dataclasses.replace(USAGE, **change)
    with pytest.raises(EncodeError, match=pattern):
        avro.encode_usage(bad)


def test_encode_accepts_plain_strings_for_enums() -> None:
    loose = dataclasses.replace(USAGE, usage_type="VOICE", roaming="NATIONAL", direction="MT")  # type: ignore[arg-type]
    assert avro.decode_usage(avro.encode_usage(loose)) == dataclasses.replace(
        USAGE,
        usage_type=inp.UsageType.VOICE,
        roaming=inp.Roaming.NATIONAL,
        direction=inp.Direction.MT,
    )


def test_encode_wrong_types() -> None:
    with pytest.raises(EncodeError):
        avro.encode_usage(CHARGE)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        avro.encode_command(USAGE)  # type: ignore[arg-type]
    with pytest.raises(EncodeError):
        avro.encode_event(USAGE)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="packs"):
        avro.encode_command(inp.NewSubscriber("c", "m", 1, "p", 1, "h", None, "abc"))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="cycle_day"):
        avro.encode_command(inp.NewSubscriber("c", "m", 1, "p", 2**31, "h"))
    with pytest.raises(EncodeError, match="draws"):
        avro.encode_event(dataclasses.replace(CHARGE, draws=(USAGE,)))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="payload"):
        avro.encode_dead_letter(DeadLetter("x", None, "t", 0, 0, "E", "e", 0, 1, "", False))  # type: ignore[arg-type]


def test_decode_event_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        avro.decode_event("bill", b"")


def test_dead_letter_for() -> None:
    err = DecodeError(ErrorClass.DECODE_ERROR, "UsageRecord: truncated")
    d = dead_letter_for(b"\x00\x01", None, "usage", 3, 1234, err, 1776526200000)
    assert d == DeadLetter(
        b"\x00\x01",
        None,
        "usage",
        3,
        1234,
        "DECODE_ERROR",
        "UsageRecord: truncated",
        1776526200000,
        2,
        hashlib.sha256(b"\x00\x01").hexdigest(),
        False,
    )
    assert type(d.error_class) is str
    d2 = dead_letter_for(bytearray(b"x"), b"k", "usage", 0, 1, ("INVALID_VALUE", "bytes"), 5)
    assert d2.payload == b"x" and d2.error_class == "INVALID_VALUE"
    assert avro.decode_dead_letter(avro.encode_dead_letter(d2)) == d2


# --- schema resolution (another writer version) ----------------------------------------


def _usage_schema_without(field: str) -> dict[str, Any]:
    raw = copy.deepcopy(avro.USAGE.schema)
    raw["fields"] = [f for f in raw["fields"] if f["name"] != field]
    return raw


def test_resolving_decoder_same_schema_is_the_fast_path() -> None:
    assert avro.USAGE.resolving_decoder(avro.USAGE.schema_text) is avro.USAGE.decode


def test_resolving_an_older_writer_fills_defaults() -> None:
    old = _usage_schema_without("app_id")
    parsed = fastavro.parse_schema(avro.strip_logical_types(old), named_schemas={})
    datum = avro_datum(USAGE)
    del datum["app_id"]
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, parsed, datum)
    decode = avro.USAGE.resolving_decoder(json.dumps(old))
    assert decode(bio.getvalue()) == dataclasses.replace(USAGE, app_id=None)


def test_resolving_a_newer_writer_ignores_new_fields() -> None:
    new = copy.deepcopy(avro.CHARGE.schema)
    new["fields"].append({"name": "tax_fen", "type": "long", "default": 0})
    parsed = fastavro.parse_schema(avro.strip_logical_types(new), named_schemas={})
    datum = avro_datum(CHARGE)
    datum["tax_fen"] = 17
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, parsed, datum)
    assert avro.CHARGE.resolving_decoder(new)(bio.getvalue()) == CHARGE


def test_resolving_a_command_writer_with_fewer_branches() -> None:
    old = copy.deepcopy(avro.COMMAND.schema)
    body = old["fields"][3]
    body["type"] = [b for b in body["type"] if b["name"] in ("OrderProduct", "CancelProduct")]
    parsed = fastavro.parse_schema(avro.strip_logical_types(old), named_schemas={})
    cmd = inp.CancelProduct("c", "m", 5, "PK1")
    bio = io.BytesIO()
    fastavro.schemaless_writer(bio, parsed, avro_datum(cmd))
    assert bio.getvalue() != avro.encode_command(cmd)  # branch index differs
    assert avro.COMMAND.resolving_decoder(old)(bio.getvalue()) == cmd


def test_resolving_an_incompatible_writer_is_a_schema_mismatch() -> None:
    other = {
        "type": "record",
        "name": "UsageRecord",
        "namespace": "rater.v1",
        "fields": [{"name": "record_id", "type": "long"}],
    }
    decode = avro.USAGE.resolving_decoder(other)
    with pytest.raises(DecodeError) as info:
        decode(b"\x02")
    assert info.value.reason_class == "SCHEMA_MISMATCH"


def test_resolving_garbage_is_a_decode_error() -> None:
    decode = avro.USAGE.resolving_decoder(_usage_schema_without("app_id"))
    with pytest.raises(DecodeError) as info:
        decode(b"\x02a")
    assert info.value.reason_class == "DECODE_ERROR"


def test_unusable_writer_schema() -> None:
    with pytest.raises(DecodeError, match="unusable writer schema") as info:
        avro.USAGE.resolving_decoder("{not json")
    assert info.value.reason_class == "SCHEMA_MISMATCH"

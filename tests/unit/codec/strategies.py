"""Hypothesis strategies for every type that crosses the codec, and a converter to the
dict form fastavro reads and writes (the reference implementation in the tests)."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from hypothesis import strategies as st

from rater.codec.deadletter import DeadLetter
from rater.core import events as ev
from rater.core import inputs as inp

LONG = st.integers(min_value=-(2**63), max_value=2**63 - 1)
INT = st.integers(min_value=-(2**31), max_value=2**31 - 1)
# mostly realistic values, sometimes the extremes of the Avro type
TIME = st.one_of(st.integers(946_684_800_000, 4_102_444_800_000), LONG)
COUNT = st.one_of(st.integers(0, 2**40), LONG)
TEXT = st.text(max_size=40)
OPT_TEXT = st.none() | TEXT

usage_records = st.builds(
    inp.UsageRecord,
    record_id=TEXT,
    msisdn=TEXT,
    usage_type=st.sampled_from(inp.UsageType),
    start_time=TIME,
    duration_s=COUNT,
    uplink_bytes=COUNT,
    downlink_bytes=COUNT,
    app_id=OPT_TEXT,
    rating_group=st.none() | LONG,
    province=TEXT,
    rat=TEXT,
    roaming=st.sampled_from(inp.Roaming),
    direction=st.none() | st.sampled_from(inp.Direction),
    sequence=COUNT,
)


def _command(cls: type[Any], **own: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.builds(cls, command_id=TEXT, msisdn=TEXT, time=TIME, **own)


commands: st.SearchStrategy[inp.Command] = st.one_of(
    _command(
        inp.NewSubscriber,
        plan=TEXT,
        cycle_day=INT,
        home_province=TEXT,
        owner=OPT_TEXT,
        packs=st.lists(TEXT, max_size=4).map(tuple),
    ),
    _command(inp.OrderProduct, product=TEXT),
    _command(inp.CancelProduct, product=TEXT),
    _command(inp.ChangePlan, plan=TEXT),
    _command(inp.AddSharingMember, member=TEXT),
    _command(inp.RemoveSharingMember, member=TEXT),
    _command(inp.CloseAccount),
    _command(inp.SetStatus, status=st.sampled_from(inp.SubscriberStatus)),
)

ticks = st.builds(inp.Tick, time=TIME)
command_messages: st.SearchStrategy[inp.Command | inp.Tick] = commands | ticks

_COMMON = {
    "event_id": TEXT,
    "msisdn": TEXT,
    "account": TEXT,
    "event_time": TIME,
    "catalog_version": TEXT,
}

draws = st.builds(ev.Draw, bucket_id=TEXT, product=TEXT, owner=TEXT, amount=COUNT)

charge_events = st.builds(
    ev.ChargeEvent,
    **_COMMON,
    cycle=TEXT,
    kind=st.sampled_from(ev.ChargeKind),
    record_id=OPT_TEXT,
    usage_type=st.none() | st.sampled_from(inp.UsageType),
    product=OPT_TEXT,
    quantity=COUNT,
    unit=st.sampled_from(ev.Unit),
    draws=st.lists(draws, max_size=4).map(tuple),
    overage=COUNT,
    free=COUNT,
    fen=COUNT,
    reason=TEXT,
)
throttle_events = st.builds(
    ev.ThrottleEvent,
    **_COMMON,
    cycle=TEXT,
    action=st.sampled_from(ev.ThrottleAction),
    speed_kbps=st.none() | LONG,
    reason=TEXT,
    record_id=OPT_TEXT,
)
notification_events = st.builds(
    ev.NotificationEvent,
    **_COMMON,
    cycle=TEXT,
    kind=st.sampled_from(ev.NotificationKind),
    product=OPT_TEXT,
    bucket_id=OPT_TEXT,
    command_id=OPT_TEXT,
    reason=TEXT,
)
unrated_events = st.builds(
    ev.UnratedEvent,
    **_COMMON,
    cycle=OPT_TEXT,
    record_id=TEXT,
    reason=st.sampled_from(ev.UnratedReason),
    detail=TEXT,
)
events: st.SearchStrategy[ev.Event] = st.one_of(
    charge_events, throttle_events, notification_events, unrated_events
)

dead_letters = st.builds(
    DeadLetter,
    payload=st.binary(max_size=64),
    key=st.none() | st.binary(max_size=16),
    source_topic=TEXT,
    source_partition=INT,
    source_offset=LONG,
    error_class=st.sampled_from(
        ["DECODE_ERROR", "SCHEMA_MISMATCH", "UNKNOWN_SUBSCRIBER", "INVALID_VALUE", "X"]
    ),
    error=TEXT,
    timestamp=TIME,
    payload_length=LONG,
    payload_sha256=st.text("0123456789abcdef", max_size=64),
    truncated=st.booleans(),
)

COMMAND_FIELDS = ("command_id", "msisdn", "time")


def avro_datum(obj: Any) -> Any:
    """The dict fastavro reads/writes for `obj` with the logical-type-free schemas
    (commands: the envelope with a (record name, dict) body)."""
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, tuple | list):
        return [avro_datum(x) for x in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        d = {f.name: avro_datum(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
        if isinstance(obj, inp.Command | inp.Tick):
            body = {k: v for k, v in d.items() if k not in COMMAND_FIELDS}
            d = {k: d.get(k, "") for k in COMMAND_FIELDS}
            d["body"] = (f"rater.v1.{type(obj).__name__}", body)
        return d
    return obj

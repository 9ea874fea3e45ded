"""JSON lines: strict parsing with errors naming the field, ISO-8601 times, deterministic
output, round trips."""

from __future__ import annotations

import dataclasses
import enum
import json
import typing
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rater.codec import jsonl
from rater.codec.errors import DecodeError
from rater.codec.kinds import EVENT_CLASS
from rater.core import events as ev
from rater.core import inputs as inp

from .strategies import commands, events, usage_records

USAGE_JSON: dict[str, Any] = {
    "record_id": "r-1",
    "msisdn": "8613800138000",
    "usage_type": "DATA",
    "start_time": 1776526200000,
    "duration_s": 300,
    "uplink_bytes": 1024,
    "downlink_bytes": 4096,
    "app_id": "wechat",
    "rating_group": 10,
    "province": "GD",
    "rat": "NR",
    "roaming": "HOME",
    "direction": None,
    "sequence": 1,
}
USAGE = inp.UsageRecord(
    "r-1",
    "8613800138000",
    inp.UsageType.DATA,
    1776526200000,
    300,
    1024,
    4096,
    "wechat",
    10,
    "GD",
    "NR",
    inp.Roaming.HOME,
    None,
    1,
)


def test_usage_from_json() -> None:
    rec = jsonl.usage_from_json(USAGE_JSON)
    assert rec == USAGE
    assert type(rec.usage_type) is inp.UsageType
    assert jsonl.usage_from_json({**USAGE_JSON, "type": "usage"}) == USAGE


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-04-18T23:30:00+08:00", 1776526200000),
        ("2026-04-18T15:30:00Z", 1776526200000),
        ("2026-04-18T15:30:00+00:00", 1776526200000),
        ("2026-04-18T15:30:00.123Z", 1776526200123),
        ("2026-04-18T10:30:00-05:00", 1776526200000),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_iso_times(text: str, ms: int) -> None:
    assert jsonl.usage_from_json({**USAGE_JSON, "start_time": text}).start_time == ms
    assert jsonl.parse_time(text) == ms


def test_optional_fields_may_be_omitted() -> None:
    obj = {k: v for k, v in USAGE_JSON.items() if k not in ("app_id", "rating_group", "direction")}
    rec = jsonl.usage_from_json(obj)
    assert (rec.app_id, rec.rating_group, rec.direction) == (None, None, None)


@pytest.mark.parametrize(
    ("change", "reason", "pattern"),
    [
        ({"uplink_bytes": -1}, "INVALID_VALUE", r"UsageRecord\.uplink_bytes: must be >= 0, got -1"),
        ({"downlink_bytes": -5}, "INVALID_VALUE", r"UsageRecord\.downlink_bytes: must be >= 0"),
        ({"duration_s": -1}, "INVALID_VALUE", r"UsageRecord\.duration_s: must be >= 0"),
        ({"sequence": 2**63}, "INVALID_VALUE", r"UsageRecord\.sequence: must be <= "),
        (
            {"usage_type": "SMS"},
            "DECODE_ERROR",
            r"UsageRecord\.usage_type: unknown value 'SMS' \(expected one of DATA, VOICE, VIDEO\)",
        ),
        ({"usage_type": "data"}, "DECODE_ERROR", r"UsageRecord\.usage_type: unknown value 'data'"),
        ({"roaming": 1}, "DECODE_ERROR", r"UsageRecord\.roaming: unknown value 1"),
        ({"direction": "IN"}, "DECODE_ERROR", r"UsageRecord\.direction: unknown value 'IN'"),
        (
            {"duration_s": "300"},
            "DECODE_ERROR",
            r"UsageRecord\.duration_s: expected an integer, got str '300'",
        ),
        ({"duration_s": 3.0}, "DECODE_ERROR", r"UsageRecord\.duration_s: expected an integer"),
        (
            {"uplink_bytes": True},
            "DECODE_ERROR",
            r"UsageRecord\.uplink_bytes: expected an integer, got bool",
        ),
        (
            {"msisdn": 8613800138000},
            "DECODE_ERROR",
            r"UsageRecord\.msisdn: expected a string, got int",
        ),
        ({"province": None}, "DECODE_ERROR", r"UsageRecord\.province: must not be null"),
        ({"app_id": 7}, "DECODE_ERROR", r"UsageRecord\.app_id: expected a string"),
        (
            {"start_time": "2026-04-18T23:30:00"},
            "DECODE_ERROR",
            r"UsageRecord\.start_time: ISO-8601 timestamp needs a UTC offset",
        ),
        (
            {"start_time": "yesterday"},
            "DECODE_ERROR",
            r"UsageRecord\.start_time: not an ISO-8601 timestamp: 'yesterday'",
        ),
        (
            {"start_time": 1.7e12},
            "DECODE_ERROR",
            r"UsageRecord\.start_time: expected epoch milliseconds \(int\) or an ISO-8601 "
            r"string, got float",
        ),
        ({"start_time": None}, "DECODE_ERROR", r"UsageRecord\.start_time: must not be null"),
        ({"colour": "red"}, "DECODE_ERROR", r"UsageRecord: unknown field\(s\) \['colour'\]"),
        ({"type": "order"}, "DECODE_ERROR", r"UsageRecord\.type: expected 'usage'"),
    ],
)
def test_usage_errors_name_the_field(change: dict[str, Any], reason: str, pattern: str) -> None:
    with pytest.raises(DecodeError, match=pattern) as info:
        jsonl.usage_from_json({**USAGE_JSON, **change})
    assert info.value.reason_class == reason


@pytest.mark.parametrize("field", ["record_id", "msisdn", "start_time", "rat", "sequence"])
def test_missing_field(field: str) -> None:
    obj = {k: v for k, v in USAGE_JSON.items() if k != field}
    with pytest.raises(DecodeError, match=rf"UsageRecord\.{field}: missing"):
        jsonl.usage_from_json(obj)


def test_not_an_object() -> None:
    with pytest.raises(DecodeError, match="UsageRecord: expected a JSON object, got list"):
        jsonl.usage_from_json([1, 2])  # type: ignore[arg-type]


COMMAND_CASES: list[tuple[dict[str, Any], inp.Command]] = [
    (
        {
            "type": "new_subscriber",
            "command_id": "c1",
            "msisdn": "m",
            "time": "2026-04-01T00:00:00+08:00",
            "plan": "P58",
            "cycle_day": 1,
            "home_province": "GD",
        },
        inp.NewSubscriber("c1", "m", 1774972800000, "P58", 1, "GD"),
    ),
    (
        {
            "type": "new_subscriber",
            "command_id": "c1",
            "msisdn": "m",
            "time": 5,
            "plan": "P58",
            "cycle_day": 15,
            "home_province": "GD",
            "owner": "o",
            "packs": ["A", "B"],
        },
        inp.NewSubscriber("c1", "m", 5, "P58", 15, "GD", "o", ("A", "B")),
    ),
    (
        {"type": "order", "command_id": "c", "msisdn": "m", "time": 5, "product": "PK"},
        inp.OrderProduct("c", "m", 5, "PK"),
    ),
    (
        {"type": "cancel", "command_id": "c", "msisdn": "m", "time": 5, "product": "PK"},
        inp.CancelProduct("c", "m", 5, "PK"),
    ),
    (
        {"type": "change_plan", "command_id": "c", "msisdn": "m", "time": 5, "plan": "P2"},
        inp.ChangePlan("c", "m", 5, "P2"),
    ),
    (
        {"type": "add_member", "command_id": "c", "msisdn": "m", "time": 5, "member": "x"},
        inp.AddSharingMember("c", "m", 5, "x"),
    ),
    (
        {"type": "remove_member", "command_id": "c", "msisdn": "m", "time": 5, "member": "x"},
        inp.RemoveSharingMember("c", "m", 5, "x"),
    ),
    (
        {"type": "close_account", "command_id": "c", "msisdn": "m", "time": 5},
        inp.CloseAccount("c", "m", 5),
    ),
    (
        {"type": "set_status", "command_id": "c", "msisdn": "m", "time": 5, "status": "ARREARS"},
        inp.SetStatus("c", "m", 5, inp.SubscriberStatus.ARREARS),
    ),
]


@pytest.mark.parametrize(
    ("obj", "cmd"), COMMAND_CASES, ids=[c[0]["type"] + str(i) for i, c in enumerate(COMMAND_CASES)]
)
def test_command_from_json(obj: dict[str, Any], cmd: inp.Command) -> None:
    assert jsonl.command_from_json(obj) == cmd
    assert jsonl.input_from_json(obj) == cmd
    back = jsonl.command_to_json(cmd)
    assert jsonl.command_from_json(back) == cmd


@pytest.mark.parametrize(
    ("obj", "pattern"),
    [
        ({"command_id": "c"}, r"command\.type: missing"),
        (
            {"type": "frobnicate"},
            r"command\.type: unknown command 'frobnicate' \(expected one of new_subscriber, order",
        ),
        (
            {"type": "order", "command_id": "c", "msisdn": "m", "time": 5},
            r"OrderProduct\.product: missing",
        ),
        (
            {
                "type": "order",
                "command_id": "c",
                "msisdn": "m",
                "time": 5,
                "product": "p",
                "plan": "x",
            },
            r"OrderProduct: unknown field\(s\) \['plan'\]",
        ),
        (
            {"type": "set_status", "command_id": "c", "msisdn": "m", "time": 5, "status": "GONE"},
            r"SetStatus\.status: unknown value 'GONE' \(expected one of ACTIVE, ARREARS, CLOSED\)",
        ),
        (
            {
                "type": "new_subscriber",
                "command_id": "c",
                "msisdn": "m",
                "time": 5,
                "plan": "P",
                "cycle_day": 32,
                "home_province": "GD",
            },
            r"NewSubscriber\.cycle_day: must be <= 31",
        ),
        (
            {
                "type": "new_subscriber",
                "command_id": "c",
                "msisdn": "m",
                "time": 5,
                "plan": "P",
                "cycle_day": 1,
                "home_province": "GD",
                "packs": "A",
            },
            r"NewSubscriber\.packs: expected a JSON array",
        ),
        (
            {
                "type": "new_subscriber",
                "command_id": "c",
                "msisdn": "m",
                "time": 5,
                "plan": "P",
                "cycle_day": 1,
                "home_province": "GD",
                "packs": ["A", None],
            },
            r"NewSubscriber\.packs\[1\]: must not be null",
        ),
        (
            {"type": "close_account", "command_id": "c", "msisdn": "m", "time": "soon"},
            r"CloseAccount\.time: not an ISO-8601 timestamp",
        ),
    ],
)
def test_command_errors(obj: dict[str, Any], pattern: str) -> None:
    with pytest.raises(DecodeError, match=pattern):
        jsonl.command_from_json(obj)


def test_input_from_json() -> None:
    assert jsonl.input_from_json(USAGE_JSON) == USAGE
    assert jsonl.input_from_json({"type": "tick", "time": "2026-04-18T15:30:00Z"}) == inp.Tick(
        1776526200000
    )
    with pytest.raises(DecodeError, match=r"Tick\.time: missing"):
        jsonl.input_from_json({"type": "tick"})
    with pytest.raises(DecodeError, match=r"Tick: unknown field"):
        jsonl.input_from_json({"type": "tick", "time": 1, "x": 2})
    for value in (USAGE, inp.Tick(5), inp.CloseAccount("c", "m", 5)):
        assert jsonl.input_from_json(jsonl.input_to_json(value)) == value


CHARGE = ev.ChargeEvent(
    "ev-1",
    "m",
    "a",
    1776526200000,
    "2026-04",
    "cat-7",
    ev.ChargeKind.USAGE,
    "r-1",
    inp.UsageType.DATA,
    None,
    100,
    ev.Unit.BYTES,
    (ev.Draw("b1", "PK1", "m", 100),),
    0,
    0,
    0,
    "ok",
)


def test_event_to_json_and_line() -> None:
    obj = jsonl.event_to_json(CHARGE)
    assert obj["type"] == "charge"
    assert obj["kind"] == "USAGE" and type(obj["kind"]) is str
    assert obj["usage_type"] == "DATA" and type(obj["usage_type"]) is str
    assert obj["draws"] == [{"bucket_id": "b1", "product": "PK1", "owner": "m", "amount": 100}]
    assert obj["product"] is None
    line = jsonl.event_to_line(CHARGE)
    assert line == (
        '{"account":"a","catalog_version":"cat-7","cycle":"2026-04",'
        '"draws":[{"amount":100,"bucket_id":"b1","owner":"m","product":"PK1"}],'
        '"event_id":"ev-1","event_time":1776526200000,"fen":0,"free":0,"kind":"USAGE",'
        '"msisdn":"m","overage":0,"product":null,"quantity":100,"reason":"ok",'
        '"record_id":"r-1","type":"charge","unit":"BYTES","usage_type":"DATA"}'
    )
    assert "\n" not in line
    assert jsonl.event_from_json(jsonl.loads_line(line)) == CHARGE


def test_event_types() -> None:
    t = ev.ThrottleEvent("e", "m", "a", 1, "c", "v", ev.ThrottleAction.THROTTLE, 128, "cap", None)
    n = ev.NotificationEvent(
        "e", "m", "a", 1, "c", "v", ev.NotificationKind.USAGE_80, "P", "b", None, "80%"
    )
    u = ev.UnratedEvent(
        "e", "m", "", 1, None, "v", "r", ev.UnratedReason.UNKNOWN_SUBSCRIBER, "who?"
    )
    assert [jsonl.event_to_json(e)["type"] for e in (t, n, u)] == [
        "throttle",
        "notification",
        "unrated",
    ]
    for e in (t, n, u):
        assert jsonl.event_from_json(jsonl.event_to_json(e)) == e


def test_event_from_json_errors() -> None:
    with pytest.raises(DecodeError, match=r"event\.type: unknown event 'bill'"):
        jsonl.event_from_json({"type": "bill"})
    obj = jsonl.event_to_json(CHARGE)
    obj["draws"] = [{"bucket_id": "b1", "product": "PK1", "owner": "m"}]
    with pytest.raises(DecodeError, match=r"ChargeEvent\.draws\[0\]\.amount: missing"):
        jsonl.event_from_json(obj)
    with pytest.raises(TypeError):
        jsonl.event_to_json(USAGE)  # type: ignore[arg-type]


def test_loads_line() -> None:
    assert jsonl.loads_line('{"a": 1}\n') == {"a": 1}
    with pytest.raises(DecodeError, match="line: invalid JSON"):
        jsonl.loads_line("{nope")
    with pytest.raises(DecodeError, match="line: expected a JSON object, got list"):
        jsonl.loads_line("[1]")


def test_dumps_line_is_deterministic() -> None:
    assert jsonl.dumps_line({"b": 1, "a": {"d": 2, "c": 3}}) == '{"a":{"c":3,"d":2},"b":1}'


@settings(max_examples=200)
@given(usage_records)
def test_usage_json_round_trip(rec: inp.UsageRecord) -> None:
    if min(rec.duration_s, rec.uplink_bytes, rec.downlink_bytes) < 0:
        with pytest.raises(DecodeError, match="must be >= 0") as info:
            jsonl.usage_from_json(jsonl.usage_to_json(rec))
        assert info.value.reason_class == "INVALID_VALUE"
        return
    line = jsonl.dumps_line(jsonl.usage_to_json(rec))
    assert jsonl.usage_from_json(jsonl.loads_line(line)) == rec


@settings(max_examples=200)
@given(commands)
def test_command_json_round_trip(cmd: inp.Command) -> None:
    if isinstance(cmd, inp.NewSubscriber) and not 1 <= cmd.cycle_day <= 31:
        with pytest.raises(DecodeError, match="cycle_day"):
            jsonl.command_from_json(jsonl.command_to_json(cmd))
        return
    line = jsonl.dumps_line(jsonl.command_to_json(cmd))
    assert jsonl.command_from_json(jsonl.loads_line(line)) == cmd


@settings(max_examples=200)
@given(events)
def test_event_json_round_trip(e: ev.Event) -> None:
    line = jsonl.event_to_line(e)
    assert line == jsonl.event_to_line(e)
    assert orjson.loads(line) == jsonl.event_to_json(e)
    assert jsonl.event_from_json(jsonl.loads_line(line)) == e


# --- the fast paths of the offline jobs agree with the strict, generic forms -----------

_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.sampled_from(["DATA", "HOME", "MO", "usage"]),
)


def _strict(obj: Any) -> Any:
    try:
        return jsonl._USAGE.parse(obj, "UsageRecord", jsonl._TYPE)
    except DecodeError:
        return None


@settings(max_examples=300)
@given(usage_records)
def test_fast_usage_reading_gives_the_strict_result(rec: inp.UsageRecord) -> None:
    obj = orjson.loads(orjson.dumps(jsonl.usage_to_json(rec)))
    strict = _strict(obj)
    fast = jsonl._usage_fast(obj)
    assert fast is None or fast == strict == rec
    if strict is not None:
        assert jsonl.usage_from_json(obj) == rec


@settings(max_examples=500)
@given(usage_records, st.sampled_from([*sorted(jsonl._USAGE_KEYS), "extra"]), _JSON_VALUES)
def test_fast_usage_reading_accepts_nothing_the_strict_path_refuses(
    rec: inp.UsageRecord, field: str, value: Any
) -> None:
    """Any one field changed to any JSON value (or dropped): the fast path either steps
    aside (None) or returns exactly what the strict path returns."""
    obj = orjson.loads(orjson.dumps(jsonl.usage_to_json(rec)))
    obj[field] = value
    fast = jsonl._usage_fast(obj)
    if fast is not None:
        assert fast == _strict(obj)
    del obj[field]
    fast = jsonl._usage_fast(obj)
    if fast is not None:
        assert fast == _strict(obj)


@settings(max_examples=300)
@given(events)
def test_fast_event_lines_are_the_generic_lines(e: ev.Event) -> None:
    assert jsonl.event_line_bytes(e) == jsonl.event_to_line(e).encode()


def test_the_keys_after_type_hold_only_enum_names_or_null() -> None:
    """The fast event lines put "type" in before the keys that sort after it, found as
    the last `,"<key>":` of the line: safe only while their values cannot hold text."""
    for cls in EVENT_CLASS.values():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name > "type":
                kinds = typing.get_args(hints[f.name]) or (hints[f.name],)
                assert all(k is type(None) or issubclass(k, enum.Enum) for k in kinds), f.name


_LINE_EDITS = st.one_of(
    st.tuples(st.just("set"), st.sampled_from([*sorted(jsonl._USAGE_KEYS), "extra"]), _JSON_VALUES),
    st.tuples(st.just("drop"), st.sampled_from(sorted(jsonl._USAGE_KEYS)), st.none()),
    st.tuples(st.just("bytes"), st.integers(0, 400), st.binary(max_size=3)),
)


@settings(max_examples=600)
@given(usage_records, _LINE_EDITS)
def test_a_usage_line_read_in_one_step_is_what_the_strict_path_reads(
    rec: inp.UsageRecord, edit: tuple[str, Any, Any]
) -> None:
    """A line changed in one field (any JSON value, or dropped) or in its bytes:
    `usage_line` either steps aside (None) or returns exactly what parsing the line and
    `usage_from_json` return (so nothing it reads would have been refused)."""
    how, where, what = edit
    obj = orjson.loads(orjson.dumps(jsonl.usage_to_json(rec)))
    if how == "set":
        obj[where] = what
    elif how == "drop":
        obj.pop(where, None)
    # the standard library writes what orjson refuses (integers past 64 bits, NaN)
    raw = json.dumps(obj, separators=(",", ":")).encode()
    if how == "bytes":
        raw = raw[:where] + what + raw[where + len(what) :]
    fast = jsonl.usage_line(raw)
    if fast is not None:
        assert fast == jsonl.usage_from_json(jsonl.loads_line(raw))
    assert jsonl.usage_line(orjson.dumps(jsonl.usage_to_json(rec))) in (None, rec)

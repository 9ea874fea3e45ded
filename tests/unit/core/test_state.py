"""The serialized form of an account (Account.to_dict / from_dict): what the state stores
keep. The form must not drift, so a golden copy of it is checked byte for byte."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson

from rater.core.inputs import SubscriberStatus
from rater.core.state import (
    Account,
    Bucket,
    FeeAccrual,
    Line,
    Subscription,
    split_hot,
    with_hot,
)

OWNER, MEMBER = "13800000001", "13800000002"


def _account() -> Account:
    """Two sharing lines with every kind of content, non-default values throughout."""
    owner = Line(
        msisdn=OWNER,
        account=OWNER,
        plan="P58",
        cycle_day=5,
        home_province="GD",
        activated_at=1_700_000_000_000,
        status=SubscriberStatus.ARREARS,
        cycle_start=1_775_318_400_000,
        cycle_end=1_777_910_400_000,
        cycle_id="2026-04-05",
        cycle_days=30,
        first_cycle=False,
        buckets=[
            Bucket(
                "P58.data#1",
                "P58",
                "plan",
                "data",
                3 << 30,
                12345,
                1_775_318_400_000,
                1_777_910_400_000,
                False,
                False,
                100,
                1_700_000_000_000,
                80,
            ),
            Bucket(
                "P58.data#0",
                "P58",
                "plan",
                "data",
                1 << 30,
                7,
                1_775_318_400_000,
                1_777_910_400_000,
                True,
                False,
                50,
                1_699_000_000_000,
                0,
            ),
            Bucket("T10#2", "T10", "topup", "voice", 100, 3, 1_775_400_000_000, 1_777_910_400_000),
        ],
        subscriptions=[
            Subscription("T10", 1_775_400_000_000, "T10#2", True),
            Subscription("D1", 1_775_500_000_000, None),
        ],
        accruals=[FeeAccrual("D1", False, 100, 3, 200, True), FeeAccrual("P58", True, 5800, 0)],
        pending_products=["M5", "T10"],
        pending_plan="P88",
        overage_bytes=1 << 20,
        overage_fen=29,
        data_used=4 << 30,
        throttled=True,
        throttle_reason="cap",
        month_end_orders=2,
        days_accrued=7,
        last_usage=1_775_590_000_000,
        seen={20550: {3, -1, 2}, 20549: {7}},
        sharing_owner=None,
        members=[MEMBER],
        next_seq=3,
    )
    member = Line(MEMBER, OWNER, "P58", 5, "BJ", 1_701_000_000_000, sharing_owner=OWNER)
    member.seen = {20551: {-9}}
    return Account(
        OWNER,
        {OWNER: owner, MEMBER: member},
        clock=1_775_600_000_000,
        next_due=1_777_910_400_000,
    )


def _line(**kw: Any) -> dict[str, Any]:
    return kw


# The form as written before (keys in this order); stores hold data in it.
GOLDEN: dict[str, Any] = {
    "key": OWNER,
    "clock": 1775600000000,
    "next_due": 1777910400000,
    "lines": [
        _line(
            msisdn=OWNER, account=OWNER, plan="P58", cycle_day=5, home_province="GD",
            activated_at=1700000000000, status="ARREARS", cycle_start=1775318400000,
            cycle_end=1777910400000, cycle_id="2026-04-05", cycle_days=30,
            first_cycle=False, pending_plan="P88",
            overage_bytes=1048576, overage_fen=29, data_used=4294967296, throttled=True,
            throttle_reason="cap", month_end_orders=2, days_accrued=7,
            last_usage=1775590000000, sharing_owner=None, next_seq=3,
            buckets=[
                ["P58.data#1", "P58", "plan", "data", 3221225472, 12345, 1775318400000,
                 1777910400000, False, False, 100, 1700000000000, 80],
                ["P58.data#0", "P58", "plan", "data", 1073741824, 7, 1775318400000,
                 1777910400000, True, False, 50, 1699000000000, 0],
                ["T10#2", "T10", "topup", "voice", 100, 3, 1775400000000, 1777910400000,
                 False, True, 100, 0, 0],
            ],
            subscriptions=[["T10", 1775400000000, "T10#2", True],
                           ["D1", 1775500000000, None, False]],
            accruals=[["D1", False, 100, 3, 200, True], ["P58", True, 5800, 0, 0, False]],
            seen=[[20549, [7]], [20550, [-1, 2, 3]]],
            pending_products=["M5", "T10"],
            members=[MEMBER],
        ),
        _line(
            msisdn=MEMBER, account=OWNER, plan="P58", cycle_day=5, home_province="BJ",
            activated_at=1701000000000, status="ACTIVE", cycle_start=0, cycle_end=0,
            cycle_id="", cycle_days=30, first_cycle=True,
            pending_plan=None, overage_bytes=0, overage_fen=0, data_used=0, throttled=False,
            throttle_reason="", month_end_orders=0, days_accrued=0, last_usage=0,
            sharing_owner=OWNER, next_seq=1, buckets=[], subscriptions=[], accruals=[],
            seen=[[20551, [-9]]], pending_products=[], members=[],
        ),
    ],
}  # fmt: skip


def _without_seen(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "lines": [{k: v for k, v in ld.items() if k != "seen"} for ld in d["lines"]]}


def test_the_serialized_form_is_unchanged_byte_for_byte() -> None:
    acct = _account()
    assert orjson.dumps(acct.to_dict()) == orjson.dumps(GOLDEN)
    assert orjson.dumps(acct.to_dict(with_seen=False)) == orjson.dumps(_without_seen(GOLDEN))
    assert acct.to_dict() == GOLDEN
    assert json.loads(json.dumps(acct.to_dict())) == acct.to_dict()  # plain JSON data


def test_the_stored_form_reads_back() -> None:
    assert Account.from_dict(GOLDEN) == _account()
    assert Account.from_dict(orjson.loads(orjson.dumps(GOLDEN))) == _account()
    without = Account.from_dict(_without_seen(GOLDEN))
    assert all(line.seen == {} for line in without.lines.values())
    expected = _account()
    for line in expected.lines.values():
        line.seen = {}
    assert without == expected


def test_a_stored_form_with_plan_first_cycle_reads_back() -> None:
    """Lines stored before `plan_first_cycle` was dropped (it was never read) hold it,
    after `first_cycle`; live stores hold such accounts, so they must still read."""
    old = orjson.loads(orjson.dumps(GOLDEN))
    for ld in old["lines"]:
        at = list(ld).index("first_cycle") + 1
        items = list(ld.items())
        ld.clear()
        ld.update([*items[:at], ("plan_first_cycle", False), *items[at:]])
    assert Account.from_dict(old) == _account()
    assert Account.from_dict(old).to_dict() == GOLDEN


def test_round_trip_through_json() -> None:
    acct = _account()
    for dumps, loads in ((orjson.dumps, orjson.loads), (json.dumps, json.loads)):
        back = Account.from_dict(loads(dumps(acct.to_dict())))
        assert back == acct
        assert list(back.lines) == list(acct.lines)
        assert dumps(back.to_dict()) == dumps(acct.to_dict())
        owner = back.lines[OWNER]
        assert owner.status == SubscriberStatus.ARREARS
        assert all(type(b) is Bucket for b in owner.buckets)
        assert all(type(s) is Subscription for s in owner.subscriptions)
        assert all(type(a) is FeeAccrual for a in owner.accruals)
        assert owner.seen == {20549: {7}, 20550: {-1, 2, 3}}
        assert owner.order is None  # derived, never stored


def test_rows_hold_every_field_in_declaration_order() -> None:
    acct = _account()
    d = acct.to_dict()
    for line, ld in zip(acct.lines.values(), d["lines"], strict=True):
        expected_keys = [f.name for f in dataclasses.fields(Line) if f.name != "order"]
        lists = ["buckets", "subscriptions", "accruals", "seen", "pending_products", "members"]
        assert list(ld) == [k for k in expected_keys if k not in lists] + lists
        for key, rows in (
            ("buckets", line.buckets),
            ("subscriptions", line.subscriptions),
            ("accruals", line.accruals),
        ):
            assert ld[key] == [[getattr(x, f) for f in x.__struct_fields__] for x in rows]


def test_the_forms_share_no_mutable_state() -> None:
    acct = _account()
    d = acct.to_dict()
    owner = acct.lines[OWNER]
    owner.pending_products.append("X")
    owner.members.append("Y")
    owner.buckets[0].used += 1
    owner.seen[20550].add(0)
    assert orjson.dumps(d) == orjson.dumps(GOLDEN)

    loaded = orjson.loads(orjson.dumps(GOLDEN))
    a, b = Account.from_dict(loaded), Account.from_dict(loaded)
    a.lines[OWNER].pending_products.append("X")
    a.lines[OWNER].members.append("Y")
    a.lines[OWNER].buckets.pop()
    a.lines[OWNER].seen[20550].add(0)
    assert b == _account()
    assert loaded == orjson.loads(orjson.dumps(GOLDEN))


def test_the_hot_counters_and_the_cold_part_give_the_whole_form_back() -> None:
    d = _account().to_dict(with_seen=False)
    hot = split_hot(d)
    assert hot == [
        1775600000000,
        [
            [4294967296, 1048576, 29, 1775590000000, [12345, 7, 3], [80, 0, 0]],
            [0, 0, 0, 0, [], []],
        ],
    ]
    assert d["clock"] == 0
    owner = d["lines"][0]
    assert (owner["data_used"], owner["overage_bytes"], owner["overage_fen"]) == (0, 0, 0)
    assert owner["last_usage"] == 0
    assert [(r[5], r[12]) for r in owner["buckets"]] == [(0, 0)] * 3
    assert owner["throttled"] is True and owner["buckets"][0][4] == 3221225472  # cold kept
    cold = orjson.loads(orjson.dumps(d))
    assert with_hot(cold, orjson.loads(orjson.dumps(hot))) == _without_seen(GOLDEN)


def test_a_change_outside_the_hot_counters_changes_the_cold_bytes() -> None:
    acct = _account()
    before = acct.to_dict(with_seen=False)
    split_hot(before)
    acct.lines[OWNER].buckets[0].used += 1  # hot: the cold part stays the same
    acct.clock += 1
    same = acct.to_dict(with_seen=False)
    split_hot(same)
    assert orjson.dumps(same) == orjson.dumps(before)
    acct.lines[OWNER].buckets[0].valid_to += 1  # anything else: the cold part differs
    other = acct.to_dict(with_seen=False)
    split_hot(other)
    assert orjson.dumps(other) != orjson.dumps(before)

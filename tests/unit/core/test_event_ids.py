"""Event identity: one event_id names exactly one event (the scheme is the table in
rater/core/events.py). A different event never reuses an id; the same event re-emitted
(a crash, a replay of the same inputs) always gets the same id."""

from __future__ import annotations

import dataclasses
from collections import Counter

from rater.catalog.model import MB, Effective, PackKind
from rater.core.cycles import to_ms
from rater.core.engine import Rater, unknown_subscriber
from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    NotificationEvent,
    NotificationKind,
    UnratedEvent,
    UnratedReason,
)
from rater.core.inputs import Roaming, UsageRecord, UsageType

from .helpers import Harness, example_catalog, fees_of, last_charge, pack

APRIL = "2026-04-01T00:00:00+08:00"


def assert_ids_name_one_event(events: list[Event]) -> None:
    by_id: dict[str, Event] = {}
    for e in events:
        assert by_id.setdefault(e.event_id, e) == e, (by_id[e.event_id], e)
    twice = [i for i, n in Counter(e.event_id for e in events).items() if n > 1]
    assert not twice, twice


def _d5_family() -> Harness:
    """Owner A and member B both on D5 (30 MB, daily fee), cycle days 1 and 15; one record
    of B's uses up B's 30 MB and then A's shared 30 MB."""
    h = Harness()
    h.subscribe("A", "D5", APRIL)
    h.subscribe("B", "D5", "2026-04-02T00:00:00+08:00", cycle_day=15, owner="A")
    h.tick("2026-04-05T00:00:00+08:00")  # a few daily fee parts on both lines
    out = h.data("B", "2026-04-05T12:00:00+08:00", 60 * MB, record_id="r1")
    c = last_charge(out)
    assert [(d.owner, d.product, d.amount) for d in c.draws] == [
        ("B", "D5", 30 * MB),
        ("A", "D5", 30 * MB),
    ]
    return h


def test_a_record_that_uses_up_both_d5_allowances_of_a_sharing_group_gets_distinct_ids() -> None:
    h = _d5_family()
    out = h.events[-7:]  # the record's: B 80 %, B 100 %, B's rest, A 80 %, A 100 %, A's rest
    rests = [c for c in fees_of(out, "D5") if c.reason.startswith("allowance used up")]
    assert sorted(c.msisdn for c in rests) == ["A", "B"]
    notes = [(e.msisdn, e.kind) for e in out if isinstance(e, NotificationEvent)]
    assert sorted(notes) == [
        ("A", NotificationKind.USAGE_100),
        ("A", NotificationKind.USAGE_80),
        ("B", NotificationKind.USAGE_100),
        ("B", NotificationKind.USAGE_80),
    ]
    assert [e.msisdn for e in out if isinstance(e, ChargeEvent) and e.kind == ChargeKind.USAGE] == [
        "B"
    ]
    # The owner's and the member's events name their own line (their buckets are
    # both "D5.data#1", so the bucket alone does not tell them apart).
    assert len({e.event_id for e in out}) == len(out) == 7
    assert all(f":{e.msisdn}:" in e.event_id for e in out)
    h.tick("2026-06-01T00:00:00+08:00")
    assert_ids_name_one_event(h.events)


def test_the_same_record_id_unrated_for_another_reason_later_gets_another_id() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)

    def roaming() -> list[Event]:  # the same record each time
        at = "2026-04-10T12:00:00+08:00"
        return h.data("A", at, 1 * MB, record_id="r1", roaming=Roaming.INTERNATIONAL).events

    [first] = roaming()
    assert roaming() == []  # a duplicate within the window
    # newer usage moves the line's duplicate window past r1 (a tick alone does not)
    h.data("A", "2026-04-28T12:00:00+08:00", 1 * MB)
    h.tick("2026-05-01T00:00:00+08:00")
    [late] = roaming()
    h.data("A", "2026-05-28T12:00:00+08:00", 1 * MB)
    h.tick("2026-06-01T00:00:00+08:00")
    [later] = roaming()
    assert isinstance(first, UnratedEvent) and isinstance(late, UnratedEvent)
    assert isinstance(later, UnratedEvent)
    assert first.reason == UnratedReason.INTERNATIONAL_ROAMING
    assert late.reason == later.reason == UnratedReason.LATE
    assert late.detail != later.detail  # found late in May's cycle, then in June's
    assert len({first.event_id, late.event_id, later.event_id}) == 3
    assert_ids_name_one_event(h.events)


def test_the_same_inputs_again_give_the_same_ids() -> None:
    """A re-emission (a crash, a replay from the start) names each event as before."""

    def run() -> list[str]:
        h = _d5_family()
        h.data("A", "2026-04-20T12:00:00+08:00", 1 * MB, record_id="r2")
        h.data("B", "2026-04-20T12:00:00+08:00", 1 * MB, record_id="r2")  # same id, other line
        h.data("A", "2026-04-21T12:00:00+08:00", 1 * MB, roaming=Roaming.INTERNATIONAL)
        h.tick("2026-05-20T00:00:00+08:00")
        h.data("A", "2026-04-21T12:00:00+08:00", 1 * MB, record_id="r2")  # late
        assert_ids_name_one_event(h.events)
        return [e.event_id for e in h.events]

    assert run() == run()


def test_an_unknown_subscriber_s_record_is_named_by_its_msisdn_and_record_id() -> None:
    rater = Rater(example_catalog())
    rec = UsageRecord(
        "r1", "139", UsageType.DATA, to_ms(APRIL), 60, 0, 1, None, None, "GD", "LTE",
        Roaming.HOME, None, 0,
    )  # fmt: skip
    one = unknown_subscriber(rater, rec)
    assert one == unknown_subscriber(rater, rec)
    assert (
        one.event_id != unknown_subscriber(rater, dataclasses.replace(rec, msisdn="138")).event_id
    )


def test_a_topup_ordered_twice_for_next_cycle_charges_two_fees_with_two_ids() -> None:
    tnext = pack("TNEXT", PackKind.TOPUP, fee_fen=700, effective=Effective.NEXT_CYCLE)
    h = Harness(Rater(example_catalog(TNEXT=tnext)))
    h.subscribe("A", "P58", APRIL)
    h.order("A", "TNEXT", "2026-04-10T00:00:00+08:00")
    h.order("A", "TNEXT", "2026-04-11T00:00:00+08:00")
    out = h.tick("2026-05-01T00:00:00+08:00")
    fees = fees_of(out.events, "TNEXT")
    assert [c.fen for c in fees] == [700, 700]
    assert len({c.event_id for c in fees}) == 2
    assert [b.product for b in h.line("A").buckets].count("TNEXT") == 2
    assert_ids_name_one_event(h.events)


def test_ids_follow_the_documented_patterns() -> None:
    h = _d5_family()
    h.order("A", "T1G", "2026-04-06T00:00:00+08:00")
    h.tick("2026-05-01T00:00:00+08:00")
    ids = {e.event_id for e in h.events}
    for expected in (
        "charge:B:2026-03-15:20548:r1",  # 20548: the UTC day of its start
        "n80:B:2026-03-15:D5.data#1",
        "n100:A:2026-04-01:D5.data#1",
        "fee:A:2026-04-01:D5:rest:D5.data#1",
        "fee:B:2026-03-15:D5:rest:D5.data#1",
        "fee:A:2026-04-01:D5:d1",
        "accepted:new-B",
        "cmd-fee:T1G:ord-0",
    ):
        assert expected in ids, sorted(ids)

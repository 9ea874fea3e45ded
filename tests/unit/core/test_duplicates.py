"""Section 10 of rating-rules.md: the same usage record (same record id) is charged once,
however many times it is delivered; a redelivery reports Status.DUPLICATE and changes
nothing."""

from __future__ import annotations

from rater.catalog.model import GB, MB
from rater.core.cycles import DAY_MS, HOUR_MS, to_ms
from rater.core.duplicates import record_key
from rater.core.engine import Rater, Status
from rater.core.events import UnratedEvent, UnratedReason
from rater.core.inputs import Direction, Roaming, UsageRecord, UsageType

from .helpers import Harness, example_catalog, last_charge

APRIL = "2026-04-01T00:00:00+08:00"


def _call(rid: str, at: str, seconds: int) -> UsageRecord:
    return UsageRecord(
        rid, "A", UsageType.VOICE, to_ms(at), seconds, 0, 0, None, None, "GD", "LTE",
        Roaming.HOME, Direction.MO, 0,
    )  # fmt: skip


def test_rule_10_the_same_data_record_twice_is_charged_once() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    first = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    assert first.status == Status.APPLIED
    assert h.account is not None
    state = h.account.to_dict()
    again = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    assert (again.status, again.events) == (Status.DUPLICATE, [])
    assert h.account.to_dict() == state
    assert h.bucket_used("A", "P58") == 1 * GB
    assert [c.record_id for c in h.charges() if c.record_id] == ["rec-1"]


def test_rule_10_a_duplicate_overage_record_is_not_charged_twice() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)
    # 1.5 MB overage: ceil(1536 * 29 / 1024) = 44 fen, once.
    assert (
        last_charge(h.data("A", "2026-04-02T13:00:00+08:00", 1536 * 1024, record_id="o")).fen == 44
    )
    for _ in range(5):
        assert h.data("A", "2026-04-02T13:00:00+08:00", 1536 * 1024, record_id="o").status == (
            Status.DUPLICATE
        )
    assert sum(c.fen for c in h.charges() if c.record_id) == 44
    assert h.line("A").overage_fen == 44


def test_rule_10_a_duplicate_delivered_later_in_the_cycle_is_still_a_duplicate() -> None:
    # 18 days later: inside a duplicate window of 30 days (the default is 48 h)
    h = Harness(Rater(example_catalog(), duplicate_window_ms=30 * DAY_MS))
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    h.data("A", "2026-04-20T12:00:00+08:00", 1 * GB, record_id="rec-2")
    # A replay of rec-1 (its own start time, after rec-2 was rated): duplicate, no change.
    assert h.account is not None
    state = h.account.to_dict()
    again = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    assert (again.status, again.events) == (Status.DUPLICATE, [])
    assert h.account.to_dict() == state
    assert h.bucket_used("A", "P58") == 2 * GB


def test_rule_10_the_same_call_twice_is_charged_once() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    assert h.apply(_call("call-1", "2026-04-02T10:00:00+08:00", 61)).status == Status.APPLIED
    assert h.account is not None
    state = h.account.to_dict()
    out = h.apply(_call("call-1", "2026-04-02T10:00:00+08:00", 61))
    assert (out.status, out.events) == (Status.DUPLICATE, [])
    assert h.account.to_dict() == state
    [voice] = [b for b in h.line("A").buckets if b.unit == "voice"]
    assert voice.used == 2


def test_rule_10_different_record_ids_with_the_same_content_are_both_charged() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    a = h.data("A", "2026-04-02T12:00:00+08:00", 1 * MB, record_id="x")
    b = h.data("A", "2026-04-02T12:00:00+08:00", 1 * MB, record_id="y")
    assert (a.status, b.status) == (Status.APPLIED, Status.APPLIED)
    assert h.bucket_used("A", "P58") == 2 * MB


def test_rule_10_a_redelivered_unrated_roaming_record_is_a_duplicate() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    first = h.data("A", "2026-04-02T12:00:00+08:00", 1 * MB, record_id="intl",
                   roaming=Roaming.INTERNATIONAL)  # fmt: skip
    assert len(first.events) == 1  # one unrated event
    again = h.data("A", "2026-04-02T12:00:00+08:00", 1 * MB, record_id="intl",
                   roaming=Roaming.INTERNATIONAL)  # fmt: skip
    assert (again.status, again.events) == (Status.DUPLICATE, [])


def test_rule_10_a_duplicate_of_a_closed_cycles_record_is_not_charged_again() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-30T12:00:00+08:00", 1 * GB, record_id="april")
    h.tick("2026-05-01T00:00:00+08:00")
    # Replayed after the cycle closed: it starts before the current cycle, so it is late
    # (section 2), not rated again.
    out = h.data("A", "2026-04-30T12:00:00+08:00", 1 * GB, record_id="april")
    assert not [c for c in out.events if getattr(c, "kind", None) == "USAGE"]
    assert h.bucket_used("A", "P58") == 0
    assert [c.record_id for c in h.charges() if c.record_id] == ["april"]


# -- the bounded window (rater.core.duplicates) ----------------------------------------


def test_rule_10_a_duplicate_within_the_window_is_not_charged_again() -> None:
    h = Harness()  # the default window: 48 h of event time
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    h.data("A", "2026-04-04T11:59:00+08:00", 1 * MB, record_id="rec-2")  # 47 h 59 min on
    again = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    assert (again.status, again.events) == (Status.DUPLICATE, [])
    assert h.bucket_used("A", "P58") == 1 * GB + 1 * MB


def test_rule_10_a_duplicate_after_the_window_is_refused_as_late_each_time() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    h.data("A", "2026-04-04T12:01:00+08:00", 1 * MB, record_id="rec-2")  # 48 h 1 min on
    first = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    second = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    # Not charged again: unrated LATE, with the reason, and the very same event each time
    # (a consumer deduplicating by event_id keeps one).
    assert first.events == second.events
    [late] = first.events
    assert isinstance(late, UnratedEvent) and late.reason == UnratedReason.LATE
    assert "more than 48 h before the line's latest record" in late.detail
    assert h.bucket_used("A", "P58") == 1 * GB + 1 * MB
    assert [c.record_id for c in h.charges() if c.record_id] == ["rec-1", "rec-2"]


def test_rule_10_a_record_never_seen_but_older_than_the_window_is_late() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-10T12:00:00+08:00", 1 * MB, record_id="new")
    out = h.data("A", "2026-04-07T12:00:00+08:00", 1 * MB, record_id="old")
    [late] = out.events
    assert isinstance(late, UnratedEvent) and late.reason == UnratedReason.LATE
    assert h.bucket_used("A", "P58") == 1 * MB


def test_rule_10_the_window_is_configurable() -> None:
    h = Harness(Rater(example_catalog(), duplicate_window_ms=96 * HOUR_MS))
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    h.data("A", "2026-04-05T12:00:00+08:00", 1 * MB, record_id="rec-2")  # 72 h on
    again = h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB, record_id="rec-1")
    assert again.status == Status.DUPLICATE


def test_rule_10_a_line_keeps_only_the_window_of_record_keys() -> None:
    """Memory per line is bounded by the window, not by the cycle: after 20 days of 50
    records a day the line holds the keys of at most 3 days (48 h plus the current day)."""
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    for day in range(2, 22):
        for n in range(50):
            h.data("A", f"2026-04-{day:02d}T{n // 4:02d}:{n % 4 * 15:02d}:00+08:00", 1024,
                   record_id=f"d{day}-{n}")  # fmt: skip
    seen = h.line("A").seen
    assert len(seen) <= 3
    assert sum(len(k) for k in seen.values()) <= 3 * 50
    # the latest record is among them
    assert record_key("d21-49") in set().union(*seen.values())


def test_rule_10_a_new_cycle_keeps_the_window() -> None:
    """A redelivery of the last record of a closed cycle, just after the new cycle
    started: still within the window, so a duplicate (no event at all)."""
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    h.data("A", "2026-04-30T23:00:00+08:00", 1 * MB, record_id="last")
    h.tick("2026-05-01T01:00:00+08:00")
    again = h.data("A", "2026-04-30T23:00:00+08:00", 1 * MB, record_id="last")
    assert (again.status, again.events) == (Status.DUPLICATE, [])

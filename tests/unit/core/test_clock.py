"""Section 9 of rating-rules.md: the clock. Daily fees, rollover (with carry-over and
restore) and term-pack expiry happen at their time for a subscriber who sends no usage,
each exactly once, in time order, however time is delivered."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rater.catalog.model import GB, MB
from rater.core.cycles import from_ms, to_ms
from rater.core.events import ChargeEvent, NotificationEvent, NotificationKind, ThrottleAction

from .helpers import Harness, fees_of

APRIL = "2026-04-01T00:00:00+08:00"
END = "2026-07-10T00:00:00+08:00"
HOUR = 3_600_000


def _quiet(h: Harness) -> None:
    """D5 (daily) + DMIGU (daily) from 1 April, Q30 ordered 10 April 12:00 (expires
    9 July 12:00). No usage at all."""
    h.subscribe("A", "D5", APRIL, packs=("DMIGU",))
    h.order("A", "Q30", "2026-04-10T12:00:00+08:00")


def _busy(h: Harness) -> None:
    """A sharing family with a different cycle day for the member, a throttled line, a
    daily plan used up mid-cycle, a term pack and a next-cycle order."""
    h.subscribe("A", "CAP", APRIL, packs=("N2G",))
    h.subscribe("B", "D5", "2026-04-03T10:00:00+08:00", cycle_day=15, owner="A",
                packs=("DMIGU",))  # fmt: skip
    h.order("A", "Q30", "2026-04-10T12:00:00+08:00")
    h.order("A", "RNEXT", "2026-04-11T12:00:00+08:00")
    h.data("A", "2026-04-12T12:00:00+08:00", 3 * GB)  # A throttled at the cap
    h.data("B", "2026-04-13T12:00:00+08:00", 30 * MB)  # B's D5 data used up


def test_rule_9_ticks_apply_daily_fees_rollover_and_expiry_without_usage() -> None:
    h = Harness()
    _quiet(h)
    out = h.tick(END)
    d5 = fees_of(h.events, "D5")  # (days 1-9 of April were applied at the order)
    migu = fees_of(h.events, "DMIGU")
    # Whole cycles: exactly the fee; July, 9 days of 31: floor(500*9/31) = 145 and
    # floor(900*9/31) = 261.
    for cycle, d5_total, migu_total in [
        ("2026-04-01", 500, 900),
        ("2026-05-01", 500, 900),
        ("2026-06-01", 500, 900),
        ("2026-07-01", 145, 261),
    ]:
        assert sum(c.fen for c in d5 if c.cycle == cycle) == d5_total
        assert sum(c.fen for c in migu if c.cycle == cycle) == migu_total
    # one daily charge per product per day: 30 + 31 + 30 + 9 days
    assert len(d5) == len(migu) == 100
    # Rollover happened three times: D5's unused 30 MB carried (from May on), July's cycle.
    line = h.line("A")
    assert line.cycle_id == "2026-07-01"
    assert [(b.product, b.size) for b in line.buckets if b.carried] == [("D5", 30 * MB)]
    # The term pack expired on 9 July 12:00.
    [exp] = [e for e in out.events if isinstance(e, NotificationEvent)]
    assert (exp.kind, exp.product, exp.event_time) == (
        NotificationKind.PACK_EXPIRED,
        "Q30",
        to_ms("2026-07-09T12:00:00+08:00"),
    )
    assert not [b for b in line.buckets if b.product == "Q30"]


def test_rule_9_restore_happens_by_the_clock_once() -> None:
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)  # throttled
    out = h.tick(END)  # three rollovers, but only one restore
    assert [(t.action, t.event_time) for t in out.events if hasattr(t, "action")] == [
        (ThrottleAction.RESTORE, to_ms("2026-05-01T00:00:00+08:00"))
    ]


def test_rule_9_ticking_twice_to_the_same_time_changes_nothing_the_second_time() -> None:
    h = Harness()
    _busy(h)
    first = h.tick("2026-05-20T00:00:00+08:00")
    assert first.events
    assert h.account is not None
    state = h.account.to_dict()
    assert h.tick("2026-05-20T00:00:00+08:00").events == []
    assert h.tick("2026-05-01T00:00:00+08:00").events == []  # going back changes nothing
    assert h.account.to_dict() == state


def _stepped(setup: Callable[[Harness], None], step_ms: int) -> Harness:
    h = Harness()
    setup(h)
    t, end = to_ms("2026-04-13T12:00:00+08:00"), to_ms(END)
    while t < end:
        h.tick(from_ms(t))
        t += step_ms
    h.tick(END)
    return h


def _midnights(setup: Callable[[Harness], None]) -> Harness:
    h = Harness()
    setup(h)
    t = to_ms("2026-04-14T00:00:00+08:00")
    while t <= to_ms(END):
        h.tick(from_ms(t))
        h.tick(from_ms(t))  # each boundary twice
        t += 24 * HOUR
    return h


@pytest.mark.parametrize("setup", [_quiet, _busy], ids=["quiet", "busy"])
def test_rule_9_many_small_ticks_give_the_same_events_as_one_big_tick(
    setup: Callable[[Harness], None],
) -> None:
    big = Harness()
    setup(big)
    big.tick(END)
    assert big.account is not None
    for small in (
        _stepped(setup, 1 * HOUR),
        _stepped(setup, 5 * HOUR + 17 * 60_000 + 3_000),  # an awkward step
        _midnights(setup),
    ):
        assert small.events == big.events
        assert small.account is not None
        assert small.account.to_dict() == big.account.to_dict()


def test_rule_9_due_changes_are_applied_in_time_order() -> None:
    h = Harness()
    _busy(h)
    n = len(h.events)
    h.tick(END)
    times = [e.event_time for e in h.events[n:]]
    assert times == sorted(times)
    # both lines moved on, each on its own cycle day
    assert (h.line("A").cycle_id, h.line("B").cycle_id) == ("2026-07-01", "2026-06-15")


def test_rule_9_a_record_first_applies_what_is_due_before_it() -> None:
    h = Harness()
    h.subscribe("A", "D5", APRIL)
    out = h.data("A", "2026-04-11T10:00:00+08:00", 1 * MB)
    # days 1-10 are charged (floor(500 * 10 / 30) = 166) before the record is rated
    kinds = [type(e).__name__ for e in out.events]
    assert kinds == ["ChargeEvent"] * 11
    assert sum(c.fen for c in fees_of(out.events, "D5")) == 166
    last = out.events[-1]
    assert isinstance(last, ChargeEvent) and last.record_id is not None

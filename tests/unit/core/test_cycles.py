"""Section 2 of rating-rules.md: local time (Asia/Shanghai, UTC+8), per-subscriber cycle
days, month lengths, which cycle a record belongs to, late records and records from
before activation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rater.catalog.model import GB, MB
from rater.core.cycles import DAY_MS, cycle_at, to_ms
from rater.core.events import ChargeEvent, NotificationKind, UnratedEvent, UnratedReason
from rater.core.inputs import Roaming, UsageRecord, UsageType

from .helpers import Harness, draws_of, fees_of, last_charge, only_result

SHANGHAI_MS = 8 * 3600 * 1000


def test_rule_2_handbook_example_18_april_with_cycle_day_15() -> None:
    # "On 18 April with cycle day 15, the current cycle is 15 April - 14 May."
    c = cycle_at(to_ms("2026-04-18T10:00:00+08:00"), 15, SHANGHAI_MS)
    assert (c.id, c.start, c.end) == (
        "2026-04-15",
        to_ms("2026-04-15T00:00:00+08:00"),
        to_ms("2026-05-15T00:00:00+08:00"),  # end exclusive: 14 May is the last day
    )
    assert c.days == 30  # 15 April .. 14 May

    h = Harness()
    h.subscribe("A", "P58", "2026-03-20T10:00:00+08:00", cycle_day=15)
    charge = last_charge(h.data("A", "2026-04-18T10:00:00+08:00", 1 * MB))
    assert charge.cycle == "2026-04-15"


def test_rule_2_effective_next_cycle_on_18_april_with_cycle_day_15_means_15_may() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-03-20T10:00:00+08:00", cycle_day=15)
    h.tick("2026-04-18T10:00:00+08:00")  # the cycle of 15 April has begun
    note = only_result(h.order("A", "RNEXT", "2026-04-18T10:00:00+08:00"))
    assert note.kind == NotificationKind.ORDER_ACCEPTED
    assert "2026-05-15" in note.reason
    h.tick("2026-05-14T23:59:59+08:00")
    assert not [b for b in h.line("A").buckets if b.product == "RNEXT"]
    h.tick("2026-05-15T00:00:00+08:00")
    [b] = [b for b in h.line("A").buckets if b.product == "RNEXT"]
    assert (b.valid_from, b.valid_to) == (
        to_ms("2026-05-15T00:00:00+08:00"),
        to_ms("2026-06-15T00:00:00+08:00"),
    )


def test_rule_2_cycle_day_is_per_subscriber() -> None:
    one, twenty = Harness(), Harness()
    one.subscribe("A", "P58", "2026-04-10T00:00:00+08:00", cycle_day=1)
    twenty.subscribe("A", "P58", "2026-04-10T00:00:00+08:00", cycle_day=20)
    at = "2026-04-25T12:00:00+08:00"
    assert last_charge(one.data("A", at, 1 * MB)).cycle == "2026-04-01"
    assert last_charge(twenty.data("A", at, 1 * MB)).cycle == "2026-04-20"
    # cycle day 20: the cycle of 10 April is 20 March - 19 April
    assert twenty.line("A").cycle_start == to_ms("2026-04-20T00:00:00+08:00")


@pytest.mark.parametrize("day", [0, 29, 31])
def test_rule_2_cycle_day_outside_1_to_28_is_rejected(day: int) -> None:
    h = Harness()
    note = only_result(h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", cycle_day=day))
    assert note.kind == NotificationKind.ORDER_REJECTED
    assert "BAD_CYCLE_DAY" in note.reason
    assert h.account is None or "A" not in h.account.lines


def test_rule_2_cycle_boundary_is_local_midnight_utc_plus_8() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-03-20T10:00:00+08:00", cycle_day=15)
    # 2026-04-14T15:59:59Z is 14 April 23:59:59 in Shanghai: still the cycle of 15 March.
    before = last_charge(h.data("A", "2026-04-14T15:59:59Z", 1 * MB))
    assert before.cycle == "2026-03-15"
    # 2026-04-14T16:00:00Z is already 15 April 00:00 local: the new cycle, whose monthly
    # fee is charged at that instant.
    out = h.data("A", "2026-04-14T16:00:00Z", 1 * MB)
    assert last_charge(out).cycle == "2026-04-15"
    [fee] = fees_of(out.events, "P58")
    assert (fee.event_time, fee.cycle, fee.fen) == (
        to_ms("2026-04-14T16:00:00Z"),
        "2026-04-15",
        5800,
    )


def test_rule_2_the_night_window_is_in_local_time() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", packs=("N2G",))
    # 15:00Z is 23:00 local: night. 14:59Z is 22:59 local: day.
    assert draws_of(last_charge(h.data("A", "2026-04-10T15:00:00Z", 1 * MB))) == [("N2G", MB)]
    assert draws_of(last_charge(h.data("A", "2026-04-10T14:59:00Z", 1 * MB))) == [("P58", MB)]
    # 22:59Z is 06:59 local (night), 23:00Z is 07:00 local (day).
    assert draws_of(last_charge(h.data("A", "2026-04-10T22:59:00Z", 1 * MB))) == [("N2G", MB)]
    assert draws_of(last_charge(h.data("A", "2026-04-10T23:00:00Z", 1 * MB))) == [("P58", MB)]


@pytest.mark.parametrize(
    ("start", "days", "next_start"),
    [
        ("2026-02-01", 28, "2026-03-01"),  # February 2026
        ("2028-02-01", 29, "2028-03-01"),  # a leap February
        ("2026-04-01", 30, "2026-05-01"),
        ("2026-05-01", 31, "2026-06-01"),
        ("2026-01-15", 31, "2026-02-15"),  # cycle day 15: 15 Jan - 14 Feb
        ("2026-02-15", 28, "2026-03-15"),  # 15 Feb - 14 Mar
        ("2025-12-15", 31, "2026-01-15"),  # across the year end
    ],
)
def test_rule_2_cycle_length_follows_the_month(start: str, days: int, next_start: str) -> None:
    h = Harness()
    day = int(start[-2:])
    h.subscribe("A", "D5", f"{start}T00:00:00+08:00", cycle_day=day)
    line = h.line("A")
    assert line.cycle_days == days
    assert line.cycle_end == to_ms(f"{next_start}T00:00:00+08:00")
    # The daily fee follows the month's length: day 1 is floor(500 * 1 / days)
    # (17 fen for 28 or 29 days, 16 fen for 30 or 31), and the cycle totals 500.
    from datetime import date, timedelta

    day2 = (date.fromisoformat(start) + timedelta(days=1)).isoformat()
    [first] = fees_of(h.tick(f"{day2}T00:00:00+08:00").events, "D5")
    assert first.fen == 500 // days
    h.tick(f"{next_start}T00:00:00+08:00")
    cycle_id = start
    assert sum(c.fen for c in fees_of(h.events, "D5") if c.cycle == cycle_id) == 500


def test_rule_2_a_record_belongs_to_the_cycle_and_window_of_its_start_time() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", packs=("N2G",))
    # A one-hour record from 30 April 22:30 local runs into the night window and into May,
    # but it is rated by its start: the April cycle, day time (plan, not night pack).
    rec = UsageRecord(
        "long", "A", UsageType.DATA, to_ms("2026-04-30T22:30:00+08:00"), 3600, 0, 1 * GB,
        None, None, "GD", "LTE", Roaming.HOME, None, 0,
    )  # fmt: skip
    c = last_charge(h.apply(rec))
    assert (c.cycle, draws_of(c)) == ("2026-04-01", [("P58", 1 * GB)])
    # The next record starting at 1 May 00:00:00 local belongs to the May cycle.
    c = last_charge(h.data("A", "2026-05-01T00:00:00+08:00", 1 * MB))
    assert c.cycle == "2026-05-01"


def test_rule_2_a_late_record_is_not_rated_into_the_closed_cycle() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00")
    h.data("A", "2026-04-30T12:00:00+08:00", 3 * GB)  # April's plan data used up
    h.tick("2026-05-01T00:00:00+08:00")  # the May cycle has begun
    assert h.account is not None
    before = h.account.to_dict()
    # A record that started at 30 April 23:59:59 local arrives now: late.
    out = h.data("A", "2026-04-30T23:59:59+08:00", 10 * MB, record_id="late")
    [late] = out.events
    assert isinstance(late, UnratedEvent)
    assert (late.reason, late.cycle, late.record_id) == (UnratedReason.LATE, None, "late")
    assert "2026-05-01" in late.detail
    assert not [e for e in out.events if isinstance(e, ChargeEvent)]  # no overage, no draw
    after = h.account.to_dict()
    for d in (before, after):  # balances unchanged; only the record is remembered
        for line in d["lines"]:  # (its key, and the line's latest record time)
            line.pop("seen")
            line.pop("last_usage")
    assert after == before
    assert h.data("A", "2026-04-30T23:59:59+08:00", 10 * MB, record_id="late").events == []


def test_rule_2_a_record_from_before_activation_is_unrated() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T12:00:00+08:00")
    out = h.data("A", "2026-04-10T11:59:59+08:00", 1 * MB)
    [e] = out.events
    assert isinstance(e, UnratedEvent)
    assert e.reason == UnratedReason.BEFORE_ACTIVATION
    assert h.bucket_used("A", "P58") == 0
    # From the activation instant on, records are rated.
    assert draws_of(last_charge(h.data("A", "2026-04-10T12:00:00+08:00", 1 * MB))) == [
        ("P58", 1 * MB)
    ]


def _reference_cycle(t: int, cycle_day: int, offset_ms: int) -> tuple[int, int, str]:
    """The cycle by the standard library's calendar, as written before (slow, plain)."""
    import calendar
    from datetime import UTC, datetime

    local = datetime.fromtimestamp((t + offset_ms) // 1000, tz=UTC)
    year, month = local.year, local.month
    if local.day < cycle_day:
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    ny, nm = (year, month + 1) if month < 12 else (year + 1, 1)
    start = calendar.timegm((year, month, cycle_day, 0, 0, 0)) * 1000 - offset_ms
    end = calendar.timegm((ny, nm, cycle_day, 0, 0, 0)) * 1000 - offset_ms
    return start, end, f"{year:04d}-{month:02d}-{cycle_day:02d}"


@given(
    st.integers(0, 4_102_444_800_000),  # 1970 .. 2100
    st.integers(1, 28),
    st.sampled_from([0, 8 * 3_600_000, -5 * 3_600_000, 5 * 3_600_000 + 1_800_000]),
)
def test_cycle_at_is_the_calendar_s_cycle(t: int, cycle_day: int, offset_ms: int) -> None:
    c = cycle_at(t, cycle_day, offset_ms)
    assert (c.start, c.end, c.id) == _reference_cycle(t, cycle_day, offset_ms)
    assert c.start <= t < c.end and c.days == (c.end - c.start) // DAY_MS

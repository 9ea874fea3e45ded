"""Section 12 of rating-rules.md: the eight public worked examples, with their figures."""

from __future__ import annotations

from rater.catalog.model import GB, MB
from rater.core.events import ChargeKind, NotificationEvent, NotificationKind

from .helpers import Harness, last_charge


def test_example_1_night_record_draws_from_night_pack() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", packs=("N2G",))
    c = last_charge(h.data("A", "2026-04-10T23:30:00+08:00", 1 * GB))
    assert [(d.product, d.amount) for d in c.draws] == [("N2G", 1 * GB)]
    assert c.fen == 0
    assert h.bucket_used("A", "P58") == 0


def test_example_2_seven_oclock_is_outside_the_night_window() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", packs=("N2G",))
    h.data("A", "2026-04-10T23:30:00+08:00", 1 * GB)
    c = last_charge(h.data("A", "2026-04-11T07:00:00+08:00", 1 * GB))
    assert [(d.product, d.amount) for d in c.draws] == [("P58", 1 * GB)]
    assert c.fen == 0


def test_example_3_directional_only_in_home_province() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00", packs=("DMIGU",), province="GD")
    home = last_charge(h.data("A", "2026-04-10T12:00:00+08:00", 500 * MB, app="migu.video"))
    assert [(d.product, d.amount) for d in home.draws] == [("DMIGU", 500 * MB)]
    away = last_charge(
        h.data("A", "2026-04-10T13:00:00+08:00", 500 * MB, app="migu.video", province="BJ")
    )
    assert [(d.product, d.amount) for d in away.draws] == [("P58", 500 * MB)]


def test_example_4_overage_per_started_kb_cumulative() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00")
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)
    one = last_charge(h.data("A", "2026-04-02T13:00:00+08:00", 1536 * 1024))
    assert (one.overage, one.fen) == (1536 * 1024, 44)

    h2 = Harness()
    h2.subscribe("A", "P58", "2026-04-01T00:00:00+08:00")
    h2.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)
    first = last_charge(h2.data("A", "2026-04-02T13:00:00+08:00", 768 * 1024))
    second = last_charge(h2.data("A", "2026-04-02T13:05:00+08:00", 768 * 1024))
    assert (first.fen, second.fen) == (22, 22)


def test_example_5_unused_plan_data_carries_into_the_third_cycle() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-03-10T00:00:00+08:00")  # first cycle: Mar 1 - Apr 1
    h.tick("2026-04-01T00:00:00+08:00")  # second cycle starts; the first never carries
    assert not any(b.carried for b in h.line("A").buckets)
    h.data("A", "2026-04-15T12:00:00+08:00", 2 * GB)  # 1 GB left at the end of cycle two
    h.tick("2026-05-01T00:00:00+08:00")
    carried = [b for b in h.line("A").buckets if b.carried]
    assert [(b.product, b.size, b.used) for b in carried] == [("P58", 1 * GB, 0)]
    assert carried[0].valid_to == h.line("A").cycle_end
    c = last_charge(h.data("A", "2026-05-02T12:00:00+08:00", 1536 * MB))
    assert [(d.bucket_id, d.amount) for d in c.draws] == [
        (carried[0].id, 1 * GB),
        (
            next(
                b.id
                for b in h.line("A").buckets
                if b.product == "P58" and not b.carried and b.unit == "data"
            ),
            512 * MB,
        ),
    ]


def test_example_6_daily_fee_rest_charged_when_data_used_up() -> None:
    h = Harness()
    h.subscribe("A", "D5", "2026-04-01T00:00:00+08:00")  # April: a 30-day cycle
    h.data("A", "2026-04-20T10:00:00+08:00", 30 * MB)  # used up on day 20
    fees = [c for c in h.charges() if c.kind == ChargeKind.PLAN_FEE]
    daily = [c for c in fees if c.reason.startswith("daily")]
    assert sum(c.fen for c in daily) == 316 and len(daily) == 19
    rest = [c for c in fees if c.reason.startswith("allowance used up")]
    assert [c.fen for c in rest] == [184]
    h.tick("2026-04-30T23:59:59+08:00")
    assert sum(c.fen for c in h.charges() if c.kind == ChargeKind.PLAN_FEE) == 500


def test_example_7_voice_call_started_minutes() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00")
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 61))
    assert (c.quantity, c.draws[0].amount, c.fen) == (2, 2, 0)
    h.call("A", "2026-04-02T11:00:00+08:00", 298 * 60)  # the rest of the 300 minutes
    c = last_charge(h.call("A", "2026-04-02T12:00:00+08:00", 61))
    assert (c.overage, c.fen) == (2, 38)


def test_example_8_sixth_month_end_pack_is_rejected() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-01T00:00:00+08:00")
    for i in range(5):
        h.order("A", "ME500", f"2026-04-2{i}T10:00:00+08:00")
    before = h.line("A").buckets.copy(), sum(c.fen for c in h.charges())
    out = h.order("A", "ME500", "2026-04-26T10:00:00+08:00")
    [note] = out.events
    assert isinstance(note, NotificationEvent)
    assert note.kind == NotificationKind.ORDER_REJECTED
    assert "MONTH_END_LIMIT" in note.reason
    assert (h.line("A").buckets, sum(c.fen for c in h.charges())) == before

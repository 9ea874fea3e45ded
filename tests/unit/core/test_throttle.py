"""Section 7 of rating-rules.md: throttle at the fair-use cap or when an assured pack's
subscriber runs out of data; restore at the next cycle (by the clock) or on a data-pack
order."""

from __future__ import annotations

from rater.catalog.model import GB, MB
from rater.core.cycles import to_ms
from rater.core.events import Event, ThrottleAction, ThrottleEvent

from .helpers import Harness, draws_of, fees_of, last_charge

APRIL = "2026-04-01T00:00:00+08:00"
MAY = "2026-05-01T00:00:00+08:00"


def _throttles(events: list[Event]) -> list[ThrottleEvent]:
    return [e for e in events if isinstance(e, ThrottleEvent)]


# --- fair-use cap ------------------------------------------------------------------------
# CAP: 1 GB included, overage 29 fen/MB, fair-use cap 2 GB, then 1 024 kbps.


def test_rule_7_fair_use_cap_throttles_once_with_its_speed() -> None:
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    # 1.5 GB: 1 GB included, 512 MB overage = 524 288 KB * 29 / 1024 = 14 848 fen
    out = h.data("A", "2026-04-02T12:00:00+08:00", 1536 * MB)
    c = last_charge(out)
    assert (draws_of(c), c.overage, c.free, c.fen) == ([("CAP", 1 * GB)], 512 * MB, 0, 14848)
    assert not _throttles(out.events)
    # 1 GB more: 512 MB up to the cap is overage (cumulative 1 GB: 29 696 - 14 848 = 14 848
    # fen), the 512 MB beyond it are free; the cap is reached: one throttle event.
    out = h.data("A", "2026-04-03T12:00:00+08:00", 1 * GB, record_id="hit-cap")
    c = last_charge(out)
    assert (c.overage, c.free, c.fen) == (512 * MB, 512 * MB, 14848)
    [t] = _throttles(out.events)
    assert (t.action, t.speed_kbps, t.reason, t.record_id) == (
        ThrottleAction.THROTTLE,
        1024,
        "FAIR_USE_CAP",
        "hit-cap",
    )
    # Beyond the cap: free, and no further throttle event that cycle.
    for day in range(4, 8):
        out = h.data("A", f"2026-04-0{day}T12:00:00+08:00", 1 * GB)
        c = last_charge(out)
        assert (c.overage, c.free, c.fen) == (0, 1 * GB, 0)
        assert not _throttles(out.events)
    assert len(h.throttles()) == 1


def test_rule_7_reaching_the_cap_exactly_throttles() -> None:
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    out = h.data("A", "2026-04-02T12:00:00+08:00", 2 * GB)
    c = last_charge(out)
    # 1 GB included + 1 GB overage: 1 048 576 KB * 29 / 1024 = 29 696 fen
    assert (c.overage, c.free, c.fen) == (1 * GB, 0, 29696)
    assert [t.action for t in _throttles(out.events)] == [ThrottleAction.THROTTLE]


def test_rule_7_speed_is_restored_at_the_next_cycle_by_the_clock_without_usage() -> None:
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)  # throttled
    assert not _throttles(h.tick("2026-04-30T23:59:59+08:00").events)
    out = h.tick(MAY)
    [r] = _throttles(out.events)
    assert (r.action, r.event_time, r.cycle, r.speed_kbps) == (
        ThrottleAction.RESTORE,
        to_ms(MAY),
        "2026-05-01",
        None,
    )
    # The new cycle counts from zero: the cap can be reached (and throttle) again.
    out = h.data("A", "2026-05-02T12:00:00+08:00", 1 * GB)
    assert (last_charge(out).fen, _throttles(out.events)) == (0, [])
    out = h.data("A", "2026-05-03T12:00:00+08:00", 1 * GB)
    assert [t.action for t in _throttles(out.events)] == [ThrottleAction.THROTTLE]


def test_rule_7_no_restore_event_for_a_line_that_was_not_throttled() -> None:
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 1 * GB)
    assert not _throttles(h.tick(MAY).events)


def test_policy_a_pack_order_does_not_lift_the_fair_use_cap_throttle() -> None:
    # [decision, rater.catalog.decisions.RESTORE_ON_PACK_ORDER]: the cap is on the cycle's whole
    # usage, so new data does not lift it; the pack's data is still used first.
    h = Harness()
    h.subscribe("A", "CAP", APRIL)
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)  # throttled at the cap
    out = h.order("A", "T1G", "2026-04-03T12:00:00+08:00")
    assert not _throttles(out.events)
    c = last_charge(h.data("A", "2026-04-03T13:00:00+08:00", 1 * MB))
    assert (draws_of(c), c.fen) == ([("T1G", 1 * MB)], 0)


# --- assured pack ------------------------------------------------------------------------
# ASSURE: 500 fen a cycle; once every data bucket is used up: free at 64 kbps.


def test_rule_7_assured_pack_makes_data_free_and_throttled_once_buckets_run_out() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("ASSURE",))
    out = h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 1 * MB, record_id="out-of-data")
    c = last_charge(out)
    assert (draws_of(c), c.overage, c.free, c.fen) == ([("P58", 3 * GB)], 0, 1 * MB, 0)
    [t] = _throttles(out.events)
    assert (t.action, t.speed_kbps, t.reason, t.record_id) == (
        ThrottleAction.THROTTLE,
        64,
        "ASSURED_EXHAUSTED",
        "out-of-data",
    )
    # More data: still free, no second throttle event.
    out = h.data("A", "2026-04-05T12:00:00+08:00", 10 * GB)
    c = last_charge(out)
    assert (c.overage, c.free, c.fen) == (0, 10 * GB, 0)
    assert not _throttles(out.events)
    # The only money is the plan fee and the assured pack's fee.
    assert sum(c.fen for c in h.charges()) == 5800 + 500


def test_rule_7_ordering_a_data_pack_while_throttled_restores_the_speed() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("ASSURE",))
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 1 * MB)  # throttled
    out = h.order("A", "T1G", "2026-04-10T12:00:00+08:00")
    [r] = _throttles(out.events)
    assert (r.action, r.event_time) == (ThrottleAction.RESTORE, to_ms("2026-04-10T12:00:00+08:00"))
    assert "T1G" in r.reason
    assert [c.fen for c in fees_of(out.events, "T1G")] == [1000]
    # The new data pays; when it runs out the line is throttled again (it had been restored).
    c = last_charge(h.data("A", "2026-04-10T13:00:00+08:00", 512 * MB))
    assert (draws_of(c), c.free) == ([("T1G", 512 * MB)], 0)
    out = h.data("A", "2026-04-10T14:00:00+08:00", 1 * GB)
    assert (last_charge(out).free, last_charge(out).fen) == (512 * MB, 0)
    assert [t.action for t in _throttles(out.events)] == [ThrottleAction.THROTTLE]


def test_rule_7_any_pack_that_adds_data_restores_even_a_night_pack() -> None:
    # [decision, commands._order]: "a pack that adds data" is any pack with a volume,
    # whatever its window or apps (night, directional).
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("ASSURE",))
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 1 * MB)  # throttled
    out = h.order("A", "N2G", "2026-04-10T12:00:00+08:00")
    assert [t.action for t in _throttles(out.events)] == [ThrottleAction.RESTORE]


def test_rule_7_assured_throttle_is_restored_at_the_next_cycle() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("ASSURE",))
    h.data("A", "2026-04-02T12:00:00+08:00", 4 * GB)
    out = h.tick(MAY)
    assert [t.action for t in _throttles(out.events)] == [ThrottleAction.RESTORE]
    c = last_charge(h.data("A", "2026-05-02T12:00:00+08:00", 1 * GB))
    assert (draws_of(c), c.free) == ([("P58", 1 * GB)], 0)


def test_rule_7_without_assured_pack_or_cap_running_out_is_overage_not_throttle() -> None:
    h = Harness()
    h.subscribe("A", "P58", APRIL)
    out = h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 1 * MB)
    assert (last_charge(out).fen, last_charge(out).free) == (29, 0)
    assert not _throttles(out.events)

"""Section 6 of rating-rules.md: carry-over at cycle rollover (流量不清零)."""

from __future__ import annotations

from rater.catalog.model import GB, MB
from rater.core.cycles import to_ms

from .helpers import Harness, command, draws_of, is_carried, last_charge

APRIL = "2026-04-01T00:00:00+08:00"
MAY = "2026-05-01T00:00:00+08:00"
JUNE = "2026-06-01T00:00:00+08:00"
JULY = "2026-07-01T00:00:00+08:00"


def _carried(h: Harness, msisdn: str = "A") -> list[tuple[str, int, int]]:
    """(product, size, used) of the carried buckets, in bucket order."""
    return [(b.product, b.size, b.used) for b in h.line(msisdn).buckets if b.carried]


def test_rule_6_a_new_subscribers_first_cycle_never_carries() -> None:
    h = Harness()
    # Even activated at the very start of a cycle, with nothing used.
    h.subscribe("A", "P58", APRIL, packs=("N2G", "R5G"))
    h.tick(MAY)
    assert _carried(h) == []


def test_rule_6_from_the_second_cycle_plan_data_carries_and_expires_at_the_new_cycle_end() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)  # first cycle ends: nothing carried
    h.data("A", "2026-05-20T12:00:00+08:00", 1 * GB)
    h.tick(JUNE)
    # 3 GB - 1 GB = 2 GB carried, valid for June only
    [b] = [b for b in h.line("A").buckets if b.carried]
    assert (b.product, b.size, b.used) == ("P58", 2 * GB, 0)
    assert (b.valid_from, b.valid_to) == (to_ms(JUNE), to_ms(JULY))
    # and the new cycle's plan allowance is full
    assert h.bucket_used("A", "P58") == 0


def test_rule_6_carried_data_never_carries_twice() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)
    h.tick(JUNE)  # May unused: 3 GB carried into June
    assert _carried(h) == [("P58", 3 * GB, 0)]
    h.data("A", "2026-06-10T12:00:00+08:00", 1 * GB)  # from the carried bucket
    h.tick(JULY)
    # June's carried 2 GB left expire; only June's own 3 GB carries (not 5 GB).
    assert _carried(h) == [("P58", 3 * GB, 0)]
    [b] = [b for b in h.line("A").buckets if b.carried]
    assert b.valid_to == to_ms("2026-08-01T00:00:00+08:00")


def test_rule_6_plan_changed_mid_cycle_old_remaining_and_new_first_cycle_do_not_carry() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)  # May is P58's second cycle: its data would carry...
    h.data("A", "2026-05-05T12:00:00+08:00", 1 * GB)
    command(h, "change_plan", "A", "2026-05-10T12:00:00+08:00", "CAP")  # ...but it changes
    assert [b.product for b in h.line("A").buckets if b.unit == "data"] == ["CAP"]
    h.tick(JUNE)
    # neither P58's 2 GB left nor CAP's first (partial) cycle carries
    assert _carried(h) == []
    h.tick(JULY)
    # CAP's first full cycle (June) is its second: its unused 1 GB carries
    assert _carried(h) == [("CAP", 1 * GB, 0)]


def test_rule_6_plan_change_for_next_cycle_the_old_plans_remaining_does_not_carry() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)
    command(h, "change_plan", "A", "2026-05-10T12:00:00+08:00", "P88")  # effective 1 June
    h.tick(JUNE)
    assert _carried(h) == []
    assert [(b.product, b.size) for b in h.line("A").buckets if b.unit == "data"] == [
        ("P88", 10 * GB)
    ]


def test_rule_6_a_pack_ordered_mid_cycle_does_not_carry_out_of_its_first_cycle() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)
    h.order("A", "R5G", "2026-05-10T12:00:00+08:00")
    # R5G would not carry out of its first cycle, so it pays before P58 (section 5).
    c = last_charge(h.data("A", "2026-05-20T12:00:00+08:00", 3 * GB))
    assert draws_of(c) == [("R5G", 3 * GB)]
    h.tick(JUNE)
    assert _carried(h) == [("P58", 3 * GB, 0)]  # R5G's 2 GB left do not carry
    h.tick(JULY)
    # June: both renewed and unused; both carry
    assert sorted(_carried(h)) == [("P58", 3 * GB, 0), ("R5G", 5 * GB, 0)]


def test_rule_6_night_pack_data_carries_over() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00", packs=("N2G",))
    h.tick(MAY)
    h.data("A", "2026-05-10T23:30:00+08:00", 512 * MB)  # from N2G
    h.tick(JUNE)
    assert sorted(_carried(h)) == [("N2G", 1536 * MB, 0), ("P58", 3 * GB, 0)]
    # The carried night data is still night-only, and used first at night.
    c = last_charge(h.data("A", "2026-06-02T12:00:00+08:00", 1 * MB))
    assert is_carried(h, "A", c.draws[0].bucket_id)  # carried P58 by day
    assert c.draws[0].product == "P58"
    c = last_charge(h.data("A", "2026-06-02T23:30:00+08:00", 1 * MB))
    assert draws_of(c) == [("N2G", 1 * MB)]
    assert is_carried(h, "A", c.draws[0].bucket_id)


def test_rule_6_topup_term_directional_month_end_and_assured_do_not_carry() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00", packs=("DMIGU", "ASSURE"))
    h.tick(MAY)  # second cycle: DMIGU and ASSURE renewed for the whole of May
    for code in ("T1G", "ME500", "Q30"):
        h.order("A", code, MAY)
    h.tick(JUNE)
    # Only the plan's data carries; Q30 is still valid (to 30 July) but is not "carried".
    assert _carried(h) == [("P58", 3 * GB, 0)]
    products = {b.product for b in h.line("A").buckets}
    assert "T1G" not in products and "ME500" not in products
    assert {"Q30", "DMIGU", "ASSURE"} <= products


def test_rule_6_a_data_card_plan_does_not_carry() -> None:
    h = Harness()
    h.subscribe("A", "CARD", "2026-04-10T09:00:00+08:00")  # carries_over=False
    h.tick(MAY)
    h.data("A", "2026-05-10T12:00:00+08:00", 100 * MB)
    h.tick(JUNE)
    assert _carried(h) == []


def test_rule_6_a_closed_account_carries_nothing() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00", packs=("N2G", "R5G"))
    h.tick(MAY)
    command(h, "close", "A", "2026-05-20T12:00:00+08:00")
    out = h.tick(JUNE)
    assert out.events == []  # no fee, no carry, nothing
    assert h.line("A").buckets == []


def test_rule_6_carried_data_is_used_before_the_new_allowance() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)
    h.data("A", "2026-05-10T12:00:00+08:00", 2 * GB + 512 * MB)  # 512 MB left
    h.tick(JUNE)
    c = last_charge(h.data("A", "2026-06-02T12:00:00+08:00", 1 * GB))
    assert draws_of(c) == [("P58", 512 * MB), ("P58", 512 * MB)]
    assert [is_carried(h, "A", d.bucket_id) for d in c.draws] == [True, False]


def test_rule_6_recurring_pack_data_carries_from_its_second_cycle() -> None:
    h = Harness()
    h.subscribe("A", "P58", "2026-04-10T09:00:00+08:00")
    h.tick(MAY)
    h.order("A", "R5G", MAY)  # at the start of May: a full cycle
    h.data("A", "2026-05-10T12:00:00+08:00", 3 * GB + 1 * GB)  # P58 3 GB, R5G 1 GB
    h.tick(JUNE)
    assert _carried(h) == [("R5G", 4 * GB, 0)]

"""Section 4 of rating-rules.md: the seven pack kinds (validity, renewal, fees, order
rules), order results on the output, and rejected orders that change nothing."""

from __future__ import annotations

import pytest

from rater.catalog.model import GB, MB, PackKind
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeKind, NotificationEvent, NotificationKind

from .helpers import (
    Harness,
    command,
    draws_of,
    example_catalog,
    fees_of,
    last_charge,
    only_result,
    pack,
)

APRIL = "2026-04-01T00:00:00+08:00"


def _p58(packs: tuple[str, ...] = (), rater: Rater | None = None) -> Harness:
    h = Harness(rater=rater) if rater is not None else Harness()
    h.subscribe("A", "P58", APRIL, packs=packs)
    return h


def _buckets(h: Harness, product: str) -> list[tuple[int, int, int, int]]:
    """(size, used, valid_from, valid_to) of the line's buckets of one product."""
    return [
        (b.size, b.used, b.valid_from, b.valid_to)
        for b in h.line("A").buckets
        if b.product == product
    ]


def _assert_rejected_changes_nothing(h: Harness, product: str, at: str, reason: str) -> None:
    """Order `product` at `at` (time is advanced first, so only the order is compared):
    one ORDER_REJECTED result with the reason, and the account exactly as before."""
    assert h.account is not None
    h.tick(at)
    before = h.account.to_dict()
    note = only_result(h.order("A", product, at))
    assert note.kind == NotificationKind.ORDER_REJECTED
    assert note.reason.startswith(reason), note.reason
    assert note.product == product
    assert h.account.to_dict() == before


# --- order results ---------------------------------------------------------------------


def test_rule_4_an_accepted_order_is_on_the_output_with_its_command_id() -> None:
    h = _p58()
    out = h.order("A", "T1G", "2026-04-10T12:00:00+08:00")
    notes = [e for e in out.events if isinstance(e, NotificationEvent)]
    [note] = notes
    assert (note.kind, note.product, note.command_id) == (
        NotificationKind.ORDER_ACCEPTED,
        "T1G",
        "ord-0",
    )
    [fee] = fees_of(out.events)
    assert (fee.kind, fee.product, fee.fen) == (ChargeKind.PACK_FEE, "T1G", 1000)


def test_rule_4_unknown_product_is_rejected_and_changes_nothing() -> None:
    h = _p58()
    _assert_rejected_changes_nothing(h, "NOPE", "2026-04-10T12:00:00+08:00", "UNKNOWN_PRODUCT")


def test_rule_4_account_in_arrears_cannot_order_and_nothing_changes() -> None:
    h = _p58()
    command(h, "arrears", "A", "2026-04-05T12:00:00+08:00")
    _assert_rejected_changes_nothing(h, "T1G", "2026-04-10T12:00:00+08:00", "ACCOUNT_IN_ARREARS")
    # Back to active: the same order is accepted.
    command(h, "active", "A", "2026-04-11T12:00:00+08:00")
    out = h.order("A", "T1G", "2026-04-11T13:00:00+08:00")
    assert [e.kind for e in out.events if isinstance(e, NotificationEvent)] == [
        NotificationKind.ORDER_ACCEPTED
    ]
    assert [c.fen for c in fees_of(out.events, "T1G")] == [1000]


def test_rule_4_closed_account_cannot_order_and_nothing_changes() -> None:
    h = _p58()
    command(h, "close", "A", "2026-04-05T12:00:00+08:00")
    _assert_rejected_changes_nothing(h, "T1G", "2026-04-10T12:00:00+08:00", "ACCOUNT_CLOSED")


# --- recurring -------------------------------------------------------------------------


def test_rule_4_recurring_pack_renews_every_cycle_with_its_fee_until_cancelled() -> None:
    h = _p58()
    out = h.order("A", "R5G", "2026-04-10T12:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "R5G")] == [2000]
    h.data("A", "2026-04-10T13:00:00+08:00", 4 * GB)  # 3 GB of P58, then 1 GB of R5G
    assert h.bucket_used("A", "R5G") == 1 * GB
    # 1 May: renewed to full for the new cycle, fee charged again.
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert _buckets(h, "R5G") == [
        (5 * GB, 0, to_ms("2026-05-01T00:00:00+08:00"), to_ms("2026-06-01T00:00:00+08:00"))
    ]
    assert [c.fen for c in fees_of(out.events, "R5G")] == [2000]
    # Cancelled on 10 May: it stays usable to the end of the cycle, then neither renews
    # nor is charged.
    note = only_result(command(h, "cancel", "A", "2026-05-10T12:00:00+08:00", "R5G"))
    assert note.kind == NotificationKind.ORDER_ACCEPTED
    assert _buckets(h, "R5G")
    out = h.tick("2026-06-01T00:00:00+08:00")
    assert not [b for b in h.line("A").buckets if b.product == "R5G"]
    assert not fees_of(out.events, "R5G")


def test_rule_4_a_recurring_pack_cannot_be_held_twice() -> None:
    h = _p58(packs=("R5G",))
    _assert_rejected_changes_nothing(h, "R5G", "2026-04-10T12:00:00+08:00", "ALREADY_HELD")


# --- topup -----------------------------------------------------------------------------


def test_rule_4_topup_is_valid_from_order_to_cycle_end_and_removed_next_cycle() -> None:
    h = _p58()
    out = h.order("A", "T1G", "2026-04-10T12:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "T1G")] == [1000]  # full fee at order
    assert _buckets(h, "T1G") == [
        (1 * GB, 0, to_ms("2026-04-10T12:00:00+08:00"), to_ms("2026-05-01T00:00:00+08:00"))
    ]
    # several top-ups may be held at once
    h.order("A", "T1G", "2026-04-11T12:00:00+08:00")
    assert len(_buckets(h, "T1G")) == 2
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert not [b for b in h.line("A").buckets if b.product == "T1G"]  # removed, not carried
    assert not fees_of(out.events, "T1G")  # never renewed


def test_rule_4_topup_cancel_removes_it_and_refunds_nothing() -> None:
    h = _p58()
    h.order("A", "T1G", "2026-04-10T12:00:00+08:00")
    out = command(h, "cancel", "A", "2026-04-12T12:00:00+08:00", "T1G")
    assert only_result(out).kind == NotificationKind.ORDER_ACCEPTED  # no refund charge
    assert not _buckets(h, "T1G")
    assert sum(c.fen for c in fees_of(h.events, "T1G")) == 1000
    assert all(c.fen >= 0 for c in h.charges())


# --- month_end -------------------------------------------------------------------------


def test_rule_4_month_end_pack_is_valid_to_cycle_end_and_not_renewed() -> None:
    h = _p58()
    h.order("A", "ME500", "2026-04-25T12:00:00+08:00")
    assert _buckets(h, "ME500") == [
        (500 * MB, 0, to_ms("2026-04-25T12:00:00+08:00"), to_ms("2026-05-01T00:00:00+08:00"))
    ]
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert not _buckets(h, "ME500")
    assert not fees_of(out.events, "ME500")


def test_rule_4_sixth_month_end_pack_in_a_cycle_is_rejected_and_the_count_resets() -> None:
    h = _p58()
    for day in range(20, 25):
        out = h.order("A", "ME500", f"2026-04-{day}T10:00:00+08:00")
        assert [c.fen for c in fees_of(out.events)] == [500]
    _assert_rejected_changes_nothing(h, "ME500", "2026-04-26T10:00:00+08:00", "MONTH_END_LIMIT")
    # The limit counts per cycle: in May the first order is accepted again.
    out = h.order("A", "ME500", "2026-05-02T10:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "ME500")] == [500]


def test_rule_4_month_end_limit_counts_every_month_end_product() -> None:
    rater = Rater(example_catalog(ME1G=pack("ME1G", PackKind.MONTH_END, fee_fen=800)))
    h = _p58(rater=rater)
    for day in range(20, 23):
        h.order("A", "ME500", f"2026-04-{day}T10:00:00+08:00")
    for day in range(23, 25):
        h.order("A", "ME1G", f"2026-04-{day}T10:00:00+08:00")
    _assert_rejected_changes_nothing(h, "ME1G", "2026-04-26T10:00:00+08:00", "MONTH_END_LIMIT")


# --- term ------------------------------------------------------------------------------


def test_rule_4_second_term_pack_is_rejected_while_the_first_is_active() -> None:
    h = _p58()
    out = h.order("A", "Q30", "2026-04-10T12:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "Q30")] == [9000]
    _assert_rejected_changes_nothing(h, "Q30", "2026-04-20T12:00:00+08:00", "TERM_PACK_ACTIVE")
    # also in a later cycle, while it is still valid with data left
    _assert_rejected_changes_nothing(h, "Q30", "2026-06-20T12:00:00+08:00", "TERM_PACK_ACTIVE")


def test_rule_4_second_term_pack_of_another_product_is_rejected_too() -> None:
    rater = Rater(example_catalog(H180=pack("H180", PackKind.TERM, validity_days=180)))
    h = _p58(rater=rater)
    h.order("A", "Q30", "2026-04-10T12:00:00+08:00")
    _assert_rejected_changes_nothing(h, "H180", "2026-04-20T12:00:00+08:00", "TERM_PACK_ACTIVE")


def test_rule_4_a_term_pack_ends_when_used_up_and_can_then_be_ordered_again() -> None:
    h = _p58()
    h.order("A", "Q30", "2026-04-10T12:00:00+08:00")
    # 33 GB: the plan's 3 GB first (it expires first, 1 May), then all 30 GB of Q30.
    c = last_charge(h.data("A", "2026-04-11T12:00:00+08:00", 33 * GB))
    assert draws_of(c) == [("P58", 3 * GB), ("Q30", 30 * GB)]
    out = h.order("A", "Q30", "2026-04-12T12:00:00+08:00")
    [note] = [e for e in out.events if isinstance(e, NotificationEvent)]
    assert note.kind == NotificationKind.ORDER_ACCEPTED
    # the used-up pack is gone; the new one is full, valid 90 days from this order
    assert _buckets(h, "Q30") == [
        (30 * GB, 0, to_ms("2026-04-12T12:00:00+08:00"), to_ms("2026-07-11T12:00:00+08:00"))
    ]


@pytest.mark.parametrize(
    ("code", "days", "expires"),
    [
        # 10 April 12:00 + 90 days = 9 July 12:00 (20 + 31 + 30 + 9)
        ("Q30", 90, "2026-07-09T12:00:00+08:00"),
        # + 180 days = 7 October 12:00 (20 + 31 + 30 + 31 + 31 + 30 + 7)
        ("H180", 180, "2026-10-07T12:00:00+08:00"),
    ],
)
def test_rule_4_term_pack_expires_after_its_days_with_pack_expired(
    code: str, days: int, expires: str
) -> None:
    rater = Rater(example_catalog(H180=pack("H180", PackKind.TERM, validity_days=180)))
    h = _p58(rater=rater)
    h.order("A", code, "2026-04-10T12:00:00+08:00")
    [(_, _, _, valid_to)] = _buckets(h, code)
    assert valid_to == to_ms(expires) == to_ms("2026-04-10T12:00:00+08:00") + days * 86_400_000
    # It spans cycles without renewing, being reset or charged again.
    h.data("A", "2026-04-11T12:00:00+08:00", 4 * GB)  # 3 GB plan + 1 GB of the term pack
    h.tick("2026-05-01T00:00:00+08:00")
    assert [b[1] for b in _buckets(h, code)] == [1 * GB]
    assert len(fees_of(h.events, code)) == 1
    # Still there one second before its end, gone at its end with PACK_EXPIRED.
    before = h.tick(f"{expires[:11]}11:59:59+08:00")
    assert not [e for e in before.events if isinstance(e, NotificationEvent)]
    assert _buckets(h, code)
    out = h.tick(expires)
    [note] = [e for e in out.events if isinstance(e, NotificationEvent)]
    assert (note.kind, note.product, note.event_time) == (
        NotificationKind.PACK_EXPIRED,
        code,
        to_ms(expires),
    )
    assert not _buckets(h, code)
    # and a new term pack can be ordered
    out = h.order("A", code, f"{expires[:11]}13:00:00+08:00")
    assert [e.kind for e in out.events if isinstance(e, NotificationEvent)] == [
        NotificationKind.ORDER_ACCEPTED
    ]


# --- directional -----------------------------------------------------------------------


def test_rule_4_directional_pack_is_effective_at_once_with_a_daily_fee() -> None:
    h = _p58()
    out = h.order("A", "DMIGU", "2026-04-10T12:00:00+08:00")
    assert not fees_of(out.events)  # daily by usage: nothing at order
    c = last_charge(h.data("A", "2026-04-10T12:30:00+08:00", 1 * GB, app="migu.video"))
    assert draws_of(c) == [("DMIGU", 1 * GB)]
    # Day 10 (10 April) counts: floor(900 * 10 / 30) - floor(900 * 9 / 30) = 300 - 270 = 30
    [fee] = fees_of(h.tick("2026-04-11T00:00:00+08:00").events, "DMIGU")
    assert fee.fen == 30


def test_rule_4_directional_cancellation_takes_effect_at_once() -> None:
    h = _p58(packs=("DMIGU",))
    h.tick("2026-04-10T12:00:00+08:00")  # days 1-9: floor(900 * 9 / 30) = 270
    assert sum(c.fen for c in fees_of(h.events, "DMIGU")) == 270
    note = only_result(command(h, "cancel", "A", "2026-04-10T12:00:00+08:00", "DMIGU"))
    assert note.kind == NotificationKind.ORDER_ACCEPTED
    assert not _buckets(h, "DMIGU")
    c = last_charge(h.data("A", "2026-04-10T12:01:00+08:00", 1 * MB, app="migu.video"))
    assert draws_of(c) == [("P58", 1 * MB)]
    # the fee stops accruing: nothing more this cycle or the next
    h.tick("2026-05-10T00:00:00+08:00")
    assert sum(c.fen for c in fees_of(h.events, "DMIGU")) == 270


def test_rule_4_directional_pack_renews_each_cycle_until_cancelled() -> None:
    h = _p58(packs=("DMIGU",))
    h.data("A", "2026-04-10T12:00:00+08:00", 2 * GB, app="migu.video")
    h.tick("2026-05-02T00:00:00+08:00")
    assert _buckets(h, "DMIGU") == [
        (6 * GB, 0, to_ms("2026-05-01T00:00:00+08:00"), to_ms("2026-06-01T00:00:00+08:00"))
    ]
    assert not any(b.carried for b in h.line("A").buckets)  # 4 GB unused, not carried
    # April totals the whole 900; May's day 1 is floor(900 / 31) = 29.
    assert sum(c.fen for c in fees_of(h.events, "DMIGU") if c.cycle == "2026-04-01") == 900
    assert [c.fen for c in fees_of(h.events, "DMIGU") if c.cycle == "2026-05-01"] == [29]


def test_rule_4_directional_fee_rest_is_charged_when_its_data_is_used_up() -> None:
    h = _p58(packs=("DMIGU",))
    h.tick("2026-04-05T00:00:00+08:00")  # days 1-4: floor(900 * 4 / 30) = 120
    out = h.data("A", "2026-04-05T12:00:00+08:00", 6 * GB, app="migu.video")
    assert [c.fen for c in fees_of(out.events, "DMIGU")] == [900 - 120]


# --- night -----------------------------------------------------------------------------


def test_rule_4_night_pack_cannot_be_ordered_twice() -> None:
    h = _p58(packs=("N2G",))
    _assert_rejected_changes_nothing(h, "N2G", "2026-04-10T12:00:00+08:00", "ALREADY_HELD")
    # nor in a later cycle, where it has renewed
    _assert_rejected_changes_nothing(h, "N2G", "2026-05-10T12:00:00+08:00", "ALREADY_HELD")


def test_rule_4_night_pack_of_another_product_is_a_second_night_pack() -> None:
    rater = Rater(example_catalog(N5G=pack("N5G", PackKind.NIGHT, data_bytes=5 * GB)))
    h = _p58(packs=("N2G",), rater=rater)
    _assert_rejected_changes_nothing(h, "N5G", "2026-04-10T12:00:00+08:00", "ALREADY_HELD")


def test_rule_4_night_pack_renews_with_its_fee_each_cycle() -> None:
    h = _p58(packs=("N2G",))
    assert [c.fen for c in fees_of(h.events, "N2G")] == [1000]
    h.data("A", "2026-04-10T23:30:00+08:00", 1 * GB)
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "N2G")] == [1000]
    current = [b for b in h.line("A").buckets if b.product == "N2G" and not b.carried]
    assert [(b.size, b.used) for b in current] == [(2 * GB, 0)]


# --- assured ---------------------------------------------------------------------------


def test_rule_4_assured_pack_renews_with_its_fee_each_cycle() -> None:
    h = _p58(packs=("ASSURE",))
    assert [c.fen for c in fees_of(h.events, "ASSURE")] == [500]
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "ASSURE")] == [500]
    _assert_rejected_changes_nothing(h, "ASSURE", "2026-05-10T12:00:00+08:00", "ALREADY_HELD")


# --- next-cycle orders -----------------------------------------------------------------


def test_rule_4_next_cycle_order_takes_effect_at_the_next_cycle_start() -> None:
    h = _p58()
    out = h.order("A", "RNEXT", "2026-04-10T12:00:00+08:00")
    note = only_result(out)  # accepted; no bucket and no fee yet
    assert note.kind == NotificationKind.ORDER_ACCEPTED
    assert "2026-05-01" in note.reason
    assert not _buckets(h, "RNEXT")
    assert draws_of(last_charge(h.data("A", "2026-04-20T12:00:00+08:00", 4 * GB))) == [
        ("P58", 3 * GB)
    ]
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert _buckets(h, "RNEXT") == [
        (2 * GB, 0, to_ms("2026-05-01T00:00:00+08:00"), to_ms("2026-06-01T00:00:00+08:00"))
    ]
    assert [(c.fen, c.event_time) for c in fees_of(out.events, "RNEXT")] == [
        (1000, to_ms("2026-05-01T00:00:00+08:00"))
    ]
    # It renews like any recurring pack.
    out = h.tick("2026-06-01T00:00:00+08:00")
    assert [c.fen for c in fees_of(out.events, "RNEXT")] == [1000]


def test_rule_4_a_pending_next_cycle_order_counts_as_held() -> None:
    h = _p58()
    h.order("A", "RNEXT", "2026-04-10T12:00:00+08:00")
    _assert_rejected_changes_nothing(h, "RNEXT", "2026-04-11T12:00:00+08:00", "ALREADY_HELD")


def test_rule_4_a_pending_next_cycle_order_can_be_withdrawn() -> None:
    h = _p58()
    h.order("A", "RNEXT", "2026-04-10T12:00:00+08:00")
    assert only_result(command(h, "cancel", "A", "2026-04-11T12:00:00+08:00", "RNEXT")).kind == (
        NotificationKind.ORDER_ACCEPTED
    )
    out = h.tick("2026-05-01T00:00:00+08:00")
    assert not _buckets(h, "RNEXT")
    assert not fees_of(out.events, "RNEXT")

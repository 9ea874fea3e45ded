"""Section 8 of rating-rules.md: sharing (多终端共享). Members draw their own buckets first,
then the owner's plan allowance and recurring packs only; the pool is never spent twice;
members are of the owner's province but use the pool anywhere."""

from __future__ import annotations

from collections import Counter

from rater.catalog.model import GB, MB
from rater.core.events import ChargeEvent, NotificationEvent, NotificationKind

from .helpers import Harness, command, draws_of, last_charge, only_result

APRIL = "2026-04-01T00:00:00+08:00"


def _family(*members: str) -> Harness:
    """Owner A: P58 (3 GB) + R5G (5 GB, ordered a day later so P58 is older) + T1G, N2G and
    DMIGU (not shared). Members: CARD (1 GB each) in A's province."""
    h = Harness()
    h.subscribe("A", "P58", APRIL, packs=("T1G", "N2G", "DMIGU"))
    h.order("A", "R5G", "2026-04-02T00:00:00+08:00")
    for m in members:
        out = h.subscribe(m, "CARD", "2026-04-02T00:00:00+08:00", owner="A")
        assert [e.kind for e in out.events if isinstance(e, NotificationEvent)] == [
            NotificationKind.ORDER_ACCEPTED
        ]
    return h


def _owned(c: ChargeEvent) -> list[tuple[str, str, int]]:
    return [(d.owner, d.product, d.amount) for d in c.draws]


def test_rule_8_a_member_draws_its_own_buckets_first_then_the_owners_pool() -> None:
    h = _family("B")
    c = last_charge(h.data("B", "2026-04-05T12:00:00+08:00", 512 * MB))
    assert _owned(c) == [("B", "CARD", 512 * MB)]
    c = last_charge(h.data("B", "2026-04-05T13:00:00+08:00", 1 * GB))
    assert _owned(c) == [("B", "CARD", 512 * MB), ("A", "P58", 512 * MB)]
    assert (c.msisdn, c.fen) == ("B", 0)  # the member's charge, nothing to pay


def test_rule_8_members_share_only_the_owners_plan_and_recurring_packs() -> None:
    h = _family("B")
    # At night, for migu.video, 9 GB + 1 MB: B's own 1 GB, A's P58 3 GB, A's R5G 5 GB, then
    # 1 MB of overage at B's plan price: 29 fen. Never A's night, directional or top-up.
    c = last_charge(h.data("B", "2026-04-05T23:30:00+08:00", 9 * GB + 1 * MB, app="migu.video"))
    assert _owned(c) == [
        ("B", "CARD", 1 * GB),
        ("A", "P58", 3 * GB),
        ("A", "R5G", 5 * GB),
    ]
    assert (c.overage, c.fen) == (1 * MB, 29)
    for code in ("T1G", "N2G", "DMIGU"):
        assert h.bucket_used("A", code) == 0


def test_rule_8_the_owner_does_not_draw_on_its_members_buckets() -> None:
    h = _family("B")
    # A: P58 3 GB, R5G 5 GB, T1G 1 GB, then 1 MB overage (29 fen); B's CARD untouched.
    c = last_charge(h.data("A", "2026-04-05T12:00:00+08:00", 9 * GB + 1 * MB))
    assert {owner for owner, _, _ in _owned(c)} == {"A"}
    assert (c.overage, c.fen) == (1 * MB, 29)
    assert h.bucket_used("B", "CARD") == 0


def test_rule_8_owner_and_members_never_spend_the_same_bytes() -> None:
    h = _family("B", "C")
    # 36 records of 700 MB (24.6 GB), interleaved A, B, C, far more than the pool of
    # 8 GB (P58 3 GB + R5G 5 GB).
    for i in range(36):
        who = "ABC"[i % 3]
        h.data(who, f"2026-04-{5 + i // 12:02d}T{8 + i % 12:02d}:00:00+08:00", 700 * MB)
    usage = [c for c in h.charges() if c.record_id is not None]
    drawn = Counter[str]()
    for c in usage:
        assert sum(d.amount for d in c.draws) + c.overage + c.free == c.quantity
        for d in c.draws:
            drawn[d.bucket_id] += d.amount
    a = h.line("A")
    pool = {b.id: b for b in a.buckets if b.product in ("P58", "R5G") and b.unit == "data"}
    # Every pool byte was spent exactly once, by whoever came first.
    for bid, b in pool.items():
        assert drawn[bid] == b.used == b.size
    assert sum(drawn[bid] for bid in pool) == 8 * GB
    # Every byte of the 24.6 GB is either drawn once or overage.
    total = sum(c.quantity for c in usage)
    assert total == 36 * 700 * MB == sum(drawn.values()) + sum(c.overage for c in usage)
    # And all three drew on the pool.
    pool_users = {c.msisdn for c in usage for d in c.draws if d.bucket_id in pool}
    assert pool_users == {"A", "B", "C"}


def test_rule_8_a_sharing_member_must_be_of_the_owners_province() -> None:
    h = _family()
    assert h.account is not None
    before = h.account.to_dict()
    out = h.subscribe("B", "CARD", "2026-04-01T00:00:00+08:00", owner="A", province="BJ")
    note = only_result(out)
    assert note.kind == NotificationKind.ORDER_REJECTED
    assert "SHARING_PROVINCE" in note.reason
    assert h.account.to_dict() == before


def test_rule_8_adding_a_member_of_another_province_is_rejected() -> None:
    h = _family()
    h.subscribe("D", "CARD", APRIL, province="BJ")  # provisioned in A's account, not sharing
    assert h.account is not None
    before = h.account.to_dict()
    note = only_result(command(h, "add_member", "A", APRIL, "D"))
    assert note.kind == NotificationKind.ORDER_REJECTED
    assert "SHARING_PROVINCE" in note.reason
    assert h.account.to_dict() == before


def test_rule_8_members_use_the_shared_data_in_any_province() -> None:
    h = _family("B")
    h.data("B", "2026-04-05T12:00:00+08:00", 1 * GB)  # B's own data used up
    for province in ("XJ", "BJ", "SH"):
        c = last_charge(h.data("B", "2026-04-05T13:00:00+08:00", 1 * MB, province=province))
        assert _owned(c) == [("A", "P58", 1 * MB)]
        assert c.fen == 0


def test_rule_8_the_owner_is_notified_about_its_pool() -> None:
    h = _family("B")
    out = h.data("B", "2026-04-05T12:00:00+08:00", 4 * GB)  # B 1 GB, then A's P58 3 GB
    notes = [(e.msisdn, e.kind, e.product) for e in out.events if isinstance(e, NotificationEvent)]
    assert ("A", NotificationKind.USAGE_100, "P58") in notes
    assert draws_of(last_charge(out)) == [("CARD", 1 * GB), ("P58", 3 * GB)]

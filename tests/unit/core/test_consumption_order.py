"""Section 5 of rating-rules.md: which bucket pays for a data record, and in what order."""

from __future__ import annotations

from rater.catalog.model import GB, MB, PackKind
from rater.core.engine import Rater
from rater.core.events import ChargeEvent

from .helpers import Harness, draws_of, example_catalog, is_carried, last_charge, pack

APRIL = "2026-04-01T00:00:00+08:00"


def _harness() -> Harness:
    """The example catalog plus W10 (a 1 GB term pack valid 10 days) and TPRI (a top-up
    with catalog priority 10, drawn before the default 100)."""
    return Harness(
        rater=Rater(
            example_catalog(
                W10=pack("W10", PackKind.TERM, data_bytes=1 * GB, validity_days=10),
                TPRI=pack("TPRI", PackKind.TOPUP, data_bytes=1 * GB, priority=10),
            )
        )
    )


def _second_cycle(packs: tuple[str, ...] = ()) -> Harness:
    """P58 activated in March: April is its second cycle (its plan data would carry)."""
    h = _harness()
    h.subscribe("A", "P58", "2026-03-10T00:00:00+08:00", packs=packs)
    h.tick(APRIL)
    return h


def _with_carried_plan_data() -> Harness:
    """P58 with a 1 GB carried bucket in May (2 GB of April's plan used)."""
    h = _second_cycle()
    h.data("A", "2026-04-15T12:00:00+08:00", 2 * GB)
    h.tick("2026-05-01T00:00:00+08:00")
    return h


# --- 1. directional ------------------------------------------------------------------


def test_rule_5_directional_pack_pays_first_for_its_app_in_the_home_province() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU", "T1G"), province="GD")
    c = last_charge(h.data("A", "2026-04-10T12:00:00+08:00", 1 * GB, app="migu.video"))
    assert draws_of(c) == [("DMIGU", 1 * GB)]


def test_rule_5_directional_pack_matches_the_rating_group_too() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU",))
    c = last_charge(h.data("A", "2026-04-10T12:00:00+08:00", 1 * MB, rating_group=3001))
    assert draws_of(c) == [("DMIGU", 1 * MB)]


def test_rule_5_directional_pack_does_not_pay_for_other_apps() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU",))
    other = last_charge(h.data("A", "2026-04-10T12:00:00+08:00", 1 * MB, app="other.app"))
    group = last_charge(h.data("A", "2026-04-10T12:01:00+08:00", 1 * MB, rating_group=9999))
    none = last_charge(h.data("A", "2026-04-10T12:02:00+08:00", 1 * MB))
    assert draws_of(other) == draws_of(group) == draws_of(none) == [("P58", 1 * MB)]


def test_rule_5_directional_pack_does_not_pay_outside_the_home_province() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU",), province="GD")
    c = last_charge(
        h.data("A", "2026-04-10T12:00:00+08:00", 1 * MB, app="migu.video", province="BJ")
    )
    assert draws_of(c) == [("P58", 1 * MB)]


def test_rule_5_directional_pays_before_the_night_pack_at_night() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU", "N2G"))
    c = last_charge(h.data("A", "2026-04-10T23:30:00+08:00", 1 * GB, app="migu.video"))
    assert draws_of(c) == [("DMIGU", 1 * GB)]


def test_rule_5_used_up_directional_falls_through_to_night_then_general() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("DMIGU", "N2G"))
    # 9 GB of migu.video at night: 6 GB directional, 2 GB night, 1 GB plan
    c = last_charge(h.data("A", "2026-04-10T23:30:00+08:00", 9 * GB, app="migu.video"))
    assert draws_of(c) == [("DMIGU", 6 * GB), ("N2G", 2 * GB), ("P58", 1 * GB)]


# --- 2. night --------------------------------------------------------------------------


def test_rule_5_night_pack_pays_before_every_general_bucket_at_night() -> None:
    h = _with_carried_plan_data()  # a carried P58 bucket, the new P58, and...
    h.order("A", "N2G", "2026-05-02T12:00:00+08:00")
    h.order("A", "T1G", "2026-05-02T12:00:00+08:00")  # a top-up expiring at cycle end
    h.order("A", "W10", "2026-05-02T12:00:00+08:00")  # a term pack expiring first
    c = last_charge(h.data("A", "2026-05-02T23:00:00+08:00", 1 * GB))
    assert draws_of(c) == [("N2G", 1 * GB)]


def test_rule_5_night_pack_is_not_used_in_the_day() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL, packs=("N2G",))
    for at in ("2026-04-10T07:00:00+08:00", "2026-04-10T12:00:00+08:00",
               "2026-04-10T22:59:59+08:00"):  # fmt: skip
        assert draws_of(last_charge(h.data("A", at, 1 * MB))) == [("P58", 1 * MB)]
    assert h.bucket_used("A", "N2G") == 0


def test_rule_5_carried_over_night_data_is_used_before_the_new_night_pack() -> None:
    h = _second_cycle(packs=("N2G",))  # N2G from March; April is its second cycle
    h.data("A", "2026-04-10T23:30:00+08:00", 1536 * MB)  # 512 MB of April's N2G left
    h.tick("2026-05-01T00:00:00+08:00")
    c = last_charge(h.data("A", "2026-05-02T01:00:00+08:00", 1 * GB))
    assert [(d.product, d.amount) for d in c.draws] == [("N2G", 512 * MB), ("N2G", 512 * MB)]
    carried, current = c.draws
    assert is_carried(h, "A", carried.bucket_id)
    assert not is_carried(h, "A", current.bucket_id)


# --- 3. general ------------------------------------------------------------------------


def test_rule_5_carried_over_data_is_used_first() -> None:
    h = _with_carried_plan_data()
    h.order("A", "T1G", "2026-05-02T12:00:00+08:00")  # same expiry, would not carry
    h.order("A", "W10", "2026-05-02T12:00:00+08:00")  # expires sooner (12 May)
    c = last_charge(h.data("A", "2026-05-02T13:00:00+08:00", 1 * GB))
    [d] = c.draws
    assert (d.product, d.amount) == ("P58", 1 * GB)
    assert is_carried(h, "A", d.bucket_id)


def test_rule_5_the_bucket_that_expires_first_pays_first() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    h.order("A", "W10", "2026-04-10T12:00:00+08:00")  # term pack valid to 20 April
    c = last_charge(h.data("A", "2026-04-10T13:00:00+08:00", 1 * GB))
    assert draws_of(c) == [("W10", 1 * GB)]
    # Q30 (valid 90 days) expires after the plan (1 May): the plan pays first.
    h.order("A", "Q30", "2026-04-21T12:00:00+08:00")
    c = last_charge(h.data("A", "2026-04-21T13:00:00+08:00", 1 * GB))
    assert draws_of(c) == [("P58", 1 * GB)]


def test_rule_5_among_buckets_expiring_together_those_that_would_not_carry_pay_first() -> None:
    # April is P58's second cycle: its unused data would carry, a top-up's would not. Both
    # end on 1 May, so the top-up pays first although the plan is older.
    h = _second_cycle()
    h.order("A", "T1G", "2026-04-10T12:00:00+08:00")
    c = last_charge(h.data("A", "2026-04-10T13:00:00+08:00", 1536 * MB))
    assert draws_of(c) == [("T1G", 1 * GB), ("P58", 512 * MB)]


def test_rule_5_then_catalog_priority() -> None:
    # First cycle: nothing would carry, and P58, T1G and TPRI all end on 1 May. TPRI has
    # priority 10, the others 100 (then the oldest activation: P58 before T1G).
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    h.order("A", "T1G", "2026-04-05T12:00:00+08:00")
    h.order("A", "TPRI", "2026-04-06T12:00:00+08:00")  # the newest, but priority 10
    c = last_charge(h.data("A", "2026-04-06T13:00:00+08:00", 4 * GB + 512 * MB))
    assert draws_of(c) == [("TPRI", 1 * GB), ("P58", 3 * GB), ("T1G", 512 * MB)]


def test_rule_5_then_the_oldest_activation() -> None:
    # First cycle: the plan does not carry, so plan and top-ups tie on expiry, carrying and
    # priority; the oldest activation pays first: the plan, then the older top-up.
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    h.order("A", "T1G", "2026-04-06T12:00:00+08:00")
    h.order("A", "T1G", "2026-04-05T12:00:00+08:00")  # ordered "earlier" (out of order)
    c = last_charge(h.data("A", "2026-04-06T13:00:00+08:00", 4 * GB + 512 * MB))
    first, second = (b for b in h.line("A").buckets if b.product == "T1G")
    assert first.activated_at > second.activated_at
    assert [(d.bucket_id, d.amount) for d in c.draws][1:] == [
        (second.id, 1 * GB),
        (first.id, 512 * MB),
    ]
    assert draws_of(c)[0] == ("P58", 3 * GB)


# --- a record split across buckets -------------------------------------------------------


def test_rule_5_a_record_is_split_across_buckets_and_every_draw_is_listed() -> None:
    h = _with_carried_plan_data()  # May: carried P58 1 GB, P58 3 GB
    h.order("A", "T1G", "2026-05-02T12:00:00+08:00")
    h.order("A", "W10", "2026-05-02T12:00:00+08:00")
    # 6 GB + 1.5 MB: carried 1 GB; W10 1 GB (expires 12 May); T1G 1 GB (1 June, does not
    # carry); P58 3 GB (1 June, carries); 1.5 MB overage: ceil(1536 * 29 / 1024) = 44 fen.
    c = last_charge(h.data("A", "2026-05-02T13:00:00+08:00", 6 * GB + 1536 * 1024))
    assert draws_of(c) == [
        ("P58", 1 * GB),
        ("W10", 1 * GB),
        ("T1G", 1 * GB),
        ("P58", 3 * GB),
    ]
    assert sum(d.amount for d in c.draws) + c.overage == c.quantity
    assert (c.overage, c.fen) == (1536 * 1024, 44)
    assert all(d.owner == "A" for d in c.draws)


def test_rule_5_an_expired_or_used_up_bucket_is_skipped() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    h.order("A", "W10", "2026-04-01T12:00:00+08:00")  # valid to 11 April 12:00
    c = last_charge(h.data("A", "2026-04-11T12:00:00+08:00", 1 * MB))
    assert draws_of(c) == [("P58", 1 * MB)]
    h.order("A", "T1G", "2026-04-12T12:00:00+08:00")
    h.data("A", "2026-04-12T13:00:00+08:00", 3 * GB - 1 * MB)  # P58 used up
    c = last_charge(h.data("A", "2026-04-12T14:00:00+08:00", 1 * MB))
    assert draws_of(c) == [("T1G", 1 * MB)]


def test_rule_5_voice_minutes_use_the_plan_then_overage() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    h.call("A", "2026-04-02T10:00:00+08:00", 299 * 60)
    c = last_charge(h.call("A", "2026-04-02T11:00:00+08:00", 121))
    # 3 started minutes: 1 from the plan, 2 of overage at 19 fen = 38 fen
    assert (draws_of(c), c.overage, c.fen) == ([("P58", 1)], 2, 38)
    assert isinstance(c, ChargeEvent)


def test_the_cached_order_is_never_stale() -> None:
    """The order is cached on the line and forgotten by `clock.reschedule` after every
    command and due change; rating a record must change nothing it depends on. After
    every input of a generated workload (orders, cycle starts, term expiries, plan
    changes for the next cycle), each cached order equals the order computed anew."""
    from pathlib import Path

    from rater.catalog import load_catalog
    from rater.core import draw
    from rater.core.cycles import to_ms
    from rater.core.inputs import ChangePlan, Command, OrderProduct, Tick, UsageRecord
    from rater.core.state import Account
    from rater.subscribers import parse_subscribers, to_commands
    from rater.workload import subscribers, usage

    catalog = load_catalog(Path(__file__).parents[3] / "rater" / "examples" / "catalog-full.yaml")
    start, end = to_ms("2026-03-20T00:00:00+08:00"), to_ms("2026-06-10T00:00:00+08:00")
    subs = subscribers(catalog, 120, start)
    inputs: list[Command | Tick | UsageRecord] = [
        *to_commands(parse_subscribers({"subscribers": subs})),
        *usage(catalog, subs, 6_000, start, end),
    ]
    packs, plans = sorted(catalog.packs), sorted(catalog.plans)
    for i, rec in enumerate(inputs[len(subs) :: 40]):  # orders and plan changes among them
        msisdn, t = rec.msisdn, rec.start_time - 1  # type: ignore[union-attr]
        code = packs[i % len(packs)]
        inputs.append(OrderProduct(f"o{i}", msisdn, t, code))
        inputs.append(ChangePlan(f"c{i}", msisdn, t, plans[i % len(plans)]))
    inputs.sort(key=lambda x: x.start_time if isinstance(x, UsageRecord) else x.time)
    rater = Rater(catalog)
    accounts: dict[str, Account] = {}
    checked = 0
    for item in inputs:
        key = subs_owner(item.msisdn, subs) if not isinstance(item, Tick) else ""
        outcome = rater.apply(accounts.get(key), item)
        if outcome.account is not None:
            accounts[key] = outcome.account
            for line in outcome.account.lines.values():
                cached = line.order
                if cached is not None:
                    draw.forget_order(line)
                    assert draw.data_order(line, catalog) == cached, (item, line.msisdn)
                    checked += 1
    assert checked > 1_000


def subs_owner(msisdn: str, subs: list[dict[str, object]]) -> str:
    """The account key of a line: its owner's number for a sharing member."""
    for s in subs:
        if s["msisdn"] == msisdn:
            return str(s.get("shares_with") or msisdn)
    return msisdn

"""Defaults per pack kind and for plans; the time zone rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rater.catalog import (
    Catalog,
    Effective,
    FeeMode,
    NightWindow,
    PackKind,
    load_catalog,
)
from rater.catalog.decisions import PACK_KIND_RULES
from rater.catalog.timezones import fixed_utc_offset_minutes

from .helpers import WriteDoc, base_doc, product


@pytest.fixture
def catalog(write_doc: WriteDoc) -> Catalog:
    return load_catalog(write_doc(base_doc()))


@pytest.mark.parametrize(
    ("code", "kind", "fee_mode", "carries_over"),
    [
        ("R5G", PackKind.RECURRING, FeeMode.MONTHLY, True),
        ("T1G", PackKind.TOPUP, FeeMode.ONCE, False),
        ("ME500M", PackKind.MONTH_END, FeeMode.ONCE, False),
        ("Q30G", PackKind.TERM, FeeMode.ONCE, False),
        ("DMIGU6G", PackKind.DIRECTIONAL, FeeMode.DAILY_BY_USAGE, False),
        ("N2G", PackKind.NIGHT, FeeMode.MONTHLY, True),
        ("AUNL", PackKind.ASSURED, FeeMode.MONTHLY, False),
    ],
)
def test_defaults_per_kind(
    catalog: Catalog, code: str, kind: PackKind, fee_mode: FeeMode, carries_over: bool
) -> None:
    pack = catalog.packs[code]
    assert pack.kind is kind
    assert pack.fee_mode is fee_mode
    assert pack.carries_over is carries_over
    assert pack.priority == 100
    assert pack.effective is Effective.IMMEDIATE


def test_the_rules_table_covers_every_kind() -> None:
    assert set(PACK_KIND_RULES) == set(PackKind)
    for rule in PACK_KIND_RULES.values():
        assert rule.default_fee_mode in rule.fee_modes
        assert rule.may_carry_over or not rule.default_carries_over


def test_kind_specific_defaults(catalog: Catalog) -> None:
    assert catalog.packs["ME500M"].max_orders_per_cycle == 5
    assert catalog.packs["T1G"].max_orders_per_cycle is None
    assert catalog.packs["AUNL"].data_bytes == 0
    assert catalog.packs["AUNL"].throttle_kbps == 128
    assert catalog.packs["Q30G"].validity_days == 90
    assert catalog.packs["N2G"].validity_days is None
    assert catalog.packs["N2G"].apps == frozenset()


def test_plan_defaults(write_doc: WriteDoc) -> None:
    doc = base_doc()
    del product(doc, "P58")["fee_mode"]
    plan = load_catalog(write_doc(doc)).plans["P58"]
    assert plan.fee_mode is FeeMode.MONTHLY
    assert plan.carries_over is True
    assert plan.prorate_first_cycle is True
    assert plan.effective is Effective.IMMEDIATE
    assert plan.fair_use_cap_bytes is None
    assert plan.throttle_kbps == 128


def test_top_level_defaults(write_doc: WriteDoc) -> None:
    doc = base_doc()
    del doc["timezone"], doc["night_window"], doc["packs"]
    catalog = load_catalog(write_doc(doc))
    assert catalog.timezone == "Asia/Shanghai"
    assert catalog.utc_offset_minutes == 480
    assert catalog.night_window == NightWindow(23 * 60, 7 * 60)
    assert catalog.packs == {}


def test_overrides_allowed_by_the_rules(write_doc: WriteDoc) -> None:
    doc = base_doc()
    product(doc, "N2G")["carries_over"] = False
    product(doc, "R5G").update(carries_over=False, fee_mode="daily_by_usage", priority=5)
    product(doc, "ME500M")["max_orders_per_cycle"] = 3
    product(doc, "AUNL").update(data="1GB", throttle_kbps=256, effective="next_cycle")
    product(doc, "DMIGU6G").update(apps=[], rating_groups=[3001, 3002])
    product(doc, "P58").update(
        carries_over=False, fair_use_cap="40GB", throttle_kbps=1024, prorate_first_cycle=False
    )
    catalog = load_catalog(write_doc(doc))
    assert catalog.packs["N2G"].carries_over is False
    r5g = catalog.packs["R5G"]
    assert (r5g.carries_over, r5g.fee_mode, r5g.priority) == (False, FeeMode.DAILY_BY_USAGE, 5)
    assert catalog.packs["ME500M"].max_orders_per_cycle == 3
    aunl = catalog.packs["AUNL"]
    assert (aunl.data_bytes, aunl.throttle_kbps, aunl.effective) == (
        1024**3,
        256,
        Effective.NEXT_CYCLE,
    )
    assert catalog.packs["DMIGU6G"].rating_groups == frozenset({3001, 3002})
    assert catalog.packs["DMIGU6G"].apps == frozenset()
    p58 = catalog.plans["P58"]
    assert (p58.carries_over, p58.fair_use_cap_bytes, p58.throttle_kbps) == (
        False,
        40 * 1024**3,
        1024,
    )
    assert p58.prorate_first_cycle is False


def test_a_night_window_that_does_not_wrap_midnight(write_doc: WriteDoc) -> None:
    doc = base_doc()
    doc["night_window"] = {"start": "00:30", "end": "06:00"}
    window = load_catalog(write_doc(doc)).night_window
    assert (window.start_minute, window.end_minute) == (30, 360)
    assert window.contains(30) and not window.contains(360)


@pytest.mark.parametrize(
    ("zone", "minutes"),
    [
        ("Asia/Shanghai", 480),
        ("PRC", 480),
        ("UTC", 0),
        ("Asia/Kolkata", 330),
        ("Asia/Kathmandu", 345),
        ("Etc/GMT+5", -300),
        ("Asia/Tokyo", 540),
    ],
)
def test_fixed_offset_zones(zone: str, minutes: int) -> None:
    assert fixed_utc_offset_minutes(zone) == minutes


@pytest.mark.parametrize(
    "zone", ["Europe/London", "America/New_York", "Australia/Sydney", "America/Santiago"]
)
def test_zones_with_daylight_saving_are_refused(zone: str) -> None:
    with pytest.raises(ValueError, match="no fixed UTC offset"):
        fixed_utc_offset_minutes(zone)


def test_a_zone_is_judged_on_the_years_around_now() -> None:
    # Sao Paulo dropped daylight saving in 2019
    assert fixed_utc_offset_minutes("America/Sao_Paulo", datetime(2030, 6, 1, tzinfo=UTC)) == -180
    with pytest.raises(ValueError, match="no fixed UTC offset"):
        fixed_utc_offset_minutes("America/Sao_Paulo", datetime(2018, 6, 1, tzinfo=UTC))

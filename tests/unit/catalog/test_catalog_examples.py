"""The shipped example catalogs load, with the figures of the spec (section 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rater.catalog import (
    GB,
    MB,
    Catalog,
    Effective,
    FeeMode,
    NightWindow,
    PackKind,
    load_catalog,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
BASIC = EXAMPLES / "catalog-basic.yaml"
FULL = EXAMPLES / "catalog-full.yaml"


@pytest.fixture(scope="module")
def basic() -> Catalog:
    return load_catalog(BASIC)


@pytest.fixture(scope="module")
def full() -> Catalog:
    return load_catalog(FULL)


def test_basic_top_level(basic: Catalog) -> None:
    assert basic.version == "2026-11-example-1"
    assert basic.timezone == "Asia/Shanghai"
    assert basic.utc_offset_minutes == 8 * 60
    assert basic.night_window == NightWindow(start_minute=23 * 60, end_minute=7 * 60)
    assert basic.source == str(BASIC)
    assert list(basic.plans) == ["P58", "D5"]
    assert list(basic.packs) == ["N2G", "DMIGU6G", "T1G", "ME500M"]


def test_basic_p58(basic: Catalog) -> None:
    p58 = basic.plans["P58"]
    assert p58.fee_fen == 5800
    assert p58.fee_mode is FeeMode.MONTHLY
    assert p58.data_bytes == 3 * GB == 3 * 1024**3
    assert p58.voice_min == 300
    assert p58.video_min == 0
    assert p58.data_price_fen_per_mb == 29
    assert p58.voice_price_fen_per_min == 19
    assert p58.video_price_fen_per_min == 29
    assert p58.fair_use_cap_bytes is None
    assert p58.carries_over is True
    assert p58.effective is Effective.IMMEDIATE


def test_basic_d5(basic: Catalog) -> None:
    d5 = basic.plans["D5"]
    assert d5.fee_fen == 500
    assert d5.fee_mode is FeeMode.DAILY_BY_USAGE
    assert d5.data_bytes == 30 * MB == 30 * 1024**2
    assert (d5.data_price_fen_per_mb, d5.voice_price_fen_per_min) == (29, 19)
    assert d5.video_price_fen_per_min == 29


def test_basic_packs(basic: Catalog) -> None:
    n2g = basic.packs["N2G"]
    assert (n2g.kind, n2g.data_bytes, n2g.carries_over) == (PackKind.NIGHT, 2 * GB, True)
    assert n2g.fee_mode is FeeMode.MONTHLY

    migu = basic.packs["DMIGU6G"]
    assert migu.kind is PackKind.DIRECTIONAL
    assert migu.data_bytes == 6 * GB
    assert migu.apps == frozenset({"migu.video"})
    assert migu.fee_mode is FeeMode.DAILY_BY_USAGE
    assert migu.carries_over is False
    assert migu.effective is Effective.IMMEDIATE

    t1g = basic.packs["T1G"]
    assert (t1g.kind, t1g.data_bytes, t1g.fee_fen) == (PackKind.TOPUP, 1 * GB, 1000)
    assert t1g.fee_mode is FeeMode.ONCE
    assert t1g.carries_over is False

    me = basic.packs["ME500M"]
    assert (me.kind, me.data_bytes, me.max_orders_per_cycle) == (PackKind.MONTH_END, 500 * MB, 5)
    assert me.fee_mode is FeeMode.ONCE


def test_full_covers_every_pack_kind(full: Catalog) -> None:
    assert {p.kind for p in full.packs.values()} == set(PackKind)


def test_full_figures(full: Catalog) -> None:
    assert full.packs["Q30G"].validity_days == 90
    assert full.packs["H60G"].validity_days == 180
    assert full.packs["Q30G"].data_bytes == 30 * GB
    assert full.packs["R5G"].carries_over is True
    directional = [p for p in full.packs.values() if p.kind is PackKind.DIRECTIONAL]
    assert len(directional) >= 2
    assert all(p.apps and p.rating_groups for p in directional)
    assert full.packs["DVID20G"].rating_groups == frozenset({3101, 3102, 3103})
    assured = full.packs["AUNL"]
    assert (assured.data_bytes, assured.throttle_kbps) == (0, 128)

    capped = [p for p in full.plans.values() if p.fair_use_cap_bytes is not None]
    assert capped
    assert full.plans["U199"].fair_use_cap_bytes == 40 * GB
    assert full.plans["U199"].throttle_kbps == 1024
    assert full.plans["DC30"].carries_over is False
    assert any(p.effective is Effective.NEXT_CYCLE for p in full.plans.values())
    assert full.plans["P128"].prorate_first_cycle is False
    # the YAML anchor for the standard prices is followed
    assert full.plans["D5"].data_price_fen_per_mb == 29


def test_basic_products_are_also_in_full_with_the_same_figures(
    basic: Catalog, full: Catalog
) -> None:
    for code, plan in basic.plans.items():
        assert full.plans[code] == plan
    for code in ("N2G", "T1G", "ME500M"):
        assert full.packs[code] == basic.packs[code]


def test_codes_are_unique_across_plans_and_packs(full: Catalog) -> None:
    assert not set(full.plans) & set(full.packs)

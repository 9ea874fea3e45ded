"""The diff of a replay on hand-built charges: per subscriber x kind, per local day and in
total, the CSV files byte for byte, and a report.html that needs no network."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from rater.core.cycles import to_ms
from rater.core.events import (
    ChargeEvent,
    ChargeKind,
    Event,
    ThrottleAction,
    ThrottleEvent,
    Unit,
)
from rater.core.inputs import UsageType
from rater.replay.diff import Amounts, Diff, diff_events
from rater.replay.files import write_diff
from rater.replay.html import render_report, yuan

OFFSET_MS = 8 * 3_600_000  # Asia/Shanghai
OLD, NEW = "2026-11-example-1", "2026-11-example-2"
A, B, C, D = "13800000001", "13800000002", "13800000003", "13800000004"


def charge(msisdn: str, kind: ChargeKind, fen: int, at: str, version: str) -> ChargeEvent:
    usage = kind == ChargeKind.USAGE
    return ChargeEvent(
        event_id=f"charge:{msisdn}:2026-04-01:{kind.value}:{at}",
        msisdn=msisdn,
        account=msisdn,
        event_time=to_ms(at),
        cycle="2026-04-01",
        catalog_version=version,
        kind=kind,
        record_id=f"r-{at}" if usage else None,
        usage_type=UsageType.DATA if usage else None,
        product=None if usage else "P58",
        quantity=1 << 20 if usage else 0,
        unit=Unit.BYTES if usage else Unit.NONE,
        draws=(),
        overage=1 << 20 if usage else 0,
        free=0,
        fen=fen,
        reason="test",
    )


def throttle(msisdn: str, at: str, version: str) -> ThrottleEvent:
    return ThrottleEvent(
        event_id=f"throttle:{msisdn}:2026-04-01:{at}",
        msisdn=msisdn,
        account=msisdn,
        event_time=to_ms(at),
        cycle="2026-04-01",
        catalog_version=version,
        action=ThrottleAction.THROTTLE,
        speed_kbps=128,
        reason="test",
        record_id=None,
    )


U, PLAN, PACK = ChargeKind.USAGE, ChargeKind.PLAN_FEE, ChargeKind.PACK_FEE

# What was issued (catalog OLD) and what the re-rating gives (catalog NEW). Times are
# local (+08:00); two of them fall on another day in UTC, to check the local day is used.
ISSUED: list[Event] = [
    # A's plan fee at local midnight of 1 April: 31 March 16:00 UTC, local day 04-01
    charge(A, PLAN, 5800, "2026-04-01T00:00:00+08:00", OLD),
    charge(A, U, 44, "2026-04-15T12:00:00+08:00", OLD),  # 1.5 MB at 29 fen/MB
    charge(B, PACK, 1000, "2026-04-20T10:00:00+08:00", OLD),
    charge(B, U, 58, "2026-04-21T23:30:00+08:00", OLD),  # 2 MB at 29 fen/MB
    charge(C, U, 0, "2026-04-15T09:00:00+08:00", OLD),  # drawn from the plan: 0 fen
    throttle(B, "2026-04-21T23:30:00+08:00", OLD),  # counted, not summed
]
RERATED: list[Event] = [
    charge(A, PLAN, 5800, "2026-04-01T00:00:00+08:00", NEW),  # unchanged
    charge(A, U, 45, "2026-04-15T12:00:00+08:00", NEW),  # 1.5 MB at 30 fen/MB
    # B's pack is no longer charged
    charge(B, U, 60, "2026-04-21T23:30:00+08:00", NEW),  # 2 MB at 30 fen/MB
    charge(C, U, 0, "2026-04-15T09:00:00+08:00", NEW),
    # D is charged only now: 00:30 local on 16 April is 15 April 16:30 UTC
    charge(D, U, 19, "2026-04-16T00:30:00+08:00", NEW),
]

# Per subscriber x kind (diff = re-rated - issued); C has only zero-fen charges: no row.
#   A PLAN_FEE 5800 -> 5800:      0
#   A USAGE      44 ->   45:     +1
#   B PACK_FEE 1000 ->    0:  -1000
#   B USAGE      58 ->   60:     +2
#   D USAGE       0 ->   19:    +19
# Totals: issued 5800 + 44 + 1000 + 58 + 0 = 6902; re-rated 5800 + 45 + 60 + 0 + 19 = 5924;
# difference 5924 - 6902 = -978 (= 0 + 1 - 1000 + 2 + 19).
DIFF_CSV = """\
msisdn,kind,issued_fen,rerated_fen,diff_fen
13800000001,PLAN_FEE,5800,5800,0
13800000001,USAGE,44,45,1
13800000002,PACK_FEE,1000,0,-1000
13800000002,USAGE,58,60,2
13800000004,USAGE,0,19,19
"""
# Per local day x kind: 04-01 A's fee; 04-15 A's usage (C's zero-fen charge adds nothing);
# 04-16 D's usage; 04-20 B's pack; 04-21 B's usage. Per kind: USAGE 44 + 58 = 102 issued,
# 45 + 60 + 19 = 124 re-rated, +22.
BY_DAY_CSV = """\
day,kind,issued_fen,rerated_fen,diff_fen
2026-04-01,PLAN_FEE,5800,5800,0
2026-04-15,USAGE,44,45,1
2026-04-16,USAGE,0,19,19
2026-04-20,PACK_FEE,1000,0,-1000
2026-04-21,USAGE,58,60,2
TOTAL,PACK_FEE,1000,0,-1000
TOTAL,PLAN_FEE,5800,5800,0
TOTAL,USAGE,102,124,22
TOTAL,ALL,6902,5924,-978
"""


@pytest.fixture
def diff() -> Diff:
    # generators, as the replay job passes them: each side is read once
    return diff_events((e for e in ISSUED), (e for e in RERATED), OFFSET_MS)


def test_figures_by_hand(diff: Diff, tmp_path: Path) -> None:
    write_diff(tmp_path, diff, "hand-built")
    assert (tmp_path / "diff.csv").read_text() == DIFF_CSV
    assert (tmp_path / "diff-by-day.csv").read_text() == BY_DAY_CSV
    assert diff.total == Amounts(6902, 5924) and diff.total.diff_fen == -978
    assert not diff.is_zero


def test_sides_count_events_and_versions(diff: Diff) -> None:
    assert (diff.issued.events, diff.issued.charges, diff.issued.fen) == (6, 5, 6902)
    assert (diff.rerated.events, diff.rerated.charges, diff.rerated.fen) == (5, 5, 5924)
    assert diff.issued.catalog_versions == {OLD: 6}
    assert diff.rerated.catalog_versions == {NEW: 5}
    assert diff.subscriber_count == 4  # C counts: it was charged (0 fen) on both sides


def test_identical_sides_give_exactly_zero(tmp_path: Path) -> None:
    same = diff_events(ISSUED, ISSUED, OFFSET_MS)
    assert same.is_zero and same.total == Amounts(6902, 6902)
    write_diff(tmp_path, same)
    rows = (tmp_path / "diff.csv").read_text().splitlines()
    assert len(rows) == 5 and all(r.endswith(",0") for r in rows[1:])
    assert (tmp_path / "diff-by-day.csv").read_text().endswith("TOTAL,ALL,6902,6902,0\n")
    page = (tmp_path / "report.html").read_text()
    assert "No difference: the same charges on both sides." in page
    assert "No difference on any day." in page


def test_order_of_events_does_not_matter(diff: Diff, tmp_path: Path) -> None:
    shuffled = ISSUED[:], RERATED[:]
    for side in shuffled:
        random.Random(12).shuffle(side)
    write_diff(tmp_path / "a", diff)
    write_diff(tmp_path / "b", diff_events(*shuffled, OFFSET_MS))
    for name in ("diff.csv", "diff-by-day.csv", "report.html"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_empty_sides(tmp_path: Path) -> None:
    write_diff(tmp_path, diff_events([], [], OFFSET_MS))
    assert (tmp_path / "diff.csv").read_text() == "msisdn,kind,issued_fen,rerated_fen,diff_fen\n"
    assert (tmp_path / "diff-by-day.csv").read_text().splitlines()[1:] == ["TOTAL,ALL,0,0,0"]
    assert 'id="total-diff-fen">0<' in (tmp_path / "report.html").read_text()


def _text_of(page: str, element_id: str) -> str:
    m = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert m, element_id
    return m.group(1)


def test_report_shows_the_totals_and_versions(diff: Diff) -> None:
    page = render_report(diff, "hand-built <replay>")
    assert "<title>hand-built &lt;replay&gt;</title>" in page
    assert _text_of(page, "total-issued-fen") == "6902"
    assert _text_of(page, "total-rerated-fen") == "5924"
    assert _text_of(page, "total-diff-fen") == "-978"
    assert _text_of(page, "total-issued-cny") == "69.02"
    assert _text_of(page, "total-diff-cny") == "-9.78"
    assert re.search(rf'id="versions-issued"><code class=version data-events="6">{OLD}<', page)
    assert re.search(rf'id="versions-rerated"><code class=version data-events="5">{NEW}<', page)


def test_report_ranks_subscribers_by_impact(diff: Diff) -> None:
    page = render_report(diff, "t")
    # |diff|: B 998, D 19, A 1; C was charged 0 fen on both sides and is not listed
    assert re.findall(r'<tr data-msisdn="(\d+)"', page) == [B, D, A]
    assert 'data-shown="3" data-charged="3" data-differing="3"' in page
    bounded = render_report(diff, "t", limit=2)
    assert re.findall(r'<tr data-msisdn="(\d+)"', bounded) == [B, D]
    assert "diff.csv</code> has every one" in bounded


def test_chart_bars_are_the_days_that_differ(diff: Diff) -> None:
    page = render_report(diff, "t")
    bars = re.findall(r'<rect class=(\w+) data-day="([\d-]+)" data-diff-fen="(-?\d+)"', page)
    assert bars == [
        ("pos", "2026-04-15", "1"),
        ("pos", "2026-04-16", "19"),
        ("neg", "2026-04-20", "-1000"),
        ("pos", "2026-04-21", "2"),
    ]
    assert sum(int(fen) for _, _, fen in bars) == diff.total.diff_fen
    # the axis runs over every day from the first charged one to the last
    assert ">04-01</text>" in page and ">04-21</text>" in page


def test_report_needs_no_network(diff: Diff) -> None:
    page = render_report(diff, "t").lower()
    for outside in ("http://", "https://", "//cdn", "<script src", "<link", "@import", "url("):
        assert outside not in page, outside
    assert page.count("<script>") == 1 and page.count("<style>") == 1


@pytest.mark.parametrize(
    ("fen", "signed", "text"),
    [
        (0, True, "0.00"),
        (5, True, "+0.05"),
        (-978, False, "-9.78"),
        (123_456_789, False, "1,234,567.89"),
        (-100, True, "-1.00"),
    ],
)
def test_yuan_by_integer_arithmetic(fen: int, signed: bool, text: str) -> None:
    assert yuan(fen, signed) == text

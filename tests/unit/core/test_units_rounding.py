"""Section 1 of rating-rules.md: units (base 1024), integer fen, the cumulative overage
rule, started minutes per call, and pro-rata parts that add up to the whole."""

from __future__ import annotations

import pytest

from rater.catalog.model import GB, MB, FeeMode
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import Roaming, UsageRecord, UsageType

from .helpers import Harness, draws_of, example_catalog, fees_of, last_charge, plan

APRIL = "2026-04-01T00:00:00+08:00"


def _p58(*, at: str = APRIL) -> Harness:
    h = Harness()
    h.subscribe("A", "P58", at)
    return h


def _record(rid: str, at: str, up: int, down: int) -> UsageRecord:
    return UsageRecord(
        rid, "A", UsageType.DATA, to_ms(at), 60, up, down, None, None, "GD", "LTE",
        Roaming.HOME, None, 0,
    )  # fmt: skip


def test_rule_1_volume_is_uplink_plus_downlink() -> None:
    h = _p58()
    # 1 GB up + 2 GB down = 3 GB = exactly P58's allowance: no overage.
    c = last_charge(h.apply(_record("r1", "2026-04-02T12:00:00+08:00", 1 * GB, 2 * GB)))
    assert c.quantity == 3 * GB
    assert draws_of(c) == [("P58", 3 * GB)]
    assert (c.overage, c.fen) == (0, 0)


def test_rule_1_a_gb_is_1024_mb_of_1024_kb_of_1024_bytes() -> None:
    h = _p58()
    # A decimal "3 GB" (3 000 000 000 B) leaves 3 * 1024**3 - 3e9 = 221 225 472 B of the plan.
    assert 3 * GB == 3 * 1024**3 == 3_221_225_472
    h.data("A", "2026-04-02T12:00:00+08:00", 3_000_000_000)
    [p58] = [b for b in h.line("A").buckets if b.product == "P58" and b.unit == "data"]
    assert p58.remaining == 221_225_472
    # Using exactly that remainder costs nothing; one byte more is overage.
    assert last_charge(h.data("A", "2026-04-02T13:00:00+08:00", 221_225_472)).fen == 0
    c = last_charge(h.data("A", "2026-04-02T14:00:00+08:00", 1))
    # ceil(ceil(1 / 1024) * 29 / 1024) = ceil(29 / 1024) = 1 fen
    assert (c.overage, c.fen) == (1, 1)


def test_rule_1_overage_is_priced_per_mb_but_counted_per_started_kb_of_the_cycle() -> None:
    h = _p58()
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)
    # 1 MB = 1024 KB: ceil(1024 * 29 / 1024) = 29 fen exactly.
    assert last_charge(h.data("A", "2026-04-02T13:00:00+08:00", 1 * MB)).fen == 29
    # +1 B: 1025 started KB to date: ceil(1025 * 29 / 1024) = ceil(29.03) = 30 -> 30 - 29 = 1
    assert last_charge(h.data("A", "2026-04-02T13:01:00+08:00", 1)).fen == 1
    # +1023 B: still 1025 started KB (1 MB + 1024 B) -> 30 - 30 = 0
    assert last_charge(h.data("A", "2026-04-02T13:02:00+08:00", 1023)).fen == 0
    # +1 B: 1026 KB: ceil(1026 * 29 / 1024) = ceil(29.06) = 30 -> 0
    assert last_charge(h.data("A", "2026-04-02T13:03:00+08:00", 1)).fen == 0
    # +35 KB: 1061 KB: ceil(1061 * 29 / 1024) = ceil(30.05) = 31 -> 1
    assert last_charge(h.data("A", "2026-04-02T13:04:00+08:00", 35 * 1024)).fen == 1
    assert h.line("A").overage_fen == 31


# 10 MB + 123 B of overage: ceil(10_485_883 / 1024) = 10 241 started KB;
# ceil(10 241 * 29 / 1024) = ceil(296 989 / 1024) = ceil(290.03) = 291 fen in total.
OVERAGE = 10 * MB + 123
SPLITS = [
    [OVERAGE],
    [123, 10 * MB],
    [10 * MB, 123],
    [1] * 7 + [OVERAGE - 7],
    [100_000] * 104 + [OVERAGE - 104 * 100_000],
    [1023, 1025, 511, 513, OVERAGE - 3072],
]


@pytest.mark.parametrize("pieces", SPLITS, ids=lambda p: f"{len(p)}-records")
def test_rule_1_splitting_or_merging_overage_records_never_changes_the_cycle_total(
    pieces: list[int],
) -> None:
    h = _p58()
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB)
    for i, n in enumerate(pieces):
        h.data("A", f"2026-04-03T{i // 60 % 24:02d}:{i % 60:02d}:00+08:00", n)
    usage = [c for c in h.charges() if c.record_id is not None]
    assert sum(c.fen for c in usage) == 291
    assert sum(c.overage for c in usage) == OVERAGE


def test_rule_1_a_record_straddling_the_end_of_the_allowance_pays_only_its_overage() -> None:
    # Merged: one record of 3 GB + 10 MB + 123 B -> 291 fen (10 MB + 123 B overage, above).
    merged = _p58()
    c = last_charge(merged.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + OVERAGE))
    assert (draws_of(c), c.overage, c.fen) == ([("P58", 3 * GB)], OVERAGE, 291)
    # Split at an odd place: 3 GB - 5 B, then 10 MB + 128 B (5 B from the plan, the rest
    # overage): the same 291 fen.
    split = _p58()
    split.data("A", "2026-04-02T12:00:00+08:00", 3 * GB - 5)
    c = last_charge(split.data("A", "2026-04-02T13:00:00+08:00", 10 * MB + 128))
    assert (draws_of(c), c.overage, c.fen) == ([("P58", 5)], OVERAGE, 291)


@pytest.mark.parametrize(
    ("seconds", "minutes"),
    [(1, 1), (59, 1), (60, 1), (61, 2), (119, 2), (120, 2), (121, 3), (3600, 60)],
)
def test_rule_1_a_call_counts_started_minutes(seconds: int, minutes: int) -> None:
    h = _p58()
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", seconds))
    # ceil(seconds / 60) minutes, all from the plan's 300 minutes: 0 fen
    assert (c.quantity, draws_of(c), c.fen) == (minutes, [("P58", minutes)], 0)


def test_rule_1_minutes_are_started_per_call_not_summed_over_calls() -> None:
    h = _p58()
    # Two 30-second calls are two started minutes, not one.
    a = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 30))
    b = last_charge(h.call("A", "2026-04-02T10:05:00+08:00", 30))
    assert (a.quantity, b.quantity) == (1, 1)
    [voice] = [b for b in h.line("A").buckets if b.unit == "voice"]
    assert voice.used == 2


def test_rule_1_a_zero_second_call_is_zero_minutes_and_free() -> None:
    h = _p58()
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 0))
    assert (c.quantity, c.draws, c.overage, c.fen) == (0, (), 0, 0)
    # Even with no minutes left (300 used), a 0-second call costs nothing,
    h.call("A", "2026-04-02T11:00:00+08:00", 300 * 60)
    c = last_charge(h.call("A", "2026-04-02T12:00:00+08:00", 0))
    assert (c.quantity, c.overage, c.fen) == (0, 0, 0)
    # while a 1-second call is one started minute at 19 fen.
    assert last_charge(h.call("A", "2026-04-02T12:01:00+08:00", 1)).fen == 19


def test_rule_1_money_is_integer_fen() -> None:
    h = _p58()
    h.data("A", "2026-04-02T12:00:00+08:00", 3 * GB + 1536 * 1024)
    h.call("A", "2026-04-02T13:00:00+08:00", 301 * 60)
    assert h.charges()
    assert all(type(c.fen) is int for c in h.charges())


def test_rule_1_daily_fee_parts_add_up_exactly_to_the_fee() -> None:
    # A 1 001-fen daily plan over May (31 days): day k's part is
    # floor(1001 * k / 31) - floor(1001 * (k - 1) / 31), i.e. 32 or 33 fen
    # (1001 / 31 = 32.29), and the 31 parts total floor(1001 * 31 / 31) = 1001.
    rater = Rater(
        example_catalog(D1001=plan("D1001", fee_fen=1001, fee_mode=FeeMode.DAILY_BY_USAGE))
    )
    h = Harness(rater=rater)
    h.subscribe("A", "D1001", "2026-05-01T00:00:00+08:00")
    h.tick("2026-06-01T00:00:00+08:00")
    may = [c for c in fees_of(h.events, "D1001") if c.cycle == "2026-05-01"]
    parts = [c.fen for c in may]
    assert len(parts) == 31
    assert set(parts) == {32, 33}
    assert sum(parts) == 1001
    # after 10 days, floor(1001 * 10 / 31) = floor(322.9) = 322 are due
    assert sum(parts[:10]) == 322


def test_rule_1_pro_rated_fee_plus_the_days_before_is_the_whole_fee() -> None:
    # P58 activated on 11 April (day index 10 of 30): 5800 - floor(5800 * 10 / 30)
    # = 5800 - 1933 = 3867 fen; the 1933 fen of days 1-10 are not charged.
    h = _p58(at="2026-04-11T09:00:00+08:00")
    [fee] = fees_of(h.events, "P58")
    assert fee.fen == 3867
    assert fee.fen + 5800 * 10 // 30 == 5800

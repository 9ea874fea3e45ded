"""Section 3 of rating-rules.md: the base plan's fee modes (monthly, pro-rated at mid-cycle
activation; daily_by_usage with the exhaustion rule), free incoming calls, unrated
international roaming and the video overage rate."""

from __future__ import annotations

import pytest

from rater.catalog.model import GB, MB, FeeMode
from rater.core.cycles import DAY_MS
from rater.core.duplicates import record_key
from rater.core.engine import Rater
from rater.core.events import ChargeKind, UnratedEvent, UnratedReason
from rater.core.inputs import Direction, Roaming, UsageRecord, UsageType

from .helpers import Harness, draws_of, example_catalog, fees_of, last_charge, plan

APRIL = "2026-04-01T00:00:00+08:00"


def _harness() -> Harness:
    """The example catalog plus: M5 (D5 but monthly), D777 (an awkward daily fee) and DV
    (a daily plan with 10 voice minutes)."""
    return Harness(
        rater=Rater(
            example_catalog(
                M5=plan("M5", fee_fen=500, data_bytes=30 * MB, voice_min=0),
                D777=plan("D777", fee_fen=777, fee_mode=FeeMode.DAILY_BY_USAGE),
                DV=plan(
                    "DV", fee_fen=500, fee_mode=FeeMode.DAILY_BY_USAGE, data_bytes=30 * MB,
                    voice_min=10,
                ),
            )
        )
    )  # fmt: skip


# --- monthly ---------------------------------------------------------------------------


def test_rule_3_monthly_fee_is_charged_whole_at_cycle_start() -> None:
    h = _harness()
    out = h.subscribe("A", "P58", APRIL)
    [fee] = fees_of(out.events, "P58")
    assert (fee.kind, fee.fen, fee.cycle) == (ChargeKind.PLAN_FEE, 5800, "2026-04-01")
    # Nothing more during the cycle, then 5 800 fen at 1 May 00:00 local.
    assert not fees_of(h.tick("2026-04-30T23:59:59+08:00").events)
    out = h.tick("2026-05-01T00:00:00+08:00")
    [fee] = fees_of(out.events, "P58")
    assert (fee.fen, fee.cycle, fee.event_time) == (5800, "2026-05-01", h.line("A").cycle_start)
    assert not fees_of(h.tick("2026-05-31T23:59:59+08:00").events)


@pytest.mark.parametrize(
    ("at", "fen"),
    [
        # day index 0: the whole fee
        ("2026-04-01T08:00:00+08:00", 5800),
        # 11 April is day index 10 of 30: 5800 - floor(5800 * 10 / 30) = 5800 - 1933 = 3867
        ("2026-04-11T23:00:00+08:00", 3867),
        # 30 April, day index 29: 5800 - floor(5800 * 29 / 30) = 5800 - 5606 = 194
        ("2026-04-30T12:00:00+08:00", 194),
    ],
)
def test_rule_3_monthly_fee_is_pro_rated_by_days_at_mid_cycle_activation(at: str, fen: int) -> None:
    h = _harness()
    [fee] = fees_of(h.subscribe("A", "P58", at).events, "P58")
    assert fee.fen == fen
    # The next cycle charges the whole fee again.
    [fee] = fees_of(h.tick("2026-05-01T00:00:00+08:00").events, "P58")
    assert fee.fen == 5800


# --- daily_by_usage --------------------------------------------------------------------


def test_rule_3_daily_fee_accrues_by_day_without_any_usage() -> None:
    h = _harness()
    assert not fees_of(h.subscribe("A", "D5", APRIL).events)  # nothing due at activation
    h.tick("2026-04-11T00:00:00+08:00")
    fees = fees_of(h.events, "D5")
    # day k: floor(500 k / 30) - floor(500 (k-1) / 30): 16, 17, 17, 16, 17, 17, 16, 17, 17, 16
    assert [c.fen for c in fees] == [16, 17, 17, 16, 17, 17, 16, 17, 17, 16]
    assert sum(c.fen for c in fees) == 500 * 10 // 30 == 166
    # each at the end of its day (local midnight)
    assert [c.event_time for c in fees] == [
        h.line("A").cycle_start + k * 86_400_000 for k in range(1, 11)
    ]


def test_rule_3_daily_fee_rest_is_charged_at_once_when_the_data_is_used_up() -> None:
    h = _harness()
    h.subscribe("A", "D5", APRIL)
    h.tick("2026-04-06T00:00:00+08:00")  # days 1-5: floor(500 * 5 / 30) = 83 fen
    assert sum(c.fen for c in fees_of(h.events, "D5")) == 83
    h.data("A", "2026-04-06T10:00:00+08:00", 20 * MB)
    out = h.data("A", "2026-04-06T11:00:00+08:00", 10 * MB)  # 30 MB used up on day 6
    [rest] = fees_of(out.events, "D5")
    assert (rest.fen, rest.event_time) == (500 - 83, last_charge(out).event_time)
    assert rest.reason.startswith("allowance used up")
    # Nothing more for the fee in that cycle, even with ticks and more usage.
    h.data("A", "2026-04-20T11:00:00+08:00", 1 * MB)
    h.tick("2026-04-30T23:59:59+08:00")
    april = [c for c in fees_of(h.events, "D5") if c.cycle == "2026-04-01"]
    assert sum(c.fen for c in april) == 500


def test_rule_3_daily_fee_used_up_on_day_1_charges_the_whole_fee_at_once() -> None:
    h = _harness()
    h.subscribe("A", "D5", APRIL)
    out = h.data("A", "2026-04-01T09:00:00+08:00", 31 * MB)
    # no day has ended yet: the whole 500 fen at once, and 1 MB of overage at 29 fen
    assert [c.fen for c in fees_of(out.events, "D5")] == [500]
    assert last_charge(out).fen == 29
    h.tick("2026-05-01T00:00:00+08:00")
    assert sum(c.fen for c in fees_of(h.events, "D5") if c.cycle == "2026-04-01") == 500


def test_rule_3_daily_fee_exhaustion_is_about_the_plans_data_not_its_minutes() -> None:
    # DV: 500 fen daily, 30 MB and 10 voice minutes. Using up the minutes on day 3 must not
    # settle the fee ("as soon as the plan's included *data* is used up").
    h = _harness()
    h.subscribe("A", "DV", APRIL)
    h.tick("2026-04-03T00:00:00+08:00")  # days 1-2: floor(500 * 2 / 30) = 33
    out = h.call("A", "2026-04-03T10:00:00+08:00", 10 * 60)
    assert not fees_of(out.events)
    h.tick("2026-04-04T00:00:00+08:00")  # day 3: floor(500 * 3 / 30) - 33 = 50 - 33 = 17
    assert [c.fen for c in fees_of(h.events, "DV")] == [16, 17, 17]
    # The data running out settles the rest: 500 - 50 = 450.
    out = h.data("A", "2026-04-04T10:00:00+08:00", 30 * MB)
    assert [c.fen for c in fees_of(out.events, "DV")] == [450]


@pytest.mark.parametrize(("code", "fee"), [("D5", 500), ("M5", 500), ("D777", 777), ("P58", 5800)])
@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-02-01", "2026-03-01"),  # 28 days
        ("2026-04-01", "2026-05-01"),  # 30 days
        ("2026-05-01", "2026-06-01"),  # 31 days
    ],
)
def test_rule_3_both_fee_modes_total_exactly_the_fee_over_a_whole_cycle(
    code: str, fee: int, start: str, end: str
) -> None:
    # Activated at the previous cycle so the measured cycle is a renewal, without usage.
    h = _harness()
    h.subscribe("A", code, f"{start}T00:00:00+08:00")
    h.tick(f"{end}T00:00:00+08:00")
    assert sum(c.fen for c in fees_of(h.events, code) if c.cycle == start) == fee


def test_rule_3_mid_cycle_daily_activation_totals_the_pro_rated_monthly_fee() -> None:
    # Activated on 11 April (day index 10 of 30). Monthly M5: 500 - floor(500 * 10 / 30)
    # = 500 - 166 = 334 at once. Daily D5: floor(500 * k / 30) - 166 by the end of day k,
    # so 500 - 166 = 334 by the end of the cycle. The same money, spread differently.
    monthly, daily = _harness(), _harness()
    monthly.subscribe("A", "M5", "2026-04-11T10:00:00+08:00")
    daily.subscribe("A", "D5", "2026-04-11T10:00:00+08:00")
    assert [c.fen for c in fees_of(monthly.events, "M5")] == [334]
    assert not fees_of(daily.events)
    daily.tick("2026-04-12T00:00:00+08:00")  # day 11: floor(5500/30) - 166 = 183 - 166 = 17
    assert [c.fen for c in fees_of(daily.events, "D5")] == [17]
    daily.tick("2026-05-01T00:00:00+08:00")
    assert sum(c.fen for c in fees_of(daily.events, "D5") if c.cycle == "2026-04-01") == 334


def test_rule_3_mid_cycle_daily_activation_used_up_charges_only_the_rest_of_the_part() -> None:
    h = _harness()
    h.subscribe("A", "D5", "2026-04-11T10:00:00+08:00")  # its part: 334 fen (above)
    h.tick("2026-04-13T00:00:00+08:00")  # days 11-12: floor(500*12/30) - 166 = 200 - 166 = 34
    out = h.data("A", "2026-04-13T10:00:00+08:00", 30 * MB)
    assert [c.fen for c in fees_of(out.events, "D5")] == [334 - 34]


# --- calls and roaming -----------------------------------------------------------------


def test_rule_3_incoming_calls_are_free() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 600, direction=Direction.MT))
    assert (c.quantity, c.draws, c.overage, c.fen) == (10, (), 0, 0)
    [voice] = [b for b in h.line("A").buckets if b.unit == "voice"]
    assert voice.used == 0  # the plan's minutes are untouched
    # also with no minutes left, and for video
    h.call("A", "2026-04-02T11:00:00+08:00", 300 * 60)
    c = last_charge(h.call("A", "2026-04-02T12:00:00+08:00", 61, direction=Direction.MT))
    assert c.fen == 0
    c = last_charge(
        h.call("A", "2026-04-02T13:00:00+08:00", 61, video=True, direction=Direction.MT)
    )
    assert c.fen == 0


def test_rule_3_calls_and_data_are_national_no_long_distance_or_province_surcharge() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    c = last_charge(
        h.data("A", "2026-04-02T10:00:00+08:00", 1 * GB, province="XJ", roaming=Roaming.NATIONAL)
    )
    assert (draws_of(c), c.fen) == ([("P58", 1 * GB)], 0)


@pytest.mark.parametrize("usage_type", [UsageType.DATA, UsageType.VOICE, UsageType.VIDEO])
def test_rule_3_international_roaming_goes_unrated_with_its_reason(usage_type: UsageType) -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)
    assert h.account is not None
    h.tick("2026-04-02T10:00:00+08:00")
    before = h.account.to_dict()
    rec = UsageRecord(
        "intl", "A", usage_type, h.line("A").cycle_start + 86_400_000 + 36_000_000, 120,
        1 * MB, 1 * MB, None, None, "GD", "LTE", Roaming.INTERNATIONAL, Direction.MO, 0,
    )  # fmt: skip
    out = h.apply(rec)
    [e] = out.events
    assert isinstance(e, UnratedEvent)
    assert (e.reason, e.record_id, e.cycle) == (
        UnratedReason.INTERNATIONAL_ROAMING,
        "intl",
        "2026-04-01",
    )
    after = h.account.to_dict()
    # nothing drawn, nothing charged; only the record is remembered (section 10)
    assert after["lines"][0]["seen"] == [[rec.start_time // DAY_MS, [record_key("intl")]]]
    assert after["lines"][0]["last_usage"] == rec.start_time  # the window's end
    after["lines"][0]["seen"] = before["lines"][0]["seen"]
    after["lines"][0]["last_usage"] = before["lines"][0]["last_usage"]
    assert after == before


def test_rule_3_video_overage_is_29_fen_per_started_minute() -> None:
    h = _harness()
    h.subscribe("A", "P58", APRIL)  # P58 includes no video minutes
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 61, video=True))
    # ceil(61 / 60) = 2 started minutes * 29 fen = 58 fen
    assert (c.usage_type, c.quantity, c.overage, c.fen) == (UsageType.VIDEO, 2, 2, 58)
    # video does not use the voice minutes
    [voice] = [b for b in h.line("A").buckets if b.unit == "voice"]
    assert voice.used == 0


def test_rule_3_video_uses_the_plans_video_minutes_first() -> None:
    h = Harness(rater=Rater(example_catalog(PV=plan("PV", video_min=5))))
    h.subscribe("A", "PV", APRIL)
    c = last_charge(h.call("A", "2026-04-02T10:00:00+08:00", 7 * 60 + 1, video=True))
    # 8 started minutes: 5 from the plan, 3 * 29 = 87 fen
    assert (draws_of(c), c.overage, c.fen) == ([("PV", 5)], 3, 87)

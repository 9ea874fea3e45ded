"""Plausibility checks of usage records."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rater.codec import validate
from rater.core import inputs as inp

NOW = 1776526200000
REC = inp.UsageRecord(
    "r-1",
    "8613800138000",
    inp.UsageType.DATA,
    NOW - 60_000,
    600,
    1024,
    4096,
    None,
    None,
    "GD",
    "NR",
    inp.Roaming.HOME,
    None,
    0,
)


def check(
    now: int | None = NOW, max_future: int = 300_000, **change: Any
) -> tuple[str, str] | None:
    return validate.check_usage(dataclasses.replace(REC, **change), now, max_future)


def test_plausible_record() -> None:
    assert check() is None
    assert check(now=None) is None
    assert check(duration_s=0, uplink_bytes=0, downlink_bytes=0) is None
    assert check(uplink_bytes=validate.MAX_BYTES_PER_RECORD) is None
    assert check(duration_s=validate.MAX_DURATION_S) is None
    # a data record may carry a duration; a voice record may carry bytes
    assert check(usage_type=inp.UsageType.DATA, duration_s=3600) is None
    assert check(usage_type=inp.UsageType.VOICE, uplink_bytes=10) is None


@pytest.mark.parametrize(
    ("change", "cls", "text"),
    [
        ({"record_id": ""}, "INVALID_VALUE", "empty record_id"),
        ({"msisdn": ""}, "INVALID_VALUE", "empty msisdn"),
        ({"uplink_bytes": -1}, "INVALID_VALUE", "bytes out of range"),
        ({"downlink_bytes": -1}, "INVALID_VALUE", "bytes out of range"),
        ({"downlink_bytes": (1 << 40) + 1}, "INVALID_VALUE", "bytes out of range"),
        ({"duration_s": -1}, "INVALID_VALUE", "duration_s -1"),
        ({"duration_s": 48 * 3600 + 1}, "INVALID_VALUE", "duration_s 172801"),
        ({"sequence": -1}, "INVALID_VALUE", "negative sequence"),
        ({"start_time": 946_684_799_999}, "INVALID_VALUE", "before 2000-01-01"),
        ({"start_time": -5}, "INVALID_VALUE", "before 2000-01-01"),
        ({"start_time": NOW + 300_001}, "FUTURE_TIMESTAMP", "300001 ms in the future"),
    ],
)
def test_absurd_values(change: dict[str, Any], cls: str, text: str) -> None:
    result = check(**change)
    assert result is not None
    assert result[0] == cls
    assert text in result[1]


def test_future_limit_is_inclusive_and_needs_now() -> None:
    assert check(start_time=NOW + 300_000) is None
    assert check(now=None, start_time=NOW + 10**12) is None
    assert check(max_future=0, start_time=NOW + 1) is not None


def test_error_classes_are_plain_strings() -> None:
    result = check(record_id="")
    assert result is not None and type(result[0]) is str

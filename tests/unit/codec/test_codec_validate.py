"""Plausibility checks of usage records."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rater.codec import validate
from rater.codec.errors import clip_text, preview
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
        ({"start_time": NOW + 300_001}, "FUTURE_TIMESTAMP", "more than 300000 ms ahead"),
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


# --- input limits ------------------------------------------------------------------------

STRING_LIMITS = [
    ("record_id", validate.MAX_RECORD_ID_LEN, "r"),
    ("msisdn", validate.MAX_MSISDN_LEN, "8"),
    ("app_id", validate.MAX_APP_ID_LEN, "a"),
    ("province", validate.MAX_PROVINCE_LEN, "P"),
    ("rat", validate.MAX_RAT_LEN, "N"),
]


def test_limits_are_the_documented_values() -> None:
    assert [limit for _, limit, _ in STRING_LIMITS] == [128, 32, 128, 16, 16]


@pytest.mark.parametrize(("field", "limit", "char"), STRING_LIMITS)
def test_string_at_its_limit_is_fine(field: str, limit: int, char: str) -> None:
    change: dict[str, Any] = {field: char * limit}
    assert check(**change) is None


@pytest.mark.parametrize(("field", "limit", "char"), STRING_LIMITS)
@pytest.mark.parametrize("size", [1, 1000, 500_000])
def test_string_over_its_limit(field: str, limit: int, char: str, size: int) -> None:
    value = char * (limit + size)
    change: dict[str, Any] = {field: value}
    result = check(**change)
    assert result is not None
    cls, msg = result
    assert cls == "INVALID_VALUE" and type(cls) is str
    assert f"{field} too long: {len(value)} chars, limit {limit}" in msg
    shown = min(len(value), validate.PREVIEW_CHARS)  # the first 40 chars at most
    cut = "..." if len(value) > shown else ""
    assert msg.endswith(
        f"{field} too long: {len(value)} chars, limit {limit}: {value[:shown]!r}{cut}"
    )
    assert char * (shown + 1) not in msg
    assert len(msg) < 300


def test_too_long_record_id_is_not_repeated_by_later_messages() -> None:
    result = check(record_id="r" * 129, msisdn="")
    assert result is not None and result[1].startswith("record_id too long: 129 chars")


@pytest.mark.parametrize(
    "msisdn", ["8613800138000", "+8613800138000", "1", "+1", "0" * 32, "+" + "9" * 31]
)
def test_msisdn_digits_with_optional_plus(msisdn: str) -> None:
    assert check(msisdn=msisdn) is None


@pytest.mark.parametrize(
    "msisdn",
    [
        "+",
        "++86",
        "86+138",
        "8613800138000 ",
        " 8613800138000",
        "8613800138000\n",
        "86-138",
        "A",
        "861380013800x",
        "\u0661\u0662\u0663",  # Arabic-Indic digits: isdigit() but not 0-9
        "\u00b2\u00b3",  # superscripts
        "\uff18\uff16\uff11",  # fullwidth digits
        "86\x00138",
    ],
)
def test_msisdn_that_is_not_digits(msisdn: str) -> None:
    result = check(msisdn=msisdn)
    assert result is not None
    assert result[0] == "INVALID_VALUE"
    assert f"msisdn {msisdn!r} is not digits 0-9 with an optional leading '+'" in result[1]


def test_msisdn_length_is_checked_before_its_characters() -> None:
    result = check(msisdn="x" * 33)
    assert result is not None and "msisdn too long: 33 chars, limit 32" in result[1]


def test_app_id_may_be_null_or_empty_and_province_rat_empty() -> None:
    assert check(app_id=None) is None
    assert check(app_id="", province="", rat="") is None


def test_sequence_up_to_the_avro_long_maximum() -> None:
    assert check(sequence=2**63 - 1) is None
    result = check(sequence=-(2**63))
    assert result is not None and f"negative sequence {-(2**63)}" in result[1]


def test_absurd_ints_are_not_printed() -> None:
    # not from Avro or JSON (both range-checked): str() of such an int even raises
    for change in (
        {"uplink_bytes": 10**5000},
        {"duration_s": -(10**5000)},
        {"sequence": -(10**5000)},
        {"start_time": -(10**5000)},
        {"start_time": 10**5000},
    ):
        result = check(**change)
        assert result is not None
        assert "-bit int>" in result[1] and len(result[1]) < 300, change


_ANY_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=100, max_size=300),
    st.integers(0, 200_000).map(lambda n: "\U0010ffff" * n),  # 10 chars each in a repr
    st.integers(0, 200_000).map(lambda n: "8" * n),
)
_ANY_INT = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.integers(-(2**200), 2**200), st.integers(-5, 5)
)


@settings(max_examples=300, deadline=None)
@given(
    record_id=_ANY_TEXT,
    msisdn=_ANY_TEXT,
    app_id=st.none() | _ANY_TEXT,
    province=_ANY_TEXT,
    rat=_ANY_TEXT,
    start_time=_ANY_INT,
    duration_s=_ANY_INT,
    uplink_bytes=_ANY_INT,
    downlink_bytes=_ANY_INT,
    sequence=_ANY_INT,
    now=st.none() | st.integers(0, 2**50),
)
def test_message_is_bounded_for_any_input(now: int | None, **change: Any) -> None:
    result = check(now=now, **change)
    if result is None:
        return
    cls, msg = result
    assert cls in ("INVALID_VALUE", "FUTURE_TIMESTAMP")
    # the record id (at most 128 chars once checked) plus at most one 40-char preview
    # (up to 10 chars per char in its repr) plus the fixed text and some ints
    assert len(msg) <= 128 + 10 * validate.PREVIEW_CHARS + 250, msg
    for field in ("msisdn", "app_id", "province", "rat", "record_id"):
        value = change.get(field) or ""
        if len(value) > validate.PREVIEW_CHARS + 128:
            assert value not in msg


def test_preview_and_clip_text() -> None:
    assert preview("abc") == "'abc'"
    assert preview("x" * 41) == repr("x" * 40) + "..."
    assert preview("a\nb", 2) == "'a\\n'..."
    assert clip_text("abc", 3) == "abc"
    assert clip_text("abcd", 3) == "abc... (4 chars)"


def test_commands_carry_no_string_the_outputs_could_not_hold() -> None:
    from rater.codec.validate import check_command
    from rater.core.inputs import NewSubscriber, OrderProduct, Tick

    ok = NewSubscriber("c1", "13800000001", 0, "P58", 1, "GD", packs=("N2G",))
    assert check_command(ok) is None
    assert check_command(Tick(0)) is None
    huge = "1" * 500_000
    for bad, field in (
        (NewSubscriber("c1", huge, 0, "P58", 1, "GD"), "msisdn"),
        (NewSubscriber("c1", "13800000001", 0, "P58", 1, "GD", owner=huge), "owner"),
        (NewSubscriber("c1", "13800000001", 0, "P" * 65, 1, "GD"), "plan"),
        (NewSubscriber("c1", "13800000001", 0, "P58", 1, "GD", packs=("X" * 65,)), "packs"),
        (OrderProduct("c" * 129, "13800000001", 0, "N2G"), "command_id"),
        (OrderProduct("c1", "", 0, "N2G"), "msisdn"),
    ):
        found = check_command(bad)
        assert found is not None and found[0] == "INVALID_VALUE", field
        assert field in found[1] and len(found[1]) < 300

"""Sizes are bytes, in base 1024 (spec section 1)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rater.catalog import GB, KB, MB, parse_size

UNITS = {"B": 1, "KB": KB, "MB": MB, "GB": GB, "KiB": KB, "MiB": MB, "GiB": GB}


def test_units_are_base_1024() -> None:
    assert (KB, MB, GB) == (1024, 1024**2, 1024**3)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("3GB", 3 * 1024**3),
        ("30MB", 30 * 1024**2),
        ("500MB", 500 * 1024**2),
        ("1KB", 1024),
        ("7B", 7),
        ("0GB", 0),
        ("3 GB", 3 * GB),
        (" 2GiB ", 2 * GB),
        ("1.5MB", 1536 * KB),  # 1.5 MB = 1536 KB (spec section 12, example 4)
        ("0.75MB", 768 * KB),
        ("0.5GB", 512 * MB),
        ("1.0KB", 1024),
        (1024, 1024),
        (0, 0),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("3gb", "unknown size unit 'gb'"),
        ("3Mb", "unknown size unit 'Mb'"),
        ("3TB", "unknown size unit 'TB'"),
        ("3", "not a size"),
        ("GB", "not a size"),
        ("3 G B", "not a size"),
        ("1e3MB", "not a size"),
        ("0.1KB", "not a whole number of bytes"),
        ("0.3B", "not a whole number of bytes"),
        (1.5, "expected a size"),
        (True, "expected a size"),
        (None, "expected a size"),
        ([1], "expected a size"),
    ],
)
def test_bad_sizes(value: object, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_size(value)


def test_negative_sizes_parse_and_are_refused_by_the_catalog_ranges() -> None:
    assert parse_size("-1GB") == -GB


@given(st.integers(min_value=0, max_value=10**7), st.sampled_from(sorted(UNITS)))
def test_integer_sizes_with_unit(number: int, unit: str) -> None:
    assert parse_size(f"{number}{unit}") == number * UNITS[unit]
    assert parse_size(f"{number} {unit}") == number * UNITS[unit]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["KB", "MB", "GB"]))
def test_halves_of_a_unit_are_exact(number: int, unit: str) -> None:
    assert parse_size(f"{number}.5{unit}") == number * UNITS[unit] + UNITS[unit] // 2

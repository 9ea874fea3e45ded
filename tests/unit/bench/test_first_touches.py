"""The latency phase says how many of its measured records were their account's first
since the processor started: with 50 000 subscribers a 10 s warm-up leaves most
accounts cold, and the p99 then measures the account cache filling (as after a
deploy), not the steady state."""

from __future__ import annotations

from rater.bench.latency import first_touches


def _items(keys: str) -> list[tuple[bytes, bytes, str]]:
    return [(k.encode(), b"", f"r{i}") for i, k in enumerate(keys)]


def test_records_of_accounts_not_seen_in_the_warm_up_are_counted_once() -> None:
    # warm-up: a, b; measured: a (warm), c (first), c (warm now), d (first)
    line = first_touches(_items("abaccd"), warmup=2)
    assert "50% of the measured records were their account's first" in line
    assert "a longer --warmup-seconds measures the steady state" in line


def test_a_warm_cache_gets_no_advice() -> None:
    line = first_touches(_items("abcabcabcabc"), warmup=3)
    assert line.strip().startswith("0% of the measured records")
    assert "--warmup-seconds" not in line

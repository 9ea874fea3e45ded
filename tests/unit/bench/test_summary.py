"""The bench's verdict: judged on the N-process rounds (medians) when there are any, so
one lucky or unlucky round on a shared box does not decide it."""

from __future__ import annotations

from rater.bench.report import _summary
from rater.bench.timing import Timing
from rater.config import Settings


def drained(records: int, seconds: float) -> Timing:
    return Timing(start=0.0, assigned=0.0, first=0.0, last=seconds, end=seconds, applied=records)


S = Settings(metrics_port=0)


def test_targets_are_judged_on_the_median_round() -> None:
    rounds = [
        (drained(200_000, 5.0), drained(200_000, 2.0)),  # 40k vs 100k: ratio 0.40
        (drained(200_000, 6.0), drained(200_000, 3.0)),  # 33k vs 67k: 0.50
        (drained(200_000, 6.5), drained(200_000, 3.5)),  # 31k vs 57k: 0.54
    ]
    text = _summary(S, drained(200_000, 10.0), drained(200_000, 5.0), None, None, rounds, 4)
    assert "per round: 0.40 0.50 0.54 -> median 0.50" in text
    assert "targets (4 processes, median of 3 rounds): >= 30,000 records/s: met (33,333)" in text
    assert ">= 50% of passthrough: met (0.50)" in text


def test_a_slow_median_round_is_not_met_even_if_one_round_was_fast() -> None:
    rounds = [
        (drained(200_000, 4.0), drained(200_000, 6.0)),  # 50k
        (drained(200_000, 8.0), drained(200_000, 6.0)),  # 25k
        (drained(200_000, 9.0), drained(200_000, 6.0)),  # 22k
    ]
    text = _summary(S, drained(200_000, 10.0), drained(200_000, 5.0), None, None, rounds, 4)
    assert ">= 30,000 records/s: NOT met (25,000)" in text


def test_without_rounds_the_single_process_is_judged() -> None:
    text = _summary(S, drained(200_000, 5.0), drained(200_000, 4.0), None, None)
    assert "targets (1 process): >= 30,000 records/s: met (40,000)" in text
    assert ">= 50% of passthrough: met (0.80)" in text

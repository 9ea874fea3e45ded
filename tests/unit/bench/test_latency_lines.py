"""What the latency phase of `rater bench stream` says about its batches: where a
record's wait goes is read from these lines."""

from __future__ import annotations

from rater.bench.latency import Latency


def test_the_latency_lines_give_the_percentiles_and_the_commits_per_batch() -> None:
    lat = Latency(rate=5000.0, produced=50_000, produce_s=10.0)
    lat.samples = sorted([0.1] * 98 + [0.3, 0.9])
    lat.batches, lat.applied, lat.in_batches = 20, 50_000, 8.0
    lat.kafka_commit_s, lat.commit_wait_s = 1.6, 0.2
    text = "\n".join(lat.lines("rater"))
    assert "p50 100 ms" in text and "p99 300 ms" in text and "max 900 ms" in text
    assert "took 80 ms a batch on the committer thread" in text
    assert "the next batch waited 10 ms a batch" in text
    assert "6,250 records/s while busy" in text

"""`rater simulate`: the offline job (`rater.jobs.offline`) over a usage file, in one
process or several sharing the partitions (`rater.jobs.shares`), with progress."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

from rater.config import Topics
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick
from rater.gc_tuning import tune_gc
from rater.jobs.files import Reading, read_usage, read_usage_share
from rater.jobs.offline import rate_offline
from rater.jobs.shares import SegmentLog, Share, run_shares
from rater.jobs.summary import Summary
from rater.progress import Progress, Reports


def simulate(
    rater: Rater,
    commands: list[Command | Tick],
    usage_path: Path,
    until: int | None,
    events_out: IO[bytes],
    dead_out: IO[bytes] | None = None,
    partitions: int = 4,
    topics: Topics | None = None,
    progress: bool = True,
    max_future_ms: int = 24 * 3_600_000,
    gc_gen0_threshold: int = 50_000,
    workers: int = 1,
) -> Summary:
    """`rater simulate`: commands, the usage file, the closing tick; progress on stderr.
    With `workers` > 1, that many processes share the partitions (`rater.jobs.shares`):
    the same outputs, byte for byte."""
    tune_gc(gc_gen0_threshold)  # as `rater run` does: the catalog and commands frozen
    show = progress and "PYTEST_VERSION" not in os.environ
    total = Reading(usage_path).total
    workers = max(1, min(workers, partitions))
    if workers > 1:

        def rate_share(
            share: Share, ev: IO[bytes], dl: IO[bytes] | None, log: SegmentLog, bar: Reports
        ) -> Summary:
            reading = Reading(usage_path)
            summary, _ = rate_offline(
                rater,
                commands,
                lambda: read_usage_share(usage_path, reading),
                until,
                ev,
                dl,
                partitions,
                topics,
                max_future_ms,
                bar,
                reading,
                share,
                log,
            )
            return summary

        with Progress(f"rating {usage_path.name}", total, enabled=show) as bar:
            shared = run_shares(workers, rate_share, events_out, dead_out, bar)
        return Summary.merged(shared.results)
    reading = Reading(usage_path)
    with Progress(f"rating {usage_path.name}", reading.total, enabled=show) as bar:
        summary, _ = rate_offline(
            rater,
            commands,
            lambda: read_usage(usage_path, reading),
            until,
            events_out,
            dead_out,
            partitions,
            topics,
            max_future_ms,
            bar,
            reading,
        )
        return summary

"""`rater simulate`: the offline job (`rater.jobs.offline`) over a usage file, in one
process or several sharing the partitions (`rater.jobs.shares`), with progress."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rater.config import Topics
from rater.core.engine import Rater
from rater.core.inputs import Command, Tick
from rater.gc_tuning import offline_gc
from rater.jobs.files import Reading, read_usage, read_usage_share
from rater.jobs.offline import rate_offline
from rater.jobs.peak import peak_kib
from rater.jobs.shares import SegmentLog, Share, run_shares
from rater.jobs.summary import Summary, cost_line
from rater.pipeline.batch import TICK_ACCOUNTS
from rater.progress import Progress, Reports


@dataclass(frozen=True, slots=True)
class Simulated:
    """A `rater simulate` run: what was rated, and what it cost."""

    summary: Summary
    seconds: float  # rating, from the first usage line read to the last output written
    workers: int
    peak_kib: int  # peak resident memory, summed over the processes (the parent's too)

    def cost(self) -> str:
        """The line a person (and `rater bench simulate`) reads after the summary."""
        return cost_line(self.summary.records, self.seconds, self.workers, self.peak_kib)


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
    workers: int = 1,
    tick_accounts: int = TICK_ACCOUNTS,
) -> Simulated:
    """`rater simulate`: commands, the usage file, the closing tick; progress on stderr.
    With `workers` > 1, that many processes share the partitions (`rater.jobs.shares`):
    the same outputs, byte for byte. No cyclic garbage collection meanwhile
    (`offline_gc`)."""
    show = progress and "PYTEST_VERSION" not in os.environ
    workers = max(1, min(workers, partitions))

    def rate(
        share: Share | None,
        ev: IO[bytes],
        dl: IO[bytes] | None,
        log: SegmentLog | None,
        bar: Reports,
    ) -> Summary:
        reading = Reading(usage_path)
        summary, _ = rate_offline(
            rater,
            commands,
            lambda: (
                read_usage(usage_path, reading)
                if share is None
                else read_usage_share(usage_path, reading)
            ),
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
            tick_accounts,
        )
        return summary

    with (
        offline_gc(),
        Progress(f"rating {usage_path.name}", Reading(usage_path).total, enabled=show) as bar,
    ):
        t0 = time.perf_counter()
        if workers == 1:
            summary = rate(None, events_out, dead_out, None, bar)
            peak = peak_kib()
        else:
            shared = run_shares(workers, rate, events_out, dead_out, bar)
            summary, peak = Summary.merged(shared.results), sum(shared.peak_kib)
    return Simulated(summary, time.perf_counter() - t0, workers, peak)

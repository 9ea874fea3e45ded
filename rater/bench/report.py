"""What `rater bench stream` prints: the settings, the spread of the rounds and the
summary, judged against the targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from rater.bench.latency import Latency
from rater.bench.probes import (
    _pct,
)
from rater.bench.timing import Timing
from rater.config import Settings
from rater.stream.kafka import (
    consumer_config,
    producer_config,
)

TARGET_RATE = 30_000  # records/s, from the issue
TARGET_RATIO = 0.5  # rater / passthrough


def _settings_lines(s: Settings) -> list[str]:
    pc = producer_config(s, "x")
    cc = consumer_config(s)
    return [
        f"settings: exactly-once on (transactional.id per process, isolation.level="
        f"{cc['isolation.level']}), {s.partitions} partitions, batch_size {s.batch_size}, "
        f"batch_timeout_s {s.batch_timeout_s}, transaction.timeout.ms "
        f"{s.transaction_timeout_ms}",
        f"  producer: linger.ms {pc['linger.ms']}, compression {pc['compression.type']}, "
        f"retry.backoff.ms {pc['retry.backoff.ms']}; consumer: fetch.wait.max.ms "
        f"{cc['fetch.wait.max.ms']}, assignor {cc['partition.assignment.strategy']}"
        + (f"; extra librdkafka {s.kafka}" if s.kafka else ""),
        f"  kafka {s.kafka_bootstrap_servers}, redis "
        f"{'cluster' if s.redis_cluster else 'standalone'}, namespace {s.namespace}, "
        f"catalog {s.catalog}, gc gen0 threshold {s.gc_gen0_threshold or 'default'}",
    ]


def _spread(xs: Sequence[float]) -> str:
    return f"{min(xs):,.0f} - {max(xs):,.0f}" if len(xs) > 1 else "one round"


def _summary(
    s: Settings,
    rater_t: Timing,
    pt_t: Timing | None,
    rater_lat: Latency | None,
    pt_lat: Latency | None,
    rounds: Sequence[tuple[Timing, Timing | None]] = (),
    processes: int = 1,
) -> str:
    """The figures side by side. The targets are judged on the deployment shape measured
    last: the N-process rounds (medians) when there are any, else the single process."""

    def lat(x: Latency | None) -> str:
        if x is None or not x.samples:
            return "n/a"
        return (
            f"p50 {_pct(x.samples, 0.5) * 1000:.0f} ms / p99 {_pct(x.samples, 0.99) * 1000:.0f} ms"
        )

    r = rater_t.rate_total()
    rows = [
        f"summary (batch_size {s.batch_size}, exactly-once on):",
        f"  rater        {r:>9,.0f} records/s start-to-drained "
        f"({rater_t.rate_after_join():,.0f} after join, {rater_t.rate_steady():,.0f} steady); "
        f"latency {lat(rater_lat)}",
    ]
    judged_rate, judged_ratio = r, math.nan
    if pt_t is not None:
        p = pt_t.rate_total()
        judged_ratio = r / p if p else math.nan
        rows += [
            f"  passthrough  {p:>9,.0f} records/s start-to-drained "
            f"({pt_t.rate_after_join():,.0f} after join, {pt_t.rate_steady():,.0f} steady); "
            f"latency {lat(pt_lat)}",
            f"  ratio rater/passthrough {judged_ratio:.2f} (steady "
            f"{rater_t.rate_steady() / pt_t.rate_steady():.2f})",
        ]
    shape = "1 process"
    if rounds:
        shape = f"{processes} processes, median of {len(rounds)} rounds"
        rates = [rt.rate_total() for rt, _ in rounds]
        judged_rate = statistics.median(rates)
        rows.append(
            f"  rater x{processes}     {judged_rate:>9,.0f} records/s go-to-drained, median of "
            f"{len(rounds)} rounds ({_spread(rates)}); steady "
            f"{statistics.median(rt.rate_steady() for rt, _ in rounds):,.0f}"
        )
        pts = [pt for _, pt in rounds if pt is not None]
        if len(pts) == len(rounds):
            prates = [pt.rate_total() for pt in pts]
            ratios = [rate / pt.rate_total() for rate, pt in zip(rates, pts, strict=True)]
            judged_ratio = statistics.median(ratios)
            rows += [
                f"  passthrough x{processes} {statistics.median(prates):>6,.0f} records/s "
                f"go-to-drained, median ({_spread(prates)}); steady "
                f"{statistics.median(pt.rate_steady() for pt in pts):,.0f}",
                f"  ratio rater/passthrough with {processes} processes, per round: "
                + " ".join(f"{x:.2f}" for x in ratios)
                + f" -> median {judged_ratio:.2f}",
            ]
        else:
            judged_ratio = math.nan
    ok_rate = judged_rate >= TARGET_RATE
    ok_ratio = math.isnan(judged_ratio) or judged_ratio >= TARGET_RATIO
    rows.append(
        f"  targets ({shape}): >= {TARGET_RATE:,} records/s: "
        f"{'met' if ok_rate else 'NOT met'} ({judged_rate:,.0f}); >= {TARGET_RATIO:.0%} of "
        f"passthrough: "
        + ("n/a" if math.isnan(judged_ratio) else "met" if ok_ratio else "NOT met")
        + ("" if math.isnan(judged_ratio) else f" ({judged_ratio:.2f})")
        + ("" if ok_rate and ok_ratio else " (run with --profile to see where the time goes)")
    )
    return "\n".join(rows)

"""`rater bench load`: `rater load --bulk` alone, timed, for sizing a new deployment's
bootstrap: N synthetic subscribers (activated over the days before the workload, as in
`bench stream`) sent, rated and written by W processes, into topics, a group and a Redis
namespace of the run's own, removed at the end.

It is phase 1 of `bench stream` without the rest, so that the loader can be measured
at a million subscribers in two minutes and compared in pairs with another commit."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from rater.bench.core import START
from rater.bench.probes import _pressure, _servers, cpu_ticks, steal_note
from rater.bench.stream import Options, _cleanup, bench_settings
from rater.catalog import load_catalog
from rater.config import Settings, load_settings
from rater.core.engine import Rater
from rater.gc_tuning import tune_gc
from rater.store.redis import RedisStore, settings_client
from rater.stream.bulk import bulk_load
from rater.stream.kafka import ensure_topics
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers

DAY_MS = 86_400_000


def run(
    catalog: Path,
    subscribers: int,
    workers: int = 2,
    activated_days: int = 1,
    base: Settings | None = None,
    out: Callable[[str], None] = print,
) -> float:
    """Loads and prints; returns subscribers/s."""
    opts = Options(catalog=catalog, subscribers=subscribers, activated_days=activated_days)
    cat = load_catalog(catalog)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    s = bench_settings(base if base is not None else load_settings(), run_id, opts)
    rclient = settings_client(s)
    subs = gen_subscribers(
        cat, subscribers, START - activated_days * DAY_MS, spread_days=activated_days
    )
    cmds = to_commands(parse_subscribers({"subscribers": subs}))
    load0, ticks0 = os.getloadavg(), cpu_ticks()
    out(
        f"rater bench load: run {run_id}, {os.cpu_count()} CPUs, load average "
        f"{load0[0]:.2f}{_pressure()}; {subscribers:,} subscribers, {len(cmds):,} "
        f"commands, {workers} loading processes, {s.partitions} partitions"
    )
    note, _ = _servers(s, rclient)
    out(note)
    tune_gc(s.gc_gen0_threshold)  # as `rater load` does
    try:
        ensure_topics(s, s.partitions)
        t0 = time.perf_counter()
        store = RedisStore(rclient, s.namespace)
        res = bulk_load(s, Rater(cat, s.duplicate_window_ms), store, cmds, workers)
        took = time.perf_counter() - t0
        rate = subscribers / took if took > 0 else 0.0
        out(
            f"loaded in bulk in {took:.2f} s -> {rate:,.0f} subscribers/s: {res.commands:,} "
            f"commands sent, {res.applied:,} applied, {res.outputs:,} events; checks "
            f"{res.seconds['checks']:.2f} s, sent, rated and written in "
            f"{res.seconds['apply']:.2f} s, of which waiting for the broker "
            f"{res.seconds['wait']:.2f} s"
        )
    finally:
        topics = [*s.topics.inputs(), *s.topics.outputs()]
        for line in _cleanup(s, topics, [s.group_id], [s.namespace], rclient):
            out(line)
        load1 = os.getloadavg()
        out(f"load average now {load1[0]:.2f}{_pressure()}{steal_note(ticks0, cpu_ticks())}")
    return rate

"""`rater bench stream`: the streaming rater end to end, exactly-once on, against the
real local Kafka and Redis, next to a do-nothing Avro passthrough with the same Kafka
settings, batch size and transaction cadence.

One run, on throwaway topics, consumer groups and Redis namespace (all removed at the
end, also after a failure):

1. load N synthetic subscribers as commands and apply them (`StreamRater.run(drain=True)`
   in this process), with a tick to the workload's start (a live system ticks daily);
2. rater throughput: produce M usage records, then time a fresh `StreamRater` draining
   them (start -> partitions assigned -> first batch -> last batch -> drained), with the
   wall time of its Redis calls and Kafka commits and its CPU time;
3. passthrough throughput: the same M records from the same topic, consumed with the
   same consumer config, decoded, one ChargeEvent encoded per record, produced
   transactionally with `send_offsets_to_transaction` per batch;
4. latency of each: a child process produces fresh records at a steady rate (a fraction
   of the processor's own steady throughput) while the processor runs in this process,
   and a read_committed consumer of the output topic (in the same child) records, per
   event, receive time minus the produce time of its input record (linked by
   `record_id`). The load generator is a separate process so that it takes no GIL time
   from the processor; it still shares the 2 cores with it, Kafka and Redis.

Figures, not pass/fail. The load average, the kernel's CPU pressure and the share of CPU
time the hypervisor gave to other guests during the run are printed with them: on a
shared 2-core virtual machine other processes and other guests move the numbers.

The phases live in their own modules: `timing` (the drain's timing), `passthrough`,
`latency`, `probes` (small measurements), `report` (what is printed); the N-process
rounds in `parallel`.
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import io
import os
import pstats
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from rater.bench import parallel
from rater.bench.core import END, START
from rater.bench.latency import Latency, _in_thread, _measure_latency, first_touches
from rater.bench.passthrough import Passthrough
from rater.bench.probes import (
    _pressure,
    _rate,
    _servers,
    cpu_ticks,
    steal_note,
)
from rater.bench.report import _settings_lines, _summary
from rater.bench.timing import TimedRater, TimedStore, Timing, _measured
from rater.catalog import load_catalog
from rater.catalog.model import Catalog
from rater.codec import avro
from rater.config import Settings, Topics, load_settings
from rater.core.engine import Rater
from rater.core.inputs import Command, UsageRecord
from rater.gc_tuning import tune_gc
from rater.store.redis import settings_client
from rater.stream.bulk import bulk_load
from rater.stream.kafka import (
    ensure_topics,
)
from rater.stream.tools import (
    account_keys,
    delete_namespace,
    produce_commands,
    produce_usage,
    send_tick,
)
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage

PARTITIONS = 8  # default partitions per topic: room for 4 processes with 2 each
HOUR_MS = 3_600_000


# --- cleanup ------------------------------------------------------------------------------


def _cleanup(
    s: Settings, topics: list[str], groups: list[str], namespaces: list[str], rclient: Any
) -> list[str]:
    notes: list[str] = []
    admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers})
    for topic, fut in admin.delete_topics(topics, operation_timeout=30).items():
        try:
            fut.result()
        except KafkaException as e:
            notes.append(f"topic {topic} not deleted: {e}")
    with contextlib.suppress(Exception):  # groups that never committed do not exist
        for fut in admin.delete_consumer_groups(groups, request_timeout=10).values():
            with contextlib.suppress(KafkaException):
                fut.result()
    deleted = sum(delete_namespace(rclient, ns) for ns in namespaces)
    notes.append(
        f"cleanup: deleted {len(topics)} topics and {deleted} Redis keys of {', '.join(namespaces)}"
    )
    return notes


# --- the benchmark ------------------------------------------------------------------------


@dataclass(slots=True)
class Options:
    catalog: Path = Path("examples/catalog-full.yaml")
    subscribers: int = 2_000
    records: int = 200_000
    rate_fraction: float = 0.6
    latency_seconds: float = 10.0
    warmup_seconds: float = 3.0  # produced at the rate before the measured seconds, not counted
    batch_size: int | None = None
    profile: bool = False
    catch_up_tick: bool = True
    activated_days: int = 40  # the subscribers are activated over this many days before
    passthrough: bool = True
    latency: bool = True
    processes: int = 4  # > 1: also drain the backlog with this many processes
    rounds: int = 3  # of the N-process phase (rater, then passthrough), for medians
    partitions: int = PARTITIONS
    bulk_load: bool = True  # phase 1 by `rater load --bulk` (False: rater run applies them)
    bulk_workers: int = 2  # processes of the bulk load


def bench_settings(base: Settings, run_id: str, opts: Options) -> Settings:
    """The base settings (environment, defaults) with this run's own topics, group,
    namespace and instance id. Forced after the environment was read: a RATER_NAMESPACE
    in the environment must never point the cleanup at real keys."""
    topics = Topics(**{f: f"{run_id}.{f}" for f in Topics.model_fields})
    update: dict[str, Any] = {
        "catalog": opts.catalog,
        "group_id": f"{run_id}-rater",
        "instance_id": "bench",
        "namespace": run_id,
        "topics": topics,
        "partitions": opts.partitions,
        "metrics_port": 0,
    }
    if opts.batch_size is not None:
        update["batch_size"] = opts.batch_size
    return base.model_copy(update=update)


def run(opts: Options, base: Settings | None = None, out: Callable[[str], None] = print) -> None:
    """The whole benchmark; prints as it goes (figures appear even if a later phase fails)."""
    catalog = load_catalog(opts.catalog)
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    s = bench_settings(base if base is not None else load_settings(), run_id, opts)
    rclient: Any = settings_client(s)
    pt_sink = f"{run_id}.pt.charges"
    topics = [*s.topics.inputs(), *s.topics.outputs(), pt_sink]
    groups = [s.group_id, f"{run_id}-pt", f"{s.group_id}-collector", f"{s.group_id}-probe"]
    pars = (
        [parallel_settings(s, opts.processes, k) for k in range(opts.rounds)]
        if opts.processes > 1
        else []
    )
    for par in pars:
        groups += [par.group_id, f"{par.namespace}-pt"]
    load0 = os.getloadavg()
    ticks0 = cpu_ticks()
    t_bench = time.perf_counter()
    out(
        f"rater bench stream: run {run_id}, {os.cpu_count()} CPUs, load average "
        f"{load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}{_pressure()}"
    )
    for line in _settings_lines(s):
        out(line)
    note, rewrites0 = _servers(s, rclient)
    out(note)
    try:
        ensure_topics(s, s.partitions)
        admin = AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers})
        admin.create_topics(
            [NewTopic(pt_sink, num_partitions=s.partitions, replication_factor=1)],
            operation_timeout=30,
        )[pt_sink].result()
        _run(opts, s, pars, catalog, rclient, pt_sink, out)
    finally:
        namespaces = [s.namespace, *(par.namespace for par in pars)]
        for note in _cleanup(s, topics, groups, namespaces, rclient):
            out(note)
        load1 = os.getloadavg()
        _, rewrites1 = _servers(s, rclient)
        out(
            f"bench took {time.perf_counter() - t_bench:.0f} s; load average now "
            f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}{_pressure()}"
            f"{steal_note(ticks0, cpu_ticks())}; Redis rewrote its "
            f"AOF {max(0, rewrites1 - rewrites0)} times during the run"
        )


def parallel_settings(s: Settings, processes: int, round_: int = 0) -> Settings:
    """A round of the multi-process phase: its own group and Redis namespace, so that it
    rates the same backlog from the same starting state as the one-process phase."""
    return s.model_copy(
        update={
            "group_id": f"{s.group_id}-x{processes}-r{round_}",
            "namespace": f"{s.namespace}-x{processes}-r{round_}",
        }
    )


def _run(
    opts: Options,
    s: Settings,
    pars: list[Settings],
    catalog: Catalog,
    rclient: Any,
    pt_sink: str,
    out: Callable[[str], None],
) -> None:
    store = parallel.BenchStore(rclient, s.namespace)

    # 1. subscribers as commands: loaded in bulk (rater load --bulk) or applied by the
    # rater as they come; then the catch-up tick, applied by the rater
    days = opts.activated_days
    subs = gen_subscribers(catalog, opts.subscribers, START - days * 86_400_000, spread_days=days)
    cmds = to_commands(parse_subscribers({"subscribers": subs}))
    keys = account_keys(cmds)
    tune_gc(s.gc_gen0_threshold)  # as `rater run` and `rater load` do
    if opts.bulk_load:
        _bulk(opts, s, catalog, store, cmds, out)
    else:
        produce_commands(s, cmds)
    if opts.catch_up_tick:
        # A live system ticks daily: without this, each subscriber's first record also
        # catches up weeks of daily fees since activation (~30 extra fee events each).
        send_tick(s, START)
    loader = TimedRater(s, Rater(catalog, s.duplicate_window_ms), store)
    _measured(lambda: loader.run(drain=True), loader.timing, rclient, None)
    out(
        f"subscribers: {opts.subscribers:,} ("
        + ("the tick" if opts.bulk_load else f"{len(cmds):,} commands")
        + (
            (", then a tick at the workload's start" if not opts.bulk_load else "")
            if opts.catch_up_tick
            else ""
        )
        + f") applied by the rater in {loader.timing.total_s:.2f} s "
        f"(group join {loader.timing.join_s:.2f} s)"
    )
    for par in pars:
        t = parallel.run_parallel("rater", par, opts.processes, rclient)
        out(
            f"  and again by {opts.processes} processes in group {par.group_id} "
            f"(namespace {par.namespace}) in {t.total_s:.2f} s"
        )

    # 2. rater throughput
    t0 = time.perf_counter()
    records = list(gen_usage(catalog, subs, opts.records, START, END))
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    produce_usage(s, records, keys)
    out(
        f"usage: {opts.records:,} records generated in {t_gen:.1f} s, produced in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    tune_gc(s.gc_gen0_threshold)  # as `rater run` does; also freezes the bench's own data
    svc = TimedRater(s, Rater(catalog, s.duplicate_window_ms), store)
    prof = cProfile.Profile() if opts.profile else None
    _measured(lambda: svc.run(drain=True), svc.timing, rclient, prof)
    rater_t = svc.timing
    out("\n".join(rater_t.lines("rater throughput" + (" (under cProfile)" if prof else ""))))
    if prof is not None:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        out(buf.getvalue())

    # 3. passthrough throughput: the same records from the same topic, own group
    pt_t: Timing | None = None
    if opts.passthrough:
        pt = Passthrough(s, s.topics.usage, pt_sink, f"{s.namespace}-pt")
        _measured(lambda: pt.run(drain=True), pt.timing, rclient, None)
        pt_t = pt.timing
        out("\n".join(pt_t.lines("passthrough throughput")))

    # 4. both again with several processes, in rounds (rater, passthrough, rater, ...):
    # the same backlog from the same state each time; medians and per-round ratios take
    # the box's drift (other tenants, Kafka's log cleaner, AOF) out of the comparison.
    rounds: list[tuple[Timing, Timing | None]] = []
    n = opts.processes
    for k, par in enumerate(pars):
        tag = f"round {k + 1}/{len(pars)}"
        par_rater = parallel.run_parallel("rater", par, n, rclient)
        out("\n".join(par_rater.lines(f"rater, {n} processes, {tag} (go to drained)")))
        par_pt: Timing | None = None
        if opts.passthrough:
            par_pt = parallel.run_parallel(
                "passthrough", s, n, rclient, s.topics.usage, pt_sink, f"{par.namespace}-pt"
            )
            out("\n".join(par_pt.lines(f"passthrough, {n} processes, {tag} (go to drained)")))
        rounds.append((par_rater, par_pt))

    # 5. latency at a steady rate: a fraction of the one-process rater's drain rate, the
    # same offered load for both processors, after a warm-up that is not counted
    rater_lat: Latency | None = None
    pt_lat: Latency | None = None
    if opts.latency:
        rate = opts.rate_fraction * rater_t.rate_steady()
        n = max(1, int(rate * (opts.warmup_seconds + opts.latency_seconds)))
        fresh = gen_usage(catalog, subs, n, END, END + 6 * HOUR_MS, seed=3)
        items = [
            (keys.get(r.msisdn, r.msisdn).encode(), avro.encode_usage(r), r.record_id)
            for r in fresh
        ]
        live = TimedRater(s, Rater(catalog, s.duplicate_window_ms), store)
        start_rater, stop_rater = _in_thread("rater", lambda: live.run(), live.stop, live.assigned)

        rater_lat = _measure_latency(
            s,
            s.topics.usage,
            s.topics.charges,
            items,
            rate,
            start_rater,
            stop_rater,
            live.timing,
            opts.warmup_seconds,
        )
        out("\n".join(rater_lat.lines("rater")))
        out(first_touches(items, rater_lat.warmup))

        if pt_t is not None:
            items = [
                (
                    keys.get(r.msisdn, r.msisdn).encode(),
                    avro.encode_usage(dataclasses.replace(r, record_id=f"pt-{i}")),
                    f"pt-{i}",
                )
                for i, r in zip(range(n), _cycle(records), strict=False)
            ]
            pt2 = Passthrough(s, s.topics.usage, pt_sink, f"{s.namespace}-pt", True)
            start_pt, stop_pt = _in_thread(
                "passthrough", lambda: pt2.run(False), pt2.stop, pt2.assigned
            )

            pt_lat = _measure_latency(
                s,
                s.topics.usage,
                pt_sink,
                items,
                rate,
                start_pt,
                stop_pt,
                pt2.timing,
                opts.warmup_seconds,
            )
            out("\n".join(pt_lat.lines("passthrough")))

    # summary
    out("")
    out(_summary(s, rater_t, pt_t, rater_lat, pt_lat, rounds, opts.processes))


def _bulk(
    opts: Options,
    s: Settings,
    catalog: Catalog,
    store: TimedStore,
    cmds: list[Command],
    out: Callable[[str], None],
) -> None:
    """Phase 1 by `rater load --bulk`: sent, rated and written, timed."""
    t0 = time.perf_counter()
    res = bulk_load(s, Rater(catalog, s.duplicate_window_ms), store, cmds, opts.bulk_workers)
    took = time.perf_counter() - t0
    out(
        f"subscribers: {opts.subscribers:,} loaded in bulk in {took:.2f} s -> "
        f"{_rate(opts.subscribers, took):,.0f} subscribers/s ({res.commands:,} commands "
        f"sent, rated and written by {opts.bulk_workers} processes in "
        f"{res.seconds['apply']:.2f} s, of which waiting for the broker "
        f"{res.seconds['wait']:.2f} s; {res.outputs:,} events)"
    )


def _cycle(records: list[UsageRecord]) -> Iterator[UsageRecord]:
    while True:
        yield from records

"""`rater bench stream --processes N`: the same drain measured with N processes.

A Python process uses one core at most (the GIL), so an operator runs one rater process
per core (Kubernetes replicas, or `rater run --workers N` on one machine); all of them
are members of one consumer group and share the partitions. This phase measures that:
N spawned workers of the same kind (the real rater, or the passthrough) join one group,
hold their partitions paused until every worker has its share (a join or a rebalance is
not throughput), then drain the backlog together. The parent gives the go and times it
from the go to the last worker's drain.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from rater.bench.passthrough import Passthrough
from rater.bench.probes import _broker_cpu, _cpu, _redis_cpu
from rater.bench.timing import GcClock, TimedRater, TimedStore, Timing
from rater.catalog import load_catalog
from rater.config import Settings
from rater.core.engine import Rater
from rater.gc_tuning import tune_gc
from rater.store.base import PartitionCommit, SeenKeys
from rater.store.readahead import ReadAhead
from rater.store.redis import settings_client


class BenchStore(TimedStore):
    """`TimedStore` that also times the batch's reads made ahead in one round trip
    (rater.store.readahead), with the other Redis calls."""

    def read_ahead(self, wants: Mapping[int, tuple[list[str], SeenKeys]]) -> dict[int, ReadAhead]:
        t0 = time.perf_counter()
        try:
            return super().read_ahead(wants)
        finally:
            self.timing.redis_s += time.perf_counter() - t0

    def staged(self, partition: int, batch: PartitionCommit) -> Callable[[], dict[str, bytes]]:
        t0 = time.perf_counter()
        send = super().staged(partition, batch)
        self.timing.redis_s += time.perf_counter() - t0

        def timed() -> dict[str, bytes]:
            t1 = time.perf_counter()
            try:
                return send()
            finally:
                self.timing.redis_s += time.perf_counter() - t1

        return timed


@dataclass
class Gate:
    """Keeps a worker's partitions paused until the parent says go, and tells the parent
    what the worker was assigned (so it can wait for a stable group)."""

    go: Any  # multiprocessing.Event
    reports: Any  # multiprocessing.Queue
    index: int
    paused: bool = False

    def assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if not self.go.is_set():
            consumer.assign(partitions)  # done here, the client does not assign again
            consumer.pause(partitions)
            self.paused = True
        self.reports.put(("assigned", self.index, sorted({tp.partition for tp in partitions})))

    def revoked(self, partitions: list[TopicPartition]) -> None:
        self.reports.put(("revoked", self.index, sorted({tp.partition for tp in partitions})))

    def check(self, consumer: Consumer | None) -> None:
        """Called by the worker's loop: resume once the parent has said go."""
        if self.paused and consumer is not None and self.go.is_set():
            consumer.resume(consumer.assignment())
            self.paused = False


def _worker(
    kind: str, s: Settings, index: int, source: str, sink: str, group: str, gate: Gate
) -> None:
    """One worker process: the real rater or the passthrough, draining with a gate."""
    s = s.model_copy(update={"instance_id": f"{s.instance_id}-w{index}"})
    rclient: Any = settings_client(s)
    proc: TimedRater | Passthrough
    if kind == "rater":
        store = BenchStore(rclient, s.namespace)
        proc = TimedRater(s, Rater(load_catalog(s.catalog), s.duplicate_window_ms), store, gate)
    else:
        proc = Passthrough(s, source, sink, group, gate=gate)
    tune_gc(s.gc_gen0_threshold)
    timing = proc.timing
    timing.start = time.perf_counter()
    cpu0, tcpu0 = _cpu(), time.thread_time()
    with GcClock(timing):
        proc.run(True)
    timing.end = time.perf_counter()
    timing.cpu, timing.thread_cpu = _cpu() - cpu0, time.thread_time() - tcpu0
    gate.reports.put(("done", index, asdict(timing)))


def run_parallel(
    kind: str,
    s: Settings,
    n: int,
    rclient: Any,
    source: str = "",
    sink: str = "",
    group: str = "",
    join_timeout_s: float = 90.0,
    stable_s: float = 1.5,
) -> Timing:
    """Drain the backlog with `n` worker processes; one Timing summed over them (wall
    times: go to the last drain; CPU: the sum over workers)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with Kafka threads
    go = ctx.Event()
    reports = ctx.Queue()
    procs = [
        ctx.Process(
            target=_worker,
            args=(kind, s, i, source, sink, group, Gate(go, reports, i)),
            name=f"bench-{kind}-{i}",
            daemon=True,
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    try:
        owned: dict[int, set[int]] = {i: set() for i in range(n)}
        deadline = time.monotonic() + join_timeout_s
        last_change = time.monotonic()
        while True:
            try:
                what, i, parts = reports.get(timeout=0.2)
                if what == "assigned":
                    owned[i] |= set(parts)
                elif what == "revoked":
                    owned[i] -= set(parts)
                last_change = time.monotonic()
            except queue.Empty:
                pass
            spread = all(owned.values()) and set().union(*owned.values()) == set(
                range(s.partitions)
            )
            if spread and time.monotonic() - last_change >= stable_s:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{n} {kind} workers did not share the partitions: {owned}")
        cpu0, bcpu0 = _redis_cpu(rclient), _broker_cpu()
        t_go = time.perf_counter()
        go.set()
        done: list[Timing] = []
        while len(done) < n:
            try:
                what, i, payload = reports.get(timeout=5)
            except queue.Empty:
                dead = [p.name for p in procs if not p.is_alive() and p.exitcode != 0]
                if dead:
                    raise RuntimeError(f"worker(s) failed: {dead}") from None
                continue
            if what == "done":
                done.append(Timing(**payload))
        total = _sum(done, t_go)
        total.redis_cpu = _redis_cpu(rclient) - cpu0
        bcpu1 = _broker_cpu()
        if bcpu0 is not None and bcpu1 is not None:
            total.broker_cpu = bcpu1 - bcpu0
        return total
    finally:
        go.set()
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()


def _sum(parts: list[Timing], t_go: float) -> Timing:
    firsts = [t.first for t in parts if t.first is not None]
    lasts = [t.last for t in parts if t.last is not None]
    return Timing(
        start=t_go,
        assigned=t_go,
        first=min(firsts) if firsts else None,
        last=max(lasts) if lasts else None,
        end=max(t.end for t in parts),
        applied=sum(t.applied for t in parts),
        batches=sum(t.batches for t in parts),
        cpu=sum(t.cpu for t in parts),
        thread_cpu=sum(t.thread_cpu for t in parts),
        in_batches=sum(t.in_batches for t in parts),
        batch_cpu=sum(t.batch_cpu for t in parts),
        redis_s=sum(t.redis_s for t in parts),
        kafka_commit_s=sum(t.kafka_commit_s for t in parts),
        commit_wait_s=sum(t.commit_wait_s for t in parts),
        gc_s=sum(t.gc_s for t in parts),
        gc_runs=sum(t.gc_runs for t in parts),
    )

"""Timing the streaming rater in `rater bench stream`: the phases of a drain, the wall
time of its Redis calls and Kafka commits (a `StreamRater` and a `RedisStore` that
clock them), the garbage collector's pauses."""

from __future__ import annotations

import contextlib
import cProfile
import gc
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, Message, TopicPartition

from rater.bench.probes import (
    _broker_cpu,
    _cpu,
    _rate,
    _redis_cpu,
)
from rater.config import Settings
from rater.core.engine import Rater
from rater.core.state import Account
from rater.store.base import PartitionCommit, SeenKeys
from rater.store.redis import RedisStore
from rater.stream.processor import StreamRater

if TYPE_CHECKING:
    from rater.bench.parallel import Gate


@dataclass(slots=True)
class Timing:
    """One processor session: wall times (perf_counter) of its milestones."""

    start: float = 0.0
    assigned: float | None = None  # first partition assignment: group joined
    first: float | None = None  # start of the first batch with records
    last: float | None = None  # end of the last batch with records
    end: float = 0.0  # drained (or stopped)
    applied: int = 0
    batches: int = 0
    cpu: float = 0.0  # process CPU seconds during the session
    thread_cpu: float = 0.0  # CPU seconds of the thread running the loop (the Python part)
    in_batches: float = 0.0  # wall seconds inside batch processing (after consume())
    batch_cpu: float = 0.0  # CPU seconds of the loop thread inside batch processing
    redis_s: float = 0.0  # of which Redis calls (load + Lua commit), wall
    kafka_commit_s: float = 0.0  # send_offsets_to_transaction + commit, wall
    commit_wait_s: float = 0.0  # of which a next batch's first write waited for
    redis_cpu: float = 0.0
    broker_cpu: float | None = None
    gc_s: float = 0.0  # wall seconds in garbage collections (all threads)
    gc_runs: int = 0
    gc_by_generation: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    @property
    def join_s(self) -> float:
        return (self.assigned or self.start) - self.start

    @property
    def total_s(self) -> float:
        return self.end - self.start

    @property
    def steady_s(self) -> float:
        if self.first is None or self.last is None:
            return math.nan
        return self.last - self.first

    def rate_total(self) -> float:
        return _rate(self.applied, self.total_s)

    def rate_after_join(self) -> float:
        return _rate(self.applied, self.end - (self.assigned or self.start))

    def rate_steady(self) -> float:
        return _rate(self.applied, self.steady_s)

    def lines(self, name: str) -> list[str]:
        return [
            f"{name}: {self.applied:,} records in {self.total_s:.2f} s from start to drained "
            f"-> {self.rate_total():,.0f} records/s",
            f"  group join + init {self.join_s:.2f} s; after join "
            f"{self.rate_after_join():,.0f} records/s; first to last batch "
            f"{self.steady_s:.2f} s -> {self.rate_steady():,.0f} records/s "
            f"({self.batches} batches, {self.applied / max(self.batches, 1):,.0f} records each)"
            + (
                f"; join to first batch {self.first - (self.assigned or self.start):.2f} s, "
                f"last batch to drained {self.end - self.last:.2f} s"
                if self.first is not None and self.last is not None
                else ""
            ),
            f"  CPU: loop thread {self.thread_cpu:.2f} s "
            f"({self.thread_cpu / max(self.total_s, 1e-9):.0%} of wall), whole process "
            f"{self.cpu:.2f} s, redis-server {self.redis_cpu:.2f} s"
            + (f", Kafka broker {self.broker_cpu:.2f} s" if self.broker_cpu is not None else "")
            + f", garbage collection {self.gc_s:.2f} s ({self.gc_runs} runs; by generation "
            + " / ".join(f"{g:.2f}" for g in self.gc_by_generation)
            + " s)"
            + " -> "
            f"{_rate(self.applied, self.thread_cpu):,.0f} records per loop-thread CPU second",
            f"  wall: {self.in_batches:.2f} s in batches (of which RedisStore calls, "
            f"decoding the accounts included, {self.redis_s:.2f} s, "
            f"Kafka transaction commit {self.kafka_commit_s:.2f} s (the next batch's first "
            f"write waited {self.commit_wait_s:.2f} s of it), the rest decode/rate/"
            f"encode/produce), {self.total_s - self.in_batches:.2f} s outside "
            f"(start, join, consume(), drain checks)",
        ]


@contextlib.contextmanager
def _adding(timing: Timing, field_name: str) -> Iterator[None]:
    """Add the wall time of the block to one of the Timing's seconds."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        setattr(timing, field_name, getattr(timing, field_name) + time.perf_counter() - t0)


class TimedStore(RedisStore):
    """The real RedisStore, adding the wall time of its hot-path calls to a Timing."""

    def __init__(self, client: Any, namespace: str) -> None:
        super().__init__(client, namespace)
        self.timing = Timing()

    def load(
        self,
        partition: int,
        keys: Iterable[str],
        cold: dict[str, bytes] | None = None,
        with_seen: bool = False,
    ) -> dict[str, Account]:
        with _adding(self.timing, "redis_s"):
            return super().load(partition, keys, cold, with_seen)

    def seen_among(self, partition: int, wanted: SeenKeys) -> dict[str, dict[int, set[int]]]:
        with _adding(self.timing, "redis_s"):
            return super().seen_among(partition, wanted)

    def due_keys(self, partition: int, until: int, limit: int | None = None) -> list[str]:
        with _adding(self.timing, "redis_s"):
            return super().due_keys(partition, until, limit)

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        with _adding(self.timing, "redis_s"):
            return super().commit(partition, batch)


class TimedRater(StreamRater):
    """The real StreamRater, noting when it joined, when it applied records and how long
    its Redis calls and Kafka commits took."""

    def __init__(
        self, settings: Settings, rater: Rater, store: TimedStore, gate: Gate | None = None
    ) -> None:
        super().__init__(settings, rater, store)
        self.timing = Timing(start=time.perf_counter())
        store.timing = self.timing
        self.assigned = threading.Event()
        self.gate = gate

    def _commit_offsets(self, offsets: list[TopicPartition], group: object | None = None) -> None:
        with _adding(self.timing, "kafka_commit_s"):
            super()._commit_offsets(offsets, group)

    def _await_commit(self) -> None:
        with _adding(self.timing, "commit_wait_s"):
            super()._await_commit()

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        super()._on_assign(consumer, partitions)
        if self.gate is not None:
            self.gate.assigned(consumer, partitions)
        if self.timing.assigned is None:
            self.timing.assigned = time.perf_counter()
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        super()._on_revoke(consumer, partitions)
        if self.gate is not None:
            self.gate.revoked(partitions)

    def _recover(self) -> None:
        if self.gate is not None:
            self.gate.check(self.consumer)
        super()._recover()

    def process(self, msgs: list[Message]) -> int:
        t0, c0 = time.perf_counter(), time.thread_time()
        n = super().process(msgs)
        t = self.timing
        t.in_batches += time.perf_counter() - t0
        t.batch_cpu += time.thread_time() - c0
        if n:
            if t.first is None:
                t.first = t0
            t.last = time.perf_counter()
            t.applied += n
            t.batches += 1
        return n


class GcClock:
    """Wall time spent in garbage collections while installed (gc.callbacks)."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            took = time.perf_counter() - self._t0
            self.timing.gc_s += took
            self.timing.gc_runs += 1
            self.timing.gc_by_generation[info["generation"]] += took

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def _measured(
    run: Callable[[], None], timing: Timing, rclient: Any, profile: cProfile.Profile | None
) -> None:
    cpu0, tcpu0, rcpu0, bcpu0 = _cpu(), time.thread_time(), _redis_cpu(rclient), _broker_cpu()
    timing.start = time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        with GcClock(timing):
            run()
    finally:
        if profile is not None:
            profile.disable()
    timing.end = time.perf_counter()
    timing.cpu = _cpu() - cpu0
    timing.thread_cpu = time.thread_time() - tcpu0
    timing.redis_cpu = _redis_cpu(rclient) - rcpu0
    bcpu1 = _broker_cpu()
    if bcpu0 is not None and bcpu1 is not None:
        timing.broker_cpu = bcpu1 - bcpu0

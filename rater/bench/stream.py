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

Figures, not pass/fail. The load average and the kernel's CPU pressure are printed with
them: on a shared 2-core box other processes move the numbers.
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import gc
import io
import math
import multiprocessing
import os
import pstats
import resource
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from rater.bench.core import END, START
from rater.catalog import load_catalog
from rater.catalog.model import Catalog
from rater.codec import avro
from rater.config import Settings, Topics, load_settings
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, ChargeKind, Unit
from rater.core.inputs import UsageRecord, UsageType
from rater.core.state import Account
from rater.gc_tuning import tune_gc
from rater.store.base import PartitionCommit, SeenKeys
from rater.store.redis import RedisStore, settings_client
from rater.stream.kafka import (
    admin_config,
    at_end,
    caught_up,
    consumer_config,
    ensure_topics,
    leave_group,
    producer_config,
)
from rater.stream.processor import StreamRater
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

if TYPE_CHECKING:
    from rater.bench.parallel import Gate

PARTITIONS = 8  # default partitions per topic: room for 4 processes with 2 each
TARGET_RATE = 30_000  # records/s, from the issue
TARGET_RATIO = 0.5  # rater / passthrough
HOUR_MS = 3_600_000


# --- small helpers ------------------------------------------------------------------------


def _cpu() -> float:
    """CPU seconds of this process so far (all threads, librdkafka's included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _redis_cpu(client: Any) -> float:
    info: dict[str, Any] = client.info("cpu")
    if "used_cpu_user" not in info:  # a cluster client answers per node
        return sum(float(v["used_cpu_user"]) + float(v["used_cpu_sys"]) for v in info.values())
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _broker_cpu() -> float | None:
    """CPU seconds of a Kafka broker running on this machine (None if there is none):
    on a small box the broker is the processors' main competitor for the cores."""
    total = None
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"kafka.Kafka" not in stat.read_bytes():
                continue
            fields = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total = (total or 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _pressure() -> str:
    """The kernel's CPU pressure: share of time some runnable task waited for a CPU."""
    try:
        with open("/proc/pressure/cpu") as f:
            some = f.readline().split()
        return f", CPU pressure {float(some[1].split('=')[1]):.0f}% (avg10)"
    except (OSError, IndexError, ValueError):
        return ""


def _servers(s: Settings, rclient: Any) -> tuple[str, int]:
    """What else the local servers hold, and Redis' AOF rewrite count so far: thousands of
    leftover topics or keys from other runs cost the broker and Redis CPU (an AOF rewrite
    forks and copies the whole dataset), which shows up as scatter between runs."""
    try:
        topics = len(AdminClient(admin_config(s)).list_topics(timeout=10).topics)
        keys = int(rclient.dbsize()) if not s.redis_cluster else -1
        rewrites = int(rclient.info("persistence").get("aof_rewrites", 0))
    except Exception as e:  # a figure for the reader, never a reason to fail the bench
        return f"servers: not read ({e})", 0
    note = f"servers: {topics:,} topics on the broker" + (
        f", {keys:,} keys in Redis" if keys >= 0 else ""
    )
    if topics > 500 or keys > 100_000:
        note += " (leftovers of other runs? they slow Kafka and Redis down and scatter results)"
    return note, rewrites


def _pct(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.nan


def _high_watermarks(s: Settings, topic: str, partitions: int) -> dict[int, int]:
    c = Consumer(consumer_config(s, group_id=f"{s.group_id}-probe"))
    try:
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in range(partitions)
        }
    finally:
        c.close()


def _produce_all(p: Producer, topic: str, items: Iterator[tuple[bytes, bytes]]) -> int:
    n = 0
    for key, value in items:
        while True:
            try:
                p.produce(topic, value, key)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
    if p.flush(60):
        raise RuntimeError("usage records not delivered to Kafka")
    return n


# --- timing of the processors -------------------------------------------------------------


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
    commit_wait_s: float = 0.0  # of which the loop waited for (the rest overlapped)
    redis_cpu: float = 0.0
    broker_cpu: float | None = None
    gc_s: float = 0.0  # wall seconds in garbage collections (all threads)
    gc_runs: int = 0

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
            + f", garbage collection {self.gc_s:.2f} s ({self.gc_runs} runs)"
            + " -> "
            f"{_rate(self.applied, self.thread_cpu):,.0f} records per loop-thread CPU second",
            f"  wall: {self.in_batches:.2f} s in batches (of which RedisStore calls, "
            f"account JSON included, {self.redis_s:.2f} s, "
            f"Kafka transaction commit {self.kafka_commit_s:.2f} s (the loop waited "
            f"{self.commit_wait_s:.2f} s of it), the rest decode/rate/"
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

    def due_keys(self, partition: int, until: int) -> list[str]:
        with _adding(self.timing, "redis_s"):
            return super().due_keys(partition, until)

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

    def _commit_offsets(
        self, offsets: dict[tuple[str, int], int], group: object | None = None
    ) -> None:
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
            self.timing.gc_s += time.perf_counter() - self._t0
            self.timing.gc_runs += 1

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


# --- the passthrough ---------------------------------------------------------------------


def passthrough_event(rec: UsageRecord, account: str) -> ChargeEvent:
    """A charge event for a record, with no rating at all."""
    data = rec.usage_type == UsageType.DATA
    return ChargeEvent(
        event_id=f"pt:{rec.record_id}",
        msisdn=rec.msisdn,
        account=account,
        event_time=rec.start_time,
        cycle="",
        catalog_version="passthrough",
        kind=ChargeKind.USAGE,
        record_id=rec.record_id,
        usage_type=rec.usage_type,
        product=None,
        quantity=rec.uplink_bytes + rec.downlink_bytes if data else rec.duration_s,
        unit=Unit.BYTES if data else Unit.MINUTES,
        draws=(),
        overage=0,
        free=0,
        fen=0,
        reason="",
    )


class Passthrough:
    """Consume -> decode -> encode one event -> produce, in Kafka transactions with the
    consumer offsets: the rater's loop with the rating and the Redis step taken out."""

    def __init__(
        self,
        s: Settings,
        source: str,
        sink: str,
        group: str,
        start_at_end: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.s = s
        self.gate = gate
        self.source = source
        self.sink = sink
        self.group = group
        self.start_at_end = start_at_end
        self.admin: AdminClient | None = None
        self.applied: dict[tuple[str, int], int] = {}  # committed next offsets it owns
        self.stop = threading.Event()
        self.assigned = threading.Event()
        self.timing = Timing(start=time.perf_counter())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.start_at_end:
            for tp in partitions:
                tp.offset = consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            consumer.assign(partitions)
        if self.gate is not None:
            self.gate.assigned(consumer, partitions)
        if self.timing.assigned is None:
            self.timing.assigned = time.perf_counter()
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.applied.pop((tp.topic, tp.partition), None)  # others may move it on
        if self.gate is not None:
            self.gate.revoked(partitions)

    def run(self, drain: bool) -> None:
        s = self.s
        producer = Producer(producer_config(s, f"{self.group}-{s.instance_id}"))
        producer.init_transactions(30)
        consumer = Consumer(consumer_config(s, group_id=self.group))
        consumer.subscribe([self.source], on_assign=self._on_assign, on_revoke=self._on_revoke)
        encode, decode = avro.encode_event, avro.decode_usage
        sink, t = self.sink, self.timing
        try:
            while not self.stop.is_set():
                msgs = consumer.consume(s.batch_size, s.batch_timeout_s)
                if self.gate is not None:
                    self.gate.check(consumer)
                if not msgs:
                    if drain and self._drained(consumer):
                        return
                    continue
                t0, c0 = time.perf_counter(), time.thread_time()
                offsets: dict[int, int] = {}
                producer.begin_transaction()
                n = 0
                for m in msgs:
                    if m.error() is not None:
                        continue
                    key = m.key() or b""
                    rec = decode(m.value() or b"")
                    value = encode(passthrough_event(rec, key.decode()))
                    try:
                        producer.produce(sink, value, key)
                    except BufferError:
                        producer.poll(0.05)
                        producer.produce(sink, value, key)
                    offsets[m.partition() or 0] = (m.offset() or 0) + 1
                    n += 1
                t1 = time.perf_counter()
                producer.send_offsets_to_transaction(
                    [TopicPartition(self.source, p, o) for p, o in offsets.items()],
                    consumer.consumer_group_metadata(),
                    30,
                )
                producer.commit_transaction(30)
                self.applied.update({(self.source, p): o for p, o in offsets.items()})
                t.kafka_commit_s += time.perf_counter() - t1
                t.commit_wait_s += time.perf_counter() - t1  # no overlap here
                t.in_batches += time.perf_counter() - t0
                t.batch_cpu += time.thread_time() - c0
                if t.first is None:
                    t.first = t0
                t.last = time.perf_counter()
                t.applied += n
                t.batches += 1
                if (
                    drain
                    and len(msgs) < s.batch_size
                    and caught_up(consumer, self.applied)
                    and self._drained(consumer)
                ):
                    return  # the same early end as the rater's loop
        finally:
            leave_group(consumer)
            consumer.close()
            producer.flush(10)

    def _drained(self, consumer: Consumer) -> bool:
        """Every partition of the source committed to its end by this group (also those
        of other workers of a multi-process run): the shared check of `rater run`."""
        if not consumer.assignment():
            return False
        if self.admin is None:
            self.admin = AdminClient(admin_config(self.s))
        return at_end(consumer, self.admin, [self.source], self.applied)


# --- latency ------------------------------------------------------------------------------


@dataclass(slots=True)
class Latency:
    rate: float  # target produce rate, records/s
    produced: int = 0
    produce_s: float = 0.0
    samples: list[float] = field(default_factory=list)  # seconds, sorted
    unmatched: int = 0
    warmup: int = 0  # records of the warm-up, not in the samples
    first_third_p50: float = math.nan  # of the records produced in the phase's first third
    last_third_p50: float = math.nan  # ... and last third: growing means falling behind
    batches: int = 0  # the processor's batches with records during the phase
    applied: int = 0
    in_batches: float = 0.0  # the processor's wall seconds inside batches
    batch_cpu: float = 0.0  # ... and its thread's CPU seconds there
    redis_s: float = 0.0  # ... of which RedisStore calls (account JSON included)

    def lines(self, name: str) -> list[str]:
        s = self.samples
        if not s:
            return [f"{name} latency: no samples"]
        return [
            f"{name} latency (produce -> committed event, {self.produced:,} records at "
            f"{_rate(self.produced, self.produce_s):,.0f}/s for {self.produce_s:.1f} s, "
            f"the first {self.warmup:,} not counted (warm-up), "
            f"{len(s):,} events): p50 {_pct(s, 0.5) * 1000:.0f} ms, "
            f"p99 {_pct(s, 0.99) * 1000:.0f} ms, max {s[-1] * 1000:.0f} ms",
            f"  p50 of the first third {self.first_third_p50 * 1000:.0f} ms, of the last "
            f"third {self.last_third_p50 * 1000:.0f} ms"
            + (" (falling behind)" if self.last_third_p50 > 2 * self.first_third_p50 else "")
            + f"; {self.batches} batches, {self.applied / max(self.batches, 1):,.0f} "
            f"records each, {self.in_batches:.2f} s in batches (loop thread CPU "
            f"{self.batch_cpu:.2f} s, RedisStore {self.redis_s:.2f} s) -> "
            f"{_rate(self.applied, self.in_batches):,.0f} records/s while busy",
        ]


class _Collector(threading.Thread):
    """A read_committed consumer of an output topic: receive time per record_id."""

    def __init__(self, s: Settings, topic: str, start: Mapping[int, int]) -> None:
        super().__init__(name="bench-collector", daemon=True)
        self.s = s
        self.topic = topic
        self.start_offsets = dict(start)
        self.stop = threading.Event()
        self.received: dict[str, float] = {}
        self.last_receive = time.perf_counter()
        self.ready = threading.Event()

    def run(self) -> None:
        c = Consumer(consumer_config(self.s, group_id=f"{self.s.group_id}-collector"))
        c.assign([TopicPartition(self.topic, p, o) for p, o in self.start_offsets.items()])
        self.ready.set()
        got, decode = self.received, avro.decode_event
        try:
            while not self.stop.is_set():
                msgs = c.consume(1000, 0.1)
                now = time.perf_counter()
                for m in msgs:
                    if m.error() is not None:
                        continue
                    ev = decode("charge", m.value() or b"")
                    rid = ev.record_id if isinstance(ev, ChargeEvent) else None
                    if rid is not None and rid not in got:
                        got[rid] = now
                if msgs:
                    self.last_receive = now
        finally:
            c.close()


def _pace(
    s: Settings,
    topic: str,
    items: Sequence[tuple[bytes, bytes, str]],
    rate: float,
    sent: dict[str, float],
) -> float:
    """Produce `items` (key, value, record_id) at `rate` per second; returns the seconds
    it took. `sent` gets each record id's produce time (perf_counter)."""
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    produce = p.produce
    t0 = time.perf_counter()
    i, n = 0, len(items)
    while i < n:
        now = time.perf_counter()
        due = min(n, int((now - t0) * rate) + 1)
        while i < due:
            key, value, rid = items[i]
            if rid not in sent:
                sent[rid] = time.perf_counter()
            try:
                produce(topic, value, key)
            except BufferError:
                p.poll(0.05)
                produce(topic, value, key)
            i += 1
        p.poll(0)
        time.sleep(0.002)
    elapsed = time.perf_counter() - t0
    p.flush(30)
    return elapsed


def _load_generator(
    s: Settings,
    source: str,
    sink: str,
    items: Sequence[tuple[bytes, bytes, str]],
    rate: float,
    go: Any,
    conn: Any,
    quiet_s: float,
    cap_s: float,
) -> None:
    """Child process: the steady-rate producer and the output collector, kept out of the
    measured process so that they take no GIL time from the processor. Sends "ready",
    waits for `go`, then sends (produce seconds, [(produce time, latency), ...])."""
    collector = _Collector(s, sink, _high_watermarks(s, sink, s.partitions))
    collector.start()
    collector.ready.wait(30)
    conn.send("ready")
    go.wait(120)
    sent: dict[str, float] = {}
    produce_s = _pace(s, source, items, rate, sent)
    deadline = time.monotonic() + cap_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if (
            len(collector.received) >= len(sent)
            or time.perf_counter() - collector.last_receive > quiet_s
        ):
            break
    collector.stop.set()
    collector.join(30)
    got = collector.received
    conn.send((produce_s, sorted((t, got[r] - t) for r, t in sent.items() if r in got)))
    conn.close()


def _in_thread(
    name: str, run: Callable[[], None], stop: threading.Event, assigned: threading.Event
) -> tuple[Callable[[], None], Callable[[], None]]:
    """Start and stop functions for a processor run in a thread of this process."""
    thread = threading.Thread(target=run, name=f"bench-{name}", daemon=True)

    def start() -> None:
        thread.start()
        if not assigned.wait(60):
            raise RuntimeError(f"{name} did not join its group in 60 s")

    def halt() -> None:
        stop.set()
        if thread.ident is not None:
            thread.join(60)

    return start, halt


def _measure_latency(
    s: Settings,
    source: str,
    sink: str,
    items: Sequence[tuple[bytes, bytes, str]],
    rate: float,
    start_processor: Callable[[], None],
    stop_processor: Callable[[], None],
    timing: Timing,
    warmup_s: float = 0.0,
    quiet_s: float = 2.0,
    cap_s: float = 30.0,
) -> Latency:
    """Latency of the records produced after the first `warmup_s` seconds: the processor
    starts fresh (empty account cache, new connections), as after a deploy, and that
    start is not its steady state."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with Kafka threads
    here, there = ctx.Pipe()
    go = ctx.Event()
    child = ctx.Process(
        target=_load_generator,
        args=(s, source, sink, items, rate, go, there, quiet_s, cap_s),
        name="bench-load",
        daemon=True,
    )
    child.start()
    res = Latency(rate=rate, produced=len(items))
    timed: list[tuple[float, float]] = []
    try:
        if not here.poll(60) or here.recv() != "ready":
            raise RuntimeError("load generator did not start")
        start_processor()
        go.set()
        if not here.poll(len(items) / rate + cap_s + 60):
            raise RuntimeError("load generator did not finish")
        res.produce_s, timed = here.recv()
    finally:
        stop_processor()
        child.join(30)
        if child.is_alive():
            child.kill()
    if timed:
        warm = timed[0][0] + warmup_s
        res.warmup = sum(1 for t, _ in timed if t < warm)
        timed = [(t, lat) for t, lat in timed if t >= warm]
    res.samples = sorted(lat for _, lat in timed)
    res.unmatched = len(items) - res.warmup - len(res.samples)
    if timed:
        t0, t1 = timed[0][0], timed[-1][0]
        third = (t1 - t0) / 3
        res.first_third_p50 = _pct(sorted(lat for t, lat in timed if t <= t0 + third), 0.5)
        res.last_third_p50 = _pct(sorted(lat for t, lat in timed if t >= t1 - third), 0.5)
    res.batches, res.applied = timing.batches, timing.applied
    res.in_batches, res.batch_cpu = timing.in_batches, timing.batch_cpu
    res.redis_s = timing.redis_s
    return res


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
    passthrough: bool = True
    latency: bool = True
    processes: int = 4  # > 1: also drain the backlog with this many processes
    rounds: int = 3  # of the N-process phase (rater, then passthrough), for medians
    partitions: int = PARTITIONS


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
            f"{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}{_pressure()}; Redis rewrote its "
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
    from rater.bench import parallel  # it imports this module

    store = TimedStore(rclient, s.namespace)

    # 1. subscribers as commands, applied by the rater
    subs = gen_subscribers(catalog, opts.subscribers, START - 40 * 86_400_000)
    cmds = to_commands(parse_subscribers({"subscribers": subs}))
    keys = account_keys(cmds)
    produce_commands(s, cmds)
    if opts.catch_up_tick:
        # A live system ticks daily: without this, each subscriber's first record also
        # catches up weeks of daily fees since activation (~30 extra fee events each).
        send_tick(s, START)
    loader = TimedRater(s, Rater(catalog, s.duplicate_window_ms), store)
    _measured(lambda: loader.run(drain=True), loader.timing, rclient, None)
    out(
        f"subscribers: {opts.subscribers:,} ({len(cmds):,} commands"
        + (", then a tick at the workload's start" if opts.catch_up_tick else "")
        + f") applied in {loader.timing.total_s:.2f} s "
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


def _spread(xs: Sequence[float]) -> str:
    return f"{min(xs):,.0f} - {max(xs):,.0f}" if len(xs) > 1 else "one round"


def _cycle(records: list[UsageRecord]) -> Iterator[UsageRecord]:
    while True:
        yield from records


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

"""The latency phase of `rater bench stream`: a load generator in a child process
produces at a steady rate while the processor runs here, and a read_committed consumer
records each event's delay after its input record."""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from rater.bench.probes import (
    _high_watermarks,
    _pct,
    _rate,
)
from rater.bench.timing import Timing
from rater.codec import avro
from rater.config import Settings
from rater.core.events import ChargeEvent
from rater.stream.kafka import (
    consumer_config,
    producer_config,
)


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
    redis_s: float = 0.0  # ... of which RedisStore calls (decoding accounts included)
    kafka_commit_s: float = 0.0  # the transactions' commits, on the committer thread
    commit_wait_s: float = 0.0  # ... of which the next batch waited for

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
            f"  Kafka commits (producing flushed, offsets sent, transaction ended) took "
            f"{self.kafka_commit_s / max(self.batches, 1) * 1000:.0f} ms a batch on the "
            f"committer thread; the next batch waited "
            f"{self.commit_wait_s / max(self.batches, 1) * 1000:.0f} ms a batch for them",
        ]


# the collector's consume() timeout: the most a receive time can be late by
COLLECT_WAIT_S = 0.005


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
                # consume() returns when it has its count or at its timeout, not when the
                # first message is there: each event's receive time is late by up to the
                # timeout (a 0.1 s timeout added 0 - 100 ms to every measured latency)
                msgs = c.consume(1000, COLLECT_WAIT_S)
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
    res.kafka_commit_s, res.commit_wait_s = timing.kafka_commit_s, timing.commit_wait_s
    return res


def first_touches(items: list[tuple[bytes, bytes, str]], warmup: int) -> str:
    """How many measured records were their account's first since the processor started:
    each read its account from Redis into the cache, as after a deploy. With many
    subscribers a short warm-up leaves most accounts cold, and the percentiles then
    measure the cache filling, not the steady state."""
    seen = {key for key, _, _ in items[:warmup]}
    measured = items[warmup:]
    first = 0
    for key, _, _ in measured:
        if key not in seen:
            seen.add(key)
            first += 1
    share = first / len(measured) if measured else 0.0
    return (
        f"  {share * 100:.0f}% of the measured records were their account's first since the "
        "start (read from Redis into the cache, as after a deploy)"
        + ("; a longer --warmup-seconds measures the steady state" if share > 0.05 else "")
    )

"""Small measurements for `rater bench stream`: CPU time of this process, Redis and a
local broker, the kernel's CPU pressure, the hypervisor's steal, what the servers hold,
percentiles, rates, topic ends, producing a batch."""

from __future__ import annotations

import math
import os
import resource
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from rater.config import Settings
from rater.stream.kafka import (
    admin_config,
    consumer_config,
)


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


def cpu_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(stolen, all) clock ticks of the box's CPUs so far, from the kernel's `cpu` line;
    None where there is no /proc/stat."""
    try:
        with stat.open() as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice: inside user]
    if len(fields) < 8:
        return None
    return fields[7], sum(fields[:8])


def steal_note(start: tuple[int, int] | None, end: tuple[int, int] | None) -> str:
    """The share of the box's CPU time the hypervisor gave to other guests between two
    `cpu_ticks`: on a shared virtual machine it makes every figure slower, and says
    when a run's figures are not comparable with another's."""
    if start is None or end is None or end[1] <= start[1]:
        return ""
    share = (end[0] - start[0]) / (end[1] - start[1])
    return f", CPU stolen by the hypervisor {share * 100:.0f}%"


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

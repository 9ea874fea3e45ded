"""`rater bench state`: the Redis memory a subscriber costs at the end of a cycle.

A sample of subscribers is rated through the real pipeline into the real Redis store
(a namespace of its own, removed at the end): their activations, then `days` of usage
at `records_per_day` records a day each, in time order. Then every key of the
namespace is measured with MEMORY USAGE (what Redis holds for the key, its name and
value included), grouped by kind, and divided by the subscribers. `used_memory` before
and after is printed beside it as a check (it also counts Redis' own tables, and
anything else writing to the server meanwhile).

Only the duplicate buckets grow with the records, and only over the window: run it
with two cycle lengths to see that the figure does not follow `days`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from rater.bench.core import step
from rater.catalog.model import Catalog
from rater.core.cycles import DAY_MS, HOUR_MS, to_ms
from rater.core.engine import Rater
from rater.jobs.offline import OfflineRun
from rater.progress import Progress
from rater.store.redis import RedisStore, redis_client
from rater.stream.tools import delete_namespace
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage

START = to_ms("2026-04-01T00:00:00+08:00")
TARGET_BYTES = 4096  # per subscriber at 100 records a day over 30 days (issue 11)

# key kind by the part after the hash tag: {ns:p}:<kind>[:...]
_KINDS = {
    "a": "accounts (cold part)",
    "h": "hot counters",
    "seen": "duplicate buckets",
    "due": "due times",
    "dir": "directory",
    "wm": "watermark and last outputs",
    "epoch": "owner epochs",
}


def _kind(key: bytes) -> str:
    rest = key[key.index(b"}") + 2 :].decode()
    return _KINDS.get(rest.split(":", 1)[0], "other")


def measure(client: Any, namespace: str) -> tuple[Counter[str], Counter[str]]:
    """Bytes and keys of every key of `namespace`, by kind (MEMORY USAGE, all samples)."""
    names = list(client.scan_iter(match=f"{{{namespace}:*}}:*", count=1000))
    size: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for i in range(0, len(names), 1000):
        chunk = names[i : i + 1000]
        pipe = client.pipeline(transaction=False)
        for name in chunk:
            pipe.memory_usage(name, samples=0)
        for name, used in zip(chunk, pipe.execute(), strict=True):
            size[_kind(name)] += int(used or 0)
            count[_kind(name)] += 1
    return size, count


def run(
    catalog: Catalog,
    redis_url: str,
    n_subscribers: int,
    days: int,
    records_per_day: int,
    window_hours: int,
    partitions: int = 4,
    cluster: bool = False,
) -> str:
    client = redis_client(redis_url, cluster)
    # every key carries the namespace: one as short as the default ("rater"), so that
    # the figure is what a deployment's keys cost
    namespace = f"bs{uuid.uuid4().hex[:4]}"
    store = RedisStore(client, namespace)
    n_records = n_subscribers * days * records_per_day
    step(
        f"bench state: {n_subscribers} subscribers, {days} days x {records_per_day} records "
        f"a day ({n_records} records), window {window_hours} h, namespace {namespace}"
    )
    subs = gen_subscribers(catalog, n_subscribers, START - DAY_MS, spread_days=1)
    commands = list(to_commands(parse_subscribers({"subscribers": subs})))
    before = int(client.info("memory")["used_memory"])
    t0 = time.perf_counter()
    try:
        with Path("/dev/null").open("wb") as sink:
            job = OfflineRun(
                Rater(catalog, window_hours * HOUR_MS),
                sink,
                partitions=partitions,
                target=store,
            )
            job.commands(commands)
            records = gen_usage(catalog, subs, n_records, START, START + days * DAY_MS)
            with Progress("rating into Redis", n_records) as bar:
                job.usage(_counted(records, bar))
        elapsed = time.perf_counter() - t0
        size, count = measure(client, namespace)
        after = int(client.info("memory")["used_memory"])
    finally:
        delete_namespace(client, namespace)
    total = sum(size.values())
    per_sub = total / n_subscribers
    lines = [
        f"bench state: {n_subscribers} subscribers, {days} days x {records_per_day} records "
        f"a day = {n_records} records rated into Redis in {elapsed:.1f} s "
        f"({n_records / elapsed:,.0f} records/s), duplicate window {window_hours} h",
        f"{'kind':<28}{'keys':>10}{'bytes':>14}{'bytes/subscriber':>18}",
    ]
    for kind, b in size.most_common():
        lines.append(f"{kind:<28}{count[kind]:>10}{b:>14,}{b / n_subscribers:>18,.0f}")
    lines += [
        f"{'all keys (MEMORY USAGE)':<28}{sum(count.values()):>10}{total:>14,}{per_sub:>18,.0f}",
        f"used_memory after - before: {after - before:,} bytes "
        f"({(after - before) / n_subscribers:,.0f} per subscriber; Redis' own tables and "
        "other clients included)",
        f"target: at most {TARGET_BYTES} bytes per subscriber at 100 records a day over 30 days",
        f"{per_sub:.0f} bytes per subscriber",
    ]
    return "\n".join(lines)


def _counted(records: Any, bar: Progress) -> Any:
    for n, rec in enumerate(records, 1):
        if n % 10_000 == 0:
            bar.update(n, n)
        yield rec

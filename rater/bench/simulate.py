"""`rater bench simulate`: `rater simulate` on a large usage file against the rating core
alone on the same records, in one run, with the simulator's peak memory.

The core figure is `rater bench core`'s loop (records already decoded, in memory, no
output); the simulator's is the whole command as a user runs it (reading and checking
JSON lines, routing, ordering, rating, writing events). Peak memory is measured at two
file sizes: it should follow the subscribers, not the records.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import orjson
import yaml

from rater.bench.core import END, START, step
from rater.catalog.model import Catalog
from rater.codec.jsonl import usage_to_json
from rater.core.engine import Rater
from rater.core.inputs import NewSubscriber, UsageRecord
from rater.core.state import Account
from rater.gc_tuning import tune_gc
from rater.routing import account_key
from rater.subscribers import to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage


def _write_inputs(
    catalog: Catalog, n_subscribers: int, n_records: int, folder: Path
) -> tuple[Path, Path, list[UsageRecord]]:
    # activated the day before the usage: a running rater's daily ticks have charged the
    # fees of earlier days already, so the first record of each line does not catch up
    # on weeks of them (which would make the bench mostly about fee events)
    subs = gen_subscribers(catalog, n_subscribers, START - 86_400_000, spread_days=1)
    subs_path = folder / f"bench-subscribers-{n_subscribers}.yaml"
    subs_path.write_text(yaml.safe_dump({"subscribers": subs}, sort_keys=False))
    records = list(gen_usage(catalog, subs, n_records, START, END))
    usage_path = folder / f"bench-usage-{n_subscribers}-{n_records}.jsonl"
    with usage_path.open("wb") as f:
        for r in records:
            f.write(orjson.dumps(usage_to_json(r), option=orjson.OPT_APPEND_NEWLINE))
    return subs_path, usage_path, records


def _core_rate(catalog: Catalog, subs_path: Path, records: list[UsageRecord]) -> float:
    """Records/s of the core alone on these records (as `rater bench core`)."""
    from rater.subscribers import load_subscribers

    rater = Rater(catalog)
    accounts: dict[str, Account] = {}
    directory: dict[str, str] = {}
    for c in to_commands(load_subscribers(subs_path)):
        key = account_key(c, directory)
        outcome = rater.apply(accounts.get(key), c)
        if isinstance(c, NewSubscriber) and outcome.account is not None:
            accounts[key] = outcome.account
            directory[c.msisdn] = key
    tune_gc(50_000)  # as every job does (rater run, rater simulate)
    t0 = time.perf_counter()
    for rec in records:
        rater.apply(accounts.get(directory.get(rec.msisdn, rec.msisdn)), rec)
    return len(records) / (time.perf_counter() - t0)


def _simulate(
    catalog_path: Path, subs_path: Path, usage_path: Path, out: Path
) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of `rater simulate` as a user runs it."""
    cmd = [
        sys.executable,
        "-m",
        "rater.cli",
        "simulate",
        "--catalog",
        str(catalog_path),
        "--subscribers",
        str(subs_path),
        "--usage",
        str(usage_path),
        "--out",
        str(out),
        "--dead-letters",
        str(out.with_suffix(".dead.jsonl")),
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before)


def run(catalog_path: Path, catalog: Catalog, n_subscribers: int, n_records: int) -> str:
    folder = Path("var")
    folder.mkdir(exist_ok=True)
    lines = [f"inputs: {n_subscribers} subscribers, {n_records} records (writing them)"]
    step(f"bench simulate: writing {n_subscribers} subscribers and {n_records} records to {folder}")
    subs_path, usage_path, records = _write_inputs(catalog, n_subscribers, n_records, folder)
    quarter = folder / f"bench-usage-{n_subscribers}-{n_records // 4}.jsonl"
    with usage_path.open("rb") as src, quarter.open("wb") as dst:
        for i, line in enumerate(src):
            if i >= n_records // 4:
                break
            dst.write(line)
    step("bench simulate: the core alone on the records")
    core = _core_rate(catalog, subs_path, records)
    del records
    out = folder / "bench-simulate-events.jsonl"
    # the small file first: RUSAGE_CHILDREN keeps the largest child's peak
    step(f"bench simulate: rater simulate on {n_records // 4} records, then on {n_records}")
    small_s, small_kib = _simulate(catalog_path, subs_path, quarter, out)
    big_s, big_kib = _simulate(catalog_path, subs_path, usage_path, out)
    sim = n_records / big_s
    lines += [
        f"rating core alone: {core:,.0f} records/s",
        f"rater simulate:    {sim:,.0f} records/s ({big_s:.1f} s for the whole command, "
        f"start-up, reading and writing included)",
        f"ratio simulate / core: {sim / core:.2f} (target >= 0.80)",
        f"peak memory of rater simulate: {small_kib / 1024:,.0f} MiB at {n_records // 4} records, "
        f"{big_kib / 1024:,.0f} MiB at {n_records} records ({small_s:.1f} s, {big_s:.1f} s)",
    ]
    return "\n".join(lines)

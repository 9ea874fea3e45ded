"""`rater bench simulate`: `rater simulate` on a large usage file against the rating core
alone on the same records, in one run, with the simulator's peak memory.

The core figure is `rater bench core`'s loop (records already decoded, in memory, no
output, one process, the offline jobs' garbage-collector setting). The simulator's are
the command as a user runs it, in as many processes as it takes by default: its rating
(reading and checking JSON lines, routing, ordering, rating, writing events, as
`rater simulate` reports it on its last line) and the whole command (start-up, reading
the subscribers file, included). Peak memory, summed over the processes, is measured at
two file sizes: it should follow the subscribers, not the records.

The core and the command run in turn, `rounds` times, and the figure is the median of
each round's ratio: on a shared box the speed drifts by a fifth within minutes, and a
core timed once, before the command, would carry that drift into the ratio.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml

from rater.bench.core import END, START, step, subscribe
from rater.catalog.model import Catalog
from rater.codec.jsonl import usage_to_json
from rater.core.engine import Rater
from rater.core.inputs import UsageRecord
from rater.gc_tuning import offline_gc
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
    """Records/s of the core alone on the inputs the job rates: the subscribers'
    commands, then the records (as `rater bench core`, which leaves the commands out of
    its timing; the job's own rating time has them, so the core's here does too)."""
    from rater.subscribers import load_subscribers

    rater = Rater(catalog)
    commands = to_commands(load_subscribers(subs_path))
    with offline_gc():  # as `rater simulate` rates
        t0 = time.perf_counter()
        accounts, directory = subscribe(rater, commands)
        for rec in records:
            rater.apply(accounts.get(directory.get(rec.msisdn, rec.msisdn)), rec)
        return len(records) / (time.perf_counter() - t0)


@dataclass(frozen=True)
class Run:
    """One `rater simulate` command, as its last line and a clock tell."""

    whole_s: float  # the command, start-up included
    records: int
    rating_s: float  # its own figure: from the first usage line to the last output
    workers: int
    peak_mib: int  # summed over its processes

    @property
    def rate(self) -> float:
        return self.records / self.rating_s


COST = re.compile(
    r"rating: ([\d,]+) records in ([\d.]+) s = [\d,]+ records/s "
    r"\((\d+) process(?:es)?; peak memory ([\d,]+) MiB in all\)"
)


def _simulate(
    catalog_path: Path, subs_path: Path, usage_path: Path, out: Path, workers: int
) -> Run:
    """`rater simulate` as a user runs it (`--workers 0`: as many processes as it takes
    by default)."""
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
        "--workers",
        str(workers),
    ]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, check=True, stderr=subprocess.PIPE, text=True)
    return read_cost(time.perf_counter() - t0, done.stderr)


def read_cost(whole_s: float, stderr: str) -> Run:
    """The run as its last line (`rater.jobs.summary.cost_line`) and the clock tell."""
    found = COST.search(stderr)
    if found is None:
        raise RuntimeError(f"the command did not report its cost:\n{stderr[-2000:]}")
    n, secs, procs, mib = found.groups()
    return Run(whole_s, int(n.replace(",", "")), float(secs), int(procs), int(mib.replace(",", "")))


def rounds_of(
    core: Callable[[], float], job: Callable[[], Run], rounds: int
) -> tuple[list[str], float, float, Run]:
    """The core and the job in turn, `rounds` times: a line per round, the median of the
    rounds' rating ratios and of their whole-command ratios, and the median run."""
    lines: list[str] = []
    pairs: list[tuple[float, Run]] = []
    for k in range(rounds):
        step(f"bench: round {k + 1}/{rounds}: the core alone, then the command")
        rate = core()
        r = job()
        pairs.append((rate, r))
        procs = "1 process" if r.workers == 1 else f"{r.workers} processes"
        lines.append(
            f"  round {k + 1}: core {rate:,.0f} records/s; the command {r.rate:,.0f} records/s "
            f"rating ({procs}, {r.rating_s:.1f} s), {r.records / r.whole_s:,.0f} for the whole "
            f"command ({r.whole_s:.1f} s): ratio {r.rate / rate:.2f} rating, "
            f"{r.records / r.whole_s / rate:.2f} whole"
        )
    rating = statistics.median(r.rate / rate for rate, r in pairs)
    whole = statistics.median(r.records / r.whole_s / rate for rate, r in pairs)
    middle = sorted(pairs, key=lambda p: p[1].rate / p[0])[len(pairs) // 2][1]
    return lines, rating, whole, middle


def run(
    catalog_path: Path,
    catalog: Catalog,
    n_subscribers: int,
    n_records: int,
    workers: int = 0,
    rounds: int = 3,
) -> str:
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
    out = folder / "bench-simulate-events.jsonl"
    step(f"bench simulate: rater simulate on {n_records // 4} records, for its memory")
    small = _simulate(catalog_path, subs_path, quarter, out, workers)
    per_round, rating, whole, big = rounds_of(
        lambda: _core_rate(catalog, subs_path, records),
        lambda: _simulate(catalog_path, subs_path, usage_path, out, workers),
        rounds,
    )
    lines += [
        f"the rating core alone (one process, commands and records) and rater simulate on "
        f"{n_records} records, in turn:",
        *per_round,
        f"ratio simulate / core, the median of {rounds} rounds: {rating:.2f} rating, "
        f"{whole:.2f} whole command (target >= 0.80)",
        f"peak memory of rater simulate, its processes summed: {small.peak_mib:,} MiB at "
        f"{n_records // 4} records, {big.peak_mib:,} MiB at {n_records} records",
    ]
    return "\n".join(lines)

"""`rater bench core`: the rating core's own speed on a synthetic workload."""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import time

from rater.catalog.model import Catalog
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import Command, NewSubscriber, UsageRecord
from rater.core.state import Account
from rater.gc_tuning import offline_gc
from rater.routing import account_key
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage


def step(text: str) -> None:
    """A phase of a long benchmark, on stderr (the figures go to stdout at the end)."""
    print(text, file=sys.stderr, flush=True)


# A day and a half across a cycle start (cycle day 1) and two night windows. About 100
# records per subscriber per day, as at a real operator (20 M subscribers, 26k records/s).
START = to_ms("2026-03-31T06:00:00+08:00")
END = to_ms("2026-04-01T18:00:00+08:00")


def subscribe(rater: Rater, cmds: list[Command]) -> tuple[dict[str, Account], dict[str, str]]:
    """The subscribers' commands applied by the core alone: the accounts, and the
    directory MSISDN -> account key to route their records."""
    accounts: dict[str, Account] = {}
    directory: dict[str, str] = {}
    for c in cmds:
        key = account_key(c, directory)
        outcome = rater.apply(accounts.get(key), c)
        if isinstance(c, NewSubscriber) and outcome.account is not None:
            accounts[key] = outcome.account
            directory[c.msisdn] = key
    return accounts, directory


def run(catalog: Catalog, n_subscribers: int, n_records: int, profile: bool) -> str:
    step(f"bench core: generating {n_subscribers} subscribers and {n_records} records")
    subs = gen_subscribers(catalog, n_subscribers, START - 40 * 86_400_000)
    cmds = to_commands(parse_subscribers({"subscribers": subs}))
    records: list[UsageRecord] = list(gen_usage(catalog, subs, n_records, START, END))
    rater = Rater(catalog)
    accounts, directory = subscribe(rater, cmds)
    prof = cProfile.Profile() if profile else None
    events = 0
    step("bench core: rating")
    with offline_gc():  # as the offline jobs rate (the stream collects young objects)
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        for rec in records:
            events += len(
                rater.apply(accounts.get(directory.get(rec.msisdn, rec.msisdn)), rec).events
            )
        if prof:
            prof.disable()
        elapsed = time.perf_counter() - t0
    lines = [
        f"rating core: {n_records} records over {n_subscribers} subscribers "
        f"({len(cmds)} commands), {events} events",
        f"elapsed {elapsed:.3f} s -> {n_records / elapsed:,.0f} records/s "
        f"({elapsed / n_records * 1e6:.2f} us/record)",
    ]
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(15)
        lines.append(s.getvalue())
    return "\n".join(lines)

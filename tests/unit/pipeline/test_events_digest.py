"""The events of a medium generated workload, pinned by their digest.

Refactoring the rating core must not change a single byte of what it emits: this run
(500 subscribers with the full catalog's plans and packs, 20 000 records over nearly
three months, so every cycle start, carry-over, daily fee, throttle and duplicate
path is crossed) is rated as `rater simulate` rates it and its event and dead-letter
lines are hashed. A change that alters any event fails here; if the change is meant
to alter events, say so in its commit and pin the new digest.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from pathlib import Path

import orjson

from rater.catalog import load_catalog
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.jobs.offline import rate_offline
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers, usage

CATALOG = Path(__file__).resolve().parents[3] / "rater" / "examples" / "catalog-full.yaml"
START = to_ms("2026-03-20T00:00:00+08:00")
END = to_ms("2026-06-10T00:00:00+08:00")
UNTIL = to_ms("2026-06-15T00:00:00+08:00")

EVENTS_SHA256 = "3a264b8adea0a6c1d057cd5f914e2da902d338b423e04503ddf466102479e3b1"
EVENT_KINDS = {"charge": 44545, "notification": 1293, "throttle": 2, "unrated": 94}


def test_the_events_of_a_generated_workload_are_unchanged() -> None:
    catalog = load_catalog(CATALOG)
    subs = subscribers(catalog, 500, START)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    records = list(usage(catalog, subs, 20_000, START, END))
    events, dead = io.BytesIO(), io.BytesIO()
    rate_offline(Rater(catalog), commands, records, UNTIL, events, dead)
    digest = hashlib.sha256(events.getvalue() + b"--\n" + dead.getvalue()).hexdigest()
    kinds = Counter(orjson.loads(line)["type"] for line in events.getvalue().splitlines())
    # the kinds first: a failure then says which events changed in number
    assert dict(sorted(kinds.items())) == EVENT_KINDS
    assert digest == EVENTS_SHA256

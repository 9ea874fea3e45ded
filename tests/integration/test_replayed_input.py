"""Replayed input (issue: the same records produced again at new offsets, as after an
incident upstream) is never charged again, on the real broker and Redis:

- within the duplicate window, a second copy of every record emits nothing at all, and
  the run equals `rater simulate` on the records twice over;
- after the window (newer usage moved every line's window on), a third copy is refused
  as LATE, an unrated event each, with no charge, and the balances do not move.
"""

from __future__ import annotations

import dataclasses
import io
from collections import Counter

import orjson

from rater.catalog import load_catalog
from rater.codec.jsonl import event_from_json
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, UnratedEvent, UnratedReason
from rater.jobs.offline import rate_offline
from rater.stream.tools import account_keys, produce_commands, produce_usage
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG, canon

START = to_ms("2026-04-10T00:00:00+08:00")
END = to_ms("2026-04-11T06:00:00+08:00")  # 30 h: inside the 48 h window end to end
LATER = to_ms("2026-04-14T00:00:00+08:00")  # every record is out of the window from here


def test_records_produced_again_are_not_charged_again(kafka_bootstrap: str, redis_url: str) -> None:
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, 200, START - 20 * 86_400_000, seed=31)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    records = list(gen_usage(catalog, subs, 5_000, START, END, seed=32, duplicate_rate=0))
    keys = account_keys(commands)

    with streamkit.stream_env(kafka_bootstrap, redis_url, "rp", catalog=CATALOG) as env:
        s = env.settings
        produce_commands(s, commands)
        produce_usage(s, records, keys)
        env.drain()
        first = env.events()
        balances = _balances(env, first)

        produce_usage(s, records, keys)  # the same records again, at new offsets
        env.drain()
        second = env.events()
        assert sorted(canon(e) for e in second) == sorted(canon(e) for e in first)  # nothing new

        sim_out = io.BytesIO()
        rate_offline(
            Rater(catalog), commands, records + records, None, sim_out,
            partitions=s.partitions, topics=s.topics,
        )  # fmt: skip
        sim = [event_from_json(orjson.loads(x)) for x in sim_out.getvalue().splitlines()]
        assert sorted(canon(e) for e in second) == sorted(canon(e) for e in sim)

        # one newer record per line moves each line's window past the first ones
        newer = [
            dataclasses.replace(rec, record_id=f"newer-{rec.msisdn}", start_time=LATER)
            for rec in {r.msisdn: r for r in records}.values()
        ]
        produce_usage(s, newer, keys)
        env.drain()
        moved = env.events()
        produce_usage(s, records, keys)  # and the first records again, out of the window
        env.drain()
        third = env.events()
        seen = {canon(e) for e in moved}
        new = [e for e in third if canon(e) not in seen]
        assert len(new) == len(records) == len(third) - len(moved)
        assert all(isinstance(e, UnratedEvent) and e.reason == UnratedReason.LATE for e in new)
        assert _charged(third) == _charged(moved)  # no charge, whatever came back
        assert Counter(e.event_id for e in third).most_common(1)[0][1] == 1
        assert _balances(env, third) == _balances(env, moved)
        assert balances  # the first run charged usage


def _charged(events: list[object]) -> Counter[str]:
    c: Counter[str] = Counter()
    for e in events:
        if isinstance(e, ChargeEvent):
            c[e.msisdn] += e.fen
    return c


def _balances(env: streamkit.StreamEnv, events: list[object]) -> dict[str, object]:
    """Every line's buckets and counters in Redis, by MSISDN."""
    store = env.store
    out: dict[str, object] = {}
    for m in {e.msisdn for e in events if isinstance(e, ChargeEvent)}:
        for p in range(env.settings.partitions):
            key = store.account_key(p, m)
            if key is not None:
                line = store.load(p, [key])[key].lines[m]
                out[m] = (line.buckets, line.overage_fen, line.data_used)
    return out

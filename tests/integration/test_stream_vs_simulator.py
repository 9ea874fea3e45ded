"""Differential test: the streaming rater on the real broker and Redis gives exactly the
events and final balances of the offline simulator, for 100 000 records over 1 000
subscribers crossing a cycle boundary and night windows."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import orjson
import redis

from rater.catalog import load_catalog
from rater.codec.jsonl import event_to_json
from rater.config import Settings
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.events import ChargeEvent, Event
from rater.core.inputs import UsageRecord
from rater.jobs.offline import rate_offline
from rater.store.redis import RedisStore
from rater.stream.kafka import ensure_topics
from rater.stream.processor import StreamRater
from rater.stream.tools import account_keys, produce_commands, produce_usage, read_events, send_tick
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.integration import streamkit

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "examples" / "catalog-full.yaml"
START = to_ms("2026-03-29T00:00:00+08:00")  # cycle day 1 subscribers roll over on Apr 1
END = to_ms("2026-04-03T00:00:00+08:00")
UNTIL = to_ms("2026-04-03T12:00:00+08:00")


TICK_ACCOUNTS = 7  # the closing tick reaches more than this per partition: several batches


def stream_settings(bootstrap: str, redis_url: str, partitions: int = 4) -> Settings:
    return streamkit.run_settings(
        bootstrap,
        redis_url,
        "it",
        catalog=CATALOG,
        partitions=partitions,
        batch_size=5000,
        tick_accounts_per_batch=TICK_ACCOUNTS,
    )


def run_until_drained(s: Settings) -> None:
    client = redis.Redis.from_url(s.redis_url.get_secret_value())
    svc = StreamRater(s, Rater(load_catalog(s.catalog)), RedisStore(client, s.namespace))
    svc.run(drain=True)


def canon(e: Event) -> bytes:
    return orjson.dumps(event_to_json(e), option=orjson.OPT_SORT_KEYS)


def test_stream_equals_simulator(kafka_bootstrap: str, redis_url: str) -> None:
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, 1000, START - 35 * 86_400_000, seed=7)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    records: list[UsageRecord] = list(gen_usage(catalog, subs, 100_000, START, END, seed=8))

    # the offline job: the same pipeline over a memory store, partitions emulated
    s = stream_settings(kafka_bootstrap, redis_url)
    sim_out = io.BytesIO()
    summary, store = rate_offline(
        Rater(catalog), commands, records, UNTIL, sim_out, partitions=s.partitions, topics=s.topics
    )
    from rater.codec.jsonl import event_from_json

    sim_events = [event_from_json(orjson.loads(line)) for line in sim_out.getvalue().splitlines()]
    assert summary.records > 90_000 and summary.duplicates > 0
    assert not summary.dead_letters, "every generated subscriber exists"

    # the stream: the same inputs through Kafka and Redis
    ensure_topics(s)
    produce_commands(s, commands)
    run_until_drained(s)
    produce_usage(s, records, account_keys(commands))
    run_until_drained(s)
    # the stream applies the closing tick to 7 due accounts per partition and batch (the
    # offline job to up to 1 000): the same events all the same
    r = redis.Redis.from_url(redis_url)
    tags = [RedisStore(r, s.namespace).tag(p) for p in range(s.partitions)]
    assert max(r.zcount(f"{tag}:due", "-inf", UNTIL) for tag in tags) > 2 * TICK_ACCOUNTS
    send_tick(s, UNTIL)
    run_until_drained(s)
    stream_events = read_events(s)

    # events: the same set by event_id, each identical, none twice
    sim_by_id = {e.event_id: canon(e) for e in sim_events}
    stream_ids = Counter(e.event_id for e in stream_events)
    assert stream_ids.most_common(1)[0][1] == 1, "an event was written twice"
    assert len(sim_by_id) == len(sim_events)
    assert set(stream_ids) == set(sim_by_id)
    mismatched = [e.event_id for e in stream_events if canon(e) != sim_by_id[e.event_id]]
    assert not mismatched, mismatched[:5]

    # totals per subscriber
    def totals(events: list[Event]) -> Counter[str]:
        c: Counter[str] = Counter()
        for e in events:
            if isinstance(e, ChargeEvent):
                c[e.msisdn] += e.fen
        return c

    assert totals(stream_events) == totals(sim_events)

    # final balances: every line in Redis equals the simulator's
    rstore = RedisStore(redis.Redis.from_url(redis_url), s.namespace)
    for key, acct in store.accounts().items():
        part_key = None
        for p in range(s.partitions):
            if rstore.account_key(p, key) is not None:
                part_key = p
                break
        assert part_key is not None, key
        stored = rstore.load(part_key, [key], with_seen=True)[key]
        assert _lines(stored.to_dict()) == _lines(acct.to_dict()), key


def _lines(d: dict[str, object]) -> object:
    return d["lines"]

"""The world the fault tests share: subscribers and usage, what the offline simulator
makes of them, and the same inputs loaded into Kafka with the subscribers applied."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import orjson
from confluent_kafka import Producer

from rater.catalog import load_catalog
from rater.codec.codecs import wire_codecs
from rater.codec.jsonl import event_from_json, event_to_json
from rater.config import Settings
from rater.core.engine import Rater
from rater.core.events import Event
from rater.core.inputs import UsageRecord
from rater.jobs.offline import rate_offline
from rater.routing import Router
from rater.store.memory import MemoryStore
from rater.stream.kafka import ensure_topics, producer_config
from rater.stream.tools import account_keys, produce_commands, produce_usage
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.integration.test_stream_vs_simulator import (
    CATALOG,
    END,
    START,
    run_until_drained,
    stream_settings,
)


def canon(e: Event) -> bytes:
    return orjson.dumps(event_to_json(e), option=orjson.OPT_SORT_KEYS)


@dataclass
class World:
    settings: Settings  # its own topics, group and namespace; subscribers applied
    expected: dict[str, bytes]  # event_id -> canonical event, from the simulator
    store: MemoryStore  # the simulator's final state


def make_world(
    kafka_bootstrap: str,
    redis_url: str,
    *,
    subscribers: int,
    records: int,
    seed: int,
    until: int | None = None,
    partitions: int = 4,
    transaction_size: int = 0,
) -> World:
    """Simulate, then put the same commands in Kafka, apply them, and produce the usage
    (left for the test to rate)."""
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, subscribers, START - 35 * 86_400_000, seed=seed)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    usage = list(gen_usage(catalog, subs, records, START, END, seed=seed + 1))
    s = stream_settings(kafka_bootstrap, redis_url, partitions=partitions)
    sim_out = io.BytesIO()
    _, store = rate_offline(
        Rater(catalog), commands, usage, until, sim_out, partitions=partitions, topics=s.topics
    )
    expected = {
        e.event_id: canon(e)
        for e in (event_from_json(orjson.loads(x)) for x in sim_out.getvalue().splitlines())
    }
    ensure_topics(s)
    produce_commands(s, commands)
    run_until_drained(s)
    if transaction_size:
        produce_in_transactions(s, usage, account_keys(commands), transaction_size)
    else:
        produce_usage(s, usage, account_keys(commands))

    return World(s, expected, store)


def produce_in_transactions(
    s: Settings, usage: list[UsageRecord], keys: dict[str, str], size: int
) -> None:
    """The usage as an upstream mediation with exactly-once would write it: in
    transactions (each leaves a marker the rater never sees), with one aborted
    transaction of extra records in the middle (a read_committed rater must not rate
    them)."""
    p = Producer(producer_config(s, f"{s.group_id}-upstream"))
    p.init_transactions(30)
    codecs = wire_codecs(s)
    router = Router(s.partitions, keys)
    for i in range(0, len(usage), size):
        if i == size:
            p.begin_transaction()
            for r in usage[:50]:
                ghost = dataclasses.replace(r, record_id=f"aborted-{r.record_id}")
                key, part = router.route(ghost)
                p.produce(s.topics.usage, codecs.encode_usage(ghost), key, partition=part)
            p.flush(30)
            p.abort_transaction(30)
        p.begin_transaction()
        for r in usage[i : i + size]:
            key, part = router.route(r)
            p.produce(s.topics.usage, codecs.encode_usage(r), key, partition=part)
        p.commit_transaction(30)


def assert_equals_simulator(world: World) -> None:
    """The committed outputs and the balances in Redis are the simulator's: every event
    once (read_committed), none missing, none extra, each byte for byte; every line of
    every account the same."""
    from collections import Counter

    import redis

    from rater.store.redis import RedisStore
    from rater.stream.tools import read_events

    s = world.settings
    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    twice = [k for k, n in ids.items() if n > 1]
    assert not twice, f"written twice: {twice[:5]}"
    missing, extra = set(world.expected) - set(ids), set(ids) - set(world.expected)
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    assert all(canon(e) == world.expected[e.event_id] for e in events)
    client = redis.Redis.from_url(s.redis_url.get_secret_value())
    try:
        rstore = RedisStore(client, s.namespace)
        for key, acct in world.store.accounts().items():
            part = next(p for p in range(s.partitions) if rstore.account_key(p, key) is not None)
            got = rstore.load(part, [key], with_seen=True)[key].to_dict()["lines"]
            assert got == acct.to_dict()["lines"], key
    finally:
        client.close()

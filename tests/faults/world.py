"""The world the fault tests share: subscribers and usage, what the offline simulator
makes of them, and the same inputs loaded into Kafka with the subscribers applied; on a
single Redis or a Redis Cluster (`redis_cluster`)."""

from __future__ import annotations

import dataclasses
import io
from collections import Counter
from dataclasses import dataclass
from typing import Any

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
from rater.store.redis import RedisStore, settings_client
from rater.stream.deadletters.read import read_dead_letters
from rater.stream.kafka import ensure_topics, producer_config
from rater.stream.processor import StreamRater
from rater.stream.tools import account_keys, produce_commands, produce_usage, read_events
from rater.subscribers import parse_subscribers, to_commands
from rater.workload import subscribers as gen_subscribers
from rater.workload import usage as gen_usage
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG, END, START


def canon(e: Event) -> bytes:
    return orjson.dumps(event_to_json(e), option=orjson.OPT_SORT_KEYS)


# a dead letter as the tests compare them: what was refused, from where, and why
DeadKey = tuple[str, int, str, str]  # source topic, partition, error class, payload SHA-256


@dataclass
class World:
    settings: Settings  # its own topics, group and namespace; subscribers applied
    expected: dict[str, bytes]  # event_id -> canonical event, from the simulator
    store: MemoryStore  # the simulator's final state
    dead: Counter[DeadKey]  # the simulator's dead letters


def drain(s: Settings, instance_id: str | None = None) -> None:
    """A rater in this process, on the store the settings name (Redis or a Cluster),
    until every input is applied; as `instance_id` (its transactional id) when given:
    the transaction a killed process of that id left open is then aborted at once."""
    if instance_id is not None:
        s = s.model_copy(update={"instance_id": instance_id})
    client: Any = settings_client(s)
    try:
        rater = Rater(load_catalog(s.catalog), s.duplicate_window_ms)
        StreamRater(s, rater, RedisStore(client, s.namespace)).run(drain=True)
    finally:
        client.close()


def applied(s: Settings) -> int:
    """Usage messages applied in Redis over every partition."""
    client: Any = settings_client(s)
    try:
        store = RedisStore(client, s.namespace)
        return sum(store.watermark(p)[0].get(s.topics.usage, 0) for p in range(s.partitions))
    finally:
        client.close()


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
    redis_cluster: bool = False,
) -> World:
    """Simulate, then put the same commands in Kafka, apply them, and produce the usage
    (left for the test to rate)."""
    catalog = load_catalog(CATALOG)
    subs = gen_subscribers(catalog, subscribers, START - 35 * 86_400_000, seed=seed)
    commands = to_commands(parse_subscribers({"subscribers": subs}))
    usage = list(gen_usage(catalog, subs, records, START, END, seed=seed + 1))
    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "it",
        catalog=CATALOG,
        partitions=partitions,
        batch_size=5000,
        redis_cluster=redis_cluster,
    )
    sim_out, sim_dead = io.BytesIO(), io.BytesIO()
    _, store = rate_offline(
        Rater(catalog, s.duplicate_window_ms),
        commands,
        usage,
        until,
        sim_out,
        sim_dead,
        partitions=partitions,
        topics=s.topics,
    )
    expected = {
        e.event_id: canon(e)
        for e in (event_from_json(orjson.loads(x)) for x in sim_out.getvalue().splitlines())
    }
    dead: Counter[DeadKey] = Counter()
    for line in sim_dead.getvalue().splitlines():
        d = orjson.loads(line)
        dead[(d["source_topic"], d["source_partition"], d["error_class"], d["payload_sha256"])] += 1
    ensure_topics(s)
    produce_commands(s, commands)
    drain(s)
    if transaction_size:
        produce_in_transactions(s, usage, account_keys(commands), transaction_size)
    else:
        produce_usage(s, usage, account_keys(commands))

    return World(s, expected, store, dead)


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
    once (read_committed), none missing, none extra, each byte for byte; the same dead
    letters and no message on the dead-letter topic that is not one; every line of every
    account the same."""
    s = world.settings
    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    twice = [k for k, n in ids.items() if n > 1]
    assert not twice, f"written twice: {twice[:5]}"
    missing, extra = set(world.expected) - set(ids), set(ids) - set(world.expected)
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    assert all(canon(e) == world.expected[e.event_id] for e in events)
    reading = read_dead_letters(s)
    assert not reading.unreadable, reading.unreadable[:3]
    dead: Counter[DeadKey] = Counter(
        (d.source_topic, d.source_partition, d.error_class, d.payload_sha256)
        for d in (letter.dead for letter in reading.letters)
    )
    assert dead == world.dead, (dead - world.dead, world.dead - dead)
    client: Any = settings_client(s)
    try:
        rstore = RedisStore(client, s.namespace)
        for key, acct in world.store.accounts().items():
            found = [p for p in range(s.partitions) if rstore.account_key(p, key) is not None]
            assert len(found) == 1, (key, found)
            got = rstore.load(found[0], [key], with_seen=True)[key].to_dict()["lines"]
            assert got == acct.to_dict()["lines"], key
    finally:
        client.close()

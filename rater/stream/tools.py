"""The jobs around the service: create topics, load subscribers as commands, produce
usage, send clock ticks, read a subscriber's balance from Redis."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from rater.codec import avro
from rater.codec.codecs import wire_codecs
from rater.codec.errors import preview
from rater.codec.jsonl import BadInput
from rater.config import Settings
from rater.core.inputs import Command, Tick, UsageRecord
from rater.core.state import Account
from rater.routing import Router
from rater.store.redis import RedisStore, settings_client
from rater.stream.kafka import admin_config, partition_count, producer_config


def _deliver_all(p: Producer) -> None:
    remaining = p.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} messages not delivered to Kafka")


def account_keys(commands: Iterable[Command]) -> dict[str, str]:
    """MSISDN -> account key, from the commands that create subscribers."""
    router = Router(1)
    router.learn(commands)
    return router.directory


def produce_commands(
    s: Settings,
    commands: Iterable[Command | Tick],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Commands on the command topic in the order given (time order: see
    rater.jobs.offline.in_time_order), each in its account's partition (rater.routing);
    a tick goes to every partition. `progress(n)` is called every 1024 commands and at
    the end."""
    codecs = wire_codecs(s)
    router = Router(partition_count(s, s.topics.commands))
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    n = 0
    for c in commands:
        value = codecs.encode_command(c)
        if isinstance(c, Tick):
            for part in range(router.partitions):
                _produce(p, s.topics.commands, b"", value, partition=part)
        else:
            key, part = router.route(c)
            _produce(p, s.topics.commands, key.encode(), value, partition=part)
        n += 1
        if progress is not None and not n & 1023:
            progress(n)
    _deliver_all(p)
    if progress is not None:
        progress(n)
    return n


MAX_SEND_BYTES = 1_000_000  # Kafka's default max.message.bytes, less the batch overhead


def produce_usage(
    s: Settings,
    records: Iterable[UsageRecord | tuple[BadInput, bytes]],
    directory: Mapping[str, str],
    progress: Callable[[int], None] | None = None,
) -> tuple[int, list[BadInput]]:
    """Usage on the usage topic, each record in its account's partition (rater.routing).
    Lines that are not usage records are not sent; they are returned. `progress(n)` is
    called every 1024 records sent and at the end."""
    router = Router(partition_count(s, s.topics.usage), directory)
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    codecs = wire_codecs(s)
    n = 0
    bad: list[BadInput] = []
    for r in records:
        if not isinstance(r, UsageRecord):
            bad.append(r[0])
            continue
        key, part = router.route(r)
        value = codecs.encode_usage(r)
        if len(value) + len(key) > MAX_SEND_BYTES:
            why = f"record {preview(r.record_id)}: {len(value)} bytes, more than the broker takes"
            bad.append(BadInput(s.topics.usage, 0, why))
            continue
        _produce(p, s.topics.usage, key.encode(), value, partition=part)
        n += 1
        if progress is not None and not n & 1023:
            progress(n)
    _deliver_all(p)
    if progress is not None:
        progress(n)
    return n, bad


def _produce(p: Producer, topic: str, key: bytes, value: bytes, **kw: Any) -> None:
    while True:
        try:
            p.produce(topic, value, key, **kw)
            return
        except BufferError:
            p.poll(0.1)


def send_tick(s: Settings, at_ms: int | None = None) -> tuple[int, int]:
    """One tick to every partition of the command topic: due changes happen for every
    subscriber, usage or not. Meant for a Kubernetes CronJob."""
    t = at_ms if at_ms is not None else int(time.time() * 1000)
    n = partition_count(s, s.topics.commands)
    p = Producer(producer_config(s) | {"enable.idempotence": True})
    value = wire_codecs(s).encode_command(Tick(t))
    for part in range(n):
        _produce(p, s.topics.commands, b"", value, partition=part)
    _deliver_all(p)
    return n, t


def read_balance(store: RedisStore, partitions: int, msisdn: str) -> tuple[int, Account] | None:
    found = store.find_account(msisdn, partitions)
    if found is None:
        return None
    part, key = found
    accounts = store.load(part, [key])
    return (part, accounts[key]) if key in accounts else None


def read_topic(s: Settings, topic: str, timeout: float = 30.0) -> list[tuple[bytes, bytes]]:
    """Every committed message of `topic` from the beginning to its current end."""
    return list(iter_topic(s, topic, timeout))


def iter_topic(s: Settings, topic: str, timeout: float = 30.0) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every committed message of `topic`, from the beginning to the end
    it has when reading starts, one at a time (memory does not grow with the topic).
    Gives up after `timeout` seconds without progress."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from rater.stream.kafka import consumer_config

    c = Consumer(consumer_config(s, group_id=f"rater-reader-{time.time_ns()}"))
    try:
        n = partition_count(s, topic)
        ends: dict[int, int] = {}
        for part in range(n):
            _, high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)
            ends[part] = high
        c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in range(n)])
        done = {p for p, end in ends.items() if end == 0}
        deadline = time.monotonic() + timeout
        while len(done) < n and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is not None:
                    continue
                part, off = m.partition() or 0, m.offset() or 0
                if off >= ends[part]:
                    continue  # written after reading started
                deadline = time.monotonic() + timeout
                yield m.key() or b"", m.value() or b""
                if off + 1 >= ends[part]:
                    done.add(part)
            # transaction markers take offsets too: a partition is done at its end position
            for tp in c.position([TopicPartition(topic, p) for p in range(n)]):
                if tp.offset >= ends[tp.partition]:
                    done.add(tp.partition)
    finally:
        c.close()


def read_events(s: Settings) -> list[Any]:
    """All committed output events (charges, throttles, notifications, unrated)."""
    return list(iter_events(s))


def iter_events(s: Settings) -> Iterator[Any]:
    """The committed output events, topic by topic, one at a time."""
    kinds = {
        s.topics.charges: "charge",
        s.topics.throttle: "throttle",
        s.topics.notifications: "notification",
        s.topics.unrated: "unrated",
    }
    for topic, kind in kinds.items():
        for _, v in iter_topic(s, topic):
            yield avro.decode_event(kind, avro_body(s, v))


def avro_body(s: Settings, value: bytes) -> bytes:
    """The Avro body of an output message (without the wire-format header, if any)."""
    if s.schema_registry_url:
        from rater.codec.wire import unframe

        return unframe(value)[1]
    return value


def delete_namespace(client: Any, namespace: str) -> int:
    """Delete every key of a Redis namespace (`{ns:<partition>}:...`); returns how many.
    Keys go a hash tag at a time, so this works on Redis Cluster too."""
    by_tag: dict[bytes, list[bytes]] = {}
    for key in client.scan_iter(match=f"{{{namespace}:*}}:*", count=1000):
        by_tag.setdefault(key[: key.index(b"}") + 1], []).append(key)
    deleted = 0
    for keys in by_tag.values():
        for i in range(0, len(keys), 500):
            deleted += client.delete(*keys[i : i + 500])
    return deleted


def remove_run(s: Settings, client: Any | None = None) -> int:
    """Delete what a run made (a demo's, a test's): its input and output topics, its
    consumer group and its Redis namespace. Pieces already gone are skipped. Returns the
    Redis keys deleted."""
    admin = AdminClient(admin_config(s))
    topics = s.topics.inputs() + s.topics.outputs()
    for fut in admin.delete_topics(topics, operation_timeout=30).values():
        with contextlib.suppress(KafkaException):
            fut.result(timeout=60)
    with contextlib.suppress(KafkaException):  # a group that never committed does not exist
        for fut in admin.delete_consumer_groups([s.group_id], request_timeout=10).values():
            with contextlib.suppress(KafkaException):
                fut.result(timeout=15)
    if client is not None:
        return delete_namespace(client, s.namespace)
    own: Any = settings_client(s)
    try:
        return delete_namespace(own, s.namespace)
    finally:
        own.close()

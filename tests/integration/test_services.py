"""The local services behave as the rater needs: Kafka transactions (EOS) and a durable Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

TIMEOUT = 30.0


def _producer(bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"it-tx-{uuid.uuid4().hex}",
            "transaction.timeout.ms": 60000,
        }
    )


def _consumer(bootstrap: str, isolation: str, **extra: Any) -> Consumer:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": f"it-{uuid.uuid4().hex}",
        "isolation.level": isolation,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra)
    return Consumer(conf)


def _read_until(
    consumer: Consumer, last: bytes, wait_until: Callable[..., Any], what: str
) -> list[bytes]:
    """Polls ``consumer`` until the value ``last`` arrives; returns every value seen."""
    seen: list[bytes] = []

    def got_last() -> bool:
        msg = consumer.poll(0.2)
        if msg is None:
            return False
        assert msg.error() is None, msg.error()
        value = msg.value()
        assert isinstance(value, bytes)
        seen.append(value)
        return value == last

    wait_until(got_last, TIMEOUT, 0, what)
    return seen


def test_transactions_commit_visible_abort_hidden(
    kafka_bootstrap: str, topic_factory: Callable[..., str], wait_until: Callable[..., Any]
) -> None:
    topic = topic_factory("it-tx", partitions=1)
    producer = _producer(kafka_bootstrap)
    producer.init_transactions(TIMEOUT)

    producer.begin_transaction()
    producer.produce(topic, b"committed-1")
    producer.commit_transaction(TIMEOUT)

    producer.begin_transaction()
    producer.produce(topic, b"aborted-1")
    producer.flush(TIMEOUT)  # really on the broker before the abort
    producer.abort_transaction(TIMEOUT)

    producer.begin_transaction()
    producer.produce(topic, b"committed-2")
    producer.commit_transaction(TIMEOUT)

    committed = _consumer(kafka_bootstrap, "read_committed")
    uncommitted = _consumer(kafka_bootstrap, "read_uncommitted")
    try:
        for c in (committed, uncommitted):
            c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = _read_until(committed, b"committed-2", wait_until, "committed-2 (read_committed)")
        assert got == [b"committed-1", b"committed-2"]
        # the aborted record is in the log: only read_committed hides it
        raw = _read_until(uncommitted, b"committed-2", wait_until, "committed-2 (uncommitted)")
        assert raw == [b"committed-1", b"aborted-1", b"committed-2"]
    finally:
        committed.close()
        uncommitted.close()


def test_consume_transform_produce_commits_offsets_in_transaction(
    kafka_bootstrap: str, topic_factory: Callable[..., str], wait_until: Callable[..., Any]
) -> None:
    """The rater's loop: consume, produce results and the input offsets in one transaction."""
    src = topic_factory("it-src", partitions=2)
    dst = topic_factory("it-dst", partitions=2)
    plain = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(6):
        plain.produce(src, str(i).encode(), key=str(i).encode())
    assert plain.flush(TIMEOUT) == 0

    group = f"it-group-{uuid.uuid4().hex}"
    consumer = _consumer(
        kafka_bootstrap, "read_committed", **{"group.id": group, "session.timeout.ms": 6000}
    )
    consumer.subscribe([src])
    producer = _producer(kafka_bootstrap)
    producer.init_transactions(TIMEOUT)
    batch: list[Any] = []

    def got_all() -> bool:
        msg = consumer.poll(0.2)
        if msg is not None:
            assert msg.error() is None, msg.error()
            batch.append(msg)
        return len(batch) == 6

    wait_until(got_all, TIMEOUT, 0, "6 input records")
    producer.begin_transaction()
    for msg in batch:
        producer.produce(dst, b"rated-" + msg.value(), key=msg.key())
    next_offsets: dict[int, int] = {}
    for msg in batch:
        next_offsets[msg.partition()] = max(next_offsets.get(msg.partition(), 0), msg.offset() + 1)
    producer.send_offsets_to_transaction(
        [TopicPartition(src, p, o) for p, o in next_offsets.items()],
        consumer.consumer_group_metadata(),
        TIMEOUT,
    )
    producer.commit_transaction(TIMEOUT)
    consumer.close()

    # the group's committed offsets moved to the end of the input, through the transaction
    probe = _consumer(kafka_bootstrap, "read_committed", **{"group.id": group})
    try:
        parts = [TopicPartition(src, p) for p in sorted(next_offsets)]
        committed = probe.committed(parts, timeout=TIMEOUT)
        assert {tp.partition: tp.offset for tp in committed} == next_offsets
        assert sum(next_offsets.values()) == 6
    finally:
        probe.close()

    out = _consumer(kafka_bootstrap, "read_committed")
    try:
        out.subscribe([dst])
        values: set[bytes] = set()

        def got_outputs() -> bool:
            msg = out.poll(0.2)
            if msg is not None:
                assert msg.error() is None, msg.error()
                value = msg.value()
                assert isinstance(value, bytes)
                values.add(value)
            return len(values) == 6

        wait_until(got_outputs, TIMEOUT, 0, "6 output records")
        assert values == {f"rated-{i}".encode() for i in range(6)}
    finally:
        out.close()


def test_redis_ping_and_isolated_db(redis_client: redis.Redis) -> None:
    assert redis_client.ping() is True
    assert redis_client.dbsize() == 0
    redis_client.set("k", "v")
    assert redis_client.get("k") == b"v"


def test_redis_aof_everysec(redis_url: str, service_origin: dict[str, str]) -> None:
    if service_origin.get("redis") == "env":
        pytest.skip("REDIS_URL given: its persistence settings are not ours to check")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        client.close()

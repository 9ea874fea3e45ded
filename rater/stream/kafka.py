"""Kafka client settings, topic creation and leaving a group: the few settings that make
exactly-once work and keep it fast, in one place."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ClusterMetadata,
    NewTopic,
    OffsetSpec,
)

from rater.config import Settings
from rater.errors import Refused, Unavailable, kafka_logger

# Java's default partitioner: a Java producer and this one put a key in the same partition.
PARTITIONER = "murmur2_random"


def producer_config(s: Settings, transactional_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": s.kafka_bootstrap_servers,
        "partitioner": PARTITIONER,
        "linger.ms": 10,
        "compression.type": "lz4",
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        # librdkafka's 100 ms default stalls commits on CONCURRENT_TRANSACTIONS retries
        "retry.backoff.ms": 20,
    }
    conf["logger"] = kafka_logger()
    if transactional_id is not None:
        conf["transactional.id"] = transactional_id
        conf["transaction.timeout.ms"] = s.transaction_timeout_ms
        conf["enable.idempotence"] = True
    conf.update(s.kafka)
    conf.update(s.kafka_secrets())
    return conf


def consumer_config(s: Settings, group_id: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": s.kafka_bootstrap_servers,
        "group.id": group_id or s.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # partition i of the usage and command topics goes to the same owner
        "partition.assignment.strategy": "range",
        "isolation.level": "read_committed",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
        "fetch.wait.max.ms": 50,
        "logger": kafka_logger(),
    }
    conf.update(s.kafka)
    conf.update(s.kafka_secrets())
    return conf


def take(consumer: Consumer, count: int, wait_s: float) -> list[Message]:
    """Up to `count` messages: at once what the consumer has fetched, else the first to
    come within `wait_s`, with whatever came along with it.

    `consume(count, wait_s)` itself returns when it has `count` messages or at `wait_s`,
    not at the first message: an idle turn that waited with it kept a record that came
    at once waiting for the whole `wait_s` (`tests/integration/test_take.py`)."""
    if wait_s <= 0:
        return consumer.consume(count, 0)
    first = consumer.consume(1, wait_s)
    if not first or count == 1:
        return first
    return first + consumer.consume(count - 1, 0)


def leave_group(consumer: Consumer, timeout_s: float = 10.0) -> None:
    """Unsubscribe and serve the revocation before `close()`.

    A rebalance that hands this member partitions while `close()` runs makes librdkafka
    hang inside the assign of the rebalance callback (librdkafka issue #4884; seen here
    when another member of a multi-process group left first). After `unsubscribe()` no
    new assignment comes, and polling serves the revocation. Messages polled meanwhile
    are dropped: they were neither applied nor committed, so the next owner reads them."""
    consumer.unsubscribe()
    deadline = time.monotonic() + timeout_s
    while consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.1)


def offset_range(
    admin: AdminClient, tps: list[TopicPartition], timeout: float = 10.0
) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermark of each partition, in two requests for all of them.

    A consumer's `get_watermark_offsets(cached=False)` queues behind its own fetch
    long-poll (`fetch.wait.max.ms`), about 50 ms a partition; the admin client has no
    fetch in flight."""
    if not tps:
        return {}

    def query(spec: OffsetSpec) -> dict[tuple[str, int], int]:
        futures = admin.list_offsets(
            {TopicPartition(tp.topic, tp.partition): spec for tp in tps}, request_timeout=timeout
        )
        return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}

    earliest, latest = OffsetSpec.earliest(), OffsetSpec.latest()  # type: ignore[no-untyped-call]
    low, high = query(earliest), query(latest)
    return {k: (low[k], high[k]) for k in low}


def caught_up(consumer: Consumer, applied: Mapping[tuple[str, int], int]) -> bool:
    """A cheap hint that a drain may be over: every assigned partition is applied up to
    the end the consumer last heard of in a fetch response (no request is sent). Only a
    trigger for `at_end`, which asks the broker."""
    for tp in consumer.assignment():
        _, high = consumer.get_watermark_offsets(tp, cached=True)
        if high < 0 or applied.get((tp.topic, tp.partition), 0) < high:
            return False
    return True


def at_end(
    consumer: Consumer,
    admin: AdminClient,
    topics: list[str],
    applied: Mapping[tuple[str, int], int],
) -> bool:
    """True when every partition of `topics` has been applied up to its end.

    `applied` gives the next offset of the partitions this process knows itself (after
    its last transaction committed); the group's committed offsets stand for the others
    (a partition held by a member that died is not at its end until someone takes it
    over). Asking the broker about one's own partitions right after a commit can stall
    while the transaction's markers settle, hence `applied`."""
    at: dict[tuple[str, int], int] = {}
    others = []
    for topic in topics:
        md = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in md.partitions:
            if (topic, p) in applied:
                at[(topic, p)] = applied[(topic, p)]
            else:
                others.append(TopicPartition(topic, p))
    if others:
        for tp in consumer.committed(others, timeout=10):
            at[(tp.topic, tp.partition)] = tp.offset
    ranges = offset_range(admin, [TopicPartition(t, p) for t, p in at])
    return all(high <= low or at[k] >= high for k, (low, high) in ranges.items())


def admin_config(s: Settings) -> dict[str, Any]:
    """The admin client's settings: the bootstrap servers and the extra librdkafka
    settings (security, timeouts) the other clients get."""
    return {
        "bootstrap.servers": s.kafka_bootstrap_servers,
        "logger": kafka_logger(),
        **s.kafka,
        **s.kafka_secrets(),
    }


# what no retry mends: credentials the broker refuses, a certificate not trusted
REFUSING_ERRORS = {
    "_AUTHENTICATION": "check sasl.username and the password (kafka_password_file or "
    "RATER_KAFKA_PASSWORD), and sasl.mechanisms",
    "_SSL": "check ssl.ca.location (the CA that signed the broker's certificate) and "
    "security.protocol",
}


def list_topics(s: Settings, topic: str | None = None, timeout: float = 30.0) -> ClusterMetadata:
    """The cluster's metadata, as `AdminClient.list_topics`, from a client's first contact
    with the brokers: credentials or a certificate they refuse end it at once with
    `Unavailable` and librdkafka's reason, instead of a transport error after `timeout`
    (librdkafka retries those as it would a broker that is away)."""
    refused: list[KafkaError] = []

    def on_error(err: KafkaError) -> None:
        if err.name() in REFUSING_ERRORS:
            refused.append(err)

    # its own log is silenced: what it would say (refused, unreachable) becomes the error
    admin = AdminClient(admin_config(s) | {"error_cb": on_error, "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin.list_topics(topic, timeout=max(0.1, min(1.0, deadline - time.monotonic())))
        except KafkaException:
            admin.poll(0)  # serves on_error
            if refused:
                err = refused[0]
                raise Unavailable(
                    f"Kafka at {s.kafka_bootstrap_servers} refused the connection: "
                    f"{err.name()}: {err.str()}; {REFUSING_ERRORS[err.name()]}"
                ) from None
            if time.monotonic() >= deadline:
                raise


class TopicsMismatch(Refused):
    """Topics exist with partition counts that break co-partitioning (or differ from
    the count asked for): usage and commands of one account would meet in different
    partitions, so the rater refuses to go on."""


def ensure_topics(s: Settings, partitions: int | None = None, timeout: float = 30.0) -> None:
    """Create the input and output topics if missing, with `partitions` (default: the
    setting). Refuses (TopicsMismatch) when the input topics exist with different
    partition counts from each other, or from `partitions` when it is given."""
    admin = AdminClient(admin_config(s))
    existing = list_topics(s, timeout=timeout).topics
    counts = _input_counts(s, existing, partitions)
    n = next(iter(counts.values()), None) or partitions or s.partitions
    wanted = [t for t in s.topics.inputs() + s.topics.outputs() if t not in existing]
    if not wanted:
        return
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=n, replication_factor=1) for t in wanted],
        operation_timeout=timeout,
    )
    raced = False
    for fut in futures.values():
        try:
            fut.result()
        except KafkaException as e:
            if e.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise
            raced = True
    if raced:
        # created meanwhile by someone else (or not yet in the metadata we read): check
        # what exists now, once every input topic shows in the metadata
        deadline = time.monotonic() + timeout
        while True:
            existing = list_topics(s, timeout=timeout).topics
            if all(t in existing for t in s.topics.inputs()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        _input_counts(s, existing, partitions)


def _input_counts(s: Settings, existing: Any, partitions: int | None) -> dict[str, int]:
    """The partition counts of the input topics that exist, refused (TopicsMismatch)
    when they differ from each other or from `partitions`."""
    counts = {t: len(existing[t].partitions) for t in s.topics.inputs() if t in existing}
    if len(set(counts.values())) > 1:
        raise TopicsMismatch(
            "input topics are not co-partitioned: "
            + ", ".join(f"{t} has {n}" for t, n in sorted(counts.items()))
            + "; an account's usage and commands must meet in one partition"
        )
    if partitions is not None:
        wrong = {t: n for t, n in counts.items() if n != partitions}
        if wrong:
            raise TopicsMismatch(
                ", ".join(f"{t} exists with {n} partitions" for t, n in sorted(wrong.items()))
                + f", not {partitions}: increasing them moves accounts between partitions "
                "(and their state with them); create new topics and replay instead"
            )
    return counts


def check_topics(s: Settings, timeout: float = 30.0) -> int:
    """Before `rater run`: the input topics exist and are co-partitioned; returns their
    partition count. Refused otherwise (a rater on missing topics would only spin)."""
    existing = list_topics(s, timeout=timeout).topics
    missing = [t for t in s.topics.inputs() + s.topics.outputs() if t not in existing]
    if missing:
        raise Refused(
            f"topic(s) {', '.join(missing)} not found at {s.kafka_bootstrap_servers}: create "
            "them with `rater topics` (or check the topic names in the settings)"
        )
    counts = {t: len(existing[t].partitions) for t in s.topics.inputs()}
    if len(set(counts.values())) > 1:
        raise TopicsMismatch(
            "input topics are not co-partitioned: "
            + ", ".join(f"{t} has {n}" for t, n in sorted(counts.items()))
        )
    return next(iter(counts.values()))


def partition_count(s: Settings, topic: str, timeout: float = 10.0) -> int:
    md = list_topics(s, topic, timeout)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        raise Refused(
            f"topic {topic} not found at {s.kafka_bootstrap_servers}: create the topics with "
            "`rater topics` (or check the topic names in the settings)"
        )
    return len(t.partitions)

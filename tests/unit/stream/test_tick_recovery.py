"""A tick over more due accounts than a batch takes goes on over several batches whose
watermark does not move (the tick is held until it is done: tests/unit/pipeline/
test_tick_bound.py). Such a batch still charges fees: if it reaches the store and its
Kafka commit fails, the next session must produce its events from the store. Kafka's
committed offsets cannot tell (they did not move either), so each batch's offsets carry
the partition's batch number, which the store keeps too (docs/exactly-once.md).

Kafka is faked: messages produced in a transaction are published only when it commits;
the committed offsets, with their metadata, outlive a session. The store is a
`MemoryStore` shared by the sessions, as Redis is."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

from rater import metrics
from rater.config import Settings
from rater.core.engine import Rater
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import InMessage
from rater.pipeline.partition import PartitionRun
from rater.store.memory import MemoryStore
from rater.stream.processor import StreamRater
from tests.unit.core.helpers import example_catalog
from tests.unit.pipeline.test_tick_bound import LINES, NOW, _inputs, _run
from tests.unit.stream.test_batch import T

Key = tuple[str, int]


class Kafka:
    """What the broker keeps across sessions: published outputs, committed offsets."""

    def __init__(self) -> None:
        self.published: list[bytes] = []
        self.committed: dict[Key, TopicPartition] = {}
        self.inputs: dict[Key, list[InMessage]] = {}


class FakeProducer:
    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka
        self.open: list[bytes] = []
        self.offsets: list[TopicPartition] = []
        self.fail_commits = 0  # this many commits fail, from the next one

    def begin_transaction(self) -> None:
        self.open, self.offsets = [], []

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], group: Any, timeout: float
    ) -> None:
        self.offsets += offsets

    def produce_batch(self, topic: str, msgs: list[dict[str, Any]]) -> int:
        self.open += [m["value"] for m in msgs]
        return len(msgs)

    def poll(self, timeout: float) -> int:  # no delivery reports to serve
        return 0

    def commit_transaction(self, timeout: float) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaException("commit failed")
        self.kafka.published += self.open
        for tp in self.offsets:
            self.kafka.committed[(tp.topic, tp.partition)] = tp
        self.open, self.offsets = [], []

    def abort_transaction(self, timeout: float) -> None:
        self.open, self.offsets = [], []

    def flush(self, timeout: float) -> int:
        return 0


class FakeMessage:
    def __init__(self, m: InMessage) -> None:
        self.m = m

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self.m.topic

    def partition(self) -> int:
        return self.m.partition

    def offset(self) -> int:
        return self.m.offset

    def key(self) -> bytes | None:
        return self.m.key

    def value(self) -> bytes | None:
        return self.m.value

    def timestamp(self) -> tuple[int, int]:
        return (1, self.m.timestamp)


class FakeConsumer:
    """Reads partition 0 of both topics from the committed offsets on; both are at
    their end once read."""

    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka
        self.at: dict[Key, int] = {}

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        out = []
        for tp in tps:
            got = self.kafka.committed.get((tp.topic, tp.partition))
            out.append(
                got if got is not None else TopicPartition(tp.topic, tp.partition, OFFSET_INVALID)
            )
        return out

    def consume(self) -> list[Any]:
        msgs = []
        for key, inputs in self.kafka.inputs.items():
            start = self.at.get(key)
            if start is None:
                tp = self.kafka.committed.get(key)
                start = tp.offset if tp is not None else 0
            msgs += [FakeMessage(m) for m in inputs if m.offset >= start]
            self.at[key] = len(inputs)
        return msgs

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self.at.get((tp.topic, tp.partition), -1001))
            for tp in tps
        ]

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return (0, len(self.kafka.inputs.get((tp.topic, tp.partition), [])))

    def seek(self, tp: TopicPartition) -> None:
        self.at[(tp.topic, tp.partition)] = tp.offset


def _activated(kafka: Kafka) -> MemoryStore:
    """The nine lines' activations applied and committed, as `rater load` leaves them;
    the tick and two records after them on the topics."""
    store = MemoryStore()
    batch = BatchRater(Rater(example_catalog()), T, 86_400_000, now_ms=lambda: NOW)
    run = PartitionRun(0, store.claim(0), {})
    inputs = _inputs()
    run.push(batch, inputs[: len(LINES)], T.usage, NOW)
    first = run.prepare(batch, store, usage_done=True, commands_done=True)
    assert first is not None
    run.committed(first, store.commit(0, first.commit))
    kafka.committed[(T.commands, 0)] = TopicPartition(
        T.commands, 0, len(LINES), metadata="rater-batch=1"
    )
    kafka.inputs[(T.commands, 0)] = [m for m in inputs if m.topic == T.commands]
    kafka.inputs[(T.usage, 0)] = [m for m in inputs if m.topic == T.usage]
    return store


def _session(kafka: Kafka, store: MemoryStore) -> tuple[StreamRater, FakeProducer, FakeConsumer]:
    settings = Settings(metrics_port=0, commit_overlap=False, tick_accounts_per_batch=2)
    svc = StreamRater(settings, Rater(example_catalog()), store)
    svc.batch.now_ms = lambda: NOW
    producer, consumer = FakeProducer(kafka), FakeConsumer(kafka)
    svc.producer = producer  # type: ignore[assignment]
    svc.consumer = consumer  # type: ignore[assignment]
    svc._on_assign(consumer, [TopicPartition(T.usage, 0), TopicPartition(T.commands, 0)])  # type: ignore[arg-type]
    svc._recover()
    return svc, producer, consumer


def _turn(svc: StreamRater, consumer: FakeConsumer) -> None:
    svc.process(consumer.consume())


@pytest.mark.parametrize("failed_batch", [1, 2, 3, 4])
def test_a_batch_of_a_held_tick_whose_commit_failed_is_re_emitted_from_the_store(
    failed_batch: int,
) -> None:
    """The tick takes four batches (3, 2, 2 and 2 accounts; the watermark moves at the
    first and the last only). Whichever batch's Kafka commit fails after the store has
    it, the next session publishes the events of one whole tick, each once."""
    kafka = Kafka()
    store = _activated(kafka)
    svc, producer, consumer = _session(kafka, store)
    turns = 0
    with pytest.raises(KafkaException, match="commit failed"):
        while True:
            turns += 1
            producer.fail_commits = 1 if turns == failed_batch else 0
            _turn(svc, consumer)
            assert turns < failed_batch, "the failing commit was never reached"
    # process() aborted the transaction; the session is dropped
    svc, producer, consumer = _session(kafka, store)  # the next session: recovery first
    for _ in range(10):
        _turn(svc, consumer)
        if not svc.owned[0].unfinished and not consumer.consume():
            break
    whole, _ = _run(tick_accounts=1000)
    assert Counter(kafka.published) == Counter(whole[0].values)
    assert store.watermark(0)[0] == {T.commands: len(LINES) + 1, T.usage: 2}


def test_after_redis_lost_a_batch_kafka_has_the_next_numbers_still_tell_what_is_committed() -> None:
    """Redis loses the tick's second batch after Kafka committed it (a power loss with
    `appendfsync everysec`): the next session rates it again from the watermark (its
    events again, with the same bytes) and numbers its batches past Kafka's, so that
    when its own next commit fails, that batch is still re-emitted, not taken for
    committed."""
    kafka = Kafka()
    store = _activated(kafka)
    svc, producer, consumer = _session(kafka, store)
    _turn(svc, consumer)  # the tick's first batch (number 2), committed
    before = copy.deepcopy(store.partitions[0])
    _turn(svc, consumer)  # its second (number 3), committed, then lost by Redis
    store.partitions[0] = before
    behind = metrics.REDIS_BEHIND._value.get()
    svc, producer, consumer = _session(kafka, store)
    assert metrics.REDIS_BEHIND._value.get() == behind + 1
    assert svc.owned[0].seq == 3  # past Kafka's, not the store's 2
    producer.fail_commits = 1
    with pytest.raises(KafkaException, match="commit failed"):
        _turn(svc, consumer)  # number 4 reaches the store, not Kafka
    svc, producer, consumer = _session(kafka, store)  # re-emits number 4
    for _ in range(10):
        _turn(svc, consumer)
        if not svc.owned[0].unfinished and not consumer.consume():
            break
    whole, _ = _run(tick_accounts=1000)
    assert set(kafka.published) == set(whole[0].values)  # each at least once
    again = Counter(kafka.published) - Counter(whole[0].values)
    assert set(again) <= set(whole[0].values)  # the lost batch's events, same bytes

"""Batch n's Kafka commit runs while batch n + 1 is consumed and rated, but batch n + 1
never reaches Redis before that commit has returned: Redis keeps one batch's outputs per
partition, so writing the next batch first could lose the outputs of an uncommitted
one (docs/exactly-once.md, 'Commit overlap'). Fakes stand in for Kafka and Redis."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest
from confluent_kafka import KafkaException, TopicPartition

from rater.codec import avro
from rater.config import Settings
from rater.core.state import Account
from rater.stream.processor import Owned, StreamRater
from tests.unit.stream.test_batch import _subscribed, record

T = Settings(metrics_port=0).topics


class Log:
    """The order in which things happened, across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[str] = []

    def add(self, entry: str) -> None:
        with self.lock:
            self.entries.append(entry)

    def index(self, entry: str) -> int:
        return self.entries.index(entry)


class FakeProducer:
    """A transactional producer whose commits wait for `release` (or fail)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.release = threading.Event()
        self.fail = False
        self.commits = 0
        self.begun = 0

    def begin_transaction(self) -> None:
        self.begun += 1
        self.log.add(f"begin {self.begun}")

    def produce_batch(self, topic: str, msgs: list[dict[str, Any]]) -> int:
        return len(msgs)

    def poll(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(self, offsets: Any, group: Any, timeout: float) -> None:
        assert group == "group-metadata"

    def commit_transaction(self, timeout: float) -> None:
        assert self.release.wait(10), "commit never released"
        if self.fail:
            raise KafkaException("commit failed")
        self.commits += 1
        self.log.add(f"commit {self.commits}")

    def abort_transaction(self, timeout: float) -> None:
        self.log.add("abort")


class FakeConsumer:
    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}  # none known: OFFSET_INVALID

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001)
            )
            for tp in tps
        ]


class FakeStore:
    """The calls of RedisStore the batch loop makes, over one account."""

    def __init__(self, log: Log, accounts: dict[str, Account]) -> None:
        self.log = log
        self.accounts = accounts
        self.writes = 0

    def load(
        self, partition: int, keys: Iterable[str], cold: dict[str, bytes] | None = None
    ) -> dict[str, Account]:
        return {k: self.accounts[k] for k in keys if k in self.accounts}

    def due_keys(self, partition: int, until: int) -> list[str]:
        return []

    def seen_among(
        self, partition: int, wanted: Mapping[str, Sequence[str]]
    ) -> dict[str, set[str]]:
        return {}

    def commit(
        self,
        partition: int,
        epoch: int,
        watermark: Mapping[str, tuple[int, int]],
        accounts: Mapping[str, Account],
        directory: Mapping[str, str],
        out: bytes,
        seen: Mapping[str, tuple[bool, Sequence[str]]] = {},
        cold: Mapping[str, bytes] = {},
    ) -> dict[str, bytes]:
        self.writes += 1
        self.log.add(f"redis {self.writes}")
        return {}


class FakeMessage:
    def __init__(self, offset: int, value: bytes) -> None:
        self._offset, self._value = offset, value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return T.usage

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"A"

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_776_000_000_000)


def batch(first: int, n: int = 3) -> list[Any]:
    return [
        FakeMessage(o, avro.encode_usage(record(f"r{o}", "A", "2026-04-10T12:00:00+08:00", 1000)))
        for o in range(first, first + n)
    ]


def _service(overlap: bool = True) -> tuple[StreamRater, FakeProducer, FakeStore, Log]:
    rater, accounts = _subscribed()
    log = Log()
    store = FakeStore(log, accounts)
    producer = FakeProducer(log)
    svc = StreamRater(Settings(metrics_port=0, commit_overlap=overlap), rater, store)  # type: ignore[arg-type]
    svc.producer = producer  # type: ignore[assignment]
    svc.consumer = FakeConsumer()  # type: ignore[assignment]
    svc.owned[0] = Owned(epoch=1, watermark={}, recovered=True)
    return svc, producer, store, log


def _in_thread(fn: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    return t, errors


def test_the_next_batch_is_rated_during_the_commit_but_written_to_redis_after_it() -> None:
    svc, producer, store, log = _service()
    assert svc.process(batch(0)) == 3  # returns with its commit still in flight
    assert store.writes == 1 and producer.commits == 0
    t, errors = _in_thread(lambda: svc.process(batch(3)))
    t.join(0.5)
    assert t.is_alive(), "the second batch must wait for the first commit"
    assert store.writes == 1 and producer.begun == 1
    producer.release.set()
    t.join(10)
    assert not errors
    svc._await_commit()
    assert log.entries == ["begin 1", "redis 1", "commit 1", "begin 2", "redis 2", "commit 2"]
    assert svc.owned[0].watermark == {T.usage: 6}


def test_a_failed_commit_aborts_and_the_next_batch_never_reaches_redis() -> None:
    svc, producer, store, log = _service()
    svc.process(batch(0))
    producer.fail = True
    producer.release.set()
    with pytest.raises(KafkaException, match="commit failed"):
        svc.process(batch(3))
    # Redis holds batch 1 and its outputs; recovery re-emits them after the restart.
    assert store.writes == 1
    assert log.entries == ["begin 1", "redis 1", "abort"]


def test_an_error_while_a_commit_is_in_flight_aborts_only_after_it_settles() -> None:
    svc, producer, _, log = _service()
    svc.process(batch(0))
    threading.Timer(0.2, producer.release.set).start()
    svc._abort()  # e.g. a Redis error while rating the next batch
    assert log.entries == ["begin 1", "redis 1", "commit 1"]  # committed: nothing to abort


def test_a_revocation_waits_for_the_commit_in_flight() -> None:
    svc, producer, _, _ = _service()
    svc.process(batch(0))
    threading.Timer(0.2, producer.release.set).start()
    svc._on_revoke(svc.consumer, [])  # type: ignore[arg-type]
    assert producer.commits == 1 and svc._committing is None


def test_without_overlap_a_batch_returns_committed() -> None:
    svc, producer, _, _ = _service(overlap=False)
    producer.release.set()
    svc.process(batch(0))
    assert producer.commits == 1 and svc._committing is None


def test_transaction_markers_after_the_last_message_move_the_watermark_and_the_offsets() -> None:
    """Inputs written with transactions: each transaction ends in a marker the consumer
    never delivers. The watermark follows the consumer's position past it, in Redis and
    in Kafka alike, so the lag reaches 0 and a drain ends."""
    svc, producer, store, _ = _service()
    producer.release.set()
    consumer = svc.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.positions[(T.usage, 0)] = 4  # messages 0-2, then a marker at 3
    svc.process(batch(0))
    svc._await_commit()
    assert svc.owned[0].watermark == {T.usage: 4}
    # A trailing marker seen by an empty consume(): an offsets-only batch records it.
    assert not svc._markers_pending()
    consumer.positions[(T.usage, 0)] = 5
    assert svc._markers_pending()
    svc.process([])
    svc._await_commit()
    assert svc.owned[0].watermark == {T.usage: 5}
    assert store.writes == 2 and producer.commits == 2  # Redis first, Kafka never ahead

"""Batch n's Kafka commit runs while batch n + 1 is consumed and rated, but batch n + 1
never reaches the store before that commit has returned: the store keeps one batch's
outputs per partition, so writing the next batch first could lose the outputs of an
uncommitted one (docs/exactly-once.md, 'Commit overlap'). Kafka is faked; the store is a
`MemoryStore` that also notes its commits in the test's log."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from confluent_kafka import OFFSET_INVALID, KafkaException, TopicPartition

from rater.codec import avro
from rater.config import Settings
from rater.core.events import ChargeEvent
from rater.pipeline.partition import PartitionRun
from rater.store.base import BatchTxn, Fenced, PartitionCommit, TxnStatus
from rater.store.memory import MemoryStore
from rater.store.outbox import OutMessage, unpack_messages
from rater.stream.processor import StreamRater
from tests.unit.stream.test_batch import A, _subscribed, record

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
        self.produced: list[OutMessage] = []
        self.offsets: list[dict[tuple[str, int], int]] = []  # per transaction
        self.metadata: list[dict[tuple[str, int], str | None]] = []  # per transaction

    def begin_transaction(self) -> None:
        self.begun += 1
        self.log.add(f"begin {self.begun}")

    def produce_batch(self, topic: str, msgs: list[dict[str, Any]]) -> int:
        self.produced += [OutMessage(topic, m["key"], m["value"]) for m in msgs]
        return len(msgs)

    def poll(self, timeout: float) -> int:
        return 0

    def send_offsets_to_transaction(
        self, offsets: list[TopicPartition], group: Any, timeout: float
    ) -> None:
        assert group == "group-metadata"
        self.offsets.append({(tp.topic, tp.partition): tp.offset for tp in offsets})
        self.metadata.append({(tp.topic, tp.partition): tp.metadata for tp in offsets})

    def commit_transaction(self, timeout: float) -> None:
        assert self.release.wait(10), "commit never released"
        if self.fail:
            raise KafkaException("commit failed")
        self.commits += 1
        self.log.add(f"commit {self.commits}")

    def abort_transaction(self, timeout: float) -> None:
        self.log.add("abort")


class FakeConsumer:
    """Positions and the broker's ends (high watermarks) as the test sets them. The
    command partition is at its end (it holds A's NewSubscriber, applied before the
    test starts), so the aligner does not wait for commands."""

    def __init__(self) -> None:
        self.positions: dict[tuple[str, int], int] = {}  # none known: OFFSET_INVALID
        self.highs: dict[tuple[str, int], int] = {(T.commands, 0): 1}  # else unknown
        self.committed_offsets: dict[tuple[str, int], int] = {}  # the group's, in Kafka
        self.seeks: list[TopicPartition] = []

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def position(self, tps: list[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic, tp.partition, self.positions.get((tp.topic, tp.partition), -1001)
            )
            for tp in tps
        ]

    def get_watermark_offsets(
        self, tp: TopicPartition, timeout: float | None = None, cached: bool = False
    ) -> tuple[int, int]:
        return (0, self.highs.get((tp.topic, tp.partition), -1001))

    def committed(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [
            TopicPartition(
                tp.topic,
                tp.partition,
                self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID),
            )
            for tp in tps
        ]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append(tp)


class LoggedStore(MemoryStore):
    """A MemoryStore that notes each commit that lands ("redis N") in the test's log."""

    def __init__(self) -> None:
        super().__init__()
        self.log: Log | None = None
        self.writes = 0

    def commit(self, partition: int, batch: PartitionCommit) -> dict[str, bytes]:
        cold = super().commit(partition, batch)
        self.writes += 1
        if self.log is not None:
            self.log.add(f"redis {self.writes}")
        return cold


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
        return A.encode()

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (1, 1_776_000_000_000)


def batch(first: int, n: int = 3) -> list[Any]:
    return [
        FakeMessage(o, avro.encode_usage(record(f"r{o}", A, "2026-04-10T12:00:00+08:00", 1000)))
        for o in range(first, first + n)
    ]


def _service(overlap: bool = True) -> tuple[StreamRater, FakeProducer, LoggedStore, Log]:
    """A service owning partition 0 of a store that holds subscriber A."""
    store = LoggedStore()
    rater, _ = _subscribed(store=store)
    log = Log()
    store.log = log
    store.writes = 0
    producer = FakeProducer(log)
    settings = Settings(metrics_port=0, commit_overlap=overlap)
    svc = StreamRater(settings, rater, store)
    svc.producer = producer  # type: ignore[assignment]
    svc.consumer = FakeConsumer()  # type: ignore[assignment]
    wm, _ = store.watermark(0)
    assert wm == {T.commands: 1}  # A's NewSubscriber
    svc.owned[0] = PartitionRun(0, store.claim(0), wm, settings.account_cache, recovered=True)
    svc.owned[0].seq = store.batch_seq(0) or 0  # 1: the batch of A's NewSubscriber
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
    first = svc._committing
    assert first is not None and first.txn.status is TxnStatus.PREPARED
    t, errors = _in_thread(lambda: svc.process(batch(3)))
    t.join(0.5)
    assert t.is_alive(), "the second batch must wait for the first commit"
    assert store.writes == 1 and producer.begun == 1
    producer.release.set()
    t.join(10)
    assert not errors
    svc._await_commit()
    assert log.entries == ["begin 1", "redis 1", "commit 1", "begin 2", "redis 2", "commit 2"]
    assert _status(first.txn) is TxnStatus.COMMITTED and first.txn.partitions == [0]
    assert svc._txn is None
    assert svc.owned[0].watermark == {T.commands: 1, T.usage: 6}
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 6}
    # = the watermarks, every input topic's, each with the partition's batch number
    assert producer.offsets == [
        {(T.usage, 0): 3, (T.commands, 0): 1},
        {(T.usage, 0): 6, (T.commands, 0): 1},
    ]
    assert [set(m.values()) for m in producer.metadata] == [{"rater-batch=2"}, {"rater-batch=3"}]
    charges = [
        avro.decode_event("charge", m.value) for m in producer.produced if m.topic == T.charges
    ]
    charged = [c.record_id for c in charges if isinstance(c, ChargeEvent)]
    assert [c for c in charged if c] == [f"r{o}" for o in range(6)]


def test_a_failed_commit_aborts_and_the_next_batch_never_reaches_redis() -> None:
    svc, producer, store, log = _service()
    svc.process(batch(0))
    first = svc._committing
    assert first is not None
    producer.fail = True
    producer.release.set()
    with pytest.raises(KafkaException, match="commit failed"):
        svc.process(batch(3))
    # The store holds batch 1 and its outputs; recovery re-emits them after the restart.
    assert store.writes == 1
    assert log.entries == ["begin 1", "redis 1", "abort"]
    assert first.txn.status is TxnStatus.FAILED and svc._txn is None
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 3}


def test_after_a_failed_commit_the_next_owner_re_emits_the_stored_outputs() -> None:
    """Step 0: Kafka's committed offset is behind the store's watermark, so the last
    batch reached the store but not Kafka: its stored outputs are produced again with
    the offsets, in a transaction of their own, and nothing is rated again."""
    svc, producer, store, _ = _service()
    svc.process(batch(0))
    sent = list(producer.produced)
    producer.fail = True
    producer.release.set()
    with pytest.raises(KafkaException):
        svc._await_commit()
    svc._abort()
    stored = store.watermark(0)[1]
    assert stored is not None and unpack_messages(stored) == sent
    # a new session (or owner) takes the partition over
    after, producer2, _, log2 = _service_on(store)
    producer2.release.set()
    consumer = after.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.committed_offsets[(T.commands, 0)] = 1  # the subscribers were committed
    after._recover()
    assert log2.entries == ["begin 1", "commit 1"]  # nothing written to the store
    assert producer2.produced == sent
    assert producer2.offsets == [{(T.commands, 0): 1, (T.usage, 0): 3}]
    assert after.owned[0].recovered and consumer.seeks == []
    # then the next batch goes on from the watermark; the old batch is not rated again
    assert after.process(batch(0) + batch(3)) == 3
    after._await_commit()
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 6}


def _service_on(store: LoggedStore) -> tuple[StreamRater, FakeProducer, LoggedStore, Log]:
    """A second service over the same store, assigned partition 0 (not yet recovered)."""
    rater, _ = _subscribed()
    log = Log()
    store.log = log
    store.writes = 0
    producer = FakeProducer(log)
    svc = StreamRater(Settings(metrics_port=0), rater, store)
    svc.producer = producer  # type: ignore[assignment]
    consumer = FakeConsumer()
    svc.consumer = consumer  # type: ignore[assignment]
    svc._on_assign(consumer, [TopicPartition(T.usage, 0), TopicPartition(T.commands, 0)])  # type: ignore[arg-type]
    assert not svc.owned[0].recovered
    return svc, producer, store, log


def test_a_batch_fenced_by_a_newer_owner_is_aborted_and_leaves_the_store_alone() -> None:
    svc, producer, store, log = _service()
    producer.release.set()
    svc.process(batch(0))
    svc._await_commit()
    before = store.watermark(0)
    store.claim(0)  # another process took partition 0 over
    with pytest.raises(Fenced):
        svc.process(batch(3))
    assert store.watermark(0) == before
    assert log.entries == ["begin 1", "redis 1", "commit 1", "begin 2", "abort"]
    assert producer.commits == 1 and svc._txn is None


def test_an_error_while_a_commit_is_in_flight_aborts_only_after_it_settles() -> None:
    svc, producer, _, log = _service()
    svc.process(batch(0))
    threading.Timer(0.2, producer.release.set).start()
    svc._abort()  # e.g. a store error while rating the next batch
    assert log.entries == ["begin 1", "redis 1", "commit 1"]  # committed: nothing to abort


def test_a_revocation_waits_for_the_commit_in_flight() -> None:
    svc, producer, _, _ = _service()
    svc.process(batch(0))
    threading.Timer(0.2, producer.release.set).start()
    svc._on_revoke(svc.consumer, [TopicPartition(T.usage, 0)])  # type: ignore[arg-type]
    assert producer.commits == 1 and svc._committing is None
    assert 0 not in svc.owned


def test_without_overlap_a_batch_returns_committed() -> None:
    svc, producer, _, _ = _service(overlap=False)
    producer.release.set()
    svc.process(batch(0))
    assert producer.commits == 1 and svc._committing is None


def test_usage_waits_for_a_command_topic_that_is_not_at_its_end() -> None:
    """The aligner holds usage while the command partition may still hold earlier
    commands; the watermark stops at the first held record."""
    svc, producer, store, _ = _service()
    producer.release.set()
    consumer = svc.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.highs[(T.commands, 0)] = 5  # commands 1-4 not fetched yet
    assert svc.process(batch(0)) == 0
    assert svc.owned[0].aligner.held() == 3 and store.writes == 0
    assert svc._pending()
    consumer.highs[(T.commands, 0)] = 1  # at its end after all
    assert svc.process([]) == 3
    svc._await_commit()
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 3}


def test_transaction_markers_after_the_last_message_move_the_watermark_and_the_offsets() -> None:
    """Inputs written with transactions: each transaction ends in a marker the consumer
    never delivers. The watermark follows the consumer's position past it, in the store
    and in Kafka alike, so the lag reaches 0 and a drain ends."""
    svc, producer, store, _ = _service()
    producer.release.set()
    consumer = svc.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.positions[(T.usage, 0)] = 4  # messages 0-2, then a marker at 3
    svc.process(batch(0))
    svc._await_commit()
    assert svc.owned[0].watermark == {T.commands: 1, T.usage: 4}
    # A trailing marker seen by an empty consume(): an offsets-only batch records it.
    assert not svc._pending()
    consumer.positions[(T.usage, 0)] = 5
    assert svc._pending()
    svc.process([])
    svc._await_commit()
    assert svc.owned[0].watermark == {T.commands: 1, T.usage: 5}
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 5}
    assert store.writes == 2 and producer.commits == 2  # the store first, Kafka never ahead
    assert producer.offsets[-1] == {(T.usage, 0): 5, (T.commands, 0): 1}


def test_latency_and_event_time_lag_are_observed_once_per_record() -> None:
    from prometheus_client import REGISTRY

    from rater import metrics

    def count(name: str) -> float:
        return REGISTRY.get_sample_value(f"{name}_count") or 0.0

    before = count("rater_record_latency_seconds"), count("rater_event_time_lag_seconds")
    svc, producer, _, _ = _service(overlap=False)
    producer.release.set()
    svc.process(batch(0, n=7))
    after = count("rater_record_latency_seconds"), count("rater_event_time_lag_seconds")
    assert (after[0] - before[0], after[1] - before[1]) == (7, 7)
    # the event time is 2026-04-10: days ago, in the top finite bucket or above
    assert metrics.EVENT_TIME_LAG.sum > 7 * 86_400


def test_a_batch_histogram_reads_like_a_prometheus_histogram() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from rater.metrics import BatchHistogram

    values = [0.0, 0.01, 0.02, 0.05, 0.3, 1.0, 7.0, 100.0]
    bounds = (0.01, 0.05, 1, 10)
    reference_registry = CollectorRegistry()
    reference = Histogram("ref", "ref", buckets=bounds, registry=reference_registry)
    for v in values:
        reference.observe(v)
    mine = BatchHistogram.__new__(BatchHistogram)  # not registered globally
    mine.name, mine.documentation, mine.bounds = "ref", "ref", list(bounds)
    mine.counts, mine.sum = [0] * (len(bounds) + 1), 0.0
    import threading

    mine._lock = threading.Lock()
    mine.observe_many(values[:3])
    mine.observe_many(values[3:])
    (fam,) = list(mine.collect())
    got = {(s.name, s.labels.get("le")): s.value for s in fam.samples}
    want = {
        (s.name, s.labels.get("le")): s.value
        for m in reference_registry.collect()
        for s in m.samples
        if not s.name.endswith("_created")
    }
    assert got == want


def _status(txn: BatchTxn) -> TxnStatus:
    """Read afresh (mypy would keep the narrowing of an earlier assert)."""
    return txn.status


class OnPartition(FakeMessage):
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        super().__init__(offset, value)
        self._partition = partition

    def partition(self) -> int:
        return self._partition


class NotedRun(PartitionRun):
    """A PartitionRun that notes in the test's log when it has rated inputs."""

    log: Log

    def prepare(self, *args: Any, **kwargs: Any) -> Any:
        prepared = super().prepare(*args, **kwargs)
        if prepared is not None:
            self.log.add(f"rated partition {self.n}")
        return prepared


def test_the_next_batch_rates_its_other_partitions_while_the_last_commit_is_in_flight() -> None:
    """The wait for the last commit sits on the writer thread, in front of the batch's
    first Redis write: the loop thread goes on rating the other partitions meanwhile,
    instead of blocking on a round trip to the broker."""
    svc, producer, store, log = _service()
    consumer = svc.consumer
    assert isinstance(consumer, FakeConsumer)
    consumer.highs[(T.commands, 1)] = 0  # an empty command partition: usage is not held
    runs = {n: NotedRun(n, store.claim(n), {}, svc.s.account_cache, recovered=True) for n in (0, 1)}
    runs[0].watermark = store.watermark(0)[0]
    for run in runs.values():
        run.log = log
    svc.owned = dict(runs)
    assert svc.process(batch(0)) == 3  # partition 0; its commit left in flight
    assert log.entries == ["rated partition 0", "begin 1", "redis 1"]
    usage = avro.encode_usage(record("p1-0", A, "2026-04-10T12:00:00+08:00", 1000))
    t, errors = _in_thread(lambda: svc.process([*batch(3), OnPartition(1, 0, usage)]))
    deadline = time.monotonic() + 10
    while "rated partition 1" not in log.entries[3:] and time.monotonic() < deadline:
        time.sleep(0.01)
    # both partitions rated, nothing written or begun before the commit returns
    assert log.entries[3:] == ["rated partition 0", "rated partition 1"]
    assert store.writes == 1 and producer.begun == 1 and t.is_alive()
    producer.release.set()
    t.join(10)
    assert not errors
    svc._await_commit()
    assert log.entries[5:] == ["commit 1", "begin 2", "redis 2", "redis 3", "commit 2"]
    assert store.watermark(0)[0] == {T.commands: 1, T.usage: 6}
    assert store.watermark(1)[0] == {T.usage: 1}
    assert producer.offsets[-1] == {
        (T.usage, 0): 6,
        (T.commands, 0): 1,
        (T.usage, 1): 1,
        (T.commands, 1): 0,  # none applied yet: from the start, as without a commit
    }

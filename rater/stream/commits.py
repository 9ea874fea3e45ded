"""Steps 0, 4 and 5 of a batch (rater.stream.processor): the Kafka transaction around a
batch, the outputs produced in it, its commit with the consumer offsets on the committer
thread while the next batch is consumed, the abort of a failed one, and the recovery of
a batch the store holds but Kafka did not commit. A part of `StreamRater`, kept apart
so that the commit protocol reads in one place."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from rater import metrics
from rater.config import Settings
from rater.pipeline.batch import BatchResult
from rater.pipeline.messages import OutMessage
from rater.pipeline.partition import PartitionRun
from rater.store.base import BatchTxn, Store
from rater.store.outbox import unpack_messages
from rater.stream import faults

log = logging.getLogger("rater.stream")

# The metadata of a batch's committed offsets: the partition's batch number, which the
# store keeps too (`Store.batch_seq`). A batch that goes on with a tick held over several
# batches moves no offset, so the offsets alone cannot tell whether it was committed.
BATCH = "rater-batch="


def batch_offsets(
    partition: int, topics: list[str], watermark: dict[str, int], seq: int
) -> list[TopicPartition]:
    """A partition's offsets for a transaction: every input topic's (at its watermark,
    0 when none was applied yet), each carrying the batch's number."""
    meta = f"{BATCH}{seq}"
    return [TopicPartition(t, partition, watermark.get(t, 0), metadata=meta) for t in topics]


def committed_seq(tps: list[TopicPartition]) -> int:
    """The batch number Kafka's committed offsets of a partition carry (0: none, as
    offsets committed before batches were numbered)."""
    seqs = [0]
    for tp in tps:
        meta = tp.metadata or ""
        if meta.startswith(BATCH) and meta[len(BATCH) :].isdigit():
            seqs.append(int(meta[len(BATCH) :]))
    return max(seqs)


@dataclass(slots=True)
class Committing:
    """A batch whose Kafka commit (step 5) is in flight on the committer thread."""

    done: Future[None]
    txn: BatchTxn
    results: list[BatchResult]
    started: float  # perf_counter() when the batch was consumed
    records: int  # input messages applied


def produce_messages(producer: Producer, msgs: list[OutMessage], chunk: int = 10_000) -> None:
    """Queue the messages in the open transaction, in order within each topic.

    `produce_batch` per topic costs half of one `produce()` call per message. If
    librdkafka's queue fills up, the messages it refused (always the tail) are
    retried once it has sent some; any other refusal fails the batch, which is then
    aborted and redone."""
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for topic, key, value in msgs:
        batch = by_topic.get(topic)
        if batch is None:
            batch = by_topic[topic] = []
        batch.append({"key": key, "value": value})
    for topic, batch in by_topic.items():
        for i in range(0, len(batch), chunk):
            todo = batch[i : i + chunk]
            while todo:
                sent = producer.produce_batch(topic, todo)
                if sent == len(todo):
                    break
                refused = [m for m in todo if "_error" in m]
                if todo[-len(refused) :] != refused or any(
                    m["_error"].code() != KafkaError._QUEUE_FULL for m in refused
                ):
                    raise KafkaException(f"produce to {topic} refused: {refused[0]['_error']}")
                for m in refused:
                    del m["_error"]
                producer.poll(0.05)
                todo = refused
            producer.poll(0)  # serve delivery reports now and then


class CommitSteps:
    """The transaction of a batch; mixed into `StreamRater`, whose state it uses."""

    s: Settings
    producer: Producer | None
    consumer: Consumer | None
    _lag_at: float
    _writer_pool: ThreadPoolExecutor | None
    _committer_pool: ThreadPoolExecutor | None
    _committing: Committing | None
    _txn: BatchTxn | None
    store: Store
    owned: dict[int, PartitionRun]

    def _recover(self) -> None:
        assert self.consumer is not None and self.producer is not None
        todo = [n for n, o in self.owned.items() if not o.recovered]
        if not todo:
            return
        topics = self.s.topics.inputs()
        committed = self.consumer.committed(
            [TopicPartition(t, n) for n in todo for t in topics], timeout=30
        )
        tps_of: dict[int, list[TopicPartition]] = defaultdict(list)
        for tp in committed:
            tps_of[tp.partition].append(tp)
        for n in todo:
            own = self.owned[n]
            wm, out = self.store.watermark(n)
            seq, kseq = self.store.batch_seq(n), committed_seq(tps_of[n])
            # the next batch's number is past both: after Redis lost a batch Kafka has,
            # a number used twice would make the next uncommitted batch look committed
            own.watermark, own.seq = wm, max(seq or 0, kseq)
            kafka = {tp.topic: tp.offset for tp in tps_of[n]}
            behind = {t: o for t, o in wm.items() if kafka.get(t, OFFSET_INVALID) < o}
            ahead = {t: kafka[t] for t in topics if kafka.get(t, OFFSET_INVALID) > wm.get(t, 0)}
            # the store's last batch is not in Kafka: its number is ahead of the one the
            # committed offsets carry (state written before batches were numbered: its
            # watermark is ahead of the offsets)
            uncommitted = kseq < seq if seq is not None else bool(behind)
            if uncommitted and out:
                self._await_commit()
                msgs = unpack_messages(out)
                log.warning(
                    "partition %d: re-emitting %d events of a batch applied in Redis "
                    "but not committed in Kafka",
                    n,
                    len(msgs),
                )
                txn = self._begin()
                txn.prepared()  # the outputs are in the store already
                self._produce(msgs)
                self._commit_offsets(batch_offsets(n, topics, wm, own.seq))
                txn.committed()
                self._txn = None
                metrics.RECOVERIES.inc()
            if ahead or (seq is not None and kseq > seq):
                # Redis lost writes that Kafka committed (e.g. a power loss with
                # appendfsync everysec): rate them again from the watermark. Their
                # events were already sent and carry the same ids.
                log.error(
                    "partition %d: Redis (watermark %s, batch %s) is behind Kafka (%s, "
                    "batch %d); re-rating from the watermark",
                    n,
                    wm,
                    seq,
                    kafka,
                    kseq,
                )
                metrics.REDIS_BEHIND.inc()
                for t in ahead:
                    self.consumer.seek(TopicPartition(t, n, wm.get(t, 0)))
            own.recovered = True

    def _produce(self, msgs: list[OutMessage]) -> None:
        """Queue the messages in the open transaction (`produce_messages`)."""
        assert self.producer is not None
        produce_messages(self.producer, msgs)

    def _begin(self) -> BatchTxn:
        assert self.producer is not None
        self.producer.begin_transaction()
        self._txn = txn = BatchTxn()
        return txn

    def _after_commit(
        self, write: Callable[[], dict[str, bytes]]
    ) -> Callable[[], dict[str, bytes]]:
        """The batch's first write, for the writer thread: the last batch's outputs may
        leave Redis only once Kafka has them, so it waits for that commit (which ran
        while this batch was consumed and rated) and begins this batch's transaction,
        while the loop thread rates the next partitions."""

        def first() -> dict[str, bytes]:
            self._await_commit()
            self._begin()
            return write()

        return first

    def _commit_offsets(self, offsets: list[TopicPartition], group: object | None = None) -> None:
        """Add the consumer offsets to the open transaction and commit it. `group` is the
        consumer's group metadata, taken by the loop thread when the batch was consumed."""
        assert self.producer is not None and self.consumer is not None
        self.producer.send_offsets_to_transaction(
            offsets,
            group if group is not None else self.consumer.consumer_group_metadata(),
            30,
        )
        self.producer.commit_transaction(30)

    def _commit_in_background(
        self,
        txn: BatchTxn,
        offsets: list[TopicPartition],
        results: list[BatchResult],
        started: float,
        records: int,
    ) -> None:
        """Step 5 on the committer thread; `_await_commit` collects it."""
        assert self.consumer is not None
        group = self.consumer.consumer_group_metadata()

        def commit() -> None:
            self._commit_offsets(offsets, group)
            txn.committed()
            faults.reached("after_kafka_commit")

        if self._committer_pool is None:
            self._committer_pool = ThreadPoolExecutor(1, thread_name_prefix="rater-commit")
        done = self._committer_pool.submit(commit)
        self._committing = Committing(done, txn, results, started, records)
        if not self.s.commit_overlap:
            self._await_commit()

    def _await_commit(self) -> None:
        """Wait for the batch being committed, if any; raise its error (its transaction
        is then still open: the caller aborts it and restarts the session)."""
        c = self._committing
        if c is None:
            return
        self._committing = None
        c.done.result()
        self._committed(c)

    def _committed(self, c: Committing) -> None:
        if self._txn is c.txn:
            self._txn = None
        if c.records:
            metrics.BATCH_SECONDS.observe(time.perf_counter() - c.started)
            metrics.BATCH_RECORDS.observe(c.records)
        now_ms = time.time() * 1000
        for res in c.results:
            res.count_metrics()
            metrics.RECORD_LATENCY.observe_many([(now_ms - t) / 1000 for t in res.input_times])
            metrics.EVENT_TIME_LAG.observe_many([(now_ms - t) / 1000 for t in res.event_times])
        self._lag_at = 0.0  # the watermarks moved: the lag is measured again at once

    def _settle_commit(self, keep_error: bool = False) -> None:
        """Wait out an in-flight commit without raising: before an abort, a close or a
        revocation. With `keep_error`, a failed commit stays to be raised later."""
        c = self._committing
        if c is None:
            return
        wait([c.done])
        if c.done.exception() is None:
            self._committing = None
            self._committed(c)
        elif not keep_error:
            self._committing = None

    def _writer(self) -> ThreadPoolExecutor:
        if self._writer_pool is None:
            self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="rater-redis")
        return self._writer_pool

    def _abort(self) -> None:
        """Abort the open transaction, if any (after the in-flight commit has settled: a
        commit that went through leaves nothing to abort)."""
        self._settle_commit()
        txn, self._txn = self._txn, None
        if txn is None or not txn.open:
            return
        txn.failed()
        metrics.ABORTS.inc()
        if self.producer is not None:
            try:
                self.producer.abort_transaction(30)
            except KafkaException as e:
                log.warning("abort: %s", e)

"""`rater run`: the streaming rater, effectively once.

How one batch is made durable (docs/exactly-once.md has the crash-by-crash argument):

1. `consume()` a batch from the usage and command topics (partition i of both is owned
   by one process: range assignment over co-partitioned topics).
2. Per partition: drop messages below the partition's applied watermark (they were
   applied before a crash; their outputs come from Redis, step 0 below).
3. Decode, rate through the core, encode the output events (`BatchRater`).
4. Per partition, one Lua script in Redis writes, all or nothing: the changed accounts,
   their due times, the new watermark, and the batch's encoded outputs; it refuses if
   the partition's epoch is not ours (a newer owner exists) or the watermark moved.
5. Produce the outputs in the Kafka transaction, add the consumer offsets (= the new
   watermarks) with `send_offsets_to_transaction`, commit. Offsets follow the consumer's
   position past transaction markers of inputs written with transactions.

Step 4 for partition i runs on a writer thread while step 3 runs for partition i + 1;
a partition's outputs are produced only once its own step 4 has succeeded. Step 5's
commit runs on a committer thread while the next batch is consumed and its first
partition rated; that batch's first step 4 (and its transaction) waits for the commit,
because Redis keeps the outputs of one batch per partition, not two.

0. On assignment, a partition is claimed (its epoch bumped: older owners are fenced)
   and, before its first batch, recovered: if Kafka's committed offset is behind the
   Redis watermark, the last batch was applied but not committed, so its outputs are
   produced again from Redis, with the offsets, in one transaction. Never re-rated.

Any Kafka error inside a transaction aborts it and restarts the session from step 0,
so in-memory state never outlives a failed commit.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import FrameType
from typing import Any

import redis
from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from rater import metrics
from rater.codec.codecs import wire_codecs
from rater.config import Settings
from rater.core.engine import Rater
from rater.gc_tuning import tune_gc
from rater.pipeline.batch import BatchRater, BatchResult
from rater.pipeline.messages import InMessage, OutMessage, new_in_message
from rater.pipeline.partition import PartitionRun, Prepared
from rater.store.base import BatchTxn, Fenced, Store, WatermarkMismatch
from rater.store.outbox import unpack_messages
from rater.store.redis import RedisStore, first_contact, settings_client
from rater.stream import faults
from rater.stream.kafka import (
    admin_config,
    at_end,
    caught_up,
    check_topics,
    consumer_config,
    leave_group,
    producer_config,
)
from rater.stream.restarts import Restarts

log = logging.getLogger("rater.stream")

# errors after which a session starts over (a lost broker or Redis, a lost transaction,
# a fenced or fatal producer: all KafkaException)
RESTARTABLE: tuple[type[Exception], ...] = (
    KafkaException,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    Fenced,
    WatermarkMismatch,
)
# what closing a broken session may raise (a closed or failed client raises RuntimeError)
CLOSE_ERRORS: tuple[type[Exception], ...] = (*RESTARTABLE, RuntimeError)

# an idle member pings Redis and Kafka this often: readiness follows a lost dependency
# within about PING_EVERY_S + KAFKA_PING_TIMEOUT_S
PING_EVERY_S = 1.0
KAFKA_PING_TIMEOUT_S = 2.0


def _describe(e: BaseException) -> str:
    """An error for the log, with librdkafka's code name and whether it is fatal."""
    if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
        err: KafkaError = e.args[0]
        return f"{err.name()}{' (fatal)' if err.fatal() else ''}: {err.str()}"
    return f"{type(e).__name__}: {e}"


@dataclass(slots=True)
class Committing:
    """A batch whose Kafka commit (step 5) is in flight on the committer thread."""

    done: Future[None]
    txn: BatchTxn
    results: list[BatchResult]
    started: float  # perf_counter() when the batch was consumed
    records: int  # input messages applied


class StreamRater:
    def __init__(
        self,
        settings: Settings,
        rater: Rater,
        store: Store,
        health: metrics.Health | None = None,
    ) -> None:
        self.s = settings
        self.rater = rater
        self.store = store
        self.batch = BatchRater(
            rater,
            settings.topics,
            settings.max_future_ms,
            codecs=wire_codecs(settings),
            dead_letter_max_bytes=settings.dead_letter_max_bytes,
        )
        self.health = health or metrics.Health()
        self.stop = threading.Event()
        self.owned: dict[int, PartitionRun] = {}
        self.consumer: Consumer | None = None
        self.producer: Producer | None = None
        self._lag_at = 0.0
        self._ping_at = 0.0
        self._turned = False  # the loop made one good turn since the session opened
        self._writer_pool: ThreadPoolExecutor | None = None  # Redis writes (step 4)
        self._committer_pool: ThreadPoolExecutor | None = None  # Kafka commits (step 5)
        self._committing: Committing | None = None
        self._txn: BatchTxn | None = None  # the open Kafka transaction's batch
        self._admin: AdminClient | None = None  # for the drain check

    # -- session -------------------------------------------------------------------

    def _open(self) -> None:
        tid = f"{self.s.group_id}-{self.s.instance_id}"
        self.producer = Producer(producer_config(self.s, tid))
        self.producer.init_transactions(30)
        self.consumer = Consumer(consumer_config(self.s))
        self.consumer.subscribe(
            self.s.topics.inputs(),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _close(self) -> None:
        """Tear the session down whatever state it is in: a producer that is fenced or
        failed (fatal), a broker or Redis that is away. Nothing here may raise, or the
        error would leave the restart loop and end the process."""
        self.health.ready = False
        try:
            self._abort()  # nothing to do unless the last commit failed or never ran
        except RESTARTABLE as e:  # e.g. Redis lost during a revocation's settle
            log.warning("abort: %s", _describe(e))
        if self.consumer is not None:
            try:
                leave_group(self.consumer)
                self.consumer.close()  # leaves the group: a quick rebalance for the others
            except CLOSE_ERRORS as e:
                log.warning("consumer close: %s", _describe(e))
        if self.producer is not None:
            try:
                # a fenced or fatal producer raises here or returns at once (its queue
                # was purged); either way it is dropped, and the next session's new
                # producer (same transactional.id) fences whatever this one still held
                self.producer.flush(10)
            except (KafkaException, RuntimeError) as e:
                log.warning("producer flush: %s", _describe(e))
        self.consumer = self.producer = None
        for pool in (self._writer_pool, self._committer_pool):
            if pool is not None:
                pool.shutdown(wait=True)
        self._writer_pool = self._committer_pool = None
        self._txn = None
        self.health.ready = False
        self.owned.clear()
        metrics.PARTITIONS.set(0)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for n in sorted({tp.partition for tp in partitions}):
            epoch = self.store.claim(n)
            wm, _ = self.store.watermark(n)
            self.owned[n] = PartitionRun(n, epoch, wm, self.s.account_cache)
            log.info("assigned partition %d (epoch %d, watermark %s)", n, epoch, wm)
        metrics.PARTITIONS.set(len(self.owned))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The next owner must find our last commit settled, one way or the other; if it
        # failed, the next batch's first step 4 raises it and the session restarts.
        self._settle_commit(keep_error=True)
        for n in {tp.partition for tp in partitions}:
            self.owned.pop(n, None)
            log.info("revoked partition %d", n)
        for tp in partitions:  # its lag is its next owner's to report now
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(tp.topic, str(tp.partition))
        metrics.PARTITIONS.set(len(self.owned))

    # -- step 0: recovery ------------------------------------------------------------

    def _recover(self) -> None:
        assert self.consumer is not None and self.producer is not None
        todo = [n for n, o in self.owned.items() if not o.recovered]
        if not todo:
            return
        topics = self.s.topics.inputs()
        committed = self.consumer.committed(
            [TopicPartition(t, n) for n in todo for t in topics], timeout=30
        )
        by_part: dict[int, dict[str, int]] = defaultdict(dict)
        for tp in committed:
            by_part[tp.partition][tp.topic] = tp.offset
        for n in todo:
            own = self.owned[n]
            wm, out = self.store.watermark(n)
            own.watermark = wm
            kafka = by_part[n]
            behind = {t: o for t, o in wm.items() if kafka.get(t, OFFSET_INVALID) < o}
            ahead = {t: kafka[t] for t in topics if kafka.get(t, OFFSET_INVALID) > wm.get(t, 0)}
            if behind and out:
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
                self._commit_offsets({(t, n): o for t, o in wm.items()})
                txn.committed()
                self._txn = None
                metrics.RECOVERIES.inc()
            if ahead:
                # Redis lost writes that Kafka committed (e.g. a power loss with
                # appendfsync everysec): rate them again from the watermark. Their
                # events were already sent and carry the same ids.
                log.error(
                    "partition %d: Redis watermark %s is behind Kafka %s; re-rating "
                    "from the watermark",
                    n,
                    wm,
                    kafka,
                )
                metrics.REDIS_BEHIND.inc()
                for t in ahead:
                    self.consumer.seek(TopicPartition(t, n, wm.get(t, 0)))
            own.recovered = True

    # -- steps 1-5 -------------------------------------------------------------------

    def _produce(self, msgs: list[OutMessage], chunk: int = 10_000) -> None:
        """Queue the messages in the open transaction, in order within each topic.

        `produce_batch` per topic costs half of one `produce()` call per message. If
        librdkafka's queue fills up, the messages it refused (always the tail) are
        retried once it has sent some; any other refusal fails the batch, which is then
        aborted and redone."""
        assert self.producer is not None
        producer = self.producer
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

    def _begin(self) -> BatchTxn:
        assert self.producer is not None
        self.producer.begin_transaction()
        self._txn = txn = BatchTxn()
        return txn

    def _commit_offsets(
        self, offsets: dict[tuple[str, int], int], group: object | None = None
    ) -> None:
        """Add the consumer offsets to the open transaction and commit it. `group` is the
        consumer's group metadata, taken by the loop thread when the batch was consumed."""
        assert self.producer is not None and self.consumer is not None
        self.producer.send_offsets_to_transaction(
            [TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            group if group is not None else self.consumer.consumer_group_metadata(),
            30,
        )
        self.producer.commit_transaction(30)

    def _commit_in_background(
        self,
        txn: BatchTxn,
        offsets: dict[tuple[str, int], int],
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

    def process(self, msgs: list[Message]) -> int:
        """Steps 2-5 for one consumed batch; returns the input messages applied. Step 5
        (the commit) is left running: `_await_commit` collects it."""
        assert self.producer is not None
        started = time.perf_counter()
        by_part: dict[int, list[InMessage]] = {}
        owned = self.owned
        for msg in msgs:
            if msg.error() is not None:
                log.warning("consume error: %s", msg.error())
                continue
            n = msg.partition() or 0
            if n not in owned:
                continue
            ts = msg.timestamp()[1]
            part = by_part.get(n)
            if part is None:
                part = by_part[n] = []
            part.append(
                new_in_message(
                    (msg.topic() or "", n, msg.offset() or 0, msg.key(), msg.value() or b"", ts)
                )
            )
        now = self.batch.now_ms()
        usage_topic = self.s.topics.usage
        for n, pmsgs in by_part.items():
            owned[n].push(self.batch, pmsgs, usage_topic, now)
        done = self._positions()
        applied = 0
        pending: list[tuple[PartitionRun, Prepared, Future[dict[str, bytes]]]] = []
        try:
            for n, run in list(owned.items()):
                usage_done, commands_done = self._done(run, done)
                prepared = run.prepare(self.batch, self.store, usage_done, commands_done)
                if prepared is None:
                    continue
                faults.reached("before_redis_commit")
                if not pending:
                    # The last batch's commit ran while this one was consumed and its
                    # first partition rated. Its outputs may leave Redis only once Kafka
                    # has them, so this batch's first write waits for it.
                    self._await_commit()
                    self._begin()
                # Step 4 runs on the writer thread while the next partition is rated, so
                # the wait for Redis overlaps with work; step 5 for this partition waits
                # for it below.
                written = self._writer().submit(self.store.commit, n, prepared.commit)
                pending.append((run, prepared, written))
                applied += prepared.applied
            if not pending:
                return 0
            txn = self._txn
            assert txn is not None
            offsets: dict[tuple[str, int], int] = {}
            for run, prepared, written in pending:
                cold = written.result()
                txn.wrote(run.n)
                run.committed(prepared, cold)
                for t, (_, new) in prepared.commit.watermark.items():
                    offsets[(t, run.n)] = new
                faults.reached("after_redis_commit")
                self._produce(prepared.result.out)
            txn.prepared()
            faults.reached("after_produce")
            self._commit_in_background(
                txn, offsets, [p.result for _, p, _ in pending], started, applied
            )
        except (Fenced, WatermarkMismatch) as e:
            _settle(pending)
            metrics.FENCED.inc()
            log.error("%s: giving the partition up", e)
            self._abort()
            raise
        except Exception:
            _settle(pending)
            self._abort()
            raise
        return applied

    def _positions(self) -> dict[tuple[str, int], bool]:
        """Per owned input partition: has the consumer nothing more of it to give now
        (its position is at the broker's end, as of the last fetch)? Also moves each
        partition past what a read_committed consumer never delivers (transaction
        markers, aborted records) when inputs are written with transactions: otherwise
        the watermark would stop short of the end for good, the lag never reach 0 and a
        drain never end. Everything below a position was delivered by the consume()
        calls so far, so nothing is skipped that should be applied."""
        assert self.consumer is not None
        if not self.owned:
            return {}
        tps = [TopicPartition(t, n) for n in self.owned for t in self.s.topics.inputs()]
        ends: dict[tuple[str, int], bool] = {}
        for tp in self.consumer.position(tps):
            run = self.owned[tp.partition]
            run.passed(tp.topic, tp.offset)  # negative: no position yet
            at = max(tp.offset, run.consumed.get(tp.topic, 0), run.watermark.get(tp.topic, 0))
            try:
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                high = -1
            ends[(tp.topic, tp.partition)] = high >= 0 and at >= high
        return ends

    def _done(self, run: PartitionRun, at_end: dict[tuple[str, int], bool]) -> tuple[bool, bool]:
        """(usage done, commands done) for the aligner of one partition: a topic is done
        when the consumer is at its end, or when the aligner has waited on it longer than
        `align_max_wait_ms` (then its inputs are applied as they come)."""
        t = self.s.topics
        usage_done = at_end.get((t.usage, run.n), False)
        commands_done = at_end.get((t.commands, run.n), False)
        waiting = run.aligner.waiting_on()
        if waiting is None:
            run.waiting_since = None
            return usage_done, commands_done
        now = time.monotonic()
        if run.waiting_since is None:
            run.waiting_since = now
        if now - run.waiting_since >= self.s.align_max_wait_ms / 1000:
            if waiting == "usage":
                usage_done = True
            else:
                commands_done = True
            metrics.ALIGN_TIMEOUTS.inc()
        return usage_done, commands_done

    def _pending(self) -> bool:
        """After an empty consume(): is there anything to write? Inputs held by an
        aligner, or a position moved past the watermark (a trailing transaction marker:
        an offsets-only batch records it)."""
        if any(run.aligner.held() for run in self.owned.values()):
            return True
        self._positions()
        return any(
            o > run.watermark.get(t, 0)
            for run in self.owned.values()
            for t, o in run.consumed.items()
        )

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

    # -- the loop ----------------------------------------------------------------------

    def run(self, drain: bool = False) -> None:
        """Run until SIGTERM/SIGINT (or, with `drain`, until the inputs are all applied).

        A lost dependency (Kafka, Redis), a fenced or failed producer (a transaction
        that outlived `transaction_timeout_ms` while the broker was away) or a lost
        partition closes the session and opens a new one (new consumer, new producer,
        recovery from what Kafka and the store hold), after a growing pause, not ready
        meanwhile. It gives up with `Unavailable` (exit code 3) past `dependency_retry_s`
        without one good turn, or past `restart_limit` restarts in `restart_window_s`
        (rater.stream.restarts)."""
        restarts = Restarts(
            self.s.dependency_retry_s, self.s.restart_window_s, self.s.restart_limit
        )
        while not self.stop.is_set():
            self._turned = False
            try:
                self._open()  # inside: a broker still away fails init_transactions
                self._loop(drain)
                return
            except RESTARTABLE as e:
                error: Exception = e
                self.health.ready = False  # at once, not after the close
            finally:
                self._close()
            pause = restarts.failed(error, self._turned)
            log.warning(
                "session restart %d (%d in the last %g s) in %.1f s after: %s",
                restarts.failures,
                restarts.in_window(),
                restarts.window_s,
                pause,
                _describe(error),
            )
            self.stop.wait(pause)

    def _loop(self, drain: bool) -> None:
        assert self.consumer is not None
        self._turned = False
        # one line every `rate_log_s` (default 30 s): records/s, lag,
        # batches, so that a log shows the rater turning without a dashboard
        rate_every = self.s.rate_log_s
        rate_at, rate_msgs, rate_batches = time.monotonic(), 0, 0
        while not self.stop.is_set():
            msgs = self.consumer.consume(self.s.batch_size, self.s.batch_timeout_s)
            self._recover()
            self._measure_lag()
            if msgs or self._pending():
                self.process(msgs)
                rate_msgs += len(msgs)
                rate_batches += 1
            else:
                self._ping()
            now = time.monotonic()
            if rate_every > 0 and now - rate_at >= rate_every:
                lag = sum(x.value for m in metrics.LAG.collect() for x in m.samples)
                log.info(
                    "rate: %.0f records/s over %.0f s, %d batches, lag %d messages",
                    rate_msgs / (now - rate_at),
                    now - rate_at,
                    rate_batches,
                    lag,
                )
                rate_at, rate_msgs, rate_batches = now, 0, 0
            # in the group and turning, the store answering: idle members are ready too
            self.health.ready = True
            self._turned = True
            self.health.heartbeat()
            # A drain ends after an empty consume() or, sooner, after a short batch that
            # brought every owned partition to the end the consumer knows of.
            short = drain and 0 < len(msgs) < self.s.batch_size
            ended = not msgs or (short and caught_up(self.consumer, self._applied()))
            if ended:
                self._await_commit()  # idle: no commit is left pending
                self._measure_lag()
                if drain and self._drained():
                    log.info("drained: every owned input partition is at its end")
                    return
        self._await_commit()  # stopping: the last batch is committed before we leave
        self._measure_lag()

    def _ping(self, every_s: float = PING_EVERY_S) -> None:
        """An idle member asks the store and the broker now and then, so that it is not
        ready (and restarts) within seconds of either going away, rather than finding
        out at the next record. An idle consumer does not notice a lost broker by itself:
        `consume()` just returns nothing, so a metadata request is the broker's ping."""
        now = time.monotonic()
        if now - self._ping_at >= every_s:
            self._ping_at = now
            self.store.ping()
            assert self.consumer is not None
            self.consumer.list_topics(self.s.topics.usage, timeout=KAFKA_PING_TIMEOUT_S)

    def _measure_lag(self, every_s: float = 1.0) -> None:
        """Input messages not yet applied, per owned partition (alerts, autoscaling): the
        partition's end as the consumer last heard it in a fetch response, less the
        watermark. Measured after every commit and every `every_s` when idle; an end not
        heard of yet is asked of the broker rather than taken for 0."""
        now = time.monotonic()
        if now - self._lag_at < every_s or self.consumer is None:
            return
        self._lag_at = now
        for tp in self.consumer.assignment():
            own = self.owned.get(tp.partition)
            if own is None:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=True)
                if high < 0:
                    _, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=False)
            except KafkaException:
                continue
            if high >= 0:
                lag = max(0, high - own.watermark.get(tp.topic, 0))
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(lag)

    def _drained(self) -> bool:
        """True when every partition of the input topics, owned here or elsewhere, has
        been applied and committed up to its end (a partition still held by a member
        that died is not drained until someone takes it over)."""
        assert self.consumer is not None
        if not self.owned or not all(o.recovered for o in self.owned.values()):
            return False
        if self._admin is None:
            self._admin = AdminClient(admin_config(self.s))
        return at_end(self.consumer, self._admin, self.s.topics.inputs(), self._applied())

    def _applied(self) -> dict[tuple[str, int], int]:
        """Next offset to apply per owned input partition."""
        topics = self.s.topics.inputs()
        return {(t, p): own.watermark.get(t, 0) for p, own in self.owned.items() for t in topics}

    def install_signal_handlers(self) -> None:
        def stop(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: finishing the batch, then leaving the group", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def _settle(pending: list[tuple[PartitionRun, Prepared, Future[dict[str, bytes]]]]) -> None:
    """Wait out the Redis writes still in flight, so that none lands after the session
    that issued it has been torn down (their own errors no longer matter)."""
    wait([written for _, _, written in pending])


def run_service(settings: Settings, drain: bool = False) -> None:
    """Build the service from settings and run it (the body of `rater run`)."""

    from rater.catalog import load_catalog

    catalog = load_catalog(settings.catalog)
    check_topics(settings)
    client: Any = settings_client(settings)
    first_contact(client, settings.redis_url.get_secret_value())
    health = metrics.Health()
    server = (
        metrics.serve(settings.metrics_host, settings.metrics_port, health)
        if settings.metrics_port
        else None
    )
    rater = Rater(catalog, settings.duplicate_window_ms)
    svc = StreamRater(settings, rater, RedisStore(client, settings.namespace), health)
    tune_gc(settings.gc_gen0_threshold)
    svc.install_signal_handlers()
    log.info(
        "rater %s: catalog %s (version %s), group %s, instance %s",
        "run",
        settings.catalog,
        catalog.version,
        settings.group_id,
        settings.instance_id,
    )
    try:
        svc.run(drain)
    finally:
        if server is not None:
            server.shutdown()

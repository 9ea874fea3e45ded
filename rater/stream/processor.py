"""`rater run`: the streaming rater, effectively once.

How one batch is made durable (docs/exactly-once.md has the crash-by-crash argument):

1. `consume()` a batch from the usage and command topics (partition i of both is owned
   by one process: range assignment over co-partitioned topics): what came while the
   last batch was rated, or, after an idle turn, the first input to come within
   `batch_timeout_s` and what came with it.
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
commit runs on a committer thread while the next batch is consumed and rated; that
batch's first step 4 (and its transaction) waits for the commit on the writer thread,
because Redis keeps the outputs of one batch per partition, not two.

0. On assignment, a partition is claimed (its epoch bumped: older owners are fenced)
   and, before its first batch, recovered: if Kafka's committed offsets carry an older
   batch number than Redis's (rater.stream.commits), the last batch was applied but not
   committed: its outputs are produced again from Redis, with the offsets. Never re-rated.

Any Kafka error inside a transaction aborts it and restarts the session from step 0,
so in-memory state never outlives a failed commit.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from types import FrameType

import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from rater import metrics
from rater.codec.codecs import wire_codecs
from rater.config import Settings
from rater.core.engine import Rater
from rater.pipeline.align import Arrival
from rater.pipeline.batch import BatchRater
from rater.pipeline.messages import InMessage, new_in_message
from rater.pipeline.partition import PartitionRun, Prepared
from rater.store.base import BatchTxn, Fenced, Store, WatermarkMismatch
from rater.store.redis import RedisStore
from rater.stream import faults
from rater.stream.commits import CommitSteps, Committing, batch_offsets
from rater.stream.kafka import (
    caught_up,
    consumer_config,
    leave_group,
    producer_config,
    take,
)
from rater.stream.positions import LAG_EVERY_S, Positions
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


def _describe(e: BaseException) -> str:
    """An error for the log, with librdkafka's code name and whether it is fatal."""
    if isinstance(e, KafkaException) and e.args and isinstance(e.args[0], KafkaError):
        err: KafkaError = e.args[0]
        return f"{err.name()}{' (fatal)' if err.fatal() else ''}: {err.str()}"
    return f"{type(e).__name__}: {e}"


class StreamRater(CommitSteps, Positions):
    """The streaming rater: one consumer group member's session and loop; its commit
    steps (rater.stream.commits) and positions (rater.stream.positions) are mixed in."""

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
            tick_accounts=settings.tick_accounts_per_batch,
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
        # The session's first idle turn asks both servers: a turn counts as good (ready,
        # and the restart pauses start over) only once they have answered this session,
        # not merely because consume() came back empty before the group was joined.
        self._ping_at = 0.0
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
            self.owned[n] = PartitionRun(n, epoch, wm, self.s.account_cache)  # recovered next
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

    # -- steps 1-5 -------------------------------------------------------------------

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
            ready = {n: run.aligner.release(*self._done(run, done)) for n, run in owned.items()}
            views = self._read_ahead(ready)
            for n, run in list(owned.items()):
                prepared = run.prepare(
                    self.batch, views.get(n, self.store), False, False, ready=ready[n]
                )
                if prepared is None:
                    continue
                faults.reached("before_redis_commit")
                write = self._staged(n, prepared)
                if not pending:
                    write = self._after_commit(write)
                # Step 4 runs on the writer thread while the next partition is rated, so
                # the wait for Redis overlaps with work; step 5 for this partition waits
                # for it below.
                written = self._writer().submit(write)
                pending.append((run, prepared, written))
                applied += prepared.applied
            if not pending:
                return 0
            pending[0][2].result()  # the last commit returned, this transaction begun
            txn = self._txn
            assert txn is not None
            offsets: list[TopicPartition] = []
            inputs = self.s.topics.inputs()
            for run, prepared, written in pending:
                cold = written.result()
                txn.wrote(run.n)
                run.committed(prepared, cold)
                offsets += batch_offsets(run.n, inputs, prepared.watermark, run.seq)
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

    def _staged(self, n: int, prepared: Prepared) -> Callable[[], dict[str, bytes]]:
        """Step 4 for the writer thread: a Redis store's arguments built here, on the
        loop thread (`RedisStore.staged`), the writer thread left only the round trip."""
        store = self.store
        if isinstance(store, RedisStore):
            return store.staged(n, prepared.commit)
        return functools.partial(store.commit, n, prepared.commit)

    def _read_ahead(self, ready: dict[int, list[Arrival]]) -> Mapping[int, Store]:
        """The batch's reads of every partition in one round trip (a Redis store), so
        that rating a partition waits for Redis once per batch, not twice per partition."""
        store = self.store
        if not isinstance(store, RedisStore):
            return {}
        wants = {n: self.owned[n].wants(arrivals) for n, arrivals in ready.items() if arrivals}
        return store.read_ahead(wants) if wants else {}

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
        msgs: list[Message] = []
        while not self.stop.is_set():
            # What came while the last batch was rated is taken at once (a wait would add
            # to every record's latency: docs/configuration.md); only an idle turn waits,
            # and only until the first input comes.
            busy = msgs or any(r.unfinished for r in self.owned.values())
            msgs = take(self.consumer, self.s.batch_size, 0 if busy else self.s.batch_timeout_s)
            self._recover()
            self._measure_lag(0.0 if msgs else LAG_EVERY_S)  # messages: measured at once
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

"""Where the consumer stands (rater.stream.processor): per partition, whether a topic
is at its end (the aligner's "done"), what is left to write after an empty consume(),
the lag metric, the drain check and the idle member's pings. A part of `StreamRater`."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from rater import metrics
from rater.config import Settings
from rater.pipeline.partition import PartitionRun
from rater.store.base import Store
from rater.stream.kafka import admin_config, at_end

# an idle member pings Redis and Kafka this often: readiness follows a lost dependency
# within about PING_EVERY_S + KAFKA_PING_TIMEOUT_S
PING_EVERY_S = 1.0
KAFKA_PING_TIMEOUT_S = 2.0
# an idle member measures the lag this often (a turn that brought messages, a commit and
# a change of the partitions owned have it measured at once)
LAG_EVERY_S = 1.0


class Positions:
    """The consumer's position against the broker; mixed into `StreamRater`."""

    s: Settings
    store: Store
    consumer: Consumer | None
    owned: dict[int, PartitionRun]
    _lag_at: float
    # the partitions owned (and their epochs: one given back by a rebalance was claimed
    # again, its series removed) when the lag was last measured
    _lag_of: frozenset[tuple[int, int]] = frozenset()
    _ping_at: float
    _admin: AdminClient | None

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

    def _measure_lag(self, every_s: float = LAG_EVERY_S) -> None:
        """Input messages not yet applied, per owned partition (alerts, autoscaling): the
        partition's end as the consumer last heard it in a fetch response, less the
        watermark. The loop measures on every turn that brought messages (`every_s` 0),
        after every commit, as soon as the partitions owned change, and every `every_s`
        when idle; an end not heard of yet is asked of the broker rather than taken for 0.

        A turn that owns no partition measures nothing, and puts no measurement off:
        with a short `batch_timeout_s` the first turns come back before the group is
        joined, and when such a turn held the next measurement off for `every_s`, a
        backlog drained within that second (held by the aligner until the commands
        came, so without a commit to ask for a measurement) was never seen."""
        if self.consumer is None or not self.owned:
            return
        now, owned = time.monotonic(), frozenset((n, r.epoch) for n, r in self.owned.items())
        if now - self._lag_at < every_s and owned == self._lag_of:
            return
        self._lag_at, self._lag_of = now, owned
        for tp in self.consumer.assignment():
            own = self.owned.get(tp.partition)
            if own is None:
                continue
            try:
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:  # OFFSET_INVALID: no fetch response for it yet
                    _, high = self.consumer.get_watermark_offsets(tp, timeout=1, cached=False)
            except KafkaException:  # what confluent-kafka raises on a timeout too
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

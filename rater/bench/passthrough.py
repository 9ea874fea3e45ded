"""The do-nothing processor of `rater bench stream`: the same consumer, decoding, one
ChargeEvent encoded per record, produced transactionally with the offsets per batch."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from rater.bench.timing import Timing
from rater.codec import avro
from rater.config import Settings
from rater.core.events import ChargeEvent, ChargeKind, Unit
from rater.core.inputs import UsageRecord, UsageType
from rater.stream.kafka import (
    admin_config,
    at_end,
    caught_up,
    consumer_config,
    leave_group,
    producer_config,
    take,
)

if TYPE_CHECKING:
    from rater.bench.parallel import Gate


def passthrough_event(rec: UsageRecord, account: str) -> ChargeEvent:
    """A charge event for a record, with no rating at all."""
    data = rec.usage_type == UsageType.DATA
    return ChargeEvent(
        event_id=f"pt:{rec.record_id}",
        msisdn=rec.msisdn,
        account=account,
        event_time=rec.start_time,
        cycle="",
        catalog_version="passthrough",
        kind=ChargeKind.USAGE,
        record_id=rec.record_id,
        usage_type=rec.usage_type,
        product=None,
        quantity=rec.uplink_bytes + rec.downlink_bytes if data else rec.duration_s,
        unit=Unit.BYTES if data else Unit.MINUTES,
        draws=(),
        overage=0,
        free=0,
        fen=0,
        reason="",
    )


class Passthrough:
    """Consume -> decode -> encode one event -> produce, in Kafka transactions with the
    consumer offsets: the rater's loop with the rating and the Redis step taken out."""

    def __init__(
        self,
        s: Settings,
        source: str,
        sink: str,
        group: str,
        start_at_end: bool = False,
        gate: Gate | None = None,
    ) -> None:
        self.s = s
        self.gate = gate
        self.source = source
        self.sink = sink
        self.group = group
        self.start_at_end = start_at_end
        self.admin: AdminClient | None = None
        self.applied: dict[tuple[str, int], int] = {}  # committed next offsets it owns
        self.stop = threading.Event()
        self.assigned = threading.Event()
        self.timing = Timing(start=time.perf_counter())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.start_at_end:
            for tp in partitions:
                tp.offset = consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1]
            consumer.assign(partitions)
        if self.gate is not None:
            self.gate.assigned(consumer, partitions)
        if self.timing.assigned is None:
            self.timing.assigned = time.perf_counter()
        self.assigned.set()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.applied.pop((tp.topic, tp.partition), None)  # others may move it on
        if self.gate is not None:
            self.gate.revoked(partitions)

    def run(self, drain: bool) -> None:
        s = self.s
        producer = Producer(producer_config(s, f"{self.group}-{s.instance_id}"))
        producer.init_transactions(30)
        consumer = Consumer(consumer_config(s, group_id=self.group))
        consumer.subscribe([self.source], on_assign=self._on_assign, on_revoke=self._on_revoke)
        encode, decode = avro.encode_event, avro.decode_usage
        sink, t = self.sink, self.timing
        msgs: list[Message] = []
        try:
            while not self.stop.is_set():
                # the rater's policy (rater.stream.processor): only an idle turn waits
                msgs = take(consumer, s.batch_size, 0 if msgs else s.batch_timeout_s)
                if self.gate is not None:
                    self.gate.check(consumer)
                if not msgs:
                    if drain and self._drained(consumer):
                        return
                    continue
                t0, c0 = time.perf_counter(), time.thread_time()
                offsets: dict[int, int] = {}
                producer.begin_transaction()
                n = 0
                for m in msgs:
                    if m.error() is not None:
                        continue
                    key = m.key() or b""
                    rec = decode(m.value() or b"")
                    value = encode(passthrough_event(rec, key.decode()))
                    try:
                        producer.produce(sink, value, key)
                    except BufferError:
                        producer.poll(0.05)
                        producer.produce(sink, value, key)
                    offsets[m.partition() or 0] = (m.offset() or 0) + 1
                    n += 1
                t1 = time.perf_counter()
                producer.send_offsets_to_transaction(
                    [TopicPartition(self.source, p, o) for p, o in offsets.items()],
                    consumer.consumer_group_metadata(),
                    30,
                )
                producer.commit_transaction(30)
                self.applied.update({(self.source, p): o for p, o in offsets.items()})
                t.kafka_commit_s += time.perf_counter() - t1
                t.commit_wait_s += time.perf_counter() - t1  # no overlap here
                t.in_batches += time.perf_counter() - t0
                t.batch_cpu += time.thread_time() - c0
                if t.first is None:
                    t.first = t0
                t.last = time.perf_counter()
                t.applied += n
                t.batches += 1
                if (
                    drain
                    and len(msgs) < s.batch_size
                    and caught_up(consumer, self.applied)
                    and self._drained(consumer)
                ):
                    return  # the same early end as the rater's loop
        finally:
            leave_group(consumer)
            consumer.close()
            producer.flush(10)

    def _drained(self, consumer: Consumer) -> bool:
        """Every partition of the source committed to its end by this group (also those
        of other workers of a multi-process run): the shared check of `rater run`."""
        if not consumer.assignment():
            return False
        if self.admin is None:
            self.admin = AdminClient(admin_config(self.s))
        return at_end(consumer, self.admin, [self.source], self.applied)

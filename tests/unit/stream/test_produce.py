"""Queuing a batch's outputs: order within a topic kept, a full local queue waited out,
any other refusal fails the batch (so it is aborted and redone, never half-sent)."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from rater.config import Settings
from rater.core.engine import Rater
from rater.store.memory import MemoryStore
from rater.store.outbox import OutMessage
from rater.stream.processor import StreamRater
from tests.unit.core.helpers import example_catalog


class FakeProducer:
    """Accepts `room` messages, then refuses the rest of a call as librdkafka does."""

    def __init__(self, room: int, error: int = KafkaError._QUEUE_FULL) -> None:
        self.room = room
        self.error = error
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.polls = 0

    def produce_batch(self, topic: str, msgs: list[dict[str, Any]]) -> int:
        n = 0
        for m in msgs:
            if self.room <= 0:
                m["_error"] = KafkaError(self.error)
                continue
            self.room -= 1
            self.sent.append((topic, m["key"], m["value"]))
            n += 1
        return n

    def poll(self, timeout: float) -> int:
        self.polls += 1
        if timeout > 0:
            self.room = 1_000  # the queue drained while we waited
        return 0


def _svc(producer: FakeProducer) -> StreamRater:
    svc = StreamRater(Settings(metrics_port=0), Rater(example_catalog()), MemoryStore())
    svc.producer = producer  # type: ignore[assignment]
    return svc


MSGS = [OutMessage("charges" if i % 3 else "throttle", b"k%d" % i, b"v%d" % i) for i in range(20)]


def test_every_message_is_queued_once_in_order_within_its_topic_after_a_full_queue() -> None:
    producer = FakeProducer(room=5)
    _svc(producer)._produce(MSGS)
    assert sorted(producer.sent) == sorted(MSGS)
    for topic in ("charges", "throttle"):
        assert [m for m in producer.sent if m[0] == topic] == [m for m in MSGS if m[0] == topic]


def test_a_refusal_other_than_a_full_queue_fails_the_batch() -> None:
    producer = FakeProducer(room=2, error=KafkaError.MSG_SIZE_TOO_LARGE)
    with pytest.raises(KafkaException, match="refused"):
        _svc(producer)._produce(MSGS)

"""`rater_consumer_lag` is measured while a backlog is drained, however short the turns:
a turn before the group is joined puts no measurement off, a turn that brought messages
measures even when the aligner holds them (no commit follows to ask for a measurement),
and partitions assigned (again) are measured at once. With `batch_timeout_s` 0.05 the
first turns came back before the group was joined, one of them held the measurement off
for a second, and a backlog drained within it was never seen
(tests/integration/test_lag_metric.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import TopicPartition
from prometheus_client import REGISTRY

from rater import metrics
from rater.config import Settings
from rater.stream.processor import StreamRater
from tests.unit.stream.test_batch import _subscribed
from tests.unit.stream.test_commit_overlap import FakeConsumer, FakeProducer, Log, batch

T = Settings(metrics_port=0).topics
INPUTS = [TopicPartition(t, 0) for t in T.inputs()]


class TurningConsumer(FakeConsumer):
    """A consumer whose `consume()` calls play a script, one step a turn; the run stops
    after the last step. The command partition's end is one past what the store has
    applied: usage waits for a command that has not come (the aligner holds it)."""

    def __init__(self, svc: StreamRater, steps: list[Callable[[], list[Any]]]) -> None:
        super().__init__()
        self.svc = svc
        self.steps = steps
        self.assigned: list[TopicPartition] = []
        self.highs[(T.commands, 0)] = 2
        self.committed_offsets[(T.commands, 0)] = 1  # the store's batch: nothing to redo

    def assignment(self) -> list[TopicPartition]:
        return list(self.assigned)

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        msgs = self.steps.pop(0)()
        if not self.steps:
            self.svc.stop.set()
        return msgs

    def list_topics(self, topic: str, timeout: float) -> None:
        return None  # the idle member's ping


def _lag() -> float | None:
    return REGISTRY.get_sample_value("rater_consumer_lag", {"topic": T.usage, "partition": "0"})


@pytest.fixture(autouse=True)
def _no_lag_series() -> Iterator[None]:
    def clear() -> None:
        for tp in INPUTS:
            with contextlib.suppress(KeyError):
                metrics.LAG.remove(tp.topic, "0")

    clear()
    yield
    clear()


def _service() -> tuple[StreamRater, TurningConsumer]:
    rater, store = _subscribed()
    svc = StreamRater(Settings(metrics_port=0, align_max_wait_ms=60_000), rater, store)
    producer = FakeProducer(Log())
    producer.release.set()
    svc.producer = producer  # type: ignore[assignment]
    consumer = TurningConsumer(svc, [])
    svc.consumer = consumer  # type: ignore[assignment]
    return svc, consumer


def test_a_turn_before_the_assignment_does_not_put_off_the_first_measurement() -> None:
    svc, consumer = _service()

    def assign() -> list[Any]:  # the group is joined during this turn's consume()
        consumer.assigned = INPUTS
        svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]
        consumer.highs[(T.usage, 0)] = 3
        return batch(0)

    consumer.steps = [list, assign, list]  # idle, joined with a backlog of 3, idle
    svc._loop(drain=False)
    assert svc.owned[0].aligner.held()  # still waiting for the command
    assert _lag() == 3


def test_a_turn_with_messages_measures_within_a_second_of_the_last_measurement() -> None:
    svc, consumer = _service()
    consumer.assigned = INPUTS
    svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]
    svc._recover()
    consumer.highs[(T.usage, 0)] = 0

    def backlog() -> list[Any]:
        consumer.highs[(T.usage, 0)] = 3
        return batch(0)

    consumer.steps = [list, backlog, list]  # idle (measured: 0), a backlog of 3, idle
    svc._loop(drain=False)
    assert svc.owned[0].aligner.held()
    assert _lag() == 3


def test_an_idle_turn_measures_at_most_once_a_second() -> None:
    svc, consumer = _service()
    consumer.assigned = INPUTS
    svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]
    consumer.highs[(T.usage, 0)] = 5
    svc._measure_lag()
    assert _lag() == 5
    consumer.highs[(T.usage, 0)] = 7
    svc._measure_lag()
    assert _lag() == 5  # put off
    svc._measure_lag(0.0)  # as a turn that brought messages
    assert _lag() == 7


def test_partitions_given_back_by_a_rebalance_are_measured_at_once() -> None:
    svc, consumer = _service()
    consumer.assigned = INPUTS
    consumer.highs[(T.usage, 0)] = 5
    svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]
    svc._measure_lag()
    assert _lag() == 5
    svc._on_revoke(consumer, INPUTS)  # type: ignore[arg-type]
    assert _lag() is None  # the next owner's to report
    svc._on_assign(consumer, INPUTS)  # type: ignore[arg-type]  # claimed again: a new epoch
    svc._measure_lag()
    assert _lag() == 5

"""An idle turn of the rater takes a record as soon as it comes (`rater.stream.kafka.take`),
where a plain `consume(count, wait)` holds it until `wait` is over: what a record's
latency is made of when traffic is light. Only lower bounds and generous upper bounds on
time are asserted: a slow box makes every wait longer, never shorter."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from rater.stream.kafka import take

pytestmark = pytest.mark.integration

WAIT_S = 3.0


def _consumer(bootstrap: str, topic: str) -> Consumer:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    return c


def _produce(bootstrap: str, topic: str, n: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        p.produce(topic, str(i).encode())
    assert p.flush(30) == 0


def test_consume_holds_what_came_until_its_timeout(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    """The behaviour of librdkafka's batch consume that `take` works around: with fewer
    messages than asked for, it returns at its timeout, not at the first message."""
    topic = topic_factory("take-consume")
    _produce(kafka_bootstrap, topic, 5)
    c = _consumer(kafka_bootstrap, topic)
    try:
        t0 = time.monotonic()
        got = c.consume(100, WAIT_S)
        elapsed = time.monotonic() - t0
    finally:
        c.close()
    assert [m.value() for m in got] == [str(i).encode() for i in range(5)]
    assert elapsed >= 0.8 * WAIT_S


def test_take_returns_at_the_first_message_with_what_came_along(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("take-first")
    _produce(kafka_bootstrap, topic, 5)
    c = _consumer(kafka_bootstrap, topic)
    try:
        t0 = time.monotonic()
        got = take(c, 100, WAIT_S)
        elapsed = time.monotonic() - t0
        while len(got) < 5:  # a second fetch may bring the tail: nothing is lost
            more = take(c, 100, WAIT_S)
            assert more, "a produced message never came"
            got += more
    finally:
        c.close()
    assert [m.value() for m in got] == [str(i).encode() for i in range(5)]
    assert elapsed < WAIT_S / 2


def test_take_of_nothing_waits_its_time_and_of_one_takes_one(
    kafka_bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory("take-idle")
    c = _consumer(kafka_bootstrap, topic)
    try:
        t0 = time.monotonic()
        assert take(c, 100, 0.5) == []
        assert time.monotonic() - t0 >= 0.4  # an idle turn still waits: no busy loop
        _produce(kafka_bootstrap, topic, 3)
        one = take(c, 1, WAIT_S)
        rest = take(c, 100, WAIT_S)
    finally:
        c.close()
    assert [m.value() for m in one] == [b"0"]
    assert [m.value() for m in rest] == [b"1", b"2"]

"""Usage written upstream with transactions (a mediation with exactly-once): every
transaction leaves a marker the rater never receives, and an aborted transaction leaves
records it must never rate. The rater still gives the simulator's events, its
watermarks and committed offsets reach the partitions' ends (lag 0), and a drain ends,
with one group member and with two."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from rater.config import Settings
from rater.store.redis import RedisStore
from rater.stream.kafka import consumer_config
from rater.stream.tools import read_events
from tests.faults.world import canon, make_world
from tests.integration.test_stream_vs_simulator import run_until_drained


def _drain_within(s: Settings, timeout_s: float, members: int) -> None:
    """`members` raters in one group (threads here), each until the whole input is
    drained; fails instead of hanging if a drain never ends."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            run_until_drained(s.model_copy(update={"instance_id": f"{s.instance_id}-m{i}"}))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(members)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"the drain did not end in {timeout_s} s"
    assert not errors, errors


@pytest.mark.parametrize("members", [1, 2])
def test_transactional_inputs_are_rated_once_and_drained_to_their_end(
    members: int, kafka_bootstrap: str, redis_url: str
) -> None:
    world = make_world(
        kafka_bootstrap,
        redis_url,
        subscribers=100,
        records=4_000,
        seed=31,
        partitions=2,
        transaction_size=500,
    )
    s = world.settings
    _drain_within(s, 180, members)

    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    assert max(ids.values()) == 1
    assert not [i for i in ids if i.startswith("aborted-")], "an aborted record was rated"
    assert set(ids) == set(world.expected)
    assert all(canon(e) == world.expected[e.event_id] for e in events)

    # Watermark in Redis and committed offset in Kafka both at the end, past the markers.
    store = RedisStore(redis.Redis.from_url(redis_url), s.namespace)
    c = Consumer(consumer_config(s))
    try:
        tps = [TopicPartition(s.topics.usage, p) for p in range(s.partitions)]
        got = c.committed(tps, timeout=30)
        committed = {tp.partition: tp.offset for tp in got}
        for p in range(s.partitions):
            _, high = c.get_watermark_offsets(TopicPartition(s.topics.usage, p), timeout=30)
            assert store.watermark(p)[0][s.topics.usage] == high
            assert committed[p] == high
        # the offsets carry the number of the partition's last batch, as the store does:
        # a new session finds nothing to re-emit
        assert {tp.partition: tp.metadata for tp in got} == {
            p: f"rater-batch={store.batch_seq(p)}" for p in range(s.partitions)
        }
    finally:
        c.close()
    _drain_within(s, 180, 1)
    assert Counter(e.event_id for e in read_events(s)) == ids

"""`rater_consumer_lag` tells the truth: near the backlog while there is one, 0 as soon
as it has been applied (it was 0 during a backlog and stale after it), whatever the
batch timeout. With a short one (0.05 s) the first turn came back before the group was
joined, its measurement of no partitions held the next one off for a second, and the
backlog (held by the aligner until the commands arrived, so no commit asked for a
measurement either) was drained within that second: the lag was never measured."""

from __future__ import annotations

import threading
import time

import pytest
import redis
from prometheus_client import REGISTRY

from rater.catalog import load_catalog
from rater.config import Settings
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import NewSubscriber, Roaming, UsageRecord, UsageType
from rater.store.redis import RedisStore
from rater.stream.processor import StreamRater
from rater.stream.tools import produce_commands, produce_usage
from tests.integration import streamkit
from tests.integration.test_stream_vs_simulator import CATALOG

pytestmark = pytest.mark.integration

N = 6000


def _lag(s: Settings) -> float:
    return sum(
        REGISTRY.get_sample_value(
            "rater_consumer_lag", {"topic": s.topics.usage, "partition": str(p)}
        )
        or 0.0
        for p in range(s.partitions)
    )


# RATER_BATCH_TIMEOUT_S, when set, overrides both (the environment beats init values)
@pytest.mark.parametrize("batch_timeout_s", [0.05, 0.2])
def test_lag_is_the_backlog_then_zero_once_applied(
    kafka_bootstrap: str, redis_url: str, batch_timeout_s: float
) -> None:
    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "lag",
        catalog=CATALOG,
        partitions=2,
        batch_size=100,  # many batches: the backlog is seen while it lasts
        batch_timeout_s=batch_timeout_s,
    )
    # leaders elected before the rater starts: a slow first fetch would stretch the
    # drain past a second and hide a lag measured only once a second
    streamkit.create_topics(s)
    act = to_ms("2026-03-05T00:00:00+08:00")
    subs = [f"1390000{i:04d}" for i in range(20)]
    produce_commands(s, [NewSubscriber(f"c-{m}", m, act, "P58", 1, "GD") for m in subs])
    t0 = to_ms("2026-04-10T00:00:00+08:00")
    records = [
        UsageRecord(
            f"r{i}",
            subs[i % 20],
            UsageType.DATA,
            t0 + i * 1000,
            1,
            0,
            1000,
            None,
            None,
            "GD",
            "LTE",
            Roaming.HOME,
            None,
            0,
        )
        for i in range(N)
    ]
    produce_usage(s, records, {m: m for m in subs})

    svc = StreamRater(
        s, Rater(load_catalog(CATALOG)), RedisStore(redis.Redis.from_url(redis_url), s.namespace)
    )
    runner = threading.Thread(target=svc.run, kwargs={"drain": True})
    seen: list[float] = []
    runner.start()
    while runner.is_alive():
        seen.append(_lag(s))
        time.sleep(0.005)
    runner.join()
    assert max(seen) >= 0.9 * N, f"the backlog was never seen: max {max(seen)}"
    assert _lag(s) == 0, "applied, but the lag still shows a backlog"

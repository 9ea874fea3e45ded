"""Crash tests: rater processes are killed with SIGKILL at random instants, while two of
them share the partitions (so every kill is also a rebalance), and restarted. At the
end, the committed output must equal the offline simulator's: every event exactly
once, every balance the same."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml

from rater.config import Settings
from rater.store.redis import RedisStore
from rater.stream import faults
from rater.stream.tools import read_events, send_tick
from tests.faults.world import canon, make_world
from tests.integration.test_stream_vs_simulator import (
    CATALOG,
    UNTIL,
    run_until_drained,
)

ROOT = Path(__file__).resolve().parents[2]


def _config_file(s: Settings, tmp: Path, instance: str) -> Path:
    data = s.model_dump(mode="json")
    data["redis_url"] = s.redis_url.get_secret_value()
    data["instance_id"] = instance
    data["batch_size"] = 1000  # many small transactions: more instants to die at
    data["catalog"] = str(CATALOG)
    path = tmp / f"{instance}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(
    config: Path, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "RATER_CRASH_AT")
    }
    env.update(extra_env or {})
    return subprocess.Popen(
        [sys.executable, "-m", "rater.cli", "run", "--config", str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )


def test_kill9_and_rebalances_lose_and_duplicate_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    world = make_world(
        kafka_bootstrap, redis_url, subscribers=300, records=100_000, seed=11, until=UNTIL
    )
    s, expected, store = world.settings, world.expected, world.store
    n_records = 100_000

    rng = random.Random(5)
    configs = [_config_file(s, tmp_path, f"{s.group_id}-{i}") for i in range(2)]
    logs = [tmp_path / f"rater-{i}.log" for i in range(2)]
    procs = [_start(c, lg) for c, lg in zip(configs, logs, strict=True)]
    client = redis.Redis.from_url(redis_url)
    rstore = RedisStore(client, s.namespace)

    def applied() -> int:
        return sum(rstore.watermark(p)[0].get(s.topics.usage, 0) for p in range(s.partitions))

    kills = mid_stream = 0
    deadline = time.monotonic() + 120
    while kills < 6 and time.monotonic() < deadline and applied() < n_records:
        time.sleep(rng.uniform(1.0, 3.0))
        if 0 < applied() < n_records:
            mid_stream += 1  # this kill lands with work begun and work outstanding
        victim = rng.randrange(2)
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        kills += 1
        procs[victim] = _start(configs[victim], logs[victim])
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert mid_stream >= 2, f"only {mid_stream} of {kills} kills landed mid-stream"

    # a survivor (same instance id as one of the killed: its open transaction is aborted)
    survivor = Settings(
        **{**s.model_dump(), "instance_id": f"{s.group_id}-0", "redis_url": redis_url}
    )
    run_until_drained(survivor)
    send_tick(s, UNTIL)
    run_until_drained(survivor)

    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    twice = [k for k, n in ids.items() if n > 1]
    assert not twice, f"written twice: {twice[:5]}"
    missing = set(expected) - set(ids)
    extra = set(ids) - set(expected)
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    assert all(canon(e) == expected[e.event_id] for e in events)

    for key, acct in store.accounts().items():
        part = next(p for p in range(s.partitions) if rstore.account_key(p, key) is not None)
        assert (
            rstore.load(part, [key], with_seen=True)[key].to_dict()["lines"]
            == acct.to_dict()["lines"]
        ), key
    recovered = sum(lg.read_text().count("re-emitting") for lg in logs)
    print(f"kills: {kills} ({mid_stream} mid-stream), batches re-emitted: {recovered}")


@pytest.mark.parametrize("point", faults.POINTS)
def test_crash_at_each_step_of_the_batch_protocol(
    point: str, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """The process dies at a chosen step of its 3rd batch; a restart must finish the
    job with every event exactly once (docs/exactly-once.md, 'Crash points')."""
    world = make_world(
        kafka_bootstrap, redis_url, subscribers=100, records=6_000, seed=21, partitions=2
    )
    s, expected = world.settings, world.expected

    config = _config_file(s, tmp_path, f"{s.group_id}-0")
    log = tmp_path / "rater.log"
    crashing = _start(config, log, {"RATER_CRASH_AT": f"{point}:3"})
    assert crashing.wait(timeout=120) == -signal.SIGKILL, log.read_text()[-2000:]

    survivor = Settings(
        **{**s.model_dump(), "instance_id": f"{s.group_id}-0", "redis_url": redis_url}
    )
    run_until_drained(survivor)
    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1][:5]
    assert set(ids) == set(expected)
    assert all(canon(e) == expected[e.event_id] for e in events)

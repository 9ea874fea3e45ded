"""`rater run --workers N`: N processes of one group on one machine give exactly the
simulator's events, and SIGTERM to the parent stops every worker cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis

from rater.config import Settings
from rater.store.redis import RedisStore
from rater.stream.tools import read_events
from tests.faults.test_kill9 import _config_file
from tests.faults.world import canon, make_world
from tests.integration.test_stream_vs_simulator import (
    run_until_drained,
)

ROOT = Path(__file__).resolve().parents[2]


def _rater(config: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL")}
    return subprocess.Popen(
        [sys.executable, "-m", "rater.cli", "run", "--config", str(config), *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )


def _world(
    kafka_bootstrap: str, redis_url: str, n_records: int, seed: int
) -> tuple[Settings, dict[str, bytes]]:
    world = make_world(kafka_bootstrap, redis_url, subscribers=200, records=n_records, seed=seed)
    return world.settings, world.expected


def _check_exactly_once(s: Settings, expected: dict[str, bytes]) -> None:
    events = read_events(s)
    ids = Counter(e.event_id for e in events)
    assert max(ids.values()) == 1, [k for k, n in ids.items() if n > 1][:5]
    assert set(ids) == set(expected)
    assert all(canon(e) == expected[e.event_id] for e in events)


def test_workers_share_the_partitions_and_equal_the_simulator(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    s, expected = _world(kafka_bootstrap, redis_url, 20_000, seed=31)
    config = _config_file(s, tmp_path, f"{s.group_id}-x")
    log = tmp_path / "workers.log"
    proc = _rater(config, log, "--workers", "2", "--drain")
    assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
    text = log.read_text()
    # both workers took part: each logged its own assignments
    assert "rater-w0" in text and "rater-w1" in text, text[-3000:]
    _check_exactly_once(s, expected)


def test_sigterm_to_the_parent_stops_every_worker_cleanly(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    s, expected = _world(kafka_bootstrap, redis_url, 30_000, seed=41)
    config = _config_file(s, tmp_path, f"{s.group_id}-x")
    log = tmp_path / "workers.log"
    proc = _rater(config, log, "--workers", "2")  # no --drain: runs until told to stop
    rstore = RedisStore(redis.Redis.from_url(redis_url), s.namespace)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(rstore.watermark(p)[0].get(s.topics.usage, 0) for p in range(s.partitions)):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert log.read_text().count("finishing the batch") == 2
    # whatever was left is finished by a fresh process; nothing lost, nothing twice
    run_until_drained(s)
    _check_exactly_once(s, expected)


def test_a_stop_while_the_workers_still_start_is_clean(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """SIGTERM right after the workers are started, while each still imports the service
    (seconds on a loaded box): every worker ends with status 0, not the signal's default
    death (143), and nothing was rated, so a fresh process rates it all once."""
    s, expected = _world(kafka_bootstrap, redis_url, 2_000, seed=43)
    config = _config_file(s, tmp_path, f"{s.group_id}-x")
    log = tmp_path / "workers.log"
    proc = _rater(config, log, "--workers", "2")
    deadline = time.monotonic() + 60
    while "started 2 workers" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    run_until_drained(s)
    _check_exactly_once(s, expected)

"""The service stays up through lost servers (issue 15, item 3): a broker stopped for
longer than the transaction timeout, Redis killed with SIGKILL, each brought back
mid-run; readiness that follows them while idle; an outage past `dependency_retry_s`
that ends the process with one line. The rater runs as `rater run` processes, against a
Kafka and a Redis of this module's own (tests/faults/servers.py), so that stopping them
disturbs nobody else's tests. Each run must end equal to the simulator's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import redis
import yaml

from rater.config import Settings
from rater.store.redis import RedisStore
from tests.faults.servers import Servers, free_port
from tests.faults.world import World, assert_equals_simulator, make_world
from tests.integration.test_stream_vs_simulator import CATALOG

ROOT = Path(__file__).resolve().parents[2]


def _config(s: Settings, tmp: Path, name: str, **overrides: object) -> Path:
    data = s.model_dump(mode="json")
    data["redis_url"] = s.redis_url.get_secret_value()
    data["instance_id"] = f"{s.group_id}-{name}"
    data["catalog"] = str(CATALOG)
    data.update(overrides)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _start(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "RATER_CRASH_AT")
    }
    return subprocess.Popen(
        [sys.executable, "-m", "rater.cli", "run", "--config", str(config)],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env=env,
    )


def _applied(s: Settings) -> int:
    """Usage messages applied in Redis over every partition (0 while Redis is away)."""
    try:
        client = redis.Redis.from_url(s.redis_url.get_secret_value(), socket_timeout=2)
        try:
            store = RedisStore(client, s.namespace)
            return sum(store.watermark(p)[0].get(s.topics.usage, 0) for p in range(s.partitions))
        finally:
            client.close()
    except redis.exceptions.RedisError:
        return 0


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait(
    what: str, cond: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> float:
    """Wait for `cond` while the rater stays up; returns the seconds it took."""
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, f"the rater exited ({proc.returncode}):\n{_tail(log)}"
        assert time.monotonic() - t0 < timeout, f"no {what} after {timeout} s:\n{_tail(log)}"
        time.sleep(0.1)
    return time.monotonic() - t0


def _tail(log: Path, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:]


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM: the rater finishes its batch, leaves the group and exits 0."""
    assert proc.poll() is None, f"the rater exited ({proc.returncode}):\n{_tail(log)}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, _tail(log)


def _world(servers: Servers, records: int, seed: int) -> World:
    return make_world(
        servers.bootstrap,
        servers.redis_url,
        subscribers=200,
        records=records,
        seed=seed,
        partitions=2,
    )


def test_a_broker_stopped_past_the_transaction_timeout_is_outlived(
    servers: Servers, tmp_path: Path
) -> None:
    """Kafka goes away for 15 s under load with a transaction open, longer than its
    10 s timeout: the coordinator aborts it and fences the producer when it is back.
    The process stays up, opens a new session (new producer) and recovers."""
    n = 60_000
    world = _world(servers, n, seed=51)
    s = world.settings
    log = tmp_path / "rater.log"
    config = _config(s, tmp_path, "a", batch_size=200, transaction_timeout_ms=10_000)
    proc = _start(config, log)
    try:
        _wait("progress", lambda: _applied(s) > n // 10, proc, log, 60)
        servers.kafka_stop()
        at_stop = _applied(s)
        assert at_stop < n, "the run ended before the broker was stopped"
        stopped = time.monotonic()
        while time.monotonic() - stopped < 15:
            assert proc.poll() is None, f"the rater exited ({proc.returncode}):\n{_tail(log)}"
            time.sleep(0.2)
        servers.kafka_start()
        _wait("the end of the input", lambda: _applied(s) == n, proc, log, 90)
        _stop(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "session restart" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert_equals_simulator(world)
    print(f"broker stopped at {at_stop} of {n} records applied; restarts logged:")
    print("\n".join(line for line in text.splitlines() if "session restart" in line))


def test_redis_killed_and_restarted_mid_run_is_outlived(servers: Servers, tmp_path: Path) -> None:
    """Redis gets SIGKILL under load and is back 4 s later (AOF, everysec): the
    process stays up, restarts its session with backoff, reconnects and recovers."""
    n = 60_000
    world = _world(servers, n, seed=61)
    s = world.settings
    log = tmp_path / "rater.log"
    proc = _start(_config(s, tmp_path, "b", batch_size=200), log)
    try:
        _wait("progress", lambda: _applied(s) > n // 10, proc, log, 60)
        servers.redis_kill9()
        killed = time.monotonic()
        while time.monotonic() - killed < 4:
            assert proc.poll() is None, f"the rater exited ({proc.returncode}):\n{_tail(log)}"
            time.sleep(0.1)
        servers.redis_start()
        at_restart = _applied(s)
        assert at_restart < n, "the run ended before Redis was killed"
        _wait("the end of the input", lambda: _applied(s) == n, proc, log, 90)
        _stop(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "session restart" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert_equals_simulator(world)


def test_readiness_follows_redis_and_kafka_while_idle_and_a_long_outage_ends_the_process(
    servers: Servers, tmp_path: Path
) -> None:
    """An idle member answers /readyz not ready within seconds of Redis or Kafka going
    away, stays up (Kafka away for 35 s: longer than a new session's wait for the
    broker), and is ready again once they are back; a member whose Redis stays away
    longer than `dependency_retry_s` exits 3 with one line."""
    n = 3_000
    world = _world(servers, n, seed=71)
    s = world.settings
    log = tmp_path / "rater.log"
    port = free_port()
    proc = _start(_config(s, tmp_path, "c", metrics_port=port), log)
    try:
        _wait("the end of the input", lambda: _applied(s) == n, proc, log, 60)
        _wait("ready", lambda: _ready(port), proc, log, 30)
        time.sleep(2)  # idle now: nothing to consume

        servers.redis_stop()
        took = _wait("not ready with Redis away", lambda: not _ready(port), proc, log, 10)
        assert took < 5, took
        time.sleep(3)  # and it stays not ready, and up, while Redis is away
        assert not _ready(port) and proc.poll() is None
        servers.redis_start()
        back = _wait("ready with Redis back", lambda: _ready(port), proc, log, 40)

        servers.kafka_stop()
        stopped = time.monotonic()
        took_k = _wait("not ready with Kafka away", lambda: not _ready(port), proc, log, 10)
        assert took_k < 5, took_k
        # away longer than a new session's init_transactions waits (30 s): the restart
        # fails with the broker still away, and is tried again later
        while time.monotonic() - stopped < 35:
            assert proc.poll() is None, f"the rater exited ({proc.returncode}):\n{_tail(log)}"
            assert not _ready(port)
            time.sleep(0.5)
        servers.kafka_start()
        back_k = _wait("ready with Kafka back", lambda: _ready(port), proc, log, 60)
        _stop(proc, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_equals_simulator(world)
    print(f"not ready {took:.1f} s after Redis stopped, ready {back:.1f} s after it was back")
    print(f"not ready {took_k:.1f} s after Kafka stopped, ready {back_k:.1f} s after")

    # an outage longer than dependency_retry_s: exit 3, one line saying why
    log2 = tmp_path / "rater-2.log"
    proc = _start(_config(s, tmp_path, "c2", dependency_retry_s=3), log2)
    try:
        _wait("the group joined", lambda: "assigned partition" in log2.read_text(), proc, log2, 60)
        servers.redis_stop()
        assert proc.wait(timeout=60) == 3, _tail(log2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = log2.read_text().strip().splitlines()[-1]
    assert last.startswith("error: gave up after") and "dependency_retry_s 3" in last, last
    assert "Traceback" not in log2.read_text()

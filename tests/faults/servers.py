"""A Kafka broker and a Redis of a test's own, for fault tests that stop or kill them,
and a Redis Cluster of a test's own.

Other tests (and other people's test runs) use the shared services of
scripts/services.sh at the same time, so a test that takes a server away must not take
theirs: these run from scripts/kafka.sh and scripts/redis.sh with a data directory under
a temporary folder (RATER_VAR) and free ports, and are stopped and deleted at the end."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_ports(n: int = 3) -> list[int]:
    """`n` ports free with their cluster bus ports (port + 10000), below the range the
    system hands out for outgoing connections."""
    rng = random.Random()
    ports: list[int] = []
    while len(ports) < n:
        p = rng.randrange(20_000, 29_000)
        if p not in ports and _port_free(p) and _port_free(p + 10_000):
            ports.append(p)
    return ports


@dataclass
class Servers:
    root: Path  # RATER_VAR of the scripts: data, logs and pid files
    kafka_port: int
    controller_port: int
    redis_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _script(self, name: str, *args: str, timeout: float = 180) -> None:
        env = {
            **os.environ,
            "RATER_VAR": str(self.root),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "KAFKA_HEAP_OPTS": "-Xms128m -Xmx512m",
            "REDIS_PORT": str(self.redis_port),
        }
        res = subprocess.run(
            [str(ROOT / "scripts" / name), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"scripts/{name} {' '.join(args)}: {res.stdout}{res.stderr}")

    # -- Kafka ---------------------------------------------------------------------------

    def kafka_start(self) -> None:
        self._script("kafka.sh", "start")

    def kafka_stop(self) -> None:
        """A clean shutdown (SIGTERM), as a broker restart or a maintenance would do."""
        self._script("kafka.sh", "stop")

    def kafka_up(self) -> bool:
        try:
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
            return bool(admin.list_topics(timeout=2).brokers)
        except Exception:  # down or starting: not up
            return False

    # -- Redis ---------------------------------------------------------------------------

    def redis_start(self) -> None:
        self._script("redis.sh", "start")

    def redis_stop(self) -> None:
        self._script("redis.sh", "stop")

    def redis_kill9(self) -> None:
        """SIGKILL: no shutdown, the AOF as the last write left it (appendfsync everysec)."""
        pid = int((self.root / "redis" / "redis.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        (self.root / "redis" / "redis.pid").unlink(missing_ok=True)

    def redis_up(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.redis_url, socket_timeout=1).ping())
        except redis.exceptions.RedisError:
            return False

    # -- both ----------------------------------------------------------------------------

    def ensure_up(self) -> None:
        """Both servers running again (after a test that failed with one of them down)."""
        if not self.redis_up():
            self.redis_start()
        if not self.kafka_up():
            self.kafka_start()

    def remove(self) -> None:
        for name in ("kafka.sh", "redis.sh"):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._script(name, "stop", timeout=90)
        shutil.rmtree(self.root, ignore_errors=True)


def start_servers(root: Path) -> Servers:
    """Kafka (KRaft) and Redis (AOF) on free ports under `root`; about 15 s."""
    s = Servers(root, free_port(), free_port(), free_port())
    try:
        s.redis_start()
        s.kafka_start()
    except BaseException:
        s.remove()
        raise
    return s


@dataclass
class Cluster:
    """A Redis Cluster of 3 masters of a test's own: `scripts/redis.sh cluster-start` on
    free ports under `root`, so that no other test run that starts or stops the cluster
    on 7000-7002 (tests/integration/test_redis_cluster.py) takes it away mid-test."""

    root: Path
    ports: list[int]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def _script(self, *args: str, timeout: float = 180) -> None:
        env = {
            **os.environ,
            "RATER_VAR": str(self.root),
            "REDIS_CLUSTER_PORTS": " ".join(map(str, self.ports)),
        }
        res = subprocess.run(
            [str(ROOT / "scripts" / "redis.sh"), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise RuntimeError(f"scripts/redis.sh {' '.join(args)}: {res.stdout}{res.stderr}")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._script("cluster-stop", timeout=90)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(root: Path) -> Cluster:
    """3 masters on free ports under `root`; a few seconds."""
    c = Cluster(root, cluster_ports())
    try:
        c._script("cluster-start", "--fresh")
    except BaseException:
        c.remove()
        raise
    return c

"""A Kafka broker and a Redis of a test's own, for fault tests that stop or kill them.

Other tests (and other people's test runs) use the shared services of
scripts/services.sh at the same time, so a test that takes a server away must not take
theirs: these run from scripts/kafka.sh and scripts/redis.sh with a data directory under
a temporary folder (RATER_VAR) and free ports, and are stopped and deleted at the end."""

from __future__ import annotations

import contextlib
import os
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

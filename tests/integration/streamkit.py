"""Shared helpers for integration tests that run the streaming rater in-process.

Every test gets its own world: unique topics, consumer group, Redis namespace and
transactional instance id, so tests never see each other's messages or state::

    with stream_env(kafka_bootstrap, redis_url, "dl") as env:
        ...produce to env.settings.topics.usage / .commands...
        env.drain()                      # a StreamRater, in this process, until drained
        env.read(env.settings.topics.dead_letter)

Topics, the consumer group and every Redis key of the namespace are deleted afterwards.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from confluent_kafka.admin import AdminClient

from rater.catalog import load_catalog
from rater.config import Settings, Topics
from rater.core.engine import Rater
from rater.store.redis import RedisStore
from rater.stream import tools
from rater.stream.kafka import ensure_topics
from rater.stream.processor import StreamRater

ROOT = Path(__file__).resolve().parents[2]
CATALOG_BASIC = ROOT / "examples" / "catalog-basic.yaml"

DRAIN_TIMEOUT = 45.0


def make_settings(
    kafka_bootstrap: str,
    redis_url: str,
    prefix: str = "it",
    *,
    partitions: int = 3,
    catalog: Path = CATALOG_BASIC,
    **overrides: Any,
) -> Settings:
    """Settings with unique topics, group, namespace and instance id, and no metrics port.

    Settings reads the environment first (RATER_* beats init values); if a variable would
    override one of the unique names, this refuses rather than share (and later delete)
    someone else's topics or Redis keys.
    """
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    topics = Topics(**{name: f"{tag}.{name}" for name in Topics.model_fields})
    wanted: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap,
        "redis_url": redis_url,
        "catalog": catalog,
        "group_id": f"{tag}-group",
        "instance_id": f"{tag}-instance",
        "namespace": tag,
        "topics": topics,
        "partitions": partitions,
        "metrics_port": 0,
    }
    wanted.update(overrides)
    s = Settings(**wanted)
    for name in ("kafka_bootstrap_servers", "group_id", "instance_id", "namespace", "topics"):
        if getattr(s, name) != wanted[name]:
            raise RuntimeError(
                f"the environment overrides Settings.{name} ({getattr(s, name)!r} instead of "
                f"{wanted[name]!r}): unset RATER_{name.upper()} for the integration tests"
            )
    if s.redis_url.get_secret_value() != redis_url:
        raise RuntimeError("the environment overrides Settings.redis_url (RATER_REDIS_URL)")
    return s


def run_settings(kafka_bootstrap: str, redis_url: str, prefix: str = "it", **kw: Any) -> Settings:
    """`make_settings`, registered so that the run's topics, group and Redis keys are
    removed after the test (conftest.clean_stream_runs)."""
    s = make_settings(kafka_bootstrap, redis_url, prefix, **kw)
    RUNS.append(s)
    return s


def _admin(s: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": s.kafka_bootstrap_servers})


def _topics_ready(admin: AdminClient, names: list[str], partitions: int) -> bool:
    md = admin.list_topics(timeout=5).topics
    for name in names:
        t = md.get(name)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return False
        if any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
            return False
    return True


def create_topics(s: Settings, timeout: float = 30.0) -> None:
    """Every input and output topic of `s` (s.partitions each), with leaders elected."""
    ensure_topics(s, s.partitions, timeout)
    admin = _admin(s)
    names = s.topics.inputs() + s.topics.outputs()
    deadline = time.monotonic() + timeout
    while not _topics_ready(admin, names, s.partitions):
        if time.monotonic() > deadline:
            raise AssertionError(f"topics {names} not ready after {timeout}s")
        time.sleep(0.1)


# Settings of runs made outside `stream_env` (`stream_settings`, the fault tests' world):
# the autouse fixture `clean_stream_runs` removes them (`tools.remove_run`) after each
# test, so that repeated runs against the same servers do not pile them up.
RUNS: list[Settings] = []


@dataclass
class StreamEnv:
    """One test's topics, namespace and Redis client; `drain` runs the rater."""

    settings: Settings
    redis: redis.Redis

    @property
    def store(self) -> RedisStore:
        return RedisStore(self.redis, self.settings.namespace)

    def rater(self) -> StreamRater:
        catalog = load_catalog(self.settings.catalog)
        return StreamRater(self.settings, Rater(catalog), self.store)

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> StreamRater:
        """Runs a StreamRater in this process (on a thread, so a hang cannot outlive
        `timeout`) until every input message is applied; re-raises what it raised."""
        svc = self.rater()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                svc.run(drain=True)
            except BaseException as exc:  # handed to the test thread
                failure.append(exc)

        t = threading.Thread(target=run, name=f"rater-{self.settings.namespace}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            svc.stop.set()
            t.join(30)
            raise AssertionError(f"the rater did not drain its inputs within {timeout}s")
        if failure:
            raise failure[0]
        return svc

    def read(self, topic: str) -> list[tuple[bytes, bytes]]:
        """(key, value) of every committed message of `topic`."""
        return tools.read_topic(self.settings, topic)

    def events(self) -> list[Any]:
        """Every committed output event (charges, throttles, notifications, unrated)."""
        return tools.read_events(self.settings)


@contextlib.contextmanager
def stream_env(
    kafka_bootstrap: str, redis_url: str, prefix: str = "it", **settings: Any
) -> Iterator[StreamEnv]:
    """A `StreamEnv` with its topics created; everything is removed afterwards."""
    s = make_settings(kafka_bootstrap, redis_url, prefix, **settings)
    client = redis.Redis.from_url(redis_url)
    try:
        create_topics(s)
        yield StreamEnv(s, client)
    finally:
        try:
            tools.remove_run(s, client)
        finally:
            client.close()

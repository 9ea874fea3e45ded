"""Fixtures for the integration tests: a real Kafka broker and a real Redis.

Where the services come from (per service, checked in this order):

1. ``KAFKA_BOOTSTRAP_SERVERS`` / ``REDIS_URL`` when set: used as they are.
2. testcontainers (``KafkaContainer`` / ``RedisContainer``) when a Docker engine answers.
3. ``scripts/kafka.sh start`` / ``scripts/redis.sh start`` (idempotent; a running server is
   reused). They are left running afterwards, so the next run starts in well under a second;
   with ``RATER_TEST_STOP_SERVICES=1`` the fixtures stop what they themselves started.

``RATER_TEST_SERVICES=scripts`` (or ``docker``) skips the Docker probe (or insists on Docker).
Every test under tests/integration is marked ``integration`` automatically.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
HERE = Path(__file__).resolve().parent

T = TypeVar("T")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item of the session, not only ours: filter by path.
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.integration)


# --- polling -------------------------------------------------------------------------------


def wait_until(
    condition: Callable[[], T | None],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    """Call ``condition`` until it returns something truthy (returned) or ``timeout`` passes.

    Exceptions from ``condition`` count as "not yet"; the last one is reported on timeout.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = condition()
            if result:
                return result
        except Exception as exc:  # a polled condition may fail while warming up
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


@pytest.fixture(name="wait_until", scope="session")
def wait_until_fixture() -> Callable[..., Any]:
    """The :func:`wait_until` poller, for tests (conftest modules are not importable)."""
    return wait_until


# --- where the services come from ----------------------------------------------------------


def _docker_answers() -> bool:
    mode = os.environ.get("RATER_TEST_SERVICES", "auto")
    if mode == "scripts":
        return False
    try:
        import docker  # type: ignore[import-untyped]

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no client, no socket, no engine: all mean "no"
        if mode == "docker":
            raise
        return False


@pytest.fixture(scope="session")
def docker_available() -> bool:
    return _docker_answers()


@pytest.fixture(scope="session")
def service_origin() -> dict[str, str]:
    """``{"kafka": ..., "redis": ...}`` with values ``env``, ``testcontainers`` or ``script``
    (filled in by the ``kafka_bootstrap`` / ``redis_url`` fixtures)."""
    return {}


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _start_with_script(name: str) -> bool:
    """Runs ``scripts/<name> start``; returns True when it was not running before."""
    was_running = _script(name, "status").returncode == 0
    res = _script(name, "start")
    if res.returncode != 0:
        pytest.fail(
            f"scripts/{name} start failed (rc {res.returncode}):\n{res.stdout}{res.stderr}",
            pytrace=False,
        )
    return not was_running


def _stop_if_ours(name: str, started: bool) -> None:
    if started and os.environ.get("RATER_TEST_STOP_SERVICES") == "1":
        _script(name, "stop")


# --- Kafka ---------------------------------------------------------------------------------


def _kafka_answers(bootstrap: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    md = admin.list_topics(timeout=5)
    return bool(md.brokers)


@pytest.fixture(scope="session")
def kafka_bootstrap(service_origin: dict[str, str], docker_available: bool) -> Iterator[str]:
    """``host:port`` of a Kafka broker that supports transactions."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if env:
        service_origin["kafka"] = "env"
        wait_until(lambda: _kafka_answers(env), 60, 0.5, f"KAFKA_BOOTSTRAP_SERVERS={env}")
        yield env
    elif docker_available:
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # older testcontainers layout
            from testcontainers.kafka import KafkaContainer

        image = os.environ.get("RATER_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
        container = (
            KafkaContainer(image)
            .with_kraft()
            .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
            .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
            .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
            .with_env("KAFKA_NUM_PARTITIONS", "4")
        )
        container.start(timeout=120)
        service_origin["kafka"] = "testcontainers"
        try:
            bootstrap = container.get_bootstrap_server()
            wait_until(lambda: _kafka_answers(bootstrap), 60, 0.5, "Kafka container")
            yield bootstrap
        finally:
            container.stop()
    else:
        started = _start_with_script("kafka.sh")
        service_origin["kafka"] = "script"
        bootstrap = f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"
        wait_until(lambda: _kafka_answers(bootstrap), 60, 0.5, f"Kafka at {bootstrap}")
        try:
            yield bootstrap
        finally:
            _stop_if_ours("kafka.sh", started)


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


def _topic_ready(admin: AdminClient, name: str, partitions: int) -> bool:
    md = admin.list_topics(topic=name, timeout=5).topics.get(name)
    if md is None or md.error is not None or len(md.partitions) != partitions:
        return False
    return all(p.leader >= 0 and p.error is None for p in md.partitions.values())


@pytest.fixture(scope="session")
def topic_factory(kafka_admin: AdminClient) -> Iterator[Callable[..., str]]:
    """``topic_factory(prefix="it", partitions=1, config=None) -> name``.

    Creates ``<prefix>-<uuid>``, waits until every partition has a leader, and deletes all
    topics it made at the end of the session.
    """
    created: list[str] = []

    def make(prefix: str = "it", partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        # replication_factor=-1: the broker's default.replication.factor
        new = NewTopic(name, num_partitions=partitions, replication_factor=-1, config=config or {})
        kafka_admin.create_topics([new], operation_timeout=30)[name].result(timeout=60)
        created.append(name)
        wait_until(lambda: _topic_ready(kafka_admin, name, partitions), 30, 0.1, f"topic {name}")
        return name

    yield make

    if created:
        for fut in kafka_admin.delete_topics(created, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):
                fut.result(timeout=60)


# --- Redis ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url(service_origin: dict[str, str], docker_available: bool) -> Iterator[str]:
    """``redis://host:port/0`` of a Redis server (not a cluster)."""
    env = os.environ.get("REDIS_URL")
    if env:
        service_origin["redis"] = "env"
        wait_until(lambda: redis.Redis.from_url(env).ping(), 30, 0.2, f"Redis at {env}")
        yield env
    elif docker_available:
        try:
            from testcontainers.community.redis import RedisContainer
        except ImportError:  # older testcontainers layout
            from testcontainers.redis import RedisContainer

        image = os.environ.get("RATER_TEST_REDIS_IMAGE", "redis:7.0")
        container = RedisContainer(image).with_command(
            "redis-server --appendonly yes --appendfsync everysec --save ''"
        )
        container.start()
        service_origin["redis"] = "testcontainers"
        try:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        finally:
            container.stop()
    else:
        started = _start_with_script("redis.sh")
        service_origin["redis"] = "script"
        url = f"redis://127.0.0.1:{os.environ.get('REDIS_PORT', '6379')}/0"
        wait_until(lambda: redis.Redis.from_url(url).ping(), 30, 0.2, f"Redis at {url}")
        try:
            yield url
        finally:
            _stop_if_ours("redis.sh", started)


_TEST_DBS = range(1, 16)
_DB_LEASE_SECONDS = 600


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


@pytest.fixture
def redis_test_url(redis_url: str) -> Iterator[str]:
    """URL of a Redis database of this test's own (one of 1..15; db 0 is left alone),
    flushed before and after the test. For code under test that takes a URL.

    The database is leased with ``SET it:dblease:<n> NX EX 600`` in db 0, so concurrent pytest
    sessions against the same server never share (and flush) each other's database.
    """
    lessor = redis.Redis.from_url(_with_db(redis_url, 0))
    token = uuid.uuid4().hex

    def lease() -> int | None:
        for n in _TEST_DBS:
            if lessor.set(f"it:dblease:{n}", token, nx=True, ex=_DB_LEASE_SECONDS):
                return n
        return None

    db = wait_until(lease, 60, 0.2, "a free Redis test database (it:dblease:* in db 0)")
    url = _with_db(redis_url, db)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()
        if lessor.get(f"it:dblease:{db}") == token.encode():
            lessor.delete(f"it:dblease:{db}")
        lessor.close()


@pytest.fixture
def redis_client(redis_test_url: str) -> Iterator[redis.Redis]:
    """``redis.Redis`` (bytes responses) on this test's own database (see ``redis_test_url``)."""
    client = redis.Redis.from_url(redis_test_url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_key_prefix(redis_url: str) -> Iterator[str]:
    """``it:<uuid>:`` for tests that must share db 0 (e.g. against a cluster-like setup);
    every key under the prefix is deleted afterwards."""
    prefix = f"it:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(autouse=True)
def clean_stream_runs() -> Iterator[None]:
    """After each test, remove the topics, groups and Redis keys of the stream runs it
    made with `stream_settings` (the fault tests' world included)."""
    yield
    from rater.stream.tools import remove_run
    from tests.integration import streamkit

    while streamkit.RUNS:
        remove_run(streamkit.RUNS.pop())

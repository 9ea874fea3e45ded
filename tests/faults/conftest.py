"""Fault tests use the same real services as the integration tests, servers of their own
(tests/faults/servers.py) when they stop or kill one, and the Redis Cluster of
`scripts/redis.sh cluster-start`. Their size: tests/faults/scale.py."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import Servers, start_servers
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    clean_stream_runs,
    docker_available,
    kafka_bootstrap,
    redis_url,
    service_origin,
)
from tests.integration.test_redis_cluster import SCRIPT, URL, _cluster_ok

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A Kafka and a Redis of this module's own (tests/faults/servers.py), for tests that
    stop or kill them; stopped and deleted after the module."""
    servers = start_servers(tmp_path_factory.mktemp("servers"))
    try:
        yield servers
    finally:
        servers.remove()


@pytest.fixture
def servers(own_servers: Servers) -> Iterator[Servers]:
    """`own_servers`, both running again after the test, whatever it left them in: the
    teardown of `clean_stream_runs` (after this one's) removes the run's topics and keys
    from them."""
    own_servers.ensure_up()
    yield own_servers
    own_servers.ensure_up()


@pytest.fixture(scope="module")
def cluster_url() -> Iterator[str]:
    """A Redis Cluster of 3 masters: `REDIS_CLUSTER_URL`, or the one of `scripts/redis.sh
    cluster-start` on 127.0.0.1:7000-7002, started (`--fresh`) when it does not answer
    and then stopped after the module."""
    env = os.environ.get("REDIS_CLUSTER_URL")
    if env:
        yield env
        return
    started = not _cluster_ok(URL)
    if started:
        done = subprocess.run(
            [str(SCRIPT), "cluster-start", "--fresh"], capture_output=True, text=True, timeout=180
        )
        if done.returncode != 0:
            pytest.fail(f"scripts/redis.sh cluster-start failed: {done.stderr[-2000:]}")
    try:
        yield URL
    finally:
        if started:
            subprocess.run([str(SCRIPT), "cluster-stop"], capture_output=True, timeout=60)

"""Fault tests use the same real services as the integration tests, servers of their own
(tests/faults/servers.py) when they stop or kill one, and a Redis Cluster of their own.
Their size: tests/faults/scale.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.servers import Servers, start_cluster, start_servers
from tests.integration.conftest import (  # noqa: F401 (fixtures)
    clean_stream_runs,
    docker_available,
    kafka_bootstrap,
    redis_url,
    service_origin,
)

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
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis Cluster of 3 masters: `REDIS_CLUSTER_URL`, or one of this module's own
    (`scripts/redis.sh cluster-start` on free ports, tests/faults/servers.py), stopped
    and deleted after the module. Not the shared one on 7000-7002: another test run
    (tests/integration/test_redis_cluster.py) may stop it while a kill test uses it."""
    env = os.environ.get("REDIS_CLUSTER_URL")
    if env:
        yield env
        return
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.url
    finally:
        cluster.remove()

"""Fault tests use the same real services as the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

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

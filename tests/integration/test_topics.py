"""`rater topics` never lets co-partitioning break silently."""

from __future__ import annotations

import os

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from typer.testing import CliRunner

from rater.cli import app
from rater.config import Settings, Topics
from rater.stream.kafka import TopicsMismatch, ensure_topics, partition_count
from tests.integration import streamkit

pytestmark = pytest.mark.integration


def _settings(bootstrap: str, redis_url: str) -> Settings:
    s = streamkit.run_settings(
        bootstrap,
        redis_url,
        "topics",
        partitions=4,
    )
    return s


def test_topics_refuses_another_partition_count_than_the_existing_one(
    kafka_bootstrap: str, redis_url: str, tmp_path: object
) -> None:
    s = _settings(kafka_bootstrap, redis_url)
    ensure_topics(s, 2)
    ensure_topics(s, 2)  # again: nothing to do
    ensure_topics(s)  # no count asked: the existing one stands
    assert partition_count(s, s.topics.charges) == 2
    with pytest.raises(TopicsMismatch, match="exists with 2 partitions, not 4"):
        ensure_topics(s, 4)
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": redis_url,
        **{f"RATER_TOPICS__{f.upper()}": getattr(s.topics, f) for f in Topics.model_fields},
    }
    result = CliRunner().invoke(app, ["topics", "--partitions", "4"], env={**os.environ, **env})
    assert result.exit_code == 2, result.output
    assert "not 4" in result.output


def test_topics_refuses_input_topics_that_are_not_co_partitioned(
    kafka_bootstrap: str, redis_url: str
) -> None:
    s = _settings(kafka_bootstrap, redis_url)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics(
        [
            NewTopic(s.topics.usage, num_partitions=2, replication_factor=1),
            NewTopic(s.topics.commands, num_partitions=3, replication_factor=1),
        ]
    )
    for f in futures.values():
        f.result()
    with pytest.raises(TopicsMismatch, match="not co-partitioned"):
        ensure_topics(s)

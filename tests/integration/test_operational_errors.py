"""Operational errors end in one clear line and a documented exit code, never in a
traceback or hundreds of librdkafka lines (rater/errors.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rater.config import Settings, Topics
from rater.stream.kafka import ensure_topics
from tests.integration import streamkit

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _rater(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str, float]:
    t0 = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "rater.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def _topics_env(s: Settings) -> dict[str, str]:
    return {f"RATER_TOPICS__{f.upper()}": getattr(s.topics, f) for f in Topics.model_fields}


def test_rater_run_retries_a_lost_redis_then_exits_3_with_the_reason(
    kafka_bootstrap: str, redis_url: str
) -> None:
    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "ops",
        partitions=4,
    )
    ensure_topics(s)
    env = {
        **_topics_env(s),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing listens there
        "RATER_GROUP_ID": s.group_id,
        "RATER_METRICS_PORT": "0",
        "RATER_DEPENDENCY_RETRY_S": "3",
    }
    code, out, took = _rater(["run", "--drain"], env)
    assert code == 3, out
    assert "Traceback" not in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("error: gave up after") and "127.0.0.1:1" in last, out
    assert "session restart" in out  # it did retry, with pauses
    assert took < 60


@pytest.mark.parametrize(
    ("args", "env", "code", "text"),
    [
        (["report"], {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, 3, "is Kafka running?"),
        (["balance", "13800000001"], {"REDIS_URL": "http://nope"}, 2, "REDIS_URL"),
        (["balance", "13800000001"], {"RATER_TOPICS__USAGE": "no.such.topic"}, 2, "rater topics"),
        (["run", "--drain"], {"RATER_TOPICS__USAGE": "no.such.topic"}, 2, "rater topics"),
    ],
)
def test_a_lost_or_misnamed_dependency_is_one_line(
    kafka_bootstrap: str, args: list[str], env: dict[str, str], code: int, text: str
) -> None:
    got, out, _ = _rater(args, {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, **env}, timeout=90)
    assert got == code, out
    assert "Traceback" not in out
    assert text in out.strip().splitlines()[-1]
    assert len(out.strip().splitlines()) <= 5, out


def test_produce_skips_a_record_larger_than_the_broker_takes_and_says_which(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    import orjson

    from rater.codec.jsonl import usage_to_json
    from rater.core.inputs import Roaming, UsageRecord, UsageType
    from rater.stream.tools import read_topic

    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "ops",
        partitions=4,
    )
    ensure_topics(s)

    def rec(rid: str, msisdn: str) -> bytes:
        r = UsageRecord(
            rid,
            msisdn,
            UsageType.DATA,
            1_776_000_000_000,
            1,
            0,
            1,
            None,
            None,
            "GD",
            "LTE",
            Roaming.HOME,
            None,
            0,
        )
        return orjson.dumps(usage_to_json(r), option=orjson.OPT_APPEND_NEWLINE)

    usage = tmp_path / "usage.jsonl"
    usage.write_bytes(rec("huge", "1" * 1_100_000) + rec("fine", "13800000001"))
    env = {**_topics_env(s), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    code, out, _ = _rater(
        ["produce", "--usage", str(usage), "--subscribers", "examples/subscribers-basic.yaml"],
        env,
    )
    assert code == 0, out
    assert "not sent: record 'huge'" in out and "more than the broker takes" in out
    assert "1 usage records sent" in out
    assert len(read_topic(s, s.topics.usage)) == 1

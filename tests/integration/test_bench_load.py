"""`rater bench load` times the bulk loader on the real broker and Redis and leaves
nothing behind: its topics and its Redis namespace are gone at the end."""

from __future__ import annotations

import re

import redis
from confluent_kafka.admin import AdminClient

from rater.bench import load
from tests.integration.streamkit import ROOT, make_settings


def test_bench_load_reports_a_rate_and_removes_its_topics_and_keys(
    kafka_bootstrap: str, redis_url: str
) -> None:
    base = make_settings(kafka_bootstrap, redis_url, "bench-load")
    lines: list[str] = []
    rate = load.run(ROOT / "examples" / "catalog-full.yaml", 300, 2, base=base, out=lines.append)
    text = "\n".join(lines)
    assert rate > 0
    assert re.search(r"300 applied, [\d,]+ events", text), text
    run_id = re.search(r"run (bench-[0-9a-f]{8})", text)
    assert run_id is not None
    r = redis.Redis.from_url(redis_url)
    assert not list(r.scan_iter(match=f"{{{run_id[1]}:*", count=1000))
    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert not [t for t in topics if t.startswith(run_id[1])]

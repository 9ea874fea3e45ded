"""A real scrape: Debian's Prometheus scrapes a running rater on 127.0.0.1 while it rates,
loads deploy/prometheus/alerts.yaml, and every expression of the Grafana dashboard and of
every alert rule returns samples through Prometheus' HTTP API.

The rater runs in a thread with its /metrics endpoint (`rater.metrics.serve`, as
`run_service` starts it) on a free port; the workload is test_one_pipeline's (commands,
good records with overage, every kind of dead letter, unrated records, a tick) plus a
subscriber with an assured pack who runs out of data and is throttled, so that every
labelled series exists. Prometheus (`prometheus` from Debian's package of that name,
installed by scripts/install-debs.sh) scrapes it every second as job "rater" with
namespace "test", the labels the dashboard and the alerts filter on.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from confluent_kafka import Producer

from rater import metrics
from rater.catalog import load_catalog
from rater.codec import avro
from rater.config import Topics
from rater.core.cycles import to_ms
from rater.core.engine import Rater
from rater.core.inputs import NewSubscriber
from rater.routing import Router
from rater.store.redis import RedisStore
from rater.stream.kafka import ensure_topics, producer_config
from rater.stream.processor import StreamRater
from tests.integration import streamkit
from tests.integration.test_one_pipeline import MB, T0, _messages, _record
from tests.integration.test_stream_vs_simulator import CATALOG
from tests.unit.deploy.test_deploy import ALERTS, alert_rules, dashboard, dashboard_exprs

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only
NAMESPACE = "test"  # the namespace label put on the target, as the Operator would
RATE_INTERVAL = "1m"  # $__rate_interval: several 1 s scrapes, all of this short run
DEADLINE_S = 45.0  # for the samples to show up; the whole test stays under 60 s

# A comparison of an expression with a number: `... > 100000`, `... == 0`, `>\n 2`.
THRESHOLD = re.compile(r"\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?-?[0-9][0-9.eE+]*(?![\w\[])")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def dashboard_query(expr: str, instance: str) -> str:
    """A dashboard expression as Grafana sends it with namespace and pod selected."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__interval", "15s")
    # Grafana puts the selected values in the regex as they are ("127.0.0.1:port": its
    # dots match themselves too; a backslash would be an invalid escape in PromQL).
    expr = re.sub(r"\$\{?namespace\}?", NAMESPACE, expr)
    expr = re.sub(r"\$\{?instance\}?", instance, expr)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def without_thresholds(expr: str) -> str:
    """An alert's expression with every comparison against a number removed.

    A healthy rater rightly fires no alert, so the conditions themselves return nothing;
    what must return samples is the value each threshold is compared with (lag, dead
    letter rate, p99, ...): it proves that the metrics, labels and `on (...)` matchings
    the rule relies on exist in a real scrape. `a > 1 and on (l) b > 0` becomes
    `a and on (l) b` (both sides must match on l); `up == 0 or absent(up)` becomes
    `up or absent(up)`. The full condition is evaluated by Prometheus' rule manager,
    whose health this test checks separately.
    """
    return THRESHOLD.sub("", expr)


def throttled_subscriber(topics: Topics, partitions: int) -> list[tuple[str, int, bytes, bytes]]:
    """A P58 line with the assured pack AUNL that uses 4 GB: its 3 GB run out and it is
    throttled (rater_throttle_events_total{action="THROTTLE"})."""
    router = Router(partitions)
    act = to_ms("2026-03-05T00:00:00+08:00")
    sub = NewSubscriber("c-fu", "13900000009", act, "P58", 1, "GD", packs=("AUNL",))
    key, part = router.route(sub)
    out = [(topics.commands, part, key.encode(), avro.encode_command(sub))]
    for i in range(4):
        r = _record(f"fu-{i}", "13900000009", T0 + i * 60_000, down=1024 * MB)
        key, part = router.route(r)
        out.append((topics.usage, part, key.encode(), avro.encode_usage(r)))
    return out


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}"
    try:
        with NO_PROXY.open(url, timeout=5) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as e:  # a bad query: say which, with Prometheus' error
        raise AssertionError(f"{url}: {e.code} {e.read().decode(errors='replace')}") from e
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, expr: str) -> list[dict[str, Any]]:
    data = api(base, "/api/v1/query", query=expr)
    result: list[dict[str, Any]] = data["result"]
    if data["resultType"] == "scalar":  # e.g. time() - ...: one value, never empty
        return [{"value": result}]
    return result


@pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not installed (Debian package prometheus: scripts/install-debs.sh)",
)
def test_prometheus_scrapes_the_rater_and_every_dashboard_and_alert_query_has_samples(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    assert PROMETHEUS is not None
    started = time.monotonic()
    metrics_port, prom_port = free_port(), free_port()
    s = streamkit.run_settings(
        kafka_bootstrap,
        redis_url,
        "scrape",
        catalog=CATALOG,
        metrics_host="127.0.0.1",
        metrics_port=metrics_port,
        partitions=2,
        align_max_wait_ms=2_000,
    )
    ensure_topics(s)
    now = int(time.time() * 1000)
    msgs: list[tuple[str, int, bytes | None, bytes, int]] = [
        (*m, now) for m in throttled_subscriber(s.topics, s.partitions)
    ]
    msgs += _messages(s.topics, s.partitions)
    producer = Producer(producer_config(s) | {"enable.idempotence": True})
    for topic, part, key, value, ts in msgs:
        producer.produce(topic, value, key, partition=part, timestamp=ts)
    assert producer.flush(30) == 0

    instance = f"127.0.0.1:{metrics_port}"
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {
                "job_name": "rater",
                "static_configs": [{"targets": [instance], "labels": {"namespace": NAMESPACE}}],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    base = f"http://127.0.0.1:{prom_port}"

    health = metrics.Health()
    server = metrics.serve(s.metrics_host, s.metrics_port, health)
    svc = StreamRater(
        s,
        Rater(load_catalog(CATALOG)),
        RedisStore(redis.Redis.from_url(redis_url), s.namespace),
        health,
    )
    failure: list[BaseException] = []

    def rate() -> None:
        try:
            svc.run(drain=False)  # keeps running (and being scraped) until stopped
        except BaseException as exc:  # handed to the test thread
            failure.append(exc)

    rater_thread = threading.Thread(target=rate, name=f"rater-{s.namespace}", daemon=True)
    prom: subprocess.Popen[bytes] | None = None
    log = tmp_path / "prometheus.log"
    try:
        rater_thread.start()
        with log.open("wb") as out:
            prom = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        dash = {e: dashboard_query(e, instance) for e in dashboard_exprs()}
        alerts = {r["alert"]: without_thresholds(r["expr"]) for r in alert_rules()}
        for name, expr in alerts.items():
            assert not THRESHOLD.search(expr), f"{name}: a threshold is left in {expr}"
        queries = {f"dashboard: {e}": q for e, q in dash.items()}
        queries |= {f"alert {a}: {q}": q for a, q in alerts.items()}

        # Poll until every query has samples: the series appear as the rater works through
        # its inputs, and rate() needs two scrapes of a series inside its window.
        empty: list[str] = list(queries)
        deadline = started + DEADLINE_S
        while True:
            assert not failure, f"the rater failed: {failure[0]!r}"
            assert prom.poll() is None, f"prometheus exited:\n{log.read_text()[-3000:]}"
            try:
                empty = [what for what, q in queries.items() if not query(base, q)]
            except (urllib.error.URLError, ConnectionError):  # not listening yet
                empty = list(queries)
            if not empty or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert empty == [], "no samples for:\n" + "\n".join(empty)

        # the target is the rater, up, with the labels the dashboard's variables list
        (target,) = api(base, "/api/v1/targets")["activeTargets"]
        assert target["health"] == "up", target
        assert target["labels"] == {"instance": instance, "job": "rater", "namespace": NAMESPACE}
        for v in dashboard()["templating"]["list"]:
            if v["type"] == "query":
                label, selector = label_values(v["definition"])
                values = api(base, f"/api/v1/label/{label}/values", **{"match[]": selector})
                assert values == [{"namespace": NAMESPACE, "instance": instance}[label]]
        # the full alert conditions are evaluated by the rule manager without error
        groups = api(base, "/api/v1/rules")["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        assert set(rules) == {r["alert"] for r in alert_rules()}
        wait_for_evaluation(base, rules, deadline + 5)
    finally:
        if prom is not None:
            prom.kill()
            prom.wait(10)
        svc.stop.set()
        rater_thread.join(30)
        server.shutdown()
        server.server_close()
    assert not rater_thread.is_alive(), "the rater did not stop"
    assert not failure, f"the rater failed: {failure[0]!r}"


def label_values(definition: str) -> tuple[str, str]:
    """`label_values(up{job="rater", namespace=~"$namespace"}, namespace)` -> (label,
    selector with the variables replaced by what the test selected)."""
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", definition.strip())
    assert m, definition
    selector = m.group(1).replace("$namespace", NAMESPACE)
    assert "$" not in selector, selector
    return m.group(2), selector


def wait_for_evaluation(base: str, rules: dict[str, Any], deadline: float) -> None:
    """Every alert rule has been evaluated at least once, with health "ok"."""
    while True:
        groups = api(base, "/api/v1/rules")["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        bad = {
            n: (r["health"], r.get("lastError")) for n, r in rules.items() if r["health"] != "ok"
        }
        if not bad or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert bad == {}, f"alert rules not evaluated cleanly: {bad}"

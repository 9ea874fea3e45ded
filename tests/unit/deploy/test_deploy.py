"""Checks of deploy/: alert rules (promtool), metric names against rater/metrics.py, the
PrometheusRule against alerts.yaml, the Grafana dashboard, the kustomize tree, the image.

promtool comes from Debian's `prometheus` package (scripts/install-debs.sh installs it);
kubectl (for `kubectl kustomize`) is optional: without it the rendered overlays are not
checked, the files of every kustomization still are.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import prometheus_client
import pytest
import yaml

import rater.metrics
from rater.catalog import load_catalog
from rater.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BASE = K8S / "base"
OVERLAYS = [K8S / "overlays" / "dev", K8S / "overlays" / "prod"]
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yaml"
PROMETHEUS_RULE = BASE / "prometheusrule.yaml"
DASHBOARD = DEPLOY / "grafana" / "rater-dashboard.json"
OPERATIONS = ROOT / "docs" / "operations.md"

PROMTOOL = shutil.which("promtool")
KUBECTL = shutil.which("kubectl")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool not installed (Debian package prometheus: scripts/install-debs.sh)",
)
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl not installed: rendered kustomizations not checked"
)

EXPECTED_ALERTS = {
    "RaterDown",
    "RaterConsumerLagHigh",
    "RaterDeadLettersRising",
    "RaterStalled",
    "RaterFencedWrites",
    "RaterTransactionAborts",
    "RaterRecoveries",
    "RaterBatchLatencyHigh",
    "RaterNoPartitions",
}
# Labels Prometheus (or the Prometheus Operator) puts on every scraped series.
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "endpoint", "container"}
# Metrics that do not come from rater/metrics.py but from Prometheus itself.
SCRAPE_METRICS = {"up"}


# -- helpers ---------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(ALERTS)["groups"] for r in g["rules"] if "alert" in r]


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def dashboard_panels() -> Iterator[dict[str, Any]]:
    for p in dashboard()["panels"]:
        yield p
        yield from p.get("panels", [])  # collapsed rows hold their panels


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p.get("targets", [])]


def grafana_to_promql(expr: str) -> str:
    """A dashboard expression with Grafana's variables replaced, for promtool."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def registry_metrics() -> dict[str, tuple[str, set[str]]]:
    """Exposed series name -> (family, label names) for every rater_ metric, from the
    prometheus_client registry that rater.metrics fills (counters end in _total,
    histograms in _bucket/_sum/_count)."""
    # prometheus_client has no public accessor for a metric's label names
    labels = {
        m._name: set(m._labelnames)
        for m in vars(rater.metrics).values()
        if isinstance(m, prometheus_client.metrics.MetricWrapperBase)
    }
    out: dict[str, tuple[str, set[str]]] = {}
    for fam in prometheus_client.REGISTRY.collect():
        if not fam.name.startswith("rater_"):
            continue
        suffixes = {
            "counter": ["_total"],
            "histogram": ["_bucket", "_sum", "_count"],
            "gauge": [""],
        }[fam.type]
        base = labels.get(fam.name, labels.get(fam.name + "_total", set()))
        for s in suffixes:
            out[fam.name + s] = (fam.name, base | ({"le"} if s == "_bucket" else set()))
    return out


SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
RATER_NAME = re.compile(r"\brater_[a-zA-Z0-9_]+")


def metric_problems(expr: str, known: dict[str, tuple[str, set[str]]]) -> list[str]:
    """Unknown metric names and label names in one PromQL expression."""
    problems: list[str] = []
    used = set(RATER_NAME.findall(expr)) | {
        name for name, _ in SELECTOR.findall(expr) if name not in ("by", "without")
    }
    allowed_labels = set(TARGET_LABELS)
    for name in sorted(used):
        if name in SCRAPE_METRICS:
            continue
        if name not in known:
            problems.append(f"unknown metric {name!r}")
            continue
        allowed_labels |= known[name][1]
    for name, matchers in SELECTOR.findall(expr):
        for label in MATCHER.findall(matchers):
            if label != "__name__" and label not in (
                known.get(name, ("", set()))[1] | TARGET_LABELS
            ):
                problems.append(f"{name}: unknown label {label!r}")
    for group in GROUPING.findall(expr):
        for label in filter(None, (x.strip() for x in group.split(","))):
            if label not in allowed_labels:
                problems.append(f"grouping by unknown label {label!r}")
    return problems


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_from(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings from a rater.yaml text alone: the test's environment must not leak in."""
    for key in list(os.environ):
        if key.startswith("RATER_") or key in ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"):
            monkeypatch.delenv(key)
    path = tmp_path / "rater.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d.get("kind") == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def base_docs() -> list[dict[str, Any]]:
    kust = load_yaml(BASE / "kustomization.yaml")
    return [d for r in kust["resources"] for d in load_all(BASE / r)]


def kustomize(path: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def rendered_config(docs: list[dict[str, Any]]) -> dict[str, str]:
    cm = [
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("rater-config")
    ]
    assert len(cm) == 1
    data: dict[str, str] = cm[0]["data"]
    return data


def container(deploy: dict[str, Any], name: str = "rater") -> dict[str, Any]:
    cs = [c for c in deploy["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    assert len(cs) == 1
    found: dict[str, Any] = cs[0]
    return found


# -- (a) promtool ---------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules() -> None:
    res = promtool("check", "rules", ALERTS)
    assert res.returncode == 0, res.stdout + res.stderr


@needs_promtool
def test_promtool_unit_tests_of_the_rules() -> None:
    res = promtool("test", "rules", ALERT_TESTS)
    assert res.returncode == 0, res.stdout + res.stderr


@needs_promtool
def test_dashboard_expressions_are_valid_promql(tmp_path: Path) -> None:
    rules = [
        {"record": f"rater:dashboard_expr_{i}", "expr": grafana_to_promql(e)}
        for i, e in enumerate(dashboard_exprs())
    ]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = promtool("check", "rules", path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for group in load_yaml(ALERT_TESTS)["tests"]:
        for t in group.get("alert_rule_test", []):
            (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    assert fires == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


# -- alert rules: contents --------------------------------------------------------------


def test_the_alerts_asked_for_exist_with_severity_summary_description_runbook() -> None:
    rules = alert_rules()
    assert {r["alert"] for r in rules} == EXPECTED_ALERTS
    docs = OPERATIONS.read_text(encoding="utf-8").lower()
    for r in rules:
        assert r["labels"]["severity"] in {"critical", "warning", "info"}, r["alert"]
        for key in ("summary", "description", "runbook"):
            assert r["annotations"].get(key), f"{r['alert']}: no {key}"
        anchor = f"docs/operations.md#{r['alert'].lower()}"
        assert r["annotations"]["runbook"].startswith(anchor), r["alert"]
        assert f"### {r['alert'].lower()}" in docs, f"docs/operations.md: no section {r['alert']}"


def test_alert_severities() -> None:
    severity = {r["alert"]: r["labels"]["severity"] for r in alert_rules()}
    assert severity["RaterRecoveries"] == "info"
    for a in ("RaterDown", "RaterStalled", "RaterNoPartitions"):
        assert severity[a] == "critical"


# -- (b) metric names --------------------------------------------------------------------


def test_registry_knows_the_rater_metrics() -> None:
    known = registry_metrics()
    assert "rater_records_total" in known
    assert "rater_batch_seconds_bucket" in known
    assert "rater_consumer_lag" in known
    assert known["rater_dead_letters_total"][1] == {"reason"}


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(rater_records[5m])", "unknown metric 'rater_records'"),
        ("rater_lag > 0", "unknown metric 'rater_lag'"),
        ("sum by (reasons) (rate(rater_dead_letters_total[5m]))", "unknown label 'reasons'"),
        ('rater_events_total{kind="charge"}', "unknown label 'kind'"),
        ("rater_assigned_partitions_total", "unknown metric"),
    ],
)
def test_the_metric_check_catches_mistakes(expr: str, problem: str) -> None:
    assert any(problem in p for p in metric_problems(expr, registry_metrics()))


def test_alert_expressions_use_existing_metrics_and_labels() -> None:
    known = registry_metrics()
    problems = {r["alert"]: metric_problems(r["expr"], known) for r in alert_rules()}
    assert {a: p for a, p in problems.items() if p} == {}


def test_prometheusrule_expressions_use_existing_metrics_and_labels() -> None:
    known = registry_metrics()
    rule = load_yaml(PROMETHEUS_RULE)
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert exprs
    assert [p for e in exprs for p in metric_problems(e, known)] == []


def test_dashboard_expressions_use_existing_metrics_and_labels() -> None:
    known = registry_metrics()
    exprs = dashboard_exprs()
    exprs += [v["definition"] for v in dashboard()["templating"]["list"] if "definition" in v]
    problems = {e: metric_problems(e, known) for e in exprs}
    assert {e: p for e, p in problems.items() if p} == {}


def test_dashboard_shows_every_rater_metric() -> None:
    text = "\n".join(dashboard_exprs())
    families = {fam for fam, _ in registry_metrics().values()}
    shown = {fam for name, (fam, _) in registry_metrics().items() if name in text}
    missing = sorted(families - shown)
    assert missing == [], f"add a panel to {DASHBOARD.name} for: {missing}"


# -- (c) PrometheusRule = alerts.yaml --------------------------------------------------


def test_prometheusrule_embeds_the_same_rules_as_alerts_yaml() -> None:
    rule = load_yaml(PROMETHEUS_RULE)
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"] == load_yaml(ALERTS)


def test_prometheusrule_is_what_the_sync_script_writes() -> None:
    sync = load_module(DEPLOY / "prometheus" / "sync_prometheusrule.py")
    assert PROMETHEUS_RULE.read_text(encoding="utf-8") == sync.render(ALERTS.read_text()), (
        "stale: run .venv/bin/python deploy/prometheus/sync_prometheusrule.py"
    )


# -- Grafana dashboard ------------------------------------------------------------------


def test_dashboard_structure() -> None:
    d = dashboard()
    assert d["schemaVersion"] >= 39
    assert d["uid"] and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in dashboard_panels():
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]
            assert t["datasource"]["uid"] == "${datasource}", p["title"]


def test_dashboard_has_the_panels_asked_for() -> None:
    exprs = "\n".join(dashboard_exprs())
    for needle in (
        "sum by (outcome) (rate(rater_records_total",
        "sum by (reason) (rate(rater_dead_letters_total",
        "sum by (type) (rate(rater_events_total",
        "rate(rater_fen_total",
        "rate(rater_throttle_events_total",
        "sum by (topic, partition) (rater_consumer_lag",
        "histogram_quantile(0.5, sum by (le) (rate(rater_batch_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(rater_batch_seconds_bucket",
        "histogram_quantile(0.5, sum by (le) (rate(rater_record_latency_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(rater_record_latency_seconds_bucket",
        "rater_assigned_partitions",
        "rater_transaction_aborts_total",
        "rater_recoveries_total",
        "rater_fenced_total",
    ):
        assert needle in exprs, needle


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for p in dashboard()["panels"]:
        g = p["gridPos"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


# -- (d) kubernetes ---------------------------------------------------------------------


def k8s_yaml_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml"))


@pytest.mark.parametrize("path", k8s_yaml_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_k8s_yaml_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs, f"{path}: empty"
    for d in docs:
        assert isinstance(d, dict)
        if path.name in ("rater.yaml", "catalog.yaml"):
            continue  # ConfigMap contents, not Kubernetes objects
        assert d.get("apiVersion") and d.get("kind"), f"{path}: not a Kubernetes object"


@pytest.mark.parametrize("path", [*DEPLOY.glob("prometheus/*.yaml")], ids=lambda p: p.name)
def test_prometheus_yaml_parses(path: Path) -> None:
    assert load_all(path)


@pytest.mark.parametrize("kdir", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_kustomization_lists_files_that_exist(kdir: Path) -> None:
    kust = load_yaml(kdir / "kustomization.yaml")
    assert kust["kind"] == "Kustomization"
    files: list[str] = list(kust.get("resources", []))
    files += [p["path"] for p in kust.get("patches", []) if "path" in p]
    for gen in kust.get("configMapGenerator", []) + kust.get("secretGenerator", []):
        files += [f.split("=", 1)[-1] for f in gen.get("files", [])]
    assert files
    for f in files:
        assert (kdir / f).exists(), f"{kdir.name}/kustomization.yaml: {f} does not exist"


def test_base_lists_every_manifest_it_holds() -> None:
    kust = load_yaml(BASE / "kustomization.yaml")
    listed = (
        set(kust["resources"])
        | {f for g in kust["configMapGenerator"] for f in g["files"]}
        | {"kustomization.yaml"}
    )
    assert {p.name for p in BASE.glob("*.yaml")} == listed


def test_base_has_the_objects_asked_for() -> None:
    kinds = sorted(d["kind"] for d in base_docs())
    assert kinds == sorted(
        [
            "Namespace",
            "Secret",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "CronJob",
            "ScaledObject",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )


def test_deployment_probes_use_healthz_and_readyz_on_the_metrics_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container(by_kind(base_docs(), "Deployment"))
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    settings = settings_from((BASE / "rater.yaml").read_text(), tmp_path, monkeypatch)
    assert ports["metrics"] == settings.metrics_port == 9400
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    # the default 127.0.0.1 would make every probe fail
    assert settings.metrics_host == "0.0.0.0"


def test_deployment_runs_the_service_as_asked() -> None:
    d = by_kind(base_docs(), "Deployment")
    assert "replicas" not in d["spec"], "KEDA owns the replica count"
    # no surge pod: at as many pods as partitions it could never get ready
    assert d["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    pod = d["spec"]["template"]["spec"]
    c = container(d)
    assert c["args"] == ["run", "--config", "/etc/rater/rater.yaml"]
    assert pod["terminationGracePeriodSeconds"] >= 60
    env = {e["name"]: e for e in c["env"]}
    assert env["RATER_INSTANCE_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    ref = env["REDIS_URL"]["valueFrom"]["secretKeyRef"]
    secret = by_kind(base_docs(), "Secret")
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    assert c["resources"]["requests"]["cpu"] == c["resources"]["limits"]["cpu"] == "1"
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["config"] == "/etc/rater"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "rater-config"


def test_settings_and_catalog_of_every_kustomization_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = load_catalog(BASE / "catalog.yaml")
    assert catalog.version
    for kdir in [BASE, *OVERLAYS]:
        s = settings_from((kdir / "rater.yaml").read_text(), tmp_path, monkeypatch)
        assert str(s.catalog) == "/etc/rater/catalog.yaml", kdir.name
        assert s.metrics_host == "0.0.0.0", kdir.name
        assert s.metrics_port == 9400, kdir.name


def test_selectors_match_the_pods() -> None:
    docs = base_docs()
    pod_labels = by_kind(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    tick_labels = by_kind(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    service = by_kind(docs, "Service")
    for selector in (
        by_kind(docs, "Deployment")["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"],
        by_kind(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= tick_labels.items(), "tick pods must not match"
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    sm = by_kind(docs, "ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert sm["spec"]["endpoints"][0]["path"] == "/metrics"
    # the job label of the scraped series is the Service's name: what the alerts expect
    assert service["metadata"]["name"] == "rater"
    assert 'job="rater"' in ALERTS.read_text()


def test_tick_cronjob() -> None:
    cj = by_kind(base_docs(), "CronJob")
    assert cj["spec"]["schedule"] == "*/5 * * * *"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["tick", "--config", "/etc/rater/rater.yaml"]
    assert pod["restartPolicy"] in ("Never", "OnFailure")


def check_scaling(docs: list[dict[str, Any]], settings: Settings) -> None:
    so = by_kind(docs, "ScaledObject")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    assert so["spec"]["scaleTargetRef"]["name"] == by_kind(docs, "Deployment")["metadata"]["name"]
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    meta = trigger["metadata"]
    assert int(meta["lagThreshold"]) > 0
    assert meta["consumerGroup"] == settings.group_id
    assert meta["topic"] == settings.topics.usage
    assert meta["bootstrapServers"] == settings.kafka_bootstrap_servers
    assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
    # replicas beyond the partition count own nothing and idle
    assert so["spec"]["maxReplicaCount"] <= settings.partitions


def test_base_scaledobject_agrees_with_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_from((BASE / "rater.yaml").read_text(), tmp_path, monkeypatch)
    check_scaling(base_docs(), settings)


@needs_kubectl
@pytest.mark.parametrize("kdir", [BASE, *OVERLAYS], ids=lambda p: p.name)
def test_kustomize_builds_and_the_result_is_consistent(
    kdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = kustomize(kdir)
    namespace = by_kind(docs, "Namespace")["metadata"]["name"]
    for d in docs:
        if d["kind"] != "Namespace":
            assert d["metadata"]["namespace"] == namespace, d["kind"]
    config = rendered_config(docs)
    assert set(config) == {"rater.yaml", "catalog.yaml"}
    settings = settings_from(config["rater.yaml"], tmp_path, monkeypatch)
    check_scaling(docs, settings)
    cm_name = next(d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap")
    deploy = by_kind(docs, "Deployment")
    cron = by_kind(docs, "CronJob")
    for pod in (
        deploy["spec"]["template"]["spec"],
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ):
        names = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
        assert names == {cm_name}, "volumes must use the generated (hashed) ConfigMap"
        for c in pod["containers"]:
            assert c["image"].count(":") >= 1 and not c["image"].startswith("rater"), c["image"]
    assert by_kind(docs, "PrometheusRule")["spec"] == load_yaml(ALERTS)


# -- the image ---------------------------------------------------------------------------


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert re.search(r"^USER\s+(?!root|0\b)\S+", text, re.M), "must run as a non-root user"
    assert re.search(r'^ENTRYPOINT \["rater"\]$', text, re.M)
    assert re.search(r'^CMD \["run"\]$', text, re.M)
    assert re.search(r"^EXPOSE 9400$", text, re.M)
    assert "RATER_SCHEMAS_DIR=/app/schemas" in text  # the Avro schemas are not in the wheel


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    allowed = {
        line[1:].rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    # COPY [--chown=...] SRC DEST from the build context (not --from=stage)
    sources = [args.split()[-2] for args in re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.M)]
    assert sources
    for src in sources:
        if src != ".":
            assert src.rstrip("/") in allowed, f"COPY {src} is excluded from the context"
    for needed in ("pyproject.toml", "rater", "schemas", "deploy/requirements.txt"):
        assert needed in allowed


def test_requirements_pin_the_pyproject_dependencies() -> None:
    def canon(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pins: dict[str, str] = {}
    for line in (DEPLOY / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not pinned: {line}"
            pins[canon(name)] = version
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name, sep, version = dep.partition("==")
        assert sep, f"pyproject.toml: {dep} is not pinned"
        assert pins.get(canon(name)) == version, f"deploy/requirements.txt: {name}=={version}"

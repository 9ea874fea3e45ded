"""Write deploy/k8s/base/prometheusrule.yaml from deploy/prometheus/alerts.yaml.

The PrometheusRule (Prometheus Operator) embeds the same rule groups as alerts.yaml, the
file that promtool checks and unit-tests. Edit alerts.yaml, then run

    .venv/bin/python deploy/prometheus/sync_prometheusrule.py          # rewrite
    .venv/bin/python deploy/prometheus/sync_prometheusrule.py --check  # exit 1 if stale

tests/unit/deploy/test_deploy.py fails while the two differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent.parent
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
TARGET = DEPLOY / "k8s" / "base" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/alerts.yaml by deploy/prometheus/sync_prometheusrule.py.
# Do not edit: edit alerts.yaml (promtool tests it) and run the script again.
# The `release` label must match the ruleSelector of your Prometheus
# (kube-prometheus-stack: the Helm release name).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: rater
  labels:
    app.kubernetes.io/name: rater
    release: prometheus
spec:
"""


def render(alerts_text: str) -> str:
    """The PrometheusRule text: the header, then alerts.yaml from `groups:` on, under spec."""
    lines = alerts_text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("groups:")), None)
    if start is None:
        raise ValueError(f"{ALERTS}: no top-level 'groups:' key")
    body = [("  " + line) if line.strip() else "" for line in lines[start:]]
    return HEADER + "\n".join(body).rstrip() + "\n"


def main(argv: list[str]) -> int:
    want = render(ALERTS.read_text())
    have = TARGET.read_text() if TARGET.exists() else ""
    if "--check" in argv:
        if want != have:
            print(f"{TARGET} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if want != have:
        TARGET.write_text(want)
        print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

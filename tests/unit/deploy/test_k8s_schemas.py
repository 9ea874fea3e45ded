"""Every object that the kustomize base and overlays render is valid Kubernetes, offline.

kustomize is built from its Go module by scripts/k8s-tools.sh (pinned, cached in
~/.cache/rater/bin; the first build takes a minute or two). The objects are validated with
kubernetes-validate (PyPI, pinned in pyproject.toml), which ships the JSON schemas of every
Kubernetes release, in strict mode (unknown fields are errors), against KUBERNETES_VERSION.

Objects of custom resources (KEDA's ScaledObject, the Prometheus Operator's ServiceMonitor
and PrometheusRule) have no schema in kubernetes-validate: they are checked for apiVersion,
kind, metadata.name/namespace and the spec fields the operators require, by hand (their
full CRD schemas are not vendored here). tests/unit/deploy/test_deploy.py checks what they
say (selectors, triggers, the embedded rules).

Skipped only when neither Go nor an already built kustomize is on the machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "dev", K8S / "overlays" / "prod"]
TOOLS = ROOT / "scripts" / "k8s-tools.sh"
CACHED_KUSTOMIZE = Path.home() / ".cache" / "rater" / "bin" / "kustomize"

# The oldest Kubernetes release the manifests must be valid for (policy/v1 PDB,
# batch/v1 CronJob, autoscaling/v2 are all GA well before it).
KUBERNETES_VERSION = "1.33.0"

# apiVersion/kind of custom resources -> spec fields their operators require.
CUSTOM_RESOURCES: dict[tuple[str, str], tuple[str, ...]] = {
    ("keda.sh/v1alpha1", "ScaledObject"): ("scaleTargetRef", "triggers"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("selector", "endpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("groups",),
}

GO = shutil.which("go") or next((p for p in ("/usr/local/go/bin/go",) if Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(
    GO is None and not CACHED_KUSTOMIZE.is_file(),
    reason="Go is not installed: scripts/k8s-tools.sh cannot build kustomize",
)


@pytest.fixture(scope="module")
def kustomize() -> str:
    """Path of the pinned kustomize, built by scripts/k8s-tools.sh when missing."""
    res = subprocess.run(
        ["bash", str(TOOLS)], capture_output=True, text=True, timeout=900, cwd=ROOT
    )
    assert res.returncode == 0, f"scripts/k8s-tools.sh failed:\n{res.stderr}"
    path = res.stdout.strip().splitlines()[-1]
    assert Path(path).is_file(), path
    return path


def render(kustomize: str, kdir: Path) -> list[dict[str, Any]]:
    res = subprocess.run(
        [kustomize, "build", str(kdir)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, f"kustomize build {kdir.relative_to(ROOT)}:\n{res.stderr}"
    docs = [d for d in yaml.safe_load_all(res.stdout) if d is not None]
    assert docs, f"{kdir}: rendered nothing"
    return docs


def name_of(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def custom_resource_problems(obj: dict[str, Any]) -> list[str]:
    """What can be checked of a custom resource without its CRD's schema."""
    required = CUSTOM_RESOURCES[(obj["apiVersion"], obj["kind"])]
    meta = obj.get("metadata") or {}
    problems = []
    if not isinstance(meta.get("name"), str) or not meta["name"]:
        problems.append("metadata.name missing")
    if not isinstance(meta.get("namespace"), str) or not meta["namespace"]:
        problems.append("metadata.namespace missing")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [*problems, "spec missing"]
    problems += [f"spec.{f} missing" for f in required if not spec.get(f)]
    unknown = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
    problems += [f"unknown top-level field {f!r}" for f in sorted(unknown)]
    return problems


@pytest.mark.parametrize("kdir", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_rendered_objects_validate_against_the_kubernetes_schemas(
    kustomize: str, kdir: Path
) -> None:
    docs = render(kustomize, kdir)
    errors: dict[str, str] = {}
    schema_checked, crd_checked = [], []
    for obj in docs:
        assert obj.get("apiVersion") and obj.get("kind"), f"not a Kubernetes object: {obj}"
        key = (obj["apiVersion"], obj["kind"])
        if key in CUSTOM_RESOURCES:
            # No schema in kubernetes-validate for CRDs: structural checks only.
            if problems := custom_resource_problems(obj):
                errors[name_of(obj)] = "; ".join(problems)
            crd_checked.append(name_of(obj))
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors[name_of(obj)] = f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        except kubernetes_validate.SchemaNotFoundError:
            errors[name_of(obj)] = (
                f"no Kubernetes {KUBERNETES_VERSION} schema for {key}: a typo, or a custom "
                "resource missing from CUSTOM_RESOURCES"
            )
        schema_checked.append(name_of(obj))
    assert errors == {}
    # the base renders every kind asked for; none of them may silently escape the checks
    assert {"Deployment", "Service", "CronJob", "PodDisruptionBudget"} <= {
        n.split("/")[0] for n in schema_checked
    }
    assert sorted(n.split("/")[0] for n in crd_checked) == [
        "PrometheusRule",
        "ScaledObject",
        "ServiceMonitor",
    ]


def test_the_validator_catches_a_broken_object() -> None:
    """The strict schema check is not a no-op: a misspelt field and a wrong type fail."""
    bad: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "two",
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "x", "imagePullPolicyy": "x"}]},
            },
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    bad["spec"]["replicas"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
    del bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"]
    kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_custom_resource_check_catches_a_broken_object() -> None:
    so = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"}}
    assert custom_resource_problems(so) == ["metadata.namespace missing", "spec missing"]

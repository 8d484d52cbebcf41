"""Render the Helm releases a stack registers with Helm's own engine, from the pinned chart sources.

`../shared/charts` holds each chart at the pinned version; tests that use this module skip when it is
absent. A subchart whose source is not there (kube-prometheus-stack's grafana, kube-state-metrics and
node-exporter) is switched off for the render, so the parent chart's own templates are still checked;
what the platform sets for those subcharts is asserted on the registered values instead.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Iterator

import pytest
import yaml

from ops.engine import Evaluation
from ops.stackfiles import PROJECT_DIR
from stacks.config import deep_merge
from tests.k8s import RELEASE, reveal

CHARTS_DIR = PROJECT_DIR.parent / "shared" / "charts"
needs_charts = pytest.mark.skipif(not CHARTS_DIR.is_dir(), reason="../shared/charts is not present")

CLUSTER_API_VERSIONS = ("monitoring.coreos.com/v1",)  # applied by the platform before any release
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class Rendered:
    """One release as Helm would install it."""

    release: str
    chart: str
    namespace: str
    values: dict[str, Any]
    objects: tuple[dict[str, Any], ...]
    missing_subcharts: tuple[str, ...]

    def of_kind(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") in kinds]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.release}: expected one {kind} {name}, found {len(found)}"
        return found[0]


@functools.lru_cache(maxsize=None)
def _chart(name: str):
    from helm_python import Chart

    return Chart.load(str(CHARTS_DIR / name))


def _absent_subcharts(chart: str) -> dict[str, str]:
    """Dependencies the chart declares but whose source is not in its charts/ folder: name -> condition."""
    meta = yaml.safe_load((CHARTS_DIR / chart / "Chart.yaml").read_text())
    folder = CHARTS_DIR / chart / "charts"
    present = [p.name.removesuffix(".tgz") for p in folder.iterdir()] if folder.is_dir() else []
    absent = {}
    for dependency in meta.get("dependencies", []):
        source = dependency["name"]
        if not any(p == source or p.startswith(f"{source}-") for p in present):
            absent[dependency.get("alias", source)] = dependency.get("condition", "")
    return absent


def _switch_off(conditions: dict[str, str]) -> dict[str, Any]:
    overlay: dict[str, Any] = {}
    for condition in conditions.values():
        path = condition.split(",")[0].split(".")
        node = overlay
        for step in path[:-1]:
            node = node.setdefault(step, {})
        node[path[-1]] = False
    return overlay


def _hook_test(manifest_path: str) -> bool:
    return "/tests/" in manifest_path or manifest_path.endswith("NOTES.txt")


def render(chart: str, values: dict[str, Any], release: str, namespace: str, kubernetes_version: str) -> Rendered:
    """As `helm install` renders it on a cluster of `kubernetes_version` where the platform's CRDs exist.

    Uses the engine call behind `Chart.render` directly: it also takes the cluster's Kubernetes version and
    API versions (what `.Capabilities` answers), which the wrapper does not expose.
    """
    from helm_python import _native

    absent = _absent_subcharts(chart)
    effective = deep_merge(values, _switch_off(absent)) if absent else values
    options = {"name": release, "namespace": namespace, "is_install": True,
               "kube_version": f"v{kubernetes_version}.0", "api_versions": list(CLUSTER_API_VERSIONS)}
    manifests = json.loads(_native.call_string("helm_render", _chart(chart)._raw(), json.dumps(effective),
                                               json.dumps(options)))
    objects = []
    for path, text in sorted(manifests.items()):
        if _hook_test(path) or not text.strip():
            continue
        for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
            if isinstance(document, dict) and document.get("kind"):
                document.setdefault("metadata", {}).setdefault("namespace", namespace)
                objects.append(document)
    return Rendered(release, chart, namespace, values, tuple(objects), tuple(absent))


_RENDERED: dict[int, tuple[Evaluation, dict[str, Rendered]]] = {}


def render_stack(evaluation: Evaluation) -> dict[str, Rendered]:
    """Every Helm release of the evaluated stack, by release name (rendered once per evaluation and worker)."""
    if id(evaluation) not in _RENDERED:
        _RENDERED[id(evaluation)] = (evaluation, _render_stack(evaluation))  # the evaluation held: its id stays its own
    return _RENDERED[id(evaluation)][1]


def _render_stack(evaluation: Evaluation) -> dict[str, Rendered]:
    version = evaluation.settings.kubernetes_version
    rendered = {}
    for registration in evaluation.of_type(RELEASE):
        inputs = reveal(registration.inputs)
        chart = inputs["chart"].rsplit("/", 1)[-1]  # an OCI chart is named by its full reference
        rendered[inputs["name"]] = render(chart, inputs.get("values", {}), inputs["name"], inputs["namespace"], version)
    return rendered


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec = workload["spec"]
    if workload["kind"] == "Pod":
        return spec
    if workload["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def containers(workload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = pod_spec(workload)
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []

"""The escape hatch `eks-platform:releases.<release>.values`, checked before anything is registered.

A stack may set any chart value the platform does not expose; the values are laid over the platform's
(`components.helm.values_overrides`). Each key must be one the pinned chart knows: its `values.yaml` (and its
subcharts'), keys its values.yaml documents in comments, or anything below a map or list the chart leaves
free-form; charts with a `values.schema.json` are checked against it too. The indexes of keys and the
schemas are vendored under `stacks/chart_values/` (`python -m stacks.releases ../shared/charts` regenerates
them; a test compares them with the pinned sources). A few settings carry the platform's promises and may
not be overridden at all.

    python -m stacks.releases PATH/TO/charts
"""

from __future__ import annotations

import difflib
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import jsonschema

from components.helm import CHARTS, deep_merge
from stacks.problems import Problem

INDEX_DIR = Path(__file__).resolve().parent / "chart_values"
FREE = 0  # in an index: any key below is the chart's to accept (a free-form map or list, or a scalar)

# The platform's releases and their charts.
RELEASE_CHARTS = {
    "kube-prometheus-stack": "kube-prometheus-stack", "loki": "loki", "fluent-bit": "fluent-bit",
    "ingress-nginx": "ingress-nginx", "envoy-gateway": "gateway-helm", "nvidia-device-plugin": "nvidia-device-plugin",
    "dcgm-exporter": "dcgm-exporter", "velero": "velero", "aws-load-balancer-controller": "aws-load-balancer-controller",
    "cluster-autoscaler": "cluster-autoscaler", "metrics-server": "metrics-server",
}

# Keys the charts document in a comment of their values.yaml (not in the defaults) and read in their templates.
DOCUMENTED = {
    ("kube-prometheus-stack", "kube-state-metrics.priorityClassName"),
    ("kube-prometheus-stack", "prometheus-node-exporter.priorityClassName"),
    ("kube-prometheus-stack", "grafana.priorityClassName"),
    ("kube-prometheus-stack", "grafana.persistence.storageClassName"),
    ("kube-prometheus-stack", "grafana.rbac.useExistingRole"),
    ("kube-prometheus-stack", "prometheusOperator.priorityClassName"),
    ("fluent-bit", "prometheusRule.rules"),
}

# Maps the chart passes through whole (Loki's configuration blocks, grafana.ini, command-line flags): any key.
FREE_FORM = {
    ("loki", "loki.storage"), ("loki", "loki.limits_config"),
    ("kube-prometheus-stack", "grafana.grafana.ini"),
    ("ingress-nginx", "controller.containerPort"),  # named container ports: the chart renders every entry
    ("cluster-autoscaler", "extraArgs"),  # any cluster-autoscaler flag (the chart's comment links the list)
}

# Settings that carry the platform's promises: a stack's values may not change them.
PROTECTED = {
    ("kube-prometheus-stack", "crds"): "the platform applies the monitoring CRDs itself (components/crds)",
    ("kube-prometheus-stack", "grafana.rbac"): "Grafana reads ConfigMaps of its namespace only, never Secrets",
    ("kube-prometheus-stack", "grafana.sidecar.dashboards.searchNamespace"): "a tenant's ConfigMap is never a dashboard",
    ("kube-prometheus-stack", "grafana.admin"): "Grafana's admin password lives in a Secret of the platform",
    ("kube-prometheus-stack", "kube-state-metrics.collectors"): "kube-state-metrics never lists Secrets",
    ("kube-prometheus-stack", "alertmanager.config.route"): "alert routing: prod is never silent, teams get theirs",
    ("kube-prometheus-stack", "alertmanager.config.receivers"): "each webhook is read from its own Secret",
    ("loki", "loki.auth_enabled"): "logs are per team (multi-tenant)",
    ("loki", "sidecar.rules"): "no reader of every Secret",
    ("fluent-bit", "config.outputs"): "each record reaches its team's log tenant only",
    ("ingress-nginx", "controller.extraArgs"): "the shared edge refuses ExternalName relays and catch-alls",
    ("ingress-nginx", "controller.allowSnippetAnnotations"): "no tenant snippets in the shared edge",
    ("ingress-nginx", "controller.config.allow-snippet-annotations"): "no tenant snippets in the shared edge",
    ("ingress-nginx", "controller.config.annotations-risk-level"): "tenant annotations no riskier than Medium",
}


def shape(values: Any) -> Any:
    """The index of a values tree: its keys, down to where the chart leaves the rest free-form."""
    if isinstance(values, dict) and values:
        return {key: shape(value) for key, value in values.items()}
    return FREE


@lru_cache(maxsize=None)
def index(chart: str) -> dict[str, Any]:
    return json.loads((INDEX_DIR / f"{chart}.json").read_text())


@lru_cache(maxsize=None)
def schema(chart: str) -> dict[str, Any] | None:
    path = INDEX_DIR / f"{chart}.schema.json"
    return json.loads(path.read_text()) if path.is_file() else None


def unknown_keys(values: Any, chart: str, known: Any = None, path: str = "") -> Iterator[str]:
    """Dotted paths in `values` that the chart does not know."""
    known = index(chart) if known is None else known
    if not isinstance(values, dict) or known == FREE:
        return
    for key, value in values.items():
        here = f"{path}.{key}" if path else str(key)
        if (chart, here) in DOCUMENTED | FREE_FORM or key == "resources":  # resources: a container's requests, limits
            continue
        if key not in known:
            yield here
            continue
        yield from unknown_keys(value, chart, known[key], here)


def _leaf_paths(values: Any, path: str = "") -> Iterator[str]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from _leaf_paths(value, f"{path}.{key}" if path else str(key))
    else:
        yield path


def _nearest(chart: str, path: str) -> str:
    """`; did you mean 'x'?` for the known key nearest to the last step of `path`, or nothing."""
    parent, _, key = path.rpartition(".")
    known: Any = index(chart)
    for step in parent.split(".") if parent else []:
        known = known.get(step, FREE) if isinstance(known, dict) else FREE
    close = difflib.get_close_matches(key, list(known) if isinstance(known, dict) else [], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _protection(chart: str, path: str) -> str | None:
    """Why a value at `path` (or a map holding a protected setting) may not be set, if it may not."""
    for (protected_chart, protected), reason in PROTECTED.items():
        if protected_chart == chart and (path == protected or path.startswith(f"{protected}.")
                                         or protected.startswith(f"{path}.")):
            return reason
    return None


def problems(releases: Any) -> Iterator[Problem]:
    """Over the validated `releases` block (a partly invalid one is checked as far as it is valid)."""
    for release, block in releases.items() if isinstance(releases, dict) else ():
        where = f"releases.{release}"
        chart = RELEASE_CHARTS.get(release)
        if chart is None:
            yield Problem(where, release, f"is not a release of the platform; releases: {', '.join(RELEASE_CHARTS)}")
            continue
        values = getattr(block, "values", None)
        if not isinstance(values, dict):
            continue
        version = CHARTS[chart].version
        for path in unknown_keys(values, chart):
            key = path.rpartition(".")[2]
            yield Problem(f"{where}.values.{path}", key,
                          f"is not a value of the chart {chart} {version}{_nearest(chart, path)}")
        for path in _leaf_paths(values):
            reason = _protection(chart, path)
            if reason:
                yield Problem(f"{where}.values.{path}", "[set]", f"is the platform's and cannot be overridden: {reason}")
        chart_schema = schema(chart)
        if chart_schema is not None:
            validator = jsonschema.validators.validator_for(chart_schema)(chart_schema)
            for error in validator.iter_errors(values):
                if error.validator == "required":  # the chart's defaults and the platform's values supply them
                    continue
                path = ".".join(str(p) for p in error.absolute_path)
                yield Problem(f"{where}.values{'.' + path if path else ''}", error.instance,
                              f"the chart {chart} {version} refuses it: {error.message}")


def generate(charts_dir: Path) -> None:
    """Write each pinned chart's key index (and schema) from its sources: values.yaml with its subcharts'."""
    import shutil

    import yaml

    INDEX_DIR.mkdir(exist_ok=True)
    for chart in sorted(set(RELEASE_CHARTS.values())):
        source = charts_dir / chart
        values = yaml.safe_load((source / "values.yaml").read_text()) or {}
        for subchart in sorted((source / "charts").glob("*/values.yaml")):
            name = subchart.parent.name
            values[name] = deep_merge(yaml.safe_load(subchart.read_text()) or {}, values.get(name) or {})
        (INDEX_DIR / f"{chart}.json").write_text(json.dumps(shape(values), sort_keys=True, separators=(",", ":")))
        if (source / "values.schema.json").is_file():
            shutil.copyfile(source / "values.schema.json", INDEX_DIR / f"{chart}.schema.json")


if __name__ == "__main__":
    generate(Path(sys.argv[1]))

"""Every Helm values key the platform sets exists in the pinned chart's defaults (`../shared/charts`).

A key below a map that the chart leaves empty (`{}`) or below a list is free-form by the chart's own
documentation (annotations, selectors, Loki's config blocks) and is not checked further.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import yaml

from components.helm import CHARTS
from ops.stackfiles import PROJECT_DIR
from stacks.config import deep_merge
from tests.conftest import stack_variant
from tests.k8s import RELEASE, reveal

CHARTS_DIR = PROJECT_DIR.parent / "shared" / "charts"
pytestmark = pytest.mark.skipif(not CHARTS_DIR.is_dir(), reason="../shared/charts is not present")
FREE_FORM = {
    # Documented Loki config blocks passed straight into Loki's configuration.
    ("loki", "loki.storage"), ("loki", "loki.limits_config"),
    # Grafana's ini file: any section and key of grafana.ini.
    ("kube-prometheus-stack", "grafana.grafana.ini"),
    # Documented in a comment of the subcharts' values.yaml and read by their templates.
    ("kube-prometheus-stack", "kube-state-metrics.priorityClassName"),
    ("kube-prometheus-stack", "prometheus-node-exporter.priorityClassName"),
    ("kube-prometheus-stack", "grafana.priorityClassName"),
    ("kube-prometheus-stack", "grafana.persistence.storageClassName"),
    ("kube-prometheus-stack", "grafana.rbac.useExistingRole"),
    # Documented in a comment of the chart's values.yaml and read by its templates.
    ("kube-prometheus-stack", "prometheusOperator.priorityClassName"),
    # Documented in a comment of the chart's values.yaml.
    ("fluent-bit", "prometheusRule.rules"),
    # Named container ports: the chart renders every entry (its TLS-termination docs add `tohttps`).
    ("ingress-nginx", "controller.containerPort"),
    # Any cluster-autoscaler command-line flag (the chart's comment links the full list).
    ("cluster-autoscaler", "extraArgs"),
}


def defaults(chart: str) -> dict[str, Any]:
    """The chart's values, each subchart's own defaults under its name (the parent's settings laid over them)."""
    found = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text())
    for subchart in sorted((CHARTS_DIR / chart / "charts").glob("*/values.yaml")):
        name = subchart.parent.name
        found[name] = deep_merge(yaml.safe_load(subchart.read_text()) or {}, found.get(name) or {})
    return found


def unknown_keys(values: Any, chart_defaults: Any, chart: str, path: str = "") -> Iterator[str]:
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        here = f"{path}.{key}" if path else key
        if (chart, here) in FREE_FORM or key == "resources":  # a container's requests and limits
            continue
        if not isinstance(chart_defaults, dict) or key not in chart_defaults:
            yield here
            continue
        default = chart_defaults[key]
        if isinstance(default, dict) and default:
            yield from unknown_keys(value, default, chart, here)


def test_pinned_versions_match_the_shared_charts():
    for chart in CHARTS.values():
        meta = yaml.safe_load((CHARTS_DIR / chart.name / "Chart.yaml").read_text())
        assert meta["version"] == chart.version, chart.name


@pytest.mark.parametrize("stack", ["dev", "prod", "gateway"])
def test_every_values_key_exists_in_the_chart(stack, request):
    evaluation = stack_variant("staging", ingress={"controller": "gateway"}) if stack == "gateway" \
        else request.getfixturevalue(stack)
    for registration in evaluation.of_type(RELEASE):
        chart = registration.inputs["chart"].rsplit("/", 1)[-1]
        bad = list(unknown_keys(reveal(registration.inputs["values"]), defaults(chart), chart))
        assert bad == [], f"{chart}: keys not in the chart's values.yaml: {bad}"


def test_the_key_check_catches_a_typo():
    assert list(unknown_keys({"controller": {"replicaCont": 2}}, defaults("ingress-nginx"), "ingress-nginx")) == [
        "controller.replicaCont"]


def test_loki_values_satisfy_the_charts_json_schema(dev, prod):
    import json

    import jsonschema

    schema = json.loads((CHARTS_DIR / "loki" / "values.schema.json").read_text())
    for evaluation in (dev, prod):
        merged = deep_merge(defaults("loki"), reveal(evaluation.one(RELEASE, "loki").inputs["values"]))
        jsonschema.validate(merged, schema)

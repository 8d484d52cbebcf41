"""Every Helm values key the platform or a stack sets exists in the pinned chart (`stacks/releases.py`), and the
escape hatch `eks-platform:releases.<release>.values` is merged after the platform's values, checked first.

The key indexes and schemas the check uses are vendored (`stacks/chart_values/`); with `../shared/charts`
present, a test regenerates them from the pinned sources and requires them unchanged.
"""

from __future__ import annotations

import pytest
import yaml

from components.helm import CHARTS, deep_merge
from stacks import releases
from tests.conftest import dev_with_teams, run_stack, stack_variant
from tests.k8s import RELEASE, reveal, values
from tests.rendering import CHARTS_DIR, needs_charts, render_stack


@needs_charts
def test_pinned_versions_match_the_shared_charts():
    for chart in CHARTS.values():
        meta = yaml.safe_load((CHARTS_DIR / chart.name / "Chart.yaml").read_text())
        assert meta["version"] == chart.version, chart.name


@needs_charts
def test_the_vendored_key_indexes_and_schemas_are_the_pinned_charts(tmp_path, monkeypatch):
    vendored = {p.name: p.read_bytes() for p in releases.INDEX_DIR.iterdir()}
    monkeypatch.setattr(releases, "INDEX_DIR", tmp_path / "chart_values")
    releases.generate(CHARTS_DIR)
    assert {p.name: p.read_bytes() for p in (tmp_path / "chart_values").iterdir()} == vendored, \
        "run: python -m stacks.releases ../shared/charts"


@pytest.mark.parametrize("stack", ["dev", "prod", "gateway", "teams"])
def test_every_values_key_the_platform_sets_exists_in_the_chart(stack, request):
    evaluation = {"gateway": lambda: stack_variant("staging", ingress={"controller": "gateway"}),
                  "teams": dev_with_teams}.get(stack, lambda: request.getfixturevalue(stack))()
    for registration in evaluation.of_type(RELEASE):
        inputs = reveal(registration.inputs)
        chart = inputs["chart"].rsplit("/", 1)[-1]
        assert releases.RELEASE_CHARTS[inputs["name"]] == chart
        bad = list(releases.unknown_keys(inputs["values"], chart))
        assert bad == [], f"{chart}: keys not in the chart's values.yaml: {bad}"


def test_the_key_check_catches_a_typo():
    assert list(releases.unknown_keys({"controller": {"replicaCont": 2}}, "ingress-nginx")) == ["controller.replicaCont"]


@needs_charts
def test_loki_values_satisfy_the_charts_json_schema(dev, prod):
    import jsonschema

    defaults = yaml.safe_load((CHARTS_DIR / "loki" / "values.yaml").read_text())
    for evaluation in (dev, prod):
        jsonschema.validate(deep_merge(defaults, reveal(evaluation.one(RELEASE, "loki").inputs["values"])),
                            releases.schema("loki"))


OVERRIDES = {
    "kube-prometheus-stack": {"values": {"prometheus": {"prometheusSpec": {"scrapeInterval": "15s",
                                                                            "externalLabels": {"region": "eu"}}}}},
    "loki": {"values": {"loki": {"limits_config": {"max_query_series": 1000}}}},
    "velero": {"values": {"podAnnotations": {"team": "platform"}}},
}


def test_a_stacks_values_are_laid_over_the_platforms_after_them():
    evaluation = stack_variant("dev", releases=OVERRIDES)
    kps = values(evaluation, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert kps["scrapeInterval"] == "15s" and kps["externalLabels"] == {"region": "eu"}
    assert kps["retention"] == "7d" and kps["storageSpec"]  # the platform's own values are kept
    assert values(evaluation, "loki")["loki"]["limits_config"] == {"retention_period": "168h", "max_query_series": 1000}
    assert values(evaluation, "velero")["podAnnotations"] == {"team": "platform"}
    untouched = stack_variant("dev")
    assert values(evaluation, "fluent-bit") == values(untouched, "fluent-bit")


@needs_charts
def test_an_override_reaches_the_rendered_objects():
    (prometheus,) = render_stack(stack_variant("dev", releases=OVERRIDES))["kube-prometheus-stack"].of_kind("Prometheus")
    assert prometheus["spec"]["scrapeInterval"] == "15s" and prometheus["spec"]["externalLabels"] == {"region": "eu"}


@pytest.mark.parametrize("override, key, fragment", [
    ({"nope": {"values": {}}}, "releases.nope", "releases: kube-prometheus-stack, loki"),
    ({"loki": {"values": {"gatway": {"replicas": 2}}}}, "releases.loki.values.gatway", "did you mean 'gateway'"),
    ({"ingress-nginx": {"values": {"controller": {"replicaCont": 2}}}}, "releases.ingress-nginx.values.controller.replicaCont",
     "not a value of the chart ingress-nginx 4.15.1; did you mean 'replicaCount'"),
    ({"loki": {"values": {"gateway": {"replicas": "two"}}}}, "releases.loki.values.gateway.replicas",
     "'two' is not of type 'integer'"),
    ({"velero": {"values": {"metrics": {"enabled": "yes"}}}}, "releases.velero.values.metrics.enabled",
     "is not of type 'boolean'"),
    ({"kube-prometheus-stack": {"values": {"grafana": {"rbac": {"namespaced": False}}}}},
     "releases.kube-prometheus-stack.values.grafana.rbac.namespaced", "never Secrets"),
    ({"kube-prometheus-stack": {"values": {"grafana": {"sidecar": {"dashboards": {"searchNamespace": "ALL"}}}}}},
     "releases.kube-prometheus-stack.values.grafana.sidecar.dashboards.searchNamespace", "never a dashboard"),
    ({"loki": {"values": {"loki": {"auth_enabled": False}}}}, "releases.loki.values.loki.auth_enabled", "per team"),
    ({"kube-prometheus-stack": {"values": {"kube-state-metrics": None}}},  # a protected setting's whole parent
     "releases.kube-prometheus-stack.values.kube-state-metrics", "never lists Secrets"),
    ({"ingress-nginx": {"values": {"controller": {"extraArgs": {"disable-catch-all": "false"}}}}},
     "releases.ingress-nginx.values.controller.extraArgs.disable-catch-all", "cannot be overridden"),
    ({"fluent-bit": {"values": {"config": {"outputs": "[OUTPUT]\n    Name stdout\n"}}}},
     "releases.fluent-bit.values.config.outputs", "its team's log tenant only"),
])
def test_a_bad_or_forbidden_override_is_refused_before_anything_is_registered(override, key, fragment):
    evaluation = run_stack("dev", releases=override)
    assert evaluation.error is not None and evaluation.registrations == []
    problems = {p.path: str(p) for p in evaluation.error.problems}
    assert key in problems and fragment in problems[key], problems


def test_the_settings_that_cannot_be_overridden_are_named_in_the_docs():
    from ops.stackfiles import PROJECT_DIR

    page = (PROJECT_DIR / "docs" / "escape-hatches.md").read_text()
    for (_, path), _ in releases.PROTECTED.items():
        assert f"`{path}`" in page, path

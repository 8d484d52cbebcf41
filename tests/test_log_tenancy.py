"""Logs per team: Loki multi-tenant, Fluent Bit's routing of each record to its namespace's tenant, Grafana's
datasources per tenant, and Grafana reading ConfigMaps of its own namespace only. Rendered with Helm's engine."""

from __future__ import annotations

import fnmatch
import re

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from components.logging import PLATFORM_TENANT, container_log_matches
from tests.conftest import dev_with_teams, stack_evaluation
from tests.k8s import reveal
from tests.rendering import needs_charts, pod_spec, render_stack

def rendered(stack: str):
    return render_stack(dev_with_teams() if stack == "dev-teams" else stack_evaluation(stack))


def outputs(config_text: str) -> list[dict[str, str]]:
    """The [OUTPUT] sections of a rendered fluent-bit.conf, as key -> value (keys lower-cased, as Fluent Bit reads)."""
    sections = []
    for block in re.split(r"^\[", config_text, flags=re.M):
        head, _, body = block.partition("]\n")
        if head == "OUTPUT":
            sections.append({k.lower(): v for k, _, v in (line.strip().partition(" ") for line in body.splitlines()
                                                           if line.strip())})
    return sections


def matches(output: dict[str, str], tag: str) -> bool:
    """Fluent Bit's routing: `Match` is a wildcard pattern over the whole tag, `Match_Regex` a regex search."""
    if "match_regex" in output:
        return re.search(output["match_regex"], tag) is not None
    return fnmatch.fnmatchcase(tag, output["match"])


def container_tag(pod: str, namespace: str, container: str = "app") -> str:
    """The tag the tail input (`Tag kube.*`) gives a line of /var/log/containers/<pod>_<namespace>_<container>-<id>.log."""
    return f"kube.var.log.containers.{pod}_{namespace}_{container}-0123456789abcdef.log"


def fluent_bit_outputs(stack: str) -> list[dict[str, str]]:
    (config,) = [c for c in rendered(stack)["fluent-bit"].of_kind("ConfigMap") if "fluent-bit.conf" in c["data"]]
    return outputs(config["data"]["fluent-bit.conf"])


def tenants_of(stack: str, tag: str) -> list[str]:
    return [o["tenant_id"] for o in fluent_bit_outputs(stack) if matches(o, tag)]


@needs_charts
@pytest.mark.parametrize("stack", ["prod", "dev-teams"])
def test_every_container_log_reaches_exactly_the_tenant_of_its_namespaces_team(stack):
    teams = (dev_with_teams() if stack == "dev-teams" else stack_evaluation(stack)).settings.config.teams
    owner = {ns: team for team, t in teams.items() for ns in t.namespaces}
    assert owner, "the case needs teams"
    for namespace in [*owner, "kube-system", "monitoring", "ingress-nginx", "default"]:
        for pod in ("api-7d9c5b-x2x4z", "web.v2-0"):  # pod names may hold dots, never underscores
            assert tenants_of(stack, container_tag(pod, namespace)) == [owner.get(namespace, PLATFORM_TENANT)], namespace
    near_misses = [f"{ns}x" for ns in owner] + [f"x{ns}" for ns in owner] + [ns[:-1] for ns in owner]
    for namespace in (ns for ns in near_misses if ns not in owner):
        assert tenants_of(stack, container_tag("api-0", namespace)) == [PLATFORM_TENANT], namespace


@needs_charts
def test_the_nodes_journal_is_the_platforms_and_no_output_sends_without_a_tenant():
    assert tenants_of("prod", "host.kubelet.service") == [PLATFORM_TENANT]
    sent = fluent_bit_outputs("prod")
    assert all(o.get("tenant_id") for o in sent), "Loki refuses a push without X-Scope-OrgID: 'no org id'"
    assert "tenant_id_key" not in {k for o in sent for k in o}  # one static tenant per output, never mixed chunks
    aliases = [o["alias"] for o in sent]
    assert len(set(aliases)) == len(aliases)  # each output's metrics are its own (`name` label)


namespace_names = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), st.lists(namespace_names, min_size=1, max_size=3),
                       min_size=1, max_size=4),
       namespace_names, st.from_regex(r"\A[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?\Z"))
def test_the_routing_regexes_partition_every_namespace_between_the_tenants(teams, namespace, pod):
    claimed: dict[str, str] = {}
    teams = {team: [ns for ns in namespaces if claimed.setdefault(ns, team) == team] for team, namespaces in teams.items()}
    teams = {team: namespaces for team, namespaces in teams.items() if namespaces}
    lines = container_log_matches(teams)
    found = [tenant for tenant, line in lines.items()
             if matches({"match_regex": line.removeprefix("Match_Regex ")}, container_tag(pod, namespace))]
    assert found == [claimed.get(namespace, PLATFORM_TENANT)]


@needs_charts
def test_loki_demands_a_tenant_and_answers_multi_tenant_queries_with_retention_per_tenant():
    loki = rendered("prod")["loki"]
    (holder,) = [o for o in loki.of_kind("ConfigMap", "Secret") if o["metadata"]["name"] == "loki"]
    config = yaml.safe_load(holder["data"]["config.yaml"])
    assert config["auth_enabled"] is True
    assert config["querier"]["multi_tenant_queries_enabled"] is True
    assert config["limits_config"]["retention_period"] == f"{stack_evaluation('prod').settings.config.logging.retention_days * 24}h"
    assert "tenants" not in reveal(loki.values)["loki"]  # no basic-auth tenants: the gateway passes X-Scope-OrgID on


@needs_charts
def test_grafana_queries_each_team_alone_or_every_tenant_at_once():
    (datasources,) = [c for c in rendered("prod")["kube-prometheus-stack"].of_kind("ConfigMap")
                      if "datasource.yaml" in c.get("data", {})]
    sources = {s["name"]: s for s in yaml.safe_load(datasources["data"]["datasource.yaml"])["datasources"]}
    assert sources["Loki"]["secureJsonData"]["httpHeaderValue1"] == "platform|payments|search"
    assert sources["Loki payments"]["secureJsonData"]["httpHeaderValue1"] == "payments"
    assert sources["Loki search"]["secureJsonData"]["httpHeaderValue1"] == "search"


@needs_charts
def test_grafana_reads_configmaps_of_its_own_namespace_and_nothing_else():
    objects = rendered("prod")["kube-prometheus-stack"].objects
    grafana_sa = "kube-prometheus-stack-grafana"
    bindings = [o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")
                and any(s.get("name") == grafana_sa for s in o.get("subjects") or [])]
    assert [(b["kind"], b["metadata"]["namespace"], b["roleRef"]["kind"], b["roleRef"]["name"]) for b in bindings] == [
        ("RoleBinding", "monitoring", "Role", "grafana-configmap-reader")]
    assert not [o for o in objects if o["kind"] == "ClusterRole" and "grafana" in o["metadata"]["name"]]
    (role,) = [r for r in stack_evaluation("prod").of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
               if reveal(r.inputs)["metadata"]["name"] == "grafana-configmap-reader"]
    assert reveal(role.inputs)["metadata"]["namespace"] == "monitoring"
    assert reveal(role.inputs)["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                                             "verbs": ["get", "list", "watch"]}]
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == grafana_sa]
    sidecars = {c["name"]: {e["name"]: e.get("value") for e in c.get("env") or []}
                for c in pod_spec(deployment)["containers"] if c["name"].startswith("grafana-sc-")}
    assert set(sidecars) == {"grafana-sc-dashboard", "grafana-sc-datasources"}
    assert {env["RESOURCE"] for env in sidecars.values()} == {"configmap"}
    assert sidecars["grafana-sc-dashboard"]["NAMESPACE"] == "monitoring"
    assert sidecars["grafana-sc-datasources"].get("NAMESPACE") in (None, "monitoring")


@needs_charts
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_dashboard_is_in_grafanas_namespace_rendered_or_registered(stack):
    evaluation = stack_evaluation(stack)
    charted = [o for r in rendered(stack).values() for o in r.of_kind("ConfigMap")
               if (o["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]
    registered = [reveal(r.inputs)["metadata"] for r in evaluation.of_type("kubernetes:core/v1:ConfigMap")
                  if (reveal(r.inputs)["metadata"].get("labels") or {}).get("grafana_dashboard") == "1"]
    assert len(charted) > 10 and registered
    assert {o["metadata"]["namespace"] for o in charted} | {m["namespace"] for m in registered} == {"monitoring"}


def test_what_puts_a_dashboard_in_monitoring_waits_for_the_namespace():
    evaluation = dev_with_teams()
    (namespace,) = [r for r in evaluation.of_type("kubernetes:core/v1:Namespace")
                    if reveal(r.inputs)["metadata"]["name"] == "monitoring"]
    releases = {reveal(r.inputs)["name"]: r for r in evaluation.of_type("kubernetes:helm.sh/v3:Release")}
    for name in ("loki", "fluent-bit", "ingress-nginx", "dcgm-exporter"):
        assert releases[name].depends_on(namespace), name

"""Tenants are kept out of the platform: who can open a connection to which platform pod.

The NetworkPolicies the program registers are evaluated the way the vpc-cni enforces them (a pod
selected by any Ingress policy accepts only what one of those policies allows).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import pytest

from stacks.flows import (GRAFANA_PODS, INGRESS_CONTROLLER_PODS, LOKI_GATEWAY_PODS, LOKI_GATEWAY_PORT,
                          OPERATOR_PODS, OPERATOR_WEBHOOK_PORT)
from tests.k8s import reveal
from tests.rendering import needs_charts, pod_spec, render_stack

POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


@dataclass(frozen=True)
class Pod:
    namespace: str  # "none": outside the cluster
    labels: dict = field(default_factory=dict)
    ip: str = "10.40.0.50"


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _namespace_labels(evaluation, namespace: str) -> dict:
    labels = {"kubernetes.io/metadata.name": namespace}
    for registration in evaluation.of_type("kubernetes:core/v1:Namespace"):
        if registration.inputs["metadata"]["name"] == namespace:
            labels.update(registration.inputs["metadata"].get("labels") or {})
    return labels


def _peer_admits(evaluation, peer: dict, other: Pod, namespace: str) -> bool:
    """Whether `peer` (of a policy in `namespace`) names the pod `other`."""
    if "ipBlock" in peer:
        address = ipaddress.ip_address(other.ip)
        return address in ipaddress.ip_network(peer["ipBlock"]["cidr"]) and not any(
            address in ipaddress.ip_network(e) for e in peer["ipBlock"].get("except", []))
    if other.namespace == "none":
        return False
    if "namespaceSelector" in peer:
        in_namespace = _matches(peer["namespaceSelector"], _namespace_labels(evaluation, other.namespace))
    else:
        in_namespace = other.namespace == namespace
    return in_namespace and _matches(peer.get("podSelector") or {}, other.labels)


def _allowed(evaluation, pod: Pod, other: Pod, port: int, direction: str) -> bool:
    """`direction` "ingress": may `other` connect to `pod`; "egress": may `pod` connect to `other`."""
    kind, peers_key = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
    selecting = [p.inputs for p in evaluation.of_type(POLICY)
                 if p.inputs["metadata"]["namespace"] == pod.namespace and kind in p.inputs["spec"]["policyTypes"]
                 and _matches(p.inputs["spec"]["podSelector"], pod.labels)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get(direction, []):
            ports = [p["port"] for p in rule.get("ports", [])]
            peers = rule.get(peers_key)
            if (not ports or port in ports) and (peers is None or any(
                    _peer_admits(evaluation, peer, other, pod.namespace) for peer in peers)):
                return True
    return False


def can_connect(evaluation, source: Pod, target: Pod, port: int) -> bool:
    """Both ends' NetworkPolicies: the source's egress (when it is a pod) and the target's ingress."""
    leaves = source.namespace == "none" or _allowed(evaluation, source, target, port, "egress")
    return leaves and (target.namespace == "none" or _allowed(evaluation, target, source, port, "ingress"))


TENANT = Pod("payments", {"app": "checkout"})
INTERNET = Pod("none", ip="198.51.100.7")
API_SERVER = Pod("none", ip="10.40.1.10")
FLUENT_BIT = Pod("fluent-bit", {"app.kubernetes.io/name": "fluent-bit"})
GRAFANA = Pod("monitoring", GRAFANA_PODS)
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
ALERTMANAGER = Pod("monitoring", {"app.kubernetes.io/name": "alertmanager"})
OPERATOR = Pod("monitoring", OPERATOR_PODS)
LOKI_GATEWAY = Pod("logging", LOKI_GATEWAY_PODS)
LOKI_WRITER = Pod("logging", {"app.kubernetes.io/component": "write"})
INGRESS_CONTROLLER = Pod("ingress-nginx", INGRESS_CONTROLLER_PODS)
VELERO = Pod("velero", {"app.kubernetes.io/name": "velero"})


@pytest.mark.parametrize("source, target, port, allowed", [
    (TENANT, LOKI_GATEWAY, LOKI_GATEWAY_PORT, False),
    (TENANT, LOKI_WRITER, 3100, False),
    (TENANT, ALERTMANAGER, 9093, False),
    (TENANT, PROMETHEUS, 9090, False),
    (TENANT, GRAFANA, 3000, False),
    (TENANT, Pod("fluent-bit", {"app.kubernetes.io/name": "fluent-bit"}), 2020, False),
    (FLUENT_BIT, LOKI_GATEWAY, LOKI_GATEWAY_PORT, True),
    (FLUENT_BIT, LOKI_WRITER, 3100, False),
    (GRAFANA, LOKI_GATEWAY, LOKI_GATEWAY_PORT, True),
    (ALERTMANAGER, LOKI_GATEWAY, LOKI_GATEWAY_PORT, False),
    (INGRESS_CONTROLLER, GRAFANA, 3000, False),  # prod's Grafana is not published
    (INGRESS_CONTROLLER, ALERTMANAGER, 9093, False),
    (PROMETHEUS, ALERTMANAGER, 9093, True),
    (PROMETHEUS, LOKI_WRITER, 3100, True),
    (PROMETHEUS, FLUENT_BIT, 2020, True),
    (PROMETHEUS, INGRESS_CONTROLLER, 10254, True),
    (INTERNET, INGRESS_CONTROLLER, 443, True),
    (INTERNET, INGRESS_CONTROLLER, 8443, False),
    (API_SERVER, INGRESS_CONTROLLER, 8443, True),
    (API_SERVER, OPERATOR, OPERATOR_WEBHOOK_PORT, True),
    (INTERNET, OPERATOR, OPERATOR_WEBHOOK_PORT, False),
    (PROMETHEUS, VELERO, 8085, True),
    (TENANT, VELERO, 8085, False),
])
def test_who_reaches_which_platform_pod(prod, source, target, port, allowed):
    assert can_connect(prod, source, target, port) is allowed


def test_the_edge_reaches_grafana_only_when_grafana_is_published():
    from tests.conftest import stack_variant

    published = stack_variant("prod", grafana={"allowedCidrs": ["198.51.100.0/24"]})
    assert can_connect(published, INGRESS_CONTROLLER, GRAFANA, 3000)
    assert not can_connect(published, Pod("ingress-nginx", {"app.kubernetes.io/component": "admission-webhook"}),
                           GRAFANA, 3000)
    assert not can_connect(published, TENANT, GRAFANA, 3000)


SEARCH = Pod("search", {"app": "api"})


@pytest.mark.parametrize("source, target, port, allowed", [
    (INGRESS_CONTROLLER, TENANT, 8080, True),                                   # the edge serves a team's Ingress
    (Pod("ingress-nginx", {"app.kubernetes.io/component": "admission-webhook"}), TENANT, 8080, False),
    (PROMETHEUS, TENANT, 9100, True),                                            # metrics scraped
    (ALERTMANAGER, TENANT, 8080, False),                                         # not the whole monitoring namespace
    (SEARCH, TENANT, 8080, False),                                               # another team
    (Pod("payments", {"app": "worker"}), TENANT, 8080, True),                    # its own namespace
    (INTERNET, TENANT, 8080, False),
])
def test_who_reaches_a_teams_pods(prod, source, target, port, allowed):
    assert can_connect(prod, source, target, port) is allowed


def test_every_platform_namespace_denies_by_default(any_stack):
    denying = {p.inputs["metadata"]["namespace"] for p in any_stack.of_type(POLICY)
               if p.inputs["metadata"]["name"] == "default-deny-ingress"}
    assert {"monitoring", "logging", "fluent-bit", "ingress-nginx", "gpu", "velero"} <= denying


def test_policies_wait_for_their_namespace(prod):
    namespaces = {r.inputs["metadata"]["name"]: r for r in prod.of_type("kubernetes:core/v1:Namespace")}
    for policy in prod.of_type(POLICY):
        if policy.inputs["metadata"]["namespace"] != "kube-system":  # made by EKS, before any policy
            assert policy.depends_on(namespaces[policy.inputs["metadata"]["namespace"]]), policy.name


@needs_charts
def test_the_allowed_ports_and_labels_are_the_ones_the_charts_render(prod):
    rendered = render_stack(prod)

    def pod_template(release: str, kind: str, name: str) -> tuple[dict, set]:
        workload = rendered[release].named(kind, name)
        ports = {p["containerPort"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])}
        return workload["spec"]["template"]["metadata"]["labels"], ports

    labels, ports = pod_template("loki", "Deployment", "loki-gateway")
    assert _matches({"matchLabels": LOKI_GATEWAY_PODS}, labels) and LOKI_GATEWAY_PORT in ports
    labels, ports = pod_template("ingress-nginx", "Deployment", "ingress-nginx-controller")
    assert _matches({"matchLabels": INGRESS_CONTROLLER_PODS}, labels) and {80, 443, 2443, 8443} <= ports
    labels, ports = pod_template("kube-prometheus-stack", "Deployment", "kube-prometheus-stack-operator")
    assert _matches({"matchLabels": OPERATOR_PODS}, labels) and OPERATOR_WEBHOOK_PORT in ports
    labels, _ = pod_template("fluent-bit", "DaemonSet", "fluent-bit")
    assert _matches({"matchLabels": FLUENT_BIT.labels}, labels)


INTERNET_HOST = Pod("none", ip="93.184.216.34")
IMDS = Pod("none", ip="169.254.169.254")
NODE_KUBELET = Pod("none", ip="10.40.5.5")
API_ENDPOINT = Pod("none", ip="10.40.2.2")
COREDNS = Pod("kube-system", {"k8s-app": "kube-dns"}, ip="10.40.3.3")
METRICS_SERVER = Pod("kube-system", {"app.kubernetes.io/name": "metrics-server"}, ip="10.40.3.4")
PAYMENTS_JOBS = Pod("payments-jobs", {"app": "batch"}, ip="10.40.4.4")


@pytest.mark.parametrize("source, target, port, allowed", [
    (TENANT, COREDNS, 53, True),                     # names resolve
    (TENANT, METRICS_SERVER, 10250, False),          # kube-system admits tenants only to DNS
    (TENANT, PAYMENTS_JOBS, 8080, True),             # its team's other namespace
    (TENANT, Pod("search", {"app": "api"}, ip="10.40.4.9"), 8080, False),  # another team
    (TENANT, LOKI_GATEWAY, LOKI_GATEWAY_PORT, False),
    (TENANT, INTERNET_HOST, 443, True),              # the internet, by default
    (TENANT, IMDS, 80, False),                       # never the node's metadata service
    (TENANT, Pod("none", ip="169.254.170.23"), 80, True),  # but the Pod Identity agent: workload credentials
    (TENANT, NODE_KUBELET, 10250, False),            # nor the nodes
    (TENANT, API_ENDPOINT, 443, True),               # the API server's endpoint in the VPC
    (API_SERVER, METRICS_SERVER, 10250, True),       # the API server to an add-on
    (PROMETHEUS, METRICS_SERVER, 10250, True),
])
def test_what_a_teams_pods_reach_with_egress_controlled(prod, source, target, port, allowed):
    assert can_connect(prod, source, target, port) is allowed


def test_a_team_without_internet_reaches_only_its_peers_dns_and_the_api():
    from tests.conftest import DEV_TEAMS, dev_with_teams, run_stack

    offline = DEV_TEAMS["ml"]
    evaluation = dev_with_teams()
    ml = Pod("ml", {"app": "train"}, ip="10.20.4.4")
    assert not can_connect(evaluation, ml, INTERNET_HOST, 443)
    assert can_connect(evaluation, ml, Pod("none", ip="169.254.170.23"), 80)  # its workload identity still works
    assert not can_connect(evaluation, ml, IMDS, 80)
    assert can_connect(evaluation, ml, Pod("kube-system", {"k8s-app": "kube-dns"}, ip="10.20.3.3"), 53)
    egress = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in evaluation.of_type(POLICY)
              if r.inputs["metadata"]["namespace"] == "ml" and "Egress" in r.inputs["spec"]["policyTypes"]}
    rules = egress["allow-egress"]["egress"]
    assert {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]} in rules
    assert not [r for r in rules if r["to"][0].get("ipBlock", {}).get("cidr") == "0.0.0.0/0"]
    assert set(egress) == {"default-deny-egress", "allow-egress"}
    problems = {p.path: p.message for p in run_stack("dev", teams={"ml": {**offline, "egress": {
        "namespaces": ["nowhere"]}}}).error.problems}
    assert "neither a team's namespace nor a platform namespace" in problems["teams.ml.egress.namespaces[0]"]


def test_a_team_that_names_its_edge_ports_is_reached_by_the_edge_on_those_only():
    from tests.conftest import stack_variant

    teams = {"payments": {"namespaces": ["payments"], "quota": {"cpu": "2", "memory": "4Gi", "pods": "20"},
                          "edgePorts": [8080, "http"]}}
    narrowed = stack_variant("prod", teams=teams)
    assert can_connect(narrowed, INGRESS_CONTROLLER, TENANT, 8080)
    assert not can_connect(narrowed, INGRESS_CONTROLLER, TENANT, 9000)  # the team's admin port: not through the edge
    assert can_connect(narrowed, PROMETHEUS, TENANT, 9000)  # scraping is not narrowed
    (edge_rule,) = [p for p in narrowed.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                    if reveal(p.inputs)["metadata"]["name"] == "allow-from-ingress-nginx"
                    and reveal(p.inputs)["metadata"]["namespace"] == "payments"]
    assert reveal(edge_rule.inputs)["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8080},
                                                                      {"protocol": "TCP", "port": "http"}]

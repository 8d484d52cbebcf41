"""The tenant admission policies, as the evaluated stack registers them, against a table of tenant attempts:
every attack of a team `search` developer is denied with its rule's message, ordinary workloads are admitted.
CEL runs in cel-expr-python (`tests/admission.py`)."""

from __future__ import annotations

import pytest

from components.admission import MANAGED
from tests.admission import Attempt, verdict
from tests.conftest import dev_with_teams, run_stack, stack_evaluation
from tests.rendering import needs_charts, render_stack
from tests.test_edge import gateway_stack

BASE = "prod.example.com"
SEARCH_NS = {"labels": {"team": "search"},
             "annotations": {"eks-platform.io/hostnames": f"search.{BASE},*.search.{BASE}"}}


def registered_policies(evaluation) -> list[tuple[dict, dict]]:
    policies = {r.name: r.inputs for r in evaluation.of_type(
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")}
    bindings = {r.name: r.inputs for r in evaluation.of_type(
        "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")}
    assert set(policies) == set(bindings) and policies
    return [(policies[n], bindings[n]) for n in sorted(policies)]


def outcome(evaluation, attempt: Attempt) -> tuple[list[str], list[str]]:
    denied, warned = [], []
    for policy, binding in registered_policies(evaluation):
        d, w = verdict(policy, binding, attempt)
        denied += d
        warned += w
    return denied, warned


def as_search(resource, obj, **kwargs) -> Attempt:
    kwargs.setdefault("username", "arn:aws:sts::777788889999:assumed-role/search-developers/mallory")
    return Attempt(resource, obj, namespace="search", namespace_labels=SEARCH_NS["labels"],
                   namespace_annotations=SEARCH_NS["annotations"], **kwargs)


def service(spec: dict) -> dict:
    return {"metadata": {"name": "relay", "namespace": "search"}, "spec": {"type": "ClusterIP", **spec}}


def ingress(rules: list | None = None, **spec) -> dict:
    body = {"ingressClassName": "nginx", **spec}
    if rules is not None:
        body["rules"] = rules
    return {"metadata": {"name": "web", "namespace": "search"}, "spec": body}


def rule(host: str | None) -> dict:
    found = {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                                  "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}
    return {**found, "host": host} if host else found


def pod(image: str = "ghcr.io/acme/search:1.4.2", **spec) -> dict:
    return {"metadata": {"name": "p", "namespace": "search"},
            "spec": {"containers": [{"name": "app", "image": image}], **spec}}


def managed(kind_name: str) -> dict:
    return {"metadata": {"name": kind_name, "namespace": "search", "labels": dict(MANAGED)}, "spec": {}}


SERVICES, INGRESSES, PODS = ("", "services"), ("networking.k8s.io", "ingresses"), ("", "pods")
NETPOL, QUOTAS = ("networking.k8s.io", "networkpolicies"), ("", "resourcequotas")
ATTACKS = {
    "ExternalName relay to another team": (as_search(SERVICES, service(
        {"type": "ExternalName", "externalName": "checkout.payments.svc.cluster.local"})), "no ExternalName"),
    "an internet-facing load balancer": (as_search(SERVICES, service({"type": "LoadBalancer"})), "LoadBalancer and"),
    "a NodePort": (as_search(SERVICES, service({"type": "NodePort"})), "LoadBalancer and NodePort"),
    "external IPs": (as_search(SERVICES, service({"externalIPs": ["203.0.113.7"]})), "no externalIPs"),
    "publish the unpublished Grafana": (as_search(INGRESSES, ingress([rule(f"grafana.{BASE}")])), "not your team's"),
    "take the apex": (as_search(INGRESSES, ingress([rule(BASE)])), "not your team's"),
    "take another team's host": (as_search(INGRESSES, ingress([rule(f"checkout.payments.{BASE}")])),
                                 "not your team's"),
    "a wildcard over everyone": (as_search(INGRESSES, ingress([rule(f"*.{BASE}")])), "not your team's"),
    "a look-alike host": (as_search(INGRESSES, ingress([rule(f"xsearch.{BASE}")])), "not your team's"),
    "a TLS host of another team": (as_search(INGRESSES, ingress([rule(f"api.search.{BASE}")],
                                                                tls=[{"hosts": [f"pay.payments.{BASE}"]}])),
                                   "TLS host is not your team's"),
    "a host-less catch-all rule": (as_search(INGRESSES, ingress([rule(None)])), "every rule needs a host"),
    "a defaultBackend": (as_search(INGRESSES, ingress(None, defaultBackend={"service": {"name": "web", "port": {
        "number": 80}}})), "no defaultBackend"),
    "another ingress class": (as_search(INGRESSES, ingress([rule(f"api.search.{BASE}")], ingressClassName="alb")),
                              "only ingress class"),
    "an ALB through annotations": (as_search(INGRESSES, {**ingress([rule(f"api.search.{BASE}")]), "metadata": {
        "name": "web", "annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}}),
                                   "no load-balancer annotations"),
    "delete its default-deny": (as_search(NETPOL, None, operation="DELETE", old_object=managed("default-deny-ingress")),
                                "are the platform's"),
    "raise its own quota": (as_search(QUOTAS, managed("team-quota"), operation="UPDATE",
                                      old_object=managed("team-quota")), "are the platform's"),
    "strip the managed label": (as_search(QUOTAS, {"metadata": {"name": "team-quota"}}, operation="UPDATE",
                                          old_object=managed("team-quota")), "are the platform's"),
    "forge a managed object": (as_search(NETPOL, managed("allow-all")), "are the platform's"),
    "delete its default-deny as its own service account (edit may impersonate one)": (as_search(
        NETPOL, None, operation="DELETE", old_object=managed("default-deny-ingress"),
        groups=["system:serviceaccounts", "system:serviceaccounts:search"],
        username="system:serviceaccount:search:default"), "are the platform's"),
    "an ALB through the old class annotation": (as_search(INGRESSES, {
        "metadata": {"name": "web", "annotations": {"kubernetes.io/ingress.class": "alb"}},
        "spec": {"rules": [rule(f"api.search.{BASE}")]}}), "only ingress class"),
    "admit the whole internet": (as_search(NETPOL, {"metadata": {"name": "open"}, "spec": {"podSelector": {}, "ingress": [
        {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}}), "no ingress from 0.0.0.0/0"),
    "admit everyone with an empty from": (as_search(NETPOL, {"metadata": {"name": "open"}, "spec": {
        "podSelector": {}, "ingress": [{}]}}), "needs a `from`"),
    "preempt the platform": (as_search(PODS, pod(priorityClassName="system-cluster-critical")), "system-cluster-critical"),
    "run :latest": (as_search(PODS, pod("ghcr.io/acme/search:latest")), "never :latest"),
    "run an untagged image from a registry with a port": (as_search(PODS, pod("registry.acme:5000/search")),
                                                         "by a tag or a digest"),
    "hide :latest in an init container": (as_search(PODS, {**pod(), "spec": {**pod()["spec"], "initContainers": [
        {"name": "init", "image": "busybox"}]}}), "by a tag or a digest"),
}


@pytest.mark.parametrize("attempt", ATTACKS, ids=list(ATTACKS))
def test_every_tenant_attack_is_denied_with_its_rules_message(prod, attempt):
    request, message = ATTACKS[attempt]
    denied, _ = outcome(prod, request)
    assert any(message in m for m in denied), denied


ORDINARY = {
    "a Deployment's pod (created by the ReplicaSet controller)": as_search(PODS, pod(), groups=[
        "system:serviceaccounts"], username="system:serviceaccount:kube-system:replicaset-controller"),
    "a pod by digest": as_search(PODS, pod("ghcr.io/acme/search@sha256:" + "a" * 64)),
    "a ClusterIP Service": as_search(SERVICES, service({"ports": [{"port": 80}]})),
    "an Ingress for its own API": as_search(INGRESSES, ingress([rule(f"api.search.{BASE}")],
                                                               tls=[{"hosts": [f"api.search.{BASE}"]}])),
    "an Ingress for its team host": as_search(INGRESSES, ingress([rule(f"search.{BASE}")])),
    "its own NetworkPolicy from a namespace": as_search(NETPOL, {"metadata": {"name": "from-jobs"}, "spec": {
        "podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "search"}}}]}]}}),
    "its own ConfigMap": as_search(("", "configmaps"), {"metadata": {"name": "settings"}, "data": {"a": "b"}}),
}


@pytest.mark.parametrize("attempt", ORDINARY, ids=list(ORDINARY))
def test_ordinary_workloads_are_admitted(prod, attempt):
    assert outcome(prod, ORDINARY[attempt]) == ([], [])


def test_the_platform_still_manages_its_own_objects(prod):
    platform = as_search(QUOTAS, managed("team-quota"), operation="UPDATE", old_object=managed("team-quota"),
                         groups=["system:authenticated"], username="arn:aws:sts::777788889999:assumed-role/"
                                                                   "eks-platform-deploy-prod/ci")
    assert outcome(prod, platform) == ([], [])


def test_a_team_may_have_load_balancers_only_when_its_namespace_allows_them(prod):
    allowed = as_search(SERVICES, service({"type": "LoadBalancer"}))
    allowed.namespace_labels = {**allowed.namespace_labels, "eks-platform.io/load-balancers": "allowed"}
    assert outcome(prod, allowed) == ([], [])


def test_namespaces_outside_tenancy_are_not_judged(prod):
    platform_ns = Attempt(SERVICES, service({"type": "LoadBalancer"}), namespace="ingress-nginx",
                          namespace_labels={"kubernetes.io/metadata.name": "ingress-nginx"})
    assert outcome(prod, platform_ns) == ([], [])


ROUTES = ("gateway.networking.k8s.io", "httproutes")


def route(hostnames: list[str] | None, parent: dict | None = None) -> dict:
    spec = {"parentRefs": [parent or {"name": "edge", "namespace": "envoy-gateway-system", "sectionName": "apps"}],
            "rules": [{"backendRefs": [{"name": "web", "port": 8080}]}]}
    if hostnames is not None:
        spec["hostnames"] = hostnames
    return {"metadata": {"name": "web", "namespace": "search"}, "spec": spec}


def test_in_gateway_mode_routes_serve_only_the_teams_hosts_through_the_platforms_gateway():
    evaluation = gateway_stack("prod")
    assert outcome(evaluation, as_search(ROUTES, route([f"api.search.{BASE}"]))) == ([], [])
    for attempt, message in [(route([f"grafana.{BASE}"]), "not your team's"), (route(None), "needs hostnames"),
                             (route([f"api.search.{BASE}"], {"name": "mine", "namespace": "search"}),
                              "platform's Gateway envoy-gateway-system/edge")]:
        denied, _ = outcome(evaluation, as_search(ROUTES, attempt))
        assert any(message in m for m in denied), denied
    names = {policy["metadata"]["name"] for policy, _ in registered_policies(evaluation)}
    assert "eks-platform-tenant-routes" in names and "eks-platform-tenant-ingresses" not in names


def test_dev_warns_about_image_tags_and_warn_mode_warns_about_everything(dev):
    evaluation = dev_with_teams()
    denied, warned = outcome(evaluation, as_search(PODS, pod("ghcr.io/acme/search:latest")))
    assert denied == [] and any("never :latest" in w for w in warned)
    assert outcome(stack_evaluation("prod"), as_search(PODS, pod("ghcr.io/acme/search:latest")))[0]
    rolling_out = dev_with_teams(tenancy={"admission": "warn"})
    denied, warned = outcome(rolling_out, as_search(SERVICES, service({"type": "ExternalName", "externalName": "x"})))
    assert denied == [] and any("no ExternalName" in w for w in warned)


def test_warn_mode_is_refused_outside_dev():
    problems = {p.path: p.message for p in run_stack("prod", tenancy={"admission": "warn"}).error.problems}
    assert "`warn` is for rolling them out in dev" in problems["tenancy.admission"]


@pytest.mark.parametrize("hosts, fragment", [
    ([f"grafana.{BASE}"], "the platform's Grafana"),
    ([BASE], "below the stack's base domain"),
    (["checkout.other.com"], "below the stack's base domain"),
    ([f"api.payments.{BASE}"], "below team payments's domain"),
])
def test_a_team_cannot_list_a_host_it_may_not_own(hosts, fragment):
    teams = {**stack_evaluation("prod").settings.config.model_dump(by_alias=True)["teams"]}
    teams["search"] = {**teams["search"], "hosts": hosts}
    problems = {p.path: p.message for p in run_stack("prod", teams=teams).error.problems}
    assert fragment in problems["teams.search.hosts[0]"], problems


def test_a_listed_host_belongs_to_one_team():
    teams = stack_evaluation("prod").settings.config.model_dump(by_alias=True)["teams"]
    teams["search"]["hosts"] = [f"shop.{BASE}"]
    teams["payments"]["hosts"] = [f"shop.{BASE}"]
    problems = {p.path: p.message for p in run_stack("prod", teams=teams).error.problems}
    assert "is already team payments's" in problems["teams.search.hosts[0]"]
    assert "teams.payments.hosts[0]" not in problems


@needs_charts
def test_the_shared_nginx_edge_refuses_relays_catch_alls_and_risky_annotations_as_helm_renders_it(prod):
    rendered = render_stack(prod)["ingress-nginx"]
    (controller,) = [o for o in rendered.objects if o["kind"] == "Deployment"]
    args = controller["spec"]["template"]["spec"]["containers"][0]["args"]
    assert {"--disable-svc-external-name=true", "--disable-catch-all=true"} <= set(args)
    (config,) = [o for o in rendered.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("controller")]
    assert config["data"]["allow-snippet-annotations"] == "false"
    assert config["data"]["annotations-risk-level"] == "Medium"
    assert "return 308 https://$host$request_uri" in config["data"]["http-snippet"]  # TLS redirect still there


BUILT_IN_SECRET_READERS = {"cluster-admin", "admin", "edit"}
# Every ServiceAccount the charts let read Secrets beyond its own namespace, and why. A new one fails this test.
SECRET_READERS = {
    ("ingress-nginx", "ingress-nginx"): "serves the TLS Secrets that Ingresses of every namespace name",
    ("monitoring", "kube-prometheus-stack-operator"): "the operator: Alertmanager and scrape configs name Secrets",
    ("velero", "velero"): "backs up every namespace, its Secrets included",
}


def secret_readers(objects: list[dict]) -> dict[tuple[str, str], set[str]]:
    """ServiceAccount -> the namespaces (or "*") where a rendered binding lets it read Secrets."""
    def reads(role: dict) -> bool:
        return any(({"secrets", "*"} & set(rule.get("resources") or [])) and ({"", "*"} & set(rule.get("apiGroups") or []))
                   and ({"get", "list", "watch", "*"} & set(rule.get("verbs") or [])) for rule in role.get("rules") or [])
    roles = {(o["kind"], o["metadata"].get("namespace") if o["kind"] == "Role" else None, o["metadata"]["name"]): reads(o)
             for o in objects if o["kind"] in ("Role", "ClusterRole")}
    found: dict[tuple[str, str], set[str]] = {}
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        ref = binding["roleRef"]
        key = (ref["kind"], binding["metadata"].get("namespace") if ref["kind"] == "Role" else None, ref["name"])
        if not (roles.get(key) or (ref["kind"] == "ClusterRole" and ref["name"] in BUILT_IN_SECRET_READERS)):
            continue
        scope = "*" if binding["kind"] == "ClusterRoleBinding" else binding["metadata"]["namespace"]
        for subject in binding.get("subjects") or []:
            if subject["kind"] == "ServiceAccount":
                found.setdefault((subject["namespace"], subject["name"]), set()).add(scope)
    return {sa: scopes for sa, scopes in found.items() if scopes - {sa[0]}}


@needs_charts
def test_only_the_listed_platform_accounts_read_secrets_beyond_their_namespace_and_kube_state_metrics_does_not(prod):
    objects = [o for rendered in render_stack(prod).values() for o in rendered.objects]
    readers = secret_readers(objects)
    assert set(readers) == set(SECRET_READERS), readers
    assert ("monitoring", "kube-prometheus-stack-kube-state-metrics") not in readers
    assert ("logging", "loki") not in readers  # its rules sidecar is off: the platform ships no Loki rules
    assert ("monitoring", "kube-prometheus-stack-grafana") not in readers  # its sidecars read ConfigMaps in monitoring


@needs_charts
def test_kube_state_metrics_keeps_every_default_collector_but_secrets():
    import yaml

    from components.monitoring import KUBE_STATE_COLLECTORS
    from tests.rendering import CHARTS_DIR

    chart = yaml.safe_load((CHARTS_DIR / "kube-prometheus-stack" / "charts" / "kube-state-metrics" / "values.yaml")
                           .read_text())
    assert list(KUBE_STATE_COLLECTORS) == [c for c in chart["collectors"] if c != "secrets"]

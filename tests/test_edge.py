"""The edge: the AWS Load Balancer Controller owns the load balancers; ingress-nginx or the Gateway API on
Envoy Gateway in front of the platform. Both modes, every stack; ordering; the objects against their CRDs."""

from __future__ import annotations

import json

import jsonschema
import pytest

from components.load_balancer_controller import IAM_POLICY, iam_policy
from tests.conftest import STACKS, stack_evaluation, stack_variant
from tests.k8s import RELEASE, crd_schemas, release, reveal, validate_custom, values
from tests.rendering import CHARTS_DIR, needs_charts

GATEWAY = {"ingress": {"controller": "gateway"}}
CUSTOM = "kubernetes:{group}/{version}:{kind}"


def gateway_stack(stack: str):
    published = {"grafana": {"allowedCidrs": ["198.51.100.0/24"]}} if stack != "dev" else {}
    return stack_variant(stack, **GATEWAY, **published)


def ancestors(evaluation, registration) -> set[str]:
    """Every URN `registration` waits for, directly or through what it waits for."""
    by_urn = {r.urn: r for r in evaluation.registrations}
    seen, pending = set(), list(registration.dependencies)
    while pending:
        urn = pending.pop()
        if urn not in seen:
            seen.add(urn)
            pending += by_urn[urn].dependencies if urn in by_urn else []
    return seen


# ---- the load balancer controller ----------------------------------------------------------------

def test_the_controller_has_awss_policy_through_pod_identity(prod):
    policy = prod.one("aws:iam/policy:Policy", "acme-prod-load-balancer-controller").inputs["policy"]
    assert json.loads(policy) == json.loads(IAM_POLICY.read_text())
    assert len(iam_policy()) <= 6144  # IAM's limit for a managed policy, whitespace not counted
    association = prod.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                           "acme-prod-load-balancer-controller").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("kube-system", "aws-load-balancer-controller")
    trust = json.loads(next(r for r in prod.of_type("aws:iam/role:Role")
                            if r.name == "acme-prod-load-balancer-controller").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_controller_is_highly_available_tags_what_it_makes_and_leaves_other_services_alone(stack, request):
    chart = values(request.getfixturevalue(stack), "aws-load-balancer-controller")
    assert chart["replicaCount"] == 2 and chart["podDisruptionBudget"] == {"maxUnavailable": 1}
    assert chart["clusterName"] == f"acme-{stack}" and chart["vpcId"] == f"vpc-acme-{stack}"
    assert chart["defaultTags"]["stack"] == stack and chart["defaultTags"]["cluster"] == f"acme-{stack}"
    assert chart["enableServiceMutatorWebhook"] is False and chart["keepTLSSecret"] is True


@needs_charts
def test_the_vendored_policy_is_the_pinned_one():
    assert json.loads(IAM_POLICY.read_text()) == json.loads(
        (CHARTS_DIR / "aws-load-balancer-controller" / "iam_policy.json").read_text())


# ---- gateway mode --------------------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_gateway_mode_evaluates_for_every_stack_without_ingress_nginx(stack):
    evaluation = gateway_stack(stack)
    names = {r.name for r in evaluation.of_type(RELEASE)}
    assert "envoy-gateway" in names and "ingress-nginx" not in names
    assert evaluation.outputs["edge"] == "gateway: envoy-gateway-system/edge-gateway"
    assert stack_evaluation(stack).outputs["edge"] == "nginx: ingress-nginx/ingress-nginx-controller"


def test_the_gateway_redirects_http_and_serves_https_to_grafana_and_team_routes():
    evaluation = gateway_stack("prod")
    gateway = evaluation.one(CUSTOM.format(group="gateway.networking.k8s.io", version="v1", kind="Gateway")).inputs
    assert gateway["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Programmed"}
    listeners = {l["name"]: l for l in gateway["spec"]["listeners"]}
    assert (listeners["http"]["port"], listeners["grafana"]["port"], listeners["apps"]["port"]) == (80, 443, 443)
    assert listeners["grafana"]["hostname"] == "grafana.prod.example.com"
    assert listeners["apps"]["hostname"] == "*.prod.example.com"
    assert listeners["apps"]["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"] == [
        {"key": "team", "operator": "Exists"}]
    routes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in evaluation.of_type(
        CUSTOM.format(group="gateway.networking.k8s.io", version="v1", kind="HTTPRoute"))}
    assert routes["https-redirect"]["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    assert routes["https-redirect"]["parentRefs"] == [{"name": "edge", "sectionName": "http"}]
    assert routes["grafana"]["rules"][0]["backendRefs"] == [
        {"name": "kube-prometheus-stack-grafana", "namespace": "monitoring", "port": 80}]
    policy = evaluation.one(CUSTOM.format(group="gateway.envoyproxy.io", version="v1alpha1",
                                          kind="SecurityPolicy")).inputs["spec"]["authorization"]
    assert policy["defaultAction"] == "Deny"
    assert policy["rules"][0]["principal"] == {"clientCIDRs": ["198.51.100.0/24"]}
    teams = {p.inputs["metadata"]["name"] for p in evaluation.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
             if p.inputs["metadata"]["namespace"] == "payments"}
    assert "allow-from-envoy-gateway-system" in teams


def test_the_proxy_service_is_an_nlb_of_the_controller_ending_tls_with_the_certificate():
    evaluation = gateway_stack("prod")
    proxy = reveal(evaluation.one(CUSTOM.format(group="gateway.envoyproxy.io", version="v1alpha1",
                                                kind="EnvoyProxy")).inputs)["spec"]["provider"]["kubernetes"]
    service = proxy["envoyService"]
    assert service["name"] == "edge-gateway" and service["loadBalancerClass"] == "service.k8s.aws/nlb"
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    certificate = evaluation.one("aws:acm/certificate:Certificate", "acme-prod-tls").outputs["arn"]
    assert service["annotations"][f"{prefix}-ssl-cert"] == certificate
    assert service["annotations"][f"{prefix}-ssl-ports"] == "443"
    assert service["annotations"][f"{prefix}-nlb-target-type"] == "ip"
    assert proxy["envoyDeployment"]["replicas"] == 3 and proxy["envoyPDB"] == {"maxUnavailable": 1}
    assert {"cpu", "memory"} <= set(proxy["envoyDeployment"]["container"]["resources"]["requests"])
    records = evaluation.one("kubernetes:core/v1:Service", "acme-prod-ingress-lb")
    assert records.inputs["id"] == "envoy-gateway-system/edge-gateway"


@pytest.mark.parametrize("mode", ["nginx", "gateway"])
def test_the_controller_and_crds_come_before_what_uses_them(mode):
    evaluation = gateway_stack("prod") if mode == "gateway" else stack_evaluation("prod")
    controller = release(evaluation, "aws-load-balancer-controller")
    if mode == "nginx":
        assert release(evaluation, "ingress-nginx").depends_on(controller)
        return
    groups = {r.inputs["files"][0].split("/")[2]: r for r in evaluation.of_type("kubernetes:yaml/v2:ConfigGroup")
              if "files" in r.inputs}
    assert set(groups) == {"monitoring.coreos.com", "gateway.networking.k8s.io", "gateway.envoyproxy.io", "velero.io"}
    envoy = release(evaluation, "envoy-gateway")
    assert envoy.inputs["chart"] == "oci://docker.io/envoyproxy/gateway-helm" and envoy.inputs["version"] == "v1.9.0"
    assert envoy.inputs["skipCrds"] is True and envoy.inputs["values"]["crds"] == {"enabled": False}
    assert envoy.depends_on(groups["gateway.networking.k8s.io"]) and envoy.depends_on(groups["gateway.envoyproxy.io"])
    gateway = evaluation.one(CUSTOM.format(group="gateway.networking.k8s.io", version="v1", kind="Gateway"))
    waits = ancestors(evaluation, gateway)
    assert {controller.urn, envoy.urn, groups["gateway.networking.k8s.io"].urn} <= waits
    for kind, group, version in (("HTTPRoute", "gateway.networking.k8s.io", "v1"),
                                 ("EnvoyProxy", "gateway.envoyproxy.io", "v1alpha1"),
                                 ("SecurityPolicy", "gateway.envoyproxy.io", "v1alpha1")):
        for registration in evaluation.of_type(CUSTOM.format(group=group, version=version, kind=kind)):
            assert groups[group].urn in ancestors(evaluation, registration), kind
    assert gateway.after_delete_hooks == ["acme-prod-load-balancers-gone"]


# ---- every custom object against its CRD's schema ------------------------------------------------

def test_every_gateway_object_is_valid_for_its_crd():
    evaluation = gateway_stack("prod")
    objects = [reveal(r.inputs) for r in evaluation.registrations
               if r.type.startswith("kubernetes:gateway.") and r.custom]
    assert {o["kind"] for o in objects} == {"Gateway", "GatewayClass", "HTTPRoute", "ReferenceGrant", "EnvoyProxy",
                                            "SecurityPolicy"}
    for obj in objects:
        validate_custom(obj)


def test_the_crd_check_catches_a_bad_listener():
    schema = crd_schemas()[("gateway.networking.k8s.io/v1", "Gateway")]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "spec": {
            "gatewayClassName": "x", "listeners": [{"name": "http", "port": "eighty", "protocol": "HTTP"}]}}, schema)


def test_the_policy_pack_refuses_a_retired_ingress_controller_in_prod_only():
    from policy.policies import MANDATORY
    from tests.test_policy_pack import violations

    assert "retired-ingress-controller" in {p.name for p in MANDATORY}
    nginx = {"chart": "ingress-nginx", "version": "4.15.1"}
    assert violations("retired-ingress-controller", RELEASE, nginx, stack="prod")
    assert not violations("retired-ingress-controller", RELEASE, nginx, stack="dev")
    assert not violations("retired-ingress-controller", RELEASE, {"chart": "oci://docker.io/envoyproxy/gateway-helm"},
                          stack="prod")


def test_gateway_mode_scrapes_the_proxies_and_alerts_like_the_nginx_edge():
    from components.gateway import PROXY_METRICS_PORT, PROXY_SELECTOR
    from components.ingress import ERROR_RATIO, P99_SECONDS

    evaluation = gateway_stack("prod")
    monitor = evaluation.one(CUSTOM.format(group="monitoring.coreos.com", version="v1", kind="PodMonitor"))
    spec = reveal(monitor.inputs)["spec"]
    assert spec["selector"] == {"matchLabels": PROXY_SELECTOR}
    assert spec["podMetricsEndpoints"] == [{"portNumber": PROXY_METRICS_PORT, "path": "/stats/prometheus"}]
    validate_custom(reveal(monitor.inputs))
    rules_of = {r.inputs["metadata"]["name"]: r for r in evaluation.of_type(
        CUSTOM.format(group="monitoring.coreos.com", version="v1", kind="PrometheusRule"))}
    nginx_rules = {r.inputs["metadata"]["name"]: r for r in stack_evaluation("prod").of_type(
        CUSTOM.format(group="monitoring.coreos.com", version="v1", kind="PrometheusRule"))}
    gateway_alerts = {r["alert"]: r for g in rules_of["ingress-alerts"].inputs["spec"]["groups"] for r in g["rules"]}
    nginx_alerts = {r["alert"] for g in nginx_rules["ingress-alerts"].inputs["spec"]["groups"] for r in g["rules"]}
    assert set(gateway_alerts) == nginx_alerts - {"IngressCertificateExpiringSoon"}  # TLS is ACM's at the NLB
    assert f"> {ERROR_RATIO} and" in gateway_alerts["IngressHigh5xxRatio"]["expr"]
    assert 'envoy_response_code_class="5"' in gateway_alerts["IngressHigh5xxRatio"]["expr"]
    assert f"> {P99_SECONDS * 1000} and" in gateway_alerts["IngressHighP99Latency"]["expr"]  # Envoy counts ms
    assert "envoy_cluster_upstream_rq_time_bucket" in gateway_alerts["IngressHighP99Latency"]["expr"]
    crds = evaluation.one("kubernetes:yaml/v2:ConfigGroup", "acme-prod-monitoring.coreos.com")
    assert monitor.depends_on(crds) and rules_of["ingress-alerts"].depends_on(crds)
    board = json.loads(evaluation.one("kubernetes:core/v1:ConfigMap", "acme-prod-ingress-dashboard")
                       .inputs["data"]["ingress.json"])
    assert board["uid"] == "eks-platform-ingress" and all("envoy_cluster" in p["targets"][0]["expr"]
                                                          for p in board["panels"])

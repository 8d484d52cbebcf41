"""The local target (`target: kubeconfig`): the cluster layer alone on kind, k3s or minikube, with no AWS at all;
what each distribution changes; what only EKS means refused by name; the layers kept apart."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from components.metrics_server import INSECURE_TLS
from ops import plan
from stacks.local import DISTRIBUTIONS, MINIKUBE_NODE_PORTS
from stacks.problems import ConfigError
from stacks.releases import RELEASE_CHARTS
from stacks.rules import EKS_ONLY_RELEASES
from tests.admission import Attempt
from tests.conftest import run_stack, stack_evaluation, stack_variant
from tests.rendering import needs_charts, render_stack
from tests.test_admission import ingress, outcome, rule

LOCAL = "local"
ROOT = Path(__file__).resolve().parent.parent


def local(**overrides):
    return stack_variant(LOCAL, **overrides) if overrides else stack_evaluation(LOCAL)


def problems_of(**overrides) -> dict[str, str]:
    evaluation = run_stack(LOCAL, **overrides)
    assert isinstance(evaluation.error, ConfigError), "configuration was accepted"
    assert evaluation.registrations == [], "resources were registered before validation failed"
    return {p.path: p.message for p in evaluation.error.problems}


def chart_values(evaluation, release: str) -> dict:
    (found,) = [r for r in evaluation.of_type("kubernetes:helm.sh/v3:Release") if r.name == release]
    return found.inputs["values"]


# ---- no AWS --------------------------------------------------------------------------------------

def test_a_local_stack_registers_no_aws_provider_or_resource_and_deploys_through_its_context():
    evaluation = local()
    assert not [r.type for r in evaluation.registrations if r.type.startswith("aws:") or r.type == "pulumi:providers:aws"]
    (provider,) = evaluation.of_type("pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "kind-eks-platform" and "kubeconfig" not in provider.inputs
    releases = {r.name for r in evaluation.of_type("kubernetes:helm.sh/v3:Release")}
    assert releases == {"kube-prometheus-stack", "loki", "fluent-bit", "ingress-nginx", "metrics-server"}
    assert releases == set(RELEASE_CHARTS) - set(EKS_ONLY_RELEASES)  # what a local stack may not override
    assert all(r.provider.startswith(f"{provider.urn}::") for r in evaluation.of_type("kubernetes:helm.sh/v3:Release"))


def test_every_distribution_evaluates_without_aws():
    for distribution in DISTRIBUTIONS:
        evaluation = local(kubeconfig={"context": f"{distribution}-dev", "distribution": distribution,
                                       "nodeCidr": "192.168.1.0/24"})
        assert evaluation.error is None
        assert not [r for r in evaluation.registrations if r.type.startswith("aws:")], distribution


def test_loki_runs_one_binary_on_its_volume_without_caches():
    loki = chart_values(local(), "loki")
    assert loki["deploymentMode"] == "Monolithic"  # the pinned chart's name of SingleBinary
    assert loki["loki"]["storage"] == {"type": "filesystem"}
    assert loki["loki"]["schemaConfig"]["configs"][0]["object_store"] == "filesystem"
    assert loki["loki"]["commonConfig"] == {"replication_factor": 1}
    assert loki["chunksCache"] == {"enabled": False} and loki["resultsCache"] == {"enabled": False}
    assert loki["singleBinary"]["replicas"] == 1 and loki["singleBinary"]["persistence"]["storageClass"] == "standard"
    assert loki["serviceAccount"]["annotations"] == {}


@needs_charts
def test_rendered_loki_keeps_chunks_and_index_on_the_filesystem_with_replication_factor_one():
    rendered = render_stack(local())["loki"]
    import yaml

    (holder,) = [o for o in rendered.of_kind("ConfigMap", "Secret") if o["metadata"]["name"] == "loki"]
    config = yaml.safe_load(holder["data"]["config.yaml"])
    assert config["common"]["replication_factor"] == 1
    assert "filesystem" in config["common"]["storage"] and "s3" not in config["common"]["storage"]
    assert config["compactor"]["delete_request_store"] == "filesystem"
    statefulsets = {s["metadata"]["name"]: s for s in rendered.of_kind("StatefulSet")}
    assert statefulsets["loki"]["spec"]["replicas"] == 1
    assert not [n for n in statefulsets if "cache" in n], "memcached caches off"


@needs_charts
def test_on_kind_ingress_nginx_takes_the_host_ports_of_the_ingress_ready_node():
    rendered = render_stack(local())["ingress-nginx"]
    (deployment,) = rendered.of_kind("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux", "ingress-ready": "true"}
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"} \
        in spec["tolerations"]
    (controller,) = [c for c in spec["containers"] if c["name"] == "controller"]
    assert {(p["containerPort"], p.get("hostPort")) for p in controller["ports"] if p["name"] in ("http", "https")} \
        == {(80, 80), (443, 443)}
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    (service,) = [s for s in rendered.of_kind("Service") if s["metadata"]["name"] == "ingress-nginx-controller"]
    assert service["spec"]["type"] == "ClusterIP" and "loadBalancerClass" not in service["spec"]


def test_k3s_uses_its_service_load_balancer_and_minikube_fixed_node_ports():
    k3s = local(kubeconfig={"context": "default", "distribution": "k3s", "nodeCidr": "192.168.1.0/24"})
    service = chart_values(k3s, "ingress-nginx")["controller"]["service"]
    assert service == {"type": "LoadBalancer"}  # ServiceLB: no loadBalancerClass, no AWS annotations
    assert "hostPort" not in chart_values(k3s, "ingress-nginx")["controller"]
    assert chart_values(k3s, "loki")["singleBinary"]["persistence"]["storageClass"] == "local-path"
    minikube = local(kubeconfig={"context": "minikube", "distribution": "minikube"})
    service = chart_values(minikube, "ingress-nginx")["controller"]["service"]
    assert service == {"type": "NodePort", "nodePorts": MINIKUBE_NODE_PORTS}


@needs_charts
def test_metrics_server_skips_kubelet_tls_verification_on_a_local_cluster_only():
    (deployment,) = render_stack(local())["metrics-server"].of_kind("Deployment")
    assert INSECURE_TLS in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    for stack in ("dev", "staging", "prod"):
        (deployment,) = render_stack(stack_evaluation(stack))["metrics-server"].of_kind("Deployment")
        assert INSECURE_TLS not in deployment["spec"]["template"]["spec"]["containers"][0]["args"], stack


def test_grafana_answers_at_localtest_me_to_the_laptop_only():
    evaluation = local()
    (ingress,) = [r for r in evaluation.of_type("kubernetes:networking.k8s.io/v1:Ingress")
                  if r.inputs["metadata"]["name"] == "grafana"]
    assert ingress.inputs["spec"]["rules"][0]["host"] == "grafana.localtest.me"
    allowed = ingress.inputs["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"]
    assert "0.0.0.0/0" not in allowed and "127.0.0.0/8" in allowed
    grafana = chart_values(evaluation, "kube-prometheus-stack")["grafana"]
    assert grafana["grafana.ini"]["server"]["root_url"] == "http://grafana.localtest.me"
    assert evaluation.outputs["grafanaUrl"] == "http://grafana.localtest.me"


def test_the_local_profile_keeps_a_day_of_metrics_in_five_gib_and_protects_nothing():
    evaluation = local()
    prometheus = chart_values(evaluation, "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert (prometheus["replicas"], prometheus["retention"]) == (1, "1d")
    assert prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert not [r.name for r in evaluation.registrations if r.protect or r.retain_on_delete]


# ---- tenancy on a local cluster ------------------------------------------------------------------

def test_a_local_team_gets_the_same_fences_and_a_role_binding_of_its_group():
    evaluation = local()
    kinds = {r.type.split(":")[-1] for r in evaluation.registrations if r.parent.endswith("Team::payments")}
    assert {"Namespace", "ResourceQuota", "LimitRange", "NetworkPolicy", "RoleBinding"} <= kinds
    bindings = [r.inputs for r in evaluation.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
                if r.inputs["metadata"]["name"] == "team-edit"]
    assert {b["metadata"]["namespace"] for b in bindings} == {"payments", "payments-batch"}
    assert all(b["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "team:payments"}]
               and b["roleRef"]["name"] == "edit" for b in bindings)
    assert evaluation.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")


def test_a_local_teams_pods_reach_the_api_server_on_its_port_and_no_metadata_agent():
    evaluation = local(kubeconfig={"context": "minikube", "distribution": "minikube"})
    (egress,) = [r.inputs for r in evaluation.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                 if r.inputs["metadata"] == {**r.inputs["metadata"], "name": "allow-egress", "namespace": "payments"}]
    api = [rule for rule in egress["spec"]["egress"] if rule.get("ports") == [{"protocol": "TCP", "port": 8443}]]
    assert api == [{"to": [{"ipBlock": {"cidr": "192.168.49.0/24"}}], "ports": [{"protocol": "TCP", "port": 8443}]}]
    assert not [r for r in egress["spec"]["egress"] if "169.254.170.23/32" in str(r)]  # no Pod Identity agent here


def test_a_member_of_a_local_team_group_is_held_to_the_tenant_policies():
    forged = Attempt(("networking.k8s.io", "networkpolicies"), {"metadata": {
        "name": "allow-all", "labels": {"eks-platform.io/managed": "true"}}}, groups=["team:payments",
                                                                                       "system:authenticated"],
        username="alice")
    denied, _ = outcome(local(), forged)
    assert any("are the platform's" in m for m in denied), denied
    outsider = Attempt(("networking.k8s.io", "networkpolicies"), forged.object, groups=["system:masters"],
                       username="kind-admin")
    assert outcome(local(), outsider) == ([], [])


def test_a_local_team_serves_its_own_hosts_below_localtest_me_and_never_grafana():
    evaluation = local()
    (payments,) = [r.inputs["metadata"] for r in evaluation.of_type("kubernetes:core/v1:Namespace")
                   if r.inputs["metadata"]["name"] == "payments"]

    def attempt(host: str) -> Attempt:
        return Attempt(("networking.k8s.io", "ingresses"), ingress([rule(host)]), groups=["team:payments"],
                       username="alice", namespace_labels=payments["labels"],
                       namespace_annotations=payments["annotations"])
    assert any("a host is not your team's" in m for m in outcome(evaluation, attempt("grafana.localtest.me"))[0])
    assert outcome(evaluation, attempt("shop.localtest.me")) == ([], [])
    assert outcome(evaluation, attempt("api.payments.localtest.me")) == ([], [])


# ---- what a local stack may not say --------------------------------------------------------------

def test_eks_only_keys_are_refused_by_name_all_at_once():
    found = problems_of(accountId="111122223333", nodeGroups={"general": {"minSize": 1}}, adminRoleArns=[],
                        dns={"zoneName": "example.com"}, endpoint={"publicAccessCidrs": []},
                        ciRunner={"githubRepo": "acme/x"}, backup={"schedule": "0 3 * * *", "retentionDays": 7},
                        region="us-east-1", kubernetesVersion="1.36",
                        teams={"payments": {"namespaces": ["payments"], "quota": {"cpu": "1", "memory": "1Gi",
                                                                                   "pods": "5"},
                                            "roleArns": ["arn:aws:iam::111122223333:role/payments"]}})
    for key in ("accountId", "nodeGroups", "adminRoleArns", "dns", "endpoint", "ciRunner", "backup",
                "kubernetesVersion", "teams.payments.roleArns"):
        assert "EKS only" in found[key] and "target: kubeconfig" in found[key], key
    assert "aws:region" not in found  # the region of a local stack is nobody's business


def test_a_kubeconfig_target_needs_a_valid_context_and_a_known_distribution():
    found = problems_of(kubeconfig={"distribution": "docker-desktop"})
    assert found["kubeconfig.context"] == "is required"
    assert "'kind', 'k3s', 'minikube'" in found["kubeconfig.distribution"]
    found = problems_of(kubeconfig={"context": "kind eks;rm -rf"})
    assert "kubeconfig context name" in found["kubeconfig.context"]
    found = problems_of(kubeconfig={"context": "default", "distribution": "k3s"})
    assert "required with distribution k3s" in found["kubeconfig.nodeCidr"]
    found = problems_of(kubeconfig={"context": "default", "distribution": "k3s", "nodeCidr": "8.8.8.0/24"})
    assert "private RFC 1918 range" in found["kubeconfig.nodeCidr"]
    found = problems_of(kubeconfig={"context": "default", "distribution": "k3s", "nodeCidr": "10.0.0.0/8"})
    assert "overlaps k3s's pod network 10.42.0.0/16: every pod would pass for the API server" \
        in found["kubeconfig.nodeCidr"]


def test_targets_and_environments_must_agree():
    assert "must be local" in problems_of(environment="dev")["environment"]
    assert "must be one of: eks, kubeconfig" in problems_of(target="docker")["target"]
    found = {p.path: p.message for p in run_stack("dev", kubeconfig={"context": "kind-x"}).error.problems}
    assert "this stack has target: eks" in found["kubeconfig"]
    found = {p.path: p.message for p in run_stack("dev", environment="local").error.problems}
    assert "profile of `target: kubeconfig`" in found["environment"]


def test_a_local_stack_cannot_ask_for_what_only_a_cloud_gives():
    found = problems_of(ingress={"controller": "gateway"}, releases={"velero": {"values": {}}},
                        grafana={"allowedCidrs": ["198.51.100.0/24"]})
    assert "cloud load balancer" in found["ingress.controller"]
    assert "not installed on a local cluster" in found["releases.velero"]
    assert "EKS only" in found["grafana.allowedCidrs"]


# ---- the plan says what does not run -------------------------------------------------------------

def test_the_plan_of_a_local_stack_names_what_does_not_run_here():
    out, err = io.StringIO(), io.StringIO()
    assert plan.main(LOCAL, out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "no AWS provider or resource" in text
    for missing in ("Velero", "GPU", "cluster-autoscaler", "DNS records"):
        assert missing in text.split("not run here:")[1].splitlines()[0], missing
    assert "http://grafana.localtest.me" in text
    out = io.StringIO()
    assert plan.main(LOCAL, out, io.StringIO(), cost=True) == 0
    assert "Cost: none on AWS" in out.getvalue()


# ---- the layers ----------------------------------------------------------------------------------

CLOUD_MODULES = {"access_entries", "autoscaling", "boundary", "buckets", "ci_runner", "control_plane", "dns", "irsa",
                 "load_balancer_controller", "network", "node_group", "pod_identity", "storage", "instance_types",
                 "naming"}
CLUSTER_MODULES = {"admission", "backup", "capabilities", "crds", "dashboards", "gateway", "gpu", "helm", "ingress",
                   "isolation", "logging", "metrics_server", "monitoring", "namespaces", "schedules", "tenancy"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_every_component_module_belongs_to_one_layer():
    modules = {p.stem for p in (ROOT / "components").glob("*.py") if p.stem != "__init__"}
    assert modules == CLOUD_MODULES | CLUSTER_MODULES and not CLOUD_MODULES & CLUSTER_MODULES


def test_the_cluster_layer_never_imports_the_cloud_layer_or_aws():
    forbidden = {"pulumi_aws", "boto3", "ops", *(f"components.{m}" for m in CLOUD_MODULES)}
    for module in CLUSTER_MODULES:
        imports = _imports(ROOT / "components" / f"{module}.py")
        bad = {i for i in imports if any(i == f or i.startswith(f"{f}.") for f in forbidden)}
        assert not bad, f"components/{module}.py imports {bad}"
    imports = _imports(ROOT / "stacks" / "cluster.py")
    assert not {i for i in imports if i.startswith("pulumi_aws") or i.startswith("stacks.cloud")
                or any(i.startswith(f"components.{m}") for m in CLOUD_MODULES)}

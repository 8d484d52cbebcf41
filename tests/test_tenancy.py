"""Team tenancy: namespaces, Pod Security, scoped access, quotas, limits and network policies."""

from __future__ import annotations

import json

import pytest

from components.access_entries import EDIT_POLICY
from components.tenancy import PLATFORM_NAMESPACES, RESERVED_NAMESPACES
from tests.conftest import dev_with_teams, run_stack, stack_evaluation
from tests.test_edge import gateway_stack


def team_resources(evaluation, type_: str, team: str):
    parent = evaluation.one("eks-platform:tenancy:Team", team)
    return [r for r in evaluation.children(parent) if r.type == type_]


def test_team_namespaces_enforce_restricted_and_carry_the_hosts_the_team_owns(prod):
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]
                  for r in team_resources(prod, "kubernetes:core/v1:Namespace", "payments")}
    assert set(namespaces) == {"payments", "payments-jobs"}
    for metadata in namespaces.values():
        assert metadata["labels"] == {"team": "payments", "pod-security.kubernetes.io/enforce": "restricted",
                                      "pod-security.kubernetes.io/warn": "restricted",
                                      "pod-security.kubernetes.io/audit": "restricted"}
        assert metadata["annotations"] == {"eks-platform.io/hostnames":
                                           "payments.prod.example.com,*.payments.prod.example.com"}


def test_baseline_and_load_balancers_are_a_teams_explicit_choice():
    namespaces = {r.name: r.inputs["metadata"]["labels"] for r in dev_with_teams().of_type(
        "kubernetes:core/v1:Namespace")}
    assert namespaces["legacy-legacy"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert namespaces["legacy-legacy"]["pod-security.kubernetes.io/warn"] == "restricted"
    assert "eks-platform.io/load-balancers" not in namespaces["legacy-legacy"]
    assert namespaces["ml-ml"]["eks-platform.io/load-balancers"] == "allowed"
    assert namespaces["ml-ml"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_platform_namespaces_get_what_their_charts_need(prod):
    enforce = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
               for r in prod.of_type("kubernetes:core/v1:Namespace")}
    assert enforce["monitoring"] == enforce["fluent-bit"] == enforce["gpu"] == "privileged"
    assert enforce["logging"] == enforce["ingress-nginx"] == "baseline"


def test_access_is_the_edit_policy_scoped_to_exactly_the_teams_namespaces(prod):
    entries = team_resources(prod, "aws:eks/accessEntry:AccessEntry", "payments")
    assert [e.inputs for e in entries] == [{"clusterName": "acme-prod", "type": "STANDARD",
                                            "principalArn": "arn:aws:iam::777788889999:role/payments-developers",
                                            "kubernetesGroups": ["eks-platform:tenants", "eks-platform:team:payments"]}]
    (association,) = team_resources(prod, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "payments")
    assert association.inputs["policyArn"] == EDIT_POLICY
    assert association.inputs["accessScope"] == {"type": "namespace", "namespaces": ["payments", "payments-jobs"]}
    (search,) = team_resources(prod, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "search")
    assert search.inputs["accessScope"]["namespaces"] == ["search"]


def test_a_teams_quota_is_its_total_split_across_its_namespaces_and_covers_storage_objects_and_gpus(prod):
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]
              for r in team_resources(prod, "kubernetes:core/v1:ResourceQuota", "payments")
              if r.inputs["metadata"]["name"] == "team-quota"}
    half = {"requests.cpu": "10000m", "limits.cpu": "10000m", "requests.memory": "32768Mi",
            "limits.memory": "32768Mi", "pods": "100",
            "requests.storage": "204800Mi", "persistentvolumeclaims": "20",  # prod's team defaults: 400Gi, 40
            "requests.ephemeral-storage": "40960Mi", "limits.ephemeral-storage": "40960Mi",
            "requests.nvidia.com/gpu": "0", "services": "40", "configmaps": "100", "secrets": "100",
            "services.loadbalancers": "0", "services.nodeports": "0"}
    assert quotas == {"payments": half, "payments-jobs": half}  # 20 CPUs and 64Gi for the team, not per namespace
    (search,) = [r.inputs["spec"]["hard"] for r in team_resources(prod, "kubernetes:core/v1:ResourceQuota", "search")
                 if r.inputs["metadata"]["name"] == "team-quota"]
    assert (search["requests.cpu"], search["requests.memory"], search["requests.storage"]) == ("8", "32Gi", "400Gi")
    limits = team_resources(prod, "kubernetes:core/v1:LimitRange", "payments")
    assert len(limits) == 2
    container, claim = limits[0].inputs["spec"]["limits"]
    assert container["type"] == "Container" and container["defaultRequest"]["ephemeral-storage"] == "100Mi"
    assert container["default"]["ephemeral-storage"] == "1Gi"
    assert claim == {"type": "PersistentVolumeClaim", "max": {"storage": "204800Mi"}}


def test_a_team_names_only_the_quota_it_changes_and_load_balancers_lift_their_zero():
    (quota,) = [r.inputs["spec"]["hard"] for r in dev_with_teams().of_type(
        "kubernetes:core/v1:ResourceQuota") if r.name == "ml-ml-quota"]
    assert quota["requests.nvidia.com/gpu"] == "2" and quota["requests.storage"] == "1Ti"
    assert quota["persistentvolumeclaims"] == "10" and quota["secrets"] == "50"  # dev's defaults
    assert "services.loadbalancers" not in quota and "services.nodeports" not in quota


def test_a_quota_larger_than_the_cluster_can_ever_hold_is_warned_naming_the_team():
    from stacks.config import load
    from stacks.rules import capacity_warnings

    big = {"namespaces": ["big"], "quota": {"cpu": "400", "memory": "16Gi", "pods": "50"}}
    settings = load("dev", {"environment": "dev", "accountId": "111122223333", "teams": {"big": big}}, "us-east-1")
    (warning,) = capacity_warnings(settings.config)
    assert warning == ("eks-platform:teams.big.quota.cpu: 400 is more than the general node groups can ever hold "
                       "(8 vCPUs at their maxSize)")  # dev: up to 4 x m7i.large
    assert capacity_warnings(stack_evaluation("prod").settings.config) == []


def test_in_gateway_mode_each_teams_roles_may_write_routes_in_its_own_namespaces_only(prod):
    assert not team_resources(prod, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "payments")
    evaluation = gateway_stack("prod")
    bindings = team_resources(evaluation, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "payments")
    assert {b.inputs["metadata"]["namespace"] for b in bindings} == {"payments", "payments-jobs"}
    for binding in bindings:
        assert binding.inputs["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                               "name": "eks-platform:team:payments"}]
    (role,) = [r for r in team_resources(evaluation, "kubernetes:rbac.authorization.k8s.io/v1:Role", "payments")
               if r.inputs["metadata"]["namespace"] == "payments"]
    assert role.inputs["rules"] == [{"apiGroups": ["gateway.networking.k8s.io"], "resources": ["httproutes", "grpcroutes"],
                                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}]
    (entry,) = team_resources(evaluation, "aws:eks/accessEntry:AccessEntry", "payments")
    assert "eks-platform:team:payments" in entry.inputs["kubernetesGroups"]


def test_no_team_pod_may_take_a_system_priority(prod):
    quotas = [r.inputs for r in team_resources(prod, "kubernetes:core/v1:ResourceQuota", "search")
              if r.inputs["metadata"]["name"] == "no-system-priority"]
    assert [q["spec"] for q in quotas] == [{"hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["system-cluster-critical", "system-node-critical"]}]}}]


def test_every_object_the_platform_makes_in_a_team_namespace_is_marked_managed(prod):
    for type_ in ("kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange",
                  "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for resource in team_resources(prod, type_, "payments"):
            assert resource.inputs["metadata"]["labels"] == {"eks-platform.io/managed": "true"}, resource.name


def test_network_policies_deny_ingress_except_same_namespace_the_edges_pods_and_prometheus(prod):
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"]
                for r in team_resources(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "search")
                if r.inputs["spec"]["policyTypes"] == ["Ingress"]}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    assert policies["allow-same-namespace"]["ingress"] == [{"from": [{"podSelector": {}}]}]
    for ns, pods in (("ingress-nginx", {"app.kubernetes.io/component": "controller"}),
                     ("monitoring", {"app.kubernetes.io/name": "prometheus"})):
        assert policies[f"allow-from-{ns}"]["ingress"] == [
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                       "podSelector": {"matchLabels": pods}}]}]
    assert all(p["podSelector"] == {} and p["policyTypes"] == ["Ingress"] for p in policies.values())
    assert policies["allow-from-team"]["ingress"] == [{"from": [{"namespaceSelector": {"matchLabels": {"team": "search"}}}]}]
    assert len(policies) == 5


def test_vpc_cni_enforces_network_policies(any_stack):
    assert any_stack.one("eks:index:Cluster").inputs["vpcCniOptions"]["enableNetworkPolicy"] is True


def test_team_objects_wait_for_their_namespace(prod):
    namespaces = {r.inputs["metadata"]["name"]: r for r in team_resources(prod, "kubernetes:core/v1:Namespace", "search")}
    for type_ in ("kubernetes:core/v1:ResourceQuota", "kubernetes:core/v1:LimitRange",
                  "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for resource in team_resources(prod, type_, "search"):
            assert resource.depends_on(namespaces[resource.inputs["metadata"]["namespace"]])


def test_no_teams_no_tenancy(dev):
    assert not dev.of_type("eks-platform:tenancy:Team")


@pytest.mark.parametrize("teams, key, fragment", [
    ({"Payments": {"namespaces": ["p"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}},
     "teams.Payments", "DNS-1123"),
    ({"a": {"namespaces": ["Bad_NS"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}},
     "teams.a.namespaces[0]", "DNS-1123"),
    ({"a": {"namespaces": ["monitoring"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}},
     "teams.a.namespaces[0]", "platform namespace"),
    ({"a": {"namespaces": ["shared"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}},
      "b": {"namespaces": ["shared"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}},
     "teams.b.namespaces[0]", "already claimed by team 'a'"),
    ({"a": {"namespaces": ["a"], "quota": {"cpu": "lots", "memory": "1Gi", "pods": "10"}}},
     "teams.a.quota.cpu", "Kubernetes quantity"),
    ({"a": {"namespaces": ["a"], "quota": {"cpu": "1", "memory": "64GB!", "pods": "10"}}},
     "teams.a.quota.memory", "Kubernetes quantity"),
    ({"a": {"namespaces": ["a"], "roleArns": ["arn:aws:iam::1:role/x"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "1"}}},
     "teams.a.roleArns[0]", "IAM role ARN"),
])
def test_bad_team_config_is_rejected_with_its_key(teams, key, fragment):
    evaluation = run_stack("dev", teams=teams)
    problems = {p.path: str(p) for p in evaluation.error.problems}
    assert key in problems, problems
    assert fragment in problems[key]
    assert evaluation.registrations == []


@pytest.mark.parametrize("edge", ["nginx", "gateway"])
def test_reserved_namespaces_cover_every_platform_namespace(edge):
    evaluation = gateway_stack("prod") if edge == "gateway" else stack_evaluation("prod")
    platform = {r.inputs["metadata"]["name"] for r in evaluation.of_type("kubernetes:core/v1:Namespace")
                if "tenancy" not in r.parent}
    assert {"velero", "ingress-nginx" if edge == "nginx" else "envoy-gateway-system"} <= platform
    assert platform <= set(RESERVED_NAMESPACES) and platform <= set(PLATFORM_NAMESPACES)


QUEUE = "arn:aws:iam::aws:policy/AmazonSQSFullAccess"
TEAM_WITH_APP = {"namespaces": ["payments", "payments-jobs"], "quota": {"cpu": "8", "memory": "16Gi", "pods": "100"},
                 "serviceAccounts": {"checkout": {"policyArns": [QUEUE]},
                                     "reports": {"namespace": "payments-jobs",
                                                 "policyArns": ["arn:aws:iam::123456789012:policy/reports-bucket"]}}}


def test_a_teams_service_account_gets_its_policies_through_pod_identity():
    evaluation = run_stack("dev", teams={"payments": TEAM_WITH_APP})
    associations = {a.inputs["serviceAccount"]: a.inputs for a in evaluation.of_type(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation") if a.name.startswith("payments-")}
    assert {k: v["namespace"] for k, v in associations.items()} == {"checkout": "payments", "reports": "payments-jobs"}
    role = evaluation.one("aws:iam/role:Role", "payments-payments-checkout")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert associations["checkout"]["roleArn"] == role.outputs["arn"]
    attached = [a.inputs["policyArn"] for a in evaluation.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                if a.name.startswith("payments-payments-checkout")]
    assert attached == [QUEUE]
    account = evaluation.one("kubernetes:core/v1:ServiceAccount", "payments-payments-checkout")
    assert account.inputs["metadata"] == {"name": "checkout", "namespace": "payments",
                                          "labels": {"eks-platform.io/managed": "true"}}
    namespace = evaluation.one("kubernetes:core/v1:Namespace", "payments-payments")
    assert account.depends_on(namespace)


@pytest.mark.parametrize("account, path, fragment", [
    ({"namespace": "search", "policyArns": [QUEUE]}, "teams.payments.serviceAccounts.app.namespace",
     "must be one of team payments's namespaces"),
    ({"policyArns": ["AmazonSQSFullAccess"]}, "teams.payments.serviceAccounts.app.policyArns[0]", "IAM policy ARN"),
    ({"policyArns": []}, "teams.payments.serviceAccounts.app.policyArns", "at least 1"),
])
def test_a_bad_workload_identity_is_rejected(account, path, fragment):
    team = {**TEAM_WITH_APP, "serviceAccounts": {"app": account}}
    evaluation = run_stack("dev", teams={"payments": team})
    problems = {p.path: p.message for p in evaluation.error.problems}
    assert fragment in problems[path], problems

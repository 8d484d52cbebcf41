"""The EKS control plane: endpoint, logs, encryption, access, add-ons, protection, dependency order."""

from __future__ import annotations

import json

import pytest

from components.control_plane import CLUSTER_ADMIN_POLICY, LOG_TYPES
from tests.conftest import run_stack

CLUSTER = "eks:index:Cluster"
ADDON = "aws:eks/addon:Addon"


def test_cluster_is_private_with_public_access_only_from_listed_cidrs(any_stack):
    cluster = any_stack.one(CLUSTER).inputs
    assert cluster["endpointPrivateAccess"] is True and cluster["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in cluster
    listed = run_stack("dev", endpoint={"publicAccessCidrs": ["198.51.100.0/24"]}).one(CLUSTER).inputs
    assert listed["endpointPublicAccess"] is True and listed["publicAccessCidrs"] == ["198.51.100.0/24"]


def test_cluster_basics(any_stack):
    cluster = any_stack.one(CLUSTER).inputs
    assert cluster["name"] == f"acme-{any_stack.stack}"
    assert cluster["version"] == "1.36"
    assert cluster["skipDefaultNodeGroup"] is True
    assert cluster["authenticationMode"] == "API"
    assert cluster["createOidcProvider"] is True
    assert cluster["enabledClusterLogTypes"] == list(LOG_TYPES) == [
        "api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert cluster["corednsAddonOptions"]["enabled"] is False
    assert cluster["kubeProxyAddonOptions"]["enabled"] is True
    assert cluster["vpcId"] == any_stack.outputs["vpcId"]
    assert cluster["privateSubnetIds"] == any_stack.outputs["privateSubnetIds"]


def test_secrets_are_encrypted_with_a_rotating_kms_key(any_stack):
    key = any_stack.one("aws:kms/key:Key", f"acme-{any_stack.stack}-secrets")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert any_stack.one(CLUSTER).inputs["encryptionConfigKeyArn"] == key.outputs["arn"]


def test_admin_roles_get_cluster_admin_access_entries(any_stack):
    entries = any_stack.one(CLUSTER).inputs["accessEntries"]
    assert entries["admin-0"] == {
        "principalArn": f"arn:aws:iam::{any_stack.settings.account_id}:role/platform-admin",
        "accessPolicies": {"cluster-admin": {"policyArn": CLUSTER_ADMIN_POLICY,
                                             "accessScope": {"type": "cluster"}}},
    }
    assert set(entries) == {"admin-0", "preview"}


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 90)])
def test_control_plane_log_group_exists_first_with_retention(stack, days, request):
    evaluation = request.getfixturevalue(stack)
    group = evaluation.one("aws:cloudwatch/logGroup:LogGroup", f"acme-{stack}-control-plane")
    assert group.inputs["name"] == f"/aws/eks/acme-{stack}/cluster"
    assert group.inputs["retentionInDays"] == days
    assert evaluation.one(CLUSTER).depends_on(group)


def test_vpc_cni_has_its_own_role_through_pod_identity(any_stack):
    role = any_stack.one("aws:iam/role:Role", f"acme-{any_stack.stack}-vpc-cni")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    account = any_stack.settings.account_id
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                      "Action": ["sts:AssumeRole", "sts:TagSession"],
                      "Condition": {"StringEquals": {
                          "aws:SourceAccount": account, "aws:RequestTag/eks-cluster-name": f"acme-{any_stack.stack}",
                          "aws:RequestTag/kubernetes-namespace": "kube-system",
                          "aws:RequestTag/kubernetes-service-account": "aws-node"}}}]
    attachment = any_stack.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"acme-{any_stack.stack}-vpc-cni")
    assert attachment.inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    association = any_stack.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", f"acme-{any_stack.stack}-vpc-cni")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("kube-system", "aws-node")
    assert association.inputs["roleArn"] == role.outputs["arn"]
    assert association.inputs["clusterName"] == f"acme-{any_stack.stack}"


def test_node_roles_do_not_carry_the_cni_policy(any_stack):
    node_attachments = [r for r in any_stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                        if "-node-" in r.name]
    assert node_attachments
    assert all("CNI" not in r.inputs["policyArn"] for r in node_attachments)


def test_node_groups_wait_for_pod_identity_agent_and_cni_identity(any_stack):
    agent = any_stack.one(ADDON, f"acme-{any_stack.stack}-pod-identity-agent")
    assert agent.inputs["addonName"] == "eks-pod-identity-agent"
    association = any_stack.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", f"acme-{any_stack.stack}-vpc-cni")
    for group in any_stack.of_type("eks-platform:nodes:NodeGroup"):
        assert group.depends_on(agent) and group.depends_on(association)


def test_coredns_is_an_addon_created_after_every_node_group(any_stack):
    coredns = any_stack.one(ADDON, f"acme-{any_stack.stack}-coredns")
    assert coredns.inputs["addonName"] == "coredns"
    groups = any_stack.of_type("eks:index:ManagedNodeGroup")
    assert len(groups) == 2 and all(coredns.depends_on(g) for g in groups)
    assert not any_stack.one(ADDON, f"acme-{any_stack.stack}-pod-identity-agent").depends_on(groups[0])


def test_prod_protects_vpc_kms_key_and_cluster_and_turns_on_deletion_protection(prod):
    for type_, name in (("aws:ec2/vpc:Vpc", "acme-prod"), ("aws:kms/key:Key", "acme-prod-secrets"), (CLUSTER, "acme-prod")):
        assert prod.one(type_, name).protect, type_
    assert prod.one(CLUSTER).inputs["deletionProtection"] is True


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_non_prod_is_disposable(stack, request):
    evaluation = request.getfixturevalue(stack)
    assert not any(r.protect for r in evaluation.registrations)
    assert evaluation.one(CLUSTER).inputs["deletionProtection"] is False


def test_every_aws_resource_goes_through_the_tagging_provider(any_stack):
    provider = any_stack.one("pulumi:providers:aws")
    assert json.loads(provider.inputs["defaultTags"])["tags"] == {
        "platform": "eks-platform", "environment": any_stack.stack, "stack": any_stack.stack,
        "cluster": f"acme-{any_stack.stack}", "team": "platform", "costCenter": "1234"}
    own = [r for r in any_stack.registrations if r.custom and r.type.startswith("aws:") and "eks:index:" not in r.parent]
    remote = [r for r in any_stack.registrations if r.type.startswith("eks:index:")]
    assert own and remote
    assert all(r.provider.startswith(provider.urn) for r in own)
    assert all(r.providers["aws"].startswith(provider.urn) for r in remote)


def test_add_ons_overwrite_what_eks_installed_on_create_and_update(any_stack):
    for addon in any_stack.of_type("aws:eks/addon:Addon"):
        assert addon.inputs["resolveConflictsOnCreate"] == "OVERWRITE", addon.name
        assert addon.inputs["resolveConflictsOnUpdate"] == "OVERWRITE", addon.name


def test_the_preview_role_reads_everything_but_secrets():
    preview = "arn:aws:iam::777788889999:role/eks-platform-preview-prod"
    entries = run_stack("prod", previewRoleArn=preview).one(CLUSTER).inputs["accessEntries"]
    assert set(entries) == {"admin-0", "preview"}
    assert entries["preview"]["principalArn"] == preview
    assert entries["preview"]["accessPolicies"] == {"view": {
        "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy", "accessScope": {"type": "cluster"}}}
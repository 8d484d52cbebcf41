"""EBS CSI driver with its own Pod Identity role and the default encrypted gp3 StorageClass."""

from __future__ import annotations

import json

import pytest

from components.storage import EBS_CSI_POLICY

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"


def test_ebs_csi_addon_uses_its_own_role_trusted_by_exactly_its_service_account(any_stack):
    env = any_stack.stack
    addon = any_stack.one("aws:eks/addon:Addon", f"acme-{env}-ebs-csi")
    role = any_stack.one("aws:iam/role:Role", f"acme-{env}-ebs-csi")
    assert addon.inputs["addonName"] == "aws-ebs-csi-driver"
    assert "serviceAccountRoleArn" not in addon.inputs  # no IRSA: the add-on's own Pod Identity association
    assert addon.inputs["podIdentityAssociations"] == [{"roleArn": role.outputs["arn"],
                                                        "serviceAccount": "ebs-csi-controller-sa"}]
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {
            "aws:SourceAccount": any_stack.settings.account_id, "aws:RequestTag/eks-cluster-name": f"acme-{env}",
            "aws:RequestTag/kubernetes-namespace": "kube-system",
            "aws:RequestTag/kubernetes-service-account": "ebs-csi-controller-sa"}}}]
    attachment = any_stack.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"acme-{env}-ebs-csi")
    assert attachment.inputs == {"role": role.outputs["name"], "policyArn": EBS_CSI_POLICY}


@pytest.mark.parametrize("stack, reclaim", [("dev", "Delete"), ("staging", "Delete"), ("prod", "Retain")])
def test_default_gp3_storage_class(stack, reclaim, request):
    evaluation = request.getfixturevalue(stack)
    sc = evaluation.one(STORAGE_CLASS).inputs
    assert sc["metadata"] == {"name": "gp3", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}
    assert sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"] == {
        "type": "gp3", "encrypted": "true", "fsType": "ext4",
        "tagSpecification_1": f"kubernetes.io/cluster/acme-{stack}=owned",
        "tagSpecification_2": "eks-platform/namespace={{ .PVCNamespace }}",
        "tagSpecification_3": "eks-platform/claim={{ .PVCName }}"}
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["allowVolumeExpansion"] is True
    assert sc["reclaimPolicy"] == reclaim


def test_storage_class_waits_for_the_driver_which_waits_for_nodes(any_stack):
    env = any_stack.stack
    addon = any_stack.one("aws:eks/addon:Addon", f"acme-{env}-ebs-csi")
    storage = any_stack.one("eks-platform:storage:Storage")
    assert any_stack.one(STORAGE_CLASS).depends_on(addon)
    assert storage.depends_on(any_stack.one("eks:index:ManagedNodeGroup", f"acme-{env}-general"))
    assert storage.depends_on(any_stack.one("aws:eks/addon:Addon", f"acme-{env}-coredns"))


def test_the_ebs_csi_add_on_itself_waits_for_the_general_nodes(any_stack):
    env = any_stack.stack
    addon = any_stack.one("aws:eks/addon:Addon", f"acme-{env}-ebs-csi")
    assert addon.depends_on(any_stack.one("eks:index:ManagedNodeGroup", f"acme-{env}-general"))

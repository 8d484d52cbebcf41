"""Managed node groups: AMI types, labels and taints, launch template, IAM, scaling, autoscaler tags."""

from __future__ import annotations

import json

import pytest

from components.instance_types import ami_type, architecture, is_nvidia_gpu
from components.node_group import NODE_POLICIES, Taint, autoscaler_tags
from tests.conftest import run_stack
from tests.k8s import values

MNG = "eks:index:ManagedNodeGroup"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@pytest.mark.parametrize("types, gpu, expected", [
    (["m7i.large"], False, "AL2023_x86_64_STANDARD"),
    (["m7g.large", "c7gn.xlarge"], False, "AL2023_ARM_64_STANDARD"),
    (["g6.xlarge"], True, "AL2023_x86_64_NVIDIA"),
    (["g5g.xlarge"], True, "AL2023_ARM_64_NVIDIA"),
    (["m7i-flex.large"], False, "AL2023_x86_64_STANDARD"),
])
def test_ami_type_by_instance_family(types, gpu, expected):
    assert ami_type(types, gpu) == expected


def test_instance_type_facts():
    assert is_nvidia_gpu("p5.48xlarge") and is_nvidia_gpu("g6e.2xlarge")
    assert not is_nvidia_gpu("g4ad.xlarge") and not is_nvidia_gpu("inf2.xlarge")
    assert architecture("r8g.large") == "arm64" and architecture("m6gd.large") == "arm64"
    assert architecture("g6.xlarge") == "x86_64"


def test_general_and_gpu_groups_get_their_ami_types(any_stack):
    env = any_stack.stack
    assert any_stack.one(MNG, f"acme-{env}-general").inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert any_stack.one(MNG, f"acme-{env}-gpu").inputs["amiType"] == "AL2023_x86_64_NVIDIA"


def test_gpu_group_label_and_taint(any_stack):
    gpu = any_stack.one(MNG, f"acme-{any_stack.stack}-gpu").inputs
    assert gpu["labels"] == {"nvidia.com/gpu.present": "true", "k8s.amazonaws.com/accelerator": "nvidia-g6"}
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    general = any_stack.one(MNG, f"acme-{any_stack.stack}-general").inputs
    assert general["labels"] == {"workload": "general"}
    assert general.get("taints", []) == []


@pytest.mark.parametrize("stack, capacity, scaling", [
    ("dev", "SPOT", {"minSize": 1, "maxSize": 4, "desiredSize": 2}),
    ("staging", "ON_DEMAND", {"minSize": 3, "maxSize": 6, "desiredSize": 3}),
    ("prod", "ON_DEMAND", {"minSize": 3, "maxSize": 12, "desiredSize": 3}),
])
def test_general_group_capacity_per_environment(stack, capacity, scaling, request):
    general = request.getfixturevalue(stack).one(MNG, f"acme-{stack}-general").inputs
    assert general["capacityType"] == capacity
    assert general["scalingConfig"] == scaling


def test_desired_size_is_left_to_the_autoscaler(any_stack):
    for group in any_stack.of_type(MNG):
        assert group.inputs["ignoreScalingChanges"] is True


def test_nodes_run_in_private_subnets(any_stack):
    for group in any_stack.of_type(MNG):
        assert group.inputs["subnetIds"] == any_stack.outputs["privateSubnetIds"]


def test_launch_template_requires_imdsv2_hop_limit_one_and_encrypted_gp3(prod):
    general = prod.one(LAUNCH_TEMPLATE, "acme-prod-general").inputs
    assert general["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                          "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
    assert general["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "ebs": {
        "volumeSize": 100, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"}}]
    assert "keyName" not in general
    gpu = prod.one(LAUNCH_TEMPLATE, "acme-prod-gpu").inputs
    assert gpu["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 100


def test_node_group_uses_its_launch_template_and_no_disk_size(any_stack):
    for group in any_stack.of_type(MNG):
        template = any_stack.one(LAUNCH_TEMPLATE, group.name)
        assert group.inputs["launchTemplate"] == {"id": f"launchtemplate-{template.name}", "version": "1"}
        assert "diskSize" not in group.inputs


def test_node_role_trust_and_exactly_the_node_policies(any_stack):
    for group in any_stack.of_type("eks-platform:nodes:NodeGroup"):
        role = any_stack.one("aws:iam/role:Role", f"{group.name}-node")
        assert json.loads(role.inputs["assumeRolePolicy"])["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
        attached = sorted(r.inputs["policyArn"] for r in any_stack.children(group)
                          if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        assert attached == sorted(NODE_POLICIES) == [
            "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
            "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
            "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        ]
        mng = any_stack.one(MNG, group.name)
        assert mng.inputs["nodeRole"] == role.urn
        assert all(mng.depends_on(a) for a in any_stack.children(group)
                   if a.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment")


def test_rolling_updates_replace_a_third_of_the_nodes(any_stack):
    for node_group in any_stack.of_type(NODE_GROUP):
        assert node_group.inputs["updateConfig"] == {"maxUnavailablePercentage": 33}


def asg_tags(evaluation, group: str) -> dict[str, str]:
    return {r.inputs["tag"]["key"]: r.inputs["tag"]["value"] for r in evaluation.of_type("aws:autoscaling/tag:Tag")
            if r.name.startswith(f"{group}-asg-")}


def test_gpu_group_asg_carries_autoscaler_node_template_tags(prod):
    tags = asg_tags(prod, "acme-prod-gpu")
    assert tags == {
        "k8s.io/cluster-autoscaler/enabled": "true",
        "k8s.io/cluster-autoscaler/acme-prod": "owned",
        "k8s.io/cluster-autoscaler/node-template/label/nvidia.com/gpu.present": "true",
        "k8s.io/cluster-autoscaler/node-template/label/k8s.amazonaws.com/accelerator": "nvidia-g6",
        "k8s.io/cluster-autoscaler/node-template/taint/nvidia.com/gpu": "true:NoSchedule",
        "k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu": "1",
    }
    for tag in prod.of_type("aws:autoscaling/tag:Tag"):
        assert tag.inputs["autoscalingGroupName"].startswith("eks-acme-prod-")
        assert tag.inputs["tag"]["propagateAtLaunch"] is False


def test_gpu_count_tag_is_the_smallest_of_the_group_instance_types():
    evaluation = run_stack("dev", nodeGroups={"gpu": {"instanceTypes": ["g6.12xlarge", "g6.48xlarge"], "gpu": True,
                                                      "minSize": 0, "maxSize": 2}})
    assert evaluation.error is None
    assert asg_tags(evaluation, "acme-dev-gpu")["k8s.io/cluster-autoscaler/node-template/resources/nvidia.com/gpu"] == "4"


def test_general_group_asg_tags_have_labels_and_no_gpu_resource(dev):
    tags = asg_tags(dev, "acme-dev-general")
    assert tags["k8s.io/cluster-autoscaler/node-template/label/workload"] == "general"
    assert not any("nvidia.com" in key for key in tags)


def test_custom_taints_reach_the_node_group_and_the_asg_tags():
    evaluation = run_stack("dev", nodeGroups={"batch": {
        "instanceTypes": ["c7g.xlarge"], "minSize": 0, "maxSize": 5,
        "labels": {"workload": "batch"}, "taints": [{"key": "batch", "value": "true", "effect": "NoExecute"}]}})
    batch = evaluation.one(MNG, "acme-dev-batch").inputs
    assert batch["amiType"] == "AL2023_ARM_64_STANDARD"
    assert batch["taints"] == [{"key": "batch", "value": "true", "effect": "NO_EXECUTE"}]
    assert batch["scalingConfig"] == {"minSize": 0, "maxSize": 5, "desiredSize": 0}
    assert asg_tags(evaluation, "acme-dev-batch")["k8s.io/cluster-autoscaler/node-template/taint/batch"] == "true:NoExecute"


def test_autoscaler_tags_without_gpus():
    tags = autoscaler_tags("c", {"a": "b"}, [Taint("k", "v", "NoSchedule")])
    assert tags == {"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/c": "owned",
                    "k8s.io/cluster-autoscaler/node-template/label/a": "b",
                    "k8s.io/cluster-autoscaler/node-template/taint/k": "v:NoSchedule"}


@pytest.mark.parametrize("version", ["1.33", "1.35"])
def test_every_node_group_follows_the_clusters_kubernetes_version(version):
    evaluation = run_stack("prod", kubernetesVersion=version, upgradePolicy="EXTENDED")
    assert evaluation.one("eks:index:Cluster").inputs["version"] == version
    assert {g.inputs["version"] for g in evaluation.of_type(MNG)} == {version}


def test_derived_aws_names_fit_their_limits_for_the_longest_names_the_config_allows():
    cluster, group = "c" * 40, "g" * 63
    evaluation = run_stack("prod", clusterName=cluster, region="ap-southeast-2",
                           nodeGroups={group: {"instanceTypes": ["m7i.large"], "minSize": 0, "maxSize": 2}})
    assert evaluation.error is None, evaluation.error
    prefixes = [r.inputs["namePrefix"] for r in evaluation.of_type("aws:iam/role:Role") if "namePrefix" in r.inputs]
    assert len(prefixes) >= 8 and all(len(p) <= 38 for p in prefixes)
    assert len(set(prefixes)) == len(prefixes)  # shortened names stay distinct
    groups = [r.inputs["nodeGroupNamePrefix"] for r in evaluation.of_type(MNG)]
    assert all(len(p) <= 37 for p in groups) and len(set(groups)) == len(groups)
    assert all(len(b.inputs["bucket"]) <= 63 for b in evaluation.of_type("aws:s3/bucket:Bucket"))


def test_short_names_are_kept_whole():
    evaluation = run_stack("prod")
    assert evaluation.one(MNG, "acme-prod-general").inputs["nodeGroupNamePrefix"] == "acme-prod-general-"
    assert {r.inputs["namePrefix"] for r in evaluation.of_type("aws:iam/role:Role") if "namePrefix" in r.inputs} >= {
        "acme-prod-general-node-", "acme-prod-loki-"}


def test_a_per_zone_group_is_one_managed_node_group_per_zone_for_the_autoscaler_to_balance():
    evaluation = run_stack("prod", nodeGroups={"stateful": {"instanceTypes": ["m7i.large"], "minSize": 0, "maxSize": 3,
                                                            "perZone": True, "labels": {"workload": "stateful"}}})
    groups = {g.name: g.inputs for g in evaluation.of_type(MNG) if g.name.startswith("acme-prod-stateful")}
    assert sorted(groups) == ["acme-prod-stateful-0", "acme-prod-stateful-1", "acme-prod-stateful-2"]
    private = evaluation.outputs["privateSubnetIds"]
    assert [groups[f"acme-prod-stateful-{i}"]["subnetIds"] for i in range(3)] == [[s] for s in private]
    assert all(g["scalingConfig"] == {"minSize": 0, "maxSize": 3, "desiredSize": 0} for g in groups.values())
    assert set(evaluation.outputs["nodeGroupNames"]) >= {"stateful-0", "stateful-1", "stateful-2"}
    assert values(evaluation, "cluster-autoscaler")["extraArgs"]["balance-similar-node-groups"] is True


def test_per_zone_minimums_count_once_per_zone_for_the_on_demand_floor():
    evaluation = run_stack("prod", nodeGroups={"general": {"minSize": 1, "maxSize": 4, "desiredSize": 1,
                                                           "perZone": True}})
    assert evaluation.error is None, evaluation.error  # 1 per zone x 3 zones meets prod's 3 on-demand nodes
    groups = [g for g in evaluation.of_type("eks:index:ManagedNodeGroup") if "-general-" in g.name]
    assert len(groups) == 3 and all(g.inputs["scalingConfig"]["minSize"] == 1 for g in groups)
    single = run_stack("prod", nodeGroups={"general": {"minSize": 1, "maxSize": 4, "desiredSize": 1}})
    assert "needs at least 3" in {p.path: p.message for p in single.error.problems}["nodeGroups"]

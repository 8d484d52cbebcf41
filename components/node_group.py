"""NodeGroup: one EKS managed node group, general purpose or NVIDIA GPU.

Its own node IAM role (only the managed policies a node needs: the CNI policy sits on vpc-cni's role),
a launch template of ours (IMDSv2 required with hop limit 1 so pods cannot borrow the node's
credentials, encrypted gp3 root volume, no SSH key), an explicit AL2023 AMI type, labels and taints,
rolling updates a third at a time, and the cluster-autoscaler node-template tags on the group's auto
scaling group so the autoscaler can scale a group up from zero knowing what a node would offer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from components.helm import waits_like
from components.instance_types import ami_type, family
from components.naming import fit, iam_name_prefix

NODE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
)
GPU_LABEL = ("nvidia.com/gpu.present", "true")
ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"  # how cluster-autoscaler's AWS provider recognises GPU nodes
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
MAX_UNAVAILABLE_PERCENTAGE = 33
NODE_GROUP_NAME_PREFIX_LIMIT = 37  # EKS allows 63 characters; a prefix gets a 26-character unique suffix
_EKS_TAINT_EFFECTS = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass
class NodeGroupArgs:
    cluster: eks.Cluster
    cluster_name: str
    kubernetes_version: str
    subnet_ids: pulumi.Input[Sequence[str]]
    instance_types: Sequence[str]
    min_size: int
    max_size: int
    desired_size: int
    capacity_type: str = "ON_DEMAND"
    disk_size_gib: int = 50
    gpu: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    taints: Sequence[Taint] = ()
    tags: dict[str, str] = field(default_factory=dict)


def rolling_update_transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Sets the EKS node group (created inside the remote component) to replace a third of its nodes at a time."""
    if args.type_ != "aws:eks/nodeGroup:NodeGroup":
        return None
    props = {**args.props, "updateConfig": {"maxUnavailablePercentage": MAX_UNAVAILABLE_PERCENTAGE}}
    return pulumi.ResourceTransformResult(props=props, opts=args.opts)


def gpu_labels(instance_types: Sequence[str]) -> dict[str, str]:
    """The GPU node labels: ours for selectors and rules, and the accelerator label without which
    cluster-autoscaler treats a GPU node as ready before the device plugin runs and keeps adding nodes."""
    return {GPU_LABEL[0]: GPU_LABEL[1], ACCELERATOR_LABEL: f"nvidia-{family(instance_types[0])}"}


def autoscaler_tags(cluster_name: str, labels: dict[str, str], taints: Sequence[Taint],
                    gpus: pulumi.Input[int] | None = None) -> dict[str, pulumi.Input[str]]:
    """Auto-discovery tags plus what one node of the group offers, for scaling up from zero."""
    prefix = "k8s.io/cluster-autoscaler"
    tags: dict[str, pulumi.Input[str]] = {f"{prefix}/enabled": "true", f"{prefix}/{cluster_name}": "owned"}
    tags.update({f"{prefix}/node-template/label/{k}": v for k, v in labels.items()})
    tags.update({f"{prefix}/node-template/taint/{t.key}": f"{t.value}:{t.effect}" for t in taints})
    if gpus is not None:
        tags[f"{prefix}/node-template/resources/nvidia.com/gpu"] = pulumi.Output.from_input(gpus).apply(str)
    return tags


class NodeGroup(pulumi.ComponentResource):
    node_group: eks.ManagedNodeGroup
    role: aws.iam.Role

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:nodes:NodeGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**args.labels, **(gpu_labels(args.instance_types) if args.gpu else {})}
        taints = [*args.taints, *([Taint(**GPU_TAINT)] if args.gpu else [])]

        self.role = aws.iam.Role(
            f"{name}-node",
            name_prefix=iam_name_prefix(f"{name}-node"),
            assume_role_policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                               "Action": "sts:AssumeRole"}],
            }),
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{arn.rsplit('/', 1)[1]}", role=self.role.name,
                                         policy_arn=arn, opts=child)
            for arn in NODE_POLICIES
        ]
        instance_tags = {**args.tags, "Name": f"{args.cluster_name}-{name}"}
        launch_template = aws.ec2.LaunchTemplate(
            f"{name}",
            description=f"EKS managed node group {name} of {args.cluster_name}",
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"},
            block_device_mappings=[{"device_name": "/dev/xvda", "ebs": {
                "volume_size": args.disk_size_gib, "volume_type": "gp3", "encrypted": "true",
                "delete_on_termination": "true"}}],
            tag_specifications=[{"resource_type": kind, "tags": instance_tags} for kind in ("instance", "volume")],
            update_default_version=True,
            opts=child,
        )

        self.node_group = eks.ManagedNodeGroup(
            name,
            cluster=args.cluster,
            node_role=self.role,
            node_group_name_prefix=fit(name, NODE_GROUP_NAME_PREFIX_LIMIT, keep_end="-"),
            ami_type=ami_type(tuple(args.instance_types), args.gpu),
            version=args.kubernetes_version,  # with our launch template pulumi-eks would leave it unset
            capacity_type=args.capacity_type,
            instance_types=list(args.instance_types),
            labels=labels,
            taints=[{"key": t.key, "value": t.value, "effect": _EKS_TAINT_EFFECTS[t.effect]} for t in taints],
            launch_template={"id": launch_template.id, "version": launch_template.latest_version.apply(str)},
            scaling_config={"min_size": args.min_size, "max_size": args.max_size, "desired_size": args.desired_size},
            subnet_ids=args.subnet_ids,
            ignore_scaling_changes=True,
            tags=args.tags,
            opts=pulumi.ResourceOptions.merge(waits_like(self, opts, *attachments),
                                              pulumi.ResourceOptions(transforms=[rolling_update_transform])),
        )
        self._tag_auto_scaling_group(name, args.cluster_name, labels, taints,
                                    args.instance_types if args.gpu else ())
        self.register_outputs({"nodeGroupName": self.node_group.node_group.node_group_name,
                               "nodeRoleArn": self.role.arn})

    def _tag_auto_scaling_group(self, name: str, cluster_name: str, labels: dict[str, str],
                                taints: Sequence[Taint], gpu_instance_types: Sequence[str]) -> None:
        gpus = None
        if gpu_instance_types:
            counts = [
                aws.ec2.get_instance_type_output(instance_type=t, opts=pulumi.InvokeOutputOptions(parent=self))
                .gpuses.apply(lambda found: sum(g.count for g in found or []))
                for t in gpu_instance_types
            ]
            gpus = pulumi.Output.all(*counts).apply(min)
        asg_name = self.node_group.node_group.apply(
            lambda ng: ng.resources.apply(lambda r: r[0].autoscaling_groups[0].name))
        for key, value in autoscaler_tags(cluster_name, labels, taints, gpus).items():
            aws.autoscaling.Tag(
                f"{name}-asg-{key}", autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=pulumi.ResourceOptions(parent=self),
            )

"""Autoscaling: metrics-server (HPA, `kubectl top`) and the cluster-autoscaler.

The autoscaler discovers this cluster's node groups by their tags, may only resize auto scaling groups
tagged as owned by this cluster, runs the image of the cluster's Kubernetes minor version, and reads
the node-template tags so it can scale a group (the GPU group) up from zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.helm import Resources, release, resources_values, waits_like
from components.irsa import service_account_role

SERVICE_ACCOUNT = "cluster-autoscaler"
NAMESPACE = "kube-system"


@dataclass
class AutoscalingArgs:
    cluster_name: str
    region: str
    kubernetes_version: str
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    metrics_server_replicas: int = 1
    autoscaler_replicas: int = 1
    autoscaler_resources: Resources | None = None
    metrics_server_resources: Resources | None = None


def autoscaler_policy(cluster_name: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ResizeOwnGroups", "Effect": "Allow",
         "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
         "Resource": "*",
         "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        {"Sid": "Discover", "Effect": "Allow",
         "Action": ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions", "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup"],
         "Resource": "*"},
    ]})


def autoscaler_values(args: AutoscalingArgs, role_arn: str) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        "image": {"tag": f"v{args.kubernetes_version}.0"},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {"balance-similar-node-groups": True, "skip-nodes-with-system-pods": False,
                      "expander": "least-waste"},
        "resources": resources_values(args.autoscaler_resources),
        "replicaCount": args.autoscaler_replicas,  # one leads; the other takes over (leader election)
        "podDisruptionBudget": {"maxUnavailable": 1},
    }


def metrics_server_values(replicas: int, resources: Resources | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {"replicas": replicas, "resources": resources_values(resources)}
    if replicas > 1:
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
    return values


class Autoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:autoscaling:Autoscaling", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.metrics_server = release("metrics-server", "metrics-server", NAMESPACE,
                                      metrics_server_values(args.metrics_server_replicas, args.metrics_server_resources), timeout_seconds=300,
                                      opts=waits_like(self, opts))
        role = service_account_role(f"{name}-cluster-autoscaler", args.oidc_provider_arn, args.oidc_issuer_url,
                                    NAMESPACE, SERVICE_ACCOUNT, parent=self)
        access = aws.iam.RolePolicy(f"{name}-cluster-autoscaler", role=role.id,
                                    policy=autoscaler_policy(args.cluster_name), opts=child)
        self.cluster_autoscaler = release(
            "cluster-autoscaler", "cluster-autoscaler", NAMESPACE,
            role.arn.apply(lambda arn: autoscaler_values(args, arn)), timeout_seconds=300,
            opts=waits_like(self, opts, access),
        )
        self.register_outputs({"clusterAutoscalerRoleArn": role.arn})

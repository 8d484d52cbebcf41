"""Autoscaling: the cluster-autoscaler of an EKS cluster (metrics-server is `components.metrics_server`).

The autoscaler discovers this cluster's node groups by their tags, may only resize auto scaling groups
tagged as owned by this cluster, runs the image of the cluster's Kubernetes minor version, and reads
the node-template tags so it can scale a group (the GPU group) up from zero.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.helm import Resources, release, resources_values, waits_like
from components.capabilities import WorkloadIdentity

SERVICE_ACCOUNT = "cluster-autoscaler"
IDENTITY_ANNOTATION = "eks-platform.io/aws-identity"
NAMESPACE = "kube-system"


@dataclass
class AutoscalingArgs:
    cluster_name: str
    region: str
    kubernetes_version: str
    identity: WorkloadIdentity
    autoscaler_replicas: int = 1
    autoscaler_resources: Resources | None = None


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


def autoscaler_values(args: AutoscalingArgs) -> dict[str, Any]:
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        "image": {"tag": f"v{args.kubernetes_version}.0"},
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},  # EKS Pod Identity: no annotation
        "extraArgs": {"balance-similar-node-groups": True, "skip-nodes-with-system-pods": False,
                      "expander": "least-waste"},
        "resources": resources_values(args.autoscaler_resources),
        # A change of identity mechanism rolls the pods: the Pod Identity webhook injects credentials at creation only.
        "podAnnotations": {IDENTITY_ANNOTATION: "eks-pod-identity"},
        "replicaCount": args.autoscaler_replicas,  # one leads; the other takes over (leader election)
        "podDisruptionBudget": {"maxUnavailable": 1},
    }


class Autoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:autoscaling:Autoscaling", name, None, opts)
        binding = args.identity.bind(f"{name}-cluster-autoscaler", NAMESPACE, SERVICE_ACCOUNT, self,
                                     policy=autoscaler_policy(args.cluster_name))
        self.cluster_autoscaler = release(
            "cluster-autoscaler", "cluster-autoscaler", NAMESPACE, autoscaler_values(args), timeout_seconds=300,
            opts=waits_like(self, opts, *binding.ready),
        )
        self.register_outputs({"serviceAccount": f"{NAMESPACE}/{SERVICE_ACCOUNT}"})

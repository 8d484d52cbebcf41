"""LoadBalancerController: the AWS Load Balancer Controller, which creates and deletes the platform's
load balancers (the ingress NLB, or the Gateway's) from Kubernetes Services it reconciles.

Its IAM policy is the one AWS publishes for the pinned version (`components/policies/`), attached to a
role that only its service account gets, through EKS Pod Identity. It runs two replicas with a disruption
budget (its webhooks fail closed, so one pod is never enough), keeps its webhook certificate across
upgrades, tags every load balancer it makes with the stack's tags, and leaves Services that do not ask
for it alone (no Service mutator webhook). A release that creates a LoadBalancer Service or a Gateway
waits for this one: its controller and webhooks must be serving first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.helm import Resources, release, resources_values, waits_like
from components.pod_identity import pod_identity_role

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "aws-load-balancer-controller"
LOAD_BALANCER_CLASS = "service.k8s.aws/nlb"
IAM_POLICY = Path(__file__).parent / "policies" / "aws-load-balancer-controller.json"


@dataclass
class LoadBalancerControllerArgs:
    cluster_name: pulumi.Input[str]
    region: str
    vpc_id: pulumi.Input[str]
    tags: dict[str, str] = field(default_factory=dict)
    replicas: int = 2
    resources: Resources | None = None


def load_balancer_annotations(scheme: str, certificate_arn: str | None, tls_port: str) -> dict[str, str]:
    """The Service annotations that make the controller build an NLB: IP targets (straight to the pods),
    the client address kept, cross-zone, and with a certificate TLS ended at the NLB on `tls_port`."""
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    annotations = {
        f"{prefix}-type": "external",
        f"{prefix}-nlb-target-type": "ip",
        f"{prefix}-scheme": scheme,
        f"{prefix}-attributes": "load_balancing.cross_zone.enabled=true",
        f"{prefix}-target-group-attributes": "preserve_client_ip.enabled=true",
    }
    if certificate_arn:
        annotations.update({f"{prefix}-ssl-cert": certificate_arn, f"{prefix}-ssl-ports": tls_port,
                            f"{prefix}-backend-protocol": "tcp"})
    return annotations


class Nlb:
    """`components.capabilities.LoadBalancers`: Services of this class become NLBs the controller owns."""

    load_balancer_class = LOAD_BALANCER_CLASS

    def annotations(self, scheme: str, certificate_arn: str | None, tls_port: str) -> dict[str, str]:
        return load_balancer_annotations(scheme, certificate_arn, tls_port)


def iam_policy() -> str:
    """AWS's policy for the pinned controller version, minified (IAM counts characters without whitespace)."""
    return json.dumps(json.loads(IAM_POLICY.read_text()), separators=(",", ":"))


def controller_values(args: LoadBalancerControllerArgs, cluster_name: str, vpc_id: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "clusterName": cluster_name,
        "region": args.region,
        "vpcId": vpc_id,
        "replicaCount": args.replicas,
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
        "defaultTags": dict(args.tags),
        "enableServiceMutatorWebhook": False,
        "keepTLSSecret": True,
        "createIngressClassResource": False,
        "resources": resources_values(args.resources),
    }
    if args.replicas > 1:
        values["podDisruptionBudget"] = {"maxUnavailable": 1}
    return values


class LoadBalancerController(pulumi.ComponentResource):
    release: pulumi.Resource

    def __init__(self, name: str, args: LoadBalancerControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:edge:LoadBalancerController", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = pod_identity_role(f"{name}-load-balancer-controller", args.cluster_name, NAMESPACE,
                                     SERVICE_ACCOUNT, self)
        policy = aws.iam.Policy(f"{name}-load-balancer-controller", policy=iam_policy(),
                                description="AWS Load Balancer Controller v3.5.0 (as AWS publishes it)", opts=child)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-load-balancer-controller", role=identity.role.name,
                                                  policy_arn=policy.arn, opts=child)
        values = pulumi.Output.all(args.cluster_name, args.vpc_id).apply(
            lambda a: controller_values(args, a[0], a[1]))
        self.release = release("aws-load-balancer-controller", "aws-load-balancer-controller", NAMESPACE, values,
                               timeout_seconds=600, opts=waits_like(self, opts, attachment, identity.association))
        self.register_outputs({"roleArn": identity.role.arn})

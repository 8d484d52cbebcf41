"""IAM roles for Kubernetes service accounts through EKS Pod Identity: the role trusts only the EKS Pod
Identity service of this account (`aws:SourceAccount`, against the confused deputy) for one cluster, namespace
and service account (the session tags Pod Identity sets: `eks-cluster-name`, `kubernetes-namespace`,
`kubernetes-service-account`), and one association hands it to that service account (no keys, no OIDC)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import iam_name_prefix


def pod_identity_trust(account: str, cluster_name: str, namespace: str, service_account: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                       "Action": ["sts:AssumeRole", "sts:TagSession"],
                       "Condition": {"StringEquals": {
                           "aws:SourceAccount": account, "aws:RequestTag/eks-cluster-name": cluster_name,
                           "aws:RequestTag/kubernetes-namespace": namespace,
                           "aws:RequestTag/kubernetes-service-account": service_account}}}],
    })


@dataclass
class PodIdentity:
    role: aws.iam.Role
    association: aws.eks.PodIdentityAssociation


def pod_identity_role(name: str, cluster_name: pulumi.Input[str], namespace: str, service_account: str,
                      parent: pulumi.Resource, tags: dict[str, str] | None = None) -> PodIdentity:
    """A role named `name` (its policies are the caller's to attach) and its association to
    `namespace/service_account`, both children of `parent`."""
    child = pulumi.ResourceOptions(parent=parent)
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    trust = pulumi.Output.all(aws.get_caller_identity_output(opts=invoke).account_id, cluster_name).apply(
        lambda a: pod_identity_trust(a[0], a[1], namespace, service_account))
    role = aws.iam.Role(name, name_prefix=iam_name_prefix(name), assume_role_policy=trust, tags=tags, opts=child)
    association = aws.eks.PodIdentityAssociation(name, cluster_name=cluster_name, namespace=namespace,
                                                  service_account=service_account, role_arn=role.arn, opts=child)
    return PodIdentity(role, association)

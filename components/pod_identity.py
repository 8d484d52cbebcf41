"""IAM roles for Kubernetes service accounts through EKS Pod Identity: the role trusts only the EKS Pod
Identity service, and one association hands it to exactly one service account (no keys, no OIDC)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.naming import iam_name_prefix

POD_IDENTITY_TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                   "Action": ["sts:AssumeRole", "sts:TagSession"]}],
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
    role = aws.iam.Role(name, name_prefix=iam_name_prefix(name), assume_role_policy=POD_IDENTITY_TRUST,
                        tags=tags, opts=child)
    association = aws.eks.PodIdentityAssociation(name, cluster_name=cluster_name, namespace=namespace,
                                                  service_account=service_account, role_arn=role.arn, opts=child)
    return PodIdentity(role, association)

"""IAM roles for Kubernetes service accounts through EKS Pod Identity: the role trusts only the EKS Pod
Identity service of this account (`aws:SourceAccount`, against the confused deputy) for one cluster, namespace
and service account (the session tags Pod Identity sets: `eks-cluster-name`, `kubernetes-namespace`,
`kubernetes-service-account`), and one association hands it to that service account (no keys, no OIDC)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.capabilities import Binding
from components.irsa import service_account_role
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


def pod_identity_trusted_role(name: str, cluster_name: pulumi.Input[str], namespace: str, service_account: str,
                              parent: pulumi.Resource, tags: dict[str, str] | None = None) -> aws.iam.Role:
    """A role only EKS Pod Identity may hand to `namespace/service_account` of the cluster (for an add-on whose
    own `pod_identity_associations` makes the association)."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    trust = pulumi.Output.all(aws.get_caller_identity_output(opts=invoke).account_id, cluster_name).apply(
        lambda a: pod_identity_trust(a[0], a[1], namespace, service_account))
    return aws.iam.Role(name, name_prefix=iam_name_prefix(name), assume_role_policy=trust, tags=tags,
                        opts=pulumi.ResourceOptions(parent=parent))


def pod_identity_role(name: str, cluster_name: pulumi.Input[str], namespace: str, service_account: str,
                      parent: pulumi.Resource, tags: dict[str, str] | None = None) -> PodIdentity:
    """A role named `name` (its policies are the caller's to attach) and its association to
    `namespace/service_account`, both children of `parent`."""
    role = pod_identity_trusted_role(name, cluster_name, namespace, service_account, parent, tags)
    association = aws.eks.PodIdentityAssociation(name, cluster_name=cluster_name, namespace=namespace,
                                                  service_account=service_account, role_arn=role.arn,
                                                  opts=pulumi.ResourceOptions(parent=parent))
    return PodIdentity(role, association)


class EksWorkloadIdentity:
    """`components.capabilities.WorkloadIdentity` on EKS: EKS Pod Identity, or IRSA (the cluster's OIDC
    provider) for a workload whose SDK ignores Pod Identity's credentials."""

    def __init__(self, cluster_name: pulumi.Input[str], oidc_provider_arn: pulumi.Input[str],
                 oidc_issuer_url: pulumi.Input[str]):
        self._cluster_name = cluster_name
        self._oidc = (oidc_provider_arn, oidc_issuer_url)

    def bind(self, name: str, namespace: str, service_account: str, parent: pulumi.Resource, *,
             policy: pulumi.Input[str] | None = None, policy_arns: Sequence[str] = (),
             tags: Mapping[str, str] | None = None, web_identity: bool = False) -> Binding:
        child = pulumi.ResourceOptions(parent=parent)
        annotations: dict[str, pulumi.Input[str]] = {}
        ready: list[pulumi.Resource] = []
        if web_identity:
            role = service_account_role(name, *self._oidc, namespace, service_account, parent=parent)
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        else:
            identity = pod_identity_role(name, self._cluster_name, namespace, service_account, parent,
                                         tags=dict(tags) if tags else None)
            role = identity.role
            ready.append(identity.association)
        if policy is not None:
            ready.append(aws.iam.RolePolicy(name, role=role.id, policy=policy, opts=child))
        for arn in policy_arns:
            ready.append(aws.iam.RolePolicyAttachment(f"{name}-{arn.rsplit('/', 1)[1]}", role=role.name,
                                                      policy_arn=arn, opts=child))
        return Binding(annotations, ready)

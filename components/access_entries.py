"""EKS access for a team's people: one access entry per IAM role of the team, in the tenants' group and the
team's own (`components.tenancy.team_group`), with the EKS edit policy scoped to the team's namespaces."""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_aws as aws

from components.admission import TENANT_GROUP
from components.tenancy import team_group

EDIT_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"


class AccessEntries:
    """`components.capabilities.TeamAccess` on EKS. The entries are children of the team's component."""

    def __init__(self, cluster_name: pulumi.Input[str]):
        self._cluster_name = cluster_name

    def group(self, team: str) -> str:
        return team_group(team)

    def grant(self, team: str, namespaces: Sequence[str], role_arns: Sequence[str], parent: pulumi.Resource,
              after: Sequence[pulumi.Resource]) -> None:
        for arn in role_arns:
            role = arn.rsplit("/", 1)[1]
            entry = aws.eks.AccessEntry(f"{team}-access-{role}", cluster_name=self._cluster_name, principal_arn=arn,
                                        type="STANDARD", kubernetes_groups=[TENANT_GROUP, team_group(team)],
                                        opts=pulumi.ResourceOptions(parent=parent))
            aws.eks.AccessPolicyAssociation(
                f"{team}-access-{role}", cluster_name=self._cluster_name, principal_arn=entry.principal_arn,
                policy_arn=EDIT_POLICY, access_scope={"type": "namespace", "namespaces": list(namespaces)},
                opts=pulumi.ResourceOptions(parent=parent),
            )

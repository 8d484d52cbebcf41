"""The permissions boundary on every IAM role of a stack, as a transform on the components' options.

A transform reaches every role below the resource it is given to, the roles that `pulumi_eks` creates inside
its remote components included, so no role can be created without the boundary (the deploy role's own
boundary refuses such a role: a missed one would fail the deploy, not open a hole).
"""

from __future__ import annotations

import pulumi

ROLE = "aws:iam/role:Role"


def permissions_boundary(policy_arn: str) -> pulumi.ResourceTransform:
    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if args.type_ != ROLE:
            return None
        return pulumi.ResourceTransformResult(props={**args.props, "permissionsBoundary": policy_arn}, opts=args.opts)
    return transform

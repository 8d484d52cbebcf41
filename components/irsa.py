"""IAM roles for Kubernetes service accounts (IRSA): trusted by exactly one service account."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.naming import iam_name_prefix


def trust_policy(oidc_provider_arn: str, issuer_url: str, namespace: str, service_account: str) -> str:
    issuer = issuer_url.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": oidc_provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{issuer}:aud": "sts.amazonaws.com",
            }},
        }],
    })


def service_account_role(name: str, oidc_provider_arn: pulumi.Input[str], issuer_url: pulumi.Input[str],
                         namespace: str, service_account: str, parent: pulumi.Resource) -> aws.iam.Role:
    return aws.iam.Role(
        name,
        name_prefix=iam_name_prefix(name),
        assume_role_policy=pulumi.Output.all(oidc_provider_arn, issuer_url).apply(
            lambda a: trust_policy(a[0], a[1], namespace, service_account)),
        opts=pulumi.ResourceOptions(parent=parent),
    )

"""The CI identities `ops bootstrap --github-repo OWNER/REPO` creates, idempotently.

GitHub's OIDC provider in the account; per stack a deploy role that only a job of that repository
running in the GitHub environment of the stack's name can assume; one preview role that only the
repository's pull-request jobs and the main branch's preview jobs (before approval) can assume. Each role
may touch only its own stack's state (the preview role: read every stack's, write only locks) and
use the secrets key only as far as it must.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

GITHUB_ISSUER = "token.actions.githubusercontent.com"
GITHUB_THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
PROJECT = "eks-platform"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
# What `pulumi up` needs to create the platform: VPCs, EKS, IAM roles and policies, KMS keys, S3, Route53.
DEPLOY_INFRASTRUCTURE_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass
class Identities:
    provider_arn: str = ""
    deploy_roles: dict[str, str] = field(default_factory=dict)
    preview_role: str = ""
    changes: list[str] = field(default_factory=list)


def deploy_role_name(stack: str) -> str:
    return f"{PROJECT}-deploy-{stack}"


PREVIEW_ROLE = f"{PROJECT}-preview"


def github_trust(provider_arn: str, subjects: list[str]) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": "sts.amazonaws.com",
                                       f"{GITHUB_ISSUER}:sub": subjects[0] if len(subjects) == 1 else subjects}},
    }]}


def state_policy(bucket: str, key_arn: str, stack: str | None) -> dict:
    """Access to the Pulumi state store: one stack's files (deploy), or every stack's for reading and
    the lock files for writing (preview, `stack=None`). The bucket is encrypted with the secrets key."""
    objects = f"arn:aws:s3:::{bucket}/.pulumi"
    if stack:
        writable = [f"{objects}/{kind}/{PROJECT}/{stack}{suffix}"
                    for kind, suffix in (("stacks", ".json*"), ("history", "/*"), ("backups", "/*"), ("locks", "/*"))]
        readable, key_actions = [f"{objects}/meta.yaml", *writable], ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]
    else:
        writable = [f"{objects}/locks/{PROJECT}/*"]
        readable = [f"{objects}/meta.yaml", f"{objects}/stacks/{PROJECT}/*", f"{objects}/history/{PROJECT}/*", *writable]
        key_actions = ["kms:Decrypt", "kms:GenerateDataKey"]  # read secrets; write lock objects to the SSE-KMS bucket
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ListState", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [".pulumi/*"]}}},
        {"Sid": "ReadState", "Effect": "Allow", "Action": "s3:GetObject", "Resource": readable},
        {"Sid": "WriteState", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": writable},
        {"Sid": "SecretsKey", "Effect": "Allow", "Action": key_actions, "Resource": key_arn},
    ]}


def _ensure_provider(iam, result: Identities) -> None:
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if provider["Arn"].endswith(f"oidc-provider/{GITHUB_ISSUER}"):
            result.provider_arn = provider["Arn"]
            return
    result.provider_arn = iam.create_open_id_connect_provider(
        Url=f"https://{GITHUB_ISSUER}", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=GITHUB_THUMBPRINTS)["OpenIDConnectProviderArn"]
    result.changes.append(f"created the GitHub OIDC provider {result.provider_arn}")


def _ensure_role(iam, name: str, trust: dict, managed: str, inline: dict, result: Identities) -> str:
    try:
        role = iam.get_role(RoleName=name)["Role"]
        if role["AssumeRolePolicyDocument"] != trust:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            result.changes.append(f"reset the trust policy of {name}")
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=3600,
                               Description=f"{PROJECT} CI: {name}")["Role"]
        result.changes.append(f"created role {name}")
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    if managed not in attached:
        iam.attach_role_policy(RoleName=name, PolicyArn=managed)
        result.changes.append(f"attached {managed.rsplit('/', 1)[1]} to {name}")
    try:
        current = iam.get_role_policy(RoleName=name, PolicyName="pulumi-state")["PolicyDocument"]
    except ClientError:
        current = None
    if current != inline:
        iam.put_role_policy(RoleName=name, PolicyName="pulumi-state", PolicyDocument=json.dumps(inline))
        result.changes.append(f"set the state-store policy of {name}")
    return role["Arn"]


def ensure(session, repo: str, stacks: list[str], bucket: str, key_arn: str,
           deploy_policy_arn: str = DEPLOY_INFRASTRUCTURE_POLICY) -> Identities:
    iam = session.client("iam")
    result = Identities()
    _ensure_provider(iam, result)
    for stack in stacks:
        trust = github_trust(result.provider_arn, [f"repo:{repo}:environment:{stack}"])
        result.deploy_roles[stack] = _ensure_role(iam, deploy_role_name(stack), trust, deploy_policy_arn,
                                                  state_policy(bucket, key_arn, stack), result)
    trust = github_trust(result.provider_arn, [f"repo:{repo}:pull_request", f"repo:{repo}:ref:refs/heads/main"])
    result.preview_role = _ensure_role(iam, PREVIEW_ROLE, trust, READ_ONLY, state_policy(bucket, key_arn, None),
                                       result)
    return result

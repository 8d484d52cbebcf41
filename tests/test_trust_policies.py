"""The CI identities' policies, tried as an attacker would: GitHub tokens of other jobs against the trust
policies, another stack's resources against a deploy role's boundary, data reads against the preview role,
and the roles a key policy lets decrypt. Evaluated with `tests.iam_policy` (IAM's documented logic)."""

from __future__ import annotations

import pytest

from ops import identities
from stacks import trust
from tests.iam_policy import Request, allowed, decision

REPO, ACCOUNT, BUCKET, REGION = "acme/platform", "111122223333", "eks-platform-state-111122223333-us-east-1", "us-east-1"
PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{trust.GITHUB_ISSUER}"
STATE_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/state"
DEV = identities.StackIdentity("dev", "dev", ACCOUNT, REGION, (f"arn:aws:iam::{ACCOUNT}:role/platform-admin",))
PROD = identities.StackIdentity("prod", "prod", ACCOUNT, REGION)


def token(context: str, workflow: str, ref: str, repo: str = REPO) -> Request:
    """An AssumeRoleWithWebIdentity request with a GitHub token whose subject follows the repository template."""
    sub = f"repo:{repo}:{context}:job_workflow_ref:{repo}/.github/workflows/{workflow}@{ref}"
    return Request("sts:AssumeRoleWithWebIdentity", context={f"{trust.GITHUB_ISSUER}:aud": "sts.amazonaws.com",
                                                             f"{trust.GITHUB_ISSUER}:sub": sub})


DEPLOY_TRUST = identities.github_trust(PROVIDER, trust.deploy_subjects(REPO, "prod"))


@pytest.mark.parametrize("workflow", trust.DEPLOY_WORKFLOWS)
def test_a_deploy_role_trusts_its_environment_in_a_deploy_workflow_on_main(workflow):
    assert decision(DEPLOY_TRUST, token("environment:prod", workflow, "refs/heads/main")) == "allow"


@pytest.mark.parametrize("attempt", [
    token("environment:prod", "pulumi-up.yml", "refs/heads/attacker"),       # a pushed branch's copy of the workflow
    token("environment:prod", "pull-request.yml", "refs/pull/7/merge"),      # a pull request declaring the env
    token("environment:prod", "pulumi-up.yml", "refs/pull/7/merge"),         # ...calling the deploy workflow
    token("pull_request", "pulumi-up.yml", "refs/pull/7/merge"),             # a pull request's own workflow
    token("environment:prod", "evil.yml", "refs/heads/main"),                # another workflow on main
    token("environment:dev", "pulumi-up.yml", "refs/heads/main"),            # another stack's environment
    token("ref:refs/heads/main", "pulumi-up.yml", "refs/heads/main"),        # main without the environment
    token("environment:prod", "pulumi-up.yml", "refs/heads/main", "acme/fork"),  # another repository
    token("environment:prod", "pulumi-up.yml", "refs/tags/v1"),              # a tag
])
def test_a_deploy_role_refuses_every_other_job(attempt):
    assert decision(DEPLOY_TRUST, attempt) == "implicit"


def test_the_audience_must_be_aws():
    request = token("environment:prod", "pulumi-up.yml", "refs/heads/main")
    request.context[f"{trust.GITHUB_ISSUER}:aud"] = "https://github.com/acme"
    assert decision(DEPLOY_TRUST, request) == "implicit"


def test_the_automatic_preview_role_trusts_pull_requests_and_mains_preview_but_no_environment():
    policy = identities.github_trust(PROVIDER, trust.automatic_preview_subjects(REPO))
    assert decision(policy, token("pull_request", "pull-request.yml", "refs/pull/12/merge")) == "allow"
    assert decision(policy, token("ref:refs/heads/main", "pulumi-up.yml", "refs/heads/main")) == "allow"
    assert decision(policy, token("environment:prod-preview", "pull-request.yml", "refs/pull/12/merge")) == "implicit"
    assert decision(policy, token("ref:refs/heads/feature", "pulumi-up.yml", "refs/heads/feature")) == "implicit"


def test_a_prod_preview_role_trusts_only_its_approved_preview_environment():
    policy = identities.github_trust(PROVIDER, trust.approved_preview_subjects(REPO, "prod"))
    assert decision(policy, token("environment:prod-preview", "pull-request.yml", "refs/pull/3/merge")) == "allow"
    assert decision(policy, token("environment:prod-preview", "pulumi-up.yml", "refs/heads/main")) == "allow"
    assert decision(policy, token("pull_request", "pull-request.yml", "refs/pull/3/merge")) == "implicit"
    assert decision(policy, token("environment:dev-preview", "pull-request.yml", "refs/pull/3/merge")) == "implicit"


DEV_BOUNDARY = identities.boundary_policy(DEV, BUCKET, STATE_KEY)
DEPLOY = [identities.deploy_policy(), identities.state_policy(BUCKET, REGION, STATE_KEY, "dev", ())]
OWN, OTHER = trust.boundary_arn(ACCOUNT, "dev"), trust.boundary_arn(ACCOUNT, "prod")


def dev_deploy(request: Request) -> bool:
    return allowed(request, *DEPLOY, boundary=DEV_BOUNDARY)


def tagged(stack: str) -> dict:
    return {"aws:ResourceTag/stack": stack}


STATE = f"arn:aws:s3:::{BUCKET}/.pulumi"
CROSS_STACK = {
    "read prod's state": Request("s3:GetObject", f"{STATE}/stacks/eks-platform/prod.json"),
    "overwrite prod's state": Request("s3:PutObject", f"{STATE}/stacks/eks-platform/prod.json"),
    "take prod's lock": Request("s3:PutObject", f"{STATE}/locks/eks-platform/prod/lock.json"),
    "change the state bucket's policy": Request("s3:PutBucketPolicy", f"arn:aws:s3:::{BUCKET}"),
    "delete prod's cluster": Request("eks:DeleteCluster", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/acme-prod",
                                     tagged("prod")),
    "stop prod's nodes": Request("ec2:TerminateInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1", tagged("prod")),
    "decrypt with prod's key": Request("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/prod", tagged("prod")),
    "rewrite prod's key policy": Request("kms:PutKeyPolicy", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/prod", tagged("prod")),
    "administer the state key": Request("kms:ScheduleKeyDeletion", STATE_KEY),
    "create a VPC tagged as prod's": Request("ec2:CreateVpc", "*", {"aws:RequestTag/stack": "prod"}),
    "create a role without a boundary": Request("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/escape"),
    "create a role under prod's boundary": Request("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/escape",
                                                   {"iam:PermissionsBoundary": OTHER}),
    "remove its boundary": Request("iam:DeleteRolePermissionsBoundary", f"arn:aws:iam::{ACCOUNT}:role/acme-dev-x"),
    "widen its boundary": Request("iam:CreatePolicyVersion", OWN),
    "attach admin to an unbounded role": Request("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/admin"),
    "attach admin to a prod role": Request("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/acme-prod-x",
                                           {"iam:PermissionsBoundary": OTHER, **tagged("prod")}),
    "trust itself from prod's deploy role": Request("iam:UpdateAssumeRolePolicy",
                                                     f"arn:aws:iam::{ACCOUNT}:role/eks-platform-deploy-prod"),
    "attach admin to its own deploy role": Request("iam:AttachRolePolicy",
                                                    f"arn:aws:iam::{ACCOUNT}:role/eks-platform-deploy-dev",
                                                    {"iam:PermissionsBoundary": OWN, **tagged("dev")}),
    "delete the GitHub OIDC provider": Request("iam:DeleteOpenIDConnectProvider", PROVIDER),
    "pass an untagged admin role to EC2": Request("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/admin"),
    "pass prod's node role": Request("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/acme-prod-node", tagged("prod")),
    "assume an admin role": Request("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/OrganizationAccountAccessRole"),
    "create a user": Request("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/backdoor"),
    "give a group admin": Request("iam:AttachGroupPolicy", f"arn:aws:iam::{ACCOUNT}:group/admins"),
    "read an SSM secret": Request("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/prod/db-password"),
    "leave the organization": Request("organizations:LeaveOrganization"),
}
OWN_STACK = {
    "read its state": Request("s3:GetObject", f"{STATE}/stacks/eks-platform/dev.json"),
    "write its state": Request("s3:PutObject", f"{STATE}/stacks/eks-platform/dev.json"),
    "write its history": Request("s3:PutObject", f"{STATE}/history/eks-platform/dev/dev-1.history.json"),
    "list the stacks": Request("s3:ListBucket", f"arn:aws:s3:::{BUCKET}"),
    "write its Loki bucket": Request("s3:PutObject", "arn:aws:s3:::acme-dev-loki-111122223333-us-east-1/x"),
    "create its VPC": Request("ec2:CreateVpc", "*", {"aws:RequestTag/stack": "dev"}),
    "replace its nodes": Request("ec2:TerminateInstances", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-2", tagged("dev")),
    "create its roles with the boundary": Request("iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/acme-dev-node-1",
                                                  {"iam:PermissionsBoundary": OWN, "aws:RequestTag/stack": "dev"}),
    "attach a policy to its role": Request("iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/acme-dev-node-1",
                                           {"iam:PermissionsBoundary": OWN, **tagged("dev")}),
    "pass its node role": Request("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/acme-dev-node-1", tagged("dev")),
    "delete its cluster": Request("eks:DeleteCluster", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/acme-dev", tagged("dev")),
    "create a KMS key": Request("kms:CreateKey", "*", {"aws:RequestTag/stack": "dev"}),
    "read the EKS AMI parameters": Request("ssm:GetParameter",
                                           f"arn:aws:ssm:{REGION}::parameter/aws/service/eks/optimized-ami/x"),
    "read its state through S3": Request("kms:Decrypt", STATE_KEY, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}),
}


@pytest.mark.parametrize("attempt", CROSS_STACK, ids=list(CROSS_STACK))
def test_the_dev_deploy_role_cannot_reach_another_stack_or_lift_its_boundary(attempt):
    assert not dev_deploy(CROSS_STACK[attempt])


@pytest.mark.parametrize("action", OWN_STACK, ids=list(OWN_STACK))
def test_the_dev_deploy_role_can_do_what_a_deploy_of_dev_does(action):
    assert dev_deploy(OWN_STACK[action])


def test_the_boundary_names_its_own_arn_and_the_stack_in_its_conditions():
    statements = {s["Sid"]: s for s in DEV_BOUNDARY["Statement"]}
    assert statements["DenyRoleWithoutThisBoundary"]["Condition"] == {
        "StringNotEquals": {"iam:PermissionsBoundary": OWN}}
    assert statements["DenyOtherStacksResources"]["Condition"]["StringNotEquals"] == {"aws:ResourceTag/stack": "dev"}
    assert statements["OwnState"]["Resource"] == [f"{STATE}/stacks/eks-platform/dev.json*",
                                                  f"{STATE}/history/eks-platform/dev/*",
                                                  f"{STATE}/backups/eks-platform/dev/*",
                                                  f"{STATE}/locks/eks-platform/dev/*"]


PREVIEW = [identities.preview_policy(), identities.state_policy(BUCKET, REGION, STATE_KEY, None, ["dev", "staging"])]
DATA_READS = [
    Request("s3:GetObject", "arn:aws:s3:::acme-dev-loki-111122223333-us-east-1/chunks/x"),
    Request("s3:GetObject", f"{STATE}/stacks/eks-platform/prod.json"),
    Request("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"),
    Request("ssm:GetParametersByPath", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/x"),
    Request("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:x"),
    Request("logs:GetLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/eks/acme-dev/cluster"),
    Request("logs:FilterLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/eks/acme-dev/cluster"),
    Request("logs:StartQuery", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:x"),
    Request("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/x"),
    Request("sqs:ReceiveMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:x"),
    Request("kms:Decrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/prod"),
    Request("kms:Decrypt", STATE_KEY),  # the state key, but not through S3
    Request("ec2:GetPasswordData", f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1"),
    Request("s3:PutObject", f"{STATE}/stacks/eks-platform/dev.json"),
]


@pytest.mark.parametrize("request_", DATA_READS, ids=[f"{r.action} {r.resource.rsplit(':', 1)[-1]}" for r in DATA_READS])
def test_the_preview_role_reads_no_data(request_):
    assert not allowed(request_, *PREVIEW)


def test_the_preview_role_reads_what_a_preview_refreshes_and_takes_locks():
    for action in ("ec2:DescribeVpcs", "eks:DescribeCluster", "eks:ListAccessEntries", "iam:GetRole",
                   "kms:DescribeKey", "route53:ListResourceRecordSets", "s3:GetBucketPolicy"):
        assert allowed(Request(action, "*"), *PREVIEW), action
    assert allowed(Request("s3:GetObject", f"{STATE}/stacks/eks-platform/staging.json"), *PREVIEW)
    assert allowed(Request("s3:PutObject", f"{STATE}/locks/eks-platform/dev/x.json"), *PREVIEW)
    assert not any(a.endswith(":*") or a in ("s3:GetObject", "s3:Get*") for a in identities.PREVIEW_READS)


def _can_decrypt(policy: dict, principal: str) -> bool:
    return decision(policy, Request("kms:Decrypt", "*", principal=principal)) == "allow"


def test_each_secrets_key_decrypts_for_its_own_stack_only():
    automatic = trust.role_arn(ACCOUNT, trust.AUTOMATIC_PREVIEW_ROLE)
    approved = trust.role_arn(ACCOUNT, "eks-platform-preview-prod")
    prod_key = identities.secrets_key_policy(PROD, approved)
    dev_key = identities.secrets_key_policy(DEV, automatic)
    assert _can_decrypt(prod_key, PROD.deploy_role_arn) and _can_decrypt(prod_key, approved)
    assert not _can_decrypt(prod_key, automatic) and not _can_decrypt(prod_key, DEV.deploy_role_arn)
    assert _can_decrypt(dev_key, automatic) and _can_decrypt(dev_key, DEV.admin_role_arns[0])
    assert not _can_decrypt(dev_key, PROD.deploy_role_arn)
    root = f"arn:aws:iam::{ACCOUNT}:root"  # no IAM policy of the account can grant a decrypt
    assert not _can_decrypt(prod_key, root)
    assert decision(prod_key, Request("kms:PutKeyPolicy", "*", principal=root)) == "allow"
    assert decision(prod_key, Request("kms:Encrypt", "*", principal=approved)) == "implicit"

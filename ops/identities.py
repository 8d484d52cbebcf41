"""The CI identities `ops bootstrap --github-repo OWNER/REPO` creates in one account, idempotently.

Per account: GitHub's OIDC provider, and (when the account holds a stack whose previews run unreviewed) the
automatic preview role. Per stack: a permissions boundary, a deploy role that only the deploy workflows on
main in the stack's GitHub environment can assume, and for an environment whose previews need approval, a
preview role of its own trusted only from the `<stack>-preview` GitHub environment. Subjects are in
`stacks.trust`; every policy document is a pure function here, so tests evaluate them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from botocore.exceptions import ClientError

from stacks import trust

GITHUB_THUMBPRINTS = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
DEPLOY_POLICY = f"{trust.PROJECT}-deploy"
PREVIEW_POLICY = f"{trust.PROJECT}-preview-read"
STATE_POLICY = "pulumi-state"
# What `pulumi up` of the program, and the ops commands a deploy runs, call: the AWS services it manages.
DEPLOY_SERVICES = ("acm", "autoscaling", "codebuild", "ec2", "eks", "elasticloadbalancing", "iam", "kms", "logs",
                   "route53", "s3")
# What a preview reads (the program's lookups, the providers' reads): descriptions and configuration, never
# data: no s3:GetObject outside the state, no SSM or Secrets Manager values, no log events, no kms:Decrypt.
PREVIEW_READS = (
    "acm:DescribeCertificate", "acm:ListCertificates", "acm:ListTagsForCertificate",
    "autoscaling:Describe*",
    "codebuild:BatchGetProjects", "codebuild:ListProjects",
    "ec2:Describe*", "ec2:GetManagedPrefixListEntries",
    "eks:Describe*", "eks:List*",
    "elasticloadbalancing:Describe*",
    "iam:GetOpenIDConnectProvider", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies", "iam:ListOpenIDConnectProviders", "iam:ListRolePolicies", "iam:ListRoleTags",
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases", "kms:ListResourceTags",
    "logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup",
    "route53:GetHostedZone", "route53:ListHostedZones", "route53:ListHostedZonesByName",
    "route53:ListResourceRecordSets", "route53:ListTagsForResource", "route53:GetChange",
    "s3:GetBucketLocation", "s3:GetBucketOwnershipControls", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock",
    "s3:GetBucketTagging", "s3:GetBucketVersioning", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
    "s3:ListAllMyBuckets",
)
KEY_ADMINISTRATION = ("kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
                      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
                      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion")
SECRETS_USE = ("kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey")
SECRETS_READ = ("kms:Decrypt", "kms:DescribeKey")
IAM_BOUNDED_ACTIONS = ("iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy")
# The platform manages no users or groups: a role that could would lift a human's rights past any boundary.
IAM_PEOPLE_ACTIONS = ("iam:*User*", "iam:*Group*", "iam:*LoginProfile*", "iam:*AccessKey*")


@dataclass(frozen=True)
class StackIdentity:
    """What bootstrap needs to know of one stack (from its stack file)."""

    name: str
    environment: str
    account: str
    region: str
    admin_role_arns: tuple[str, ...] = ()
    boundary_arn: str | None = None  # the stack file's own `ci.permissionsBoundaryArn`

    @property
    def partition(self) -> str:
        return trust.partition(self.region)

    @property
    def deploy_role_arn(self) -> str:
        return trust.deploy_role_arn(self.account, self.name, self.region)

    @property
    def approved_previews(self) -> bool:
        return self.environment in trust.APPROVED_PREVIEWS


@dataclass
class Identities:
    provider_arn: str = ""
    deploy_roles: dict[str, str] = field(default_factory=dict)
    preview_roles: dict[str, str] = field(default_factory=dict)
    boundaries: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)


def _document(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def github_trust(provider_arn: str, subjects: Sequence[str]) -> dict:
    """Trusted: GitHub's OIDC tokens for AWS whose subject is one of `subjects` (`*` matches a pull request's
    number). Every subject names the workflow file and its ref, through the repository's subject template."""
    audience, subject = {f"{trust.GITHUB_ISSUER}:aud": "sts.amazonaws.com"}, {f"{trust.GITHUB_ISSUER}:sub": list(subjects)}
    condition = {"StringEquals": audience, "StringLike": subject} if any("*" in s for s in subjects) else \
        {"StringEquals": {**audience, **subject}}
    return _document({
        "Effect": "Allow", "Principal": {"Federated": provider_arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition,
    })


def _state_objects(bucket: str, stack: str) -> list[str]:
    objects = f"arn:aws:s3:::{bucket}/.pulumi"
    return [f"{objects}/{kind}/{trust.PROJECT}/{stack}{suffix}"
            for kind, suffix in (("stacks", ".json*"), ("history", "/*"), ("backups", "/*"), ("locks", "/*"))]


def state_policy(bucket: str, region: str, state_key_arn: str, writable: str | None, readable: Iterable[str]) -> dict:
    """The Pulumi state store: list it; read `readable` stacks' files; write the `writable` stack's files, or
    (previews, `writable=None`) only lock files; the bucket's own KMS key, through S3 only."""
    objects = f"arn:aws:s3:::{bucket}/.pulumi"
    stacks = sorted(set(readable) | ({writable} if writable else set()))
    read = [f"{objects}/meta.yaml", *(path for stack in stacks for path in _state_objects(bucket, stack))]
    write = _state_objects(bucket, writable) if writable else [f"{objects}/locks/{trust.PROJECT}/{s}/*" for s in stacks]
    return _document(
        {"Sid": "ListState", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "ReadState", "Effect": "Allow", "Action": "s3:GetObject", "Resource": read},
        {"Sid": "WriteState", "Effect": "Allow", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": write},
        {"Sid": "StateBucketKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": state_key_arn, "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}},
    )


def deploy_policy(partition: str = "aws") -> dict:
    """What a deploy may do in its account, before its boundary fences it into its own stack."""
    return _document(
        {"Sid": "ManagePlatform", "Effect": "Allow", "Action": [f"{s}:*" for s in DEPLOY_SERVICES], "Resource": "*"},
        {"Sid": "ReadQuotas", "Effect": "Allow", "Action": ["servicequotas:GetServiceQuota"], "Resource": "*"},
        {"Sid": "RunnerSourceConnection", "Effect": "Allow", "Resource": "*", "Action": [
            "codeconnections:GetConnection", "codeconnections:GetConnectionToken", "codeconnections:UseConnection",
            "codestar-connections:GetConnection", "codestar-connections:GetConnectionToken",
            "codestar-connections:UseConnection"]},
        {"Sid": "PublicParameters", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
         "Resource": f"arn:{partition}:ssm:*::parameter/aws/service/*"},
    )


def preview_policy() -> dict:
    return _document({"Sid": "DescribeWhatThePlatformManages", "Effect": "Allow", "Action": list(PREVIEW_READS),
                      "Resource": "*"})


def boundary_policy(stack: StackIdentity, bucket: str, state_key_arn: str) -> dict:
    """The most a role of `stack` may ever do, whatever its own policies say.

    Allowed: everything but S3 on the state bucket, and of the state bucket only the stack's own files.
    Denied: acting on resources tagged with another `stack`, or tagging anything as another stack's;
    changing the CI identities, the GitHub OIDC provider or any boundary; creating or changing a role
    without this boundary, or removing a boundary; managing users and groups; passing, re-trusting or
    assuming a role that is not the stack's; administering the state bucket's key."""
    account, partition, name = stack.account, stack.partition, stack.name
    this = trust.boundary_arn(account, name, partition)
    other_stack = {"StringNotEquals": {"aws:ResourceTag/stack": name}, "Null": {"aws:ResourceTag/stack": "false"}}
    ci_identities = [f"arn:{partition}:iam::{account}:role/{prefix}*" for prefix in trust.CI_ROLE_PREFIXES] + [
        f"arn:{partition}:iam::{account}:oidc-provider/{trust.GITHUB_ISSUER}",
        f"arn:{partition}:iam::{account}:policy/{trust.boundary_name('')}*",
        f"arn:{partition}:iam::{account}:policy/{DEPLOY_POLICY}", f"arn:{partition}:iam::{account}:policy/{PREVIEW_POLICY}"]
    state = f"arn:aws:s3:::{bucket}"
    return _document(
        {"Sid": "AllButS3", "Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        {"Sid": "S3OutsideTheStateBucket", "Effect": "Allow", "Action": "s3:*", "NotResource": [state, f"{state}/*"]},
        {"Sid": "OwnState", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": _state_objects(bucket, name)},
        {"Sid": "StateListing", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
         "Resource": state},
        {"Sid": "StateMeta", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{state}/.pulumi/meta.yaml"},
        {"Sid": "DenyOtherStacksResources", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": other_stack},
        {"Sid": "DenyTaggingAsOtherStack", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:RequestTag/stack": name}, "Null": {"aws:RequestTag/stack": "false"}}},
        {"Sid": "DenyCiIdentityChanges", "Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"],
         "Resource": ci_identities},
        {"Sid": "DenyRoleWithoutThisBoundary", "Effect": "Deny",
         "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary", *IAM_BOUNDED_ACTIONS],
         "Resource": "*", "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": this}}},
        {"Sid": "DenyBoundaryRemoval", "Effect": "Deny", "Action": "iam:DeleteRolePermissionsBoundary",
         "Resource": "*"},
        {"Sid": "DenyUsersAndGroups", "Effect": "Deny", "Action": list(IAM_PEOPLE_ACTIONS), "Resource": "*"},
        {"Sid": "DenyForeignRoles", "Effect": "Deny", "Action": ["iam:PassRole", "iam:UpdateAssumeRolePolicy",
                                                                  "sts:AssumeRole"],
         "Resource": "*", "Condition": {"StringNotEquals": {"aws:ResourceTag/stack": name}}},
        {"Sid": "DenyStateKeyAdministration", "Effect": "Deny", "Action": list(KEY_ADMINISTRATION),
         "Resource": state_key_arn},
    )


def secrets_key_policy(stack: StackIdentity, preview_role_arn: str | None) -> dict:
    """A stack's own secrets key: the account administers it but no IAM policy can decrypt with it; only
    the stack's deploy role, its admins and its preview role (read) may."""
    root = f"arn:{stack.partition}:iam::{stack.account}:root"
    users = [stack.deploy_role_arn, *stack.admin_role_arns]
    statements = [
        {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": root},
         "Action": list(KEY_ADMINISTRATION), "Resource": "*"},
        {"Sid": "StackSecrets", "Effect": "Allow", "Principal": {"AWS": users}, "Action": list(SECRETS_USE),
         "Resource": "*"},
    ]
    if preview_role_arn:
        statements.append({"Sid": "PreviewReadsSecrets", "Effect": "Allow", "Principal": {"AWS": preview_role_arn},
                           "Action": list(SECRETS_READ), "Resource": "*"})
    return _document(*statements)


def _ensure_provider(iam, result: Identities) -> None:
    for provider in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        if provider["Arn"].endswith(f"oidc-provider/{trust.GITHUB_ISSUER}"):
            result.provider_arn = provider["Arn"]
            return
    result.provider_arn = iam.create_open_id_connect_provider(
        Url=f"https://{trust.GITHUB_ISSUER}", ClientIDList=["sts.amazonaws.com"],
        ThumbprintList=GITHUB_THUMBPRINTS)["OpenIDConnectProviderArn"]
    result.changes.append(f"created the GitHub OIDC provider {result.provider_arn}")


def _loaded(document) -> dict:
    return json.loads(document) if isinstance(document, str) else document


def ensure_managed_policy(iam, account: str, name: str, document: dict, result: Identities,
                          partition: str = "aws") -> str:
    """A customer managed policy with `document` as its default version (older versions pruned to stay
    under IAM's five)."""
    arn = f"arn:{partition}:iam::{account}:policy/{name}"
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(document),
                          Description=f"{trust.PROJECT}: {name}")
        result.changes.append(f"created policy {name}")
        return arn
    current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    if _loaded(current["Document"]) != document:
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        for old in sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])[:max(
                len(versions) - 4, 0)]:
            iam.delete_policy_version(PolicyArn=arn, VersionId=old["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
        result.changes.append(f"updated policy {name}")
    return arn


def _ensure_role(iam, name: str, trust_policy: dict, managed: Sequence[str], inline: dict, boundary: str | None,
                 result: Identities) -> str:
    try:
        role = iam.get_role(RoleName=name)["Role"]
        if _loaded(role["AssumeRolePolicyDocument"]) != trust_policy:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy))
            result.changes.append(f"reset the trust policy of {name}")
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchEntity":
            raise
        extra = {"PermissionsBoundary": boundary} if boundary else {}
        role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy), MaxSessionDuration=3600,
                               Description=f"{trust.PROJECT} CI: {name}", **extra)["Role"]
        result.changes.append(f"created role {name}")
    current_boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary and current_boundary != boundary:
        iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)
        result.changes.append(f"set the permissions boundary of {name}")
    attached = {p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]}
    for arn in sorted(attached - set(managed)):
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
        result.changes.append(f"detached {arn.rsplit('/', 1)[1]} from {name}")
    for arn in managed:
        if arn not in attached:
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
            result.changes.append(f"attached {arn.rsplit('/', 1)[1]} to {name}")
    try:
        current = _loaded(iam.get_role_policy(RoleName=name, PolicyName=STATE_POLICY)["PolicyDocument"])
    except ClientError:
        current = None
    if current != inline:
        iam.put_role_policy(RoleName=name, PolicyName=STATE_POLICY, PolicyDocument=json.dumps(inline))
        result.changes.append(f"set the state-store policy of {name}")
    return role["Arn"]


def ensure(session, repo: str, stacks: Sequence[StackIdentity], account_stacks: Sequence[StackIdentity],
           bucket: str, region: str, state_key_arn: str) -> Identities:
    """The identities of `stacks` (all of one account); `account_stacks` are every stack of that account, whose
    state the shared automatic preview role reads."""
    iam = session.client("iam", region_name=region)
    result = Identities()
    _ensure_provider(iam, result)
    account, partition = stacks[0].account, stacks[0].partition
    deploy = ensure_managed_policy(iam, account, DEPLOY_POLICY, deploy_policy(partition), result, partition)
    read = ensure_managed_policy(iam, account, PREVIEW_POLICY, preview_policy(), result, partition)
    for stack in stacks:
        boundary = stack.boundary_arn or ensure_managed_policy(
            iam, account, trust.boundary_name(stack.name), boundary_policy(stack, bucket, state_key_arn), result,
            partition)
        result.boundaries[stack.name] = boundary
        result.deploy_roles[stack.name] = _ensure_role(
            iam, trust.deploy_role_name(stack.name), github_trust(result.provider_arn, trust.deploy_subjects(repo, stack.name)),
            [deploy], state_policy(bucket, region, state_key_arn, stack.name, ()), boundary, result)
        if stack.approved_previews:
            result.preview_roles[stack.name] = _ensure_role(
                iam, trust.preview_role_name(stack.name, stack.environment),
                github_trust(result.provider_arn, trust.approved_preview_subjects(repo, stack.name)),
                [read], state_policy(bucket, region, state_key_arn, None, [stack.name]), None, result)
    automatic = [s.name for s in account_stacks if not s.approved_previews]
    if any(not s.approved_previews for s in stacks):
        arn = _ensure_role(iam, trust.AUTOMATIC_PREVIEW_ROLE,
                           github_trust(result.provider_arn, trust.automatic_preview_subjects(repo)),
                           [read], state_policy(bucket, region, state_key_arn, None, automatic), None, result)
        result.preview_roles.update({s.name: arn for s in stacks if not s.approved_previews})
    return result

"""`python -m ops bootstrap --stack S [--stack S ...] [--bucket NAME] [--region R] [--kms-alias alias/NAME]
[--github-repo OWNER/REPO]`: one account's Pulumi state store, its stacks' secrets keys and CI identities.

Works on one account at a time: the stacks' `accountId` decides it, and the credentials must be of that
account. Creates, idempotently: an S3 bucket for Pulumi state (versioning, default KMS encryption with its
own key, public access blocked, TLS-only policy); per stack a KMS secrets key (`alias/eks-platform-secrets-
<stack>`, rotated, tagged with the stack) written as the stack's secrets provider into `Pulumi.<stack>.yaml`
(commit it); with `--github-repo`, the CI identities (`ops/identities.py`), each secrets key's policy (only
the stack's deploy role, admins and preview role may use it) and the repository's OIDC subject template
(through the GitHub API with `GITHUB_TOKEN`, else printed as a `gh api` command). A stack file that names
another secrets provider is never rewritten: bootstrap prints the `pulumi stack change-secrets-provider`
commands that move its secrets to the new key without losing one. A second run changes nothing. Uses the
standard AWS credential chain; `AWS_ENDPOINT_URL` points it elsewhere.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import boto3
from botocore.exceptions import ClientError

from components.buckets import tls_only_policy
from ops import github_api, identities, secrets_provider
from ops.stackfiles import STACKS_DIR, StackFileError, load_settings, stack_names
from stacks import trust
from stacks.problems import ConfigError

_BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": True}
SUBJECT_TEMPLATE = {"use_default": False, "include_claim_keys": list(trust.SUBJECT_CLAIM_KEYS)}


class BootstrapError(Exception):
    """Bootstrap cannot run as asked (stacks of several accounts, credentials of another account...)."""


class UnknownStack(BootstrapError):
    """No stack file of that name."""


@dataclass
class Result:
    bucket: str
    region: str
    kms_alias: str
    key_arn: str = ""
    account: str = ""
    changes: list[str] = field(default_factory=list)
    secrets_keys: dict[str, str] = field(default_factory=dict)
    rotations: dict[str, str] = field(default_factory=dict)  # stack -> the provider URL to move it to
    identities: identities.Identities | None = None
    subject_template: str = ""  # "set", "already set", or the command to run

    @property
    def backend(self) -> str:
        return trust.backend_url(self.bucket, self.region)

    @property
    def login(self) -> str:
        return f"pulumi login '{self.backend}'"

    @property
    def secrets_provider(self) -> str:
        return f"--secrets-provider 'awskms://{self.kms_alias}?region={self.region}'"


def stack_identity(stack: str, project_dir: Path) -> identities.StackIdentity:
    try:
        settings = load_settings(stack, project_dir)
    except FileNotFoundError as error:
        raise UnknownStack(str(error)) from None
    except (StackFileError, ConfigError) as error:
        raise BootstrapError(str(error)) from None
    cfg = settings.config
    return identities.StackIdentity(name=stack, environment=cfg.environment, account=cfg.account_id,
                                    region=settings.region, admin_role_arns=tuple(cfg.admin_role_arns),
                                    boundary_arn=cfg.ci.permissions_boundary_arn)


def account_stacks(account: str, project_dir: Path) -> list[identities.StackIdentity]:
    """Every valid stack file of the project that names `account`."""
    found = []
    for name in stack_names(project_dir):
        try:
            found.append(stack_identity(name, project_dir))
        except BootstrapError:
            continue
    return [s for s in found if s.account == account]


def _ensure_key(kms, alias: str, description: str, tags: dict[str, str], result: Result) -> str:
    try:
        key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotFoundException":
            raise
        key_id = kms.create_key(Description=description, Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()]
                                )["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        result.changes.append(f"created KMS key {key_id} with alias {alias}")
    if not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]:
        kms.enable_key_rotation(KeyId=key_id)
        result.changes.append(f"enabled rotation of {alias}")
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


def _ensure_key_policy(kms, key_arn: str, alias: str, policy: dict, result: Result) -> None:
    current = json.loads(kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"])
    if current != policy:
        kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(policy))
        result.changes.append(f"limited {alias} to its stack's roles")


def _ensure_bucket(s3, result: Result) -> None:
    bucket = result.bucket
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise
        extra = {} if result.region == "us-east-1" else {
            "CreateBucketConfiguration": {"LocationConstraint": result.region}}
        s3.create_bucket(Bucket=bucket, **extra)
        result.changes.append(f"created bucket {bucket}")

    if s3.get_bucket_versioning(Bucket=bucket).get("Status") != "Enabled":
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        result.changes.append("enabled versioning")

    wanted_rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": result.key_arn},
                   "BucketKeyEnabled": True}
    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError:
        rules = []
    if [r.get("ApplyServerSideEncryptionByDefault") for r in rules] != [wanted_rule["ApplyServerSideEncryptionByDefault"]]:
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [wanted_rule]})
        result.changes.append("set default encryption to the KMS key")

    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError:
        block = {}
    if block != _BLOCK_ALL:
        s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_BLOCK_ALL)
        result.changes.append("blocked public access")

    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError:
        policy = None
    wanted = tls_only_policy(f"arn:aws:s3:::{bucket}")
    if policy != json.loads(wanted):
        s3.put_bucket_policy(Bucket=bucket, Policy=wanted)
        result.changes.append("set the TLS-only bucket policy")


def subject_template_command(repo: str) -> str:
    claims = " ".join(f"-f include_claim_keys[]={key}" for key in trust.SUBJECT_CLAIM_KEYS)
    return f"gh api --method PUT repos/{repo}/actions/oidc/customization/sub -F use_default=false {claims}"


def ensure_subject_template(repo: str, environ: dict[str, str]) -> str:
    """Make the repository's OIDC subjects name the workflow (`job_workflow_ref`), through the GitHub API when
    `GITHUB_TOKEN` is set: "set" or "already set"; without a token, the command that does it."""
    token = environ.get("GITHUB_TOKEN")
    if not token:
        return subject_template_command(repo)
    api = environ.get("GITHUB_API_URL", github_api.DEFAULT_API)
    path = f"/repos/{repo}/actions/oidc/customization/sub"
    current = github_api.call(api, path, token)
    if current and current.get("use_default") is False and \
            list(current.get("include_claim_keys") or []) == list(trust.SUBJECT_CLAIM_KEYS):
        return "already set"
    github_api.call(api, path, token, method="PUT", body=SUBJECT_TEMPLATE)
    return "set"


def bootstrap(bucket: str | None, region: str | None, kms_alias: str, session: boto3.session.Session | None = None,
              stacks: Sequence[str] = (), github_repo: str | None = None, project_dir: Path = STACKS_DIR,
              environ: dict[str, str] | None = None) -> Result:
    session = session or boto3.session.Session()
    wanted = [stack_identity(s, project_dir) for s in stacks]
    accounts = sorted({s.account for s in wanted})
    if len(accounts) > 1:
        raise BootstrapError("the stacks name several accounts (" + ", ".join(
            f"{s.name}: {s.account}" for s in wanted) + "): run bootstrap once per account, with its credentials")
    region = region or (wanted[0].region if wanted else "us-east-1")
    caller = session.client("sts", region_name=region).get_caller_identity()["Account"]
    if accounts and accounts[0] != caller:
        raise BootstrapError(f"the credentials are for account {caller}, but {', '.join(s.name for s in wanted)} "
                             f"belong{'s' if len(wanted) == 1 else ''} to {accounts[0]} (eks-platform:accountId): "
                             "use that account's credentials, e.g. AWS_PROFILE=<its profile>")
    result = Result(bucket=bucket or trust.state_bucket(caller, region), region=region, kms_alias=kms_alias,
                    account=caller)
    kms = session.client("kms", region_name=region)
    result.key_arn = _ensure_key(kms, kms_alias, "Pulumi state bucket of eks-platform stacks",
                                 {"platform": trust.PROJECT}, result)
    _ensure_bucket(session.client("s3", region_name=region), result)
    for stack in wanted:
        stack_kms = session.client("kms", region_name=stack.region)
        alias = trust.secrets_key_alias(stack.name)
        key_arn = _ensure_key(stack_kms, alias, f"Pulumi secrets of stack {stack.name}",
                              {"platform": trust.PROJECT, "stack": stack.name}, result)
        result.secrets_keys[stack.name] = key_arn
        try:
            change = secrets_provider.ensure(project_dir / f"Pulumi.{stack.name}.yaml", stack_kms, alias, stack.region,
                                             key_arn)
        except secrets_provider.ProviderConflict:
            result.rotations[stack.name] = secrets_provider.provider_url(alias, stack.region)
            continue
        if change:
            result.changes.append(change)
    if github_repo and wanted:
        result.identities = identities.ensure(session, github_repo, wanted, account_stacks(caller, project_dir),
                                              result.bucket, region, result.key_arn)
        result.changes += result.identities.changes
        for stack in wanted:
            policy = identities.secrets_key_policy(stack, result.identities.preview_roles.get(stack.name))
            _ensure_key_policy(session.client("kms", region_name=stack.region), result.secrets_keys[stack.name],
                               trust.secrets_key_alias(stack.name), policy, result)
        result.subject_template = ensure_subject_template(github_repo, os.environ if environ is None else environ)
        if result.subject_template == "set":
            result.changes.append(f"set the OIDC subject template of {github_repo} to "
                                  f"{', '.join(trust.SUBJECT_CLAIM_KEYS)}")
    return result


def rotation_commands(stack: str, provider_url: str) -> list[str]:
    return [f"pulumi stack select {stack}",
            f"pulumi stack change-secrets-provider {shlex.quote(provider_url)}",
            f"git add Pulumi.{stack}.yaml && git commit -m '{stack}: secrets under the stack's own key'"]


def _report(result: Result, stacks: Sequence[str], out: TextIO) -> None:
    for change in result.changes or ["already in place: nothing changed"]:
        print(f"- {change}", file=out)
    print(f"\nUse it with:\n  {result.login}", file=out)
    written = [s for s in stacks if s not in result.rotations]
    if written:
        print(f"  git add {' '.join(f'Pulumi.{s}.yaml' for s in written)} && git commit  "
              "# the secrets provider and data key", file=out)
    elif not stacks:
        print(f"  pulumi stack init <stack> {result.secrets_provider}", file=out)
    for stack, url in result.rotations.items():
        print(f"\nPulumi.{stack}.yaml keeps its current secrets provider. Move its secrets to the stack's own key "
              "(Pulumi re-encrypts every secret of the stack file and the state; run with credentials that can use "
              "both keys):", file=out)
        for command in rotation_commands(stack, url):
            print(f"  {command}", file=out)
    if result.identities:
        print("\nCI identities (the workflows derive them from each stack's accountId):", file=out)
        for stack, arn in result.identities.deploy_roles.items():
            print(f"  {stack}: deploy {arn}, preview {result.identities.preview_roles.get(stack, '-')}, "
                  f"boundary {result.identities.boundaries[stack]}", file=out)
        if result.subject_template not in ("set", "already set"):
            print(f"\nGitHub: the roles trust subjects that name the workflow; set the repository's OIDC subject "
                  f"template (an admin's token):\n  {result.subject_template}", file=out)
        print("\nGitHub environments: check them with `python -m ops.gate --stack <stack>` (it says what to change).",
              file=out)
    elif stacks:
        print("\nWithout --github-repo the secrets keys keep KMS's default policy (any principal of the account with "
              "KMS rights may use them); run again with --github-repo to limit each to its stack's roles.", file=out)


def main(bucket: str | None, region: str | None, kms_alias: str, out: TextIO, stacks: Sequence[str] = (),
         github_repo: str | None = None, err: TextIO | None = None, project_dir: Path = STACKS_DIR) -> int:
    try:
        result = bootstrap(bucket, region, kms_alias, stacks=stacks, github_repo=github_repo, project_dir=project_dir)
    except BootstrapError as error:
        print(f"error: {error}", file=err or out)
        return 2 if isinstance(error, UnknownStack) else 1
    except (github_api.NotFound, OSError) as error:
        print(f"error: GitHub: {error} (setting the OIDC subject template needs an admin's GITHUB_TOKEN)",
              file=err or out)
        return 1
    _report(result, stacks, out)
    return 0

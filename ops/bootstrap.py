"""`python -m ops bootstrap --bucket NAME [--region R] [--kms-alias alias/NAME] [--stack S ...]
[--github-repo OWNER/REPO]`: the Pulumi state store, the stacks' secrets provider and the CI identities.

Creates, idempotently, an S3 bucket for Pulumi state (versioning, default KMS encryption, public
access blocked, TLS-only policy) and a KMS key with rotation and an alias for Pulumi secrets; with
`--stack`, writes that key as the stack's secrets provider into `Pulumi.<stack>.yaml` (commit it);
with `--github-repo`, the GitHub OIDC provider and the deploy and preview roles (`ops/identities.py`).
A second run changes nothing. Uses the standard AWS credential chain; `AWS_ENDPOINT_URL` points it
elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, TextIO

import boto3
from botocore.exceptions import ClientError

from components.buckets import tls_only_policy
from ops import identities, secrets_provider
from ops.stackfiles import PROJECT_DIR

_BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": True}


@dataclass
class Result:
    bucket: str
    region: str
    kms_alias: str
    key_arn: str = ""
    changes: list[str] = field(default_factory=list)
    identities: identities.Identities | None = None

    @property
    def login(self) -> str:
        return f"pulumi login 's3://{self.bucket}?region={self.region}&awssdk=v2'"

    @property
    def secrets_provider(self) -> str:
        return f"--secrets-provider 'awskms://{self.kms_alias}?region={self.region}'"


def _ensure_key(kms, result: Result) -> None:
    try:
        key_id = kms.describe_key(KeyId=result.kms_alias)["KeyMetadata"]["KeyId"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "NotFoundException":
            raise
        key_id = kms.create_key(Description="Pulumi secrets of eks-platform stacks")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=result.kms_alias, TargetKeyId=key_id)
        result.changes.append(f"created KMS key {key_id} with alias {result.kms_alias}")
    if not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]:
        kms.enable_key_rotation(KeyId=key_id)
        result.changes.append("enabled KMS key rotation")
    result.key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


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


def bootstrap(bucket: str, region: str, kms_alias: str, session: boto3.session.Session | None = None,
              stacks: Sequence[str] = (), github_repo: str | None = None,
              project_dir: Path = PROJECT_DIR) -> Result:
    session = session or boto3.session.Session()
    result = Result(bucket=bucket, region=region, kms_alias=kms_alias)
    kms = session.client("kms", region_name=region)
    _ensure_key(kms, result)
    _ensure_bucket(session.client("s3", region_name=region), result)
    for stack in stacks:
        change = secrets_provider.ensure(project_dir / f"Pulumi.{stack}.yaml", kms, kms_alias, region, result.key_arn)
        if change:
            result.changes.append(change)
    if github_repo:
        result.identities = identities.ensure(session, github_repo, list(stacks), bucket, result.key_arn)
        result.changes += result.identities.changes
    return result


def main(bucket: str, region: str, kms_alias: str, out: TextIO, stacks: Sequence[str] = (),
         github_repo: str | None = None, err: TextIO | None = None, project_dir: Path = PROJECT_DIR) -> int:
    missing = [s for s in stacks if not (project_dir / f"Pulumi.{s}.yaml").is_file()]
    if missing:
        print(f"error: no stack file Pulumi.{missing[0]}.yaml in {project_dir}", file=err or out)
        return 2
    try:
        result = bootstrap(bucket, region, kms_alias, stacks=stacks, github_repo=github_repo,
                           project_dir=project_dir)
    except secrets_provider.ProviderConflict as error:
        print(f"error: {error}", file=err or out)
        return 1
    for change in result.changes or ["state store already in place: nothing changed"]:
        print(f"- {change}", file=out)
    print(f"\nUse it with:\n  {result.login}", file=out)
    if stacks:
        print(f"  git add {' '.join(f'Pulumi.{s}.yaml' for s in stacks)} && git commit  "
              "# the secrets provider and data key", file=out)
    else:
        print(f"  pulumi stack init <stack> {result.secrets_provider}", file=out)
    if result.identities:
        print("\nGitHub: set these variables (Settings > Environments > <stack> > Variables):", file=out)
        for stack, arn in result.identities.deploy_roles.items():
            print(f"  environment {stack}: AWS_DEPLOY_ROLE_ARN={arn}", file=out)
        print(f"  repository: AWS_PREVIEW_ROLE_ARN={result.identities.preview_role}", file=out)
        print(f"  repository: PULUMI_BACKEND_URL=s3://{bucket}?region={region}&awssdk=v2", file=out)
    return 0

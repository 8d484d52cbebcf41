"""`python -m ops bootstrap --bucket NAME [--region R] [--kms-alias alias/NAME]`: the Pulumi state store.

Creates, idempotently, an S3 bucket for Pulumi state (versioning, default KMS encryption, public
access blocked, TLS-only policy) and a KMS key with rotation and an alias for Pulumi secrets. A second
run changes nothing. Uses the standard AWS credential chain; `AWS_ENDPOINT_URL` points it elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TextIO

import boto3
from botocore.exceptions import ClientError

_BLOCK_ALL = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
              "RestrictPublicBuckets": True}


@dataclass
class Result:
    bucket: str
    region: str
    kms_alias: str
    key_arn: str = ""
    changes: list[str] = field(default_factory=list)

    @property
    def login(self) -> str:
        return f"pulumi login 's3://{self.bucket}?region={self.region}&awssdk=v2'"

    @property
    def secrets_provider(self) -> str:
        return f"--secrets-provider 'awskms://{self.kms_alias}?region={self.region}'"


def tls_only_policy(bucket: str) -> dict:
    arn = f"arn:aws:s3:::{bucket}"
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}


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
    if policy != tls_only_policy(bucket):
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(tls_only_policy(bucket)))
        result.changes.append("set the TLS-only bucket policy")


def bootstrap(bucket: str, region: str, kms_alias: str, session: boto3.session.Session | None = None) -> Result:
    session = session or boto3.session.Session()
    result = Result(bucket=bucket, region=region, kms_alias=kms_alias)
    _ensure_key(session.client("kms", region_name=region), result)
    _ensure_bucket(session.client("s3", region_name=region), result)
    return result


def main(bucket: str, region: str, kms_alias: str, out: TextIO) -> int:
    result = bootstrap(bucket, region, kms_alias)
    for change in result.changes or ["state store already in place: nothing changed"]:
        print(f"- {change}", file=out)
    print(f"\nUse it with:\n  {result.login}\n  pulumi stack init <stack> {result.secrets_provider}", file=out)
    return 0

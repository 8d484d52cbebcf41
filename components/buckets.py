"""Private S3 buckets for the platform's own data (Loki's chunks, Velero's backups).

Each bucket has its own KMS key (rotated, SSE-KMS with bucket keys), blocks every kind of public access,
enforces bucket-owner ownership (no ACLs) and refuses plain HTTP. Names are derived from the cluster,
account and region, stable across runs and cut to S3's 63 characters by a hash, never a random suffix.
The children are created under the calling component, so moving a bucket here changes no URN.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_aws as aws

from components.capabilities import Bucket
from components.naming import fit

BUCKET_NAME_LIMIT = 63


def bucket_name(cluster_name: str, purpose: str, account: str, region: str) -> str:
    """`<cluster>-<purpose>-<account>-<region>`, globally unique; a cluster name too long for S3's 63
    characters is shortened and a hash of the whole name keeps two long names apart."""
    return fit(cluster_name, BUCKET_NAME_LIMIT, keep_end=f"-{purpose}-{account}-{region}")


def tls_only_policy(bucket_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]})


@dataclass
class PrivateBucket:
    bucket: aws.s3.Bucket
    key: aws.kms.Key


def private_bucket(name: str, parent: pulumi.Resource, *, cluster_name: str, purpose: str, region: str,
                   description: str, protect: bool, lifecycle_rules: Sequence[dict[str, Any]],
                   versioned: bool = False) -> PrivateBucket:
    """The bucket and its key as children of `parent`, named `name`. Protected buckets (and their keys)
    are retained when the stack is destroyed; unprotected ones are emptied and deleted with it."""
    child = pulumi.ResourceOptions(parent=parent)
    stateful = pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect)
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=parent)).account_id
    key = aws.kms.Key(name, description=description, enable_key_rotation=True, deletion_window_in_days=30,
                      opts=stateful)
    bucket = aws.s3.Bucket(name, bucket=account.apply(lambda a: bucket_name(cluster_name, purpose, a, region)),
                           force_destroy=not protect, opts=stateful)
    aws.s3.BucketServerSideEncryptionConfiguration(name, bucket=bucket.id, rules=[{
        "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
        "bucket_key_enabled": True}], opts=child)
    aws.s3.BucketPublicAccessBlock(name, bucket=bucket.id, block_public_acls=True, block_public_policy=True,
                                   ignore_public_acls=True, restrict_public_buckets=True, opts=child)
    aws.s3.BucketOwnershipControls(name, bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"},
                                   opts=child)
    aws.s3.BucketPolicy(name, bucket=bucket.id, policy=bucket.arn.apply(tls_only_policy), opts=child)
    versioning = [aws.s3.BucketVersioning(name, bucket=bucket.id, versioning_configuration={"status": "Enabled"},
                                          opts=child)] if versioned else []
    aws.s3.BucketLifecycleConfiguration(name, bucket=bucket.id, rules=list(lifecycle_rules),
                                        opts=pulumi.ResourceOptions(parent=parent, depends_on=versioning))
    return PrivateBucket(bucket, key)


class S3ObjectStorage:
    """`components.capabilities.ObjectStorage` on AWS: `private_bucket`s of one cluster in one region."""

    def __init__(self, cluster_name: str, region: str):
        self._cluster_name, self.region = cluster_name, region

    def bucket(self, name: str, parent: pulumi.Resource, *, purpose: str, description: str, protect: bool,
               lifecycle_rules: Sequence[dict[str, Any]], versioned: bool = False) -> Bucket:
        made = private_bucket(name, parent, cluster_name=self._cluster_name, purpose=purpose, region=self.region,
                              description=description, protect=protect, lifecycle_rules=lifecycle_rules,
                              versioned=versioned)
        return Bucket(made.bucket.bucket, made.bucket.arn, made.key.arn, self.region)

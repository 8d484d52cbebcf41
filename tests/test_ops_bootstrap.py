"""`ops bootstrap` against moto's AWS emulation: the state store, created once, unchanged after."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from ops import bootstrap


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_bootstrap_creates_a_locked_down_state_store(aws, region):
    result = bootstrap.bootstrap("acme-pulumi-state", region, "alias/acme-pulumi")
    s3, kms = boto3.client("s3", region_name=region), boto3.client("kms", region_name=region)
    assert s3.get_bucket_versioning(Bucket="acme-pulumi-state")["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket="acme-pulumi-state")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": result.key_arn}
    assert s3.get_public_access_block(Bucket="acme-pulumi-state")["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    policy = json.loads(s3.get_bucket_policy(Bucket="acme-pulumi-state")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    key = kms.describe_key(KeyId="alias/acme-pulumi")["KeyMetadata"]
    assert key["Arn"] == result.key_arn
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    if region != "us-east-1":
        assert s3.get_bucket_location(Bucket="acme-pulumi-state")["LocationConstraint"] == region
    assert len(result.changes) == 7


def test_second_run_changes_nothing_and_succeeds(aws):
    first = bootstrap.bootstrap("acme-pulumi-state", "us-east-1", "alias/acme-pulumi")
    second = bootstrap.bootstrap("acme-pulumi-state", "us-east-1", "alias/acme-pulumi")
    assert second.changes == [] and second.key_arn == first.key_arn
    assert len(boto3.client("kms", region_name="us-east-1").list_keys()["Keys"]) == 1


def test_bootstrap_repairs_a_bucket_that_drifted(aws):
    bootstrap.bootstrap("acme-pulumi-state", "us-east-1", "alias/acme-pulumi")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_public_access_block(Bucket="acme-pulumi-state")
    s3.put_bucket_versioning(Bucket="acme-pulumi-state", VersioningConfiguration={"Status": "Suspended"})
    again = bootstrap.bootstrap("acme-pulumi-state", "us-east-1", "alias/acme-pulumi")
    assert again.changes == ["enabled versioning", "blocked public access"]


def test_bootstrap_prints_the_login_and_secrets_provider_lines(aws):
    out = io.StringIO()
    assert bootstrap.main("acme-pulumi-state", "eu-west-1", "alias/acme-pulumi", out) == 0
    text = out.getvalue()
    assert "pulumi login 's3://acme-pulumi-state?region=eu-west-1&awssdk=v2'" in text
    assert "--secrets-provider 'awskms://alias/acme-pulumi?region=eu-west-1'" in text
    out = io.StringIO()
    bootstrap.main("acme-pulumi-state", "eu-west-1", "alias/acme-pulumi", out)
    assert "nothing changed" in out.getvalue()

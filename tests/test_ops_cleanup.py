"""`ops cleanup` against the moto server: the control-plane log group EKS re-creates after a destroy."""

from __future__ import annotations

import io

import boto3

from ops import cleanup

GROUP = "/aws/eks/acme-dev/cluster"


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    return cleanup.main(*args, out, err), out.getvalue(), err.getvalue()


def groups():
    return [g["logGroupName"] for g in boto3.client("logs").describe_log_groups()["logGroups"]]


def test_the_stray_group_is_reported_then_deleted_and_a_second_run_is_a_no_op(moto_server):
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    logs.create_log_group(logGroupName="/aws/eks/acme-dev/cluster-other")
    logs.create_log_group(logGroupName="/aws/eks/acme-prod/cluster")
    code, out, _ = run("dev", False)
    assert code == 0 and f"would delete log group {GROUP}" in out and GROUP in groups()
    code, out, _ = run("dev", True)
    assert code == 0 and f"deleted log group {GROUP}" in out
    assert sorted(groups()) == ["/aws/eks/acme-dev/cluster-other", "/aws/eks/acme-prod/cluster"]
    code, out, _ = run("dev", True)
    assert code == 0 and "nothing left behind by cluster acme-dev" in out


def test_a_live_clusters_group_is_never_touched(moto_server):
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ec2 = boto3.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    boto3.client("eks").create_cluster(name="acme-dev", roleArn=role, resourcesVpcConfig={"subnetIds": [subnet]})
    boto3.client("logs").create_log_group(logGroupName=GROUP)
    code, _, err = run("dev", True)
    assert code == 1 and "cluster acme-dev still exists" in err and GROUP in groups()

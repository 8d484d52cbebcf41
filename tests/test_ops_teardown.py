"""`ops teardown` against the moto server: a cluster's leftovers found, deleted in order, nothing of another
cluster or of Pulumi's touched, and a second run a no-op."""

from __future__ import annotations

import io

import boto3
import pytest

from ops import leftovers
from ops import teardown
from tests.conftest import FastClock

CLUSTER, OTHER = "acme-dev", "someone-else"



def cluster_resources(cluster: str, cidr: str) -> dict:
    """What EKS and its controllers leave behind for `cluster`: an NLB with a target group, its security
    group, an available vpc-cni interface, a CSI volume and a CSI snapshot of it (a Velero backup); plus a
    Pulumi-managed security group and a snapshot someone took by hand."""
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    tag = {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}
    vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr.replace("0.0/16", f"{i}.0/24"), AvailabilityZone=zone,
                                 TagSpecifications=[{"ResourceType": "subnet", "Tags": [
                                     {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"}]}])["Subnet"]["SubnetId"]
               for i, zone in enumerate(["us-east-1a", "us-east-1b"])]
    balancer = elbv2.create_load_balancer(Name=f"{cluster}-nlb", Subnets=subnets, Type="network", Scheme="internet-facing",
                                          Tags=[tag, {"Key": "service.k8s.aws/stack", "Value": "ingress-nginx/controller"}])
    balancer_arn = balancer["LoadBalancers"][0]["LoadBalancerArn"]
    group = elbv2.create_target_group(Name=f"{cluster}-tg", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip",
                                      Tags=[tag])["TargetGroups"][0]["TargetGroupArn"]
    elbv2.create_listener(LoadBalancerArn=balancer_arn, Protocol="TCP", Port=80,
                          DefaultActions=[{"Type": "forward", "TargetGroupArn": group}])
    controller_sg = ec2.create_security_group(GroupName=f"k8s-elb-{cluster}", Description="x", VpcId=vpc,
                                              TagSpecifications=[{"ResourceType": "security-group", "Tags": [tag]}])
    ours = ec2.create_security_group(GroupName=f"{cluster}-runner", Description="x", VpcId=vpc, TagSpecifications=[
        {"ResourceType": "security-group", "Tags": [tag, {"Key": "platform", "Value": "eks-platform"}]}])
    eni = ec2.create_network_interface(SubnetId=subnets[0], Description="aws-K8S-i-0123456789abcdef0")
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=20, TagSpecifications=[{
        "ResourceType": "volume", "Tags": [tag, {"Key": "ebs.csi.aws.com/cluster", "Value": "true"},
                                           {"Key": "eks-platform/namespace", "Value": "monitoring"},
                                           {"Key": "eks-platform/claim", "Value": "prometheus-db-0"}]}])
    snapshot = ec2.create_snapshot(VolumeId=volume["VolumeId"], TagSpecifications=[{
        "ResourceType": "snapshot", "Tags": [tag, {"Key": "ebs.csi.aws.com/cluster", "Value": "true"},
                                             {"Key": "eks-platform/backup", "Value": "velero"}]}])
    by_hand = ec2.create_snapshot(VolumeId=volume["VolumeId"], Description="kept by hand")
    return {"balancer": balancer_arn, "group": group, "controller_sg": controller_sg["GroupId"],
            "our_sg": ours["GroupId"], "eni": eni["NetworkInterface"]["NetworkInterfaceId"],
            "volume": volume["VolumeId"], "snapshot": snapshot["SnapshotId"], "by_hand": by_hand["SnapshotId"]}


def snapshots_left(*made: dict) -> set[str]:
    """Which of the test's snapshots still exist (moto also holds its AMIs' snapshots)."""
    ours = {m[key] for m in made for key in ("snapshot", "by_hand")}
    return ours & {s["SnapshotId"] for s in boto3.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]}


@pytest.fixture
def two_clusters(moto_server):
    return cluster_resources(CLUSTER, "10.20.0.0/16"), cluster_resources(OTHER, "10.50.0.0/16")


def run(*args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = teardown.main(*args, out, err, timeout_seconds=60, poll_seconds=0, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_a_dry_run_lists_then_yes_deletes_in_order_sparing_others_and_a_second_run_is_a_no_op(two_clusters):
    mine, theirs = two_clusters
    code, out, _ = run("dev", False, False)
    assert code == 0 and "dry run: 6 found" in out
    for key in ("balancer", "group", "controller_sg", "eni", "volume", "snapshot"):
        assert mine[key] in out
    for key in theirs:
        assert theirs[key] not in out
    assert mine["our_sg"] not in out and mine["by_hand"] not in out  # Pulumi's own; not the CSI driver's
    assert len(boto3.client("elbv2").describe_load_balancers()["LoadBalancers"]) == 2

    code, out, _ = run("dev", True, False)
    assert code == 0 and out.rstrip().endswith("done")
    order = [line.split()[1] + " " + line.split()[2] for line in out.splitlines() if line.startswith("deleted")]
    assert [o.split()[0] for o in order] == ["load", "target", "network", "security", "volume", "snapshot"]
    ec2, elbv2 = boto3.client("ec2"), boto3.client("elbv2")
    assert [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == [theirs["balancer"]]
    left_groups = {sg["GroupId"] for sg in ec2.describe_security_groups()["SecurityGroups"]}
    assert mine["controller_sg"] not in left_groups and {mine["our_sg"], theirs["controller_sg"]} <= left_groups
    assert [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]] == [theirs["volume"]]
    assert snapshots_left(mine, theirs) == {mine["by_hand"], theirs["snapshot"], theirs["by_hand"]}
    code, out, _ = run("dev", True, False)
    assert code == 0 and "nothing left behind by cluster acme-dev" in out


def test_a_retain_stack_keeps_its_volumes_and_backup_snapshots_unless_told(moto_server):
    made = cluster_resources("acme-prod", "10.40.0.0/16")
    code, out, _ = run("prod", True, False)
    assert code == 0 and out.count("kept: this stack retains volumes and backups") == 2
    assert [v["VolumeId"] for v in boto3.client("ec2").describe_volumes()["Volumes"]] == [made["volume"]]
    assert snapshots_left(made) == {made["snapshot"], made["by_hand"]}
    code, out, _ = run("prod", True, True)
    assert code == 0 and boto3.client("ec2").describe_volumes()["Volumes"] == []
    assert snapshots_left(made) == {made["by_hand"]}


def test_waiting_is_bounded_and_says_what_is_left_and_so_does_the_programs_hook(moto_server, monkeypatch):
    made = cluster_resources(CLUSTER, "10.20.0.0/16")
    session = boto3.session.Session()
    lookup = lambda: leftovers.load_balancers(session, "us-east-1", CLUSTER)  # noqa: E731
    with pytest.raises(TimeoutError, match=f"{CLUSTER}-nlb"):
        leftovers.wait_until_gone(lookup, "load balancer", timeout_seconds=20, poll_seconds=10, clock=FastClock())
    real = leftovers._delete_one

    def stuck(session_, region, item):
        if item.kind != "load balancer":
            real(session_, region, item)  # the load balancer never goes away

    monkeypatch.setattr(leftovers, "_delete_one", stuck)
    lines: list[str] = []
    left = leftovers.delete(session, "us-east-1", CLUSTER, False, lines.append, timeout_seconds=30,
                            poll_seconds=10, clock=FastClock())
    assert lines[-1] == "gave up waiting after 30 s"
    assert {i.id for i in left} >= {made["balancer"], made["volume"]}
    boto3.client("elbv2").delete_load_balancer(LoadBalancerArn=made["balancer"])
    leftovers.wait_until_gone(lookup, "load balancer", timeout_seconds=20, poll_seconds=10, clock=FastClock())

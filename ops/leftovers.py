"""What AWS creates on a cluster's behalf and Pulumi does not own, found by the cluster's tags.

Load balancers and target groups of the in-tree service controller or the AWS Load Balancer Controller,
their security groups, network interfaces left available in the cluster's VPC, and EBS volumes and
snapshots the CSI driver made (snapshots are Velero's backups of volumes: they outlive the cluster).
Used by `ops teardown` (report, then delete in dependency order) and by the program's delete
hooks (wait until the load balancer and the volumes are gone before the nodes and the cluster go).
Never touches anything Pulumi manages (tagged `platform: eks-platform`) or EKS manages itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable

from botocore.exceptions import ClientError

# kind, in the order kinds must be deleted -> (service, operation, the parameter naming the item)
DELETE_CALLS = {
    "load balancer": ("elbv2", "delete_load_balancer", "LoadBalancerArn"),
    "target group": ("elbv2", "delete_target_group", "TargetGroupArn"),
    "network interface": ("ec2", "delete_network_interface", "NetworkInterfaceId"),
    "security group": ("ec2", "delete_security_group", "GroupId"),
    "volume": ("ec2", "delete_volume", "VolumeId"),
    "snapshot": ("ec2", "delete_snapshot", "SnapshotId"),
}
KINDS = tuple(DELETE_CALLS)
ENI_DESCRIPTIONS = ("aws-K8S-", "ELB ")  # vpc-cni's and load balancers' interfaces


@dataclass(frozen=True)
class Leftover:
    kind: str
    id: str
    detail: str
    retained: bool = False


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def _for_cluster(tags: dict[str, str], cluster: str) -> bool:
    if tags.get("platform") == "eks-platform" or "aws:eks:cluster-name" in tags:
        return False  # Pulumi's own, or EKS's own (deleted with the cluster)
    return cluster_tag(cluster) in tags or tags.get("elbv2.k8s.aws/cluster") == cluster


def _tags(items: Iterable[dict]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _elbv2_tagged(elbv2, arns: list[str], cluster: str) -> set[str]:
    found = set()
    for start in range(0, len(arns), 20):
        for description in elbv2.describe_tags(ResourceArns=arns[start:start + 20])["TagDescriptions"]:
            if _for_cluster(_tags(description.get("Tags")), cluster):
                found.add(description["ResourceArn"])
    return found


def load_balancers(session, region: str, cluster: str) -> list[Leftover]:
    elbv2 = session.client("elbv2", region_name=region)
    balancers = [lb for page in elbv2.get_paginator("describe_load_balancers").paginate()
                 for lb in page["LoadBalancers"]]
    tagged = _elbv2_tagged(elbv2, [lb["LoadBalancerArn"] for lb in balancers], cluster)
    return [Leftover("load balancer", lb["LoadBalancerArn"], f"{lb['LoadBalancerName']} ({lb['Type']})")
            for lb in balancers if lb["LoadBalancerArn"] in tagged]


def _made_by_csi_driver(cluster: str) -> list[dict]:
    """EC2 filters for the volumes and snapshots the EBS CSI driver made for this cluster."""
    return [{"Name": "tag-key", "Values": [cluster_tag(cluster)]},
            {"Name": "tag:ebs.csi.aws.com/cluster", "Values": ["true"]}]


def volumes(session, region: str, cluster: str, retain: bool, namespace: str | None = None) -> list[Leftover]:
    ec2 = session.client("ec2", region_name=region)
    filters = _made_by_csi_driver(cluster)
    if namespace:
        filters.append({"Name": "tag:eks-platform/namespace", "Values": [namespace]})
    found = []
    for page in ec2.get_paginator("describe_volumes").paginate(Filters=filters):
        for volume in page["Volumes"]:
            tags = _tags(volume.get("Tags"))
            claim = f"{tags.get('eks-platform/namespace', '?')}/{tags.get('eks-platform/claim', '?')}"
            found.append(Leftover("volume", volume["VolumeId"], f"{volume['Size']} GiB, {volume['State']}, claim {claim}",
                                  retained=retain))
    return found


def snapshots(session, region: str, cluster: str, retain: bool) -> list[Leftover]:
    ec2 = session.client("ec2", region_name=region)
    filters = _made_by_csi_driver(cluster)
    return [Leftover("snapshot", snapshot["SnapshotId"],
                     f"{snapshot['VolumeSize']} GiB of {snapshot.get('VolumeId', '?')}, "
                     f"{snapshot['StartTime']:%Y-%m-%d %H:%M}", retained=retain)
            for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters)
            for snapshot in page["Snapshots"]]


def find(session, region: str, cluster: str, retain_volumes: bool, kinds: tuple[str, ...] = KINDS) -> list[Leftover]:
    """Everything of `kinds` left for this cluster, in the order it must be deleted."""
    elbv2, ec2 = session.client("elbv2", region_name=region), session.client("ec2", region_name=region)
    found = load_balancers(session, region, cluster) if {"load balancer", "target group"} & set(kinds) else []
    if "target group" in kinds:
        balancer_arns = {lb.id for lb in found}
        groups = [tg for page in elbv2.get_paginator("describe_target_groups").paginate() for tg in page["TargetGroups"]]
        tagged = _elbv2_tagged(elbv2, [tg["TargetGroupArn"] for tg in groups], cluster)
        found += [Leftover("target group", tg["TargetGroupArn"], tg["TargetGroupName"]) for tg in groups
                  if tg["TargetGroupArn"] in tagged or balancer_arns & set(tg.get("LoadBalancerArns", []))]
    if "network interface" in kinds:
        vpcs = {s["VpcId"] for s in ec2.describe_subnets(
            Filters=[{"Name": "tag-key", "Values": [cluster_tag(cluster)]}])["Subnets"]}
        if vpcs:
            interfaces = ec2.describe_network_interfaces(Filters=[
                {"Name": "vpc-id", "Values": sorted(vpcs)},
                {"Name": "status", "Values": ["available"]}])["NetworkInterfaces"]
            found += [Leftover("network interface", eni["NetworkInterfaceId"], eni.get("Description", ""))
                      for eni in interfaces if eni.get("Description", "").startswith(ENI_DESCRIPTIONS)]
    if "security group" in kinds:
        security_groups = ec2.describe_security_groups(Filters=[{"Name": "tag-key", "Values": [
            cluster_tag(cluster), "elbv2.k8s.aws/cluster"]}])["SecurityGroups"]
        found += [Leftover("security group", sg["GroupId"], sg["GroupName"]) for sg in security_groups
                  if _for_cluster(_tags(sg.get("Tags")), cluster)]
    if "volume" in kinds:
        found += volumes(session, region, cluster, retain_volumes)
    if "snapshot" in kinds:
        found += snapshots(session, region, cluster, retain_volumes)
    return [item for item in found if item.kind in kinds]


def _delete_one(session, region: str, item: Leftover) -> None:
    service, operation, parameter = DELETE_CALLS[item.kind]
    getattr(session.client(service, region_name=region), operation)(**{parameter: item.id})


def delete(session, region: str, cluster: str, retain_volumes: bool, progress: Callable[[str], None],
           timeout_seconds: float = 600, poll_seconds: float = 10, clock=time) -> list[Leftover]:
    """Delete kind by kind in dependency order, waiting (bounded) for each kind to be gone before the next:
    a security group stays in use until its load balancer's interfaces are released. Returns what is left."""
    deadline = clock.monotonic() + timeout_seconds
    for kind in KINDS:
        while True:
            pending = [i for i in find(session, region, cluster, retain_volumes, (kind,)) if not i.retained]
            if not pending:
                break
            for item in pending:
                try:
                    _delete_one(session, region, item)
                    progress(f"deleted {item.kind} {item.id} ({item.detail})")
                except ClientError as error:
                    progress(f"waiting for {item.kind} {item.id}: {error.response['Error']['Code']}")
            if clock.monotonic() >= deadline:
                progress(f"gave up waiting after {timeout_seconds:.0f} s")
                return find(session, region, cluster, retain_volumes)
            clock.sleep(poll_seconds)
    return find(session, region, cluster, retain_volumes)


def wait_until_gone(lookup: Callable[[], list[Leftover]], what: str, timeout_seconds: float = 600,
                    poll_seconds: float = 10, clock=time) -> None:
    """Block until `lookup` finds nothing; raise naming what is still there when the time is up."""
    deadline = clock.monotonic() + timeout_seconds
    while True:
        left = lookup()
        if not left:
            return
        if clock.monotonic() >= deadline:
            raise TimeoutError(f"{what} still there after {timeout_seconds:.0f} s: "
                               f"{', '.join(i.detail for i in left)}; run `python -m ops teardown`")
        clock.sleep(poll_seconds)

"""`python -m ops cleanup --stack S [--yes]`: after `pulumi destroy`, remove what EKS re-creates.

EKS's service-linked role delivers control-plane logs that were still in flight after Pulumi deleted
the log group with the cluster, and so creates `/aws/eks/<cluster>/cluster` again, without retention and
unknown to Pulumi; the next `pulumi up` of a stack with the same cluster name then fails with "log
group already exists". Once the cluster is gone this finds the group and, with `--yes`, deletes it.
It never touches the group of a cluster that still exists.
"""

from __future__ import annotations

from typing import TextIO

import boto3
from botocore.exceptions import ClientError

from ops.stackfiles import settings_or_report


def control_plane_log_group(cluster_name: str) -> str:
    return f"/aws/eks/{cluster_name}/cluster"


def cluster_exists(eks, name: str) -> bool:
    try:
        eks.describe_cluster(name=name)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


def stray_log_groups(session: boto3.session.Session, region: str, cluster_name: str) -> list[str]:
    logs = session.client("logs", region_name=region)
    name = control_plane_log_group(cluster_name)
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return [g["logGroupName"] for g in found if g["logGroupName"] == name]


def main(stack: str, delete: bool, out: TextIO, err: TextIO, session: boto3.session.Session | None = None) -> int:
    settings = settings_or_report(stack, err)
    if settings is None:
        return 2
    session = session or boto3.session.Session()
    region, cluster = settings.region, settings.cluster_name
    if cluster_exists(session.client("eks", region_name=region), cluster):
        print(f"error: cluster {cluster} still exists: run `pulumi destroy` first", file=err)
        return 1
    groups = stray_log_groups(session, region, cluster)
    if not groups:
        print(f"nothing left behind by cluster {cluster}", file=out)
        return 0
    logs = session.client("logs", region_name=region)
    for group in groups:
        if delete:
            logs.delete_log_group(logGroupName=group)
            print(f"deleted log group {group} (re-created by EKS after the cluster was deleted)", file=out)
        else:
            print(f"would delete log group {group} (re-created by EKS after the cluster was deleted); "
                  "run again with --yes", file=out)
    return 0

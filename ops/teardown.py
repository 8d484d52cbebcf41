"""`python -m ops teardown --stack S [--yes] [--delete-volumes]`: what AWS made for the cluster, and Pulumi
does not own, found and (with --yes) deleted in order, before or after `pulumi destroy`.

Without --yes it only reports (a dry run). Volumes and backup snapshots of a stack whose StorageClass
retains volumes (prod) are reported and kept unless --delete-volumes is given. A second run finds nothing and changes nothing.
"""

from __future__ import annotations

from typing import TextIO

import boto3

from ops import leftovers
from ops.stackfiles import settings_or_report


def main(stack: str, delete: bool, delete_volumes: bool, out: TextIO, err: TextIO,
         session: boto3.session.Session | None = None, timeout_seconds: float = 900, poll_seconds: float = 10) -> int:
    settings = settings_or_report(stack, err)
    if settings is None:
        return 2
    session = session or boto3.session.Session()
    cluster, region = settings.cluster_name, settings.region
    retain = settings.profile.services.storage_reclaim_policy == "Retain" and not delete_volumes
    found = leftovers.find(session, region, cluster, retain)
    if not found:
        print(f"nothing left behind by cluster {cluster} in {region}", file=out)
        return 0
    for item in found:
        note = "  (kept: this stack retains volumes and backups; --delete-volumes deletes it)" if item.retained else ""
        print(f"{'found' if not delete else 'to delete'}  {item.kind:<18} {item.id}  {item.detail}{note}", file=out)
    if not delete:
        print(f"dry run: {len(found)} found; run again with --yes to delete them", file=out)
        return 0
    left = leftovers.delete(session, region, cluster, retain, lambda line: print(line, file=out, flush=True),
                            timeout_seconds=timeout_seconds, poll_seconds=poll_seconds)
    blocking = [i for i in left if not i.retained]
    for item in left:
        print(f"left  {item.kind:<18} {item.id}  {item.detail}", file=out)
    print(f"{len(blocking)} left to delete" if blocking else "done", file=out)
    return 1 if blocking else 0

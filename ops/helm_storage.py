"""`python -m ops helm-storage --stack S [--yes]`: move Helm's release records from Secrets to ConfigMaps.

The platform's Kubernetes provider keeps releases with Helm's `configmap` driver (`components.helm.HELM_DRIVER`),
so a preview reads them without any right on Secrets. A cluster deployed before keeps them as Secrets
(`sh.helm.release.v1.<release>.v<revision>`, label `owner=helm`): run this once, with an admin's credentials,
before the first preview of the new version. Each record is copied to a ConfigMap of the same name, labels and
content (the ConfigMap driver stores the same encoded release the Secret driver does), then the Secret is
deleted. A dry run (no `--yes`) lists what it would move; a second run finds nothing.
"""

from __future__ import annotations

import base64
from typing import Any, TextIO

import boto3

from ops import cluster_access
from ops.stackfiles import settings_or_report

HELM_RECORDS = "owner=helm"


def move_records(core: Any, apply: bool) -> list[str]:
    """`namespace/name` of every release record stored as a Secret, each moved when `apply` (a CoreV1Api)."""
    from kubernetes import client

    moved = []
    for secret in core.list_secret_for_all_namespaces(label_selector=HELM_RECORDS).items:
        namespace, name = secret.metadata.namespace, secret.metadata.name
        moved.append(f"{namespace}/{name}")
        if not apply:
            continue
        record = base64.b64decode(secret.data["release"]).decode()
        config_map = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, namespace=namespace,
                                                                     labels=dict(secret.metadata.labels or {})),
                                        data={"release": record})
        try:
            core.create_namespaced_config_map(namespace, config_map)
        except client.ApiException as error:
            if error.status != 409:  # already copied by an interrupted run
                raise
        core.delete_namespaced_secret(name, namespace)
    return moved


def main(stack: str, apply: bool, out: TextIO, err: TextIO, session: boto3.session.Session | None = None,
         core: Any = None) -> int:
    settings = settings_or_report(stack, err)
    if settings is None:
        return 2
    from kubernetes import client
    from urllib3.exceptions import HTTPError

    if core is None:
        session = session or boto3.session.Session()
        cluster = session.client("eks", region_name=settings.region).describe_cluster(
            name=settings.cluster_name)["cluster"]
        core = client.CoreV1Api(cluster_access.api_client(cluster, settings.region))
    try:
        records = move_records(core, apply)
    except (client.ApiException, HTTPError, OSError) as error:
        print(f"error: the cluster's API refused or could not be reached ({str(error).splitlines()[0]}): run this "
              "with an admin's credentials from a host that reaches the API endpoint", file=err)
        return 1
    for record in records:
        print(f"{'moved' if apply else 'would move'} {record}", file=out)
    if not records:
        print("no Helm release record is stored as a Secret: nothing to move", file=out)
    elif not apply:
        print("dry run: run again with --yes to move them", file=out)
    return 0

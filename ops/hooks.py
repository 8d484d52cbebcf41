"""The resource hooks the program registers: operations code that runs during `pulumi up` and `destroy`.

After the edge is uninstalled, wait until its cloud load balancer is gone while the cluster whose controller
deletes it still runs (else the NLB outlives the cluster and blocks the VPC's deletion); after a release with
volumes is uninstalled, wait until the CSI driver has deleted them; before Velero is uninstalled, delete its
Restores and wait until Velero has let them go (their finalizer would keep the namespace terminating forever).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import boto3
import pulumi

from ops import cluster_access, leftovers

RESTORES = ("velero.io", "v1", "restores")
VELERO_NAMESPACE = "velero"


def load_balancers_gone(cluster_name: str, region: str) -> pulumi.ResourceHook:
    def wait(_: pulumi.ResourceHookArgs) -> None:
        session = boto3.session.Session()
        leftovers.wait_until_gone(lambda: leftovers.load_balancers(session, region, cluster_name), "load balancer")
    return pulumi.ResourceHook(f"{cluster_name}-load-balancers-gone", wait)


def volumes_gone(cluster_name: str, region: str, namespace: str) -> pulumi.ResourceHook:
    def wait(_: pulumi.ResourceHookArgs) -> None:
        session = boto3.session.Session()
        leftovers.wait_until_gone(lambda: leftovers.volumes(session, region, cluster_name, False, namespace),
                                  f"{namespace} volumes")
    return pulumi.ResourceHook(f"{cluster_name}-{namespace}-volumes-gone", wait)


def delete_restores(api, timeout_seconds: float = 600, poll_seconds: float = 5, clock=time) -> None:
    """Delete every Restore in Velero's namespace through `api` (a `kubernetes.client.CustomObjectsApi`) and
    wait, bounded, until Velero has let them go. Nothing to do where the Restore CRD does not exist."""
    from kubernetes.client.exceptions import ApiException

    group, version, plural = RESTORES

    def remaining() -> list[leftovers.Leftover]:
        try:
            items = api.list_namespaced_custom_object(group, version, VELERO_NAMESPACE, plural)["items"]
        except ApiException as error:
            if error.status == 404:
                return []
            raise
        return [leftovers.Leftover("restore", r["metadata"]["name"], f"restore {r['metadata']['name']}")
                for r in items]

    for restore in remaining():
        try:
            api.delete_namespaced_custom_object(group, version, VELERO_NAMESPACE, plural, restore.id)
        except ApiException as error:
            if error.status != 404:
                raise
    leftovers.wait_until_gone(remaining, "Velero restores", timeout_seconds, poll_seconds, clock)


def restores_released(cluster_name: str, api_client: Callable[[], Any]) -> pulumi.ResourceHook:
    """Velero's before-delete hook: `delete_restores` through `api_client()`, while Velero still runs."""
    def release(_: pulumi.ResourceHookArgs) -> None:
        from kubernetes import client

        delete_restores(client.CustomObjectsApi(api_client()))
    return pulumi.ResourceHook(f"{cluster_name}-velero-restores-released", release)


def eks_api_client(cluster_name: str, region: str) -> Callable[[], Any]:
    """A factory of API clients for an EKS cluster, authenticated as the stack's kubeconfig is."""
    def make() -> Any:
        cluster = boto3.session.Session().client("eks", region_name=region).describe_cluster(
            name=cluster_name)["cluster"]
        return cluster_access.api_client(cluster, region)
    return make

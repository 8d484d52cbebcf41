"""The Kubernetes API of the stack's cluster from outside Pulumi's provider: an EKS cluster authenticated as
the stack's kubeconfig is (`aws eks get-token`), or a kubeconfig context of one's own: for operator commands
and for resource hooks that act in the cluster."""

from __future__ import annotations

import os
from typing import Any


def kubeconfig(cluster: dict[str, Any], region: str) -> dict[str, Any]:
    """A kubeconfig for `cluster` (an EKS DescribeCluster answer)."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "eks",
        "clusters": [{"name": "eks", "cluster": {"server": cluster["endpoint"],
                                                 "certificate-authority-data": cluster["certificateAuthority"]["data"]}}],
        "contexts": [{"name": "eks", "context": {"cluster": "eks", "user": "eks"}}],
        "users": [{"name": "eks", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster["name"], "--region", region]}}}],
    }


def context_api_client(context: str):
    """A `kubernetes.client.ApiClient` for `context` of the kubeconfig (KUBECONFIG, read now, or ~/.kube/config):
    a cluster of one's own (`target: kubeconfig`)."""
    from kubernetes import config

    return config.new_client_from_config(config_file=os.environ.get("KUBECONFIG"), context=context)


def api_client(cluster: dict[str, Any], region: str):
    """A `kubernetes.client.ApiClient` for `cluster`."""
    from kubernetes import config

    return config.new_client_from_config_dict(kubeconfig(cluster, region))

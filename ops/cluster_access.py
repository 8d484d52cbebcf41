"""The Kubernetes API of an EKS cluster from outside Pulumi's provider, authenticated as the stack's
kubeconfig is (`aws eks get-token`): for operator commands and for resource hooks that act in the cluster."""

from __future__ import annotations

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


def api_client(cluster: dict[str, Any], region: str):
    """A `kubernetes.client.ApiClient` for `cluster`."""
    from kubernetes import config

    return config.new_client_from_config_dict(kubeconfig(cluster, region))

"""MetricsServer: the resource metrics API (HPA, `kubectl top`) on any cluster.

Where kubelets serve self-signed certificates (kind, k3s, minikube) metrics-server is told not to verify them
(`--kubelet-insecure-tls`): a local cluster only; on EKS the kubelets' certificates are verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.helm import Resources, release, resources_values, waits_like

NAMESPACE = "kube-system"
INSECURE_TLS = "--kubelet-insecure-tls"


@dataclass
class MetricsServerArgs:
    replicas: int = 1
    resources: Resources | None = None
    kubelet_insecure_tls: bool = False


def metrics_server_values(args: MetricsServerArgs) -> dict[str, Any]:
    values: dict[str, Any] = {"replicas": args.replicas, "resources": resources_values(args.resources)}
    if args.replicas > 1:
        values["podDisruptionBudget"] = {"enabled": True, "minAvailable": 1}
    if args.kubelet_insecure_tls:
        values["args"] = [INSECURE_TLS]
    return values


class MetricsServer(pulumi.ComponentResource):
    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:autoscaling:MetricsServer", name, None, opts)
        # It was the Autoscaling component's child: the alias keeps the release (no reinstall on upgrade).
        moved = pulumi.ResourceOptions(aliases=[pulumi.Alias(
            parent=pulumi.create_urn(name, "eks-platform:autoscaling:Autoscaling"))])
        self.release = release("metrics-server", "metrics-server", NAMESPACE, metrics_server_values(args),
                               timeout_seconds=300, opts=pulumi.ResourceOptions.merge(waits_like(self, opts), moved))
        self.register_outputs({"insecureKubeletTls": args.kubelet_insecure_tls})

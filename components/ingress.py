"""Ingress: an ingress controller behind an AWS Network Load Balancer.

Today the controller is ingress-nginx; callers only see `IngressArgs` and the outputs (namespace,
ingress class, controller Service), so it can be swapped (upstream ingress-nginx was retired in 2026).
The NLB keeps the client IP (`externalTrafficPolicy: Local`), spreads across zones, and is either
internet-facing or internal. Metrics are on with a ServiceMonitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi

from components.helm import namespace, release

NAMESPACE = "ingress-nginx"
INGRESS_CLASS = "nginx"
_SELECTOR = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
             "app.kubernetes.io/component": "controller"}


@dataclass
class IngressArgs:
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    replicas: int = 1
    max_replicas: int | None = None


def controller_values(args: IngressArgs) -> dict[str, Any]:
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
    }
    if args.scheme == "internal":
        annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
    controller: dict[str, Any] = {
        "replicaCount": args.replicas,
        "ingressClassResource": {"name": INGRESS_CLASS, "default": True},
        "service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "annotations": annotations},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": _SELECTOR}}],
    }
    if args.max_replicas:
        controller["autoscaling"] = {"enabled": True, "minReplicas": args.replicas, "maxReplicas": args.max_replicas,
                                     "targetCPUUtilizationPercentage": 70}
    if args.replicas > 1:
        controller["minAvailable"] = args.replicas - 1
    return {"controller": controller}


class Ingress(pulumi.ComponentResource):
    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:ingress:Ingress", name, None, opts)
        ns = namespace(NAMESPACE, pulumi.ResourceOptions(parent=self))
        self.release = release("ingress-nginx", "ingress-nginx", ns.metadata.name, controller_values(args),
                               timeout_seconds=600, opts=pulumi.ResourceOptions(parent=self))
        self.namespace = NAMESPACE
        self.ingress_class = INGRESS_CLASS
        self.service_name = "ingress-nginx-controller"
        self.register_outputs({"namespace": NAMESPACE, "ingressClass": INGRESS_CLASS})

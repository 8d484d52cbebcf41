"""The platform assembly: validated `Settings` in, the target's layer (the cloud layer on EKS, a cluster of
one's own otherwise) and then the cluster layer, outputs out. The direction is one way: the cluster layer
gets the target's `ClusterCapabilities` and knows nothing else of it."""

from __future__ import annotations

import pulumi

from components.helm import values_overrides
from stacks import cloud, cluster, local
from stacks.config import Settings
from stacks.rules import naming_warnings


def build(settings: Settings) -> dict[str, pulumi.Input]:
    """Register every resource of the stack; return the stack outputs."""
    for warning in naming_warnings(settings.stack, settings.config.environment):
        pulumi.log.warn(warning)
    overrides = values_overrides({release: block.values for release, block in settings.config.releases.items()})
    if settings.is_local:
        local.announce(settings)
        provider, capabilities = local.capabilities(settings)
        return {"clusterName": settings.cluster_name, "target": f"kubeconfig: {settings.config.kubeconfig.context}",
                **cluster.build(settings, capabilities, {"kubernetes": provider}, [overrides])}
    layer = cloud.build(settings, overrides)
    services = cluster.build(settings, layer.capabilities, layer.providers, layer.transforms) \
        if layer.capabilities else {}
    return {**services, **layer.outputs}

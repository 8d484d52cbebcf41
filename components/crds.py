"""Crds: a bundle of CustomResourceDefinitions kept in this repository, applied on their own before any
release or object that uses them.

Helm installs a chart's CRDs once and never upgrades them, so a chart bump would leave its controller
running against old CRDs. Each bundle here is copied from the pinned chart or release
(`components/crds/<group>/`) and applied by Pulumi with server-side apply: created before the releases
that use them, upgraded with the pin.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.helm import waits_like

CRD_ROOT = Path(__file__).parent / "crds"
# bundle -> the folder of the pinned chart (or release) its files are copied from, what to copy on a bump
BUNDLES = {
    "monitoring.coreos.com": "kube-prometheus-stack/charts/crds/crds",  # 88.5.3, prometheus-operator 0.93.1
    "gateway.networking.k8s.io": "gateway-api-crds",  # Gateway API v1.6.1, standard channel
    "gateway.envoyproxy.io": "gateway-helm/charts/crds/crds/generated",  # Envoy Gateway v1.9.0
    "velero.io": "velero/crds",  # chart 12.1.0, Velero 1.18.1
}
OPERATOR_VERSION = "0.93.1"  # the prometheus-operator of kube-prometheus-stack 88.5.3


def files(bundle: str) -> str:
    """The bundle's files, relative to the project (where Pulumi runs the program and its providers)."""
    return f"components/crds/{bundle}/*.yaml"


class Crds(pulumi.ComponentResource):
    group: k8s.yaml.v2.ConfigGroup

    def __init__(self, name: str, bundle: str, opts: pulumi.ResourceOptions | None = None):
        if bundle not in BUNDLES:
            raise ValueError(f"unknown CRD bundle {bundle}; kept here: {', '.join(BUNDLES)}")
        super().__init__("eks-platform:crds:Crds", f"{name}-{bundle}", None, opts)
        self.group = k8s.yaml.v2.ConfigGroup(f"{name}-{bundle}", files=[files(bundle)],
                                             opts=waits_like(self, opts))
        self.register_outputs({"files": files(bundle)})

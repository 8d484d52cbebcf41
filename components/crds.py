"""PrometheusOperatorCrds: the `monitoring.coreos.com` CRDs, applied on their own before any release.

Helm installs a chart's CRDs once and never upgrades them, so a kube-prometheus-stack bump would leave
the operator running against old CRDs. The CRDs of the pinned chart are kept in this repository
(`components/crds/monitoring.coreos.com`, copied from the chart's `charts/crds/crds`) and applied by
Pulumi with server-side apply: created before the releases that use them, upgraded with the chart.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components.helm import waits_like

CRD_DIR = Path(__file__).parent / "crds" / "monitoring.coreos.com"
CRD_FILES = "components/crds/monitoring.coreos.com/*.yaml"  # relative to the project, where Pulumi runs
OPERATOR_VERSION = "0.93.1"  # the prometheus-operator of kube-prometheus-stack 88.5.3


class PrometheusOperatorCrds(pulumi.ComponentResource):
    group: k8s.yaml.v2.ConfigGroup

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:monitoring:PrometheusOperatorCrds", name, None, opts)
        self.group = k8s.yaml.v2.ConfigGroup(f"{name}-prometheus-operator-crds", files=[CRD_FILES],
                                             opts=waits_like(self, opts))
        self.register_outputs({"files": CRD_FILES})

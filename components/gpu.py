"""GPU: what makes NVIDIA nodes schedulable and observable.

The NVIDIA device plugin (advertises `nvidia.com/gpu`) and the DCGM exporter run only on GPU nodes,
selected by the node group's `nvidia.com/gpu.present` label (EKS sets no feature-discovery labels) and
tolerating the GPU taint. A Grafana dashboard (ConfigMap for the Grafana sidecar) and alert rules
(XID errors, temperature, GPU node not ready) come with them.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import GPU_TOLERATION, release
from components.namespaces import namespace

NAMESPACE = "gpu"
GPU_NODE_LABEL = "nvidia.com/gpu.present"
_GPU_NODES = {GPU_NODE_LABEL: "true"}
HIGH_TEMPERATURE_CELSIUS = 85


def device_plugin_values() -> dict[str, Any]:
    return {
        "nodeSelector": _GPU_NODES,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": GPU_NODE_LABEL, "operator": "In", "values": ["true"]}]}]}}},
        "tolerations": [GPU_TOLERATION],
    }


def dcgm_exporter_values() -> dict[str, Any]:
    return {"nodeSelector": _GPU_NODES, "tolerations": [GPU_TOLERATION], "serviceMonitor": {"enabled": True}}


def alert_rules() -> list[dict[str, Any]]:
    return [{"name": "gpu", "rules": [
        {"alert": "GpuXidError", "expr": "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0", "for": "1m",
         "labels": {"severity": "critical"},
         "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reports XID error {{ $value }}"}},
        {"alert": "GpuTemperatureHigh", "expr": f"max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > {HIGH_TEMPERATURE_CELSIUS}",
         "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }} °C"}},
        {"alert": "GpuNodeNotReady",
         "expr": 'kube_node_status_condition{condition="Ready",status="true"} == 0 '
                 'and on (node) kube_node_labels{label_nvidia_com_gpu_present="true"}',
         "for": "5m", "labels": {"severity": "critical"},
         "annotations": {"summary": "GPU node {{ $labels.node }} is not Ready"}},
    ]}]


def dashboard() -> dict[str, Any]:
    def panel(i: int, title: str, expr: str, unit: str) -> dict[str, Any]:
        return {"id": i, "type": "timeseries", "title": title, "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 8, "x": 8 * (i - 1), "y": 0}, "fieldConfig": {"defaults": {"unit": unit}},
                "targets": [{"expr": expr, "legendFormat": "{{Hostname}} GPU {{gpu}}", "refId": "A"}]}
    return {
        "uid": "eks-platform-gpu", "title": "GPU nodes", "schemaVersion": 39, "tags": ["gpu", "eks-platform"],
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "panels": [
            panel(1, "GPU utilisation", "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "percent"),
            panel(2, "GPU memory used", "avg by (Hostname, gpu) (DCGM_FI_DEV_FB_USED) * 1024 * 1024", "bytes"),
            panel(3, "GPU temperature", "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP)", "celsius"),
        ],
    }


class Gpu(pulumi.ComponentResource):
    def __init__(self, name: str, monitoring: pulumi.Resource, opts: pulumi.ResourceOptions | None = None):
        """`monitoring` is the kube-prometheus-stack release: it owns the CRDs the exporter and rules use."""
        super().__init__("eks-platform:gpu:Gpu", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = namespace(NAMESPACE, child, pod_security="privileged")  # device plugin and DCGM: host paths, devices
        after_monitoring = pulumi.ResourceOptions(parent=self, depends_on=[monitoring])
        self.device_plugin = release("nvidia-device-plugin", "nvidia-device-plugin", ns.metadata.name,
                                     device_plugin_values(), timeout_seconds=300, opts=child)
        self.dcgm_exporter = release("dcgm-exporter", "dcgm-exporter", ns.metadata.name, dcgm_exporter_values(),
                                     timeout_seconds=300, opts=after_monitoring)
        k8s.core.v1.ConfigMap(
            f"{name}-gpu-dashboard",
            metadata={"name": "gpu-dashboard", "namespace": NAMESPACE, "labels": {"grafana_dashboard": "1"}},
            data={"gpu.json": json.dumps(dashboard())},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ns]),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-gpu-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
            metadata={"name": "gpu-alerts", "namespace": NAMESPACE},
            spec={"groups": alert_rules()},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[monitoring, ns]),
        )
        self.register_outputs({"namespace": NAMESPACE})

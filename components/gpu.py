"""GPU: what makes NVIDIA nodes schedulable and observable.

The NVIDIA device plugin (advertises `nvidia.com/gpu`) and the DCGM exporter run only on GPU nodes,
selected by the node group's `nvidia.com/gpu.present` label (EKS sets no feature-discovery labels) and
tolerating the GPU taint. A Grafana dashboard (ConfigMap for the Grafana sidecar) and alert rules
(a new XID error, by class; temperature; GPU node not ready) come with them. `GpuNodeNotReady` joins
on `kube_node_labels{label_nvidia_com_gpu_present}`: kube-state-metrics must allow-list that label
(`NODE_LABELS_FOR_METRICS`).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.dashboards import alerts_and_dashboard, dashboard
from components.helm import GPU_TOLERATION, Resources, release, resources_values, waits_like
from components.namespaces import namespace

NAMESPACE = "gpu"
GPU_NODE_LABEL = "nvidia.com/gpu.present"
_GPU_NODES = {GPU_NODE_LABEL: "true"}
HIGH_TEMPERATURE_CELSIUS = 85
NODE_LABELS_FOR_METRICS = (GPU_NODE_LABEL,)
# XIDs that mean failing hardware (ECC, row remapping, NVLink, fallen off the bus, GSP): drain the node.
# Other XIDs are mostly application faults (13, 31, 43, 45) and only warn.
HARDWARE_XIDS = (48, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140)
XID_WINDOW = "10m"


def device_plugin_values(resources: Resources | None = None) -> dict[str, Any]:
    return {
        "nodeSelector": _GPU_NODES,
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": GPU_NODE_LABEL, "operator": "In", "values": ["true"]}]}]}}},
        "tolerations": [GPU_TOLERATION],
        "resources": resources_values(resources),
    }


def dcgm_exporter_values(resources: Resources | None = None) -> dict[str, Any]:
    return {"nodeSelector": _GPU_NODES, "tolerations": [GPU_TOLERATION], "serviceMonitor": {"enabled": True},
            "resources": resources_values(resources)}


XID_SERIES = "DCGM_FI_DEV_XID_ERRORS"  # dcgm-exporter 4.x: the last XID in `err_code` (0: none), its text in `err_msg`
XID_MEMORY = "1h"  # an XID already seen this long before the window is old news (an exporter restart re-reports it)


def _new_xid(hardware: bool) -> str:
    """An XID of one class that no series of the same GPU (`UUID`) showed before the window: each new XID is a
    new series (its code is a label), so a new code is news and an exporter or pod restart, which only changes
    `pod`/`instance`, is not. Fires for the window after the XID appears, then resolves. A repeat of the same
    code on the same GPU is the same series and goes unseen."""
    codes = "|".join(str(code) for code in HARDWARE_XIDS)
    matcher = f'err_code=~"{codes}"' if hardware else f'err_code!~"0|{codes}"'
    current = f"max by (Hostname, gpu, UUID, err_code, err_msg) ({XID_SERIES}{{{matcher}}})"
    seen = f"present_over_time({XID_SERIES}[{XID_MEMORY}] offset {XID_WINDOW})"
    return f"{current} unless on (UUID, err_code) {seen}"


def alert_rules() -> list[dict[str, Any]]:
    xid = "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $labels.err_code }} ({{ $labels.err_msg }})"
    return [{"name": "gpu", "rules": [
        {"alert": "GpuXidHardwareError", "expr": _new_xid(hardware=True),
         "labels": {"severity": "critical"},
         "annotations": {"summary": f"{xid}: a hardware fault, drain and replace the node"}},
        {"alert": "GpuXidError", "expr": _new_xid(hardware=False),
         "labels": {"severity": "warning"},
         "annotations": {"summary": f"{xid}: usually an application fault"}},
        {"alert": "GpuTemperatureHigh", "expr": f"max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > {HIGH_TEMPERATURE_CELSIUS}",
         "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }} °C"}},
        {"alert": "GpuNodeNotReady",
         "expr": 'kube_node_status_condition{condition="Ready",status="true"} == 0 '
                 'and on (node) kube_node_labels{label_nvidia_com_gpu_present="true"}',
         "for": "5m", "labels": {"severity": "critical"},
         "annotations": {"summary": "GPU node {{ $labels.node }} is not Ready"}},
    ]}]


def gpu_dashboard() -> dict[str, Any]:
    return dashboard("gpu", "GPU nodes", "gpu", "{{Hostname}} GPU {{gpu}}", [
        ("GPU utilisation", "avg by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL)", "percent"),
        ("GPU memory used", "avg by (Hostname, gpu) (DCGM_FI_DEV_FB_USED) * 1024 * 1024", "bytes"),
        ("GPU temperature", "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP)", "celsius"),
    ])


class Gpu(pulumi.ComponentResource):
    def __init__(self, name: str, resources: dict[str, Resources] | None = None,
                 opts: pulumi.ResourceOptions | None = None):
        """`opts` must make it wait for the `monitoring.coreos.com` CRDs its exporter and rules use."""
        super().__init__("eks-platform:gpu:Gpu", name, None, opts)
        resources = resources or {}
        child = pulumi.ResourceOptions(parent=self)
        ns = namespace(NAMESPACE, child, pod_security="privileged")  # device plugin and DCGM: host paths, devices
        self.device_plugin = release("nvidia-device-plugin", "nvidia-device-plugin", ns.metadata.name,
                                     device_plugin_values(resources.get("device-plugin")), timeout_seconds=300,
                                     opts=waits_like(self, opts))
        self.dcgm_exporter = release("dcgm-exporter", "dcgm-exporter", ns.metadata.name,
                                     dcgm_exporter_values(resources.get("dcgm-exporter")), timeout_seconds=300,
                                     opts=waits_like(self, opts))
        alerts_and_dashboard(name, "gpu", NAMESPACE, alert_rules(), gpu_dashboard(), waits_like(self, opts, ns))
        self.namespace = NAMESPACE
        self.namespace_object = ns
        self.register_outputs({"namespace": NAMESPACE})

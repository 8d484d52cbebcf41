"""Grafana dashboards the platform ships as ConfigMaps (Grafana's sidecar loads those labelled
`grafana_dashboard: "1"`): one row of time series over Prometheus queries; and the alert rules beside them.

Every dashboard lives in Grafana's own namespace, the only one its sidecar may read: a tenant's ConfigMap
can never become a dashboard, and Grafana needs no rights in any other namespace."""

from __future__ import annotations

import json
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

DASHBOARDS_NAMESPACE = "monitoring"


def dashboard(uid: str, title: str, tag: str, legend: str, panels: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """`panels`: (title, PromQL, unit) each, laid side by side."""
    return {
        "uid": f"eks-platform-{uid}", "title": title, "schemaVersion": 39, "tags": [tag, "eks-platform"],
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
        "panels": [{"id": i, "type": "timeseries", "title": name,
                    "datasource": {"type": "prometheus", "uid": "prometheus"},
                    "gridPos": {"h": 8, "w": 8, "x": 8 * (i - 1), "y": 0},
                    "fieldConfig": {"defaults": {"unit": unit}},
                    "targets": [{"expr": expr, "legendFormat": legend, "refId": "A"}]}
                   for i, (name, expr, unit) in enumerate(panels, start=1)],
    }


def alerts_and_dashboard(name: str, topic: str, namespace: str, groups: list[dict[str, Any]],
                         board: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
    """A PrometheusRule `<topic>-alerts` in `namespace` and a dashboard ConfigMap `<topic>-dashboard` in Grafana's."""
    k8s.core.v1.ConfigMap(
        f"{name}-{topic}-dashboard",
        metadata={"name": f"{topic}-dashboard", "namespace": DASHBOARDS_NAMESPACE, "labels": {"grafana_dashboard": "1"}},
        data={f"{topic}.json": json.dumps(board)}, opts=opts)
    k8s.apiextensions.CustomResource(
        f"{name}-{topic}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
        metadata={"name": f"{topic}-alerts", "namespace": namespace}, spec={"groups": groups}, opts=opts)

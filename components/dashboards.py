"""Grafana dashboards the platform ships as ConfigMaps (Grafana's sidecar loads those labelled
`grafana_dashboard: "1"`): one row of time series over Prometheus queries."""

from __future__ import annotations

from typing import Any, Sequence


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

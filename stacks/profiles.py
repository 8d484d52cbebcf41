"""Environment profiles: the defaults a stack file overrides, and what each environment protects.

dev is cheap and disposable; staging mirrors prod at a smaller size; prod is highly available,
protected against deletion and held to stricter rules (see `stacks/rules.py`); local (`target: kubeconfig`,
a kind, k3s or minikube cluster) runs one replica of everything, keeps a day of metrics and protects nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.helm import Resources
from stacks.eks_versions import DEFAULT_VERSION


@dataclass(frozen=True)
class ServiceProfile:
    """How big and how available the in-cluster services are."""

    storage_reclaim_policy: str
    ingress_replicas: int
    ingress_max_replicas: int | None
    prometheus_replicas: int
    alertmanager_replicas: int
    loki_mode: str
    loki_replicas: int
    loki_cache_mib: int | None  # None: no memcached caches
    metrics_server_replicas: int
    sizes: dict[str, Resources]


def _sizes(scale: int, loki_scale: int) -> dict[str, Resources]:
    """Requests (and memory limits where memory is bounded) of every platform container.

    `scale` 1 is dev; staging and prod scale the workloads that grow with the cluster (Prometheus,
    Grafana, the ingress controller, kube-state-metrics, the autoscaler); Loki's pods by `loki_scale`
    (simple scalable mode runs nine of them). Prometheus and Loki
    get no memory limit: their memory follows the series and streams they hold, and an OOM kill
    loses the head block. Everything else is capped so a leak cannot starve a node.
    """
    def grow(cpu_m: int, memory_mi: int, limit_mi: int | None, by: int = scale) -> Resources:
        return Resources(f"{cpu_m * by}m", f"{memory_mi * by}Mi", f"{limit_mi * by}Mi" if limit_mi else None)

    fixed = Resources
    return {
        "prometheus": grow(200, 1024, None),
        "loki": grow(100, 256, None, loki_scale),
        "grafana": grow(50, 192, 384),
        "ingress-controller": grow(100, 128, 384),
        "kube-state-metrics": grow(20, 64, 192),
        "cluster-autoscaler": grow(50, 192, 384),
        "loki-cache": grow(50, 64, None, loki_scale),
        "alertmanager": fixed("20m", "64Mi", "128Mi"),
        "prometheus-operator": fixed("50m", "128Mi", "256Mi"),
        "config-reloader": fixed("10m", "32Mi", "64Mi"),
        "node-exporter": fixed("20m", "32Mi", "64Mi"),
        "admission-job": fixed("10m", "32Mi", "64Mi"),
        "loki-gateway": fixed("20m", "32Mi", "128Mi"),
        "cache-exporter": fixed("10m", "16Mi", "32Mi"),
        "fluent-bit": fixed("50m", "64Mi", "256Mi"),
        "load-balancer-controller": fixed("50m", "128Mi", "256Mi"),
        "envoy-gateway": grow(100, 256, 1024),
        "metrics-server": fixed("50m", "96Mi", "256Mi"),
        "device-plugin": fixed("10m", "32Mi", "64Mi"),
        "dcgm-exporter": fixed("100m", "128Mi", "512Mi"),
        "velero": grow(50, 128, 512),
        "velero-plugin": fixed("10m", "32Mi", "64Mi"),
    }


@dataclass(frozen=True)
class Profile:
    name: str
    defaults: dict[str, Any]
    node_group_defaults: dict[str, Any]
    protect: bool
    deletion_protection: bool
    log_retention_days: int
    flow_log_retention_days: int
    allow_open_endpoint: bool
    allow_single_nat: bool
    min_on_demand_nodes: int
    services: ServiceProfile
    team_quota: dict[str, str]  # what a team's `quota` holds unless it says


def _team_quota(scale: int) -> dict[str, str]:
    return {"storage": f"{100 * scale}Gi", "persistentVolumeClaims": str(10 * scale),
            "ephemeralStorage": f"{20 * scale}Gi", "gpus": "0", "services": str(20 * scale),
            "configMaps": str(50 * scale), "secrets": str(50 * scale)}


def _general(capacity: str, min_size: int, max_size: int, desired: int, instance: str = "m7i.large") -> dict:
    return {
        "instanceTypes": [instance],
        "capacityType": capacity,
        "minSize": min_size,
        "maxSize": max_size,
        "desiredSize": desired,
        "labels": {"workload": "general"},
    }


NIGHTLY = "0 3 * * *"  # 03:00 UTC


def _defaults(cidr: str, zones: int, nat: str, general: dict, retention: str, prometheus_gib: int,
              log_days: int, backup_days: int, min_alert_rps: float) -> dict:
    return {
        "ingress": {"scheme": "internet-facing", "alerts": {"min5xxRequestsPerSecond": min_alert_rps,
                                                            "minLatencyRequestsPerSecond": min_alert_rps}},
        "grafana": {"allowedCidrs": []},
        "monitoring": {"prometheusRetention": retention, "prometheusStorageGiB": prometheus_gib},
        "logging": {"retentionDays": log_days},
        "backup": {"schedule": NIGHTLY, "retentionDays": backup_days},
        "alerting": {"slackChannel": "#alerts"},
        "kubernetesVersion": DEFAULT_VERSION,
        "network": {"cidr": cidr, "availabilityZones": zones, "natGateways": nat},
        "endpoint": {"publicAccessCidrs": []},
        "adminRoleArns": [],
        "nodeGroups": {"general": general},
        "tags": {},
    }


_NODE_GROUP_DEFAULTS = {
    "capacityType": "ON_DEMAND",
    "diskSizeGiB": 50,
    "labels": {},
    "taints": [],
    "gpu": False,
}

PROFILES: dict[str, Profile] = {
    "dev": Profile(
        name="dev",
        defaults=_defaults("10.20.0.0/16", 2, "single", _general("SPOT", 1, 4, 2), "7d", 20, 7, 7, 1.0),
        node_group_defaults=_NODE_GROUP_DEFAULTS,
        protect=False,
        deletion_protection=False,
        log_retention_days=7,
        flow_log_retention_days=7,
        allow_open_endpoint=True,
        allow_single_nat=True,
        min_on_demand_nodes=0,
        services=ServiceProfile(storage_reclaim_policy="Delete", ingress_replicas=1, ingress_max_replicas=None,
                                prometheus_replicas=1, alertmanager_replicas=1, loki_mode="Monolithic",
                                loki_replicas=1, loki_cache_mib=512, metrics_server_replicas=1,
                                sizes=_sizes(1, loki_scale=1)),
        team_quota=_team_quota(1),
    ),
    "staging": Profile(
        name="staging",
        defaults=_defaults("10.30.0.0/16", 3, "perAz", _general("ON_DEMAND", 3, 6, 3), "15d", 50, 14, 14, 0.5),
        node_group_defaults=_NODE_GROUP_DEFAULTS,
        protect=False,
        deletion_protection=False,
        log_retention_days=30,
        flow_log_retention_days=30,
        allow_open_endpoint=False,
        allow_single_nat=True,
        min_on_demand_nodes=2,
        services=ServiceProfile(storage_reclaim_policy="Delete", ingress_replicas=2, ingress_max_replicas=4,
                                prometheus_replicas=2, alertmanager_replicas=2, loki_mode="SimpleScalable",
                                loki_replicas=3, loki_cache_mib=1024, metrics_server_replicas=2,
                                sizes=_sizes(2, loki_scale=1)),
        team_quota=_team_quota(2),
    ),
    "prod": Profile(
        name="prod",
        defaults=_defaults("10.40.0.0/16", 3, "perAz", _general("ON_DEMAND", 3, 12, 3), "30d", 100, 30, 30, 0.2),
        node_group_defaults=_NODE_GROUP_DEFAULTS,
        protect=True,
        deletion_protection=True,
        log_retention_days=90,
        flow_log_retention_days=90,
        allow_open_endpoint=False,
        allow_single_nat=False,
        min_on_demand_nodes=3,
        services=ServiceProfile(storage_reclaim_policy="Retain", ingress_replicas=3, ingress_max_replicas=9,
                                prometheus_replicas=2, alertmanager_replicas=3, loki_mode="SimpleScalable",
                                loki_replicas=3, loki_cache_mib=2048, metrics_server_replicas=2,
                                sizes=_sizes(4, loki_scale=4)),
        team_quota=_team_quota(4),
    ),
}


LOCAL_ENVIRONMENT = "local"
PROFILES[LOCAL_ENVIRONMENT] = Profile(
    name=LOCAL_ENVIRONMENT,
    defaults={
        "ingress": {"scheme": "internet-facing", "alerts": {"min5xxRequestsPerSecond": 1.0,
                                                            "minLatencyRequestsPerSecond": 1.0}},
        "grafana": {"allowedCidrs": []},
        "monitoring": {"prometheusRetention": "1d", "prometheusStorageGiB": 5},
        "logging": {"retentionDays": 3},
        "alerting": {"slackChannel": "#alerts", "delivery": "none"},
    },
    node_group_defaults={},
    protect=False,
    deletion_protection=False,
    log_retention_days=1,
    flow_log_retention_days=1,
    allow_open_endpoint=True,
    allow_single_nat=True,
    min_on_demand_nodes=0,
    services=ServiceProfile(storage_reclaim_policy="Delete", ingress_replicas=1, ingress_max_replicas=None,
                            prometheus_replicas=1, alertmanager_replicas=1, loki_mode="Monolithic",
                            loki_replicas=1, loki_cache_mib=None, metrics_server_replicas=1,
                            sizes=_sizes(1, loki_scale=1)),
    team_quota=_team_quota(1),
)

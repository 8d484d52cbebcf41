"""Monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, exporters).

Prometheus and Alertmanager keep their data on PersistentVolumes of the given StorageClass. Rules,
ServiceMonitors and PodMonitors of every release are picked up (no `release` label needed). Grafana's
admin password lives in a Kubernetes Secret of ours (never in Helm values), Loki is a datasource, and
dashboards from ConfigMaps labelled `grafana_dashboard: "1"` in any namespace are loaded. With a
Slack webhook, alerts go to Slack; the URL sits in a Secret that Alertmanager mounts, not in values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.helm import release
from components.namespaces import namespace

NAMESPACE = "monitoring"
RELEASE = "kube-prometheus-stack"
GRAFANA_ADMIN_SECRET = "grafana-admin"
SLACK_SECRET = "alertmanager-slack"
SLACK_URL_FILE = f"/etc/alertmanager/secrets/{SLACK_SECRET}/url"


@dataclass
class MonitoringArgs:
    storage_class: str
    grafana_admin_password: pulumi.Input[str]
    loki_url: str
    prometheus_replicas: int = 1
    prometheus_retention: str = "15d"
    prometheus_storage_gib: int = 50
    alertmanager_replicas: int = 1
    alertmanager_storage_gib: int = 10
    slack_webhook_url: pulumi.Input[str] | None = None
    slack_channel: str = "#alerts"
    grafana_host: str | None = None
    ingress_class: str | None = None


def _volume(storage_class: str, gib: int) -> dict[str, Any]:
    return {"volumeClaimTemplate": {"spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                                             "resources": {"requests": {"storage": f"{gib}Gi"}}}}}


def alertmanager_config(slack_channel: str | None) -> dict[str, Any]:
    """Routes to Slack when a channel is given, else to the `null` receiver (alerts go nowhere)."""
    receiver = "slack" if slack_channel else "null"
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    if slack_channel:
        receivers.append({"name": "slack", "slack_configs": [{
            "api_url_file": SLACK_URL_FILE, "channel": slack_channel, "send_resolved": True,
            "title": '{{ .CommonLabels.alertname }} ({{ .Status }})',
            "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}'}]})
    return {
        "route": {"group_by": ["namespace", "alertname"], "group_wait": "30s", "group_interval": "5m",
                  "repeat_interval": "12h", "receiver": receiver,
                  "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
        "receivers": receivers,
    }


def _grafana_ingress(host: str, ingress_class: str | None) -> dict[str, Any]:
    return {
        "ingress": {"enabled": True, "ingressClassName": ingress_class, "hosts": [host]},
        "grafana.ini": {"server": {"root_url": f"https://{host}"}},
    }


def chart_values(args: MonitoringArgs, slack: bool) -> dict[str, Any]:
    selectors = {f"{kind}SelectorNilUsesHelmValues": False
                 for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig")}
    return {
        "crds": {"enabled": True},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "prometheus": {"prometheusSpec": {
            **selectors,
            "replicas": args.prometheus_replicas,
            "retention": args.prometheus_retention,
            "storageSpec": _volume(args.storage_class, args.prometheus_storage_gib),
        }},
        "alertmanager": {
            "config": alertmanager_config(args.slack_channel if slack else None),
            "alertmanagerSpec": {
                "replicas": args.alertmanager_replicas,
                "storage": _volume(args.storage_class, args.alertmanager_storage_gib),
                "secrets": [SLACK_SECRET] if slack else [],
            },
        },
        "grafana": {
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                       "searchNamespace": "ALL"}},
            "additionalDataSources": [{"name": "Loki", "type": "loki", "access": "proxy", "url": args.loki_url,
                                       "isDefault": False}],
            **(_grafana_ingress(args.grafana_host, args.ingress_class) if args.grafana_host else {}),
        },
    }


class Monitoring(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ns = namespace(NAMESPACE, child, pod_security="privileged")  # node-exporter: host network and PID
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        secrets = [k8s.core.v1.Secret(
            f"{name}-grafana-admin", metadata={"name": GRAFANA_ADMIN_SECRET, "namespace": NAMESPACE},
            type="Opaque", string_data={"admin-user": "admin", "admin-password": args.grafana_admin_password},
            opts=in_namespace,
        )]
        slack = args.slack_webhook_url is not None
        if slack:
            secrets.append(k8s.core.v1.Secret(
                f"{name}-alertmanager-slack", metadata={"name": SLACK_SECRET, "namespace": NAMESPACE},
                type="Opaque", string_data={"url": pulumi.Output.secret(args.slack_webhook_url)}, opts=in_namespace,
            ))
        else:
            pulumi.log.warn("alerting: no eks-platform:slackWebhookUrl set, Alertmanager routes alerts nowhere",
                            resource=self)
        self.release = release(RELEASE, "kube-prometheus-stack", ns.metadata.name, chart_values(args, slack),
                               timeout_seconds=900,
                               opts=pulumi.ResourceOptions(parent=self, depends_on=secrets))
        self.namespace = NAMESPACE
        self.alert_delivery = f"slack {args.slack_channel}" if slack else "none: no Slack webhook configured"
        self.register_outputs({"namespace": NAMESPACE, "alertDelivery": self.alert_delivery})

"""Monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana, exporters).

Prometheus, Alertmanager and Grafana keep their data on PersistentVolumes of the given StorageClass;
Prometheus is bounded by time and by size (85 % of its volume). Rules, ServiceMonitors and PodMonitors
of every release are picked up (no `release` label needed). The `monitoring.coreos.com` CRDs are not
installed by this release: `components.crds.Crds` applies them, so a chart bump upgrades them too.
Grafana's admin password lives in a Kubernetes Secret of ours (never in Helm values), Loki is a
datasource per log tenant (one for all of them, one per team), and dashboards from ConfigMaps labelled
`grafana_dashboard: "1"` in its own namespace are loaded: Grafana's account reads ConfigMaps there and
nothing else (a Role of ours, not the chart's, which also grants Secrets). With a Slack webhook, alerts
go to Slack, a team's to the team's own webhook; each URL sits in a Secret of its own that Alertmanager
mounts.
Scrape targets no supported distribution exposes to Prometheus (EKS runs the controller manager, scheduler
and etcd out of reach; kubeadm's kind and minikube bind them and kube-proxy's metrics to 127.0.0.1; k3s embeds
them in one process) are off, so their "down" alerts cannot fire forever.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.dashboards import DASHBOARDS_NAMESPACE
from components.helm import CLUSTER_CRITICAL, NODE_CRITICAL, Resources, release, waits_like
from components.logging import PLATFORM_TENANT
from components.namespaces import namespace

NAMESPACE = DASHBOARDS_NAMESPACE
RELEASE = "kube-prometheus-stack"
GRAFANA = f"{RELEASE}-grafana"
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_SIDECAR_ROLE = "grafana-configmap-reader"
LOKI_TENANT_HEADER = "X-Scope-OrgID"
# The chart's collectors but `secrets`: no rule reads kube_secret_*, and the collector would make
# kube-state-metrics a reader of every Secret in the cluster.
KUBE_STATE_COLLECTORS = (
    "certificatesigningrequests", "configmaps", "cronjobs", "daemonsets", "deployments", "endpointslices",
    "horizontalpodautoscalers", "ingresses", "jobs", "leases", "limitranges", "mutatingwebhookconfigurations",
    "namespaces", "networkpolicies", "nodes", "persistentvolumeclaims", "persistentvolumes", "poddisruptionbudgets",
    "pods", "replicasets", "replicationcontrollers", "resourcequotas", "services", "statefulsets", "storageclasses",
    "validatingwebhookconfigurations", "volumeattachments")
SLACK_SECRET = "alertmanager-slack"
HEARTBEAT_SECRET = "alertmanager-heartbeat"
HEARTBEAT_URL_FILE = f"/etc/alertmanager/secrets/{HEARTBEAT_SECRET}/url"


@dataclass
class MonitoringArgs:
    storage_class: str
    grafana_admin_password: pulumi.Input[str]
    loki_url: str
    log_tenants: Sequence[str] = (PLATFORM_TENANT,)  # the first is the platform's; the others are teams
    prometheus_replicas: int = 1
    prometheus_retention: str = "15d"
    prometheus_storage_gib: int = 50
    alertmanager_replicas: int = 1
    alertmanager_storage_gib: int = 10
    grafana_storage_gib: int = 10
    slack_webhook_url: pulumi.Input[str] | None = None
    slack_channel: str = "#alerts"
    grafana_host: str | None = None
    grafana_tls: bool = True  # whether clients reach `grafana_host` over HTTPS
    delete_volumes_with_workload: bool = True
    node_labels_for_metrics: Sequence[str] = ()
    resources: dict[str, Resources] = field(default_factory=dict)
    after_delete: Sequence[pulumi.ResourceHook] = ()
    team_routes: Sequence["TeamRoute"] = ()
    heartbeat_url: pulumi.Input[str] | None = None


def _volume(storage_class: str, gib: int) -> dict[str, Any]:
    return {"volumeClaimTemplate": {"spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"],
                                             "resources": {"requests": {"storage": f"{gib}Gi"}}}}}


def retention_size(storage_gib: int) -> str:
    """Prometheus's size bound: 85 % of its volume (Prometheus reads GB as GiB), leaving room for the WAL."""
    return f"{storage_gib * 85 // 100}GB"


def volume_retention_policy(delete_with_workload: bool) -> dict[str, str]:
    action = "Delete" if delete_with_workload else "Retain"
    return {"whenDeleted": action, "whenScaled": action}


@dataclass(frozen=True)
class TeamRoute:
    """Alerts of a team's namespaces go to the team's own Slack webhook (its channel) instead of the platform's."""

    team: str
    namespaces: Sequence[str]
    slack_channel: str
    webhook_url: pulumi.Input[str]

    @property
    def secret(self) -> str:
        return f"alertmanager-slack-team-{self.team}"


def _secret_file(secret: str) -> str:
    """Where Alertmanager sees a key `url` of a Secret listed in `alertmanagerSpec.secrets`."""
    return f"/etc/alertmanager/secrets/{secret}/url"


def _slack(name: str, channel: str, secret: str) -> dict[str, Any]:
    return {"name": name, "slack_configs": [{
        "api_url_file": _secret_file(secret), "channel": channel, "send_resolved": True,
        "title": '{{ .CommonLabels.alertname }} ({{ .Status }})',
        "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}'}]}


QUIET_SEVERITIES = ("none", "info")  # never sent to people: Watchdog, InfoInhibitor, informational rules


def alertmanager_config(slack_channel: str | None, team_routes: Sequence[TeamRoute] = (),
                        heartbeat: bool = False) -> dict[str, Any]:
    """The routing tree: Watchdog to the heartbeat (a dead-man's switch that pages when the pings stop), or
    nowhere; `none`/`info` severities nowhere; a team's namespaces to the team's webhook; everything else,
    node-level alerts without a namespace included, to the platform's Slack webhook when there is one, else to
    `null`. Each webhook URL is read from its own Secret (`api_url_file`), never from the configuration."""
    receivers: list[dict[str, Any]] = [{"name": "null"}]
    watchdog: dict[str, Any] = {"receiver": "null", "matchers": ['alertname = "Watchdog"']}
    if heartbeat:
        receivers.append({"name": "heartbeat", "webhook_configs": [{"url_file": HEARTBEAT_URL_FILE,
                                                                    "send_resolved": False}]})
        watchdog = {"receiver": "heartbeat", "matchers": ['alertname = "Watchdog"'], "group_wait": "0s",
                    "group_interval": "1m", "repeat_interval": "1m"}
    routes: list[dict[str, Any]] = [
        watchdog, {"receiver": "null", "matchers": [f'severity =~ "{"|".join(QUIET_SEVERITIES)}"']}]
    for route in team_routes:
        receivers.append(_slack(f"team-{route.team}", route.slack_channel, route.secret))
        routes.append({"receiver": f"team-{route.team}",
                       "matchers": [f'namespace =~ "{"|".join(sorted(route.namespaces))}"']})
    if slack_channel:
        receivers.append(_slack("slack", slack_channel, SLACK_SECRET))
    return {
        "route": {"group_by": ["namespace", "alertname"], "group_wait": "30s", "group_interval": "5m",
                  "repeat_interval": "12h", "receiver": "slack" if slack_channel else "null", "routes": routes},
        "receivers": receivers,
    }


def loki_datasources(url: str, tenants: Sequence[str]) -> list[dict[str, Any]]:
    """`Loki`: every tenant at once (Loki's multi-tenant queries, with a `__tenant_id__` label); `Loki <team>`:
    one team's logs and nobody else's."""
    def source(name: str, tenant: str) -> dict[str, Any]:
        return {"name": name, "type": "loki", "access": "proxy", "url": url, "isDefault": False,
                "jsonData": {"httpHeaderName1": LOKI_TENANT_HEADER}, "secureJsonData": {"httpHeaderValue1": tenant}}
    return [source("Loki", "|".join(tenants)), *(source(f"Loki {team}", team) for team in tenants[1:])]


def disruption_budget(replicas: int) -> dict[str, Any]:
    """With more than one replica, keep all but one through voluntary disruptions (a node-group roll)."""
    return {"enabled": replicas > 1, "minAvailable": max(replicas - 1, 1)}


def label_allowlist(node_labels: Sequence[str]) -> list[str]:
    """kube-state-metrics exports no object labels unless listed: `kube_node_labels{label_<name>=...}`."""
    return [f"nodes=[{','.join(node_labels)}]"] if node_labels else []


def chart_values(args: MonitoringArgs, slack: bool) -> dict[str, Any]:
    selectors = {f"{kind}SelectorNilUsesHelmValues": False
                 for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig")}
    size = {name: r.values() for name, r in args.resources.items()}
    volumes = volume_retention_policy(args.delete_volumes_with_workload)
    grafana: dict[str, Any] = {
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
        "rbac": {"namespaced": True, "useExistingRole": GRAFANA_SIDECAR_ROLE},
        "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                                   "searchNamespace": NAMESPACE, "resource": "configmap"},
                    "datasources": {"resource": "configmap"},
                    "resources": size.get("config-reloader")},
        "additionalDataSources": loki_datasources(args.loki_url, args.log_tenants),
        "persistence": {"enabled": True, "type": "pvc", "storageClassName": args.storage_class,
                        "accessModes": ["ReadWriteOnce"], "size": f"{args.grafana_storage_gib}Gi"},
        "deploymentStrategy": {"type": "Recreate"},  # one ReadWriteOnce volume: never two pods at once
        "initChownData": {"enabled": False},  # the pod's fsGroup already owns the volume
        "resources": size.get("grafana"),
        "priorityClassName": CLUSTER_CRITICAL,
    }
    if args.grafana_host:
        grafana["grafana.ini"] = {"server": {"root_url": f"{'https' if args.grafana_tls else 'http'}://{args.grafana_host}"}}
    return {
        "crds": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "prometheusOperator": {
            "resources": size.get("prometheus-operator"),
            "priorityClassName": CLUSTER_CRITICAL,
            "prometheusConfigReloader": {"resources": size.get("config-reloader")},
            "admissionWebhooks": {"patch": {"resources": size.get("admission-job"), "priorityClassName": CLUSTER_CRITICAL}},
        },
        "prometheus": {"prometheusSpec": {
            **selectors,
            "replicas": args.prometheus_replicas,
            "retention": args.prometheus_retention,
            "retentionSize": retention_size(args.prometheus_storage_gib),
            "storageSpec": _volume(args.storage_class, args.prometheus_storage_gib),
            "persistentVolumeClaimRetentionPolicy": volumes,
            "resources": size.get("prometheus"),
            "priorityClassName": CLUSTER_CRITICAL,
        }, "podDisruptionBudget": disruption_budget(args.prometheus_replicas)},
        "alertmanager": {
            "config": alertmanager_config(args.slack_channel if slack else None, args.team_routes,
                                          heartbeat=args.heartbeat_url is not None),
            "alertmanagerSpec": {
                "replicas": args.alertmanager_replicas,
                "storage": _volume(args.storage_class, args.alertmanager_storage_gib),
                "persistentVolumeClaimRetentionPolicy": volumes,
                "secrets": [*([SLACK_SECRET] if slack else []),
                            *([HEARTBEAT_SECRET] if args.heartbeat_url is not None else []),
                            *(route.secret for route in args.team_routes)],
                "resources": size.get("alertmanager"),
                "priorityClassName": CLUSTER_CRITICAL,
            },
            "podDisruptionBudget": disruption_budget(args.alertmanager_replicas),
        },
        "kube-state-metrics": {"collectors": list(KUBE_STATE_COLLECTORS),
                               "metricLabelsAllowlist": label_allowlist(args.node_labels_for_metrics),
                               "resources": size.get("kube-state-metrics"), "priorityClassName": CLUSTER_CRITICAL},
        "prometheus-node-exporter": {"resources": size.get("node-exporter"), "priorityClassName": NODE_CRITICAL},
        "grafana": grafana,
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
        for route in args.team_routes:
            secrets.append(k8s.core.v1.Secret(
                f"{name}-{route.secret}", metadata={"name": route.secret, "namespace": NAMESPACE},
                type="Opaque", string_data={"url": pulumi.Output.secret(route.webhook_url)}, opts=in_namespace,
            ))
        if args.heartbeat_url is not None:
            secrets.append(k8s.core.v1.Secret(
                f"{name}-alertmanager-heartbeat", metadata={"name": HEARTBEAT_SECRET, "namespace": NAMESPACE},
                type="Opaque", string_data={"url": pulumi.Output.secret(args.heartbeat_url)}, opts=in_namespace,
            ))
        sidecar_role = k8s.rbac.v1.Role(
            f"{name}-grafana-sidecar", metadata={"name": GRAFANA_SIDECAR_ROLE, "namespace": NAMESPACE},
            rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}],
            opts=in_namespace)
        self.release = release(RELEASE, "kube-prometheus-stack", ns.metadata.name, chart_values(args, slack),
                               timeout_seconds=900, skip_crds=True,
                               opts=waits_like(self, opts, *secrets, sidecar_role), delete_hooks=args.after_delete)
        self.namespace = NAMESPACE
        self.namespace_object = ns
        self.alert_delivery = f"slack {args.slack_channel}" if slack else "none: no Slack webhook configured"
        self.register_outputs({"namespace": NAMESPACE, "alertDelivery": self.alert_delivery})

    def expose_grafana(self, host: str, ingress_class: str, allowed_cidrs: Sequence[str],
                       opts: pulumi.ResourceOptions) -> k8s.networking.v1.Ingress:
        """An Ingress for Grafana at `host`, answering only clients from `allowed_cidrs`.

        Kept out of the chart so that kube-prometheus-stack does not wait for the ingress controller,
        whose admission webhook must be serving before an Ingress can be created (`opts` says so)."""
        return k8s.networking.v1.Ingress(
            f"{self._name}-grafana",
            metadata={"name": "grafana", "namespace": NAMESPACE, "annotations": {
                "nginx.ingress.kubernetes.io/whitelist-source-range": ",".join(allowed_cidrs)}},
            spec={"ingressClassName": ingress_class, "rules": [{"host": host, "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": GRAFANA, "port": {"number": 80}}}}]}}]},
            opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), opts),
        )

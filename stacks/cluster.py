"""The cluster layer, on any target: namespaces, CRDs, releases, admission and network policies, tenancy,
dashboards and alerts, given a Kubernetes provider and the target's `ClusterCapabilities`.

Each release waits for the nodes and cluster DNS, and only for what else it really needs: the
`monitoring.coreos.com` CRDs, the storage class. No release waits for another. Features the target cannot
give are left out: Velero without object storage and snapshots, the GPU add-ons without GPU nodes, DNS
records without a DNS base.
"""

from __future__ import annotations

from typing import Any, Callable

import pulumi
import pulumi_random as random

from components.admission import TenantAdmission, TenantAdmissionArgs
from components.backup import Backup, BackupArgs
from components.capabilities import ClusterCapabilities
from components.crds import Crds
from components.gateway import GATEWAY, NAMESPACE as GATEWAY_NAMESPACE, Gateway, GatewayArgs
from components.gpu import NODE_LABELS_FOR_METRICS, Gpu
from components.ingress import INGRESS_CLASS, EdgeAlertThresholds, Ingress, IngressArgs
from components.isolation import NamespaceIsolation
from components.logging import LOKI_URL, PLATFORM_TENANT, FluentBit, FluentBitArgs, Loki, LokiArgs
from components.metrics_server import MetricsServer, MetricsServerArgs
from components.monitoring import GRAFANA, Monitoring, MonitoringArgs, TeamRoute
from components.tenancy import Quota, Team, TeamArgs, WorkloadIdentity
from ops import hooks
from stacks.config import Settings
from stacks.flows import PROMETHEUS, edge_pods, platform_flows
from stacks.rules import grafana_host, team_hostnames
from stacks.schema import PRIVATE_RANGES

LOCAL_GRAFANA_CLIENTS = ("127.0.0.0/8", *(str(r) for r in PRIVATE_RANGES))  # the laptop, through Docker


def _grafana_host(settings: Settings, caps: ClusterCapabilities) -> tuple[str | None, tuple[str, ...]]:
    """Where Grafana is published and to whom: `grafana.<base>` to `grafana.allowedCidrs` on EKS with dns,
    `grafana.localtest.me` to the laptop on a local cluster, else nowhere (port-forward)."""
    if caps.local_hosts:
        return grafana_host(caps.local_hosts), LOCAL_GRAFANA_CLIENTS
    cidrs = tuple(settings.config.grafana.allowed_cidrs)
    if caps.dns and cidrs:
        return grafana_host(caps.dns.base_domain), cidrs
    return None, ()


def _edge(settings: Settings, caps: ClusterCapabilities, grafana: tuple[str | None, tuple[str, ...]],
          monitoring: Monitoring, after: Callable[..., pulumi.ResourceOptions],
          *waits: pulumi.Resource) -> Ingress | Gateway:
    """The edge the stack chose (`ingress.controller`), after `waits` and the certificate; Grafana published
    through it when there is a host; the DNS records pointed at it."""
    cfg, services, name = settings.config, settings.profile.services, settings.cluster_name
    sizes, dns, (grafana_host, grafana_clients) = services.sizes, caps.dns, grafana
    certificate_arn = dns.certificate_arn if dns else None
    opts = after(*waits, *caps.edge.ready, *([dns.certificate_ready] if dns else []))
    thresholds = EdgeAlertThresholds(cfg.ingress.alerts.min_5xx_requests_per_second,
                                     cfg.ingress.alerts.min_latency_requests_per_second)
    edge: Ingress | Gateway
    if cfg.ingress.controller == "gateway":
        gateway_crds = [Crds(name, bundle, after()).group
                        for bundle in ("gateway.networking.k8s.io", "gateway.envoyproxy.io")]
        edge = Gateway(name, GatewayArgs(
            load_balancers=caps.edge.load_balancers,
            scheme=cfg.ingress.scheme, base_domain=dns.base_domain if dns else None,
            tls_certificate_arn=certificate_arn, proxy_replicas=services.ingress_replicas,
            controller_resources=sizes["envoy-gateway"], proxy_resources=sizes["ingress-controller"],
            job_resources=sizes["admission-job"], after_delete=caps.edge.after_delete, alert_thresholds=thresholds,
        ), gateway_crds, opts)
        edge_ready: pulumi.Resource = edge.gateway
        if grafana_host:
            edge.expose("grafana", grafana_host, monitoring.namespace, GRAFANA, 80, grafana_clients)
    else:
        edge = Ingress(name, IngressArgs(
            edge=caps.edge, scheme=cfg.ingress.scheme, replicas=services.ingress_replicas,
            max_replicas=services.ingress_max_replicas, tls_certificate_arn=certificate_arn,
            resources=sizes["ingress-controller"], job_resources=sizes["admission-job"],
            retired_risk_accepted=cfg.ingress.accept_retired_controller, alert_thresholds=thresholds,
        ), opts)
        edge_ready = edge.release
        if grafana_host:
            monitoring.expose_grafana(grafana_host, edge.ingress_class, grafana_clients,
                                      after(monitoring.namespace_object, edge.release))
    if dns:
        dns.publish(edge.service, edge_ready, grafana=grafana_host is not None)
    return edge


def build(settings: Settings, caps: ClusterCapabilities, providers: dict[str, pulumi.ProviderResource],
          transforms: list[Any]) -> dict[str, pulumi.Input]:
    """Register the in-cluster layer; return its stack outputs."""
    cfg, services, name = settings.config, settings.profile.services, settings.cluster_name
    sizes, cluster_ready = services.sizes, list(caps.cluster_ready)

    def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=providers, depends_on=[*cluster_ready, *resources],
                                      transforms=transforms)

    grafana = _grafana_host(settings, caps)
    grafana_host = grafana[0]
    crds = Crds(name, "monitoring.coreos.com", after()).group
    password = (pulumi.Output.secret(cfg.grafana_admin_password.get_secret_value()) if cfg.grafana_admin_password
                else random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                           opts=pulumi.ResourceOptions(providers=providers)).result)
    slack_url = cfg.slack_webhook_url.get_secret_value() if cfg.slack_webhook_url else None
    delete_volumes = services.storage_reclaim_policy == "Delete"
    volumes_gone = {ns: list(caps.volumes_gone(ns)) if delete_volumes else [] for ns in ("monitoring", "logging")}
    monitoring = Monitoring(name, MonitoringArgs(
        storage_class=caps.storage_class, grafana_admin_password=password, loki_url=LOKI_URL,
        log_tenants=[PLATFORM_TENANT, *cfg.teams],
        prometheus_replicas=services.prometheus_replicas,
        prometheus_retention=cfg.monitoring.prometheus_retention,
        prometheus_storage_gib=cfg.monitoring.prometheus_storage_gib,
        alertmanager_replicas=services.alertmanager_replicas,
        slack_webhook_url=pulumi.Output.secret(slack_url) if slack_url else None,
        slack_channel=cfg.alerting.slack_channel, grafana_host=grafana_host, grafana_tls=caps.dns is not None,
        delete_volumes_with_workload=delete_volumes,
        node_labels_for_metrics=NODE_LABELS_FOR_METRICS,
        resources=sizes, after_delete=volumes_gone["monitoring"],
        team_routes=[TeamRoute(team, t.namespaces, t.alerts.slack_channel,
                               pulumi.Output.secret(t.alerts.slack_webhook_url.get_secret_value()))
                     for team, t in cfg.teams.items() if t.alerts and t.alerts.slack_webhook_url],
        heartbeat_url=pulumi.Output.secret(cfg.alerting.heartbeat_url.get_secret_value())
        if cfg.alerting.heartbeat_url else None,
    ), after(crds, *caps.storage_ready))
    loki = Loki(name, LokiArgs(
        cluster_name=name, storage_class=caps.storage_class, object_storage=caps.object_storage,
        identity=caps.identity, retention_days=cfg.logging.retention_days, mode=services.loki_mode,
        replicas=services.loki_replicas, cache_memory_mib=services.loki_cache_mib, protect=settings.profile.protect,
        delete_volumes_with_workload=delete_volumes, resources=sizes, after_delete=volumes_gone["logging"],
    ), after(crds, *caps.storage_ready, monitoring.namespace_object))  # its dashboards go to Grafana's namespace
    fluent_bit = FluentBit(name, FluentBitArgs(
        team_namespaces={team: t.namespaces for team, t in cfg.teams.items()}, resources=sizes["fluent-bit"],
        node_journal=caps.node_journal,
    ), after(crds, monitoring.namespace_object))
    backup = None
    if caps.object_storage and caps.identity and caps.snapshots_ready is not None:
        backup = Backup(name, BackupArgs(
            cluster_name=name, object_storage=caps.object_storage, identity=caps.identity,
            schedule=cfg.backup.schedule, retention_days=cfg.backup.retention_days, protect=settings.profile.protect,
            resources=sizes["velero"], plugin_resources=sizes["velero-plugin"],
            before_delete=[hooks.restores_released(name, caps.kubernetes_client)] if caps.kubernetes_client else [],
        ), after(crds, Crds(name, "velero.io", after()).group, *caps.snapshots_ready))
    edge = _edge(settings, caps, grafana, monitoring, after, crds, monitoring.namespace_object)
    admission = TenantAdmission(name, TenantAdmissionArgs(
        ingress_class=INGRESS_CLASS if cfg.ingress.controller == "nginx" else None,
        gateway=(GATEWAY_NAMESPACE, GATEWAY) if cfg.ingress.controller == "gateway" else None,
        enforce=cfg.tenancy.admission == "enforce", images_warn_only=cfg.environment in ("dev", "local")), after())
    base = caps.dns.base_domain if caps.dns else caps.local_hosts
    for team, team_config in cfg.teams.items():
        Team(team, TeamArgs(
            namespaces=team_config.namespaces, access=caps.team_access, identity=caps.identity,
            role_arns=team_config.role_arns, quota=Quota(**dict(team_config.quota)),
            allowed_peers=[PROMETHEUS], edge=edge_pods(cfg.ingress.controller), edge_ports=team_config.edge_ports,
            workload_identities=[WorkloadIdentity(account, sa.namespace or team_config.namespaces[0], sa.policy_arns)
                                 for account, sa in team_config.service_accounts.items()],
            hostnames=team_hostnames(team, team_config, base), allow_load_balancers=team_config.allow_load_balancers,
            pod_security=team_config.pod_security, gateway_routes=cfg.ingress.controller == "gateway",
            node_network=caps.node_network, api_server_ports=caps.api_server_ports,
            egress_namespaces=team_config.egress.namespaces, egress_internet=team_config.egress.internet,
        ), after(admission))
    gpu = Gpu(name, sizes, after(crds, monitoring.namespace_object)) if caps.gpu_nodes else None
    MetricsServer(name, MetricsServerArgs(replicas=services.metrics_server_replicas,
                                          resources=sizes["metrics-server"],
                                          kubelet_insecure_tls=caps.kubelet_insecure_tls), after())
    owners = {monitoring.namespace: monitoring, loki.namespace: loki, fluent_bit.namespace: fluent_bit,
              edge.namespace: edge, **({backup.namespace: backup} if backup else {}),
              **({gpu.namespace: gpu} if gpu else {})}
    for namespace, allows in platform_flows(caps.node_network, gpu is not None, cfg.ingress.controller,
                                            grafana_published=grafana_host is not None,
                                            velero=backup is not None).items():
        waits = [owners[namespace].namespace_object] if namespace in owners else []  # kube-system exists already
        NamespaceIsolation(f"{name}-{namespace}", namespace, allows, after(*waits))
    return {
        "grafanaAdminPassword": pulumi.Output.secret(password),
        "lokiBucket": loki.bucket.name if loki.bucket else "none: Loki keeps its logs on its volume",
        "backupBucket": backup.bucket.name if backup else "none: no Velero on this cluster",
        "alertDelivery": monitoring.alert_delivery,
        "baseDomain": caps.dns.base_domain if caps.dns else "none: no dns block configured",
        "nameServers": caps.dns.name_servers if caps.dns else "none: no dns block configured",
        "edge": f"{cfg.ingress.controller}: {edge.service}",
        "grafanaUrl": f"{'https' if caps.dns else 'http'}://{grafana_host}" if grafana_host
        else "none: kubectl port-forward (docs/services.md); set grafana.allowedCidrs and dns to publish it",
    }

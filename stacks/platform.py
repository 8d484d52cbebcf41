"""The platform assembly: validated `Settings` in, components wired in dependency order, outputs out."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

import boto3
import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.boundary import permissions_boundary
from components.autoscaling import Autoscaling, AutoscalingArgs
from components.backup import Backup, BackupArgs
from components import leftovers
from components.ci_runner import CiRunner, CiRunnerArgs
from components.control_plane import ControlPlane, ControlPlaneArgs
from components.crds import Crds
from components.gpu import NODE_LABELS_FOR_METRICS, Gpu
from components.isolation import NamespaceIsolation
from components.dns import Dns, DnsArgs
from components.admission import TenantAdmission, TenantAdmissionArgs
from components.gateway import GATEWAY, NAMESPACE as GATEWAY_NAMESPACE, Gateway, GatewayArgs
from components.ingress import INGRESS_CLASS, EdgeAlertThresholds, Ingress, IngressArgs
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.logging import LOKI_URL, PLATFORM_TENANT, FluentBit, FluentBitArgs, Loki, LokiArgs
from components.monitoring import GRAFANA, Monitoring, MonitoringArgs, TeamRoute
from components.network import Network, NetworkArgs
from components.helm import HELM_DRIVER, values_overrides
from components.node_group import NodeGroup, NodeGroupArgs, Taint
from components.storage import STORAGE_CLASS, Storage, StorageArgs
from components.tenancy import Quota, Team, TeamArgs, WorkloadIdentity
from stacks import eks_versions, trust
from stacks.config import Settings
from stacks.flows import PROMETHEUS, edge_pods, platform_flows
from stacks.rules import capacity_warnings, delivery_warnings, naming_warnings, team_hostnames


def _node_group_instances(cfg, network: Network) -> list[tuple[str, Any, pulumi.Input]]:
    """(name, group, subnets) of every managed node group: one across all zones, or with `perZone` one per
    zone (`<group>-<zone index>`), so the autoscaler can add a node in the zone of a pending pod's volume."""
    instances = []
    for group_name, group in cfg.node_groups.items():
        if group.per_zone:
            for zone in range(cfg.network.availability_zones):
                instances.append((f"{group_name}-{zone}", group,
                                  network.private_subnet_ids.apply(lambda ids, i=zone: [ids[i]])))
        else:
            instances.append((group_name, group, network.private_subnet_ids))
    return instances


def runner_project(stack: str, purpose: str = "deploy") -> str:
    """The CodeBuild project of a stack's in-VPC runner (`deploy` for main's deploys and destroys, `preview`
    for pull requests); the workflows derive the same name from the stack."""
    return f"eks-platform-{stack}-runner" if purpose == "deploy" else f"eks-platform-{stack}-{purpose}-runner"


def build(settings: Settings) -> dict[str, pulumi.Input]:
    """Register every resource of the stack; return the stack outputs."""
    cfg, profile, name = settings.config, settings.profile, settings.cluster_name
    version_notice = eks_versions.notice(cfg.kubernetes_version, date.today())
    for warning in [*([version_notice] if version_notice else []), *capacity_warnings(cfg), *delivery_warnings(cfg),
                    *naming_warnings(settings.stack, cfg.environment)]:
        pulumi.log.warn(warning)
    provider = aws.Provider("aws", region=settings.region, allowed_account_ids=[settings.account_id],
                            default_tags={"tags": settings.tags})
    opts = pulumi.ResourceOptions(providers={"aws": provider},
                                  transforms=[permissions_boundary(settings.permissions_boundary_arn)])

    network = Network(name, NetworkArgs(
        cidr=cfg.network.cidr,
        zone_count=cfg.network.availability_zones,
        nat_gateways=cfg.network.nat_gateways,
        cluster_name=name,
        flow_log_retention_days=profile.flow_log_retention_days,
        protect=profile.protect,
    ), opts)

    control_plane = ControlPlane(name, ControlPlaneArgs(
        cluster_name=name,
        kubernetes_version=cfg.kubernetes_version,
        vpc_id=network.vpc.id,
        private_subnet_ids=network.private_subnet_ids,
        public_subnet_ids=network.public_subnet_ids,
        public_access_cidrs=cfg.endpoint.public_access_cidrs,
        admin_role_arns=cfg.admin_role_arns,
        preview_role_arn=cfg.preview_role_arn,
        log_retention_days=profile.log_retention_days,
        upgrade_policy=cfg.upgrade_policy,
        deletion_protection=profile.deletion_protection,
        protect=profile.protect,
        tags=settings.tags,
    ), opts)

    instances = _node_group_instances(cfg, network)
    node_groups = {
        instance: NodeGroup(f"{name}-{instance}", NodeGroupArgs(
            cluster=control_plane.cluster,
            cluster_name=name,
            kubernetes_version=cfg.kubernetes_version,
            subnet_ids=subnets,
            instance_types=group.instance_types,
            capacity_type=group.capacity_type,
            min_size=group.min_size,
            max_size=group.max_size,
            desired_size=group.desired_size,
            disk_size_gib=group.disk_size_gib,
            gpu=group.gpu,
            labels=group.labels,
            taints=[Taint(t.key, t.value, t.effect) for t in group.taints],
            tags=settings.tags,
        ), pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=control_plane.node_prerequisites)))
        for instance, group, subnets in instances
    }
    coredns = control_plane.add_coredns([g.node_group for g in node_groups.values()])
    general_nodes = [node_groups[instance].node_group for instance, group, _ in instances if not group.gpu]
    eks_cluster = control_plane.cluster.eks_cluster
    runners = {}
    if cfg.ci_runner:
        for purpose, runner_name, workflows, head_ref in (
                ("deploy", name, trust.DEPLOY_RUNNER_WORKFLOWS, trust.MAIN),
                ("preview", f"{name}-preview", trust.PREVIEW_RUNNER_WORKFLOWS, None)):
            runners[purpose] = CiRunner(runner_name, CiRunnerArgs(
                project_name=runner_project(settings.stack, purpose), github_repo=cfg.ci_runner.github_repo,
                vpc_id=network.vpc.id, subnet_ids=network.private_subnet_ids,
                cluster_security_group_id=eks_cluster.vpc_config.cluster_security_group_id,
                workflows=workflows, head_ref=head_ref, log_retention_days=profile.log_retention_days,
            ), opts)
    services: dict[str, pulumi.Input] = {}
    if cfg.in_cluster_layer:
        services = _platform_services(settings, control_plane, provider, network.vpc.id, [*general_nodes, coredns],
                                      has_gpu=any(g.gpu for g in cfg.node_groups.values()))
    else:
        pulumi.log.warn("inClusterLayer: false, so no namespaces, Helm releases or policies are created (the first "
                        "deploy of a new stack, or the first step of its teardown)")

    return {
        **services,
        "ciRunner": runners["deploy"].runs_on if runners else "none: no ciRunner block (the in-cluster layer needs a "
                                                              "host that reaches the API endpoint)",
        "ciPreviewRunner": runners["preview"].runs_on if runners else "none: no ciRunner block",
        "clusterName": eks_cluster.name,
        "clusterEndpoint": eks_cluster.endpoint,
        "kubeconfig": control_plane.kubeconfig,
        "oidcProviderArn": control_plane.cluster.oidc_provider_arn,
        "vpcId": network.vpc.id,
        "publicSubnetIds": network.public_subnet_ids,
        "privateSubnetIds": network.private_subnet_ids,
        "nodeGroupNames": {n: g.node_group.node_group.node_group_name for n, g in node_groups.items()},
    }


def _wait_for_load_balancers(settings: Settings) -> pulumi.ResourceHook:
    """After the ingress release is uninstalled: wait until its load balancer is gone, while the cluster whose
    service controller deletes it still runs (else the NLB outlives the cluster and blocks the VPC's deletion)."""
    def wait(_: pulumi.ResourceHookArgs) -> None:
        session = boto3.session.Session()
        leftovers.wait_until_gone(
            lambda: leftovers.load_balancers(session, settings.region, settings.cluster_name), "load balancer")
    return pulumi.ResourceHook(f"{settings.cluster_name}-load-balancers-gone", wait)


def _wait_for_volumes(settings: Settings, namespace: str) -> pulumi.ResourceHook:
    """After a release with volumes is uninstalled: wait until the CSI driver (on the nodes) has deleted them."""
    def wait(_: pulumi.ResourceHookArgs) -> None:
        session = boto3.session.Session()
        leftovers.wait_until_gone(
            lambda: leftovers.volumes(session, settings.region, settings.cluster_name, False, namespace),
            f"{namespace} volumes")
    return pulumi.ResourceHook(f"{settings.cluster_name}-{namespace}-volumes-gone", wait)


def _edge(settings: Settings, dns: Dns | None, grafana_host: str | None, monitoring: Monitoring,
          after: Callable[..., pulumi.ResourceOptions], *waits: pulumi.Resource) -> Ingress | Gateway:
    """The edge the stack chose (`ingress.controller`), after `waits` and the certificate; Grafana published
    through it when `grafana_host` is set; the DNS records pointed at it."""
    cfg, services, name = settings.config, settings.profile.services, settings.cluster_name
    sizes = services.sizes
    certificate_arn = dns.certificate_validation.certificate_arn if dns else None
    opts = after(*waits, *([dns.certificate_validation] if dns else []))
    thresholds = EdgeAlertThresholds(cfg.ingress.alerts.min_5xx_requests_per_second,
                                     cfg.ingress.alerts.min_latency_requests_per_second)
    edge: Ingress | Gateway
    if cfg.ingress.controller == "gateway":
        gateway_crds = [Crds(name, bundle, after()).group
                        for bundle in ("gateway.networking.k8s.io", "gateway.envoyproxy.io")]
        edge = Gateway(name, GatewayArgs(
            scheme=cfg.ingress.scheme, base_domain=dns.base_domain if dns else None,
            tls_certificate_arn=certificate_arn, proxy_replicas=services.ingress_replicas,
            controller_resources=sizes["envoy-gateway"], proxy_resources=sizes["ingress-controller"],
            job_resources=sizes["admission-job"],
            after_delete=[_wait_for_load_balancers(settings)], alert_thresholds=thresholds,
        ), gateway_crds, opts)
        edge_ready: pulumi.Resource = edge.gateway
        if grafana_host:
            edge.expose("grafana", grafana_host, monitoring.namespace, GRAFANA, 80, cfg.grafana.allowed_cidrs)
    else:
        edge = Ingress(name, IngressArgs(
            scheme=cfg.ingress.scheme, replicas=services.ingress_replicas, max_replicas=services.ingress_max_replicas,
            tls_certificate_arn=certificate_arn,
            resources=sizes["ingress-controller"], job_resources=sizes["admission-job"],
            after_delete=[_wait_for_load_balancers(settings)],
            retired_risk_accepted=cfg.ingress.accept_retired_controller, alert_thresholds=thresholds,
        ), opts)
        edge_ready = edge.release
        if grafana_host:
            monitoring.expose_grafana(grafana_host, edge.ingress_class, cfg.grafana.allowed_cidrs,
                                      after(monitoring.namespace_object, edge.release))
    if dns:
        dns.point_at_load_balancer(settings.region, edge.service, edge_ready, grafana=grafana_host is not None)
    return edge


def _platform_services(settings: Settings, control_plane: ControlPlane, aws_provider: aws.Provider,
                       vpc_id: pulumi.Input[str], cluster_ready: list[pulumi.Resource],
                       has_gpu: bool) -> dict[str, pulumi.Input]:
    """The in-cluster services. Each waits for the nodes and CoreDNS, and only for what else it really
    needs: the `monitoring.coreos.com` CRDs, the storage class. No release waits for another."""
    cfg, services, name = settings.config, settings.profile.services, settings.cluster_name
    cluster, sizes = control_plane.cluster, services.sizes
    k8s_provider = k8s.Provider("k8s", kubeconfig=control_plane.kubeconfig,
                                helm_release_settings=k8s.HelmReleaseSettingsArgs(driver=HELM_DRIVER),
                                opts=pulumi.ResourceOptions(depends_on=cluster_ready))
    providers = {"aws": aws_provider, "kubernetes": k8s_provider}
    transforms = [permissions_boundary(settings.permissions_boundary_arn),
                  values_overrides({release: block.values for release, block in cfg.releases.items()})]

    def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(providers=providers, depends_on=[*cluster_ready, *resources],
                                      transforms=transforms)

    oidc = {"oidc_provider_arn": cluster.oidc_provider_arn, "oidc_issuer_url": cluster.oidc_issuer}
    dns = None
    if cfg.dns:
        dns = Dns(name, DnsArgs(zone_name=cfg.dns.zone_name, subdomain=cfg.dns.subdomain,
                                create_zone=cfg.dns.create_zone, protect=settings.profile.protect),
                  pulumi.ResourceOptions(providers=providers, transforms=transforms))
    else:
        pulumi.log.warn("dns: no eks-platform:dns block, so no DNS records, certificate or TLS are created")
    grafana_host = f"grafana.{dns.base_domain}" if dns and cfg.grafana.allowed_cidrs else None
    crds = Crds(name, "monitoring.coreos.com", after()).group
    storage = Storage(name, StorageArgs(cluster_name=cluster.eks_cluster.name, kubernetes_version=cfg.kubernetes_version,
                                        reclaim_policy=services.storage_reclaim_policy, **oidc), after())
    password = (pulumi.Output.secret(cfg.grafana_admin_password.get_secret_value()) if cfg.grafana_admin_password
                else random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                           opts=pulumi.ResourceOptions(providers=providers)).result)
    slack_url = cfg.slack_webhook_url.get_secret_value() if cfg.slack_webhook_url else None
    delete_volumes = services.storage_reclaim_policy == "Delete"
    volumes_gone = {ns: [_wait_for_volumes(settings, ns)] if delete_volumes else [] for ns in ("monitoring", "logging")}
    monitoring = Monitoring(name, MonitoringArgs(
        storage_class=STORAGE_CLASS, grafana_admin_password=password, loki_url=LOKI_URL,
        log_tenants=[PLATFORM_TENANT, *cfg.teams],
        prometheus_replicas=services.prometheus_replicas,
        prometheus_retention=cfg.monitoring.prometheus_retention,
        prometheus_storage_gib=cfg.monitoring.prometheus_storage_gib,
        alertmanager_replicas=services.alertmanager_replicas,
        slack_webhook_url=pulumi.Output.secret(slack_url) if slack_url else None,
        slack_channel=cfg.alerting.slack_channel, grafana_host=grafana_host,
        delete_volumes_with_workload=delete_volumes, node_labels_for_metrics=NODE_LABELS_FOR_METRICS,
        resources=sizes, after_delete=volumes_gone["monitoring"],
        team_routes=[TeamRoute(team, t.namespaces, t.alerts.slack_channel,
                               pulumi.Output.secret(t.alerts.slack_webhook_url.get_secret_value()))
                     for team, t in cfg.teams.items() if t.alerts and t.alerts.slack_webhook_url],
        heartbeat_url=pulumi.Output.secret(cfg.alerting.heartbeat_url.get_secret_value())
        if cfg.alerting.heartbeat_url else None,
    ), after(crds, storage.storage_class))
    loki = Loki(name, LokiArgs(
        cluster_name=name, region=settings.region, storage_class=STORAGE_CLASS,
        retention_days=cfg.logging.retention_days, mode=services.loki_mode, replicas=services.loki_replicas,
        cache_memory_mib=services.loki_cache_mib, protect=settings.profile.protect,
        delete_volumes_with_workload=delete_volumes, resources=sizes, after_delete=volumes_gone["logging"], **oidc,
    ), after(crds, storage.storage_class, monitoring.namespace_object))  # its dashboards go to Grafana's namespace
    fluent_bit = FluentBit(name, FluentBitArgs(
        team_namespaces={team: t.namespaces for team, t in cfg.teams.items()}, resources=sizes["fluent-bit"],
    ), after(crds, monitoring.namespace_object))
    backup = Backup(name, BackupArgs(
        cluster_name=name, eks_cluster_name=cluster.eks_cluster.name, region=settings.region,
        schedule=cfg.backup.schedule, retention_days=cfg.backup.retention_days, protect=settings.profile.protect,
        resources=sizes["velero"], plugin_resources=sizes["velero-plugin"],
    ), after(crds, Crds(name, "velero.io", after()).group, storage.snapshot_class))
    load_balancers = LoadBalancerController(name, LoadBalancerControllerArgs(
        cluster_name=cluster.eks_cluster.name, region=settings.region, vpc_id=vpc_id, tags=settings.tags,
        resources=sizes["load-balancer-controller"]), after())
    edge = _edge(settings, dns, grafana_host, monitoring, after, crds, load_balancers.release,
                 monitoring.namespace_object)
    admission = TenantAdmission(name, TenantAdmissionArgs(
        ingress_class=INGRESS_CLASS if cfg.ingress.controller == "nginx" else None,
        gateway=(GATEWAY_NAMESPACE, GATEWAY) if cfg.ingress.controller == "gateway" else None,
        enforce=cfg.tenancy.admission == "enforce", images_warn_only=cfg.environment == "dev"), after())
    base = dns.base_domain if dns else None
    for team, team_config in cfg.teams.items():
        Team(team, TeamArgs(
            cluster_name=cluster.eks_cluster.name, namespaces=team_config.namespaces, role_arns=team_config.role_arns,
            quota=Quota(**dict(team_config.quota)),
            allowed_peers=[PROMETHEUS], edge=edge_pods(cfg.ingress.controller), edge_ports=team_config.edge_ports,
            workload_identities=[WorkloadIdentity(account, sa.namespace or team_config.namespaces[0], sa.policy_arns)
                                 for account, sa in team_config.service_accounts.items()],
            hostnames=team_hostnames(team, team_config, base), allow_load_balancers=team_config.allow_load_balancers,
            pod_security=team_config.pod_security, gateway_routes=cfg.ingress.controller == "gateway",
            vpc_cidr=cfg.network.cidr, egress_namespaces=team_config.egress.namespaces,
            egress_internet=team_config.egress.internet,
        ), after(admission))
    gpu = Gpu(name, sizes, after(crds, monitoring.namespace_object)) if has_gpu else None
    Autoscaling(name, AutoscalingArgs(
        cluster_name=name, region=settings.region, kubernetes_version=cfg.kubernetes_version,
        metrics_server_replicas=services.metrics_server_replicas, autoscaler_replicas=services.metrics_server_replicas,
        autoscaler_resources=sizes["cluster-autoscaler"], metrics_server_resources=sizes["metrics-server"], **oidc,
    ), after())
    owners = {monitoring.namespace: monitoring, loki.namespace: loki, fluent_bit.namespace: fluent_bit,
              edge.namespace: edge, backup.namespace: backup, **({gpu.namespace: gpu} if gpu else {})}
    for namespace, allows in platform_flows(cfg.network.cidr, gpu is not None, cfg.ingress.controller,
                                            grafana_published=grafana_host is not None).items():
        waits = [owners[namespace].namespace_object] if namespace in owners else []  # kube-system exists already
        NamespaceIsolation(f"{name}-{namespace}", namespace, allows, after(*waits))
    return {
        "grafanaAdminPassword": pulumi.Output.secret(password),
        "lokiBucket": loki.bucket.bucket,
        "backupBucket": backup.bucket.bucket,
        "alertDelivery": monitoring.alert_delivery,
        "baseDomain": dns.base_domain if dns else "none: no dns block configured",
        "nameServers": dns.name_servers if dns else "none: no dns block configured",
        "edge": f"{cfg.ingress.controller}: {edge.service}",
        "grafanaUrl": f"https://{grafana_host}" if grafana_host
        else "none: kubectl port-forward (docs/services.md); set grafana.allowedCidrs and dns to publish it",
    }

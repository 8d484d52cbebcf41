"""The cloud layer of an EKS stack (`target: eks`): network, control plane, node groups, CI runners, and for
the cluster layer the EKS side of what it uses (EBS CSI storage, buckets, DNS and the certificate, workload
identities, the load balancers' controller, the cluster-autoscaler), handed over as `ClusterCapabilities`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.access_entries import AccessEntries
from components.autoscaling import Autoscaling, AutoscalingArgs
from components.boundary import permissions_boundary
from components.buckets import S3ObjectStorage
from components.capabilities import ClusterCapabilities, Edge
from components.ci_runner import CiRunner, CiRunnerArgs
from components.control_plane import ControlPlane, ControlPlaneArgs
from components.dns import Dns, DnsArgs
from components.helm import HELM_DRIVER
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs, Nlb
from components.network import Network, NetworkArgs
from components.node_group import NodeGroup, NodeGroupArgs, Taint
from components.pod_identity import EksWorkloadIdentity
from components.storage import STORAGE_CLASS, Storage, StorageArgs
from ops import hooks
from stacks import eks_versions, trust
from stacks.config import Settings
from stacks.rules import capacity_warnings, delivery_warnings


@dataclass
class CloudLayer:
    outputs: dict[str, pulumi.Input]
    capabilities: ClusterCapabilities | None  # None: `inClusterLayer: false`
    providers: dict[str, pulumi.ProviderResource]
    transforms: list[Any]


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


def build(settings: Settings, overrides: pulumi.ResourceTransform) -> CloudLayer:
    """Register the cloud layer; with `inClusterLayer` also the EKS side of the cluster layer's capabilities.
    `overrides`: the transform laying the stack's chart values over the platform's (`helm.values_overrides`)."""
    cfg, profile, name = settings.config, settings.profile, settings.cluster_name
    version_notice = eks_versions.notice(cfg.kubernetes_version, date.today())
    for warning in [*([version_notice] if version_notice else []), *capacity_warnings(cfg), *delivery_warnings(cfg)]:
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
    outputs: dict[str, pulumi.Input] = {
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
    transforms = [permissions_boundary(settings.permissions_boundary_arn), overrides]
    if not cfg.in_cluster_layer:
        pulumi.log.warn("inClusterLayer: false, so no namespaces, Helm releases or policies are created (the first "
                        "deploy of a new stack, or the first step of its teardown)")
        return CloudLayer(outputs, None, {"aws": provider}, transforms)
    cluster_ready = [*general_nodes, coredns]
    k8s_provider = k8s.Provider("k8s", kubeconfig=control_plane.kubeconfig,
                                helm_release_settings=k8s.HelmReleaseSettingsArgs(driver=HELM_DRIVER),
                                opts=pulumi.ResourceOptions(depends_on=cluster_ready))
    providers = {"aws": provider, "kubernetes": k8s_provider}
    capabilities = _eks_capabilities(settings, control_plane, network, providers, transforms, cluster_ready,
                                     gpu_nodes=any(g.gpu for g in cfg.node_groups.values()))
    return CloudLayer(outputs, capabilities, providers, transforms)


def _eks_capabilities(settings: Settings, control_plane: ControlPlane, network: Network,
                      providers: dict[str, pulumi.ProviderResource], transforms: list[Any],
                      cluster_ready: list[pulumi.Resource], gpu_nodes: bool) -> ClusterCapabilities:
    """The EKS side of the cluster layer: each waits for the nodes and CoreDNS, none for another."""
    cfg, services, name = settings.config, settings.profile.services, settings.cluster_name
    cluster, sizes = control_plane.cluster, services.sizes
    after = pulumi.ResourceOptions(providers=providers, depends_on=cluster_ready, transforms=transforms)
    identity = EksWorkloadIdentity(cluster.eks_cluster.name, cluster.oidc_provider_arn, cluster.oidc_issuer)
    dns = None
    if cfg.dns:
        dns = Dns(name, DnsArgs(zone_name=cfg.dns.zone_name, subdomain=cfg.dns.subdomain, region=settings.region,
                                create_zone=cfg.dns.create_zone, protect=settings.profile.protect),
                  pulumi.ResourceOptions(providers=providers, transforms=transforms))
    else:
        pulumi.log.warn("dns: no eks-platform:dns block, so no DNS records, certificate or TLS are created")
    storage = Storage(name, StorageArgs(cluster_name=cluster.eks_cluster.name, kubernetes_version=cfg.kubernetes_version,
                                        reclaim_policy=services.storage_reclaim_policy), after)
    load_balancers = LoadBalancerController(name, LoadBalancerControllerArgs(
        cluster_name=cluster.eks_cluster.name, region=settings.region, vpc_id=network.vpc.id, tags=settings.tags,
        resources=sizes["load-balancer-controller"]), after)
    Autoscaling(name, AutoscalingArgs(
        cluster_name=name, region=settings.region, kubernetes_version=cfg.kubernetes_version, identity=identity,
        autoscaler_replicas=services.metrics_server_replicas, autoscaler_resources=sizes["cluster-autoscaler"],
    ), after)
    return ClusterCapabilities(
        storage_class=STORAGE_CLASS,
        edge=Edge("load-balancer", load_balancers=Nlb(),
                  after_delete=[hooks.load_balancers_gone(name, settings.region)], ready=[load_balancers.release]),
        node_network=cfg.network.cidr, api_server_ports=(443,), team_access=AccessEntries(cluster.eks_cluster.name),
        cluster_ready=cluster_ready, storage_ready=[storage.storage_class],
        snapshots_ready=[storage.snapshot_class], object_storage=S3ObjectStorage(name, settings.region),
        identity=identity, dns=dns, gpu_nodes=gpu_nodes,
        volumes_gone=lambda namespace: [hooks.volumes_gone(name, settings.region, namespace)],
        kubernetes_client=hooks.eks_api_client(name, settings.region),
    )

"""The platform assembly: validated `Settings` in, components wired in dependency order, outputs out."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.control_plane import ControlPlane, ControlPlaneArgs
from components.network import Network, NetworkArgs
from components.node_group import NodeGroup, NodeGroupArgs, Taint
from stacks.config import Settings


def build(settings: Settings) -> dict[str, pulumi.Input]:
    """Register every resource of the stack; return the stack outputs."""
    cfg, profile, name = settings.config, settings.profile, settings.cluster_name
    provider = aws.Provider("aws", region=settings.region, default_tags={"tags": settings.tags})
    opts = pulumi.ResourceOptions(providers={"aws": provider})

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
        log_retention_days=profile.log_retention_days,
        deletion_protection=profile.deletion_protection,
        protect=profile.protect,
        tags=settings.tags,
    ), opts)

    node_groups = {
        group_name: NodeGroup(f"{name}-{group_name}", NodeGroupArgs(
            cluster=control_plane.cluster,
            cluster_name=name,
            subnet_ids=network.private_subnet_ids,
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
        for group_name, group in cfg.node_groups.items()
    }
    control_plane.add_coredns([g.node_group for g in node_groups.values()])

    eks_cluster = control_plane.cluster.eks_cluster
    return {
        "clusterName": eks_cluster.name,
        "clusterEndpoint": eks_cluster.endpoint,
        "kubeconfig": control_plane.kubeconfig,
        "oidcProviderArn": control_plane.cluster.oidc_provider_arn,
        "vpcId": network.vpc.id,
        "publicSubnetIds": network.public_subnet_ids,
        "privateSubnetIds": network.private_subnet_ids,
        "nodeGroupNames": {n: g.node_group.node_group.node_group_name for n, g in node_groups.items()},
    }

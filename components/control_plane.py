"""ControlPlane: the EKS cluster itself, without nodes.

A KMS key for envelope encryption of Kubernetes secrets, the control-plane log group (created first,
so EKS does not create it without retention), the `pulumi_eks.Cluster` (API authentication with
access entries, private endpoint, all log types, OIDC provider), and the add-ons that must exist
before nodes join: vpc-cni (enforcing NetworkPolicies) with its own IAM role through EKS Pod Identity,
kube-proxy and the Pod Identity agent. CoreDNS needs nodes to become healthy, so it is added afterwards by `add_coredns`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from components.pod_identity import pod_identity_role

LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
CNI_POLICY = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"


@dataclass
class ControlPlaneArgs:
    cluster_name: str
    kubernetes_version: str
    vpc_id: pulumi.Input[str]
    private_subnet_ids: pulumi.Input[Sequence[str]]
    public_subnet_ids: pulumi.Input[Sequence[str]]
    public_access_cidrs: Sequence[str] = ()
    admin_role_arns: Sequence[str] = ()
    preview_role_arn: str | None = None
    log_retention_days: int = 90
    upgrade_policy: str = "STANDARD"
    deletion_protection: bool = True
    protect: bool = False
    tags: dict[str, str] = field(default_factory=dict)


def access_entries(args: ControlPlaneArgs) -> dict[str, eks.AccessEntryArgs]:
    """Cluster admin for each admin role; for the preview role, read-only access to everything except
    Secrets: Helm keeps the releases as ConfigMaps (`components.helm.HELM_DRIVER`), which a preview reads."""
    entries = {
        f"admin-{i}": eks.AccessEntryArgs(principal_arn=arn, access_policies={
            "cluster-admin": eks.AccessPolicyAssociationArgs(policy_arn=CLUSTER_ADMIN_POLICY,
                                                             access_scope={"type": "cluster"})})
        for i, arn in enumerate(args.admin_role_arns)
    }
    if args.preview_role_arn:
        entries["preview"] = eks.AccessEntryArgs(principal_arn=args.preview_role_arn, access_policies={
            "view": eks.AccessPolicyAssociationArgs(policy_arn=VIEW_POLICY, access_scope={"type": "cluster"}),
        })
    return entries


def addon_version(addon: str, kubernetes_version: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The add-on version EKS names as the default for this Kubernetes version: a `kubernetesVersion` bump
    upgrades every managed add-on in the same `pulumi up`, after the control plane."""
    return aws.eks.get_addon_version_output(addon_name=addon, kubernetes_version=kubernetes_version,
                                            most_recent=False, opts=pulumi.InvokeOutputOptions(parent=parent)).version


class ControlPlane(pulumi.ComponentResource):
    cluster: eks.Cluster
    kms_key: aws.kms.Key

    def __init__(self, name: str, args: ControlPlaneArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:control-plane:ControlPlane", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.kms_key = aws.kms.Key(
            f"{name}-secrets",
            description=f"Envelope encryption of Kubernetes secrets in EKS cluster {args.cluster_name}",
            enable_key_rotation=True, deletion_window_in_days=30,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.kms.Alias(f"{name}-secrets", name=f"alias/eks/{args.cluster_name}/secrets",
                      target_key_id=self.kms_key.key_id, opts=child)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane", name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days, opts=child,
        )

        self.cluster = eks.Cluster(
            name,
            name=args.cluster_name,
            version=args.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            skip_default_node_group=True,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=access_entries(args),
            endpoint_private_access=True,
            endpoint_public_access=bool(args.public_access_cidrs),
            public_access_cidrs=list(args.public_access_cidrs) or None,
            enabled_cluster_log_types=list(LOG_TYPES),
            encryption_config_key_arn=self.kms_key.arn,
            create_oidc_provider=True,
            deletion_protection=args.deletion_protection,
            upgrade_policy={"support_type": args.upgrade_policy},
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(
                enabled=True, version=addon_version("kube-proxy", args.kubernetes_version, self)),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            vpc_cni_options=eks.VpcCniOptionsArgs(
                enable_network_policy=True, addon_version=addon_version("vpc-cni", args.kubernetes_version, self)),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group], protect=args.protect),
        )

        pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent", cluster_name=self.cluster.eks_cluster.name,
            addon_name="eks-pod-identity-agent",
            addon_version=addon_version("eks-pod-identity-agent", args.kubernetes_version, self),
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE", opts=child,
        )
        cni = pod_identity_role(f"{name}-vpc-cni", self.cluster.eks_cluster.name, "kube-system", "aws-node", self)
        aws.iam.RolePolicyAttachment(f"{name}-vpc-cni", role=cni.role.name, policy_arn=CNI_POLICY, opts=child)
        self.node_prerequisites: list[pulumi.Resource] = [pod_identity_agent, cni.association]
        self._kubernetes_version = args.kubernetes_version

        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfig_json)
        self.register_outputs({
            "clusterName": self.cluster.eks_cluster.name,
            "endpoint": self.cluster.eks_cluster.endpoint,
            "kubeconfig": self.kubeconfig,
            "oidcProviderArn": self.cluster.oidc_provider_arn,
            "kmsKeyArn": self.kms_key.arn,
        })

    def add_coredns(self, node_groups: Sequence[pulumi.Resource]) -> aws.eks.Addon:
        """CoreDNS as a managed add-on once nodes exist (with none it stays DEGRADED: pulumi-eks#1819)."""
        return aws.eks.Addon(
            f"{self._name}-coredns", cluster_name=self.cluster.eks_cluster.name, addon_name="coredns",
            addon_version=addon_version("coredns", self._kubernetes_version, self),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(node_groups)),
        )

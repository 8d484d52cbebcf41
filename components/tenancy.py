"""Tenancy: a team's share of the cluster.

Per team: its namespaces (labelled with the team, Pod Security `restricted` enforced unless the team
chose `baseline`, `restricted` warned and audited; annotated with the hosts the team owns and labelled
when it may have load balancers, both read by the tenant admission policies), EKS access entries giving
the team's IAM roles the edit policy in exactly those namespaces (and the tenants' Kubernetes group), a
ResourceQuota and LimitRange per namespace with a quota of no `system-*` priority pods, NetworkPolicies
that deny ingress except from the same namespace, the edge and monitoring, and for each of its workload
identities a service account whose pods get an IAM role with the listed policies through EKS Pod
Identity (no keys). Every object the platform makes in a team namespace carries `eks-platform.io/managed`,
which the admission policies keep out of the tenants' hands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
from kubernetes.utils.quantity import parse_quantity

from components.admission import HOSTNAMES_ANNOTATION, LOAD_BALANCERS_LABEL, LOCAL_TEAM_GROUP_PREFIX, MANAGED, TEAM_LABEL
from components.helm import waits_like
from components.isolation import KUBE_DNS, Allow, Peer, policies
from components.namespaces import namespace
from components.capabilities import TeamAccess, WorkloadIdentity as CloudIdentity

from components import backup, gateway, gpu, ingress, logging, monitoring

PLATFORM_NAMESPACES = ("kube-system", ingress.NAMESPACE, gateway.NAMESPACE, monitoring.NAMESPACE, logging.NAMESPACE,
                       logging.FLUENT_BIT_NAMESPACE, gpu.NAMESPACE, backup.NAMESPACE)
RESERVED_NAMESPACES = ("default", "kube-public", "kube-node-lease", *PLATFORM_NAMESPACES)
DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "100Mi"}
DEFAULT_LIMITS = {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "1Gi"}
SYSTEM_PRIORITY_CLASSES = ("system-cluster-critical", "system-node-critical")


@dataclass
class Quota:
    """A team's total; each of its namespaces gets an equal share (rounded down)."""

    cpu: str
    memory: str
    pods: str
    storage: str
    persistent_volume_claims: str
    ephemeral_storage: str
    gpus: str
    services: str
    config_maps: str
    secrets: str

    def share(self, namespaces: int, load_balancers: bool) -> dict[str, str]:
        """The ResourceQuota of one of `namespaces` namespaces."""
        cpu, memory = _split(self.cpu, namespaces, "cpu"), _split(self.memory, namespaces, "bytes")
        ephemeral = _split(self.ephemeral_storage, namespaces, "bytes")
        hard = {"requests.cpu": cpu, "limits.cpu": cpu, "requests.memory": memory, "limits.memory": memory,
                "requests.storage": _split(self.storage, namespaces, "bytes"),
                "requests.ephemeral-storage": ephemeral, "limits.ephemeral-storage": ephemeral,
                "requests.nvidia.com/gpu": _split(self.gpus, namespaces, "count"),
                **{key: _split(value, namespaces, "count") for key, value in (
                    ("pods", self.pods), ("persistentvolumeclaims", self.persistent_volume_claims),
                    ("services", self.services), ("configmaps", self.config_maps), ("secrets", self.secrets))}}
        if not load_balancers:
            hard.update({"services.loadbalancers": "0", "services.nodeports": "0"})
        return hard


def _split(quantity: str, parts: int, kind: str) -> str:
    """`quantity` / `parts`, rounded down, as a Kubernetes quantity (the quantity itself for one part)."""
    if parts == 1:
        return quantity
    value = parse_quantity(quantity)
    if kind == "cpu":
        return f"{int(value * 1000 / parts)}m"
    if kind == "bytes":
        return f"{int(value / parts) // 2 ** 20}Mi"
    return str(int(value) // parts)


@dataclass(frozen=True)
class WorkloadIdentity:
    """A team's service account that gets AWS permissions through EKS Pod Identity (no keys in the pod)."""

    name: str
    namespace: str
    policy_arns: Sequence[str]


@dataclass
class TeamArgs:
    namespaces: Sequence[str]
    quota: Quota
    access: TeamAccess
    role_arns: Sequence[str] = ()
    identity: CloudIdentity | None = None  # None: the cluster gives pods no cloud identity
    allowed_peers: Sequence[Peer] = field(default_factory=list)  # who besides the namespace's own pods may connect
    edge: Peer | None = None  # the shared edge's pods: they reach only `edge_ports` (none: every port)
    edge_ports: Sequence[int | str] = ()
    workload_identities: Sequence[WorkloadIdentity] = ()
    hostnames: Sequence[str] = ()
    allow_load_balancers: bool = False
    pod_security: str = "restricted"
    gateway_routes: bool = False  # the EKS access policies lack Gateway API rights: grant routes by a Role
    node_network: str = ""  # the nodes' and the API server's network (the VPC on EKS)
    api_server_ports: Sequence[int] = (443,)
    egress_namespaces: Sequence[str] = ()
    egress_internet: bool = True


ROUTE_RESOURCES = ("httproutes", "grpcroutes")
ROUTE_VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


LINK_LOCAL = "169.254.0.0/16"  # the instance metadata service and the rest of link-local
POD_IDENTITY_AGENT = "169.254.170.23/32"  # EKS Pod Identity's agent on every node: workload identities' credentials


def egress_policies(namespace: str, team: str, node_network: str, peers: Sequence[str], internet: bool,
                    api_server_ports: Sequence[int] = (443,), identity_agent: bool = True) -> list[dict]:
    """Deny all egress, then allow: DNS to kube-dns, the team's own namespaces, its declared peers (their own
    ingress rules still decide), the API server (the node network on its ports), the Pod Identity agent (port
    80, where pods get identities), and unless cut, the internet outside the node network and link-local (no
    instance metadata)."""
    def policy(name: str, rules: list[dict] | None) -> dict:
        spec: dict = {"podSelector": {}, "policyTypes": ["Egress"]}
        if rules is not None:
            spec["egress"] = rules
        return {"metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED)}, "spec": spec}

    rules = [{"to": [KUBE_DNS.spec()], "ports": [{"protocol": p, "port": 53} for p in ("UDP", "TCP")]},
             {"to": [{"namespaceSelector": {"matchLabels": {TEAM_LABEL: team}}}]},
             {"to": [{"ipBlock": {"cidr": node_network}}],
              "ports": [{"protocol": "TCP", "port": port} for port in api_server_ports]}]
    if identity_agent:
        rules.append({"to": [{"ipBlock": {"cidr": POD_IDENTITY_AGENT}}], "ports": [{"protocol": "TCP", "port": 80}]})
    if peers:
        rules.append({"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peer}}}
                             for peer in peers]})
    if internet:
        rules.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [node_network, LINK_LOCAL]}}]})
    return [policy("default-deny-egress", None), policy("allow-egress", rules)]


def team_group(team: str) -> str:
    """The Kubernetes group of a team's people on EKS (its access entries put its roles there)."""
    return f"eks-platform:team:{team}"


EDIT_ROLE = "edit"


class RoleBindingAccess:
    """`components.capabilities.TeamAccess` where the kubeconfig's users are the people: the team's group
    `team:<name>` (impersonate it with `kubectl --as=<you> --as-group=team:<name>`) gets the `edit`
    ClusterRole in the team's namespaces, through one RoleBinding per namespace."""

    def group(self, team: str) -> str:
        return f"{LOCAL_TEAM_GROUP_PREFIX}{team}"

    def grant(self, team: str, namespaces: Sequence[str], role_arns: Sequence[str], parent: pulumi.Resource,
              after: Sequence[pulumi.Resource]) -> None:
        for ns in namespaces:
            k8s.rbac.v1.RoleBinding(
                f"{team}-{ns}-edit", metadata={"name": "team-edit", "namespace": ns, "labels": dict(MANAGED)},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": EDIT_ROLE},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": self.group(team)}],
                opts=pulumi.ResourceOptions(parent=parent, depends_on=list(after)))


def network_policies(namespace: str, team: str, allowed_peers: Sequence[Peer], edge: Peer | None = None,
                     edge_ports: Sequence[int | str] = ()) -> list[dict]:
    """Deny all ingress, then allow the same namespace, the team's other namespaces, each allowed peer (pods
    of a platform namespace) and the edge, on `edge_ports` when the team names them."""
    found = policies(namespace, [*([Allow(f"from-{edge.namespace}", [edge], ports=edge_ports)] if edge else []),
                                 *(Allow(f"from-{peer.namespace}", [peer]) for peer in allowed_peers),
                                 Allow("from-team", [Peer(namespace_labels={TEAM_LABEL: team})])])
    for policy in found:
        policy["metadata"]["labels"] = dict(MANAGED)
    return found


class Team(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:tenancy:Team", name, None, opts)
        self._namespaces: list[pulumi.Resource] = []
        self._group = args.access.group(name)
        for ns in args.namespaces:
            labels = {TEAM_LABEL: name, **({LOAD_BALANCERS_LABEL: "allowed"} if args.allow_load_balancers else {})}
            team_namespace = namespace(ns, pulumi.ResourceOptions(parent=self), pod_security=args.pod_security,
                                       labels=labels, resource_name=f"{name}-{ns}",
                                       annotations={HOSTNAMES_ANNOTATION: ",".join(args.hostnames)})
            self._namespaces.append(team_namespace)
            in_namespace = waits_like(self, opts, team_namespace)
            k8s.core.v1.ResourceQuota(
                f"{name}-{ns}-quota", metadata={"name": "team-quota", "namespace": ns, "labels": MANAGED},
                spec={"hard": args.quota.share(len(args.namespaces), args.allow_load_balancers)},
                opts=in_namespace,
            )
            k8s.core.v1.ResourceQuota(
                f"{name}-{ns}-system-priority", metadata={"name": "no-system-priority", "namespace": ns,
                                                           "labels": MANAGED},
                spec={"hard": {"pods": "0"}, "scopeSelector": {"matchExpressions": [
                    {"scopeName": "PriorityClass", "operator": "In", "values": list(SYSTEM_PRIORITY_CLASSES)}]}},
                opts=in_namespace,
            )
            k8s.core.v1.LimitRange(
                f"{name}-{ns}-limits", metadata={"name": "container-defaults", "namespace": ns, "labels": MANAGED},
                spec={"limits": [
                    {"type": "Container", "defaultRequest": DEFAULT_REQUESTS, "default": DEFAULT_LIMITS},
                    {"type": "PersistentVolumeClaim",
                     "max": {"storage": _split(args.quota.storage, len(args.namespaces), "bytes")}}]},
                opts=in_namespace,
            )
            if args.gateway_routes:
                self._route_rights(name, ns, in_namespace)
            for policy in [*network_policies(ns, name, args.allowed_peers, args.edge, args.edge_ports),
                           *egress_policies(ns, name, args.node_network, args.egress_namespaces, args.egress_internet,
                                            args.api_server_ports, identity_agent=args.identity is not None)]:
                k8s.networking.v1.NetworkPolicy(f"{name}-{ns}-{policy['metadata']['name']}", **policy,
                                                opts=in_namespace)
        args.access.grant(name, args.namespaces, args.role_arns, self, self._namespaces)
        for identity in args.workload_identities:
            self._workload_identity(name, identity, args.identity, opts)
        self.register_outputs({"namespaces": list(args.namespaces)})

    def _route_rights(self, team: str, ns: str, opts: pulumi.ResourceOptions) -> None:
        """HTTPRoutes and GRPCRoutes in `ns` for the team's roles (their hosts bounded by the admission policy)."""
        metadata = {"name": "gateway-routes", "namespace": ns, "labels": MANAGED}
        role = k8s.rbac.v1.Role(f"{team}-{ns}-gateway-routes", metadata=metadata, rules=[
            {"apiGroups": ["gateway.networking.k8s.io"], "resources": list(ROUTE_RESOURCES), "verbs": list(ROUTE_VERBS)}],
            opts=opts)
        k8s.rbac.v1.RoleBinding(f"{team}-{ns}-gateway-routes", metadata=metadata,
                                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "gateway-routes"},
                                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                           "name": self._group}],
                                opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])))

    def _workload_identity(self, team: str, identity: WorkloadIdentity, binder: CloudIdentity | None,
                           opts: pulumi.ResourceOptions | None) -> None:
        if binder is None:
            raise ValueError(f"team {team}: service account {identity.name} needs a cluster with workload identities")
        resource = f"{team}-{identity.namespace}-{identity.name}"
        binding = binder.bind(resource, identity.namespace, identity.name, self, policy_arns=identity.policy_arns,
                              tags={"team": team})
        k8s.core.v1.ServiceAccount(resource, metadata={"name": identity.name, "namespace": identity.namespace,
                                                       "labels": MANAGED,
                                                       **({"annotations": dict(binding.annotations)}
                                                          if binding.annotations else {})},
                                   opts=waits_like(self, opts, *self._namespaces))

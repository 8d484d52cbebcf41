"""What the cluster layer needs from whatever runs the cluster: EKS (the cloud layer), or a local kind, k3s or
minikube cluster reached through a kubeconfig context.

The in-cluster components take these types and never the cloud layer's modules: where a component needs
something only a cloud can give (a bucket, an IAM identity for a service account, DNS records for the edge,
access for a team's people), it asks one of the protocols below, and a target that cannot give it hands
over None, so the component leaves the feature out (or falls back: Loki on the filesystem).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Protocol, Sequence

import pulumi

EdgeMode = Literal["load-balancer", "host-ports", "node-port"]


@dataclass(frozen=True)
class Binding:
    """What a service account needs once its identity is bound: annotations (IRSA's role ARN; none for Pod
    Identity) and the resources its pods must wait for (the role's policies, the association)."""

    annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    ready: Sequence[pulumi.Resource] = ()


class WorkloadIdentity(Protocol):
    """Gives the pods of one service account a cloud identity with `policy` (a JSON document) and/or
    `policy_arns`, without keys. `web_identity`: the workload's SDK cannot use the default mechanism and needs
    the web-identity one (IRSA on EKS); the caller names why."""

    def bind(self, name: str, namespace: str, service_account: str, parent: pulumi.Resource, *,
             policy: pulumi.Input[str] | None = None, policy_arns: Sequence[str] = (),
             tags: Mapping[str, str] | None = None, web_identity: bool = False) -> Binding: ...


@dataclass(frozen=True)
class Bucket:
    """An object-storage bucket and the key that encrypts it."""

    name: pulumi.Output[str]
    arn: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    region: str


class ObjectStorage(Protocol):
    """Private, encrypted buckets of one region: `lifecycle_rules` as the S3 lifecycle configuration takes them."""

    region: str

    def bucket(self, name: str, parent: pulumi.Resource, *, purpose: str, description: str, protect: bool,
               lifecycle_rules: Sequence[Mapping[str, Any]], versioned: bool = False) -> Bucket: ...


class LoadBalancers(Protocol):
    """A load-balancer implementation for Services of type LoadBalancer (the AWS Load Balancer Controller's NLB)."""

    load_balancer_class: str

    def annotations(self, scheme: str, certificate_arn: str | None, tls_port: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class Edge:
    """How traffic from outside reaches the edge's pods.

    `load-balancer`: a Service of type LoadBalancer (`load_balancers` says whose, None: the cluster's own, e.g.
    k3s's ServiceLB); `host-ports`: ports 80 and 443 of the node labelled `node_selector` (kind's
    extraPortMappings forward them from the laptop); `node-port`: fixed NodePorts (minikube)."""

    mode: EdgeMode
    load_balancers: LoadBalancers | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    node_ports: Mapping[str, int] = field(default_factory=dict)
    after_delete: Sequence[pulumi.ResourceHook] = ()  # e.g. wait until the cloud's load balancer is gone
    ready: Sequence[pulumi.Resource] = ()  # what the edge's release waits for (the load balancers' controller)


class Dns(Protocol):
    """The stack's public names: a base domain, a certificate for it, records pointed at the edge."""

    base_domain: str
    certificate_arn: pulumi.Output[str]
    certificate_ready: pulumi.Resource
    name_servers: pulumi.Input[Any]  # of a zone the stack created, to enter at the registrar

    def publish(self, service: str, edge_ready: pulumi.Resource, grafana: bool) -> None: ...


class TeamAccess(Protocol):
    """Lets a team's people edit their namespaces: EKS access entries for its IAM roles, or RoleBindings of the
    team's group where the cluster's own authentication (a kubeconfig) says who is who."""

    def grant(self, team: str, namespaces: Sequence[str], role_arns: Sequence[str], parent: pulumi.Resource,
              after: Sequence[pulumi.Resource]) -> None: ...

    def group(self, team: str) -> str: ...  # the Kubernetes group of the team's people


@dataclass(frozen=True)
class ClusterCapabilities:
    """What the cluster offers the in-cluster layer (see the module docstring)."""

    storage_class: str
    edge: Edge
    node_network: str  # where the API server and the kubelets reach pods from (webhooks, probes)
    api_server_ports: tuple[int, ...]  # where pods reach the API server (after the Service's DNAT)
    team_access: TeamAccess
    cluster_ready: Sequence[pulumi.Resource] = ()  # nodes and cluster DNS, before any in-cluster object
    storage_ready: Sequence[pulumi.Resource] = ()  # the storage class, before anything with a volume
    snapshots_ready: Sequence[pulumi.Resource] | None = None  # a VolumeSnapshotClass Velero uses; None: none
    object_storage: ObjectStorage | None = None
    identity: WorkloadIdentity | None = None
    dns: Dns | None = None
    gpu_nodes: bool = False
    volumes_gone: Callable[[str], Sequence[pulumi.ResourceHook]] = lambda namespace: ()
    kubernetes_client: Callable[[], Any] | None = None  # a `kubernetes.client.ApiClient` for delete hooks
    local_hosts: str | None = None  # a domain whose every name resolves to 127.0.0.1 (localtest.me)
    kubelet_insecure_tls: bool = False  # kubelets serve self-signed certificates (local clusters)
    node_journal: bool = True  # the nodes keep a persistent systemd journal in /var/log/journal

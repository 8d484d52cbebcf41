"""The local target (`eks-platform:target: kubeconfig`): a kind, k3s or minikube cluster of one's own, reached
through a context of the kubeconfig, and what it offers the cluster layer.

No AWS provider and no `aws:*` resource exist on this target. What differs per distribution: the default
storage class, how the edge is reached from the laptop, the network the nodes (and so the API server's calls
to webhooks) come from, and the API server's port. What a local cluster does not run is said once, here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components.capabilities import ClusterCapabilities, Edge, EdgeMode
from components.helm import HELM_DRIVER
from components.tenancy import RoleBindingAccess

if TYPE_CHECKING:
    from stacks.config import Settings

LOCAL_KUBERNETES_VERSION = "1.36"  # the minor of local/kind.yaml's node image
LOCAL_HOSTS = "localtest.me"  # every name below it resolves to 127.0.0.1
INGRESS_NODE_LABEL = {"ingress-ready": "true"}  # kind's convention, set by local/kind.yaml
MINIKUBE_NODE_PORTS = {"http": 30080, "https": 30443}
NOT_RUN = ("Velero backups (no object storage)", "GPU drivers and exporters", "cluster-autoscaler (the nodes are "
           "the cluster's own)", "DNS records and certificates (names below localtest.me resolve to 127.0.0.1)",
           "the nodes' journal in Loki (kind's and minikube's nodes keep it in /run)")


@dataclass(frozen=True)
class Distribution:
    storage_class: str
    edge: EdgeMode
    node_network: str | None  # None: no default, `kubeconfig.nodeCidr` is required
    pod_network: str  # the distribution's default pod CIDR
    api_server_port: int
    reach: str  # how the laptop reaches the edge


DISTRIBUTIONS: Mapping[str, Distribution] = {
    # kind's nodes are containers on a Docker bridge network, allocated from Docker's default pools.
    "kind": Distribution("standard", "host-ports", "172.16.0.0/12", "10.244.0.0/16", 6443,
                         "ports 80 and 443 of the laptop (local/kind.yaml's extraPortMappings)"),
    # k3s runs on the host (started with --disable=traefik,metrics-server): its ServiceLB answers on the node's
    # address, which only the operator knows.
    "k3s": Distribution("local-path", "load-balancer", None, "10.42.0.0/16", 6443,
                        "the node's address, ports 80 and 443 (k3s's ServiceLB)"),
    # minikube's Docker driver puts its node on 192.168.49.0/24; its API server listens on 8443.
    "minikube": Distribution("standard", "node-port", "192.168.49.0/24", "10.244.0.0/16", 8443,
                             f"`minikube ip`, ports {MINIKUBE_NODE_PORTS['http']} and {MINIKUBE_NODE_PORTS['https']}"),
}


def node_network(distribution: str, node_cidr: str | None) -> str | None:
    return node_cidr or DISTRIBUTIONS[distribution].node_network


def capabilities(settings: Settings) -> tuple[k8s.Provider, ClusterCapabilities]:
    """The Kubernetes provider of the stack's context and what the cluster offers."""
    kubeconfig = settings.config.kubeconfig
    traits = DISTRIBUTIONS[kubeconfig.distribution]
    provider = k8s.Provider("k8s", context=kubeconfig.context,
                            helm_release_settings=k8s.HelmReleaseSettingsArgs(driver=HELM_DRIVER))
    edge = Edge(traits.edge, node_selector=INGRESS_NODE_LABEL if traits.edge == "host-ports" else {},
                node_ports=MINIKUBE_NODE_PORTS if traits.edge == "node-port" else {})
    network = node_network(kubeconfig.distribution, kubeconfig.node_cidr)
    return provider, ClusterCapabilities(
        storage_class=traits.storage_class, edge=edge,
        node_network=network, api_server_ports=(traits.api_server_port,), team_access=RoleBindingAccess(),
        local_hosts=LOCAL_HOSTS, kubelet_insecure_tls=True, node_journal=False)


def announce(settings: Settings) -> None:
    traits = DISTRIBUTIONS[settings.config.kubeconfig.distribution]
    pulumi.log.info(f"local target ({settings.config.kubeconfig.distribution}, context "
                    f"{settings.config.kubeconfig.context}): Grafana at http://grafana.{LOCAL_HOSTS} through "
                    f"{traits.reach}; not run here: {'; '.join(NOT_RUN)}")

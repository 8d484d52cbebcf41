"""NamespaceIsolation: NetworkPolicies that deny every inbound connection to a namespace's pods except
the listed flows (and traffic inside the namespace). The vpc-cni enforces them.

A NetworkPolicy does not apply to host-network pods (node-exporter) and does not limit egress here:
Alertmanager, Grafana and the autoscaler must reach AWS and the internet, and Prometheus scrapes
every namespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.helm import waits_like


@dataclass(frozen=True)
class Peer:
    """Who may connect: pods (by labels) in a namespace (by name or by labels; neither: every namespace), every pod
    of those namespaces, or an address range."""

    namespace: str | None = None
    pod_labels: dict[str, str] | None = None
    cidr: str | None = None
    namespace_labels: dict[str, str] | None = None

    def spec(self) -> dict[str, Any]:
        if self.cidr:
            return {"ipBlock": {"cidr": self.cidr}}
        labels = {"kubernetes.io/metadata.name": self.namespace} if self.namespace else self.namespace_labels
        peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": labels} if labels else {}}
        if self.pod_labels:
            peer["podSelector"] = {"matchLabels": self.pod_labels}
        return peer


ANYWHERE = Peer(cidr="0.0.0.0/0")
KUBE_DNS = Peer("kube-system", {"k8s-app": "kube-dns"})


@dataclass(frozen=True)
class Allow:
    """One permitted flow: from `sources` to the pods matching `pods` ({} = all) on `ports` (none = any)."""

    name: str
    sources: Sequence[Peer]
    pods: dict[str, str] = field(default_factory=dict)
    ports: Sequence[int | str] = ()
    protocols: Sequence[str] = ("TCP",)


def policies(namespace: str, allows: Sequence[Allow]) -> list[dict[str, Any]]:
    def policy(name: str, pods: dict[str, str], rules: list[dict[str, Any]] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"podSelector": {"matchLabels": pods} if pods else {}, "policyTypes": ["Ingress"]}
        if rules is not None:
            spec["ingress"] = rules
        return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}

    def rule(allow: Allow) -> dict[str, Any]:
        found: dict[str, Any] = {"from": [peer.spec() for peer in allow.sources]}
        if allow.ports:
            found["ports"] = [{"protocol": protocol, "port": port} for port in allow.ports for protocol in allow.protocols]
        return found

    return [
        policy("default-deny-ingress", {}, None),
        policy("allow-same-namespace", {}, [{"from": [{"podSelector": {}}]}]),
        *[policy(f"allow-{allow.name}", dict(allow.pods), [rule(allow)]) for allow in allows],
    ]


class NamespaceIsolation(pulumi.ComponentResource):
    def __init__(self, name: str, namespace: str, allows: Sequence[Allow], opts: pulumi.ResourceOptions | None = None):
        """`opts` must depend on the namespace."""
        super().__init__("eks-platform:isolation:NamespaceIsolation", name, None, opts)
        for policy in policies(namespace, allows):
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy['metadata']['name']}", **policy,
                                            opts=waits_like(self, opts))
        self.register_outputs({"namespace": namespace})

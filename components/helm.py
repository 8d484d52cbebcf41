"""The Helm charts the platform installs, pinned, and how every release is installed.

Releases use `helm.v3.Release` (hooks, history and rollback work) and are atomic: a failed install or
upgrade is rolled back and its leftovers cleaned, and a bounded history allows `helm rollback`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

MAX_HISTORY = 10
# Helm's release records (values included) as ConfigMaps, not Secrets: a preview reads them with `view` rights and
# no reader of releases needs the Secrets of the platform's namespaces. Set on the stack's Kubernetes provider;
# the helm CLI needs HELM_DRIVER=configmap too.
HELM_DRIVER = "configmap"


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    repository: str


CHARTS = {c.name: c for c in (
    Chart("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts"),
    Chart("loki", "18.11.0", "https://grafana-community.github.io/helm-charts"),
    Chart("fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts"),
    Chart("ingress-nginx", "4.15.1", "https://kubernetes.github.io/ingress-nginx"),
    Chart("nvidia-device-plugin", "0.20.0", "https://nvidia.github.io/k8s-device-plugin"),
    Chart("dcgm-exporter", "4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    Chart("metrics-server", "3.13.1", "https://kubernetes-sigs.github.io/metrics-server/"),
    Chart("cluster-autoscaler", "9.59.0", "https://kubernetes.github.io/autoscaler"),
    Chart("aws-load-balancer-controller", "3.5.0", "https://aws.github.io/eks-charts"),
    Chart("gateway-helm", "v1.9.0", "oci://docker.io/envoyproxy"),
    Chart("velero", "12.1.0", "https://vmware-tanzu.github.io/helm-charts"),
)}


@dataclass(frozen=True)
class Resources:
    """A container's requests; `memory_limit` caps memory where the workload's memory is bounded."""

    cpu: str
    memory: str
    memory_limit: str | None = None

    def values(self) -> dict[str, Any]:
        resources: dict[str, Any] = {"requests": {"cpu": self.cpu, "memory": self.memory}}
        if self.memory_limit:
            resources["limits"] = {"memory": self.memory_limit}
        return resources


def deep_merge(base: Any, override: Any) -> Any:
    """`override` laid over `base` as Helm merges values: maps merge key by key, anything else is replaced
    (copied)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def values_overrides(overrides: Mapping[str, dict[str, Any]]) -> pulumi.ResourceTransform:
    """Lay each release's `overrides` (by release name) over the values the platform gives it: the stack's
    escape hatch for chart values the platform does not expose, applied after the platform's own."""
    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        extra = overrides.get(args.props.get("name")) if args.type_ == HELM_RELEASE else None
        if not extra:
            return None
        values = args.props.get("values") or {}
        merged = deep_merge(values, extra) if isinstance(values, dict) else \
            pulumi.Output.from_input(values).apply(lambda v: deep_merge(v, extra))  # unknown during a preview
        return pulumi.ResourceTransformResult(props={**args.props, "values": merged}, opts=args.opts)
    return transform


def resources_values(resources: Resources | None) -> dict[str, Any]:
    """A chart's `resources` value: the requests and limits, or `{}`, which Helm merges into (so keeps) the
    chart's own default."""
    return resources.values() if resources else {}


def after_delete(hooks: Sequence[pulumi.ResourceHook]) -> pulumi.ResourceOptions:
    """Options that run `hooks` once the resource is deleted (wait until what it made in AWS is gone)."""
    return pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(after_delete=list(hooks))) if hooks \
        else pulumi.ResourceOptions()


def release(name: str, chart: str, namespace: pulumi.Input[str], values: dict[str, Any], timeout_seconds: int,
            opts: pulumi.ResourceOptions, skip_crds: bool = False,
            delete_hooks: Sequence[pulumi.ResourceHook] = (), description: str | None = None) -> k8s.helm.v3.Release:
    """A pinned, atomic release; `delete_hooks` run once Helm has uninstalled it (e.g. to wait until the
    load balancer or volumes its objects made are gone, before the nodes and the cluster are deleted)."""
    pinned = CHARTS[chart]
    opts = pulumi.ResourceOptions.merge(opts, after_delete(delete_hooks))
    oci = pinned.repository.startswith("oci://")
    return k8s.helm.v3.Release(
        name,
        name=name,
        chart=f"{pinned.repository}/{pinned.name}" if oci else pinned.name,
        version=pinned.version,
        repository_opts=None if oci else {"repo": pinned.repository},
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=MAX_HISTORY,
        timeout=timeout_seconds,
        skip_crds=skip_crds,
        description=description,
        opts=opts,
    )


# Platform pods are scheduled (and kept) before workloads: a node-group roll or memory pressure must not
# take monitoring, logging or the edge down first. Per-node agents get the node-critical class.
CLUSTER_CRITICAL = "system-cluster-critical"
NODE_CRITICAL = "system-node-critical"

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
TOLERATE_EVERY_TAINT = {"operator": "Exists"}


def waits_like(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None,
               *also: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options for a child of `parent` that waits for what the component itself was told to wait for.

    Pulumi does not hand a component's `depends_on` down to its children: without this a release inside
    a component would start before the CRDs or the storage class the component was made to wait for."""
    inherited = (opts.depends_on if isinstance(opts.depends_on, list) else [opts.depends_on]) \
        if opts and opts.depends_on else []
    return pulumi.ResourceOptions(parent=parent, depends_on=[*inherited, *also])

"""TenantAdmission: the rules a team's own objects must keep, enforced by the API server itself.

Built-in `ValidatingAdmissionPolicy` objects (CEL; no webhook, no pods, failure policy Fail) bound to every
namespace labelled `team`. They read what the platform decided from the namespace, which tenants cannot
edit (a Namespace is cluster-scoped): the hosts the team owns (annotation `eks-platform.io/hostnames`) and
whether it may have load balancers (label `eks-platform.io/load-balancers`). Rules:
Services are ClusterIP (no ExternalName, no external IPs); Ingresses and HTTPRoutes serve only the team's
hosts, through the platform's edge, with no catch-all; platform-managed objects (label
`eks-platform.io/managed`) are the platform's alone; a team's NetworkPolicies never admit everyone; pods use
no `system-*` priority class and name images by tag or digest, never `:latest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

TEAM_LABEL = "team"
MANAGED_LABEL = "eks-platform.io/managed"
HOSTNAMES_ANNOTATION = "eks-platform.io/hostnames"
LOAD_BALANCERS_LABEL = "eks-platform.io/load-balancers"
TENANT_GROUP = "eks-platform:tenants"
MANAGED = {MANAGED_LABEL: "true"}

LOCAL_TEAM_GROUP_PREFIX = "team:"  # a team's group where the kubeconfig's users are the people (a local cluster)
# Who is a tenant: a team role (its access entry puts it in TENANT_GROUP), a member of a local team group, or a
# service account of the namespace.
TENANT_REQUEST = (f"'{TENANT_GROUP}' in request.userInfo.groups || "
                  f"request.userInfo.groups.exists(g, g.startsWith('{LOCAL_TEAM_GROUP_PREFIX}')) || "
                  "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')")
OWNED_HOST = "variables.hostnames.exists(p, p == {h} || (p.startsWith('*.') && {h}.endsWith(p.substring(1))))"
PINNED_IMAGE = ("c.image.contains('@sha256:') || (c.image.substring(c.image.lastIndexOf('/') + 1).contains(':') "
                "&& !c.image.endsWith(':latest'))")
HOSTNAMES = (f"namespaceObject.metadata.?annotations.orValue({{}})[?'{HOSTNAMES_ANNOTATION}'].orValue('')"
             ".split(',')")


def _owned(host: str) -> str:
    return OWNED_HOST.format(h=host)


@dataclass(frozen=True)
class Validation:
    expression: str
    message: str


@dataclass(frozen=True)
class Policy:
    """One ValidatingAdmissionPolicy and its binding to the team namespaces."""

    name: str
    resources: Sequence[tuple[str, str, str]]  # (API group, version, resource)
    operations: Sequence[str]
    validations: Sequence[Validation]
    tenants_only: bool = False
    object_selector: dict | None = None
    variables: dict[str, str] = field(default_factory=dict)
    warn_only: bool = False

    def manifests(self, enforce: bool) -> tuple[dict, dict]:
        rules = [{"apiGroups": [g], "apiVersions": [v], "operations": list(self.operations), "resources": [r]}
                 for g, v, r in self.resources]
        spec: dict = {"failurePolicy": "Fail", "matchConstraints": {"resourceRules": rules},
                      "validations": [{"expression": v.expression, "message": v.message, "reason": "Forbidden"}
                                      for v in self.validations]}
        if self.tenants_only:
            spec["matchConditions"] = [{"name": "tenant-request", "expression": TENANT_REQUEST}]
        if self.variables:
            spec["variables"] = [{"name": n, "expression": e} for n, e in self.variables.items()]
        policy = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
                  "metadata": {"name": self.name, "labels": MANAGED}, "spec": spec}
        match: dict = {"namespaceSelector": {"matchExpressions": [{"key": TEAM_LABEL, "operator": "Exists"}]}}
        if self.object_selector:
            match["objectSelector"] = self.object_selector
        actions = ["Deny"] if enforce and not self.warn_only else ["Warn", "Audit"]
        binding = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
                   "metadata": {"name": self.name, "labels": MANAGED},
                   "spec": {"policyName": self.name, "validationActions": actions, "matchResources": match}}
        return policy, binding


def tenant_policies(ingress_class: str | None, gateway: tuple[str, str] | None, images_warn_only: bool) -> list[Policy]:
    """The policies for an edge of `ingress_class` (nginx mode) or the Gateway `(namespace, name)` (gateway mode)."""
    may_balance = f"namespaceObject.metadata.?labels.orValue({{}})[?'{LOAD_BALANCERS_LABEL}'].orValue('') == 'allowed'"
    found = [
        Policy("eks-platform-tenant-services", [("", "v1", "services")], ("CREATE", "UPDATE"), [
            Validation("object.spec.type != 'ExternalName'",
                       "tenant-services: no ExternalName Services (they relay the edge to other namespaces); select "
                       "your pods with a ClusterIP Service"),
            Validation(f"!(object.spec.type in ['LoadBalancer', 'NodePort']) || ({may_balance})",
                       "tenant-services: LoadBalancer and NodePort Services bypass the edge's TLS and allow-lists; use "
                       "a ClusterIP Service behind an Ingress or HTTPRoute, or ask for teams.<team>.allowLoadBalancers"),
            Validation("!has(object.spec.externalIPs) || object.spec.externalIPs.size() == 0",
                       "tenant-services: no externalIPs; expose the Service through the platform's edge"),
        ]),
        Policy("eks-platform-tenant-managed-objects",
               [("", "v1", "resourcequotas"), ("", "v1", "limitranges"), ("", "v1", "serviceaccounts"),
                ("", "v1", "configmaps"), ("networking.k8s.io", "v1", "networkpolicies"),
                ("rbac.authorization.k8s.io", "v1", "roles"), ("rbac.authorization.k8s.io", "v1", "rolebindings")],
               ("CREATE", "UPDATE", "DELETE"), [
                   Validation("false", f"tenant-managed-objects: objects labelled {MANAGED_LABEL}=true are the "
                                       "platform's (quotas, limits, network policies, access); change them in the stack "
                                       "file (eks-platform:teams) and `pulumi up`"),
               ], tenants_only=True,
               object_selector={"matchLabels": MANAGED}),
        Policy("eks-platform-tenant-network-policies", [("networking.k8s.io", "v1", "networkpolicies")],
               ("CREATE", "UPDATE"), [
                   Validation("!has(object.spec.ingress) || object.spec.ingress.all(rule, has(rule.from) && "
                              "rule.from.size() > 0)",
                              "tenant-network-policies: an ingress rule needs a `from`: name the namespaces or pods "
                              "that may connect"),
                   Validation("!has(object.spec.ingress) || object.spec.ingress.all(rule, !has(rule.from) || "
                              "rule.from.all(peer, !has(peer.ipBlock) || !(peer.ipBlock.cidr in ['0.0.0.0/0', "
                              "'::/0'])))",
                              "tenant-network-policies: no ingress from 0.0.0.0/0 or ::/0; traffic from outside "
                              "comes through the platform's edge, which the platform's policy admits"),
               ], tenants_only=True),
        Policy("eks-platform-tenant-pod-priority", [("", "v1", "pods")], ("CREATE", "UPDATE"), [
            Validation("!has(object.spec.priorityClassName) || !object.spec.priorityClassName.startsWith('system-')",
                       "tenant-pod-priority: system-cluster-critical and system-node-critical are the cluster's own; "
                       "leave priorityClassName unset or use a class of your team"),
        ]),
        Policy("eks-platform-tenant-image-tags", [("", "v1", "pods")], ("CREATE", "UPDATE"), [
            Validation(" && ".join(f"{containers}.all(c, {PINNED_IMAGE})" for containers in (
                "object.spec.containers", "object.spec.?initContainers.orValue([])",
                "object.spec.?ephemeralContainers.orValue([])")),
                       "tenant-image-tags: name every image by a tag or a digest (registry/app:1.4.2 or "
                       "registry/app@sha256:...), never :latest or no tag, so a restart runs what was deployed"),
        ], warn_only=images_warn_only),
    ]
    if ingress_class:
        found.append(Policy("eks-platform-tenant-ingresses", [("networking.k8s.io", "v1", "ingresses")],
                            ("CREATE", "UPDATE"), [
            Validation("!has(object.spec.defaultBackend)",
                       "tenant-ingresses: no defaultBackend (a catch-all for every unclaimed name); list your hosts "
                       "in rules"),
            Validation("has(object.spec.rules) && object.spec.rules.size() > 0 && "
                       "object.spec.rules.all(r, has(r.host) && r.host != '')",
                       "tenant-ingresses: every rule needs a host of your team (<team>.<base domain> or below it, or "
                       "one of teams.<team>.hosts)"),
            Validation("object.spec.?rules.orValue([]).all(r, r.?host.orValue('') == '' || " + _owned("r.host") + ")",
                       "tenant-ingresses: a host is not your team's; yours are <team>.<base domain>, the names below "
                       "it, and teams.<team>.hosts"),
            Validation("object.spec.?tls.orValue([]).all(t, t.?hosts.orValue([]).all(h, " + _owned("h") + "))",
                       "tenant-ingresses: a TLS host is not your team's"),
            Validation(f"object.spec.?ingressClassName.orValue('{ingress_class}') == '{ingress_class}' && "
                       "object.metadata.?annotations.orValue({})"
                       f"[?'kubernetes.io/ingress.class'].orValue('{ingress_class}') == '{ingress_class}'",
                       f"tenant-ingresses: the only ingress class is the platform's '{ingress_class}'"),
            Validation("!object.metadata.?annotations.orValue({}).exists(k, "
                       "k.startsWith('alb.ingress.kubernetes.io/') || k.startsWith('service.beta.kubernetes.io/'))",
                       "tenant-ingresses: no load-balancer annotations: the platform's edge serves every Ingress"),
        ], variables={"hostnames": HOSTNAMES}))
    if gateway:
        namespace, name = gateway
        route_hosts = "object.spec.?hostnames.orValue([])"
        found.append(Policy("eks-platform-tenant-routes", [("gateway.networking.k8s.io", "v1", "httproutes"),
                                                           ("gateway.networking.k8s.io", "v1", "grpcroutes")],
                            ("CREATE", "UPDATE"), [
            Validation(f"{route_hosts}.size() > 0",
                       "tenant-routes: a route needs hostnames of your team (<team>.<base domain> or below it, or "
                       "teams.<team>.hosts): one without would take every name of the listener"),
            Validation(f"{route_hosts}.all(h, " + _owned("h") + ")",
                       "tenant-routes: a hostname is not your team's; yours are <team>.<base domain>, the names "
                       "below it, and teams.<team>.hosts"),
            Validation(f"object.spec.?parentRefs.orValue([]).all(p, p.?kind.orValue('Gateway') == 'Gateway' && "
                       f"p.name == '{name}' && p.?namespace.orValue('') == '{namespace}')",
                       f"tenant-routes: attach routes to the platform's Gateway {namespace}/{name} only"),
        ], variables={"hostnames": HOSTNAMES}))
    return found


@dataclass
class TenantAdmissionArgs:
    ingress_class: str | None
    gateway: tuple[str, str] | None
    enforce: bool = True
    images_warn_only: bool = False


class TenantAdmission(pulumi.ComponentResource):
    """The tenant policies and their bindings, cluster-scoped, applied before any team namespace exists."""

    def __init__(self, name: str, args: TenantAdmissionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:tenancy:TenantAdmission", name, None, opts)
        self.policies = []
        policies = tenant_policies(args.ingress_class, args.gateway, args.images_warn_only)
        for policy in policies:
            manifest, binding_manifest = policy.manifests(args.enforce)
            created = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                policy.name, metadata=manifest["metadata"], spec=manifest["spec"],
                opts=pulumi.ResourceOptions(parent=self))
            binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                policy.name, metadata=binding_manifest["metadata"], spec=binding_manifest["spec"],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[created]))
            self.policies += [created, binding]
        self.register_outputs({"policies": [p.name for p in policies]})

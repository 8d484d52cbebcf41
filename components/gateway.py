"""Gateway: the Gateway API edge on Envoy Gateway, behind an NLB that the AWS Load Balancer Controller owns.

Envoy Gateway's controller (official chart, pinned; its CRDs and the Gateway API CRDs applied on their own),
an `EnvoyProxy` that shapes the data plane (replicas, requests, a disruption budget, and its Service: an
NLB with IP targets that keeps the client address and, given an ACM certificate, terminates TLS), a
`GatewayClass`, and one `Gateway`: port 80 only redirects to HTTPS; port 443 serves `grafana.<base>` to
the platform's own route and `*.<base>` to routes from team namespaces (those labelled `team`). Grafana is
published through an `HTTPRoute`, allowed only from the given client ranges by a `SecurityPolicy`.
Prometheus scrapes the Envoy proxies; the ingress alerts (5xx ratio, p99 latency) and dashboard are the
nginx edge's, per route. TLS is ACM's at the NLB, renewed by AWS: there is no in-cluster certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.dashboards import alerts_and_dashboard
from components.helm import CLUSTER_CRITICAL, Resources, after_delete, release, resources_values, waits_like
from components.capabilities import LoadBalancers
from components.ingress import P99_SECONDS, EdgeAlertThresholds, edge_alerts, edge_dashboard
from components.namespaces import namespace

NAMESPACE = "envoy-gateway-system"
GATEWAY = "edge"
GATEWAY_CLASS = "eks-platform"
PROXY_SERVICE = "edge-gateway"
CONTROLLER_NAME = "gateway.envoyproxy.io/gatewayclass-controller"
TEAM_LABEL = "team"
PROXY_SELECTOR = {"app.kubernetes.io/name": "envoy", "gateway.envoyproxy.io/owning-gateway-name": GATEWAY}
PROXY_METRICS_PORT = 19001  # Envoy's admin listener: /stats/prometheus
_BY = "envoy_cluster_name"  # Envoy Gateway names a route's upstream cluster httproute/<namespace>/<name>/rule/<n>
_ROUTES = f'{_BY}=~"httproute/.+"'


@dataclass
class GatewayArgs:
    load_balancers: LoadBalancers
    scheme: str = "internet-facing"
    base_domain: str | None = None
    tls_certificate_arn: pulumi.Input[str] | None = None
    proxy_replicas: int = 1
    controller_resources: Resources | None = None
    proxy_resources: Resources | None = None
    job_resources: Resources | None = None
    after_delete: Sequence[pulumi.ResourceHook] = ()
    alert_thresholds: EdgeAlertThresholds = EdgeAlertThresholds()


def controller_values(args: GatewayArgs) -> dict[str, Any]:
    return {
        "crds": {"enabled": False},  # applied from components/crds, upgraded with the pin
        "createNamespace": False,
        "deployment": {"envoyGateway": {"resources": resources_values(args.controller_resources)},
                       "priorityClassName": CLUSTER_CRITICAL},
        "certgen": {"job": {"resources": resources_values(args.job_resources)}},
    }


def envoy_proxy(args: GatewayArgs, certificate_arn: str | None) -> dict[str, Any]:
    resources = resources_values(args.proxy_resources)
    kubernetes: dict[str, Any] = {
        "envoyService": {"name": PROXY_SERVICE, "type": "LoadBalancer",
                         "loadBalancerClass": args.load_balancers.load_balancer_class,
                         "annotations": args.load_balancers.annotations(args.scheme, certificate_arn, "443")},
        "envoyDeployment": {"replicas": args.proxy_replicas, "container": {"resources": resources},
                            "pod": {"priorityClassName": CLUSTER_CRITICAL}},
    }
    if args.proxy_replicas > 1:
        kubernetes["envoyPDB"] = {"maxUnavailable": 1}
    return {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}}


def listeners(base_domain: str | None) -> list[dict[str, Any]]:
    https = {"port": 443, "protocol": "HTTP"}  # TLS ends at the NLB (ACM); Envoy serves plain HTTP behind it
    found = [{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]
    if base_domain:
        found.append({"name": "grafana", **https, "hostname": f"grafana.{base_domain}",
                      "allowedRoutes": {"namespaces": {"from": "Same"}}})
    found.append({"name": "apps", **https, **({"hostname": f"*.{base_domain}"} if base_domain else {}),
                  "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
                      {"key": TEAM_LABEL, "operator": "Exists"}]}}}})
    return found


def alert_rules(thresholds: EdgeAlertThresholds = EdgeAlertThresholds()) -> list[dict[str, Any]]:
    """The edge's 5xx ratio and p99 latency alerts, over Envoy's upstream metrics per route; the route's
    namespace is the second part of its cluster's name."""
    requests = f"envoy_cluster_upstream_rq_xx{{{_ROUTES}}}"
    return [{"name": "ingress", "rules": edge_alerts(
        requests, f'envoy_cluster_upstream_rq_xx{{{_ROUTES},envoy_response_code_class="5"}}',
        f"histogram_quantile(0.99, sum by (le, {_BY}) (rate(envoy_cluster_upstream_rq_time_bucket{{{_ROUTES}}}[5m])))",
        _BY, (_BY, "httproute/([^/]+)/.*"), "{{ $labels.envoy_cluster_name }}", P99_SECONDS * 1000, "{{ $value }} ms",
        thresholds)}]


def ingress_dashboard() -> dict[str, Any]:
    return edge_dashboard(alert_rules(), "{{envoy_cluster_name}}", "ms",
                          f"sum by ({_BY}) (rate(envoy_cluster_upstream_rq_total{{{_ROUTES}}}[5m]))")


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, crds: Sequence[pulumi.Resource],
                 opts: pulumi.ResourceOptions | None = None):
        """`opts` must make it wait for the load balancer controller and the monitoring CRDs; `crds` are the
        Gateway API and Envoy Gateway CRD bundles."""
        super().__init__("eks-platform:edge:Gateway", name, None, opts)
        ns = namespace(NAMESPACE, pulumi.ResourceOptions(parent=self))
        self.release = release("envoy-gateway", "gateway-helm", ns.metadata.name, controller_values(args),
                               timeout_seconds=600, skip_crds=True, opts=waits_like(self, opts, *crds))
        after_controller = waits_like(self, opts, self.release)
        proxy = k8s.apiextensions.CustomResource(
            f"{name}-envoy-proxy", api_version="gateway.envoyproxy.io/v1alpha1", kind="EnvoyProxy",
            metadata={"name": GATEWAY, "namespace": NAMESPACE},
            spec=pulumi.Output.from_input(args.tls_certificate_arn).apply(lambda arn: envoy_proxy(args, arn)),
            opts=after_controller)
        gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-gateway-class", api_version="gateway.networking.k8s.io/v1", kind="GatewayClass",
            metadata={"name": GATEWAY_CLASS},
            spec={"controllerName": CONTROLLER_NAME, "parametersRef": {
                "group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": GATEWAY, "namespace": NAMESPACE}},
            opts=waits_like(self, opts, self.release, proxy))
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway", api_version="gateway.networking.k8s.io/v1", kind="Gateway",
            # Done when Envoy serves it and its Service has the NLB's address (the DNS records read it next).
            metadata={"name": GATEWAY, "namespace": NAMESPACE, "annotations": {"pulumi.com/waitFor": "condition=Programmed"}},
            spec={"gatewayClassName": GATEWAY_CLASS, "listeners": listeners(args.base_domain)},
            opts=pulumi.ResourceOptions.merge(waits_like(self, opts, gateway_class), after_delete(args.after_delete)))
        k8s.apiextensions.CustomResource(
            f"{name}-https-redirect", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata={"name": "https-redirect", "namespace": NAMESPACE},
            spec={"parentRefs": [{"name": GATEWAY, "sectionName": "http"}], "rules": [{"filters": [{
                "type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]},
            opts=waits_like(self, opts, self.gateway))
        in_namespace = waits_like(self, opts, ns)
        k8s.apiextensions.CustomResource(
            f"{name}-proxies", api_version="monitoring.coreos.com/v1", kind="PodMonitor",
            metadata={"name": "envoy-proxies", "namespace": NAMESPACE},
            spec={"selector": {"matchLabels": PROXY_SELECTOR},
                  "podMetricsEndpoints": [{"portNumber": PROXY_METRICS_PORT, "path": "/stats/prometheus"}]},
            opts=in_namespace)
        alerts_and_dashboard(name, "ingress", NAMESPACE, alert_rules(args.alert_thresholds), ingress_dashboard(),
                             in_namespace)
        self.namespace = NAMESPACE
        self.namespace_object = ns
        self.service = f"{NAMESPACE}/{PROXY_SERVICE}"
        self.register_outputs({"namespace": NAMESPACE, "gateway": GATEWAY})

    def expose(self, route: str, host: str, service_namespace: str, service: str, port: int,
               allowed_cidrs: Sequence[str]) -> k8s.apiextensions.CustomResource:
        """An HTTPRoute on the Gateway's `route` listener to a Service in another namespace (granted by a
        ReferenceGrant there), answering only clients from `allowed_cidrs`."""
        child = waits_like(self, pulumi.ResourceOptions(depends_on=[self.gateway]))
        k8s.apiextensions.CustomResource(
            f"{self._name}-{route}-grant", api_version="gateway.networking.k8s.io/v1beta1", kind="ReferenceGrant",
            metadata={"name": f"gateway-{route}", "namespace": service_namespace},
            spec={"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": NAMESPACE}],
                  "to": [{"group": "", "kind": "Service", "name": service}]}, opts=child)
        http_route = k8s.apiextensions.CustomResource(
            f"{self._name}-{route}", api_version="gateway.networking.k8s.io/v1", kind="HTTPRoute",
            metadata={"name": route, "namespace": NAMESPACE},
            spec={"parentRefs": [{"name": GATEWAY, "sectionName": route}], "hostnames": [host],
                  "rules": [{"backendRefs": [{"name": service, "namespace": service_namespace, "port": port}]}]},
            opts=child)
        k8s.apiextensions.CustomResource(
            f"{self._name}-{route}-clients", api_version="gateway.envoyproxy.io/v1alpha1", kind="SecurityPolicy",
            metadata={"name": f"{route}-clients", "namespace": NAMESPACE},
            spec={"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route}],
                  "authorization": {"defaultAction": "Deny", "rules": [
                      {"name": "allowed-clients", "action": "Allow", "principal": {"clientCIDRs": list(allowed_cidrs)}}]}},
            opts=waits_like(self, pulumi.ResourceOptions(depends_on=[http_route])))
        return http_route

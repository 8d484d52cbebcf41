"""Which connections into the platform's namespaces are allowed: everything else is denied.

Tenants' pods cannot reach Loki (read or forge logs), Alertmanager (silence alerts), Prometheus or
Grafana's pod directly; Grafana is reached through the ingress controller only.
"""

from __future__ import annotations

from components import backup, gateway, gpu, ingress, logging, monitoring
from components.isolation import ANYWHERE, KUBE_DNS, Allow, Peer

PROMETHEUS = Peer(monitoring.NAMESPACE, {"app.kubernetes.io/name": "prometheus"})
GRAFANA_PODS = {"app.kubernetes.io/name": "grafana"}
GRAFANA_PORT = 3000
LOKI_GATEWAY_PODS = {"app.kubernetes.io/component": "gateway"}
LOKI_GATEWAY_PORT = 8080
OPERATOR_PODS = {"app": f"{monitoring.RELEASE}-operator"}
OPERATOR_WEBHOOK_PORT = 10250
INGRESS_CONTROLLER_PODS = {"app.kubernetes.io/component": "controller"}
INGRESS_TRAFFIC_PORTS = (80, 443, ingress.REDIRECT_PORT)
INGRESS_WEBHOOK_PORT = 8443
KUBE_SYSTEM = KUBE_DNS.namespace
GATEWAY_PROXY_PORTS = (10080, 10443)  # Envoy's container ports for the Gateway's listeners 80 and 443


def edge_pods(edge: str) -> Peer:
    """The pods that carry the edge's traffic into the cluster: the ingress controller, or the Envoy proxies."""
    if edge == "gateway":
        return Peer(gateway.NAMESPACE, gateway.PROXY_SELECTOR)
    return Peer(ingress.NAMESPACE, INGRESS_CONTROLLER_PODS)


def platform_flows(node_network: str, has_gpu: bool, edge: str = "nginx",
                   grafana_published: bool = False, velero: bool = True) -> dict[str, list[Allow]]:
    """Per platform namespace, the flows it accepts besides its own pods' traffic; the edge reaches Grafana
    only when Grafana is published.

    The API server calls admission webhooks from the control plane's network interfaces in the
    cluster's subnets (the nodes' network on a local cluster), hence that range for webhook ports."""
    api_server = Peer(cidr=node_network)
    scrape = Allow("prometheus-scrapes", [PROMETHEUS])
    flows = {
        monitoring.NAMESPACE: [
            Allow("api-server-to-operator-webhook", [api_server], OPERATOR_PODS, [OPERATOR_WEBHOOK_PORT]),
        ],
        logging.NAMESPACE: [
            Allow("log-shippers-and-grafana-to-loki",
                  [Peer(logging.FLUENT_BIT_NAMESPACE), Peer(monitoring.NAMESPACE, GRAFANA_PODS)],
                  LOKI_GATEWAY_PODS, [LOKI_GATEWAY_PORT]),
            scrape,
        ],
        logging.FLUENT_BIT_NAMESPACE: [scrape],
        **({backup.NAMESPACE: [scrape]} if velero else {}),
    }
    if edge == "gateway":
        flows[gateway.NAMESPACE] = [
            Allow("clients-to-proxies", [ANYWHERE], gateway.PROXY_SELECTOR, GATEWAY_PROXY_PORTS), scrape]
        if grafana_published:
            flows[monitoring.NAMESPACE].append(
                Allow("gateway-to-grafana", [edge_pods(edge)], GRAFANA_PODS, [GRAFANA_PORT]))
    else:
        flows[ingress.NAMESPACE] = [
            Allow("clients-to-controller", [ANYWHERE], INGRESS_CONTROLLER_PODS, INGRESS_TRAFFIC_PORTS),
            Allow("api-server-to-webhook", [api_server], INGRESS_CONTROLLER_PODS, [INGRESS_WEBHOOK_PORT]),
            scrape,
        ]
        if grafana_published:
            flows[monitoring.NAMESPACE].insert(0, Allow("ingress-to-grafana", [edge_pods(edge)], GRAFANA_PODS,
                                                        [GRAFANA_PORT]))
    if has_gpu:
        flows[gpu.NAMESPACE] = [scrape]
    flows[KUBE_SYSTEM] = [
        Allow("cluster-dns", [Peer()], KUBE_DNS.pod_labels, [53], ("UDP", "TCP")),
        Allow("vpc-to-add-ons", [api_server]),  # the API server to webhooks, kubelets' probes, the nodes
        scrape,
    ]
    return flows

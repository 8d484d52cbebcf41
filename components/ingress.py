"""Ingress: ingress-nginx behind the cluster's edge: on EKS an AWS Network Load Balancer that the AWS Load
Balancer Controller owns, on a local cluster the node's host ports, its own LoadBalancer or NodePorts.

Callers only see `IngressArgs` and the outputs (namespace, ingress class, controller Service), so the edge
can be swapped (upstream ingress-nginx was retired in 2026: `ingress.controller: gateway` is the maintained
alternative). The NLB targets the controller pods' IPs, keeps the client IP, spreads across zones, and is
either internet-facing or internal. Metrics are on with a ServiceMonitor. Given an ACM certificate, TLS is
terminated at the NLB: port 443 forwards to the controller's HTTP port, port 80 only redirects to HTTPS.
The admission webhook fails closed only with more than one replica: a single restarting pod must not
block every Ingress change in the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Sequence

import pulumi

from components.dashboards import alerts_and_dashboard, dashboard
from components.helm import CLUSTER_CRITICAL, Resources, release, resources_values, waits_like
from components.capabilities import Edge
from components.namespaces import namespace

NAMESPACE = "ingress-nginx"
INGRESS_CLASS = "nginx"
_SELECTOR = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx",
             "app.kubernetes.io/component": "controller"}


@dataclass(frozen=True)
class EdgeAlertThresholds:
    """The least traffic an edge alert needs: below it, one failed or slow request is not a ratio or a p99."""

    min_5xx_requests_per_second: float = 0.2
    min_latency_requests_per_second: float = 0.2


@dataclass
class IngressArgs:
    edge: Edge
    scheme: Literal["internet-facing", "internal"] = "internet-facing"
    replicas: int = 1
    max_replicas: int | None = None
    tls_certificate_arn: pulumi.Input[str] | None = None
    resources: Resources | None = None
    job_resources: Resources | None = None
    retired_risk_accepted: bool = False
    alert_thresholds: EdgeAlertThresholds = EdgeAlertThresholds()


# The release's description when the stack accepted running the retired controller (the policy pack reads it).
RETIRED_RISK_ACCEPTED = "eks-platform: retired controller accepted (ingress.acceptRetiredController)"


REDIRECT_PORT = 2443


# A shared edge that a tenant's objects cannot turn against another: no Service of type ExternalName as a
# backend (a relay into other namespaces), no host-less catch-all Ingress, no snippet annotations, and no
# annotation riskier than Medium (the platform's own, the source allow-list, is Medium).
HARDENING_ARGS = {"disable-svc-external-name": "true", "disable-catch-all": "true"}
HARDENING_CONFIG = {"allow-snippet-annotations": "false", "annotations-risk-level": "Medium"}


def _terminate_tls(controller: dict[str, Any]) -> None:
    controller["service"]["targetPorts"] = {"http": "tohttps", "https": "http"}
    controller["containerPort"] = {"http": 80, "https": 443, "tohttps": REDIRECT_PORT}
    controller["config"]["http-snippet"] = (f"server {{\n  listen {REDIRECT_PORT};\n"
                                            "  return 308 https://$host$request_uri;\n}\n")


CONTROL_PLANE_TAINT = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}


def _service(args: IngressArgs, certificate_arn: str | None) -> dict[str, Any]:
    edge = args.edge
    if edge.mode == "host-ports":
        return {"type": "ClusterIP"}
    if edge.mode == "node-port":
        return {"type": "NodePort", "nodePorts": dict(edge.node_ports)}
    if edge.load_balancers is None:
        return {"type": "LoadBalancer"}  # the cluster's own implementation (k3s's ServiceLB)
    return {"type": "LoadBalancer", "loadBalancerClass": edge.load_balancers.load_balancer_class,
            "annotations": edge.load_balancers.annotations(args.scheme, certificate_arn, "https")}


def _on_host_ports(controller: dict[str, Any], edge: Edge) -> None:
    """Ports 80 and 443 of the labelled node (kind forwards the laptop's to them): on that node only, also when it
    is the control plane, and a rollout frees the ports before the new pod takes them."""
    controller["hostPort"] = {"enabled": True}
    controller["nodeSelector"] = {"kubernetes.io/os": "linux", **edge.node_selector}
    controller["tolerations"] = [CONTROL_PLANE_TAINT]
    controller["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def controller_values(args: IngressArgs, certificate_arn: str | None = None) -> dict[str, Any]:
    job = {"resources": resources_values(args.job_resources)}
    controller: dict[str, Any] = {
        "replicaCount": args.replicas,
        "resources": resources_values(args.resources),
        "priorityClassName": CLUSTER_CRITICAL,
        "admissionWebhooks": {"failurePolicy": "Fail" if args.replicas > 1 else "Ignore",
                              "createSecretJob": job, "patchWebhookJob": job,
                              "patch": {"priorityClassName": CLUSTER_CRITICAL}},
        "ingressClassResource": {"name": INGRESS_CLASS, "default": True},
        "extraArgs": dict(HARDENING_ARGS), "allowSnippetAnnotations": False, "config": dict(HARDENING_CONFIG),
        "service": _service(args, certificate_arn),
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": _SELECTOR}}],
    }
    if args.max_replicas:
        controller["autoscaling"] = {"enabled": True, "minReplicas": args.replicas, "maxReplicas": args.max_replicas,
                                     "targetCPUUtilizationPercentage": 70}
    if args.replicas > 1:
        controller["minAvailable"] = args.replicas - 1
    if args.edge.mode == "host-ports":
        _on_host_ports(controller, args.edge)
    if certificate_arn:
        _terminate_tls(controller)
    return {"controller": controller}


ERROR_RATIO = 0.05
P99_SECONDS = 2
CERTIFICATE_DAYS = 14
_BY = "ingress, exported_namespace"


def edge_alerts(requests: str, errors: str, p99: str, by: str, namespace: tuple[str, str], where: str,
                p99_threshold: float, p99_summary: str, thresholds: EdgeAlertThresholds) -> list[dict[str, Any]]:
    """The edge's 5xx ratio and p99 latency alerts, `by` route or Ingress. `requests`, `errors` (5xx only) and
    `p99` are PromQL over the controller's own metrics; `p99_threshold` is in the unit `p99` returns. Each alert
    carries the route's `namespace` (from label `namespace[0]` by the regex `namespace[1]`), so the alert of a
    team's Ingress is routed to the team."""
    source, pattern = namespace

    def of_namespace(expr: str) -> str:
        return f'label_replace({expr}, "namespace", "$1", "{source}", "{pattern}")'

    def busy(rate: float) -> str:
        return f"on ({by}) sum by ({by}) (rate({requests}[5m])) >= {rate}"

    ratio = f"sum by ({by}) (rate({errors}[5m])) / sum by ({by}) (rate({requests}[5m]))"
    return [
        {"alert": "IngressHigh5xxRatio", "for": "10m", "labels": {"severity": "warning"},
         "expr": of_namespace(f"({ratio} > {ERROR_RATIO} and {busy(thresholds.min_5xx_requests_per_second)})"),
         "annotations": {"summary": f"{where} answers {{{{ $value | humanizePercentage }}}} of requests with 5xx",
                         "description": f"Over 5 minutes, with at least {thresholds.min_5xx_requests_per_second} "
                                        "requests per second (eks-platform:ingress.alerts.min5xxRequestsPerSecond)"}},
        {"alert": "IngressHighP99Latency", "for": "10m", "labels": {"severity": "warning"},
         "expr": of_namespace(f"({p99} > {p99_threshold} and {busy(thresholds.min_latency_requests_per_second)})"),
         "annotations": {"summary": f"{where} p99 latency is {p99_summary}",
                         "description": f"Over 5 minutes, with at least {thresholds.min_latency_requests_per_second} "
                                        "requests per second (eks-platform:ingress.alerts.minLatencyRequestsPerSecond)"}},
    ]


def alert_rules(thresholds: EdgeAlertThresholds = EdgeAlertThresholds()) -> list[dict[str, Any]]:
    """5xx ratio, p99 latency and expiring certificates (of the TLS Secrets teams give their Ingresses; the
    platform's own certificate is ACM's, renewed by AWS) per Ingress. The controller's `namespace` label (the
    Ingress's) becomes `exported_namespace` when Prometheus adds the target's: the alerts put it back."""
    requests = "nginx_ingress_controller_requests"
    return [{"name": "ingress", "rules": [
        *edge_alerts(
            requests, f'{requests}{{status=~"5.."}}',
            f"histogram_quantile(0.99, sum by (le, {_BY}) "
            f"(rate(nginx_ingress_controller_request_duration_seconds_bucket[5m])))",
            _BY, ("exported_namespace", "(.*)"), "{{ $labels.exported_namespace }}/{{ $labels.ingress }}",
            P99_SECONDS, "{{ $value | humanizeDuration }}", thresholds),
        {"alert": "IngressCertificateExpiringSoon", "labels": {"severity": "warning"},
         "expr": 'label_replace((max by (host, exported_namespace) (nginx_ingress_controller_ssl_expire_time_seconds) '
                 f'- time()) / 86400 < {CERTIFICATE_DAYS}, "namespace", "$1", "exported_namespace", "(.*)")',
         "annotations": {"summary": "The certificate of {{ $labels.host }} expires in {{ $value | humanize }} days"}},
    ]}]


def edge_dashboard(groups: list[dict[str, Any]], legend: str, p99_unit: str, requests: str) -> dict[str, Any]:
    """The `Ingress` dashboard: the 5xx ratio and p99 latency the alerts in `groups` watch, and the request rate."""
    rules = {r["alert"]: r["expr"] for r in groups[0]["rules"]}

    def watched(alert: str) -> str:
        return rules[alert].removeprefix("label_replace((").split(" > ", 1)[0]
    return dashboard("ingress", "Ingress", "ingress", legend, [
        ("5xx ratio", watched("IngressHigh5xxRatio"), "percentunit"),
        ("p99 latency", watched("IngressHighP99Latency"), p99_unit),
        ("Requests per second", requests, "reqps"),
    ])


def ingress_dashboard() -> dict[str, Any]:
    return edge_dashboard(alert_rules(), "{{exported_namespace}}/{{ingress}}", "s",
                          f"sum by ({_BY}) (rate(nginx_ingress_controller_requests[5m]))")


class Ingress(pulumi.ComponentResource):
    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:ingress:Ingress", name, None, opts)
        # Host ports are a privileged pod's (Pod Security baseline refuses them): only where the edge uses them.
        ns = namespace(NAMESPACE, pulumi.ResourceOptions(parent=self),
                       pod_security="privileged" if args.edge.mode == "host-ports" else "baseline")
        values = pulumi.Output.from_input(args.tls_certificate_arn).apply(lambda arn: controller_values(args, arn))
        self.release = release("ingress-nginx", "ingress-nginx", ns.metadata.name, values,
                               timeout_seconds=600, opts=waits_like(self, opts), delete_hooks=args.edge.after_delete,
                               description=RETIRED_RISK_ACCEPTED if args.retired_risk_accepted else None)
        alerts_and_dashboard(name, "ingress", NAMESPACE, alert_rules(args.alert_thresholds), ingress_dashboard(),
                             waits_like(self, opts, ns))
        self.namespace = NAMESPACE
        self.namespace_object = ns
        self.ingress_class = INGRESS_CLASS
        self.service = f"{NAMESPACE}/ingress-nginx-controller"
        self.register_outputs({"namespace": NAMESPACE, "ingressClass": INGRESS_CLASS})

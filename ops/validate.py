"""`python -m ops validate --stack S [--wait DURATION]`: is the deployed cluster healthy? (like
`kops validate cluster`), on EKS and on a cluster of one's own (`target: kubeconfig`).

AWS side (EKS only): the EKS cluster and its add-ons ACTIVE, every node group ACTIVE. Kubernetes side
(through the cluster's API with `aws eks get-token` credentials, or the stack's kubeconfig context): each node
group's nodes Ready at its desired size (every node Ready), the platform's Deployments, StatefulSets and
DaemonSets fully available, alerting alive (the always-firing Watchdog reaches Alertmanager, which has failed
no notification of the integrations the stack configures), and the end-to-end probes of `ops.probes` (names
resolve from a restricted pod, its line reaches Loki, the public name serves a valid certificate). With
`--wait`, checks repeat until all pass or the time is up. Prints a table; the exit code says whether all passed.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from dataclasses import dataclass
from typing import Callable, Protocol, TextIO

import boto3
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from ops import cluster_access
from components.logging import NAMESPACE as LOGGING
from components.monitoring import LOKI_TENANT_HEADER, NAMESPACE as MONITORING
from components.tenancy import RESERVED_NAMESPACES
from ops.probes import Probes
from ops.stackfiles import StackFileError, load_settings
from stacks.config import Settings
from stacks.problems import ConfigError
from stacks.flows import LOKI_GATEWAY_PODS, LOKI_GATEWAY_PORT
from stacks.rules import base_domain, grafana_host

PLATFORM_NAMESPACES = tuple(ns for ns in RESERVED_NAMESPACES if ns not in ("default", "kube-public", "kube-node-lease"))
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"


@dataclass
class Row:
    kind: str
    name: str
    ok: bool
    detail: str
    applicable: bool = True


@dataclass
class Workload:
    kind: str
    namespace: str
    name: str
    desired: int
    ready: int


class KubernetesApi(Protocol):
    def nodes(self) -> list[tuple[str, dict[str, str], bool]]:
        """(name, labels, Ready) of every node."""

    def workloads(self, namespaces: tuple[str, ...]) -> list[Workload]:
        """Deployments, StatefulSets and DaemonSets of these namespaces with desired and ready counts."""

    def alertmanager(self, path: str) -> str:
        """GET `path` of Alertmanager's HTTP API (by port-forward)."""

    def run_job(self, namespace: dict, job: dict, timeout_seconds: float) -> tuple[str, str]: ...

    def loki(self, path: str, tenant: str) -> str: ...


ALERTMANAGER_PODS = (MONITORING, "app.kubernetes.io/name=alertmanager", 9093)
LOKI_GATEWAY = (LOGGING, ",".join(f"{k}={v}" for k, v in LOKI_GATEWAY_PODS.items()), LOKI_GATEWAY_PORT)


def http_get(sock, path: str, headers: dict[str, str] | None = None) -> str:
    """GET `/path` over an open stream (a port-forward's socket); an HTTP error status is raised."""
    connection = http.client.HTTPConnection("localhost")
    connection.sock = sock
    try:
        connection.request("GET", f"/{path}", headers=headers or {})
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    if response.status >= 400:
        raise ConnectionError(f"HTTP {response.status} {response.reason}: {body[:200]}")
    return body


class ClusterApi:
    """The Kubernetes API of the stack's cluster through a `kubernetes.client.ApiClient`."""

    def __init__(self, api_client):
        from kubernetes import client

        self.core, self.apps, self.batch = (client.CoreV1Api(api_client), client.AppsV1Api(api_client),
                                            client.BatchV1Api(api_client))

    def _forwarded_get(self, pods: tuple[str, str, int], path: str, headers: dict[str, str] | None = None) -> str:
        from kubernetes.stream import portforward

        namespace, selector, port = pods
        running = [p for p in self.core.list_namespaced_pod(namespace, label_selector=selector).items
                   if p.status.phase == "Running"]
        if not running:
            raise ConnectionError(f"no running pod {selector} in {namespace}")
        forward = portforward(self.core.connect_get_namespaced_pod_portforward, running[0].metadata.name,
                              namespace, ports=str(port))
        try:
            return http_get(forward.socket(port), path, headers)
        finally:
            forward.close()

    def alertmanager(self, path):
        return self._forwarded_get(ALERTMANAGER_PODS, path)

    def loki(self, path, tenant):
        return self._forwarded_get(LOKI_GATEWAY, path, {LOKI_TENANT_HEADER: tenant})

    def run_job(self, namespace, job, timeout_seconds):
        name, ns = job["metadata"]["name"], namespace["metadata"]["name"]
        self.core.create_namespace(namespace)
        try:
            self.batch.create_namespaced_job(ns, job)
            deadline, phase = time.monotonic() + timeout_seconds, "Timeout"
            while time.monotonic() < deadline:
                status = self.batch.read_namespaced_job_status(name, ns).status
                if status.succeeded or status.failed:
                    phase = "Succeeded" if status.succeeded else "Failed"
                    break
                time.sleep(2)
            pods = self.core.list_namespaced_pod(ns, label_selector=f"job-name={name}").items
            logs = self.core.read_namespaced_pod_log(pods[0].metadata.name, ns) if pods else ""
            return phase, logs
        finally:
            self.core.delete_namespace(ns, propagation_policy="Background")

    def nodes(self):
        return [(n.metadata.name, n.metadata.labels or {},
                 any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []))
                for n in self.core.list_node().items]

    def workloads(self, namespaces):
        found = []
        for ns in namespaces:
            for d in self.apps.list_namespaced_deployment(ns).items:
                found.append(Workload("Deployment", ns, d.metadata.name, d.spec.replicas or 0, d.status.available_replicas or 0))
            for s in self.apps.list_namespaced_stateful_set(ns).items:
                found.append(Workload("StatefulSet", ns, s.metadata.name, s.spec.replicas or 0, s.status.ready_replicas or 0))
            for ds in self.apps.list_namespaced_daemon_set(ns).items:
                found.append(Workload("DaemonSet", ns, ds.metadata.name, ds.status.desired_number_scheduled or 0,
                                      ds.status.number_available or 0))
        return found


def aws_rows(settings: Settings, eks) -> tuple[list[Row], dict | None, dict[str, int]]:
    name = settings.cluster_name
    try:
        cluster = eks.describe_cluster(name=name)["cluster"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise  # credentials, permissions, throttling: the commands' error boundary says what to do
        return [Row("cluster", name, False, error.response["Error"]["Message"])], None, {}
    rows = [Row("cluster", name, cluster["status"] == "ACTIVE", f"{cluster['status']}, Kubernetes {cluster.get('version')}")]
    try:
        for addon in eks.list_addons(clusterName=name)["addons"]:
            status = eks.describe_addon(clusterName=name, addonName=addon)["addon"]["status"]
            rows.append(Row("add-on", addon, status == "ACTIVE", status))
    except ClientError as error:
        rows.append(Row("add-on", "*", False, f"cannot list add-ons: {error.response['Error']['Message']}"))
    desired = {}
    for group in eks.list_nodegroups(clusterName=name)["nodegroups"]:
        nodegroup = eks.describe_nodegroup(clusterName=name, nodegroupName=group)["nodegroup"]
        desired[group] = nodegroup["scalingConfig"]["desiredSize"]
        rows.append(Row("node group", group, nodegroup["status"] == "ACTIVE",
                        f"{nodegroup['status']}, desired {desired[group]}"))
    return rows, cluster, desired


def kubernetes_rows(api: KubernetesApi, desired: dict[str, int]) -> list[Row]:
    rows = []
    nodes = api.nodes()
    for group, size in desired.items():
        ready = sum(1 for _, labels, is_ready in nodes if labels.get(NODEGROUP_LABEL) == group and is_ready)
        rows.append(Row("nodes", group, ready >= size, f"{ready}/{size} Ready"))
    not_ready = [n for n, _, is_ready in nodes if not is_ready]
    rows.append(Row("nodes", "all", not not_ready, "all Ready" if not not_ready else "not Ready: " + ", ".join(not_ready)))
    for w in api.workloads(PLATFORM_NAMESPACES):
        rows.append(Row(w.kind, f"{w.namespace}/{w.name}", w.ready >= w.desired, f"{w.ready}/{w.desired} available"))
    return rows


def alerting_rows(api: KubernetesApi, integrations: tuple[str, ...]) -> list[Row]:
    """Watchdog firing (Prometheus evaluates rules and reaches Alertmanager), and no failed notification of the
    configured `integrations` since Alertmanager started (`alertmanager_notifications_failed_total`)."""
    try:
        watchdog = json.loads(api.alertmanager('api/v2/alerts?filter=alertname%3D%22Watchdog%22'))
        metrics = api.alertmanager("metrics")
    except Exception as error:  # the port-forward's errors are the Kubernetes client's, whatever the cause
        return [Row("alerting", "Alertmanager", False, f"unreachable by port-forward: {error}")]
    rows = [Row("alerting", "Watchdog", bool(watchdog),
                "firing" if watchdog else "not firing: Prometheus does not evaluate rules or cannot reach Alertmanager")]
    failed: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name == "alertmanager_notifications_failed":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("integration") in integrations and sample.value:
                    key = f"{sample.labels['integration']}/{sample.labels.get('receiver_name', '?')}"
                    failed[key] = failed.get(key, 0) + sample.value
    for integration in integrations:
        bad = {key: count for key, count in failed.items() if key.startswith(f"{integration}/")}
        rows.append(Row("notifications", integration, not bad,
                        "none failed since Alertmanager started" if not bad else
                        "failed since Alertmanager started: " + ", ".join(f"{k} {int(v)}" for k, v in sorted(bad.items()))))
    return rows


def configured_integrations(settings: Settings) -> tuple[str, ...]:
    cfg = settings.config
    slack = cfg.slack_webhook_url is not None or any(t.alerts for t in cfg.teams.values())
    return (*(("slack",) if slack else ()), *(("webhook",) if cfg.alerting.heartbeat_url else ()))


def parse_duration(text: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m|h)", text)
    if not match:
        raise ValueError(f"--wait takes a duration like 30s, 10m or 1h, not {text!r}")
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def public_host(settings: Settings) -> str | None:
    """The edge's public name a client would use first: Grafana's when published, else the base domain."""
    dns = None if settings.is_local else settings.config.dns
    if dns is None:
        return None
    base = base_domain(dns)
    return grafana_host(base) if settings.config.grafana.allowed_cidrs else base


def probe_rows(probes: Probes) -> list[Row]:
    return [Row("probe", r.name, r.ok, r.detail, r.applicable) for r in probes.results()]


def validate(settings: Settings, session: boto3.session.Session | None, api_for: Callable[[dict | None], KubernetesApi],
             wait_seconds: int = 0, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic, interval: float = 15,
             probes_for: Callable[[KubernetesApi], Probes] | None = None) -> list[Row]:
    """The checks of the module docstring; `api_for` makes the Kubernetes API of the EKS cluster described (None:
    the stack's kubeconfig context)."""
    probes_for = probes_for or (lambda api: Probes(api, public_host(settings)))
    eks = None if settings.is_local else session.client("eks", region_name=settings.region)
    deadline = clock() + wait_seconds
    probes: Probes | None = None
    while True:
        if eks is None:
            rows, cluster, desired, reachable = [], None, {}, True
        else:
            rows, cluster, desired = aws_rows(settings, eks)
            reachable = cluster is not None and cluster["status"] == "ACTIVE"
        if reachable:
            api = api_for(cluster)
            rows += kubernetes_rows(api, desired)
            if settings.is_local or settings.config.in_cluster_layer:
                rows += alerting_rows(api, configured_integrations(settings))
                probes = probes or probes_for(api)
                rows += probe_rows(probes)
        if all(r.ok for r in rows) or clock() >= deadline:
            return rows
        sleep(interval)


def render(rows: list[Row]) -> str:
    width = max(len(f"{r.kind} {r.name}") for r in rows)
    lines = [f"{'N/A' if not r.applicable else 'OK' if r.ok else 'FAIL':<5}{(r.kind + ' ' + r.name):<{width + 2}}"
             f"{r.detail}" for r in rows]
    failed = sum(not r.ok for r in rows)
    skipped = sum(not r.applicable for r in rows)
    lines.append(f"cluster {'is' if not failed else 'is NOT'} ready: {len(rows) - failed - skipped} passed, "
                 f"{failed} failed" + (f", {skipped} not applicable" if skipped else ""))
    return "\n".join(lines)


def main(stack: str, wait: str | None, out: TextIO, err: TextIO, session: boto3.session.Session | None = None,
         api_for: Callable[[dict], KubernetesApi] | None = None,
         probes_for: Callable[[KubernetesApi], Probes] | None = None) -> int:
    try:
        settings = load_settings(stack)
        wait_seconds = parse_duration(wait) if wait else 0
    except (FileNotFoundError, StackFileError, ConfigError, ValueError) as error:
        print(f"error: {error}", file=err)
        return 2
    if api_for is None:
        api_for = (lambda _: ClusterApi(cluster_access.context_api_client(settings.config.kubeconfig.context))) \
            if settings.is_local \
            else (lambda cluster: ClusterApi(cluster_access.api_client(cluster, settings.region)))
    rows = validate(settings, None if settings.is_local else session or boto3.session.Session(), api_for,
                    wait_seconds, probes_for=probes_for)
    print(render(rows), file=out)
    return 0 if all(r.ok for r in rows) else 1

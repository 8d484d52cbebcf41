"""`ops validate` with moto's EKS (cluster, node groups) and a fake Kubernetes API.

moto does not implement the EKS add-on API, so its answers are injected into the real botocore client."""

from __future__ import annotations

import io

import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from ops import validate
from ops.probes import Probes
from ops.validate import Workload
from stacks.config import load
from tests.conftest import HEARTBEAT, SILENT_BY_CHOICE


class AddonSession(boto3.session.Session):
    def __init__(self, addons: dict[str, str]):
        super().__init__(region_name="us-east-1")
        self.addons = addons

    def client(self, service_name, **kwargs):
        client = super().client(service_name, **kwargs)
        if service_name == "eks":
            client.meta.events.register("before-call.eks.ListAddons", self._list)
            client.meta.events.register("before-call.eks.DescribeAddon", self._describe)
        return client

    def _list(self, **_):
        return AWSResponse("", 200, {}, None), {"addons": list(self.addons)}

    def _describe(self, params, **_):
        name = params["url_path"].rstrip("/").rsplit("/", 1)[1]
        return AWSResponse("", 200, {}, None), {"addon": {"addonName": name, "status": self.addons[name]}}


WATCHDOG = [{"labels": {"alertname": "Watchdog", "severity": "none"}, "status": {"state": "active"}}]


def notification_metrics(**failed: int) -> str:
    """Alertmanager 0.28's exposition of `alertmanager_notifications_failed_total` (integration, receiver, reason)."""
    lines = ["# HELP alertmanager_notifications_failed_total The total number of failed notifications.",
             "# TYPE alertmanager_notifications_failed_total counter"]
    for integration in ("email", "slack", "webhook"):
        for reason in ("clientError", "other", "serverError"):
            count = failed.get(integration, 0) if reason == "other" else 0
            lines.append(f'alertmanager_notifications_failed_total{{integration="{integration}",reason="{reason}",'
                         f'receiver_name="{integration}"}} {count}')
    return "\n".join(lines) + "\n"


def loki_answer(*lines: str) -> str:
    """Loki 3's `query_range` answer (a streams result) holding `lines`."""
    return json.dumps({"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"namespace": "probe"}, "values": [[str(1_700_000_000_000_000_000 + i), line]
                                                      for i, line in enumerate(lines)]}] if lines else []}})


class FakeKubernetes:
    """The Kubernetes API as `ops validate` uses it; the probe Job prints what a healthy cluster's would and
    Loki finds its line, unless a test says otherwise."""

    def __init__(self, nodes, workloads, watchdog=WATCHDOG, metrics=None, job=None, loki=None):
        self._nodes, self._workloads = nodes, workloads
        self._alertmanager = {"api/v2/alerts?filter=alertname%3D%22Watchdog%22": json.dumps(watchdog),
                              "metrics": metrics or notification_metrics()}
        self.calls = 0
        self.jobs: list[tuple[dict, dict]] = []
        self.loki_calls: list[tuple[str, str]] = []
        self._job, self._loki = job, loki

    def run_job(self, namespace, job, timeout_seconds):
        self.jobs.append((namespace, job))
        if self._job is not None:
            return self._job
        nonce = job["spec"]["template"]["spec"]["containers"][0]["command"][2].rsplit(" ", 1)[1]
        return "Succeeded", f"cluster-dns-ok\nexternal-dns-ok\neks-platform-probe {nonce}\n"

    def loki(self, path, tenant):
        self.loki_calls.append((path, tenant))
        if isinstance(self._loki, Exception):
            raise self._loki
        if self._loki is not None:
            return self._loki
        nonce = self.jobs[-1][0]["metadata"]["name"].rsplit("-", 1)[1]
        return loki_answer(f"eks-platform-probe {nonce}")

    def alertmanager(self, path):
        if isinstance(self._alertmanager, Exception):
            raise self._alertmanager
        return self._alertmanager[path]

    def nodes(self):
        self.calls += 1
        return self._nodes

    def workloads(self, namespaces):
        assert "monitoring" in namespaces and "kube-system" in namespaces and "default" not in namespaces
        return self._workloads


HEALTHY_ADDONS = {"coredns": "ACTIVE", "kube-proxy": "ACTIVE", "vpc-cni": "ACTIVE", "aws-ebs-csi-driver": "ACTIVE"}


@pytest.fixture
def cluster(aws):
    eks = boto3.client("eks", region_name="us-east-1")
    eks.create_cluster(name="acme-prod", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    for group, desired in (("general", 3), ("gpu", 0)):
        eks.create_nodegroup(clusterName="acme-prod", nodegroupName=group, subnets=["subnet-1"],
                             nodeRole="arn:aws:iam::123456789012:role/node",
                             scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": desired})


def settings():
    return load("prod", {"environment": "prod", "accountId": "123456789012", "clusterName": "acme-prod",
                         **SILENT_BY_CHOICE}, "us-east-1")


def node(name, group, ready=True):
    return name, {validate.NODEGROUP_LABEL: group}, ready


READY_NODES = [node(f"n{i}", "general") for i in range(3)]
READY_WORKLOADS = [Workload("Deployment", "monitoring", "grafana", 1, 1),
                   Workload("DaemonSet", "fluent-bit", "fluent-bit", 3, 3)]


def test_a_healthy_cluster_passes(cluster):
    rows = validate.validate(settings(), AddonSession(HEALTHY_ADDONS), lambda c: FakeKubernetes(READY_NODES, READY_WORKLOADS))
    assert all(r.ok for r in rows), validate.render(rows)
    kinds = [(r.kind, r.name) for r in rows]
    assert ("cluster", "acme-prod") in kinds and ("add-on", "coredns") in kinds
    assert ("node group", "general") in kinds and ("nodes", "general") in kinds
    assert ("DaemonSet", "fluent-bit/fluent-bit") in kinds
    assert next(r for r in rows if r.name == "general" and r.kind == "nodes").detail == "3/3 Ready"


def test_every_problem_shows_in_the_table(cluster):
    nodes = [node("n0", "general"), node("n1", "general", ready=False)]
    workloads = [Workload("StatefulSet", "logging", "loki-write", 3, 1)]
    rows = validate.validate(settings(), AddonSession({**HEALTHY_ADDONS, "coredns": "DEGRADED"}),
                             lambda c: FakeKubernetes(nodes, workloads))
    failed = {(r.kind, r.name): r.detail for r in rows if not r.ok}
    assert failed == {("add-on", "coredns"): "DEGRADED", ("nodes", "general"): "1/3 Ready",
                      ("nodes", "all"): "not Ready: n1", ("StatefulSet", "logging/loki-write"): "1/3 available"}
    table = validate.render(rows)
    assert "FAIL coredns" not in table and "FAIL add-on coredns" in table
    assert table.endswith("cluster is NOT ready: 10 passed, 4 failed, 1 not applicable")


def test_missing_cluster_fails_without_touching_kubernetes(cluster):
    other = load("dev", {"environment": "dev", "accountId": "123456789012", "clusterName": "nope"}, "us-east-1")
    api = FakeKubernetes([], [])
    rows = validate.validate(other, AddonSession({}), lambda c: api)
    assert [(r.kind, r.ok) for r in rows] == [("cluster", False)] and api.calls == 0


def test_wait_repeats_until_healthy(cluster):
    states = iter([[node("n0", "general")], READY_NODES])
    clock = iter(range(0, 1000, 15))
    api = FakeKubernetes(None, READY_WORKLOADS)
    api.nodes = lambda: next(states)
    slept = []
    rows = validate.validate(settings(), AddonSession(HEALTHY_ADDONS), lambda c: api, wait_seconds=600,
                             sleep=slept.append, clock=lambda: next(clock))
    assert all(r.ok for r in rows) and slept == [15]


def test_wait_gives_up_at_the_deadline(cluster):
    clock = iter([0, 0, 30, 61])
    slept = []
    rows = validate.validate(settings(), AddonSession({"coredns": "CREATING"}),
                             lambda c: FakeKubernetes(READY_NODES, []), wait_seconds=60,
                             sleep=slept.append, clock=lambda: next(clock))
    assert not all(r.ok for r in rows) and len(slept) == 2


def test_durations():
    assert [validate.parse_duration(d) for d in ("30s", "10m", "1h")] == [30, 600, 3600]
    with pytest.raises(ValueError):
        validate.parse_duration("ten minutes")


def offline_probes(days: float = 80, addresses=("203.0.113.10",)):
    """Probes whose DNS lookup and TLS handshake are answered here, not by the network."""
    def lookup(host):
        if not addresses:
            raise OSError("Name or service not known")
        return list(addresses)
    return lambda api, host="prod.example.com": Probes(api, host, tls_days=lambda h: days, lookup=lookup)


def test_command_reports_and_exits(cluster):
    out, err = io.StringIO(), io.StringIO()
    code = validate.main("prod", None, out, err, session=AddonSession(HEALTHY_ADDONS),
                         api_for=lambda c: FakeKubernetes(READY_NODES, READY_WORKLOADS), probes_for=offline_probes())
    assert code == 0 and "cluster is ready" in out.getvalue()
    assert validate.main("prod", "soon", out, err) == 2 and "--wait takes a duration" in err.getvalue()


def delivering():
    return load("prod", {"environment": "prod", "accountId": "123456789012", "clusterName": "acme-prod",
                         "slackWebhookUrl": "https://hooks.slack.com/services/T/B/C",
                         "alerting": {"slackChannel": "#alerts", "heartbeatUrl": HEARTBEAT}}, "us-east-1")


def test_alerting_is_alive_when_watchdog_fires_and_no_configured_notification_failed(cluster):
    rows = validate.validate(delivering(), AddonSession(HEALTHY_ADDONS),
                             lambda c: FakeKubernetes(READY_NODES, READY_WORKLOADS, metrics=notification_metrics(email=4)))
    alerting = {(r.kind, r.name): (r.ok, r.detail) for r in rows if r.kind in ("alerting", "notifications")}
    assert alerting == {("alerting", "Watchdog"): (True, "firing"),
                        ("notifications", "slack"): (True, "none failed since Alertmanager started"),
                        ("notifications", "webhook"): (True, "none failed since Alertmanager started")}


def test_a_silent_watchdog_and_failing_slack_fail_validation(cluster):
    rows = validate.validate(delivering(), AddonSession(HEALTHY_ADDONS), lambda c: FakeKubernetes(
        READY_NODES, READY_WORKLOADS, watchdog=[], metrics=notification_metrics(slack=3)))
    failed = {(r.kind, r.name): r.detail for r in rows if not r.ok}
    assert failed == {
        ("alerting", "Watchdog"): "not firing: Prometheus does not evaluate rules or cannot reach Alertmanager",
        ("notifications", "slack"): "failed since Alertmanager started: slack/slack 3"}


def test_an_unreachable_alertmanager_is_one_failed_row(cluster):
    api = FakeKubernetes(READY_NODES, READY_WORKLOADS)
    api._alertmanager = ConnectionError("503 Service Unavailable: no endpoints available for service")
    rows = validate.validate(delivering(), AddonSession(HEALTHY_ADDONS), lambda c: api)
    (row,) = [r for r in rows if not r.ok]
    assert (row.kind, row.name) == ("alerting", "Alertmanager") and "no endpoints available" in row.detail

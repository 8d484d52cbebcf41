"""`ops validate` with moto's EKS (cluster, node groups) and a fake Kubernetes API.

moto does not implement the EKS add-on API, so its answers are injected into the real botocore client."""

from __future__ import annotations

import io

import boto3
import pytest

from tests.conftest import SILENT_BY_CHOICE
from botocore.awsrequest import AWSResponse

from ops import validate
from ops.validate import Workload
from stacks.config import load


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


class FakeKubernetes:
    def __init__(self, nodes, workloads):
        self._nodes, self._workloads = nodes, workloads
        self.calls = 0

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
    assert table.endswith("cluster is NOT ready: 7 passed, 4 failed")


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


def test_command_reports_and_exits(cluster):
    out, err = io.StringIO(), io.StringIO()
    code = validate.main("prod", None, out, err, session=AddonSession(HEALTHY_ADDONS),
                         api_for=lambda c: FakeKubernetes(READY_NODES, READY_WORKLOADS))
    assert code == 0 and "cluster is ready" in out.getvalue()
    assert validate.main("prod", "soon", out, err) == 2 and "--wait takes a duration" in err.getvalue()

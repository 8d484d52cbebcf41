"""`ops upgrade-plan` against moto (the cluster and its node groups) with recorded EKS answers for what moto
lacks (upgrade insights, add-on versions, add-ons), injected into the real botocore client."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from ops import upgrade_plan

INSTALLED = {"vpc-cni": "v1.20.0-eksbuild.1", "kube-proxy": "v1.35.0-eksbuild.2", "coredns": "v1.12.4-eksbuild.1",
             "eks-pod-identity-agent": "v1.3.8-eksbuild.1", "aws-ebs-csi-driver": "v1.48.0-eksbuild.1",
             "snapshot-controller": "v8.3.0-eksbuild.1"}


class RecordedEks(boto3.session.Session):
    """A real session whose EKS client answers insights and add-on calls from recorded responses."""

    def __init__(self, insights=(), defaults=None):
        super().__init__(region_name="us-east-1")
        self.insights, self.defaults = list(insights), defaults or {}

    def client(self, service_name, **kwargs):
        client = super().client(service_name, **kwargs)
        if service_name == "eks":
            for operation, answer in (("ListInsights", self._insights), ("DescribeAddonVersions", self._versions),
                                      ("DescribeAddon", self._addon)):
                client.meta.events.register(f"before-call.eks.{operation}", answer)
        return client

    def _insights(self, params, **_):
        return AWSResponse("", 200, {}, None), {"insights": self.insights}

    def _versions(self, params, **_):
        addon, version = params["query_string"]["addonName"], params["query_string"]["kubernetesVersion"]
        wanted = self.defaults.get(addon, f"v-{addon}-for-{version}")
        return AWSResponse("", 200, {}, None), {"addons": [{"addonName": addon, "addonVersions": [
            {"addonVersion": "v-older", "compatibilities": [{"clusterVersion": version, "defaultVersion": False}]},
            {"addonVersion": wanted, "compatibilities": [{"clusterVersion": version, "defaultVersion": True}]}]}]}

    def _addon(self, params, **_):
        addon = params["url_path"].rsplit("/", 1)[-1]
        return AWSResponse("", 200, {}, None), {"addon": {"addonName": addon, "addonVersion": INSTALLED[addon]}}


def live_cluster(version: str, node_versions: dict[str, str]) -> None:
    iam, ec2, eks = boto3.client("iam"), boto3.client("ec2"), boto3.client("eks")
    role = iam.create_role(RoleName="eks", AssumeRolePolicyDocument=json.dumps({}))["Role"]["Arn"]
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.0.0/24")["Subnet"]["SubnetId"]
    eks.create_cluster(name="acme-dev", version=version, roleArn=role, resourcesVpcConfig={"subnetIds": [subnet]})
    for name, node_version in node_versions.items():
        eks.create_nodegroup(clusterName="acme-dev", nodegroupName=name, nodeRole=role, subnets=[subnet],
                             version=node_version)


def run(target: str, session) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = upgrade_plan.main("dev", target, out, err, session=session)
    return code, out.getvalue() + err.getvalue()


def test_the_plan_orders_control_plane_add_ons_node_groups_then_charts(aws):
    live_cluster("1.35", {"general": "1.35", "gpu": "1.35"})
    warning = {"name": "Deprecated APIs", "insightStatus": {"status": "WARNING", "reason": "flowcontrol v1beta3 used"}}
    code, out = run("1.36", RecordedEks(insights=[warning], defaults={"kube-proxy": "v1.36.0-eksbuild.1"}))
    assert code == 0 and out.rstrip().endswith("ready")
    steps = [line.strip() for line in out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.", "4.")]
    assert [s[0] for s in steps] == sorted(s[0] for s in steps)  # control plane, add-ons, node groups, charts
    assert steps[0].startswith("1. control plane 1.35 -> 1.36")
    assert "2. add-on kube-proxy: v1.35.0-eksbuild.2 -> v1.36.0-eksbuild.1" in steps
    assert [s for s in steps if s.startswith("2.")][0] == "2. add-on vpc-cni: v1.20.0-eksbuild.1 -> v-vpc-cni-for-1.36"
    assert "3. node group general 1.35 -> 1.36 (rolling, a third of the nodes at a time)" in steps
    assert "4. chart cluster-autoscaler: image tag follows the Kubernetes minor (v<minor>.0)" in steps
    assert "WARNING  EKS upgrade insight Deprecated APIs: flowcontrol v1beta3 used" in out


def test_an_error_insight_blocks_the_upgrade(aws):
    live_cluster("1.35", {"general": "1.35"})
    error = {"name": "Kubelet version skew", "insightStatus": {"status": "ERROR", "reason": "nodes too old"}}
    code, out = run("1.36", RecordedEks(insights=[error]))
    assert code == 1 and "BLOCKED  EKS upgrade insight Kubelet version skew: nodes too old" in out


@pytest.mark.parametrize("current, target, message", [
    ("1.34", "1.36", "skips a minor: upgrade one minor at a time (next: 1.35)"),
    ("1.35", "1.34", "EKS cannot go back"),
    ("1.35", "1.37", "not a version EKS offers"),
])
def test_skipping_or_going_back_is_refused(aws, current, target, message):
    live_cluster(current, {"general": current})
    code, out = run(target, RecordedEks())
    assert code == 1 and message in out


def test_a_node_group_trailing_too_far_blocks_the_control_plane(aws):
    live_cluster("1.35", {"general": "1.35", "old": "1.32"})
    code, out = run("1.36", RecordedEks())
    assert code == 1 and "node group old runs 1.32" in out and "more than 3 minors" in out

"""`python -m ops upgrade-plan --stack S --to 1.36`: the ordered, checked plan for one Kubernetes minor upgrade.

Reads the live cluster: its version (one minor at a time, never down), EKS upgrade insights (ERROR blocks,
WARNING is shown), the managed add-ons and the versions EKS lists as the default for the target, the node
groups (kubelet may trail the API server by at most three minors, and never lead it) and the charts whose
pinned settings follow the Kubernetes version. The order is the one `pulumi up` applies when
`kubernetesVersion` changes: control plane, then add-ons, then node groups, then charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

import boto3
from botocore.exceptions import ClientError

from ops.stackfiles import settings_or_report
from stacks import eks_versions

MANAGED_ADDONS = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver",
                  "snapshot-controller")
KUBELET_SKEW = 3  # minors a kubelet may trail the API server (Kubernetes version skew policy, 1.28+)
# Charts whose settings follow the Kubernetes minor, and the newest minor their pinned version supports.
CHART_COMPATIBILITY = {
    "cluster-autoscaler": ("image tag follows the Kubernetes minor (v<minor>.0)", "1.36"),
    "kube-prometheus-stack": ("no Kubernetes-specific setting", "1.36"),
    "ingress-nginx": ("no Kubernetes-specific setting", "1.36"),
}


def minor(version: str) -> int:
    return int(version.split(".")[1])


@dataclass
class Plan:
    current: str
    target: str
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)


def _default_addon_version(eks, addon: str, version: str) -> str | None:
    for entry in eks.describe_addon_versions(addonName=addon, kubernetesVersion=version)["addons"]:
        for candidate in entry["addonVersions"]:
            if any(c.get("defaultVersion") and c.get("clusterVersion") == version
                   for c in candidate.get("compatibilities", [])):
                return candidate["addonVersion"]
    return None


def build(eks, cluster: str, target: str) -> Plan:
    current = eks.describe_cluster(name=cluster)["cluster"]["version"]
    plan = Plan(current, target)
    if target not in eks_versions.VERSIONS:
        plan.blockers.append(f"{target} is not a version EKS offers ({', '.join(eks_versions.VERSIONS)})")
        return plan
    if minor(target) <= minor(current):
        plan.blockers.append(f"the cluster runs {current}: EKS cannot go back or stay ({target}); nothing to upgrade")
        return plan
    if minor(target) > minor(current) + 1:
        plan.blockers.append(f"{current} -> {target} skips a minor: upgrade one minor at a time "
                             f"(next: 1.{minor(current) + 1})")
        return plan

    for insight in eks.list_insights(clusterName=cluster, filter={"categories": ["UPGRADE_READINESS"],
                                                                 "kubernetesVersions": [target]})["insights"]:
        status = insight["insightStatus"]["status"]
        line = f"{insight['name']}: {insight['insightStatus'].get('reason', '')}".rstrip(": ")
        if status == "ERROR":
            plan.blockers.append(f"EKS upgrade insight {line}")
        elif status == "WARNING":
            plan.warnings.append(f"EKS upgrade insight {line}")

    plan.steps.append(f"1. control plane {current} -> {target} (the API stays available; EKS can roll the control "
                      f"plane back to {current} within 7 days)")
    for addon in MANAGED_ADDONS:
        try:
            installed = eks.describe_addon(clusterName=cluster, addonName=addon)["addon"]["addonVersion"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            installed = "not installed"
        wanted = _default_addon_version(eks, addon, target)
        if wanted is None:
            plan.blockers.append(f"EKS lists no default {addon} version for {target}")
            continue
        change = "unchanged" if wanted == installed else f"{installed} -> {wanted}"
        plan.steps.append(f"2. add-on {addon}: {change}")
    for name in eks.list_nodegroups(clusterName=cluster)["nodegroups"]:
        version = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]["version"]
        if minor(version) > minor(current):
            plan.blockers.append(f"node group {name} runs {version}, newer than the control plane {current}")
        elif minor(target) - minor(version) > KUBELET_SKEW:
            plan.blockers.append(f"node group {name} runs {version}: after the control plane moves to {target} its "
                                 f"kubelet would trail by more than {KUBELET_SKEW} minors; upgrade it first")
        plan.steps.append(f"3. node group {name} {version} -> {target} (rolling, a third of the nodes at a time)")
    for chart, (what, newest) in CHART_COMPATIBILITY.items():
        if minor(target) > minor(newest):
            plan.blockers.append(f"chart {chart}: the pinned version supports Kubernetes up to {newest}; bump it")
        else:
            plan.steps.append(f"4. chart {chart}: {what}")
    return plan


def render(plan: Plan) -> str:
    lines = [f"Upgrade plan {plan.current} -> {plan.target} (set eks-platform:kubernetesVersion: \"{plan.target}\" "
             "and run the deploy; pulumi up applies it in this order):", *[f"  {s}" for s in plan.steps]]
    lines += [f"WARNING  {w}" for w in plan.warnings]
    lines += [f"BLOCKED  {b}" for b in plan.blockers]
    lines.append("blocked" if plan.blockers else "ready")
    return "\n".join(lines)


def main(stack: str, target: str, out: TextIO, err: TextIO, session: boto3.session.Session | None = None) -> int:
    settings = settings_or_report(stack, err)
    if settings is None:
        return 2
    eks = (session or boto3.session.Session()).client("eks", region_name=settings.region)
    plan = build(eks, settings.cluster_name, target)
    print(render(plan), file=out)
    return 1 if plan.blockers else 0

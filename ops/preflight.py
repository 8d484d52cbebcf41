"""`python -m ops preflight --stack S`: before `pulumi up`, can this account and region take the stack?

Checks, with the caller's credentials: the account and region, the availability zones, every node
group's instance types offered in the zones the stack uses, the vCPU quotas (standard, G/VT and P;
on-demand and spot) against the groups' max sizes, the Elastic IP quota against the NAT gateways, and
the DNS zone. Every failing check is reported with what to do; the exit code is non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ops.stackfiles import load_settings
from stacks.config import NAMESPACE, Settings
from stacks.problems import ConfigError

# EC2 service-quota codes: (capacity, instance class) -> quota code.
VCPU_QUOTAS = {
    ("ON_DEMAND", "standard"): "L-1216C47A", ("ON_DEMAND", "g"): "L-DB2E81BA", ("ON_DEMAND", "p"): "L-417A185B",
    ("SPOT", "standard"): "L-34B43A08", ("SPOT", "g"): "L-3819A6DF", ("SPOT", "p"): "L-7212CCBC",
}
EIP_QUOTA = "L-0263D0A3"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def instance_class(instance_type: str) -> str:
    first = instance_type[0]
    if first == "p":
        return "p"
    if first == "g" or instance_type.startswith("vt"):
        return "g"
    return "standard"


def _quota(quotas, code: str) -> float | None:
    try:
        return quotas.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except (ClientError, BotoCoreError):
        return None


def _zones(ec2, count: int) -> list[str]:
    zones = ec2.describe_availability_zones(Filters=[
        {"Name": "state", "Values": ["available"]}, {"Name": "opt-in-status", "Values": ["opt-in-not-required"]},
    ])["AvailabilityZones"]
    return sorted(z["ZoneName"] for z in zones)[:count]


def run_checks(settings: Settings, session: boto3.session.Session) -> list[Check]:
    cfg, region = settings.config, settings.region
    ec2, sts = session.client("ec2", region_name=region), session.client("sts", region_name=region)
    quotas = session.client("service-quotas", region_name=region)
    checks: list[Check] = []

    account = sts.get_caller_identity()["Account"]
    expected = {arn.split(":")[4] for arn in cfg.admin_role_arns}
    checks.append(Check("account", not expected or account in expected, f"credentials are for account {account}",
                        f"use credentials for account {', '.join(sorted(expected))} (the admin roles' account)"))

    zones = _zones(ec2, cfg.network.availability_zones)
    checks.append(Check("availability zones", len(zones) == cfg.network.availability_zones,
                        f"{region} offers {len(zones)} of the {cfg.network.availability_zones} zones the stack needs",
                        f"lower {NAMESPACE}:network.availabilityZones or choose another region"))

    all_types = sorted({t for g in cfg.node_groups.values() for t in g.instance_types})
    offered = {(o["InstanceType"], o["Location"]) for o in ec2.describe_instance_type_offerings(
        LocationType="availability-zone",
        Filters=[{"Name": "instance-type", "Values": all_types}, {"Name": "location", "Values": zones}],
    )["InstanceTypeOfferings"]}
    for name, group in cfg.node_groups.items():
        missing = [f"{t} in {z}" for t in group.instance_types for z in zones if (t, z) not in offered]
        checks.append(Check(f"node group {name}: instance types", not missing,
                            "offered in every zone" if not missing else "not offered: " + ", ".join(missing),
                            f"pick instance types offered in {', '.join(zones)} ({NAMESPACE}:nodeGroups.{name}.instanceTypes)"))

    known = sorted({t for t, _ in offered})
    vcpus = {t["InstanceType"]: t["VCpuInfo"]["DefaultVCpus"]
             for t in (ec2.describe_instance_types(InstanceTypes=known)["InstanceTypes"] if known else [])}
    needed: dict[tuple[str, str], int] = {}
    for group in cfg.node_groups.values():
        key = (group.capacity_type, instance_class(group.instance_types[0]))
        needed[key] = needed.get(key, 0) + group.max_size * max(vcpus.get(t, 0) for t in group.instance_types)
    for (capacity, kind), count in sorted(needed.items()):
        limit = _quota(quotas, VCPU_QUOTAS[(capacity, kind)])
        label = f"vCPU quota {capacity.lower()} {kind}"
        if limit is None:
            checks.append(Check(label, False, f"quota {VCPU_QUOTAS[(capacity, kind)]} could not be read",
                                "allow servicequotas:GetServiceQuota to these credentials"))
        else:
            checks.append(Check(label, count <= limit, f"max sizes need {count} vCPUs, quota is {limit:g}",
                                f"request an increase of EC2 quota {VCPU_QUOTAS[(capacity, kind)]} in Service Quotas"))

    nats = 1 if cfg.network.nat_gateways == "single" else cfg.network.availability_zones
    in_use = len(ec2.describe_addresses()["Addresses"])
    limit = _quota(quotas, EIP_QUOTA)
    if limit is None:
        checks.append(Check("Elastic IP quota", False, f"quota {EIP_QUOTA} could not be read",
                            "allow servicequotas:GetServiceQuota to these credentials"))
    else:
        checks.append(Check("Elastic IP quota", in_use + nats <= limit,
                            f"{in_use} in use + {nats} for NAT gateways, quota is {limit:g}",
                            f"release unused Elastic IPs or request an increase of {EIP_QUOTA}"))

    if cfg.dns and not cfg.dns.create_zone:
        route53 = session.client("route53")
        zones_found = route53.list_hosted_zones_by_name(DNSName=cfg.dns.zone_name, MaxItems="1")["HostedZones"]
        exists = bool(zones_found) and zones_found[0]["Name"].rstrip(".") == cfg.dns.zone_name
        checks.append(Check("DNS zone", exists, f"hosted zone {cfg.dns.zone_name} {'found' if exists else 'not found'}",
                            f"create it, or set {NAMESPACE}:dns.createZone: true"))
    return checks


def render(checks: list[Check]) -> str:
    lines = []
    for check in checks:
        lines.append(f"{'PASS' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"      fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)


def main(stack: str, out: TextIO, err: TextIO, session: boto3.session.Session | None = None) -> int:
    try:
        settings = load_settings(stack)
    except (FileNotFoundError, ConfigError) as error:
        print(f"error: {error}", file=err)
        return 2
    checks = run_checks(settings, session or boto3.session.Session())
    print(render(checks), file=out)
    return 0 if all(c.ok for c in checks) else 1

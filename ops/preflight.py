"""`python -m ops preflight --stack S`: before `pulumi up`, can this account and region take the stack?

Checks, with the caller's credentials: the account and region, that the caller is not also given an
access entry (EKS makes the creator cluster admin and refuses a second entry for it), the availability
zones EKS supports (by zone ID), every node group's instance types offered in the zones the stack
uses, the vCPU quotas (standard, G/VT and P; on-demand and spot) against the groups' max sizes, the
Elastic IP quota against the NAT gateways the stack does not hold yet, and the DNS zone. Every failing check is reported with what to do; the exit code is non-zero.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TextIO

import boto3
import botocore.session
from botocore.exceptions import BotoCoreError, ClientError

from components.network import pick_zones, supported_zones
from ops.secrets_provider import current
from ops.stackfiles import STACKS_DIR, settings_or_report
from stacks import eks_versions, trust
from stacks.cloud import runner_project
from stacks.rules import access_principals
from stacks.config import NAMESPACE, Settings

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
    warn: bool = False


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


def _zones(ec2, count: int) -> tuple[list[str], str]:
    """The zones the stack will use (as the program picks them) and, when there are too few, why."""
    zones = sorted(ec2.describe_availability_zones(Filters=[
        {"Name": "state", "Values": ["available"]}, {"Name": "opt-in-status", "Values": ["opt-in-not-required"]},
    ])["AvailabilityZones"], key=lambda z: z["ZoneName"])
    names, ids = [z["ZoneName"] for z in zones], [z["ZoneId"] for z in zones]
    try:
        return pick_zones(names, ids, count), ""
    except ValueError as error:
        return supported_zones(names, ids), str(error)


def profile_hint(account: str) -> str:
    """Which AWS profile of this machine reaches `account` (SSO or an assumed role), or how to make one."""
    profiles = botocore.session.Session().full_config.get("profiles", {})  # the parsed ~/.aws/config
    matching = sorted(name for name, profile in profiles.items()
                      if profile.get("sso_account_id") == account or f":{account}:" in profile.get("role_arn", ""))
    if matching:
        return f"use a profile of account {account}: export AWS_PROFILE={matching[0]}" + (
            f" (also: {', '.join(matching[1:])})" if matching[1:] else "")
    return (f"no profile of this machine names account {account}: create one (`aws configure sso`, account "
            f"{account}), then export AWS_PROFILE=<it>")


def role_of(caller_arn: str) -> str:
    """The role name behind an assumed-role session ARN (`arn:aws:sts::A:assumed-role/NAME/SESSION`)."""
    resource = caller_arn.split(":", 5)[-1]
    return resource.split("/")[1] if resource.startswith("assumed-role/") else ""




def _version_step(eks, settings: Settings) -> Check:
    """The configured version against the live cluster's: never down, one minor at a time."""
    wanted = settings.config.kubernetes_version
    try:
        live = eks.describe_cluster(name=settings.cluster_name)["cluster"]["version"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        return Check("Kubernetes version step", True, f"new cluster at {wanted}")
    step = int(wanted.split(".")[1]) - int(live.split(".")[1])
    fix = f"set {NAMESPACE}:kubernetesVersion to {live} or 1.{int(live.split('.')[1]) + 1}; see `python -m ops upgrade-plan`"
    if step < 0:
        return Check("Kubernetes version step", False, f"the cluster runs {live}: EKS cannot downgrade to {wanted}", fix)
    if step > 1:
        return Check("Kubernetes version step", False, f"{live} -> {wanted} skips a minor", fix)
    return Check("Kubernetes version step", True, f"{live} -> {wanted}" if step else f"stays at {live}")


def _api_reach(settings: Settings) -> Check:
    """Can the deploy reach the API endpoint for the in-cluster layer: an in-VPC runner, or real egress ranges?"""
    cfg = settings.config
    if cfg.ci_runner:
        return Check("API endpoint reach", True, "the in-cluster layer deploys from the in-VPC runner "
                     f"{runner_project(settings.stack)}")
    cidrs = [ipaddress.ip_network(c) for c in cfg.endpoint.public_access_cidrs]
    reachable = [str(c) for c in cidrs if c.is_global]
    return Check("API endpoint reach", bool(reachable),
                 f"public endpoint open to {', '.join(reachable)}" if reachable else
                 "no CIDR here can reach the API: the endpoint is private" if not cidrs else
                 f"no CIDR here can reach the API: {', '.join(map(str, cidrs))} is not a routable egress range",
                 f"set {NAMESPACE}:ciRunner.githubRepo (deploy from a runner in the VPC), or list your deploy "
                 f"host's egress range in {NAMESPACE}:endpoint.publicAccessCidrs")


def run_checks(settings: Settings, session: boto3.session.Session, today: date | None = None) -> list[Check]:
    cfg, region = settings.config, settings.region
    ec2, sts = session.client("ec2", region_name=region), session.client("sts", region_name=region)
    quotas = session.client("service-quotas", region_name=region)
    checks: list[Check] = []

    identity = sts.get_caller_identity()
    account = identity["Account"]
    checks.append(Check("account", account == cfg.account_id,
                        f"credentials are for account {account}; the stack belongs to {cfg.account_id}",
                        profile_hint(cfg.account_id)))
    caller_role = role_of(identity["Arn"])
    listed = [arn for _, arn in access_principals(dict(settings.config))
              if caller_role and arn.split(":")[4] == account and arn.rsplit("/", 1)[1] == caller_role]
    checks.append(Check("deploying identity", not listed,
                        f"{identity['Arn']} is cluster admin as the cluster's creator"
                        + (f", and is also listed as {listed[0]}" if listed else ""),
                        "remove it from adminRoleArns, teams and previewRoleArn: EKS gives the creator an access "
                        "entry and refuses a second one (409 ResourceInUseException)"))

    checks.append(boundary_check(settings, session.client("iam", region_name=region)))
    checks.append(_api_reach(settings))
    checks.append(_version_step(session.client("eks", region_name=region), settings))
    notice = eks_versions.notice(cfg.kubernetes_version, today or date.today())
    checks.append(Check("Kubernetes version", True, notice or f"{cfg.kubernetes_version} is in EKS standard support",
                        warn=notice is not None))

    zones, too_few = _zones(ec2, cfg.network.availability_zones)
    checks.append(Check("availability zones", not too_few,
                        too_few or f"{', '.join(zones)} (zones EKS refuses skipped by zone ID)",
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
    addresses = ec2.describe_addresses()["Addresses"]
    held = sum(1 for a in addresses if {(t["Key"], t["Value"]) for t in a.get("Tags", [])}
               >= {("cluster", settings.cluster_name), ("stack", settings.stack)})
    nats, in_use = max(nats - held, 0), len(addresses)
    limit = _quota(quotas, EIP_QUOTA)
    if limit is None:
        checks.append(Check("Elastic IP quota", False, f"quota {EIP_QUOTA} could not be read",
                            "allow servicequotas:GetServiceQuota to these credentials"))
    else:
        checks.append(Check("Elastic IP quota", in_use + nats <= limit,
                            f"{in_use} in use ({held} already this stack's) + {nats} new for NAT gateways, "
                            f"quota is {limit:g}",
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
        lines.append(f"{'FAIL' if not check.ok else 'WARN' if check.warn else 'PASS'}  {check.name}: {check.detail}")
        if not check.ok:
            lines.append(f"      fix: {check.fix}")
    failed = sum(not c.ok for c in checks)
    lines.append(f"{len(checks) - failed} passed, {failed} failed")
    return "\n".join(lines)


def secrets_provider_check(stack: str, project_dir: Path = STACKS_DIR) -> Check:
    """CI cannot answer a passphrase prompt: the stack file must name a KMS secrets provider and its key; a key
    that is not the stack's own (`alias/eks-platform-secrets-<stack>`) is warned: other stacks may decrypt it."""
    found = current((project_dir / f"Pulumi.{stack}.yaml").read_text())
    provider = found.get("secretsprovider", "")
    ok = provider.startswith("awskms://") and bool(found.get("encryptedkey"))
    if ok and not provider.startswith(f"awskms://{trust.secrets_key_alias(stack)}?"):
        return Check("secrets provider", True, f"{provider} is not the stack's own key {trust.secrets_key_alias(stack)}: "
                     f"run `python -m ops bootstrap --stack {stack}`, which prints the commands that move the secrets",
                     warn=True)
    return Check("secrets provider", ok, provider or "none: Pulumi would ask for a passphrase",
                 f"run `python -m ops bootstrap --stack {stack}` and commit Pulumi.{stack}.yaml")


def boundary_check(settings: Settings, iam) -> Check:
    """Every role the stack creates carries the boundary: it must exist before the first `pulumi up`."""
    arn = settings.permissions_boundary_arn
    try:
        iam.get_policy(PolicyArn=arn)
    except ClientError as error:
        missing = error.response["Error"]["Code"] == "NoSuchEntity"
        return Check("permissions boundary", False, f"{arn} {'does not exist' if missing else 'could not be read'}",
                     f"run `python -m ops bootstrap --stack {settings.stack} --github-repo OWNER/REPO`, or set "
                     f"{NAMESPACE}:ci.permissionsBoundaryArn to your own" if missing else
                     "allow iam:GetPolicy to these credentials")
    return Check("permissions boundary", True, f"{arn}: on every role the stack creates")


def main(stack: str, out: TextIO, err: TextIO, session: boto3.session.Session | None = None) -> int:
    settings = settings_or_report(stack, err)
    if settings is None:
        return 2
    checks = [secrets_provider_check(stack), *run_checks(settings, session or boto3.session.Session())]
    print(render(checks), file=out)
    return 0 if all(c.ok for c in checks) else 1

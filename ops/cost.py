"""Monthly cost estimate of a stack from the dated price table `ops/prices.json`.

Counts what the stack runs: the EKS control plane (at the price of its Kubernetes version's support
phase on the day of the estimate: extended support costs six times standard), NAT gateways, the ingress
NLB, public IPv4 addresses (NAT Elastic IPs, one per zone for an internet-facing NLB), EC2 for each node
group at its min, desired and max sizes, priced from its cheapest to its dearest instance type (the
autoscaler may run any of them; spot or on-demand as the group asks), and gp3 volumes (node root disks,
Prometheus and Alertmanager). An unpriced region or instance type is said, and the total then says it is
incomplete: never a total that silently leaves something out. Traffic-priced items (data transfer, NAT
per-GB processing, load balancer capacity units), CloudWatch and S3 are not included: the report says so.

The table is refreshed offline from the AWS Price List bulk files: `python -m ops.prices` (see its docstring).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from components.monitoring import MonitoringArgs
from stacks import eks_versions
from stacks.config import Settings

PRICES = json.loads((Path(__file__).with_name("prices.json")).read_text())
REGION_PRICES = ("eksControlPlaneHour", "eksExtendedControlPlaneHour", "natGatewayHour", "natGatewayGB", "nlbHour",
                 "publicIpv4Hour", "ebsGp3GiBMonth", "instances")
SIZES = ("min", "desired", "max")


@dataclass(frozen=True)
class Line:
    """One item's monthly price at the group's min, desired and max sizes, cheapest to dearest."""

    item: str
    low: tuple[float, float, float]
    high: tuple[float, float, float]


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    estimated: list[str] = field(default_factory=list)  # prices scaled from another region until a refresh

    def fixed(self, item: str, monthly: float) -> None:
        self.lines.append(Line(item, (monthly,) * 3, (monthly,) * 3))

    def totals(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return (tuple(sum(line.low[i] for line in self.lines) for i in range(3)),
                tuple(sum(line.high[i] for line in self.lines) for i in range(3)))

    def line(self, item: str) -> Line:
        (found,) = [line for line in self.lines if line.item == item]
        return found


def estimate(settings: Settings, today: date | None = None) -> Estimate:
    result = Estimate()
    prices = PRICES["regions"].get(settings.region)
    if prices is None:
        result.unknown.append(f"region {settings.region} (priced: {', '.join(PRICES['regions'])})")
        return result
    hours, cfg, services = PRICES["hoursPerMonth"], settings.config, settings.profile.services
    gib = prices["ebsGp3GiBMonth"]
    version = cfg.kubernetes_version
    phase = eks_versions.phase(version, today or date.today())
    result.fixed(f"EKS control plane (Kubernetes {version}, {phase} support)",
                 prices["eksExtendedControlPlaneHour" if phase == "extended" else "eksControlPlaneHour"] * hours)
    nats = 1 if cfg.network.nat_gateways == "single" else cfg.network.availability_zones
    result.fixed(f"NAT gateways ({nats})", nats * prices["natGatewayHour"] * hours)
    public_nlb = cfg.in_cluster_layer and cfg.ingress.scheme == "internet-facing"
    if cfg.in_cluster_layer:
        result.fixed("ingress NLB", prices["nlbHour"] * hours)
    addresses = nats + (cfg.network.availability_zones if public_nlb else 0)
    result.fixed(f"public IPv4 addresses ({addresses})", addresses * prices["publicIpv4Hour"] * hours)
    for name, group in cfg.node_groups.items():
        unpriced = [t for t in group.instance_types if t not in prices["instances"]]
        result.unknown += [f"instance type {t} in {settings.region} (node group {name})" for t in unpriced]
        priced = [t for t in group.instance_types if t not in unpriced]
        result.estimated += [t for t in priced if t in prices.get("estimated", []) and t not in result.estimated]
        if not priced:
            continue
        kind = "spot" if group.capacity_type == "SPOT" else "onDemand"
        hourly = sorted((prices["instances"][t][kind], t) for t in priced)
        counts = (group.min_size, group.desired_size, group.max_size)
        types = hourly[0][1] if len(hourly) == 1 else f"{hourly[0][1]} to {hourly[-1][1]}"
        result.lines.append(Line(f"node group {name}: {types} {kind.replace('onDemand', 'on-demand')}",
                                 tuple(n * hourly[0][0] * hours for n in counts),
                                 tuple(n * hourly[-1][0] * hours for n in counts)))
        disks = tuple(n * group.disk_size_gib * gib for n in counts)
        result.lines.append(Line(f"node group {name}: root volumes {group.disk_size_gib} GiB", disks, disks))
    volumes = (cfg.monitoring.prometheus_storage_gib * services.prometheus_replicas
               + MonitoringArgs.alertmanager_storage_gib * services.alertmanager_replicas)
    result.fixed(f"monitoring volumes ({volumes} GiB)", volumes * gib)
    return result


def _money(low: float, high: float) -> str:
    return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f}-{high:.2f}"


def render(settings: Settings, result: Estimate) -> str:
    lines = [f"Monthly estimate for stack {settings.stack} ({settings.region}, prices of {PRICES['date']}, USD):"]
    if not result.lines:
        return "\n".join([*lines, *(f"  not priced: {u}" for u in result.unknown),
                          "  no estimate: refresh ops/prices.json for this region (python -m ops.prices)"])
    lines.append(f"  {'item':<58}" + "".join(f"{'at ' + size:>20}" for size in SIZES))
    for line in result.lines:
        lines.append(f"  {line.item:<58}" + "".join(f"{_money(line.low[i], line.high[i]):>20}" for i in range(3)))
    low, high = result.totals()
    label = "total, INCOMPLETE (see not priced)" if result.unknown else "total"
    lines.append(f"  {label:<58}" + "".join(f"{_money(low[i], high[i]):>20}" for i in range(3)))
    lines += [f"  not priced: {u}" for u in result.unknown]
    if result.estimated:
        lines.append(f"  estimated (scaled from us-east-1 until python -m ops.prices refreshes {settings.region}): "
                     + ", ".join(result.estimated))
    lines.append("  not included: data transfer, NAT gateway processing "
                 f"(${PRICES['regions'][settings.region]['natGatewayGB']}/GB), load balancer "
                 "capacity units, CloudWatch logs, S3 (Loki, Velero), EBS snapshots (backups), Loki and Grafana volumes, "
                 "CodeBuild runner minutes")
    return "\n".join(lines)

"""Monthly cost estimate of a stack from the dated price table `ops/prices.json`.

Counts what the stack runs: the EKS control plane (at the price of its Kubernetes version's support
phase on the day of the estimate: extended support costs six times standard), NAT gateways, the ingress
NLB, public IPv4 addresses (NAT Elastic IPs, one per zone for an internet-facing NLB), EC2 for each node
group at its min and desired sizes (on-demand or spot price of its first instance type), and gp3
volumes (node root disks, Prometheus and Alertmanager). An unknown region or instance type is said,
not guessed. Traffic-priced items (data transfer, NAT per-GB processing, load balancer capacity units),
CloudWatch and S3 are not included: the report says so.
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


@dataclass
class Estimate:
    lines: list[tuple[str, float, float]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def add(self, item: str, at_min: float, at_desired: float) -> None:
        self.lines.append((item, at_min, at_desired))

    @property
    def totals(self) -> tuple[float, float]:
        return sum(line[1] for line in self.lines), sum(line[2] for line in self.lines)


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
    control_plane = prices["eksExtendedControlPlaneHour" if phase == "extended" else "eksControlPlaneHour"] * hours
    result.add(f"EKS control plane (Kubernetes {version}, {phase} support)", control_plane, control_plane)
    nats = 1 if cfg.network.nat_gateways == "single" else cfg.network.availability_zones
    result.add(f"NAT gateways ({nats})", *[nats * prices["natGatewayHour"] * hours] * 2)
    public_nlb = cfg.in_cluster_layer and cfg.ingress.scheme == "internet-facing"
    if cfg.in_cluster_layer:
        result.add("ingress NLB", *[prices["nlbHour"] * hours] * 2)
    addresses = nats + (cfg.network.availability_zones if public_nlb else 0)
    result.add(f"public IPv4 addresses ({addresses})", *[addresses * prices["publicIpv4Hour"] * hours] * 2)
    for name, group in cfg.node_groups.items():
        instance = group.instance_types[0]
        price = prices["instances"].get(instance)
        if price is None:
            result.unknown.append(f"instance type {instance} (node group {name})")
            continue
        hourly = price["spot" if group.capacity_type == "SPOT" else "onDemand"]
        kind = group.capacity_type.lower().replace("_", "-")
        result.add(f"node group {name}: {instance} {kind} ({group.min_size}/{group.desired_size})",
                   group.min_size * hourly * hours, group.desired_size * hourly * hours)
        result.add(f"node group {name}: root volumes {group.disk_size_gib} GiB",
                   group.min_size * group.disk_size_gib * gib, group.desired_size * group.disk_size_gib * gib)
    volumes = (cfg.monitoring.prometheus_storage_gib * services.prometheus_replicas
               + MonitoringArgs.alertmanager_storage_gib * services.alertmanager_replicas)
    result.add(f"monitoring volumes ({volumes} GiB)", *[volumes * gib] * 2)
    return result


def render(settings: Settings, result: Estimate) -> str:
    lines = [f"Monthly estimate for stack {settings.stack} ({settings.region}, prices of {PRICES['date']}, USD):",
             f"  {'item':<60}{'at min':>10}{'at desired':>12}"]
    for item, at_min, at_desired in result.lines:
        lines.append(f"  {item:<60}{at_min:>10.2f}{at_desired:>12.2f}")
    at_min, at_desired = result.totals
    lines.append(f"  {'total':<60}{at_min:>10.2f}{at_desired:>12.2f}")
    lines += [f"  not priced: {u}" for u in result.unknown]
    lines.append("  not included: data transfer, NAT gateway processing "
                 f"(${PRICES['regions'].get(settings.region, {}).get('natGatewayGB', 0.045)}/GB), load balancer "
                 "capacity units, CloudWatch logs, S3 (Loki, Velero), EBS snapshots (backups), Loki and Grafana volumes, "
                 "CodeBuild runner minutes")
    return "\n".join(lines)

"""`python -m ops plan --stack S [--json FILE] [--diff PREVIOUS.json] [--cost]`: evaluate a stack offline and
print what `pulumi up` would build.

First the settings the stack resolved to (each marked `*` where the stack file set it, else the profile's),
then the resource tree, counts and outputs. `--json` saves the whole evaluation (settings, resources with
their inputs, outputs; secrets replaced by `[secret]`), `--diff` prints what was added, removed and changed
since such a saved plan.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from pulumi.runtime import rpc

from ops.engine import Evaluation, evaluate
from ops.stackfiles import STACKS_DIR, StackFileError, account_sharing_warnings, read_stack_config
from stacks.local import DISTRIBUTIONS, NOT_RUN, node_network
from stacks.rules import capacity_warnings, delivery_warnings, naming_warnings


def default_warnings(config: Any, raw: dict[str, Any]) -> list[str]:
    """Defaults a reviewer would question: a dev GPU group on on-demand capacity it did not ask for."""
    return [f"nodeGroups.{name}: a GPU group on ON_DEMAND capacity, the {config.environment} default; set "
            "capacityType: SPOT to pay a third" for name, group in config.node_groups.items()
            if group.gpu and config.environment == "dev" and group.capacity_type == "ON_DEMAND"
            and not _set_in(raw, f"nodeGroups.{name}.capacityType")]

HEADER = ("OFFLINE EVALUATION on Pulumi's mock engine, not a `pulumi preview`: it shows what the program "
          "registers; values AWS computes are placeholders.")
# Outputs whose values AWS decides (IDs, ARNs, endpoints, names with the account): shown as placeholders.
PLACEHOLDER_OUTPUTS = {"clusterEndpoint", "kubeconfig", "oidcProviderArn", "vpcId", "publicSubnetIds",
                       "privateSubnetIds", "nodeGroupNames", "lokiBucket", "backupBucket", "nameServers"}
# Outputs the program derives from the configuration alone: what `pulumi up` will export.
CONFIGURED_OUTPUTS = {"clusterName", "grafanaAdminPassword", "alertDelivery", "baseDomain", "grafanaUrl", "ciRunner", "ciPreviewRunner",
                      "edge"}


FROM_FILE = "*"


def _set_in(raw: dict[str, Any], path: str) -> bool:
    """Whether the stack file sets the dotted `path` (below the `eks-platform:` key)."""
    head, *rest = path.split(".")
    node: Any = raw.get(f"eks-platform:{head}")
    for step in rest:
        if not isinstance(node, dict) or step not in node:
            return False
        node = node[step]
    return node is not None


def summary(evaluation: Evaluation, raw: dict[str, Any]) -> list[str]:
    """The resolved settings a reviewer asks about, `*` marking what the stack file set."""
    settings = evaluation.settings
    cfg, services = settings.config, settings.profile.services

    def mark(*paths: str) -> str:
        return FROM_FILE if any(_set_in(raw, p) for p in paths) else " "

    lines = [f"Resolved configuration ({FROM_FILE} = set in the stack file, else the {cfg.environment} profile's):"]
    if settings.is_local:
        lines += _local_summary(cfg, mark)
    else:
        lines += _eks_summary(settings, mark)
    published = ("published to " + ",".join(cfg.grafana.allowed_cidrs) if cfg.grafana.allowed_cidrs else "private") \
        if not settings.is_local else f"at {evaluation.outputs.get('grafanaUrl')}"
    storage = "on its volume" if settings.is_local else "in S3"
    lines += [
        f" {mark('monitoring')} Prometheus x{services.prometheus_replicas}, {cfg.monitoring.prometheus_retention}, "
        f"{cfg.monitoring.prometheus_storage_gib} GiB; Alertmanager x{services.alertmanager_replicas}; Grafana {published}",
        f" {mark('logging')} Loki {services.loki_mode} x{services.loki_replicas} {storage}, "
        f"{cfg.logging.retention_days} days" + ("" if settings.is_local else
                                               f"; backups {cfg.backup.schedule}, {cfg.backup.retention_days} days"),
        f" {mark('ingress')} edge {cfg.ingress.controller}"
        + (f" x{services.ingress_replicas}" if settings.is_local else
           f" ({cfg.ingress.scheme}) x{services.ingress_replicas}; DNS {'below ' + cfg.dns.zone_name if cfg.dns else 'none'}"),
        f" {mark('alerting', 'slackWebhookUrl')} alerts: {evaluation.outputs.get('alertDelivery')}"
        f"{', heartbeat' if cfg.alerting.heartbeat_url else ', no heartbeat'}",
    ]
    for team, config in cfg.teams.items():
        quota = ", ".join(f"{k} {v}" for k, v in config.quota.model_dump(by_alias=True).items() if v is not None)
        lines.append(f" {FROM_FILE} team {team}: {', '.join(config.namespaces)}; quota {quota} (split across its "
                     "namespaces)")
    for release in cfg.releases:
        lines.append(f" {FROM_FILE} release {release}: values laid over the platform's")
    return lines


def _eks_summary(settings: Any, mark: Any) -> list[str]:
    cfg = settings.config
    lines = [f" {mark('environment')} environment {cfg.environment}, region {settings.region}, account "
             f"{settings.account_id}, cluster {cfg.cluster_name}, Kubernetes {cfg.kubernetes_version}"
             f"{mark('kubernetesVersion').strip()}",
             f" {mark('network')} network {cfg.network.cidr}, {cfg.network.availability_zones} zones, NAT "
             f"{cfg.network.nat_gateways}"]
    for name, group in cfg.node_groups.items():
        base = f"nodeGroups.{name}"
        taints = ",".join(f"{t.key}={t.value}:{t.effect}" for t in group.taints) or "none"
        labels = ",".join(f"{k}={v}" for k, v in group.labels.items()) or "none"
        lines.append(f" {mark(base)} node group {name}: {'/'.join(group.instance_types)}{mark(base + '.instanceTypes').strip()}"
                     f" {group.capacity_type}{mark(base + '.capacityType').strip()}"
                     f" min/desired/max {group.min_size}/{group.desired_size}/{group.max_size}"
                     f" disk {group.disk_size_gib} GiB{mark(base + '.diskSizeGiB').strip()}"
                     f"{' GPU (tainted nvidia.com/gpu)' if group.gpu else ''} labels {labels} taints {taints}")
    return lines


def _local_summary(cfg: Any, mark: Any) -> list[str]:
    kubeconfig = cfg.kubeconfig
    distribution = DISTRIBUTIONS[kubeconfig.distribution]
    return [f" {mark('target', 'kubeconfig')} target kubeconfig: context {kubeconfig.context}, "
            f"{kubeconfig.distribution}{mark('kubeconfig.distribution').strip()}; no AWS provider or resource",
            f" {mark('kubeconfig')} storage class {distribution.storage_class}; edge reached through "
            f"{distribution.reach}; node network {node_network(kubeconfig.distribution, kubeconfig.node_cidr)}",
            f"   not run here: {'; '.join(NOT_RUN)}"]


def render(evaluation: Evaluation, raw: dict[str, Any] | None = None) -> str:
    by_parent: dict[str, list] = {}
    for registration in evaluation.registrations:
        by_parent.setdefault(registration.parent, []).append(registration)
    lines = [HEADER, *(summary(evaluation, raw) if raw is not None else []), "",
             f"Stack {evaluation.stack}: {len(evaluation.registrations)} resources registered by the program",
             "(pulumi-eks components create more inside them than shown: security groups, IAM roles and "
             "policies, add-ons, launch settings)", ""]

    def walk(parent: str, depth: int) -> None:
        for r in sorted(by_parent.get(parent, []), key=lambda r: (r.type, r.name)):
            flags = "".join(f" [{f}]" for f, on in (("protected", r.protect), ("retained", r.retain_on_delete)) if on)
            lines.append(f"{'  ' * depth}{r.type}  {r.name}{flags}")
            walk(r.urn, depth + 1)

    known = {r.urn for r in evaluation.registrations}
    for root in sorted({r.parent for r in evaluation.registrations if r.parent not in known}):
        walk(root, 0)
    lines += ["", "Resource counts:"]
    for type_, count in sorted(Counter(r.type for r in evaluation.registrations).items()):
        lines.append(f"  {count:4d}  {type_}")
    lines += ["", "Outputs:"]
    for key, value in evaluation.outputs.items():
        shown = "[secret]" if key in evaluation.secret_outputs else json.dumps(value)
        mark = "  (placeholder)" if key in PLACEHOLDER_OUTPUTS else ""
        lines.append(f"  {key}: {shown}{mark}")
    return "\n".join(lines)


def _public(value: Any) -> Any:
    """`value` with each secret replaced by `[secret]`."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return "[secret]"
        return {k: _public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def as_json(evaluation: Evaluation) -> dict[str, Any]:
    return {
        "stack": evaluation.stack,
        "settings": json.loads(evaluation.settings.config.model_dump_json(by_alias=True)),
        "resources": [{"type": r.type, "name": r.name, "parent": r.parent, "protect": r.protect,
                       "inputs": _public(r.inputs)} for r in evaluation.registrations],
        "outputs": {k: "[secret]" if k in evaluation.secret_outputs else _public(v)
                    for k, v in evaluation.outputs.items()},
    }


def diff(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What was added, removed and changed (by resource type and name, then input) since `previous`."""
    def by_key(plan: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["type"], r["name"]): r for r in plan["resources"]}
    before, after = by_key(previous), by_key(current)
    lines = [f"+ {t}  {n}" for t, n in sorted(after.keys() - before.keys())]
    lines += [f"- {t}  {n}" for t, n in sorted(before.keys() - after.keys())]
    for key in sorted(after.keys() & before.keys()):
        old, new = before[key]["inputs"], after[key]["inputs"]
        changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        if changed or before[key]["protect"] != after[key]["protect"]:
            lines.append(f"~ {key[0]}  {key[1]}: {', '.join(changed or ['protect'])}")
    return lines or ["no change since the saved plan"]


def main(stack: str, out: TextIO, err: TextIO, project_dir: Path = STACKS_DIR, cost: bool = False,
         json_file: Path | None = None, previous: Path | None = None) -> int:
    try:
        raw = read_stack_config(stack, project_dir)
        before = json.loads(previous.read_text()) if previous else None
        evaluation = evaluate(stack, raw)
    except (FileNotFoundError, StackFileError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=err)
        return 2
    if evaluation.error:
        print(f"error: {evaluation.error}", file=err)
        return 1
    print(render(evaluation, raw), file=out)
    if json_file:
        json_file.write_text(json.dumps(as_json(evaluation), indent=1, sort_keys=True, default=str))
    if before is not None:
        print("", file=out)
        print(f"Since {previous}:", file=out)
        print("\n".join(f"  {line}" for line in diff(before, as_json(evaluation))), file=out)
    settings = evaluation.settings
    warnings = naming_warnings(settings.stack, settings.config.environment)
    if not settings.is_local:
        warnings = [*account_sharing_warnings(settings, project_dir), *capacity_warnings(settings.config),
                    *delivery_warnings(settings.config), *warnings, *default_warnings(settings.config, raw)]
    for warning in warnings:
        print(f"warning: {warning}", file=err)
    if cost and settings.is_local:
        print("\nCost: none on AWS (a cluster of your own)", file=out)
    elif cost:
        from ops import cost as costs

        print("", file=out)
        print(costs.render(evaluation.settings, costs.estimate(evaluation.settings)), file=out)
    return 0

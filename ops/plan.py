"""`python -m ops plan <stack>`: evaluate a stack offline and print what `pulumi up` would build."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TextIO

from ops.engine import Evaluation, evaluate
from ops.stackfiles import STACKS_DIR, StackFileError, account_sharing_warnings, read_stack_config
from stacks.rules import capacity_warnings, delivery_warnings, naming_warnings

HEADER = ("OFFLINE EVALUATION on Pulumi's mock engine, not a `pulumi preview`: it shows what the program "
          "registers; values AWS computes are placeholders.")
# Outputs whose values AWS decides (IDs, ARNs, endpoints, names with the account): shown as placeholders.
PLACEHOLDER_OUTPUTS = {"clusterEndpoint", "kubeconfig", "oidcProviderArn", "vpcId", "publicSubnetIds",
                       "privateSubnetIds", "nodeGroupNames", "lokiBucket", "backupBucket", "nameServers"}
# Outputs the program derives from the configuration alone: what `pulumi up` will export.
CONFIGURED_OUTPUTS = {"clusterName", "grafanaAdminPassword", "alertDelivery", "baseDomain", "grafanaUrl", "ciRunner", "ciPreviewRunner",
                      "edge"}


def render(evaluation: Evaluation) -> str:
    by_parent: dict[str, list] = {}
    for registration in evaluation.registrations:
        by_parent.setdefault(registration.parent, []).append(registration)
    lines = [HEADER, f"Stack {evaluation.stack}: {len(evaluation.registrations)} resources registered by the program",
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


def main(stack: str, out: TextIO, err: TextIO, project_dir: Path = STACKS_DIR, cost: bool = False) -> int:
    try:
        evaluation = evaluate(stack, read_stack_config(stack, project_dir))
    except (FileNotFoundError, StackFileError) as error:
        print(f"error: {error}", file=err)
        return 2
    if evaluation.error:
        print(f"error: {evaluation.error}", file=err)
        return 1
    print(render(evaluation), file=out)
    for warning in [*account_sharing_warnings(evaluation.settings, project_dir),
                    *capacity_warnings(evaluation.settings.config), *delivery_warnings(evaluation.settings.config),
                    *naming_warnings(evaluation.settings.stack, evaluation.settings.config.environment)]:
        print(f"warning: {warning}", file=err)
    if cost:
        from ops import cost as costs

        print("", file=out)
        print(costs.render(evaluation.settings, costs.estimate(evaluation.settings)), file=out)
    return 0

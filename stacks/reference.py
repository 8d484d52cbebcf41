"""What each configuration key means and allows: the hand-written half of docs/configuration.md, whose other
half (the keys and each environment's defaults) comes from the schema and the profiles (`stacks.reference`)."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from stacks.config import merge_with_profile
from stacks.profiles import PROFILES
from stacks.schema import EKS_ONLY, KUBECONFIG_ONLY, LocalConfig, PlatformConfig

ALLOWED = {
    'aws:region': 'an AWS region',
    'eks-platform:environment': "`dev`, `staging`, `prod` on EKS, `local` with `target: kubeconfig`: decides the profile, and what the gate and the policy pack protect (never the stack's name)",
    'eks-platform:target': "`eks` (the stack creates an EKS cluster), `kubeconfig` (the in-cluster layer on a cluster of your own: kind, k3s, minikube; no AWS at all). A key the target does not use is an error naming why",
    'eks-platform:kubeconfig.context': 'required with `target: kubeconfig`: a context of your kubeconfig (`kubectl config get-contexts -o name`), e.g. `kind-eks-platform`',
    'eks-platform:kubeconfig.distribution': '`kind`, `k3s`, `minikube`: decides the storage class (`standard`, `local-path`), the edge (host ports 80/443 on the `ingress-ready=true` node, k3s\'s ServiceLB, NodePorts 30080/30443) and the API server\'s port (6443; minikube 8443)',
    'eks-platform:kubeconfig.nodeCidr': "the private network of the cluster's nodes (where the API server calls webhooks from), apart from the pods' (kind and minikube `10.244.0.0/16`, k3s `10.42.0.0/16`): kind `172.16.0.0/12` (Docker's pools), minikube `192.168.49.0/24`; required for k3s",
    'eks-platform:accountId': 'the 12-digit AWS account of the stack, quoted (`"012345678901"`: YAML drops leading zeros); the provider refuses credentials of any other account',
    'eks-platform:clusterName': '2-40 lowercase letters, digits, `-`',
    'eks-platform:kubernetesVersion': 'a version of `stacks/eks_versions.py` whose EKS support has not ended: `1.35`, `1.36` in standard support; `1.32`-`1.34` in extended support (warned: six times the control-plane price)',
    'eks-platform:network.cidr': 'RFC 1918, /16 to /20',
    'eks-platform:network.availabilityZones': '2..6, and no more than the region has for EKS (`stacks/regions.py`; e.g. us-west-1: 2)',
    'eks-platform:network.natGateways': '`single`, `perAz` (prod: `perAz` only)',
    'eks-platform:endpoint.publicAccessCidrs': 'public CIDRs written canonically (`0.0.0.0/0`, not `0.0.0.0/00`); private and reserved ranges refused (EKS does); in staging and prod no set that together covers the internet (`0.0.0.0/1` + `128.0.0.0/1` too)',
    'eks-platform:adminRoleArns': "IAM role ARNs, granted cluster admin by access entry; never the deploy role (it is admin as the cluster's creator), never a principal listed twice",
    'eks-platform:previewRoleArn': 'the CI preview role: read-only access entry (docs/security.md); a role of `accountId`; in prod the approved preview role `eks-platform-preview-<stack>`, never the automatic one',
    'eks-platform:ci.permissionsBoundaryArn': "an IAM policy ARN of the stack's account: the boundary of the deploy role and of every role the stack creates",
    'eks-platform:ciRunner.githubRepo': "`OWNER/REPO`: creates the stack's in-VPC CI runner (docs/security.md)",
    'eks-platform:inClusterLayer': "`false` only for a new stack's first deploy and a teardown (no namespaces, releases, policies)",
    'eks-platform:nodeGroups': 'map name → group; at least one non-GPU group',
    'eks-platform:tags': "at most 43 tags (AWS allows 50 per resource; the platform adds up to 7): keys 1-128 and values ≤ 256 letters, digits, spaces and `_ . : / = + - @`; no `aws:` prefix; not `platform`, `environment`, `stack`, `cluster` (the platform's own) and no two keys differing only in case",
    'eks-platform:ingress.scheme': '`internet-facing`, `internal`',
    'eks-platform:ingress.controller': '`nginx` (ingress-nginx, retired upstream), `gateway` (Envoy Gateway, recommended)',
    'eks-platform:ingress.alerts': '`{min5xxRequestsPerSecond, minLatencyRequestsPerSecond}`: the least traffic (requests per second over 5 minutes, per Ingress or route) at which `IngressHigh5xxRatio` and `IngressHighP99Latency` may fire, so one failed or slow request is not a 100 % ratio',
    'eks-platform:ingress.acceptRetiredController': "`true` to run ingress-nginx in prod anyway (a recorded decision: the release's description says so, and the policy pack's mandatory `retired-ingress-controller` accepts it)",
    'eks-platform:monitoring.prometheusRetention': 'a duration like `15d` (h, d, w, y), at most 10 years',
    'eks-platform:monitoring.prometheusStorageGiB': '5..16384',
    'eks-platform:grafana.allowedCidrs': 'CIDRs that may reach `https://grafana.<base>` (needs `dns`)',
    'eks-platform:logging.retentionDays': '1..3650 (Loki compactor and bucket expiry)',
    'eks-platform:backup.schedule': 'a quoted five-field cron schedule, at most hourly (one number in the minute field), one that runs',
    'eks-platform:backup.retentionDays': "1..3650, longer than the schedule's longest gap between two backups (else some days have none)",
    'eks-platform:alerting.slackChannel': 'a Slack channel, quoted (`"#alerts"`: unquoted, YAML reads it as a comment)',
    'eks-platform:grafanaAdminPassword': 'secret, ≥ 12 characters: `pulumi config set --secret grafanaAdminPassword ...`',
    'eks-platform:alerting.heartbeatUrl': "secret https URL of a dead-man's switch (e.g. a heartbeat check): `pulumi config set --secret --path eks-platform:alerting.heartbeatUrl ...`; pinged every minute by the always-firing Watchdog alert",
    'eks-platform:slackWebhookUrl': 'secret https URL: `pulumi config set --secret eks-platform:slackWebhookUrl ...`',
    'eks-platform:alerting.delivery': '`slack`; `none` decides that nobody is told. Prod needs `slackWebhookUrl` and `alerting.heartbeatUrl` unless `none` (an error otherwise), staging warns',
    'eks-platform:teams': "map team → `{namespaces, roleArns, quota: {cpu, memory, pods, storage, persistentVolumeClaims, ephemeralStorage, gpus, services, configMaps, secrets}, serviceAccounts: {name: {namespace, policyArns}}, alerts: {slackChannel, slackWebhookUrl}, hosts, allowLoadBalancers, podSecurity, egress: {namespaces, internet}, edgePorts}`: `hosts` are exact names below the base domain the team serves besides `<team>.<base>` and below (one team each, never `grafana.<base>` or the apex, needs `dns`); `allowLoadBalancers` (default `false`) lets it have LoadBalancer and NodePort Services; `podSecurity` `restricted` (default) or `baseline`; `edgePorts` (numbers or container port names) the only ports of the team's pods the edge may reach (default: any); `egress.internet: false` cuts the team's internet egress, `egress.namespaces` the team or platform namespaces its pods may call; `policyArns` never `AdministratorAccess`, `PowerUserAccess` or `IAMFullAccess`",
    'eks-platform:releases': "map release → `{values}`: chart values laid over the platform's for that release (docs/escape-hatches.md)",
    'eks-platform:upgradePolicy': '`STANDARD`; `EXTENDED` keeps a version in extended support (about six times the control-plane price) instead of EKS upgrading the cluster itself',
    'eks-platform:dns.zoneName': 'the Route 53 hosted zone, e.g. `example.com` (an existing one unless `createZone`)',
    'eks-platform:dns.createZone': '`true` creates the zone (its name servers are the `nameServers` output)',
    'eks-platform:dns.subdomain': "the stack's part of the zone: base domain `<subdomain>.<zoneName>`, at most 64 characters (ACM)",
    'eks-platform:tenancy.admission': '`enforce`; `warn` (dev only) turns the tenant admission policies into warnings and audit events while teams adapt',
}

REQUIRED = ("eks-platform:environment", "eks-platform:accountId", "aws:region")
REQUIRED_LOCALLY = ("eks-platform:environment", "eks-platform:target", "eks-platform:kubeconfig.context")
ENVIRONMENTS = ("dev", "staging", "prod", "local")
INTRO = """# Configuration reference

Generated from the schema (`stacks/schema.py`), the environment profiles (`stacks/profiles.py`) and the
descriptions in `stacks/reference.py` by `python -m stacks.reference`; a test fails when this page and
those sources differ. A stack file holds only what differs from its environment's profile: the defaults
below are what a key is when the stack file does not set it.

| key | dev | staging | prod | local | allowed |
| --- | --- | --- | --- | --- | --- |
"""


def documented_keys() -> list[str]:
    """`eks-platform:<key>` for each top-level key, and `<block>.<key>` for each key of a block (not of a map)."""
    keys = ["aws:region"]
    fields = {**PlatformConfig.model_fields, **LocalConfig.model_fields}
    for name, field in fields.items():
        alias = field.alias or name
        blocks = [a for a in (typing.get_args(field.annotation) or (field.annotation,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if blocks and typing.get_origin(field.annotation) is not dict:
            keys += [f"eks-platform:{alias}.{f.alias or sub}" for sub, f in blocks[0].model_fields.items()]
        else:
            keys.append(f"eks-platform:{alias}")
    return keys


def description(key: str) -> str | None:
    return ALLOWED.get(key) or ALLOWED.get(key.split(".")[0])


def _defaults(environment: str) -> dict[str, Any]:
    merged = merge_with_profile({"environment": environment}, PROFILES[environment], "stack")
    if environment == "local":
        found = LocalConfig.model_validate({**merged, "target": "kubeconfig", "kubeconfig": {"context": "x"}})
    else:
        found = PlatformConfig.model_validate({**merged, "accountId": "000000000000"})
    return {**found.model_dump(by_alias=True, mode="json"), "clusterName": "eks-platform-<stack>"}


def _not_here(key: str, environment: str) -> bool:
    name = key.split(":", 1)[1]
    if environment == "local":
        return key == "aws:region" or any(name == k or name.startswith(f"{k}.") for k in EKS_ONLY)
    return any(name == k or name.startswith(f"{k}.") for k in KUBECONFIG_ONLY)


def _shown(key: str, defaults: dict[str, Any], environment: str) -> str:
    if _not_here(key, environment):
        return "EKS only" if environment == "local" else "local only"
    if key in (REQUIRED_LOCALLY if environment == "local" else REQUIRED):
        return "required"
    node: Any = defaults
    for step in key.split(":", 1)[1].split("."):
        node = node.get(step) if isinstance(node, dict) else None
    if node in (None, {}, []):
        return "none" if node is None else f"`{json.dumps(node)}`"
    text = json.dumps(node, separators=(", ", ": "))
    return f"`{text}`" if len(text) <= 80 else "see the profile"


def render() -> str:
    defaults = {env: _defaults(env) for env in ENVIRONMENTS}
    rows = []
    for key in documented_keys():
        shown = [_shown(key, defaults[env], env) for env in defaults]
        rows.append(f"| `{key}` | {' | '.join(shown)} | {description(key) or ''} |")
    return INTRO + "\n".join(rows) + "\n" + NOTES


NOTES = """
A node group: `instanceTypes` (one CPU architecture: Graviton `*g*` families and `a1` are ARM and pick the ARM
AMI), `capacityType` (`ON_DEMAND`/`SPOT`), `minSize`, `maxSize`, `desiredSize` (initial only: the autoscaler owns
it afterwards), `diskSizeGiB` (≥ 20; 100 for GPU groups), `labels`, `taints` (`[{key, value, effect:
NoSchedule|PreferNoSchedule|NoExecute}]`), `gpu: true` (NVIDIA families only: adds label
`nvidia.com/gpu.present=true` and taint `nvidia.com/gpu=true:NoSchedule`), `perZone: true` (one managed node group
per zone, named `<group>-<zone index>`, each sized by `minSize`/`maxSize`/`desiredSize`: the autoscaler can then add
a node in the zone of a pending pod's EBS volume, and balances the groups). A group named like a profile group
(`general`) is merged over it; new groups start from the group defaults. Label and taint keys may not use the
`kubernetes.io/` or `k8s.io/` prefixes (EKS refuses them) and must fit the autoscaler's 128-character tag
`k8s.io/cluster-autoscaler/node-template/label/<key>`; at least one non-GPU group must be free of
`NoSchedule`/`NoExecute` taints, or the platform's services have nowhere to run.

**The rules of every key.** Types are strict, as the stack file is read by the Pulumi CLI (YAML 1.2): a number
is unquoted and whole (`minSize: 3`, not `"3"` or `3.0`), a boolean is `true` or `false` (`yes` and `on` are
text), text that looks like a number is quoted (`cpu: "8"`, `kubernetesVersion: "1.36"`), and an unquoted date
stays text. Keys are camelCase only (`instance_types` is an unknown key, with `instanceTypes` suggested), and a
key of a misspelt namespace (`eks-platfrom:endpoint`) is an unknown key too. A principal gets one access entry:
never twice across `adminRoleArns`, teams and `previewRoleArn`. Two teams may not produce the same resource name
(`a-b` + namespace `c` and `a` + `b-c`). Secrets (`grafanaAdminPassword`, `slackWebhookUrl`,
`alerting.heartbeatUrl`, `teams.<team>.alerts.slackWebhookUrl`) must be set with `pulumi config set --secret`;
their values never appear in a message. Names the platform derives for AWS (the Loki bucket, IAM roles, node
groups) are shortened with a stable hash to fit their limits. A broken stack file (a YAML error, a tab,
`config:` that is not a map) is reported by the `ops` commands with its file, line and cause. A mistake is
reported with its key, the value and what is allowed, all at once:

```
stack 'prod' has 2 configuration problem(s):
  - eks-platform:network.natGateways: prod needs `perAz` so that losing one zone does not cut egress (got "single")
  - eks-platform:nodeGroups.gpu.minSize: must not exceed maxSize (2) (got 5)
```
"""

PAGE = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"

if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render())

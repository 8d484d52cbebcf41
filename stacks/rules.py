"""Checks across fields, against the environment profile and against what AWS and Kubernetes accept.

They run on the validated values (`stacks.config.validate_fields`): a field that failed validation is
absent and the checks that need it are skipped, so that one run reports every problem at once.
"""

from __future__ import annotations

import ipaddress
from datetime import date, timedelta
from typing import Any, Iterator

from components.schedules import longest_gap
from kubernetes.utils.quantity import parse_quantity

from components.instance_types import architecture, capacity, is_nvidia_gpu
from components.node_group import ACCELERATOR_LABEL, GPU_LABEL, GPU_TAINT
from components.logging import PLATFORM_TENANT
from components.tenancy import RESERVED_NAMESPACES
from stacks import eks_versions, trust
from stacks import releases
from stacks.problems import MISSING, Problem
from stacks.profiles import Profile
from stacks.local import DISTRIBUTIONS, LOCAL_HOSTS, node_network
from stacks.regions import zone_problem
from stacks.schema import NodeGroupConfig

PLATFORM_TAGS = ("platform", "environment", "stack", "cluster")
RESOURCE_TAGS = ("Name", "kubernetes.io/cluster/<cluster>", "kubernetes.io/role/elb")  # the most one resource adds
MAX_TAGS = 50
MAX_USER_TAGS = MAX_TAGS - len(PLATFORM_TAGS) - len(RESOURCE_TAGS)
ASG_TAG_KEY_LIMIT = 128
NODE_TEMPLATE_PREFIX = "k8s.io/cluster-autoscaler/node-template/"
RESERVED_LABEL_DOMAINS = ("kubernetes.io", "k8s.io")
ACM_DOMAIN_LIMIT = 64  # the certificate's first domain name is its common name
EKS_REFUSED_PUBLIC_RANGES = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"))


def _reserved_label(key: str) -> bool:
    prefix = key.rpartition("/")[0]
    return any(prefix == d or prefix.endswith(f".{d}") for d in RESERVED_LABEL_DOMAINS)


def _get(block: Any, name: str, default: Any = None) -> Any:
    """A validated value of a block, or `default` where that value failed validation (reported already)."""
    return getattr(block, name, default)


def _node_group_problems(name: str, group: NodeGroupConfig) -> Iterator[Problem]:
    path = f"nodeGroups.{name}"
    sizes = [_get(group, k) for k in ("min_size", "max_size", "desired_size")]
    if None not in sizes:
        min_size, max_size, desired = sizes
        if min_size > max_size:
            yield Problem(f"{path}.minSize", min_size, f"must not exceed maxSize ({max_size})")
        elif not min_size <= desired <= max_size:
            yield Problem(f"{path}.desiredSize", desired, f"must be between minSize ({min_size}) and maxSize ({max_size})")
    types = list(_get(group, "instance_types", ()))
    taints, labels = _get(group, "taints", ()), _get(group, "labels", {})
    if _get(group, "gpu"):
        not_gpu = [t for t in types if not is_nvidia_gpu(t)]
        if not_gpu:
            yield Problem(f"{path}.instanceTypes", not_gpu,
                          "a GPU group (gpu: true) needs NVIDIA GPU instance types (g4dn, g5, g6, g6e, p4d, p5, ...)")
        for i, taint in enumerate(taints):
            if taint.key == GPU_TAINT["key"]:
                yield Problem(f"{path}.taints[{i}].key", taint.key,
                              "a GPU group gets the nvidia.com/gpu=true:NoSchedule taint already; remove this one")
        for key in (GPU_LABEL[0], ACCELERATOR_LABEL):
            if key in labels:
                yield Problem(f"{path}.labels.{key}", key, "is set by the platform on GPU groups; remove it")
    else:
        gpu_types = [t for t in types if is_nvidia_gpu(t)]
        if gpu_types:
            yield Problem(f"{path}.instanceTypes", gpu_types,
                          "GPU instance types need `gpu: true` on the group (for the NVIDIA AMI, label and taint)")
    architectures = sorted({architecture(t) for t in types})
    if len(architectures) > 1:
        yield Problem(f"{path}.instanceTypes", types,
                      f"must all share one CPU architecture (one AMI per group), got {', '.join(architectures)}")
    keys = [(f"{path}.labels.{k}", k, f"label/{k}") for k in labels] + \
        [(f"{path}.taints[{i}].key", t.key, f"taint/{t.key}") for i, t in enumerate(taints)]
    for where, key, tag in keys:
        if _reserved_label(key):
            yield Problem(where, key, "uses a prefix reserved for Kubernetes (kubernetes.io/, k8s.io/): EKS refuses it")
        elif len(NODE_TEMPLATE_PREFIX + tag) > ASG_TAG_KEY_LIMIT:
            yield Problem(where, key, f"is too long: the autoscaler's tag {NODE_TEMPLATE_PREFIX}{tag[:20]}... must fit "
                                      f"{ASG_TAG_KEY_LIMIT} characters, so at most "
                                      f"{ASG_TAG_KEY_LIMIT - len(NODE_TEMPLATE_PREFIX) - len(tag.split('/')[0]) - 1}")


def _node_groups_problems(groups: dict[str, NodeGroupConfig], profile: Profile, zones: int) -> Iterator[Problem]:
    for name, group in groups.items():
        yield from _node_group_problems(name, group)
    if not groups:
        return
    general = {n: g for n, g in groups.items() if _get(g, "gpu") is False}
    if not general:
        yield Problem("nodeGroups", sorted(groups), "needs at least one non-GPU group to run the platform's services")
        return
    if all(any(t.effect in ("NoSchedule", "NoExecute") for t in _get(g, "taints", ())) for g in general.values()):
        yield Problem("nodeGroups", sorted(general), "every non-GPU group is tainted NoSchedule or NoExecute: the "
                                                     "platform's services would have nowhere to run; leave one untainted")
    on_demand = sum(_get(g, "min_size", 0) * (zones if _get(g, "per_zone") else 1)
                    for g in general.values() if _get(g, "capacity_type") == "ON_DEMAND")
    if on_demand < profile.min_on_demand_nodes:
        yield Problem("nodeGroups", f"{on_demand} ON_DEMAND non-GPU nodes at minSize",
                      f"{profile.name} needs at least {profile.min_on_demand_nodes} (sum of minSize over ON_DEMAND "
                      "non-GPU groups)")


def _team_problems(teams: dict[str, Any]) -> Iterator[Problem]:
    claimed: dict[str, str] = {}
    resource_names: dict[str, str] = {}
    for team, config in teams.items():
        if team == PLATFORM_TENANT:
            yield Problem(f"teams.{team}", team, "is reserved: the platform's own log tenant; choose another team name")
        for i, ns in enumerate(_get(config, "namespaces", ())):
            path = f"teams.{team}.namespaces[{i}]"
            if ns in RESERVED_NAMESPACES:
                yield Problem(path, ns, f"is a platform namespace; reserved: {', '.join(RESERVED_NAMESPACES)}")
            elif ns in claimed:
                yield Problem(path, ns, f"is already claimed by team '{claimed[ns]}'; a namespace belongs to one team")
            else:
                claimed[ns] = team
                resource = f"{team}-{ns}"
                if resource in resource_names:
                    yield Problem(path, ns, f"gives the resource name '{resource}' that {resource_names[resource]} "
                                            "gives too: rename the team or the namespace")
                resource_names.setdefault(resource, path)


def base_domain(dns: Any) -> str | None:
    """The stack's base domain (`<subdomain>.<zoneName>` or the zone), or None without a valid dns block."""
    if not _get(dns, "zone_name"):
        return None
    return f"{dns.subdomain}.{dns.zone_name}" if _get(dns, "subdomain") else dns.zone_name


def grafana_host(base: str) -> str:
    """Grafana's name below a stack's base domain (no team may claim it)."""
    return f"grafana.{base}"


def team_hostnames(team: str, config: Any, base: str | None) -> list[str]:
    """The host patterns a team may serve: `<team>.<base>`, the names below it, and its listed `hosts`."""
    own = [f"{team}.{base}", f"*.{team}.{base}"] if base else []
    return [*own, *_get(config, "hosts", ())]


def _host_problems(teams: dict[str, Any], base: str | None) -> Iterator[Problem]:
    owners: dict[str, str] = {}
    for team, config in teams.items():
        for i, host in enumerate(_get(config, "hosts", ())):
            path = f"teams.{team}.hosts[{i}]"
            other = next((t for t in teams if t != team and (host == f"{t}.{base}" or host.endswith(f".{t}.{base}"))),
                         None) if base else None
            if not base:
                yield Problem(path, host, "names a host of the stack's base domain: set eks-platform:dns too")
            elif not host.endswith(f".{base}"):
                yield Problem(path, host, f"must be a name below the stack's base domain {base}")
            elif host == grafana_host(base):
                yield Problem(path, host, "is the platform's Grafana; choose another name")
            elif other:
                yield Problem(path, host, f"is below team {other}'s domain {other}.{base}")
            elif host in owners:
                yield Problem(path, host, f"is already team {owners[host]}'s: a host belongs to one team")
            owners.setdefault(host, team)


def _egress_problems(teams: dict[str, Any]) -> Iterator[Problem]:
    known = {*RESERVED_NAMESPACES, *(ns for config in teams.values() for ns in _get(config, "namespaces", ()))}
    for team, config in teams.items():
        for i, namespace in enumerate(_get(_get(config, "egress"), "namespaces", ())):
            if namespace not in known:
                yield Problem(f"teams.{team}.egress.namespaces[{i}]", namespace,
                              "is neither a team's namespace nor a platform namespace")


def _service_account_problems(teams: dict[str, Any]) -> Iterator[Problem]:
    for team, config in teams.items():
        namespaces = _get(config, "namespaces", ())
        for name, account in (_get(config, "service_accounts") or {}).items():
            for i, arn in enumerate(_get(account, "policy_arns", ())):
                policy = arn.rsplit("/", 1)[-1]
                if arn.split(":")[4] == "aws" and policy in trust.ADMIN_LIKE_POLICIES:
                    yield Problem(f"teams.{team}.serviceAccounts.{name}.policyArns[{i}]", arn,
                                  f"{policy} would make the team's pods administrators of the account; refused: "
                                  f"{', '.join(trust.ADMIN_LIKE_POLICIES)}; attach a policy scoped to what the "
                                  "workload uses")
            namespace = _get(account, "namespace")
            if namespace and namespaces and namespace not in namespaces:
                yield Problem(f"teams.{team}.serviceAccounts.{name}.namespace", namespace,
                              f"must be one of team {team}'s namespaces: {', '.join(namespaces)}")


def access_principals(values: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(config key, role ARN) of every principal the stack gives an EKS access entry."""
    for i, arn in enumerate(values.get("admin_role_arns") or ()):
        yield f"adminRoleArns[{i}]", arn
    for team, config in (values.get("teams") or {}).items():
        for i, arn in enumerate(_get(config, "role_arns", ())):
            yield f"teams.{team}.roleArns[{i}]", arn
    if values.get("preview_role_arn"):
        yield "previewRoleArn", values["preview_role_arn"]


def _duplicate_principals(values: dict[str, Any]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    role_names: dict[tuple[str, str], str] = {}
    for path, arn in access_principals(values):
        if arn in seen:
            yield Problem(path, arn, f"is already given access as {seen[arn]}: EKS allows one access entry per "
                                     "principal (and the deploying role is cluster admin by creation)")
            continue
        seen[arn] = path
        owner = path.split(".")[1] if path.startswith("teams.") else ""
        key = (owner, arn.rsplit("/", 1)[-1])
        if owner and key in role_names:
            yield Problem(path, arn, f"has the same role name as {role_names[key]}: give each team role its own name")
        role_names.setdefault(key, path)


def _identity_problems(values: dict[str, Any], profile: Profile) -> Iterator[Problem]:
    """The stack's identities against its account: the preview role and boundary there, CI role names free."""
    account = values.get("account_id")
    preview = values.get("preview_role_arn")
    if account and preview and preview.split(":")[4] != account:
        yield Problem("previewRoleArn", preview, f"must be a role of the stack's account {account} (accountId): "
                                                 "bootstrap creates the preview roles there")
    if preview and profile.name in trust.APPROVED_PREVIEWS and \
            preview.rsplit("/", 1)[-1] == trust.AUTOMATIC_PREVIEW_ROLE:
        yield Problem("previewRoleArn", preview, f"is the automatic preview role, which pull requests assume without "
                                                 f"review: {profile.name} previews need the approved preview role "
                                                 f"{trust.AUTOMATIC_PREVIEW_ROLE}-<stack> (see `python -m ops bootstrap`)")
    boundary = _get(values.get("ci"), "permissions_boundary_arn")
    if account and boundary and boundary.split(":")[4] not in (account, "aws"):
        yield Problem("ci.permissionsBoundaryArn", boundary, f"must be a policy of the stack's account {account}")
    name = values.get("cluster_name")
    if name and name.startswith(trust.CI_ROLE_PREFIXES):
        yield Problem("clusterName", name, f"must not start with {' or '.join(trust.CI_ROLE_PREFIXES)}: the names "
                                           "of its roles would be those the boundaries keep for the CI identities")


def _team_alert_problems(teams: dict[str, Any]) -> Iterator[Problem]:
    for team, config in teams.items():
        alerts = _get(config, "alerts")
        if alerts and not alerts.slack_webhook_url:
            yield Problem(f"teams.{team}.alerts.slackWebhookUrl", MISSING,
                          f"is required with teams.{team}.alerts.slackChannel ({alerts.slack_channel}): a Slack app "
                          "webhook posts to its own channel only; set it with `pulumi config set --secret --path "
                          f"eks-platform:teams.{team}.alerts.slackWebhookUrl https://hooks.slack.com/services/...`")


SILENT_FIX = ("`pulumi config set --secret eks-platform:slackWebhookUrl https://hooks.slack.com/services/...` and "
              "`pulumi config set --secret --path eks-platform:alerting.heartbeatUrl https://...` (a dead-man's "
              "switch that pages when Watchdog's pings stop), or decide on silence with alerting.delivery: none")


def _missing_delivery(alerting: Any, slack_webhook_url: Any) -> list[str]:
    """The delivery keys a stack that wants alerts delivered lacks."""
    if _get(alerting, "delivery") == "none":
        return []
    return [key for key, present in (("slackWebhookUrl", slack_webhook_url),
                                      ("alerting.heartbeatUrl", _get(alerting, "heartbeat_url"))) if not present]


def delivery_warnings(config: Any) -> list[str]:
    """A staging stack that would not tell anyone of a failure (prod refuses it: `check`)."""
    missing = _missing_delivery(config.alerting, config.slack_webhook_url)
    if config.environment == "staging" and missing:
        return [f"alerting: {' and '.join(f'eks-platform:{k}' for k in missing)} not set: alerts reach nobody or "
                f"nobody notices Alertmanager is down; set {SILENT_FIX}"]
    return []


def naming_warnings(stack: str, environment: str) -> list[str]:
    """A stack named like an environment (`prod`, `staging`, `dev`) that is another environment."""
    named = next((env for env in ("prod", "staging", "dev") if stack == env or stack.startswith(f"{env}-")
                  or stack.endswith(f"-{env}")), None)
    if named and named != environment:
        return [f"stack '{stack}' is named like {named} but eks-platform:environment is {environment}: it gets "
                f"{environment}'s profile (protection, sizes, alerting rules), not {named}'s"]
    return []


def capacity_warnings(config: Any) -> list[str]:
    """Teams whose quota is more CPU or memory than the general node groups can ever hold at their maxSize
    (estimated from the instance names; nothing is said where a name does not tell)."""
    general = [g for g in config.node_groups.values() if not g.gpu]
    sizes = [[capacity(t) for t in g.instance_types] for g in general]
    if not general or any(None in s for s in sizes):
        return []
    cpus = sum(g.max_size * max(c for c, _ in s) for g, s in zip(general, sizes))
    gib = sum(g.max_size * max(m for _, m in s) for g, s in zip(general, sizes))
    warnings = []
    for team, team_config in config.teams.items():
        for key, total, unit, scale in (("cpu", cpus, "vCPUs", 1), ("memory", gib, "GiB", 2 ** 30)):
            wanted = parse_quantity(getattr(team_config.quota, key)) / scale
            if wanted > total:
                warnings.append(f"eks-platform:teams.{team}.quota.{key}: {getattr(team_config.quota, key)} is more "
                                f"than the general node groups can ever hold ({total} {unit} at their maxSize)")
    return warnings


def account_sharing(stack: str, environment: str, account: str,
                    others: dict[str, tuple[str, str]]) -> list[str]:
    """Warnings for a prod stack that shares its account with a non-prod stack (`others`: stack -> (environment,
    account)), or a non-prod stack that shares one with prod: only the boundaries keep them apart then."""
    warnings = []
    for other, (other_environment, other_account) in sorted(others.items()):
        if other == stack or other_account != account or (environment == "prod") == (other_environment == "prod"):
            continue
        prod_stack, other_stack = (stack, other) if environment == "prod" else (other, stack)
        warnings.append(f"eks-platform:accountId: prod stack '{prod_stack}' shares account {account} with non-prod "
                        f"stack '{other_stack}': give prod an account of its own (only the permissions boundaries "
                        "separate them now)")
    return warnings


def _endpoint_problems(cidrs: tuple[str, ...], profile: Profile) -> Iterator[Problem]:
    networks = []
    for i, cidr in enumerate(cidrs):
        network = ipaddress.ip_network(cidr)
        if str(network) != cidr:
            yield Problem(f"endpoint.publicAccessCidrs[{i}]", cidr, f"write it as {network}")
        if any(network.subnet_of(r) for r in EKS_REFUSED_PUBLIC_RANGES):
            yield Problem(f"endpoint.publicAccessCidrs[{i}]", cidr,
                          "is a private or reserved range: EKS accepts only public ranges for the public endpoint "
                          "(the private endpoint already serves the VPC)")
        networks.append(network)
    everything = list(ipaddress.collapse_addresses(networks)) == [ipaddress.ip_network("0.0.0.0/0")]
    if everything and not profile.allow_open_endpoint:
        yield Problem("endpoint.publicAccessCidrs", list(cidrs),
                      f"{profile.name} must not open the API endpoint to the internet (these ranges together cover "
                      "0.0.0.0/0): list your CIDRs, or [] for a private-only endpoint")


def _tag_problems(tags: dict[str, str]) -> Iterator[Problem]:
    if len(tags) > MAX_USER_TAGS:
        yield Problem("tags", f"{len(tags)} tags", f"at most {MAX_USER_TAGS}: AWS allows {MAX_TAGS} per resource and "
                                                   f"the platform adds up to {MAX_TAGS - MAX_USER_TAGS} of its own")
    seen: dict[str, str] = {}
    for key in tags:
        lowered = key.lower()
        if lowered in PLATFORM_TAGS:
            yield Problem(f"tags.{key}", key, f"is a tag the platform sets ({', '.join(PLATFORM_TAGS)}); "
                                              "choose another key")
        elif lowered in seen:
            yield Problem(f"tags.{key}", key, f"differs from tag '{seen[lowered]}' only in case: AWS treats them "
                                              "as one in some services; keep one")
        seen.setdefault(lowered, key)


def _backup_problems(backup: Any) -> Iterator[Problem]:
    schedule, days = _get(backup, "schedule"), _get(backup, "retention_days")
    if schedule and days:
        gap = longest_gap(schedule)
        if gap >= timedelta(days=days):
            yield Problem("backup.retentionDays", days, (
                f"must be longer than the longest gap between two backups of schedule \"{schedule}\" "
                f"({gap.days} days{f' {gap.seconds // 3600} h' if gap.seconds else ''}), else there are days "
                "with no backup at all"))


EKS_ONLY_RELEASES = ("velero", "cluster-autoscaler", "aws-load-balancer-controller", "nvidia-device-plugin",
                     "dcgm-exporter", "envoy-gateway")


def _local_problems(values: dict[str, Any]) -> Iterator[Problem]:
    """What a `target: kubeconfig` stack asks that a local cluster cannot give."""
    kubeconfig = values.get("kubeconfig")
    distribution = _get(kubeconfig, "distribution")
    unset = hasattr(kubeconfig, "node_cidr") and kubeconfig.node_cidr is None  # absent, not refused
    if distribution and unset and node_network(distribution, None) is None:
        yield Problem("kubeconfig.nodeCidr", MISSING, f"is required with distribution {distribution}: the network "
                                                      "of the cluster's nodes (where the API server calls webhooks "
                                                      "from), e.g. your LAN's 192.168.1.0/24")
    cidr = _get(kubeconfig, "node_cidr")
    if distribution and cidr and ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(
            DISTRIBUTIONS[distribution].pod_network)):
        yield Problem("kubeconfig.nodeCidr", cidr, f"overlaps {distribution}'s pod network "
                                                   f"{DISTRIBUTIONS[distribution].pod_network}: every pod would pass "
                                                   "for the API server (webhook ports, kube-system); give the nodes' "
                                                   "own network")
    if _get(values.get("ingress"), "controller") == "gateway":
        yield Problem("ingress.controller", "gateway", "a local cluster's edge is ingress-nginx on the node's ports; "
                                                       "the Gateway needs a cloud load balancer (target: eks)")
    for release in values.get("releases") or {}:
        if release in EKS_ONLY_RELEASES:
            yield Problem(f"releases.{release}", release, "is not installed on a local cluster (EKS only: "
                                                          f"{', '.join(EKS_ONLY_RELEASES)})")


def check(values: dict[str, Any], profile: Profile, today: date, region: str | None = None) -> list[Problem]:
    problems: list[Problem] = [*_duplicate_principals(values), *_identity_problems(values, profile)]
    version = values.get("kubernetes_version")
    if version and eks_versions.phase(version, today) == "ended":
        problems.append(Problem("kubernetesVersion", version, (
            f"EKS support ended on {eks_versions.VERSIONS[version].extended_end}; supported now: "
            f"{', '.join(v for v in eks_versions.VERSIONS if eks_versions.phase(v, today) != 'ended')}")))
    if version and eks_versions.phase(version, today) == "extended" and values.get("upgrade_policy") == "STANDARD":
        problems.append(Problem("kubernetesVersion", version, (
            f"is in EKS extended support: with upgradePolicy STANDARD EKS upgrades the cluster itself; choose "
            f"{eks_versions.newest_in_standard_support(today)}, or set upgradePolicy: EXTENDED (about six times the "
            "control-plane price)")))
    problems += _team_problems(values.get("teams") or {})
    problems += _service_account_problems(values.get("teams") or {})
    local = values.get("target") == "kubeconfig"
    problems += _host_problems(values.get("teams") or {}, LOCAL_HOSTS if local else base_domain(values.get("dns")))
    if local:
        problems += _local_problems(values)
    problems += _egress_problems(values.get("teams") or {})
    problems += _team_alert_problems(values.get("teams") or {})
    problems += releases.problems(values.get("releases") or {})
    if profile.name == "prod":
        problems += [Problem(key, MISSING, f"is required in prod, which is never silent: set {SILENT_FIX}")
                     for key in _missing_delivery(values.get("alerting"), values.get("slack_webhook_url"))]
    if _get(values.get("tenancy"), "admission") == "warn" and profile.name != "dev":
        problems.append(Problem("tenancy.admission", "warn", f"{profile.name} enforces the tenant admission policies: "
                                                             "`warn` is for rolling them out in dev"))
    problems += _node_groups_problems(values.get("node_groups") or {}, profile,
                                      _get(values.get("network"), "availability_zones", 1))
    network = values.get("network")
    if _get(network, "nat_gateways") == "single" and not profile.allow_single_nat:
        problems.append(Problem("network.natGateways", "single",
                                f"{profile.name} needs `perAz` so that losing one zone does not cut egress"))
    if _get(network, "availability_zones") and region:
        problem = zone_problem(region, network.availability_zones)
        if problem:
            problems.append(problem)
    endpoint = values.get("endpoint")
    if _get(endpoint, "public_access_cidrs"):
        problems += _endpoint_problems(endpoint.public_access_cidrs, profile)
    problems += _tag_problems(values.get("tags") or {})
    problems += _backup_problems(values.get("backup"))
    dns = values.get("dns")
    if _get(dns, "zone_name") and _get(dns, "subdomain", "") is not None:
        base = base_domain(dns)
        if len(base) > ACM_DOMAIN_LIMIT:
            problems.append(Problem("dns.subdomain" if dns.subdomain else "dns.zoneName", base,
                                    f"the base domain {base} has {len(base)} characters: ACM certificates allow "
                                    f"{ACM_DOMAIN_LIMIT}"))
    grafana = values.get("grafana")
    if _get(grafana, "allowed_cidrs") and "dns" in values and not dns:
        problems.append(Problem("grafana.allowedCidrs", list(grafana.allowed_cidrs),
                                "publishes Grafana at grafana.<base domain>: set eks-platform:dns too"))
    return problems

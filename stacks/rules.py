"""Checks across fields and against the environment profile.

They read the merged raw configuration and skip any value of the wrong type (the schema reports
those), so that one run reports every problem at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterator

from components.instance_types import architecture, is_nvidia_gpu
from components.tenancy import RESERVED_NAMESPACES
from stacks import eks_versions
from stacks.problems import Problem
from stacks.profiles import Profile


def _ints(group: dict, *keys: str) -> list[int] | None:
    values = [group.get(k) for k in keys]
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return values
    return None


def _instance_types(group: dict) -> list[str]:
    types = group.get("instanceTypes")
    if isinstance(types, list) and all(isinstance(t, str) for t in types):
        return types
    return []


def _node_group_problems(name: str, group: dict) -> Iterator[Problem]:
    path = f"nodeGroups.{name}"
    sizes = _ints(group, "minSize", "maxSize", "desiredSize")
    if sizes:
        min_size, max_size, desired = sizes
        if min_size > max_size:
            yield Problem(f"{path}.minSize", min_size, f"must not exceed maxSize ({max_size})")
        elif not min_size <= desired <= max_size:
            yield Problem(f"{path}.desiredSize", desired, f"must be between minSize ({min_size}) and maxSize ({max_size})")
    types = _instance_types(group)
    gpu = group.get("gpu") is True
    if gpu:
        not_gpu = [t for t in types if not is_nvidia_gpu(t)]
        if not_gpu:
            yield Problem(f"{path}.instanceTypes", not_gpu,
                          "a GPU group (gpu: true) needs NVIDIA GPU instance types (g4dn, g5, g6, g6e, p4d, p5, ...)")
    else:
        gpu_types = [t for t in types if is_nvidia_gpu(t)]
        if gpu_types:
            yield Problem(f"{path}.instanceTypes", gpu_types,
                          "GPU instance types need `gpu: true` on the group (for the NVIDIA AMI, label and taint)")
    architectures = sorted({architecture(t) for t in types})
    if len(architectures) > 1:
        yield Problem(f"{path}.instanceTypes", types,
                      f"must all share one CPU architecture (one AMI per group), got {', '.join(architectures)}")


def _team_problems(teams: dict[str, Any]) -> Iterator[Problem]:
    claimed: dict[str, str] = {}
    for team, config in teams.items():
        namespaces = config.get("namespaces") if isinstance(config, dict) else None
        if not isinstance(namespaces, list):
            continue
        for i, ns in enumerate(namespaces):
            path = f"teams.{team}.namespaces[{i}]"
            if ns in RESERVED_NAMESPACES:
                yield Problem(path, ns, f"is a platform namespace; reserved: {', '.join(RESERVED_NAMESPACES)}")
            elif ns in claimed:
                yield Problem(path, ns, f"is already claimed by team '{claimed[ns]}'; a namespace belongs to one team")
            else:
                claimed[ns] = team


def _principals(merged: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every IAM principal given an EKS access entry, with its config path."""
    admins = merged.get("adminRoleArns")
    for i, arn in enumerate(admins if isinstance(admins, list) else []):
        yield f"adminRoleArns[{i}]", arn
    teams = merged.get("teams")
    for team, config in (teams.items() if isinstance(teams, dict) else []):
        arns = config.get("roleArns") if isinstance(config, dict) else None
        for i, arn in enumerate(arns if isinstance(arns, list) else []):
            yield f"teams.{team}.roleArns[{i}]", arn
    if merged.get("previewRoleArn") is not None:
        yield "previewRoleArn", merged["previewRoleArn"]


def _duplicate_principals(merged: dict[str, Any]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    role_names: dict[tuple[str, str], str] = {}
    for path, arn in _principals(merged):
        if not isinstance(arn, str):
            continue
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


def _version_problems(merged: dict[str, Any], today: date) -> Iterator[Problem]:
    version = merged.get("kubernetesVersion")
    if version in eks_versions.VERSIONS and eks_versions.phase(version, today) == "ended":
        yield Problem("kubernetesVersion", version,
                      f"EKS support ended on {eks_versions.VERSIONS[version].extended_end}; supported now: "
                      f"{', '.join(v for v in eks_versions.VERSIONS if eks_versions.phase(v, today) != 'ended')}")


def check(merged: dict[str, Any], profile: Profile, today: date | None = None) -> list[Problem]:
    problems: list[Problem] = [*_duplicate_principals(merged), *_version_problems(merged, today or date.today())]
    teams = merged.get("teams")
    if isinstance(teams, dict):
        problems.extend(_team_problems(teams))
    groups = merged.get("nodeGroups")
    if isinstance(groups, dict):
        valid_groups = {n: g for n, g in groups.items() if isinstance(g, dict)}
        for name, group in valid_groups.items():
            problems.extend(_node_group_problems(name, group))
        if valid_groups and all(g.get("gpu") is True for g in valid_groups.values()):
            problems.append(Problem("nodeGroups", sorted(valid_groups),
                                    "needs at least one non-GPU group to run the platform's services"))
        on_demand = sum(
            g["minSize"] for g in valid_groups.values()
            if g.get("gpu") is not True and g.get("capacityType") == "ON_DEMAND" and _ints(g, "minSize")
        )
        if on_demand < profile.min_on_demand_nodes:
            problems.append(Problem(
                "nodeGroups", f"{on_demand} ON_DEMAND non-GPU nodes at minSize",
                f"{profile.name} needs at least {profile.min_on_demand_nodes} (sum of minSize over ON_DEMAND non-GPU groups)",
            ))

    network = merged.get("network")
    if isinstance(network, dict) and network.get("natGateways") == "single" and not profile.allow_single_nat:
        problems.append(Problem("network.natGateways", "single",
                                f"{profile.name} needs `perAz` so that losing one zone does not cut egress"))

    endpoint = merged.get("endpoint")
    cidrs = endpoint.get("publicAccessCidrs") if isinstance(endpoint, dict) else None
    if isinstance(cidrs, list) and "0.0.0.0/0" in cidrs and not profile.allow_open_endpoint:
        problems.append(Problem("endpoint.publicAccessCidrs", "0.0.0.0/0",
                                f"{profile.name} must not open the API endpoint to the internet: list your CIDRs, "
                                "or [] for a private-only endpoint"))
    return problems

"""Stack configuration: raw `eks-platform:` config -> environment profile -> validated `Settings`.

`load` is pure (a dict in, `Settings` or `ConfigError` out) so that the operator commands and tests
use exactly what `pulumi up` uses; `read_pulumi_config` is the only place that touches Pulumi's config.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from stacks import rules
from stacks.problems import ConfigError, Problem
from stacks.profiles import PROFILES, Profile
from stacks.schema import SECRET_KEYS, PlatformConfig

NAMESPACE = "eks-platform"
GPU_GROUP_DEFAULTS = {"capacityType": "ON_DEMAND", "diskSizeGiB": 100}
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@dataclass(frozen=True)
class Settings:
    """Everything the platform needs to know about one stack, validated."""

    stack: str
    region: str
    config: PlatformConfig
    profile: Profile

    @property
    def cluster_name(self) -> str:
        return self.config.cluster_name

    @property
    def tags(self) -> dict[str, str]:
        base = {"platform": "eks-platform", "environment": self.config.environment,
                "stack": self.stack, "cluster": self.cluster_name}
        return {**base, **self.config.tags}


def read_pulumi_config() -> tuple[dict[str, Any], str | None]:
    """Every `eks-platform:` key of the running stack (JSON blocks decoded) and `aws:region`."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    raw = {}
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            raw[name] = decode(runtime_config.get_config(key))
    return raw, runtime_config.get_config("aws:region")


def decode(value: Any) -> Any:
    """Pulumi hands structured config values over as JSON text; scalars stay strings."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def deep_merge(base: Any, override: Any) -> Any:
    """`override` laid over `base`: maps merge key by key, anything else is replaced (copied)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _merge_node_groups(profile: Profile, user_groups: Any) -> Any:
    if not isinstance(user_groups, dict):
        return user_groups if user_groups is not None else _merge_node_groups(profile, {})
    profile_groups = profile.defaults["nodeGroups"]
    groups = {}
    for name in [*profile_groups, *[n for n in user_groups if n not in profile_groups]]:
        user = user_groups.get(name, {})
        if not isinstance(user, dict):
            groups[name] = user
            continue
        base = deep_merge(profile.node_group_defaults, profile_groups.get(name, {}))
        if user.get("gpu") is True:
            base = deep_merge(base, GPU_GROUP_DEFAULTS)
        group = deep_merge(base, user)
        if "desiredSize" not in user and all(isinstance(group.get(k), int) for k in ("minSize", "maxSize")):
            wanted = base.get("desiredSize", group["minSize"])
            group["desiredSize"] = min(max(wanted, group["minSize"]), group["maxSize"])
        groups[name] = group
    return groups


def merge_with_profile(raw: dict[str, Any], profile: Profile, stack: str) -> dict[str, Any]:
    merged = deep_merge(profile.defaults, {k: v for k, v in raw.items() if k != "nodeGroups"})
    merged.setdefault("clusterName", f"eks-platform-{stack}")
    merged["nodeGroups"] = _merge_node_groups(profile, raw.get("nodeGroups"))
    return merged


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config block (model) that the location `loc` points into."""
    model: Any = PlatformConfig
    pending = list(loc)
    while pending:
        step = pending.pop(0)
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        if step not in fields:
            return None
        annotation = fields[step].annotation
        while True:
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                model = annotation
                break
            if origin in (dict, tuple) and args:
                if not pending:
                    return None
                pending.pop(0)
                annotation = args[-1] if origin is dict else args[0]
                continue
            return None
    return model


def _known_keys(loc: tuple) -> list[str]:
    model = _model_at(loc)
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _path(loc: tuple) -> str:
    parts = []
    for step in loc:
        if isinstance(step, int):
            parts[-1] = f"{parts[-1]}[{step}]"
        elif step != "[key]":
            parts.append(str(step))
    return ".".join(parts)


def _schema_problems(merged: dict[str, Any]) -> list[Problem]:
    try:
        PlatformConfig.model_validate(merged)
    except ValidationError as error:
        problems = []
        for detail in error.errors(include_url=False):
            loc = detail["loc"]
            if detail["type"] == "extra_forbidden":
                known = _known_keys(loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'? " if close else ""
                message = f"unknown key; {hint}known keys: {', '.join(known)}"
                problems.append(Problem(_path(loc), loc[-1], message))
                continue
            message = detail["msg"].removeprefix("Value error, ")
            if detail["type"] == "missing":
                message = "is required"
            if loc and loc[-1] == "[key]":
                message = f"key {message}"
            value = "[secret]" if loc and loc[0] in SECRET_KEYS else detail.get("input")
            problems.append(Problem(_path(loc), value, message))
        return problems
    return []


def load(stack: str, raw: dict[str, Any], region: str | None) -> Settings:
    """Validate a stack's raw configuration against its environment profile, all problems at once."""
    problems: list[Problem] = []
    if not isinstance(region, str) or not _REGION.match(region):
        problems.append(Problem("aws:region", region, "must be set to an AWS region, e.g. us-east-1"))
    environment = raw.get("environment")
    profile = PROFILES.get(environment) if isinstance(environment, str) else None
    if profile is None:
        problems.append(Problem("environment", environment, f"must be one of: {', '.join(PROFILES)}"))
    merged = merge_with_profile(raw, profile or PROFILES["dev"], stack)
    problems += [p for p in _schema_problems(merged) if profile or p.path != "environment"]
    if profile:
        problems += rules.check(merged, profile)
    if problems:
        raise ConfigError(stack, problems)
    return Settings(stack=stack, region=region, config=PlatformConfig.model_validate(merged), profile=profile)

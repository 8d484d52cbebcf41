"""Stack configuration: raw `eks-platform:` config -> environment profile -> validated `Settings`.

`load` is pure (a dict in, `Settings` or `ConfigError` out) so that the operator commands and tests
use exactly what `pulumi up` uses; `read_pulumi_config` is the only place that touches Pulumi's config.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
import types
import typing
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Annotated, Any, Collection

from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from components.helm import deep_merge

from stacks import rules, trust
from stacks.problems import MISSING, ConfigError, Problem
from stacks.local import LOCAL_KUBERNETES_VERSION
from stacks.profiles import LOCAL_ENVIRONMENT, PROFILES, Profile
from stacks.schema import (EKS_ONLY, KUBECONFIG_ONLY, NESTED_SECRETS, SECRET_KEYS, SECRET_PATHS, TARGETS,
                           TEAM_WEBHOOK, LocalConfig, NodeGroupConfig, NodeGroupName, PlatformConfig, TeamConfig)

NAMESPACE = "eks-platform"
GPU_GROUP_DEFAULTS = {"capacityType": "ON_DEMAND", "diskSizeGiB": 100}
REQUIRED_HINTS = {
    "accountId": "is required: the 12-digit AWS account this stack deploys to, so that credentials of another "
                 "account are refused (`aws sts get-caller-identity --query Account --output text` prints the "
                 "current one)",
}
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@dataclass(frozen=True)
class Settings:
    """Everything the platform needs to know about one stack, validated."""

    stack: str
    region: str | None  # None on a `target: kubeconfig` stack: no AWS
    config: PlatformConfig | LocalConfig
    profile: Profile

    @property
    def is_local(self) -> bool:
        """A stack on a cluster of one's own (`target: kubeconfig`): no AWS provider, no `aws:*` resource."""
        return self.config.target == "kubeconfig"

    @property
    def kubernetes_version(self) -> str:
        """The cluster's Kubernetes minor: EKS's, or the local node image's."""
        return LOCAL_KUBERNETES_VERSION if self.is_local else self.config.kubernetes_version

    @property
    def cluster_name(self) -> str:
        return self.config.cluster_name

    @property
    def account_id(self) -> str:
        return self.config.account_id

    @property
    def permissions_boundary_arn(self) -> str:
        """The boundary every IAM role of the stack carries: the stack file's, or the one bootstrap creates."""
        return self.config.ci.permissions_boundary_arn or trust.boundary_arn(self.account_id, self.stack,
                                                                             trust.partition(self.region))

    @property
    def tags(self) -> dict[str, str]:
        base = {"platform": "eks-platform", "environment": self.config.environment,
                "stack": self.stack, "cluster": self.cluster_name}
        return {**base, **self.config.tags}


@dataclass(frozen=True)
class RawConfig:
    """A stack's configuration as the program receives it from Pulumi."""

    values: dict[str, Any]
    region: Any
    secret_keys: frozenset[str]
    other_keys: tuple[str, ...]


KNOWN_NAMESPACES = ("aws", "pulumi", "kubernetes", "random", "eks")


def read_pulumi_config() -> RawConfig:
    """Every `eks-platform:` key of the running stack (decoded as the schema types it), `aws:region`, which
    keys were set as secrets, and keys of namespaces that look like a misspelt `eks-platform:`."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    raw, others = {}, []
    for key in sorted(keys):
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            raw[name] = decode(runtime_config.get_config(key), name)
        elif namespace not in KNOWN_NAMESPACES:
            others.append(key)
    secret = frozenset(k.partition(":")[2] for k in keys
                       if k.startswith(f"{NAMESPACE}:") and runtime_config.is_config_secret(k))
    return RawConfig(raw, runtime_config.get_config("aws:region"), secret, tuple(others))


def as_pulumi_config_value(value: Any) -> str:
    """How the Pulumi CLI hands a stack-file value to the program: maps and lists as JSON, scalars as text."""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else str(value)


def decode(value: Any, key: str | None = None) -> Any:
    """A config value as the program reads it: JSON maps and lists decoded; a top-level boolean or number
    key's text (the CLI passes `inClusterLayer: false` as "false") as that type; any other text as is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    field = _top_level_fields().get(key)
    if isinstance(value, str) and field is not None:
        if "bool" in str(field.annotation) and value in ("true", "false"):
            return value == "true"
        if "int" in str(field.annotation) and re.fullmatch(r"-?\d+", value):
            return int(value)
    return value


@functools.lru_cache(maxsize=None)
def _top_level_fields() -> dict[str, Any]:
    return {f.alias or n: f for model in (LocalConfig, PlatformConfig) for n, f in model.model_fields.items()}


def other_namespace_problems(keys: Collection[str]) -> list[Problem]:
    """Keys of unknown namespaces that look like a misspelt `eks-platform:` are unknown keys."""
    problems = []
    for key in keys:
        namespace, _, name = key.partition(":")
        if difflib.get_close_matches(namespace, [NAMESPACE], n=1, cutoff=0.6):
            problems.append(Problem(key, key, f"unknown namespace '{namespace}': did you mean "
                                              f"'{NAMESPACE}:{name}'?"))
    return problems


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


def _merge_teams(profile: Profile, teams: Any) -> Any:
    """Each team's `quota` laid over the profile's team quota (a team names only what differs)."""
    if not isinstance(teams, dict):
        return teams
    return {name: {**team, "quota": deep_merge(profile.team_quota, team["quota"])}
            if isinstance(team, dict) and isinstance(team.get("quota"), dict) else team
            for name, team in teams.items()}


def merge_with_profile(raw: dict[str, Any], profile: Profile, stack: str) -> dict[str, Any]:
    merged = deep_merge(profile.defaults, {k: v for k, v in raw.items() if k not in ("nodeGroups", "teams")})
    if "teams" in raw:
        merged["teams"] = _merge_teams(profile, raw["teams"])
    merged.setdefault("clusterName", f"eks-platform-{stack}")
    if "nodeGroups" in profile.defaults:
        merged["nodeGroups"] = _merge_node_groups(profile, raw.get("nodeGroups"))
    return merged


def _model_at(loc: tuple, top: type[BaseModel] = PlatformConfig) -> type[BaseModel] | None:
    """The config block (model) that the location `loc` points into."""
    model: Any = top
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
            if origin in (typing.Union, types.UnionType):
                models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
                if not models:
                    return None
                annotation = models[0]
                continue
            if origin in (dict, tuple) and args:
                if not pending:
                    return None
                pending.pop(0)
                annotation = args[-1] if origin is dict else args[0]
                continue
            return None
    return model


def _known_keys(loc: tuple, top: type[BaseModel] = PlatformConfig) -> list[str]:
    model = _model_at(loc, top)
    return [f.alias or n for n, f in model.model_fields.items()] if model else []


def _path(loc: tuple) -> str:
    parts: list[str] = []
    for step in loc:
        if isinstance(step, int) and parts:
            parts[-1] = f"{parts[-1]}[{step}]"
        elif step != "[key]":
            parts.append(str(step))
    return ".".join(parts)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def unknown_key_message(key: str, known: list[str]) -> str:
    camel = _camel(key)
    close = [camel] if camel in known and camel != key else difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown key; {hint}known keys: {', '.join(known)}" if known else "unknown key: this block takes no keys"


_WORDS = {
    "int_type": "must be a whole number, e.g. 3 (unquoted, no decimals)",
    "int_from_float": "must be a whole number, e.g. 3 (no decimals)",
    "float_type": "must be a number, e.g. 0.5 (unquoted)",
    "bool_type": "must be true or false (unquoted)",
    "string_type": "must be text",
    "dict_type": "must be a map of keys to values",
    "model_type": "must be a map of keys to values",
    "model_attributes_type": "must be a map of keys to values",
    "list_type": "must be a list, e.g. [a, b]",
    "tuple_type": "must be a list, e.g. [a, b]",
}


_BOUNDS = {"greater_than_equal": ("ge", "at least"), "greater_than": ("gt", "more than"),
           "less_than_equal": ("le", "at most"), "less_than": ("lt", "less than")}


def _message(detail: dict[str, Any], loc: tuple, top: type[BaseModel]) -> str:
    kind, context = detail["type"], detail.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        allowed = context.get("expected", "").replace(" or ", ", ")
        return f"must be one of: {allowed}{_number_hint(detail.get('input'), allowed)}"
    if kind in _BOUNDS:
        limit, words = _BOUNDS[kind]
        return f"must be {words} {context[limit]}"
    if kind == "too_short":
        return f"must have at least {context.get('min_length')} entr{'y' if context.get('min_length') == 1 else 'ies'}"
    if kind == "too_long":
        return f"must have at most {context.get('max_length')} entries"
    if kind == "string_type":
        value = detail.get("input")
        if isinstance(value, (int, float)) and not _is_secret(loc):
            return f"must be text; quote it: \"{json.dumps(value)}\""
        return "must be text"
    if kind in _WORDS:
        if kind.endswith(("dict_type", "model_type", "model_attributes_type")):
            known = _known_keys(tuple(s for s in loc if s != "[key]"), top)
            return _WORDS[kind] + (f" with the keys {', '.join(known)}" if known else "")
        return _WORDS[kind]
    if kind == "value_error":
        return detail["msg"].removeprefix("Value error, ")
    return detail["msg"]


def _is_secret(loc: tuple) -> bool:
    """Whether `loc` is a secret's place or inside it (a secret given as a map or list)."""
    return any(len(loc) >= len(path) and all(p in ("*", part) for p, part in zip(path, loc)) for path in SECRET_PATHS)


def _number_hint(value: Any, allowed: str) -> str:
    """`kubernetesVersion: 1.30` unquoted arrives as the number 1.3: name the quoted value meant."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    meant = [a for a in re.findall(r"'([0-9.]+)'", allowed) if float(a) == number and a != str(value)]
    if not meant and re.fullmatch(r"\d+\.\d", str(value)):
        meant = [f"{value}0"]  # a version like 1.30 read as 1.3
    return f"; quote it: \"{meant[0]}\" (unquoted, YAML reads {meant[0]} as the number {value})" if meant else ""


def _shown(value: Any, loc: tuple) -> Any:
    if value is MISSING:
        return value
    return "[secret]" if _is_secret(loc) or isinstance(value, SecretStr) else value


def _problems_from(error: ValidationError, prefix: tuple, top: type[BaseModel]) -> list[Problem]:
    problems = []
    for detail in error.errors(include_url=False):
        loc = (*prefix, *detail["loc"])
        if detail["type"] == "extra_forbidden":
            problems.append(Problem(_path(loc), loc[-1], unknown_key_message(str(loc[-1]), _known_keys(loc[:-1], top))))
            continue
        message = _message(detail, loc, top)
        if loc and loc[-1] == "[key]":
            message = f"key {message}"
        value = MISSING if detail["type"] == "missing" else detail.get("input")
        if value is None:
            message += "; an empty value: give one or remove the key"
            if loc[-1:] == ("slackChannel",):
                message += ' (YAML reads an unquoted #alerts as a comment: quote it, "#alerts")'
        problems.append(Problem(_path(loc), _shown(value, loc), message))
    return problems


@functools.lru_cache(maxsize=None)
def _type_adapter(type_: Any) -> TypeAdapter:
    return TypeAdapter(type_)


@functools.lru_cache(maxsize=None)
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter:
    field = model.model_fields[name]
    return TypeAdapter(Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation)


def _partial(model: Any, raw: Any) -> SimpleNamespace | None:
    """The fields of a block that failed validation which are valid on their own: rules can still check them."""
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or not isinstance(raw, dict):
        return None
    parts = {}
    for name, field in model.model_fields.items():
        alias = field.alias or name
        if alias in raw:
            try:
                parts[name] = _field_adapter(model, name).validate_python(raw[alias])
            except ValidationError:
                continue
        elif not field.is_required():
            parts[name] = field.get_default(call_default_factory=True)
    return SimpleNamespace(**parts)


def _block_model(annotation: Any) -> Any:
    models = [a for a in (annotation, *typing.get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if models else None


_MAPS = {"node_groups": (NodeGroupName, NodeGroupConfig), "teams": (NodeGroupName, TeamConfig)}


def validate_fields(merged: dict[str, Any], top: type[BaseModel] = PlatformConfig) -> tuple[dict[str, Any], list[Problem]]:
    """Every top-level field validated on its own (every entry of the node group and team maps too), so that
    one bad value hides no other problem: the values that passed, by field name, and the problems."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    aliases = {(f.alias or n): n for n, f in top.model_fields.items()}
    for key in merged:
        if key not in aliases:
            problems.append(Problem(key, key, unknown_key_message(key, list(aliases))))
    for alias, name in aliases.items():
        field = top.model_fields[name]
        if alias not in merged:
            if field.is_required():
                problems.append(Problem(alias, MISSING, REQUIRED_HINTS.get(alias, "is required")))
            else:
                values[name] = field.get_default(call_default_factory=True)
            continue
        raw = merged[alias]
        if name in _MAPS and isinstance(raw, dict) and raw:
            key_type, entry_type = _MAPS[name]
            entries = {}
            for key, entry in raw.items():
                try:
                    _type_adapter(key_type).validate_python(key)
                    entries[key] = _type_adapter(entry_type).validate_python(entry)
                except ValidationError as error:
                    prefix = (alias, key) if isinstance(key, str) else (alias,)
                    problems += _problems_from(error, prefix, top)
                    partial = _partial(entry_type, entry) if isinstance(key, str) else None
                    if partial is not None:
                        entries[key] = partial
            values[name] = entries
            continue
        try:
            values[name] = _field_adapter(top, name).validate_python(raw)
        except ValidationError as error:
            problems += _problems_from(error, (alias,), top)
            partial = _partial(_block_model(field.annotation), raw)
            if partial is not None:
                values[name] = partial
    return values, problems


def _team_blocks(raw: dict[str, Any]) -> list[tuple[str, dict]]:
    teams = raw.get("teams")
    return [(team, block) for team, block in teams.items() if isinstance(block, dict)] if isinstance(teams, dict) else []


def load_raw(stack: str, config: RawConfig) -> Settings:
    return load(stack, config.values, config.region, config.secret_keys, other_keys=config.other_keys)


def load(stack: str, raw: dict[str, Any], region: Any, secret_keys: Collection[str] | None = None,
         today: date | None = None, other_keys: Collection[str] = ()) -> Settings:
    """Validate a stack's raw configuration against its environment profile, all problems at once.

    `secret_keys` are the config keys set with `pulumi config set --secret` (None: unknown, not checked)."""
    problems: list[Problem] = other_namespace_problems(other_keys)
    target = raw.get("target", "eks")
    if target not in TARGETS:
        problems.append(Problem("target", target, f"must be one of: {', '.join(TARGETS)} (eks: an EKS cluster the "
                                                  "stack creates; kubeconfig: a cluster of your own, e.g. kind)"))
        target, raw = "eks", {k: v for k, v in raw.items() if k != "target"}
    local = target == "kubeconfig"
    if local:
        raw, misplaced = _without(raw, EKS_ONLY, "means something on EKS only ({why}); remove it from a "
                                                 "`target: kubeconfig` stack")
    else:
        raw, misplaced = _without(raw, KUBECONFIG_ONLY, "is {why}; this stack has target: eks (set "
                                                        "eks-platform:target: kubeconfig to use one)")
    problems += misplaced
    if not local and (not isinstance(region, str) or not _REGION.match(region)):
        problems.append(Problem("aws:region", region, "must be set to an AWS region, e.g. us-east-1"))
    environment = raw.get("environment")
    profile = PROFILES.get(environment) if isinstance(environment, str) else None
    if profile is not None and (environment == LOCAL_ENVIRONMENT) != local:
        problems.append(Problem("environment", environment, "must be local with target: kubeconfig" if local else
                                "local is the profile of `target: kubeconfig` (a cluster of your own); an EKS "
                                "stack is dev, staging or prod"))
        profile = None
    if profile is None:
        allowed = LOCAL_ENVIRONMENT if local else ", ".join(e for e in PROFILES if e != LOCAL_ENVIRONMENT)
        if not any(p.path == "environment" for p in problems):
            problems.append(Problem("environment", environment, f"must be one of: {allowed}"))
    model = LocalConfig if local else PlatformConfig
    merged = merge_with_profile(raw, profile or PROFILES[LOCAL_ENVIRONMENT if local else "dev"], stack)
    values, schema_problems = validate_fields(merged, model)
    problems += [p for p in schema_problems if profile or p.path != "environment"]
    if secret_keys is not None:
        problems += [Problem(key, "[secret]", f"is a secret: set it with `pulumi config set --secret {NAMESPACE}:{key} ...` "
                                              "so it is stored encrypted, never in plain text")
                     for key in SECRET_KEYS if key in raw and key not in secret_keys]
        problems += [Problem(".".join(path), "[secret]",
                             f"is a secret: set it with `pulumi config set --secret --path {NAMESPACE}:{'.'.join(path)} ...`")
                     for path in NESTED_SECRETS
                     if isinstance(raw.get(path[0]), dict) and path[1] in raw[path[0]] and path[0] not in secret_keys]
        problems += [Problem(f"teams.{team}.{'.'.join(TEAM_WEBHOOK)}", "[secret]",
                             "is a secret: set it with `pulumi config set --secret --path "
                             f"eks-platform:teams.{team}.{'.'.join(TEAM_WEBHOOK)} ...`")
                     for team, block in _team_blocks(raw) if "teams" not in secret_keys
                     and isinstance(block.get(TEAM_WEBHOOK[0]), dict) and TEAM_WEBHOOK[1] in block[TEAM_WEBHOOK[0]]]
    if profile:
        problems += rules.check(values, profile, today or date.today(),
                                region if isinstance(region, str) and not local else None)
    if problems:
        raise ConfigError(stack, problems)
    return Settings(stack=stack, region=None if local else region, config=model.model_validate(merged),
                    profile=profile)


def _without(raw: dict[str, Any], keys: dict[str, str], message: str) -> tuple[dict[str, Any], list[Problem]]:
    """`raw` without the `keys` (dotted paths, `*` any map entry) it sets, and a problem for each, `why` told."""
    kept = copy.deepcopy(raw)
    problems = []
    for path, why in keys.items():
        for found, parent, last in _places(kept, path.split(".")):
            problems.append(Problem(found, _shown(parent[last], tuple(found.split("."))), message.format(why=why)))
            del parent[last]
    return kept, problems


def _places(node: Any, steps: list[str], at: str = "") -> list[tuple[str, dict, str]]:
    if not isinstance(node, dict):
        return []
    head, *rest = steps
    names = [k for k in node if isinstance(k, str)] if head == "*" else [head] if head in node else []
    places = []
    for name in names:
        where = f"{at}.{name}" if at else name
        places += [(where, node, name)] if not rest else _places(node[name], rest, where)
    return places

"""Reading a stack's `Pulumi.<stack>.yaml` as the Pulumi CLI does and handing it to the program as it would.

The CLI parses stack files as YAML 1.2: `yes`, `on` and `no` are text, not booleans, and an unquoted
date stays text; so does this reader (PyYAML alone is YAML 1.1). Values reach the program as the CLI
passes them (maps and lists as JSON, scalars as text, see `stacks.config.decode`), so the offline tools
and `pulumi up` see the same configuration. A broken file is reported with its name, line and cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from ops.yaml12 import PROJECT_DIR, STACKS_DIR, StackFileError, parse as _parse, stack_names
from stacks.config import KNOWN_NAMESPACES, NAMESPACE, RawConfig, Settings, as_pulumi_config_value, decode, load_raw
from stacks import rules
from stacks.problems import ConfigError
from stacks.secure import SecureMap, SecureValue, with_placeholders


def read_stack_config(stack: str, project_dir: Path = STACKS_DIR) -> dict[str, Any]:
    """The stack file's `config:` map. A `{secure: ...}` value cannot be decrypted offline: it becomes a
    `SecureValue` placeholder, so the program still sees that the secret is set, and that it is a secret."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path.name}; stacks here: {', '.join(stack_names(project_dir))}")
    document = _parse(path)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: must be a map with a `config:` key, found a {type(document).__name__}")
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path.name}: `config:` must be a map of `namespace:key: value`, found a "
                             f"{type(config).__name__}")
    return {str(key): with_placeholders(v, str(key)) for key, v in config.items()}


def raw_config(config: dict[str, Any]) -> RawConfig:
    """What the program would read from this configuration (see `stacks.config.read_pulumi_config`)."""
    config = {key: with_placeholders(value, key) for key, value in config.items()}
    values = {k.split(":", 1)[1]: decode(as_pulumi_config_value(v), k.split(":", 1)[1])
              for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    secret = frozenset(k.split(":", 1)[1] for k, v in config.items()
                       if k.startswith(f"{NAMESPACE}:") and isinstance(v, (SecureValue, SecureMap)))
    others = tuple(k for k in config if k.partition(":")[0] not in (NAMESPACE, *KNOWN_NAMESPACES))
    region = config.get("aws:region")
    return RawConfig(values, as_pulumi_config_value(region) if region is not None else None, secret, others)


def load_settings(stack: str, project_dir: Path = STACKS_DIR) -> Settings:
    """The validated `Settings` of a stack file (raises `FileNotFoundError`, `StackFileError` or `ConfigError`)."""
    return load_raw(stack, raw_config(read_stack_config(stack, project_dir)))


def is_local_stack(stack: str, project_dir: Path = STACKS_DIR) -> bool:
    """Whether `Pulumi.<stack>.yaml` says `target: kubeconfig` (False when it cannot be read: the command reports
    that itself)."""
    try:
        return read_stack_config(stack, project_dir).get("eks-platform:target") == "kubeconfig"
    except (FileNotFoundError, StackFileError):
        return False


def settings_or_report(stack: str, err: TextIO, project_dir: Path = STACKS_DIR) -> Settings | None:
    """A stack's settings for an `ops` command, or None after writing why not (a missing or broken file,
    or every configuration problem) to `err`: never a traceback for a user's mistake."""
    try:
        return load_settings(stack, project_dir)
    except (FileNotFoundError, StackFileError, ConfigError) as error:
        print(f"error: {error}", file=err)
        return None


def stack_accounts(project_dir: Path = STACKS_DIR) -> dict[str, tuple[str, str]]:
    """stack -> (environment, accountId) as each stack file says (files that cannot be read are left out)."""
    found = {}
    for stack in stack_names(project_dir):
        try:
            config = read_stack_config(stack, project_dir)
        except (FileNotFoundError, StackFileError):
            continue
        found[stack] = (str(config.get(f"{NAMESPACE}:environment")), str(config.get(f"{NAMESPACE}:accountId")))
    return found


def account_sharing_warnings(settings: Settings, project_dir: Path = STACKS_DIR) -> list[str]:
    """`stacks.rules.account_sharing` for a stack against every stack file of the project."""
    return rules.account_sharing(settings.stack, settings.config.environment, settings.account_id,
                                 stack_accounts(project_dir))

"""Reading a stack's `Pulumi.<stack>.yaml` as the program would see its configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stacks.config import NAMESPACE, Settings, load

PROJECT_DIR = Path(__file__).resolve().parent.parent


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The stack file's `config:` map. A `{secure: ...}` value cannot be decrypted offline: it is
    replaced by a placeholder string so the program still sees that the secret is set."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path.name}; stacks here: {', '.join(stack_names(project_dir))}")
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return {key: "offline-placeholder-secret" if isinstance(v, dict) and set(v) == {"secure"} else v
            for key, v in config.items()}


def load_settings(stack: str, project_dir: Path = PROJECT_DIR) -> Settings:
    """The validated `Settings` of a stack file (raises `FileNotFoundError` or `ConfigError`)."""
    config = read_stack_config(stack, project_dir)
    raw = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}
    return load(stack, raw, config.get("aws:region"))

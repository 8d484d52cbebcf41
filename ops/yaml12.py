"""Stack files as YAML: the project's `Pulumi.<stack>.yaml` files, parsed as the Pulumi CLI parses them.

PyYAML alone is YAML 1.1: `yes`/`no`/`on` become booleans, `2026-01-01` a date, `0777` octal. With this
loader booleans are only true/false, there are no dates, and no sexagesimal or old-style octal numbers.
Depends on PyYAML alone: `ops.gate` reads stack files with it before the project is installed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Where the operator commands find the Pulumi.<stack>.yaml files: the project, unless EKS_PLATFORM_STACKS_DIR
# names another folder (the test suite's fixture stacks, tests/stacks).
STACKS_DIR = Path(os.environ.get("EKS_PLATFORM_STACKS_DIR") or PROJECT_DIR)


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars: booleans are only true/false, no dates,
    no sexagesimal or old-style octal numbers."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                   list("tTfF"))
Yaml12Loader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
                                   list("-+0123456789"))
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."))


class StackFileError(Exception):
    """A stack file that is not valid YAML or not shaped like a Pulumi stack file."""


def parse(path: Path) -> Any:
    text = path.read_text()
    try:
        return yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        cause = getattr(error, "problem", None) or str(error)
        if "\t" in cause or "'\\t'" in cause:
            cause = "a tab: indent with spaces only"
        raise StackFileError(f"{path.name}{where}: {cause}") from None


def stack_names(project_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))

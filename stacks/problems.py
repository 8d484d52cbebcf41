"""A configuration problem and the error that reports all of them at once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


MISSING = type("Missing", (), {"__repr__": lambda self: "MISSING"})()  # a required key that is absent


@dataclass(frozen=True)
class Problem:
    path: str
    value: Any
    message: str

    @property
    def key(self) -> str:
        """The config key as the user writes it: `eks-platform:nodeGroups.gpu.minSize`, `aws:region`."""
        return self.path if ":" in self.path.split(".")[0] else f"eks-platform:{self.path}"

    def __str__(self) -> str:
        if self.value is MISSING:
            return f"{self.key}: {self.message}"
        return f"{self.key}: {self.message} (got {json.dumps(self.value, default=str)})"


class ConfigError(Exception):
    """Every problem of a stack's configuration; raised before any resource is registered."""

    def __init__(self, stack: str, problems: list[Problem]):
        self.stack = stack
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack '{stack}' has {len(problems)} configuration problem(s):\n{lines}")

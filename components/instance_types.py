"""What an EC2 instance type name says about the node: its CPU architecture and NVIDIA GPUs."""

from __future__ import annotations

import re

NVIDIA_GPU_FAMILIES = frozenset({
    "g4dn", "g5", "g5g", "g6", "g6e", "g6f", "gr6", "gr6f", "g7e",
    "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200", "p6-b300", "p6e-gb200",
})

ARM_FAMILIES = frozenset({"a1", "p6e-gb200"})  # Graviton without the `g` option letter
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>\d+)(?P<options>[a-z-]*)")


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def is_nvidia_gpu(instance_type: str) -> bool:
    return family(instance_type) in NVIDIA_GPU_FAMILIES


def architecture(instance_type: str) -> str:
    """`arm64` for Graviton families (a `g` among the options after the generation: m7g, c7gn, g5g; and a1), else `x86_64`."""
    match = _FAMILY.match(family(instance_type))
    options = match.group("options").split("-", 1)[0] if match else ""
    if family(instance_type) in ARM_FAMILIES or "g" in options:
        return "arm64"
    return "x86_64"


def ami_type(instance_types: tuple[str, ...] | list[str], gpu: bool) -> str:
    """The EKS AL2023 AMI type for a node group of these instance types (all of one architecture)."""
    arch = "ARM_64" if architecture(instance_types[0]) == "arm64" else "x86_64"
    return f"AL2023_{arch}_{'NVIDIA' if gpu else 'STANDARD'}"

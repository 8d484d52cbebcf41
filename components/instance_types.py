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


_MEMORY_PER_VCPU = {"m": 4, "c": 2, "r": 8, "t": 4, "x": 16, "g": 4, "z": 8}


def capacity(instance_type: str) -> tuple[int, int] | None:
    """(vCPUs, GiB) as the instance name implies (`large` 2 vCPUs, `xlarge` 4, `Nxlarge` 4N; the series letter
    the GiB per vCPU), or None where the name does not say (metal, micro sizes, unusual series)."""
    series, _, size = instance_type.partition(".")
    match = re.fullmatch(r"(\d*)xlarge", size)
    vcpus = 2 if size == "large" else 4 * int(match.group(1) or 1) if match else None
    per_vcpu = _MEMORY_PER_VCPU.get(series[:1])
    return (vcpus, vcpus * per_vcpu) if vcpus and per_vcpu else None


def ami_type(instance_types: tuple[str, ...] | list[str], gpu: bool) -> str:
    """The EKS AL2023 AMI type for a node group of these instance types (all of one architecture)."""
    arch = "ARM_64" if architecture(instance_types[0]) == "arm64" else "x86_64"
    return f"AL2023_{arch}_{'NVIDIA' if gpu else 'STANDARD'}"

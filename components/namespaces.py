"""Namespaces with their Pod Security Admission level."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s


# A container that meets Pod Security `restricted` with no writes to its image.
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True}


def pod_security_labels(enforce: str, warn: str | None = None) -> dict[str, str]:
    """Pod Security Admission labels: `enforce` blocks, `warn` and `audit` report (default: same level)."""
    warn = warn or enforce
    return {"pod-security.kubernetes.io/enforce": enforce, "pod-security.kubernetes.io/warn": warn,
            "pod-security.kubernetes.io/audit": warn}


def namespace(name: str, opts: pulumi.ResourceOptions, pod_security: str = "baseline",
              labels: dict[str, str] | None = None, resource_name: str | None = None,
              annotations: dict[str, str] | None = None) -> k8s.core.v1.Namespace:
    """A namespace enforcing `pod_security` (privileged, baseline, restricted), warning at `restricted`."""
    metadata = {"name": name, "labels": {**(labels or {}), **pod_security_labels(pod_security, "restricted")}}
    if annotations:
        metadata["annotations"] = annotations
    return k8s.core.v1.Namespace(resource_name or name, metadata=metadata, opts=opts)

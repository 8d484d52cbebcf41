"""Helpers for assertions on in-cluster resources recorded by the mock engine."""

from __future__ import annotations

from typing import Any

from pulumi.runtime import rpc

from ops.engine import Evaluation, Registration

RELEASE = "kubernetes:helm.sh/v3:Release"


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def reveal(value: Any) -> Any:
    """The value with every secret wrapper removed."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def release(evaluation: Evaluation, name: str) -> Registration:
    return evaluation.one(RELEASE, name)


def values(evaluation: Evaluation, name: str) -> dict[str, Any]:
    return release(evaluation, name).inputs["values"]


def kubernetes_objects(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Every Kubernetes object the program creates itself (not Helm releases, not CRD instances)."""
    return [reveal(r.inputs) for r in evaluation.registrations
            if r.type.startswith("kubernetes:") and r.type != RELEASE and r.custom and not r.read
            and r.type.split(":")[1].split("/")[0] in ("core", "storage.k8s.io", "rbac.authorization.k8s.io",
                                                       "networking.k8s.io", "policy", "apps")]

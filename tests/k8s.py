"""Helpers for assertions on in-cluster resources recorded by the mock engine."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema
import yaml
from pulumi.runtime import rpc

from components.crds import BUNDLES, CRD_ROOT

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


class _CrdLoader(yaml.CSafeLoader):
    """The C safe loader, reading a bare `=` (YAML 1.1's value tag, found in enum lists) as the string it is."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


@functools.lru_cache(maxsize=None)
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> the openAPIV3Schema of every CRD the platform applies (components/crds)."""
    schemas = {}
    for path in CRD_ROOT.glob("*/*.yaml"):
        for document in yaml.load_all(path.read_text(), Loader=_CrdLoader):
            if document and document.get("kind") == "CustomResourceDefinition":
                for version in document["spec"]["versions"]:
                    api = f"{document['spec']['group']}/{version['name']}"
                    schemas[(api, document["spec"]["names"]["kind"])] = _python_patterns(
                        version["schema"]["openAPIV3Schema"])
    return schemas


def _python_patterns(schema: Any) -> Any:
    """Go's regexp takes inline flags anywhere (`^(?i)...`); Python's only at the start."""
    if isinstance(schema, dict):
        return {k: (v.replace("^(?i)", "(?i)^") if k == "pattern" and isinstance(v, str) else _python_patterns(v))
                for k, v in schema.items()}
    if isinstance(schema, list):
        return [_python_patterns(v) for v in schema]
    return schema


def is_custom(obj: dict[str, Any]) -> bool:
    """An instance of a CRD the platform applies."""
    return obj["apiVersion"].split("/")[0] in BUNDLES


@functools.lru_cache(maxsize=None)
def _validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    schema = crd_schemas()[(api_version, kind)]
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema)


def validate_custom(obj: dict[str, Any]) -> None:
    """Check a custom object against its CRD's schema (metadata is the API server's to check)."""
    _validator(obj["apiVersion"], obj["kind"]).validate({k: v for k, v in obj.items() if k != "metadata"})

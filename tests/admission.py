"""ValidatingAdmissionPolicies evaluated as the API server would, with a CEL engine (cel-expr-python, with the
strings and optional extensions Kubernetes enables): match constraints and the binding's selectors, match
conditions, variables in order, then every validation; the answer is what the request would get."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_optional, ext_strings

from components.admission import TENANT_GROUP

_ENV = cel.NewEnv(variables={name: cel.Type.DYN for name in (
    "object", "oldObject", "request", "namespaceObject", "variables", "params")},
    extensions=[ext_strings.ExtStrings(), ext_optional.ExtOptional()])


@functools.lru_cache(maxsize=None)
def _compiled(expression: str):
    return _ENV.compile(expression)


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    return _compiled(expression).eval(data=data).plain_value()


@dataclass
class Attempt:
    """An API request in a team namespace."""

    resource: tuple[str, str]  # (API group, resource)
    object: dict | None
    operation: str = "CREATE"
    old_object: dict | None = None
    namespace: str = "payments"
    groups: list[str] = field(default_factory=lambda: [TENANT_GROUP, "system:authenticated"])
    username: str = "arn:aws:sts::111122223333:assumed-role/payments-developers/alice"
    namespace_labels: dict[str, str] = field(default_factory=lambda: {"team": "payments"})
    namespace_annotations: dict[str, str] = field(default_factory=dict)


def _selected(selector: dict | None, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        present = expression["key"] in labels
        if (expression["operator"] == "Exists") != present:
            return False
    return True


def verdict(policy: dict, binding: dict, attempt: Attempt) -> tuple[list[str], list[str]]:
    """(denials, warnings): the messages of the failed validations, by the binding's actions; both empty when the
    policy does not apply or every validation holds."""
    spec, match = policy["spec"], binding["spec"]["matchResources"]
    group, resource = attempt.resource
    if not any(group in r["apiGroups"] and resource in r["resources"] and attempt.operation in r["operations"]
               for r in spec["matchConstraints"]["resourceRules"]):
        return [], []
    if not _selected(match.get("namespaceSelector"), attempt.namespace_labels):
        return [], []
    if match.get("objectSelector") and not any(
            _selected(match["objectSelector"], (o or {}).get("metadata", {}).get("labels") or {})
            for o in (attempt.object, attempt.old_object) if o is not None):
        return [], []
    data: dict[str, Any] = {
        "object": attempt.object, "oldObject": attempt.old_object,
        "request": {"operation": attempt.operation, "namespace": attempt.namespace,
                    "userInfo": {"username": attempt.username, "groups": attempt.groups}},
        "namespaceObject": {"metadata": {"name": attempt.namespace, "labels": attempt.namespace_labels,
                                         "annotations": attempt.namespace_annotations}},
        "variables": {},
    }
    if not all(evaluate(c["expression"], data) is True for c in spec.get("matchConditions", [])):
        return [], []
    for variable in spec.get("variables", []):
        data["variables"] = {**data["variables"], variable["name"]: evaluate(variable["expression"], data)}
    failed = [v["message"] for v in spec["validations"] if evaluate(v["expression"], data) is not True]
    actions = binding["spec"]["validationActions"]
    return (failed if "Deny" in actions else []), (failed if "Warn" in actions else [])

"""IAM's policy evaluation, enough of it to try the platform's policies against requests offline.

No library evaluates conditions (moto checks StringEquals only and passes every other operator), so this
follows AWS's documented logic: an explicit Deny wins, else an Allow is needed; a role's permissions are
what both its policies and its boundary allow. Wildcards `*` and `?`; operators String*, Arn*, Null, Bool,
with `ForAnyValue:`/`ForAllValues:` and `...IfExists`. An operator it does not know fails the test.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    action: str
    resource: str = "*"
    context: dict[str, Any] = field(default_factory=dict)  # condition key -> value (str or list)
    principal: str | None = None


def _list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard(pattern: str, value: str, case: bool) -> bool:
    return re.fullmatch(fnmatch.translate(pattern), value, 0 if case else re.IGNORECASE) is not None


_NEGATED = {"StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike"}


def _compare(operator: str, expected: str, actual: str) -> bool:
    if operator in ("StringEquals", "ArnEquals"):
        return expected == actual
    if operator in ("StringLike", "ArnLike"):
        return _wildcard(expected, actual, case=True)
    if operator == "Bool":
        return expected.lower() == str(actual).lower()
    raise AssertionError(f"condition operator {operator} is not modelled")


def _condition(operator: str, key: str, expected: Any, context: dict[str, Any]) -> bool:
    quantifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    present = key in context
    if operator == "Null":
        return (str(_list(expected)[0]).lower() == "true") == (not present)
    if not present:
        return if_exists or operator in _NEGATED
    negated = operator in _NEGATED
    positive = operator.replace("Not", "", 1) if negated else operator
    actual = [str(a) for a in _list(context[key])]
    expected_values = [str(e) for e in _list(expected)]

    def matches(value: str) -> bool:
        return any(_compare(positive, e, value) for e in expected_values)

    if quantifier == "ForAllValues":
        result = all(matches(a) for a in actual)
    else:
        result = any(matches(a) for a in actual)
    return not result if negated else result


def _conditions_hold(statement: dict, context: dict[str, Any]) -> bool:
    return all(_condition(operator, key, expected, context)
               for operator, block in (statement.get("Condition") or {}).items()
               for key, expected in block.items())


def _matches(statement: dict, request: Request) -> bool:
    if "NotAction" in statement:
        if any(_wildcard(a, request.action, case=False) for a in _list(statement["NotAction"])):
            return False
    elif not any(_wildcard(a, request.action, case=False) for a in _list(statement.get("Action", []))):
        return False
    if "NotResource" in statement:
        if any(_wildcard(r, request.resource, case=True) for r in _list(statement["NotResource"])):
            return False
    elif "Resource" in statement and not any(_wildcard(r, request.resource, case=True)
                                             for r in _list(statement["Resource"])):
        return False
    if "Principal" in statement and request.principal is not None:
        principals = [p for values in statement["Principal"].values() for p in _list(values)] \
            if isinstance(statement["Principal"], dict) else _list(statement["Principal"])
        if request.principal not in principals and "*" not in principals:
            return False
    return _conditions_hold(statement, request.context)


def decision(policy: dict, request: Request) -> str:
    """"deny" (explicit), "allow", or "implicit" (no statement allows it)."""
    matched = [s for s in _list(policy["Statement"]) if _matches(s, request)]
    if any(s["Effect"] == "Deny" for s in matched):
        return "deny"
    return "allow" if matched else "implicit"


def allowed(request: Request, *policies: dict, boundary: dict | None = None) -> bool:
    """Whether a role with `policies` (identity policies) and `boundary` may make `request`."""
    decisions = [decision(p, request) for p in policies]
    if "deny" in decisions or "allow" not in decisions:
        return False
    return boundary is None or decision(boundary, request) == "allow"

"""The private Pulumi SDK names the offline evaluation uses are listed, present in the pinned SDK, and reported by
name when an upgrade removes one."""

from __future__ import annotations

import ast
from pathlib import Path

from ops import engine

ROOT = Path(__file__).resolve().parent.parent


def test_every_private_sdk_name_the_evaluation_uses_exists_in_the_pinned_sdk():
    assert engine.missing_sdk_names() == [], "the Pulumi SDK changed: see ops/engine.PRIVATE_SDK_NAMES"


def test_a_removed_name_is_reported_with_what_it_was_for():
    gone = engine.missing_sdk_names({"pulumi.runtime.rpc._no_such_sig": "tells secrets apart",
                                     "pulumi.no_such_module.thing": "nothing"})
    assert gone == ["pulumi.runtime.rpc._no_such_sig (tells secrets apart)", "pulumi.no_such_module.thing (nothing)"]


def _private_uses(path: Path) -> set[str]:
    """`from pulumi... import _name`, and `<module>._name` of every Pulumi module a product module imports."""
    tree = ast.parse(path.read_text())
    modules, found = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pulumi"):
            found |= {f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")}
            modules |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name.startswith("pulumi")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                and isinstance(node.value, ast.Name) and node.value.id in modules:
            found.add(f"{node.value.id}.{node.attr}")
    return found


def test_the_product_uses_no_private_sdk_name_it_does_not_list():
    listed = {name.rsplit(".", 1)[1] for name in engine.PRIVATE_SDK_NAMES}
    for module in [*(ROOT / "ops").glob("*.py"), *(ROOT / "stacks").glob("*.py")]:
        unlisted = {use for use in _private_uses(module) if use.rsplit(".", 1)[1] not in listed}
        assert not unlisted, f"{module.name} uses private SDK names not in ops/engine.PRIVATE_SDK_NAMES: {unlisted}"

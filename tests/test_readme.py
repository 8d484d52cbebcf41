"""The README's configuration table is the user's reference: every key the schema accepts is in it."""

from __future__ import annotations

import typing

from pydantic import BaseModel

from ops.stackfiles import PROJECT_DIR
from stacks.schema import PlatformConfig


def documented_keys() -> list[str]:
    """`eks-platform:<key>` for each top-level key, and `<block>.<key>` for each key of a block (not of a map)."""
    keys = []
    for name, field in PlatformConfig.model_fields.items():
        alias = field.alias or name
        blocks = [a for a in (typing.get_args(field.annotation) or (field.annotation,))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if blocks and typing.get_origin(field.annotation) is not dict:
            keys += [f"eks-platform:{alias}.{f.alias or sub}" for sub, f in blocks[0].model_fields.items()]
        else:
            keys.append(f"eks-platform:{alias}")
    return keys


def test_every_configuration_key_is_in_the_readme():
    readme = (PROJECT_DIR / "README.md").read_text()
    keys = documented_keys()
    assert "eks-platform:backup.schedule" in keys and "eks-platform:teams" in keys
    block_rows = {k.split(".")[0] for k in keys if f"`{k.split('.')[0]}`" in readme}
    missing = [k for k in keys if f"`{k}`" not in readme and k.split(".")[0] not in block_rows]
    assert missing == []

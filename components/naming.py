"""Physical names derived to fit AWS's limits, stable across runs (a hash, never a random suffix)."""

from __future__ import annotations

import hashlib

IAM_NAME_PREFIX_LIMIT = 38  # IAM adds a 26-character unique suffix to a name prefix: 64 in all


def fit(name: str, limit: int, keep_end: str = "") -> str:
    """`name` if it fits in `limit` characters, else its start, a short hash of the whole name and `keep_end`."""
    if len(name) + len(keep_end) <= limit:
        return f"{name}{keep_end}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    head = name[:limit - len(keep_end) - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}{keep_end}"


def iam_name_prefix(name: str) -> str:
    """A role's `name_prefix`: Pulumi's default name (the logical name and 8 characters) passes 64 for long
    cluster and node group names, so the prefix is cut to fit and IAM completes it."""
    return fit(name, IAM_NAME_PREFIX_LIMIT, keep_end="-")

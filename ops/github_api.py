"""GitHub's REST API with the standard library (`ops.gate` runs before anything is installed)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

DEFAULT_API = "https://api.github.com"


class NotFound(Exception):
    """The API answered 404."""


def call(api: str, path: str, token: str, method: str = "GET", body: Any = None) -> Any:
    """The decoded answer to `method path` (None for an empty one); `NotFound` for a 404."""
    request = urllib.request.Request(f"{api}{path}", method=method, headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28", **({"Content-Type": "application/json"} if body is not None else {})},
        data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            raise NotFound(path) from None
        raise
    return json.loads(text) if text.strip() else None

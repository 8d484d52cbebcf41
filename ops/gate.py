"""`python -m ops.gate --stack S`: refuse to deploy staging or prod through an unprotected environment.

GitHub creates an environment that a job names but does not exist yet, with no protection at all, so a
merge could deploy straight to prod. Run first in the deploy job: it reads the stack's environment
through the GitHub API (`GITHUB_REPOSITORY`, `GITHUB_TOKEN` with `actions: read`) and fails unless it
has required reviewers and a deployment branch rule. dev deploys without approval. Standard library
only, so it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any, TextIO

PROTECTED_STACKS = ("staging", "prod")


def problems(environment: dict[str, Any] | None, stack: str) -> list[str]:
    if stack not in PROTECTED_STACKS:
        return []
    if environment is None:
        return [f"the GitHub environment '{stack}' does not exist: create it with required reviewers and a "
                "deployment branch rule (Settings > Environments) before deploying"]
    rules = environment.get("protection_rules") or []
    reviewers = [r for rule in rules if rule.get("type") == "required_reviewers" for r in rule.get("reviewers") or []]
    found = []
    if not reviewers:
        found.append(f"environment '{stack}' has no required reviewers: add at least one")
    if not environment.get("deployment_branch_policy"):
        found.append(f"environment '{stack}' accepts deployments from any branch: limit it to main")
    return found


def fetch_environment(api: str, repository: str, stack: str, token: str) -> dict[str, Any] | None:
    request = urllib.request.Request(f"{api}/repos/{repository}/environments/{stack}", headers={
        "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def main(stack: str, out: TextIO, err: TextIO, environ: dict[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    if stack not in PROTECTED_STACKS:
        print(f"{stack}: deploys without approval", file=out)
        return 0
    missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not environ.get(name)]
    if missing:
        print(f"error: {', '.join(missing)} not set: run this in the deploy workflow", file=err)
        return 2
    try:
        environment = fetch_environment(environ.get("GITHUB_API_URL", "https://api.github.com"),
                                        environ["GITHUB_REPOSITORY"], stack, environ["GITHUB_TOKEN"])
    except (urllib.error.URLError, OSError, ValueError) as error:
        print(f"error: could not read the GitHub environment '{stack}': {error}", file=err)
        return 1
    found = problems(environment, stack)
    for problem in found:
        print(f"::error::{problem}", file=err)
    if not found:
        print(f"{stack}: environment has required reviewers and a branch rule", file=out)
    return 1 if found else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m ops.gate", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    sys.exit(main(parser.parse_args().stack, sys.stdout, sys.stderr))

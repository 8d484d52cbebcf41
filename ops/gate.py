"""`python -m ops.gate --stack S`: the first step of every job that deploys, destroys or previews on main.

Decides from the stack file, never from the stack's name: its environment (dev, staging, prod; anything
else counts as prod), its account and region, the roles and the GitHub environments its jobs use; writes
them as step outputs (`$GITHUB_OUTPUT`). Then refuses to go on unless the GitHub environments are
protected as the trust model needs: the stack's environment limited to the main branch, with required
reviewers, self-review prevented and no administrator bypass for staging and prod; for prod also the
`<stack>-preview` environment whose approval lets a preview read prod's secrets. GitHub creates a missing
environment with no protection, so a missing one fails too. Every problem says which setting to change.
Reads the API with `GITHUB_REPOSITORY` and `GITHUB_TOKEN` (`actions: read`).

`python -m ops.gate --matrix`: every EKS stack, in promotion order (dev, staging, prod), as a JSON matrix (a
`target: kubeconfig` stack is never CI's to deploy).
Needs only PyYAML (`ops/gate-requirements.txt`), so it runs before the project is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ops import github_api
from ops.yaml12 import STACKS_DIR, StackFileError, parse, stack_names
from stacks import trust

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class StackInfo:
    stack: str
    environment: str
    account: str
    region: str

    @property
    def approved_deploys(self) -> bool:
        return self.environment in trust.APPROVED_DEPLOYS

    @property
    def preview_environment(self) -> str:
        return trust.preview_environment(self.stack, self.environment)

    def outputs(self, backend: str | None = None) -> dict[str, str]:
        return {
            "stack": self.stack, "environment": self.environment, "account": self.account, "region": self.region,
            "protected": str(self.approved_deploys).lower(),
            "deploy-role": trust.deploy_role_arn(self.account, self.stack, self.region),
            "preview-role": trust.preview_role_arn(self.account, self.stack, self.environment, self.region),
            "preview-environment": self.preview_environment,
            "backend": backend or trust.backend_url(trust.state_bucket(self.account, self.region), self.region),
        }


class GateError(Exception):
    """The stack file cannot tell what the job may do."""


class LocalStack(GateError):
    """A `target: kubeconfig` stack: never CI's to deploy."""


def read_stack(stack: str, project_dir: Path = STACKS_DIR) -> StackInfo:
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not re.fullmatch(r"[\w.-]+", stack) or not path.is_file():
        raise GateError(f"no stack file Pulumi.{stack}.yaml; stacks: {', '.join(stack_names(project_dir))}")
    try:
        config = (parse(path) or {}).get("config") or {}
    except (StackFileError, AttributeError) as error:
        raise GateError(f"{path.name} cannot be read: {error}") from None
    if config.get("eks-platform:target") == "kubeconfig":
        raise LocalStack(f"{path.name} is a `target: kubeconfig` stack (a cluster of your own): CI never deploys it "
                        "with cloud credentials; `python -m ops local up` does, on your machine or the local-target "
                        "job")
    environment = config.get("eks-platform:environment")
    account, region = str(config.get("eks-platform:accountId", "")), config.get("aws:region")
    if not re.fullmatch(r"\d{12}", account):
        raise GateError(f"{path.name}: eks-platform:accountId must be the stack's 12-digit AWS account ID")
    if not isinstance(region, str) or not region:
        raise GateError(f"{path.name}: aws:region is not set")
    return StackInfo(stack, environment if environment in ENVIRONMENTS else "prod", account, region)


def matrix(project_dir: Path = STACKS_DIR, backend: str | None = None) -> dict[str, Any]:
    stacks = []
    for name in stack_names(project_dir):
        try:
            stacks.append(read_stack(name, project_dir))
        except LocalStack:
            continue
    stacks.sort(key=lambda s: (ENVIRONMENTS.index(s.environment), s.stack))
    return {"include": [s.outputs(backend) for s in stacks]}


def _setting(environment: str) -> str:
    return f"Settings > Environments > {environment}"


def environment_problems(name: str, environment: dict[str, Any] | None, branch_policies: list[dict] | None,
                         approvals: bool, main_only: bool) -> list[str]:
    """What is wrong with GitHub environment `name` for its role, each with the setting that fixes it."""
    if environment is None:
        return [f"the GitHub environment '{name}' does not exist (GitHub would create it unprotected on first use): "
                f"create it in Settings > Environments > New environment, then run this again"]
    found = []
    rules = environment.get("protection_rules") or []
    reviewing = [rule for rule in rules if rule.get("type") == "required_reviewers"]
    if approvals:
        if not any(rule.get("reviewers") for rule in reviewing):
            found.append(f"environment '{name}' has no required reviewers: add at least one ({_setting(name)} > "
                         "Required reviewers)")
        elif not all(rule.get("prevent_self_review") for rule in reviewing):
            found.append(f"environment '{name}' lets the author of a change approve it: tick 'Prevent self-review' "
                         f"({_setting(name)})")
        if environment.get("can_admins_bypass", True):
            found.append(f"environment '{name}' lets administrators skip its rules: untick 'Allow administrators to "
                         f"bypass configured protection rules' ({_setting(name)})")
    if main_only:
        policy = environment.get("deployment_branch_policy")
        fix = (f"set Deployment branches and tags to 'Selected branches and tags' with the one rule `main` "
               f"({_setting(name)})")
        if not policy:
            found.append(f"environment '{name}' accepts deployments from any branch: {fix}")
        elif policy.get("protected_branches"):
            found.append(f"environment '{name}' accepts every protected branch, not only main: {fix}")
        else:
            rules_found = sorted((p.get("type", "branch"), p.get("name")) for p in branch_policies or [])
            if rules_found != [("branch", "main")]:
                found.append(f"environment '{name}' accepts {', '.join(n for _, n in rules_found) or 'no branch'}: "
                             f"{fix}")
    return found


def _environment(api: str, repository: str, name: str, token: str) -> tuple[dict | None, list[dict] | None]:
    try:
        environment = github_api.call(api, f"/repos/{repository}/environments/{name}", token)
    except github_api.NotFound:
        return None, None
    policy = environment.get("deployment_branch_policy") or {}
    policies = None
    if policy.get("custom_branch_policies"):
        policies = github_api.call(api, f"/repos/{repository}/environments/{name}/deployment-branch-policies",
                                   token).get("branch_policies", [])
    return environment, policies


def checks(info: StackInfo) -> list[tuple[str, bool, bool]]:
    """(GitHub environment, needs approvals, limited to main) that a stack's jobs use."""
    wanted = [(info.stack, info.approved_deploys, True)]
    if info.preview_environment:
        wanted.append((info.preview_environment, True, False))
    return wanted


def _write_outputs(values: dict[str, str], environ: dict[str, str]) -> None:
    path = environ.get("GITHUB_OUTPUT")
    if path:
        with open(path, "a") as output:
            output.writelines(f"{key}={value}\n" for key, value in values.items())


def main(stack: str, out: TextIO, err: TextIO, environ: dict[str, str] | None = None,
         project_dir: Path = STACKS_DIR) -> int:
    environ = os.environ if environ is None else environ
    try:
        info = read_stack(stack, project_dir)
    except GateError as error:
        print(f"::error::{error}", file=err)
        return 2
    _write_outputs(info.outputs(environ.get("PULUMI_BACKEND_URL") or None), environ)
    missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not environ.get(name)]
    if missing:
        print(f"error: {', '.join(missing)} not set: run this in the deploy workflow", file=err)
        return 2
    api = environ.get("GITHUB_API_URL", github_api.DEFAULT_API)
    found = []
    for name, approvals, main_only in checks(info):
        try:
            environment, policies = _environment(api, environ["GITHUB_REPOSITORY"], name, environ["GITHUB_TOKEN"])
        except (urllib.error.URLError, OSError, ValueError) as error:
            print(f"error: could not read the GitHub environment '{name}': {error}", file=err)
            return 1
        found += environment_problems(name, environment, policies, approvals, main_only)
    for problem in found:
        print(f"::error::{problem}", file=err)
    if not found:
        print(f"{stack} ({info.environment}, account {info.account}): "
              + ", ".join(n for n, _, _ in checks(info)) + " protected as required", file=out)
    return 1 if found else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m ops.gate", description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--stack")
    which.add_argument("--matrix", action="store_true", help="print every stack as a JSON matrix and exit")
    args = parser.parse_args()
    if args.matrix:
        try:
            print(json.dumps(matrix(backend=os.environ.get("PULUMI_BACKEND_URL") or None)))
        except GateError as error:
            print(f"::error::{error}", file=sys.stderr)
            sys.exit(2)
        sys.exit(0)
    sys.exit(main(args.stack, sys.stdout, sys.stderr))

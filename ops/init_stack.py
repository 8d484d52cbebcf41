"""`python -m ops init-stack NAME --environment dev|staging|prod --region R --account-id ID`: a new stack.

Writes `Pulumi.<NAME>.yaml` with only what the profile cannot know (region, account, environment), plus the
secrets provider when bootstrap has already made the stack's key; everything else comes from the
environment's profile and can be overridden later. The file is validated before it is written, an existing
one is never overwritten, and the next commands are printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TextIO

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ops import secrets_provider
from ops.stackfiles import STACKS_DIR, raw_config, read_stack_config
from stacks import trust
from stacks.config import load_raw
from stacks.problems import ConfigError

STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")  # a Pulumi stack, a cluster-name suffix, a CI environment


def stack_file_text(name: str, environment: str, region: str, account_id: str) -> str:
    lines = ["config:", f"  aws:region: {region}", f"  eks-platform:environment: {environment}",
              f'  eks-platform:accountId: "{account_id}"', f"  eks-platform:clusterName: eks-platform-{name}"]
    if environment == "prod":
        lines += ["  # Prod is never silent: set the two secrets, then delete `delivery: none`:",
                  f"  #   pulumi config set -s {name} --secret eks-platform:slackWebhookUrl https://hooks.slack.com/...",
                  f"  #   pulumi config set -s {name} --secret --path eks-platform:alerting.heartbeatUrl https://...",
                  "  eks-platform:alerting:", "    delivery: none"]
    return "\n".join(lines) + "\n"


def _write_provider_if_bootstrapped(path: Path, name: str, region: str) -> bool:
    """With the stack's own KMS key from bootstrap visible to the credentials at hand, write its secrets provider
    and a data key into the file (as bootstrap does); else leave that to bootstrap."""
    alias = trust.secrets_key_alias(name)
    kms = boto3.session.Session().client("kms", region_name=region)
    try:
        key_arn = kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"]
        secrets_provider.ensure(path, kms, alias, region, key_arn)
    except (BotoCoreError, ClientError):
        return False
    return True


def main(name: str, environment: str, region: str, account_id: str, out: TextIO, err: TextIO,
         project_dir: Path = STACKS_DIR) -> int:
    if not STACK_NAME.match(name):
        print(f"error: stack name {name!r}: 2-32 lowercase letters, digits and '-', starting with a letter",
              file=err)
        return 2
    path = project_dir / f"Pulumi.{name}.yaml"
    if path.exists():
        print(f"error: {path.name} exists: init-stack never overwrites a stack file (edit it, or delete it first)",
              file=err)
        return 1
    path.write_text(stack_file_text(name, environment, region, account_id))
    try:
        load_raw(name, raw_config(read_stack_config(name, project_dir)))
    except ConfigError as error:
        path.unlink()
        print(f"error: {error}", file=err)
        return 2
    provider = _write_provider_if_bootstrapped(path, name, region)
    print(f"wrote {path.name} ({environment}, {region}, account {account_id}); next:", file=out)
    if not provider:
        print(f"  AWS_PROFILE=<admin of {account_id}> python -m ops bootstrap --stack {name} --github-repo OWNER/REPO"
              "   # state bucket, this stack's secrets key (written into the file), CI roles", file=out)
    print(f"  python -m ops plan --stack {name}        # offline: what it would build, and what it would cost "
          "(--cost)", file=out)
    print(f"  python -m ops preflight --stack {name}   # the account and region can take it", file=out)
    print(f"  git add {path.name} && git commit        # the deploy workflow picks the stack up from its file",
          file=out)
    return 0

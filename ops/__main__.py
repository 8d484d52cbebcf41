"""Operator commands: `python -m ops <command> ...`.

Every command runs inside one error boundary (`ops.errors`): a failure of AWS, the cluster or the network
is one line with its cause and fix and exit code 1; usage errors exit 2; `--debug` shows the traceback."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from ops import (bootstrap, cleanup, errors, helm_storage, init_stack, local, plan, preflight, teardown, upgrade_plan,
                 validate)
from ops.stackfiles import is_local_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description="eks-platform operator commands")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="evaluate a stack offline on Pulumi's mock engine")
    plan_parser.add_argument("stack", nargs="?", help="stack name: the <stack> of Pulumi.<stack>.yaml (or --stack)")
    plan_parser.add_argument("--stack", dest="stack_option", help="stack name, as every other command takes it")
    plan_parser.add_argument("--cost", action="store_true", help="also print a monthly cost estimate")
    plan_parser.add_argument("--json", type=Path, dest="json_file", help="write the whole evaluation to this file")
    plan_parser.add_argument("--diff", type=Path, dest="previous", help="a saved --json plan to compare with")
    init = commands.add_parser("init-stack", help="write a new, minimal, valid Pulumi.<stack>.yaml from a profile")
    init.add_argument("name", help="the new stack's name")
    init.add_argument("--environment", required=True, choices=["dev", "staging", "prod"])
    init.add_argument("--region", required=True, help="its AWS region, e.g. eu-west-1")
    init.add_argument("--account-id", required=True, help="the 12-digit AWS account it deploys into")
    boot = commands.add_parser("bootstrap", help="one account's state store, secrets keys and CI identities "
                                                 "(idempotent)")
    boot.add_argument("--bucket", help="S3 bucket for Pulumi state (default eks-platform-state-<account>-<region>)")
    boot.add_argument("--region", help="region of the state store (default: the first stack's)")
    boot.add_argument("--kms-alias", default="alias/eks-platform-pulumi", help="alias/NAME of the state bucket's key")
    boot.add_argument("--stack", action="append", default=[], dest="stacks",
                      help="a stack of this account: its secrets key, written into Pulumi.<stack>.yaml (repeatable)")
    boot.add_argument("--github-repo", help="OWNER/REPO: also create the GitHub OIDC provider and CI roles")
    pre = commands.add_parser("preflight", help="check the account and region can take the stack")
    pre.add_argument("--stack", required=True)
    check = commands.add_parser("validate", help="check a deployed cluster is healthy (like kops validate)")
    check.add_argument("--stack", required=True)
    check.add_argument("--wait", help="keep checking up to this long, e.g. 10m")
    clean = commands.add_parser("cleanup", help="after pulumi destroy, remove what EKS re-created (dry run without --yes)")
    clean.add_argument("--stack", required=True)
    clean.add_argument("--yes", action="store_true", help="delete what is found")
    down = commands.add_parser("teardown", help="find (and with --yes delete) what AWS made for the cluster")
    down.add_argument("--stack", required=True)
    down.add_argument("--yes", action="store_true", help="delete what is found (default: report only)")
    down.add_argument("--delete-volumes", action="store_true", help="also delete volumes a Retain stack keeps")
    storage = commands.add_parser("helm-storage", help="move Helm's release records from Secrets to ConfigMaps "
                                                       "(once, on a cluster deployed before; dry run without --yes)")
    storage.add_argument("--stack", required=True)
    storage.add_argument("--yes", action="store_true", help="move what is found")
    upgrade = commands.add_parser("upgrade-plan", help="the ordered, checked plan for a Kubernetes minor upgrade")
    upgrade.add_argument("--stack", required=True)
    upgrade.add_argument("--to", required=True, help="the next minor, e.g. 1.36")
    on_laptop = commands.add_parser("local", help="the platform on a kind cluster of your own (the local stack)")
    on_laptop.add_argument("action", choices=["up", "down", "status"])
    args = parser.parse_args(argv)
    if args.command == "plan":
        if args.stack and args.stack_option and args.stack != args.stack_option:
            parser.error(f"two stacks given: {args.stack} and --stack {args.stack_option}")
        args.stack = args.stack or args.stack_option
        if not args.stack:
            parser.error("plan needs a stack: python -m ops plan --stack <stack>")
    try:
        return _run(args, parser)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        reason = errors.explain(error)
        if args.debug:
            raise
        if reason is None:
            reason = (f"unexpected {type(error).__name__}: {error} (a bug of eks-platform: run again with --debug "
                      "for the traceback and report it)")
        print(f"error: {reason}", file=sys.stderr)
        return 1


EKS_ONLY_COMMANDS = ("upgrade-plan", "helm-storage", "teardown", "cleanup", "preflight", "bootstrap")


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command in EKS_ONLY_COMMANDS:
        for stack in getattr(args, "stacks", None) or [getattr(args, "stack", None)]:
            if stack and is_local_stack(stack):
                print(f"error: {args.command} is for EKS stacks; Pulumi.{stack}.yaml has target: kubeconfig (a "
                      "cluster of your own: python -m ops local up|down|status, python -m ops validate)",
                      file=sys.stderr)
                return 2
    if args.command == "local":
        return local.main(args.action, sys.stdout, sys.stderr)
    if args.command == "init-stack":
        return init_stack.main(args.name, args.environment, args.region, args.account_id, sys.stdout, sys.stderr)
    if args.command == "upgrade-plan":
        return upgrade_plan.main(args.stack, args.to, sys.stdout, sys.stderr)
    if args.command == "helm-storage":
        return helm_storage.main(args.stack, args.yes, sys.stdout, sys.stderr)
    if args.command == "teardown":
        return teardown.main(args.stack, args.yes, args.delete_volumes, sys.stdout, sys.stderr)
    if args.command == "cleanup":
        return cleanup.main(args.stack, args.yes, sys.stdout, sys.stderr)
    if args.command == "validate":
        return validate.main(args.stack, args.wait, sys.stdout, sys.stderr)
    if args.command == "preflight":
        return preflight.main(args.stack, sys.stdout, sys.stderr)
    if args.command == "bootstrap":
        if not args.kms_alias.startswith("alias/"):
            parser.error("--kms-alias must look like alias/NAME")
        if args.github_repo and not re.fullmatch(r"[\w.-]+/[\w.-]+", args.github_repo):
            parser.error("--github-repo must look like OWNER/REPO")
        if args.github_repo and not args.stacks:
            parser.error("--github-repo needs the stacks to make deploy roles for: --stack dev --stack prod ...")
        return bootstrap.main(args.bucket, args.region, args.kms_alias, sys.stdout, stacks=args.stacks,
                              github_repo=args.github_repo, err=sys.stderr)
    if args.command == "plan":
        return plan.main(args.stack, sys.stdout, sys.stderr, cost=args.cost, json_file=args.json_file,
                         previous=args.previous)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Operator commands: `python -m ops <command> ...`."""

from __future__ import annotations

import argparse
import sys

from ops import plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops", description="eks-platform operator commands")
    commands = parser.add_subparsers(dest="command", required=True)
    plan_parser = commands.add_parser("plan", help="evaluate a stack offline on Pulumi's mock engine")
    plan_parser.add_argument("stack", help="stack name: the <stack> of Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    if args.command == "plan":
        return plan.main(args.stack, sys.stdout, sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

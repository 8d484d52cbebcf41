"""CiRunner: a GitHub Actions runner inside the stack's private subnets (an AWS CodeBuild-hosted runner).

The in-cluster layer (namespaces, Helm releases) is reached only through the cluster's API endpoint,
which is private; this runner lives in the VPC so that deploys, previews, validations and destroys can
reach it. A job selects it with `runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`.
Its webhook starts a build only for jobs of the listed workflows (and, where set, of one branch), so a stack
has one runner for main's deploys and another for pull-request previews. The runner's own role may only
run builds in the VPC and write their logs: a job gets AWS credentials only through GitHub OIDC, so the
environment's protection rules still decide who deploys. Its security group lets out HTTPS only (GitHub,
package registries and AWS APIs through the NAT gateways and the S3 endpoint, the API server); DNS, the
instance metadata and time services are not filtered by security groups. The cluster admits it on 443.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from components.naming import iam_name_prefix

CODEBUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"  # 4 vCPUs, 7 GB: pip install, the Pulumi engine and Helm renders


@dataclass
class CiRunnerArgs:
    project_name: str
    github_repo: str
    vpc_id: pulumi.Input[str]
    subnet_ids: pulumi.Input[Sequence[str]]
    cluster_security_group_id: pulumi.Input[str]
    workflows: Sequence[str]
    head_ref: str | None = None
    log_retention_days: int = 30


def webhook_filter_groups(workflows: Sequence[str], head_ref: str | None) -> list[dict]:
    """One filter group: a queued job of one of `workflows` (by name), on `head_ref` when given."""
    filters = [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"},
               {"type": "WORKFLOW_NAME", "pattern": f"^({'|'.join(re.escape(w) for w in workflows)})$"}]
    if head_ref:
        filters.append({"type": "HEAD_REF", "pattern": f"^{re.escape(head_ref)}$"})
    return [{"filters": filters}]


def runner_trust(account: str, region: str, project_name: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceAccount": account},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:codebuild:{region}:{account}:project/{project_name}"}}}]})


def runner_policy(account: str, region: str, log_group_arn: str, subnet_ids: Sequence[str]) -> str:
    """What CodeBuild needs to run builds in the VPC and log them (the AWS documented VPC policy)."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "BuildLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [log_group_arn, f"{log_group_arn}:*"]},
        {"Sid": "VpcNetworkInterfaces", "Effect": "Allow", "Resource": "*", "Action": [
            "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
            "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"]},
        {"Sid": "NetworkInterfacePermission", "Effect": "Allow", "Action": "ec2:CreateNetworkInterfacePermission",
         "Resource": f"arn:aws:ec2:{region}:{account}:network-interface/*",
         "Condition": {"StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                       "ArnEquals": {"ec2:Subnet": [f"arn:aws:ec2:{region}:{account}:subnet/{s}" for s in subnet_ids]}}},
    ]})


def runs_on(project_name: str) -> str:
    return f"codebuild-{project_name}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


class CiRunner(pulumi.ComponentResource):
    project: aws.codebuild.Project

    def __init__(self, name: str, args: CiRunnerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:ci:CiRunner", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region

        log_group = aws.cloudwatch.LogGroup(f"{name}-runner", name=f"/aws/codebuild/{args.project_name}",
                                            retention_in_days=args.log_retention_days, opts=child)
        role = aws.iam.Role(f"{name}-runner", name_prefix=iam_name_prefix(f"{name}-runner"), assume_role_policy=pulumi.Output.all(account, region).apply(
            lambda a: runner_trust(a[0], a[1], args.project_name)), opts=child)
        policy = aws.iam.RolePolicy(f"{name}-runner", role=role.id, policy=pulumi.Output.all(
            account, region, log_group.arn, args.subnet_ids).apply(lambda a: runner_policy(*a)), opts=child)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-runner", vpc_id=args.vpc_id, description=f"CI runner {args.project_name}",
            egress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": ["0.0.0.0/0"],
                     "description": "HTTPS only: GitHub, package registries, AWS APIs, the API server"}],
            tags={"Name": f"{args.project_name}"}, opts=child)
        aws.ec2.SecurityGroupRule(
            f"{name}-runner-to-api", type="ingress", protocol="tcp", from_port=443, to_port=443,
            security_group_id=args.cluster_security_group_id, source_security_group_id=self.security_group.id,
            description=f"{args.project_name} reaches the private API endpoint", opts=child)
        self.project = aws.codebuild.Project(
            f"{name}-runner", name=args.project_name, service_role=role.arn,
            description=f"GitHub Actions runner for {args.github_repo} in the VPC of {name}",
            source={"type": "GITHUB", "location": f"https://github.com/{args.github_repo}.git"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={"compute_type": COMPUTE_TYPE, "image": CODEBUILD_IMAGE, "type": "LINUX_CONTAINER"},
            vpc_config={"vpc_id": args.vpc_id, "subnets": args.subnet_ids,
                        "security_group_ids": [self.security_group.id]},
            logs_config={"cloudwatch_logs": {"group_name": log_group.name}},
            build_timeout=120,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        aws.codebuild.Webhook(f"{name}-runner", project_name=self.project.name, build_type="BUILD",
                              filter_groups=webhook_filter_groups(args.workflows, args.head_ref),
                              opts=child)
        self.runs_on = runs_on(args.project_name)
        self.register_outputs({"projectName": self.project.name, "runsOn": self.runs_on})

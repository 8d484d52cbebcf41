"""The in-VPC CI runner: a CodeBuild-hosted GitHub Actions runner in the private subnets, admitted by
the cluster on 443, whose own role can do nothing but run in the VPC and log."""

from __future__ import annotations

import json
import re

from stacks.cloud import runner_project
from tests.conftest import run_stack

PROJECT = "aws:codebuild/project:Project"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"


def runner(evaluation, purpose: str):
    project = runner_project(evaluation.stack, purpose)
    return next(r for r in evaluation.of_type(PROJECT) if r.inputs["name"] == project)


def test_each_runner_lives_in_the_private_subnets_and_reaches_the_api_endpoint_over_https_only(prod):
    rules = prod.of_type("aws:ec2/securityGroupRule:SecurityGroupRule")
    for purpose in ("deploy", "preview"):
        project = runner(prod, purpose).inputs
        assert project["source"] == {"type": "GITHUB", "location": "https://github.com/acme/eks-platform.git"}
        assert project["vpcConfig"]["subnets"] == prod.outputs["privateSubnetIds"]
        (group_id,) = project["vpcConfig"]["securityGroupIds"]
        (group,) = [g for g in prod.of_type(SECURITY_GROUP) if f"securitygroup-{g.name}" == group_id]  # the mock's id
        assert [(e["protocol"], e["fromPort"], e["toPort"], e["cidrBlocks"]) for e in group.inputs["egress"]] == [
            ("tcp", 443, 443, ["0.0.0.0/0"])]  # HTTPS out only: no SSH, no plain HTTP, no arbitrary ports
        (rule,) = [r for r in rules if r.inputs["sourceSecurityGroupId"] == group_id]
        assert (rule.inputs["type"], rule.inputs["fromPort"], rule.inputs["toPort"]) == ("ingress", 443, 443)
        assert rule.inputs["securityGroupId"] == "sg-cluster"


def test_the_deploy_runner_serves_only_mains_deploy_and_destroy_jobs_and_the_other_only_pull_requests(prod):
    webhooks = {w.inputs["projectName"]: w.inputs["filterGroups"] for w in prod.of_type("aws:codebuild/webhook:Webhook")}
    assert webhooks[runner_project("prod")] == [{"filters": [
        {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}, {"type": "WORKFLOW_NAME", "pattern": "^(deploy|destroy)$"},
        {"type": "HEAD_REF", "pattern": "^refs/heads/main$"}]}]
    assert webhooks[runner_project("prod", "preview")] == [{"filters": [
        {"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}, {"type": "WORKFLOW_NAME", "pattern": "^(pull\\-request)$"}]}]
    deploy = [f["pattern"] for f in webhooks[runner_project("prod")][0]["filters"]]
    assert re.fullmatch(deploy[1], "deploy") and not re.fullmatch(deploy[1], "pull-request")
    assert not re.fullmatch(deploy[1], "deploy-evil") and not re.fullmatch(deploy[2], "refs/heads/main-evil")


def test_the_runner_role_only_runs_builds_in_the_vpc(prod):
    role = next(r for r in prod.of_type("aws:iam/role:Role") if r.name == "acme-prod-runner").inputs
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:codebuild:us-east-1:{prod.settings.account_id}:project/eks-platform-prod-runner"}
    policy = next(p for p in prod.of_type("aws:iam/rolePolicy:RolePolicy") if p.name == "acme-prod-runner").inputs
    actions = {a for s in json.loads(policy["policy"])["Statement"]
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert all(a.startswith(("logs:", "ec2:")) for a in actions)
    assert not [a for a in actions if a.startswith(("sts:", "eks:", "iam:", "s3:", "kms:"))]


def test_without_the_block_there_is_no_runner_and_the_output_says_why():
    evaluation = run_stack("dev", ciRunner=None)
    assert not evaluation.of_type(PROJECT)
    assert evaluation.outputs["ciRunner"].startswith("none: no ciRunner block")


def test_the_in_cluster_layer_can_be_switched_off_for_a_first_deploy(prod):
    first = run_stack("prod", inClusterLayer=False)
    assert not [r for r in first.registrations if r.type.startswith("kubernetes:")]
    assert len(first.of_type(PROJECT)) == 2 and first.one("eks:index:Cluster") and first.of_type("eks:index:ManagedNodeGroup")
    assert "grafanaAdminPassword" not in first.outputs
    assert [r for r in prod.registrations if r.type == "kubernetes:helm.sh/v3:Release"]


def test_a_bad_repository_is_rejected():
    evaluation = run_stack("dev", ciRunner={"githubRepo": "https://github.com/acme/x"})
    (problem,) = evaluation.error.problems
    assert problem.path == "ciRunner.githubRepo" and "OWNER/REPO" in problem.message

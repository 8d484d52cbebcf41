"""The in-VPC CI runner: a CodeBuild-hosted GitHub Actions runner in the private subnets, admitted by
the cluster on 443, whose own role can do nothing but run in the VPC and log."""

from __future__ import annotations

import json

from tests.conftest import run_stack

PROJECT = "aws:codebuild/project:Project"


def test_the_runner_lives_in_the_private_subnets_and_reaches_the_api_endpoint(prod):
    project = prod.one(PROJECT).inputs
    assert project["name"] == "eks-platform-prod-runner"
    assert project["source"] == {"type": "GITHUB", "location": "https://github.com/acme/eks-platform.git"}
    assert project["vpcConfig"]["subnets"] == prod.outputs["privateSubnetIds"]
    assert project["vpcConfig"]["vpcId"] == prod.outputs["vpcId"]
    (runner_group,) = project["vpcConfig"]["securityGroupIds"]
    rule = prod.one("aws:ec2/securityGroupRule:SecurityGroupRule").inputs
    assert (rule["type"], rule["fromPort"], rule["toPort"], rule["protocol"]) == ("ingress", 443, 443, "tcp")
    assert rule["securityGroupId"] == "sg-cluster" and rule["sourceSecurityGroupId"] == runner_group
    webhook = prod.one("aws:codebuild/webhook:Webhook").inputs
    assert webhook["filterGroups"] == [{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}]


def test_the_runner_role_only_runs_builds_in_the_vpc(prod):
    role = next(r for r in prod.of_type("aws:iam/role:Role") if r.name.endswith("-runner")).inputs
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:codebuild:us-east-1:123456789012:project/eks-platform-prod-runner"}
    policy = next(p for p in prod.of_type("aws:iam/rolePolicy:RolePolicy") if p.name.endswith("-runner")).inputs
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
    assert first.one(PROJECT) and first.one("eks:index:Cluster") and first.of_type("eks:index:ManagedNodeGroup")
    assert "grafanaAdminPassword" not in first.outputs
    assert [r for r in prod.registrations if r.type == "kubernetes:helm.sh/v3:Release"]


def test_a_bad_repository_is_rejected():
    evaluation = run_stack("dev", ciRunner={"githubRepo": "https://github.com/acme/x"})
    (problem,) = evaluation.error.problems
    assert problem.path == "ciRunner.githubRepo" and "OWNER/REPO" in problem.message

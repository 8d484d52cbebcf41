"""A stack belongs to one account and fences its own roles: the provider refuses other credentials, every role
it creates carries the boundary, and the config that would break the trust model is refused up front."""

from __future__ import annotations

import json
import shutil

import pytest

from ops.stackfiles import account_sharing_warnings
from stacks import trust
from tests.iam_policy import Request, decision
from tests.conftest import FIXTURE_STACKS, STACKS, run_stack, stack_evaluation, stack_variant

ROLE = "aws:iam/role:Role"


def problems(evaluation) -> dict[str, str]:
    return {p.path: p.message for p in evaluation.error.problems}


@pytest.mark.parametrize("stack", STACKS)
def test_the_aws_provider_refuses_credentials_of_any_other_account(stack):
    evaluation = stack_evaluation(stack)
    (provider,) = [r for r in evaluation.registrations if r.type == "pulumi:providers:aws"]
    # provider inputs travel as JSON text, as the engine hands them to the provider
    assert json.loads(provider.inputs["allowedAccountIds"]) == [evaluation.settings.account_id]


def test_the_example_stacks_live_in_three_accounts():
    assert len({stack_evaluation(s).settings.account_id for s in STACKS}) == 3


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_the_stack_creates_carries_its_boundary_even_inside_pulumi_eks(stack):
    evaluation = stack_evaluation(stack)
    roles = evaluation.of_type(ROLE)
    boundary = trust.boundary_arn(evaluation.settings.account_id, stack)
    assert {r.inputs.get("permissionsBoundary") for r in roles} == {boundary}
    kinds = {r.name.removeprefix(f"acme-{stack}-") for r in roles}
    assert kinds >= {"eksRole",  # the cluster role pulumi-eks makes inside its remote component
                     "general-node", "flow-logs", "vpc-cni", "ebs-csi", "loki", "velero", "cluster-autoscaler",
                     "load-balancer-controller", "runner", "preview-runner"}


def test_a_boundary_of_the_users_own_replaces_bootstraps():
    own = "arn:aws:iam::111122223333:policy/corp-boundary"
    evaluation = stack_variant("dev", ci={"permissionsBoundaryArn": own})
    assert {r.inputs["permissionsBoundary"] for r in evaluation.of_type(ROLE)} == {own}


@pytest.mark.parametrize("stack", STACKS)
def test_workload_identities_trust_only_this_accounts_cluster(stack):
    evaluation = stack_evaluation(stack)
    account, cluster = evaluation.settings.account_id, evaluation.settings.cluster_name
    pod_roles = [r for r in evaluation.of_type(ROLE) if "pods.eks.amazonaws.com" in r.inputs.get("assumeRolePolicy", "")]
    assert len(pod_roles) >= 5  # vpc-cni, EBS CSI, load balancer controller, autoscaler, Velero (and teams')
    associations = {a.inputs["roleArn"]: a.inputs for a in evaluation.of_type(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    associations.update({a["roleArn"]: {"namespace": "kube-system", "serviceAccount": a["serviceAccount"]}
                         for addon in evaluation.of_type("aws:eks/addon:Addon")
                         for a in addon.inputs.get("podIdentityAssociations", [])})
    for role in pod_roles:
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        association = associations[role.outputs["arn"]]
        assert statement["Condition"] == {"StringEquals": {
            "aws:SourceAccount": account, "aws:RequestTag/eks-cluster-name": cluster,
            "aws:RequestTag/kubernetes-namespace": association["namespace"],
            "aws:RequestTag/kubernetes-service-account": association["serviceAccount"]}}, role.name
        other_sa = Request("sts:AssumeRole", principal=None, context={
            "aws:SourceAccount": account, "aws:RequestTag/eks-cluster-name": cluster,
            "aws:RequestTag/kubernetes-namespace": "payments", "aws:RequestTag/kubernetes-service-account": "default"})
        assert decision(json.loads(role.inputs["assumeRolePolicy"]), other_sa) == "implicit"


def test_a_stack_without_an_account_is_told_how_to_find_it():
    found = problems(run_stack("dev", accountId=None))
    assert "get-caller-identity --query Account" in found["accountId"]


@pytest.mark.parametrize("value, hint", [("12345", "quote it"), ("abcdefabcdef", "12-digit"),
                                          ("1234567890123", "12-digit")])
def test_an_account_that_is_not_twelve_digits_is_refused(value, hint):
    assert hint in problems(run_stack("dev", accountId=value))["accountId"]


def test_every_identity_mistake_is_reported_at_once():
    evaluation = run_stack("prod", ci={"permissionsBoundaryArn": "arn:aws:iam::777788889999:role/not-a-policy"},
                           previewRoleArn="arn:aws:iam::777788889999:role/eks-platform-preview",
                           clusterName="eks-platform-deploy-x",
                           teams={"payments": {"namespaces": ["payments"], "quota": {"cpu": "1", "memory": "1Gi",
                                                                                     "pods": "10"},
                                               "serviceAccounts": {"app": {"policyArns": [
                                                   "arn:aws:iam::aws:policy/AdministratorAccess",
                                                   "arn:aws:iam::aws:policy/PowerUserAccess",
                                                   "arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess",
                                                   "arn:aws:iam::aws:policy/IAMFullAccess"]}}}})
    found = problems(evaluation)
    assert "IAM policy ARN" in found["ci.permissionsBoundaryArn"]
    assert "automatic preview role" in found["previewRoleArn"]
    assert "CI identities" in found["clusterName"]
    sa = "teams.payments.serviceAccounts.app.policyArns"
    assert {k for k in found if k.startswith(sa)} == {f"{sa}[0]", f"{sa}[1]", f"{sa}[3]"}
    assert "AdministratorAccess would make" in found[f"{sa}[0]"] and "IAMFullAccess would make" in found[f"{sa}[3]"]
    assert evaluation.registrations == []


def test_a_preview_role_of_another_account_is_refused():
    found = problems(run_stack("dev", previewRoleArn="arn:aws:iam::777788889999:role/eks-platform-preview"))
    assert "stack's account 111122223333" in found["previewRoleArn"]


def test_a_prod_stack_sharing_an_account_with_dev_is_warned_naming_both(tmp_path):
    for stack in ("dev", "prod"):
        shutil.copy(FIXTURE_STACKS / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    dev = (tmp_path / "Pulumi.dev.yaml").read_text().replace("111122223333", "777788889999")
    (tmp_path / "Pulumi.dev.yaml").write_text(dev)
    (warning,) = account_sharing_warnings(stack_evaluation("prod").settings, tmp_path)
    assert "prod stack 'prod' shares account 777788889999 with non-prod stack 'dev'" in warning
    assert account_sharing_warnings(stack_evaluation("prod").settings) == []  # the examples do not share


IRSA_EXCEPTIONS = {"loki"}  # components.logging.LOKI_NEEDS_WEB_IDENTITY: its S3 client ignores Pod Identity


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_identity_is_pod_identity_but_the_named_exceptions(stack):
    evaluation = stack_evaluation(stack)
    web_identity = {r.name.removeprefix(f"acme-{stack}-") for r in evaluation.of_type(ROLE)
                    if "sts:AssumeRoleWithWebIdentity" in r.inputs.get("assumeRolePolicy", "")}
    assert web_identity == IRSA_EXCEPTIONS
    annotated = [r.name for r in evaluation.of_type("kubernetes:helm.sh/v3:Release")
                 if "eks.amazonaws.com/role-arn" in json.dumps(r.inputs.get("values", {}))]
    assert annotated == ["loki"]

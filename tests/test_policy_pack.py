"""The CrossGuard policies, each with passing and failing resource properties, and the real stacks."""

from __future__ import annotations

import pytest
from pulumi_policy import PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs

from policy.policies import ADVISORY, DEFAULT_CONFIG, MANDATORY
from tests.conftest import STACKS, stack_evaluation

POLICIES = {p.name: p for p in [*MANDATORY, *ADVISORY]}


def urn(stack: str, type_: str, name: str = "r") -> str:
    return f"urn:pulumi:{stack}::eks-platform::{type_}::{name}"


def options(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=protect, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=None, additional_secret_outputs=[])


def violations(policy: str, type_: str, props: dict, stack: str = "prod", protect: bool = False) -> list[str]:
    found: list[str] = []
    args = ResourceValidationArgs(type_, props, urn(stack, type_), "r", options(protect), None, config=DEFAULT_CONFIG)
    POLICIES[policy].validate(args, lambda message, urn=None: found.append(message))
    return found


def resource(type_: str, props: dict, name: str = "r", stack: str = "prod", deps: dict | None = None,
             protect: bool = False) -> PolicyResource:
    return PolicyResource(type_, props, urn(stack, type_, name), name, options(protect), None, None, [], deps or {})


def stack_violations(policy: str, resources: list[PolicyResource]) -> list[str]:
    found: list[str] = []
    POLICIES[policy].validate(StackValidationArgs(resources, config=DEFAULT_CONFIG),
                              lambda message, urn=None: found.append(message))
    return found


CLUSTER = "aws:eks/cluster:Cluster"
GOOD_CLUSTER = {"encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
                "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
                "vpcConfig": {"endpointPublicAccess": False}}


def test_pack_has_the_promised_policies_and_levels():
    assert {p.name for p in MANDATORY} == {
        "eks-secrets-encrypted", "eks-control-plane-logs", "eks-no-open-endpoint-in-prod", "launch-template-imdsv2",
        "ebs-encrypted", "helm-chart-version-pinned", "aws-required-tags", "s3-bucket-controls", "prod-data-protected",
        "retired-ingress-controller"}
    assert all(p.enforcement_level.value == "mandatory" for p in MANDATORY)
    assert {p.name for p in ADVISORY} == {"prod-not-spot-only", "nat-gateway-per-zone"}
    assert all(p.enforcement_level.value == "advisory" for p in ADVISORY)


@pytest.mark.parametrize("policy", ["eks-secrets-encrypted", "eks-control-plane-logs", "eks-no-open-endpoint-in-prod"])
def test_eks_policies_pass_a_good_cluster(policy):
    assert violations(policy, CLUSTER, GOOD_CLUSTER) == []


def test_eks_secrets_without_kms_fail():
    assert violations("eks-secrets-encrypted", CLUSTER, {**GOOD_CLUSTER, "encryptionConfig": None})


def test_eks_missing_log_types_fail():
    found = violations("eks-control-plane-logs", CLUSTER, {**GOOD_CLUSTER, "enabledClusterLogTypes": ["api"]})
    assert found and "audit" in found[0]


@pytest.mark.parametrize("vpc", [{"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
                                 {"endpointPublicAccess": True}])
def test_open_endpoint_fails_in_prod_only(vpc):
    props = {**GOOD_CLUSTER, "vpcConfig": vpc}
    assert violations("eks-no-open-endpoint-in-prod", CLUSTER, props, stack="prod")
    assert violations("eks-no-open-endpoint-in-prod", CLUSTER, props, stack="dev") == []
    listed = {**GOOD_CLUSTER, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}}
    assert violations("eks-no-open-endpoint-in-prod", CLUSTER, listed, stack="prod") == []


def test_launch_template_needs_imdsv2_and_encrypted_volumes():
    good = {"metadataOptions": {"httpTokens": "required"},
            "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}
    lt = "aws:ec2/launchTemplate:LaunchTemplate"
    assert violations("launch-template-imdsv2", lt, good) == []
    assert violations("launch-template-imdsv2", lt, {**good, "metadataOptions": {"httpTokens": "optional"}})
    assert violations("launch-template-imdsv2", lt, {**good, "blockDeviceMappings": [{"ebs": {"encrypted": "false"}}]})


def test_ebs_volume_encryption():
    assert violations("ebs-encrypted", "aws:ebs/volume:Volume", {"encrypted": True}) == []
    assert violations("ebs-encrypted", "aws:ebs/volume:Volume", {"encrypted": False})


def test_helm_release_must_pin_a_version():
    release = "kubernetes:helm.sh/v3:Release"
    assert violations("helm-chart-version-pinned", release, {"chart": "loki", "version": "18.11.0"}) == []
    assert violations("helm-chart-version-pinned", release, {"chart": "loki"})


def test_required_tags():
    tags = {"platform": "eks-platform", "environment": "prod", "stack": "prod", "cluster": "c"}
    assert violations("aws-required-tags", "aws:ec2/vpc:Vpc", {"tagsAll": tags}) == []
    found = violations("aws-required-tags", "aws:ec2/vpc:Vpc", {"tagsAll": {"platform": "eks-platform"}})
    assert found == ["Missing required tags: environment, stack, cluster."]
    assert violations("aws-required-tags", "aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r"}) == []


def test_bucket_controls():
    bucket = resource("aws:s3/bucket:Bucket", {"bucket": "logs"}, "logs")
    sse = resource("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                   {}, deps={"bucket": [bucket]})
    block = resource("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                     {k: True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                        "restrictPublicBuckets")}, deps={"bucket": [bucket]})
    assert stack_violations("s3-bucket-controls", [bucket, sse, block]) == []
    assert len(stack_violations("s3-bucket-controls", [bucket])) == 2
    leaky = resource(block.resource_type, {**block.props, "restrictPublicBuckets": False}, deps={"bucket": [bucket]})
    assert stack_violations("s3-bucket-controls", [bucket, sse, leaky]) == ["S3 bucket logs must block all public access."]


def test_spot_only_general_capacity_is_flagged_in_prod():
    spot = resource("aws:eks/nodeGroup:NodeGroup", {"capacityType": "SPOT", "amiType": "AL2023_x86_64_STANDARD"})
    on_demand_gpu = resource("aws:eks/nodeGroup:NodeGroup", {"capacityType": "ON_DEMAND",
                                                             "amiType": "AL2023_x86_64_NVIDIA"}, "gpu")
    assert stack_violations("prod-not-spot-only", [spot, on_demand_gpu])
    assert stack_violations("prod-not-spot-only", [resource(spot.resource_type, spot.props, stack="dev")]) == []
    mixed = resource(spot.resource_type, {**spot.props, "capacityType": "ON_DEMAND"}, "od")
    assert stack_violations("prod-not-spot-only", [spot, mixed]) == []


def test_fewer_nat_gateways_than_zones_is_flagged():
    subnets = [resource("aws:ec2/subnet:Subnet", {"availabilityZone": z}, z) for z in ("a", "b", "c")]
    nat = [resource("aws:ec2/natGateway:NatGateway", {}, f"n{i}") for i in range(3)]
    assert stack_violations("nat-gateway-per-zone", [*subnets, nat[0]])
    assert stack_violations("nat-gateway-per-zone", [*subnets, *nat]) == []


def mandatory_violations(evaluation, stack: str) -> list[str]:
    """Every mandatory policy the pack can judge offline, over the resources as the mock engine registered
    them (tags come from the provider at preview, so skipped)."""
    by_urn = {}
    for r in evaluation.registrations:
        if r.custom and not r.read:
            by_urn[r.urn] = resource(r.type, r.inputs, r.name, stack, protect=r.protect)
    for r in evaluation.registrations:
        if r.urn in by_urn and "bucket" in r.inputs:
            bucket = next((b for b in by_urn.values() if b.resource_type == "aws:s3/bucket:Bucket"
                           and f"bucket-{b.name}" == r.inputs["bucket"]), None)
            by_urn[r.urn].property_dependencies["bucket"] = [bucket] if bucket else []
    found = []
    for policy in MANDATORY:
        if policy.name in ("aws-required-tags", "eks-secrets-encrypted", "eks-control-plane-logs"):
            continue
        if policy.name == "s3-bucket-controls":
            found += stack_violations(policy.name, list(by_urn.values()))
            continue
        for res in by_urn.values():
            found += violations(policy.name, res.resource_type, res.props, stack, res.opts.protect)
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_fixture_stacks_pass_every_mandatory_policy_they_can_be_judged_by_offline(stack):
    assert mandatory_violations(stack_evaluation(stack), stack) == []


@pytest.mark.parametrize("type_", ["aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:route53/zone:Zone"])
def test_data_in_prod_must_be_protected(type_):
    assert violations("prod-data-protected", type_, {}, stack="prod", protect=False)
    assert violations("prod-data-protected", type_, {}, stack="prod", protect=True) == []
    assert violations("prod-data-protected", type_, {}, stack="dev", protect=False) == []
    assert violations("prod-data-protected", "aws:ec2/vpc:Vpc", {}, stack="prod", protect=False) == []


@pytest.fixture
def prod_eu(tmp_path, monkeypatch):
    """A stack `prod-eu` whose file says `environment: prod`, and `prod` whose file says dev: names mean nothing."""
    import policy.policies as policies

    (tmp_path / "Pulumi.prod-eu.yaml").write_text("config:\n  eks-platform:environment: prod\n")
    (tmp_path / "Pulumi.prod.yaml").write_text("config:\n  eks-platform:environment: dev\n")
    monkeypatch.setattr(policies, "STACK_FILES", tmp_path)


def test_prod_is_decided_by_the_stack_files_environment_not_its_name(prod_eu):
    bucket = "aws:s3/bucket:Bucket"
    assert violations("prod-data-protected", bucket, {}, stack="prod-eu")
    assert violations("prod-data-protected", bucket, {}, stack="prod") == []
    assert violations("eks-no-open-endpoint-in-prod", CLUSTER, {"vpcConfig": {"endpointPublicAccess": True}},
                      stack="prod-eu")
    assert violations("retired-ingress-controller", "kubernetes:helm.sh/v3:Release", {"chart": "ingress-nginx"},
                      stack="prod-eu")
    spot = resource("aws:eks/nodeGroup:NodeGroup", {"capacityType": "SPOT", "amiType": "AL2023_x86_64_STANDARD"},
                    stack="prod-eu")
    assert stack_violations("prod-not-spot-only", [spot])


def test_a_stack_whose_environment_cannot_be_read_is_judged_as_prod(prod_eu):
    assert violations("prod-data-protected", "aws:kms/key:Key", {}, stack="no-such-stack")


def test_the_policy_config_can_name_the_environment(prod_eu):
    found: list[str] = []
    args = ResourceValidationArgs("aws:kms/key:Key", {}, urn("prod", "aws:kms/key:Key"), "r", options(False), None,
                                  config={**DEFAULT_CONFIG, "environment": "prod"})
    POLICIES["prod-data-protected"].validate(args, lambda message, urn=None: found.append(message))
    assert found


def test_the_retired_controller_fails_a_prod_preview_unless_the_stack_accepted_the_risk():
    from components.ingress import RETIRED_RISK_ACCEPTED
    from policy.policies import RETIRED_RISK_ACCEPTED as READ_BY_THE_PACK

    assert READ_BY_THE_PACK == RETIRED_RISK_ACCEPTED
    release = "kubernetes:helm.sh/v3:Release"
    assert violations("retired-ingress-controller", release, {"chart": "ingress-nginx"}, stack="prod")
    assert violations("retired-ingress-controller", release, {"chart": "ingress-nginx",
                                                              "description": RETIRED_RISK_ACCEPTED}, stack="prod") == []
    assert violations("retired-ingress-controller", release, {"chart": "ingress-nginx"}, stack="dev") == []
    (registered,) = [r for r in stack_evaluation("prod").of_type(release) if r.inputs["name"] == "ingress-nginx"]
    assert registered.inputs["description"] == RETIRED_RISK_ACCEPTED  # the prod example accepted it


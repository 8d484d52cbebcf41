"""Bad input is rejected before any resource exists, every problem named by its config key."""

from __future__ import annotations

import pytest

from stacks.config import load
from stacks.problems import ConfigError
from tests.conftest import run_stack

GENERAL = {"instanceTypes": ["m7i.large"], "minSize": 1, "maxSize": 3}


def problems_of(stack: str, **overrides) -> dict[str, str]:
    evaluation = run_stack(stack, **overrides)
    assert isinstance(evaluation.error, ConfigError), "configuration was accepted"
    assert evaluation.registrations == [], "resources were registered before validation failed"
    return {p.path: str(p) for p in evaluation.error.problems}


@pytest.mark.parametrize("overrides, key, fragment", [
    ({"environment": "qa"}, "environment", "dev, staging, prod"),
    ({"network": {"cidr": "10.20.0.0/33"}}, "network.cidr", "CIDR notation"),
    ({"network": {"cidr": "10.20.0.1/16"}}, "network.cidr", "no host bits"),
    ({"network": {"cidr": "52.10.0.0/16"}}, "network.cidr", "RFC 1918"),
    ({"network": {"cidr": "10.20.0.0/24"}}, "network.cidr", "/16 to /20"),
    ({"network": {"availabilityZones": 1}}, "network.availabilityZones", "must be at least 2"),
    ({"network": {"availabilityZones": 7}}, "network.availabilityZones", "must be at most 6"),
    ({"network": {"natGateways": "two"}}, "network.natGateways", "must be one of: 'single', 'perAz'"),
    ({"nodeGroups": {"general": {"minSize": 4, "maxSize": 2}}}, "nodeGroups.general.minSize", "maxSize (2)"),
    ({"nodeGroups": {"general": {"desiredSize": 9}}}, "nodeGroups.general.desiredSize", "between minSize"),
    ({"nodeGroups": {"gpu": {"instanceTypes": ["m7i.large"], "gpu": True, "minSize": 0, "maxSize": 1}}},
     "nodeGroups.gpu.instanceTypes", "NVIDIA GPU instance types"),
    ({"nodeGroups": {"general": {"instanceTypes": ["m7i.large", "m7g.large"]}}},
     "nodeGroups.general.instanceTypes", "one CPU architecture"),
    ({"kubernetesVersion": "1.21"}, "kubernetesVersion", "'1.34'"),
    ({"clusterName": "Acme_Dev"}, "clusterName", "lowercase letters"),
    ({"adminRoleArns": ["arn:aws:iam::123:role/admin"]}, "adminRoleArns[0]", "IAM role ARN"),
    ({"adminRoleArns": ["arn:aws:iam::123456789012:user/bob"]}, "adminRoleArns[0]", "IAM role ARN"),
    ({"nodeGroups": {"general": {"taints": [{"key": "a", "value": "b", "effect": "NoWay"}]}}},
     "nodeGroups.general.taints[0].effect", "'NoSchedule', 'PreferNoSchedule', 'NoExecute'"),
    ({"nodeGroups": {"general": {"labels": {"-bad/key": "x"}}}}, "nodeGroups.general.labels.-bad/key", "label key"),
    ({"nodeGroups": {"general": {"diskSizeGiB": 10}}}, "nodeGroups.general.diskSizeGiB", "must be at least 20"),
    ({"nodeGroups": {"general": {"capacityType": "RESERVED"}}}, "nodeGroups.general.capacityType", "must be one of: 'ON_DEMAND', 'SPOT'"),
    ({"nodeGroups": {"general": {"minSzie": 1}}}, "nodeGroups.general.minSzie", "did you mean 'minSize'"),
    ({"netwrok": {"cidr": "10.0.0.0/16"}}, "netwrok", "did you mean 'network'"),
    ({"tags": {"aws:owner": "x"}}, "tags.aws:owner", "must not start with 'aws:'"),
    ({"region": "moon-1"}, "aws:region", "AWS region"),
    ({"ingress": {"alerts": {"min5xxRequestsPerSecond": 0}}}, "ingress.alerts.min5xxRequestsPerSecond",
     "must be more than 0"),
    ({"ingress": {"alerts": {"minLatencyRequestsPerSecond": "1"}}}, "ingress.alerts.minLatencyRequestsPerSecond",
     "must be a number"),
    ({"teams": {"platform": {"namespaces": ["tools"]}}}, "teams.platform", "the platform's own log tenant"),
])
def test_bad_value_is_rejected_with_its_key(overrides, key, fragment):
    problems = problems_of("dev", **overrides)
    assert key in problems, problems
    assert fragment in problems[key]


def test_problem_message_names_key_value_and_what_is_allowed():
    problems = problems_of("dev", network={"availabilityZones": 9})
    assert problems["network.availabilityZones"] == (
        "eks-platform:network.availabilityZones: must be at most 6 (got 9)")


def test_all_problems_are_reported_at_once():
    problems = problems_of(
        "prod",
        network={"cidr": "8.8.0.0/16", "natGateways": "single"},
        endpoint={"publicAccessCidrs": ["0.0.0.0/0"]},
        nodeGroups={"general": {"minSize": 5, "maxSize": 2}, "gpu": {"diskSizeGiB": 5}},
        clusterName="X",
    )
    assert {"network.cidr", "network.natGateways", "endpoint.publicAccessCidrs", "nodeGroups.general.minSize",
            "nodeGroups.gpu.diskSizeGiB", "clusterName"} <= set(problems)


def test_prod_rejects_single_nat_and_open_endpoint_that_dev_accepts():
    open_cheap = {"network": {"natGateways": "single"}, "endpoint": {"publicAccessCidrs": ["0.0.0.0/0"]}}
    assert {"network.natGateways", "endpoint.publicAccessCidrs"} <= set(problems_of("prod", **open_cheap))
    assert run_stack("dev", **open_cheap).error is None


def test_prod_needs_three_on_demand_general_nodes():
    problems = problems_of("prod", nodeGroups={"general": {"capacityType": "SPOT"}})
    assert "needs at least 3" in problems["nodeGroups"]


def test_a_gpu_only_cluster_is_rejected():
    raw = {"environment": "dev", "accountId": "123456789012", "nodeGroups": {"general": {"instanceTypes": ["g6.xlarge"], "gpu": True}}}
    with pytest.raises(ConfigError) as caught:
        load("dev", raw, "us-east-1")
    assert "at least one non-GPU group" in str(caught.value)


def test_gpu_instance_types_need_the_gpu_flag():
    problems = problems_of("dev", nodeGroups={"ml": {**GENERAL, "instanceTypes": ["g6.xlarge"]}})
    assert "gpu: true" in problems["nodeGroups.ml.instanceTypes"]


def test_node_group_name_must_be_a_dns_label():
    problems = problems_of("dev", nodeGroups={"Big_Group": GENERAL})
    assert "DNS-1123" in problems["nodeGroups.Big_Group"]


def test_no_traceback_for_malformed_shapes():
    problems = problems_of("dev", nodeGroups=["general"], network="10.0.0.0/16", tags={"a": 1})
    assert {"nodeGroups", "network", "tags.a"} <= set(problems)


PAYMENTS = "arn:aws:iam::111122223333:role/payments-developers"
ADMIN_ROLE = "arn:aws:iam::111122223333:role/platform-admin"


@pytest.mark.parametrize("overrides, path", [
    ({"adminRoleArns": [ADMIN_ROLE, ADMIN_ROLE]}, "adminRoleArns[1]"),
    ({"previewRoleArn": ADMIN_ROLE}, "previewRoleArn"),
    ({"teams": {"payments": {"namespaces": ["payments"], "roleArns": [ADMIN_ROLE],
                             "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}}}, "teams.payments.roleArns[0]"),
    ({"teams": {"a": {"namespaces": ["a"], "roleArns": [PAYMENTS], "quota": {"cpu": "1", "memory": "1Gi", "pods": "1"}},
                "b": {"namespaces": ["b"], "roleArns": [PAYMENTS], "quota": {"cpu": "1", "memory": "1Gi", "pods": "1"}}}},
     "teams.b.roleArns[0]"),
])
def test_a_principal_gets_one_access_entry(overrides, path):
    evaluation = run_stack("dev", **overrides)
    problems = {p.path: p for p in evaluation.error.problems}
    assert "EKS allows one access entry per principal" in problems[path].message
    assert evaluation.registrations == []


def test_two_team_roles_with_one_name_would_collide():
    other = "arn:aws:iam::210987654321:role/payments-developers"
    evaluation = run_stack("dev", teams={"payments": {"namespaces": ["payments"], "roleArns": [PAYMENTS, other],
                                                      "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}}})
    (problem,) = evaluation.error.problems
    assert problem.path == "teams.payments.roleArns[1]" and "same role name" in problem.message


def test_an_unquoted_version_and_a_tag_key_are_named_like_every_other_key():
    problems = problems_of("prod", kubernetesVersion=1.30, tags={"aws:owner": "x"})
    assert 'quote it: "1.30"' in problems["kubernetesVersion"]
    assert problems["tags.aws:owner"].startswith("eks-platform:tags.aws:owner: ")


@pytest.mark.parametrize("stack, environment, named", [("prod", "dev", "prod"), ("dev", "prod", "dev"),
                                                        ("payments-staging", "dev", "staging")])
def test_a_stack_named_like_another_environment_is_warned_about(stack, environment, named):
    from stacks.rules import naming_warnings

    (warning,) = naming_warnings(stack, environment)
    assert f"named like {named} but eks-platform:environment is {environment}" in warning
    assert naming_warnings(stack, named) == [] and naming_warnings("production", "dev") == []

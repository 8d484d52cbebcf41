"""Configuration that cannot lie: every class of mistake found by hand and by generated configs, each
reported with its exact key path, nothing registered, no traceback, no secret in the output."""

from __future__ import annotations

import io

import pytest

from ops import plan
from ops.stackfiles import raw_config, read_stack_config
from stacks.config import load_raw
from stacks.problems import ConfigError
from stacks.secure import OFFLINE_PLACEHOLDERS
from tests.conftest import FIXTURE_STACKS, run_stack

GENERAL = {"instanceTypes": ["m7i.large"], "minSize": 1, "maxSize": 3}
GPU = {"instanceTypes": ["g6.xlarge"], "gpu": True, "minSize": 0, "maxSize": 2}
TEAM = {"namespaces": ["payments"], "quota": {"cpu": "8", "memory": "16Gi", "pods": "100"}}
ADMIN = "arn:aws:iam::111122223333:role/platform-admin"
LIBRARY_WORDING = ("Input should", "valid dictionary", "instance of", "valid tuple", "items", "got \"None\"",
                   "String should match pattern", "^")


def problems_of(stack: str, **overrides) -> dict[str, str]:
    evaluation = run_stack(stack, **overrides)
    assert isinstance(evaluation.error, ConfigError), "configuration was accepted"
    assert evaluation.registrations == [], "resources were registered before validation failed"
    text = str(evaluation.error)
    assert not [w for w in LIBRARY_WORDING if w in text], text
    return {p.path: str(p) for p in evaluation.error.problems}


# ---- accepted but wrong: each class, with its key path and what is said -------------------------

@pytest.mark.parametrize("stack, overrides, key, fragment", [
    # numbers are numbers, booleans are booleans
    ("dev", {"nodeGroups": {"general": {"minSize": "5"}}}, "nodeGroups.general.minSize", "whole number"),
    ("dev", {"nodeGroups": {"general": {"minSize": 5.0}}}, "nodeGroups.general.minSize", "no decimals"),
    ("dev", {"nodeGroups": {"general": {"minSize": True}}}, "nodeGroups.general.minSize", "whole number"),
    ("dev", {"nodeGroups": {"gpu": {"gpu": "yes"}}}, "nodeGroups.gpu.gpu", "true or false"),
    ("dev", {"nodeGroups": {"gpu": {"gpu": "on"}}}, "nodeGroups.gpu.gpu", "true or false"),
    ("dev", {"nodeGroups": {"gpu": {"gpu": 1}}}, "nodeGroups.gpu.gpu", "true or false"),
    ("dev", {"teams": {"payments": {**TEAM, "quota": {"cpu": 8, "memory": "16Gi", "pods": "100"}}}},
     "teams.payments.quota.cpu", 'quote it: "8"'),
    ("dev", {"teams": {"payments": {**TEAM, "quota": {"cpu": "8", "memory": "16Gi", "pods": 100}}}},
     "teams.payments.quota.pods", 'quote it: "100"'),
    # snake_case is not an alias; a misspelt namespace is not ignored
    ("dev", {"nodeGroups": {"general": {**GENERAL, "instance_types": ["m7i.large"]}}},
     "nodeGroups.general.instance_types", "did you mean 'instanceTypes'"),
    ("dev", {"dns": {"zone_name": "example.com"}}, "dns.zone_name", "did you mean 'zoneName'"),
    ("dev", {"teams": {"payments": {**TEAM, "role_arns": [ADMIN]}}}, "teams.payments.role_arns",
     "did you mean 'roleArns'"),
    ("dev", {"grafana_admin_password": "correct-horse-battery"}, "grafana_admin_password",
     "did you mean 'grafanaAdminPassword'"),
    # the API endpoint
    ("staging", {"endpoint": {"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}}, "endpoint.publicAccessCidrs",
     "cover 0.0.0.0/0"),
    ("staging", {"endpoint": {"publicAccessCidrs": ["0.0.0.0/00"]}}, "endpoint.publicAccessCidrs[0]",
     "write it as 0.0.0.0/0"),
    ("dev", {"endpoint": {"publicAccessCidrs": ["10.0.0.0/8"]}}, "endpoint.publicAccessCidrs[0]",
     "private or reserved range"),
    # tags
    ("dev", {"tags": {f"t{i}": "x" for i in range(44)}}, "tags", "at most 43"),
    ("dev", {"tags": {"Environment": "x"}}, "tags.Environment", "a tag the platform sets"),
    ("dev", {"tags": {"owner": "a", "Owner": "b"}}, "tags.Owner", "only in case"),
    ("dev", {"tags": {"aws:createdBy": "x"}}, "tags.aws:createdBy", "must not start with 'aws:'"),
    ("dev", {"tags": {"team": "a<b>"}}, "tags.team", "letters, digits, spaces"),
    ("dev", {"tags": {"team": "x" * 257}}, "tags.team", "at most 256"),
    # duplicate names and principals
    ("dev", {"teams": {"a-b": {**TEAM, "namespaces": ["c"]}, "a": {**TEAM, "namespaces": ["b-c"]}}},
     "teams.a.namespaces[0]", "resource name 'a-b-c'"),
    ("dev", {"adminRoleArns": [ADMIN, ADMIN]}, "adminRoleArns[1]", "one access entry per principal"),
    ("dev", {"teams": {"payments": {**TEAM, "roleArns": [ADMIN]}}}, "teams.payments.roleArns[0]",
     "one access entry per principal"),
    # Kubernetes labels and taints, node groups
    ("dev", {"nodeGroups": {"general": {"labels": {"node.kubernetes.io/role": "x"}}}},
     "nodeGroups.general.labels.node.kubernetes.io/role", "reserved for Kubernetes"),
    ("dev", {"nodeGroups": {"general": {"labels": {"k8s.io/team": "x"}}}},
     "nodeGroups.general.labels.k8s.io/team", "reserved for Kubernetes"),
    ("dev", {"nodeGroups": {"general": {"labels": {f"{'a' * 63}.{'b' * 30}.example.com/role": "x"}}}},
     f"nodeGroups.general.labels.{'a' * 63}.{'b' * 30}.example.com/role", "is too long"),
    ("dev", {"nodeGroups": {"gpu": {**GPU, "taints": [{"key": "nvidia.com/gpu", "value": "true",
                                                       "effect": "NoSchedule"}]}}},
     "nodeGroups.gpu.taints[0].key", "remove this one"),
    ("dev", {"nodeGroups": {"general": {"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]}}},
     "nodeGroups", "nowhere to run"),
    ("dev", {"nodeGroups": {"general": {"instanceTypes": ["a1.large", "m7i.large"]}}},
     "nodeGroups.general.instanceTypes", "one CPU architecture"),
    # DNS, durations, zones
    ("dev", {"dns": {"zoneName": "example.com", "subdomain": "a" * 60}}, "dns.subdomain", "ACM certificates allow 64"),
    ("dev", {"monitoring": {"prometheusRetention": "99999999999999999999d"}}, "monitoring.prometheusRetention",
     "whole number and a unit"),
    ("dev", {"monitoring": {"prometheusRetention": "9999d"}}, "monitoring.prometheusRetention", "at most 10 years"),
    ("dev", {"region": "eu-west-1", "network": {"availabilityZones": 4}}, "network.availabilityZones",
     "eu-west-1 has 3"),
    ("staging", {"region": "us-west-1"}, "network.availabilityZones", "us-west-1 has 2"),
    # messages
    ("dev", {"alerting": {"slackChannel": None}}, "alerting.slackChannel", 'quote it, "#alerts"'),
    ("dev", {"dns": {}}, "dns.zoneName", "is required"),
    ("dev", {"nodeGroups": {"extra": {"gpu": False}}}, "nodeGroups.extra.instanceTypes", "is required"),
    ("dev", {"network": "10.0.0.0/16"}, "network", "a map of keys to values with the keys cidr"),
    ("dev", {"teams": {"payments": {**TEAM, "namespaces": {"a": 1}}}}, "teams.payments.namespaces", "must be a list"),
    ("dev", {"teams": {"payments": {**TEAM, "namespaces": [["a"]]}}}, "teams.payments.namespaces[0]",
     "must be text"),
    ("dev", {"grafana": {"allowedCidrs": ["198.51.100.0/24"]}}, "grafana.allowedCidrs", "set eks-platform:dns"),
])
def test_each_mistake_is_named_by_its_key(stack, overrides, key, fragment):
    problems = problems_of(stack, **overrides)
    assert key in problems, problems
    assert fragment in problems[key], problems[key]


def test_a_secret_in_plain_text_is_refused_and_never_printed():
    config = read_stack_config("dev")
    config["eks-platform:grafanaAdminPassword"] = "correct-horse-battery-staple"
    config["eks-platform:slackWebhookUrl"] = "https://hooks.slack.com/services/T0/B0/SECRETSECRET"
    with pytest.raises(ConfigError) as caught:
        load_raw("dev", raw_config(config))
    text = str(caught.value)
    assert "correct-horse" not in text and "SECRETSECRET" not in text
    assert {p.path for p in caught.value.problems} == {"grafanaAdminPassword", "slackWebhookUrl"}
    assert "pulumi config set --secret eks-platform:grafanaAdminPassword" in text


def test_a_bad_secret_is_reported_masked_whatever_its_shape():
    problems = problems_of("dev", grafanaAdminPassword="short", slackWebhookUrl="http://not-https/SECRET9")
    text = " ".join(problems.values())
    assert "short\"" not in text and "SECRET9" not in text and "[secret]" in text
    assert "at least 12 characters" in problems["grafanaAdminPassword"]


def test_a_misspelt_namespace_is_an_unknown_key():
    config = read_stack_config("dev")
    config["eks-platfrom:endpoint"] = {"publicAccessCidrs": []}
    with pytest.raises(ConfigError) as caught:
        load_raw("dev", raw_config(config))
    (problem,) = caught.value.problems
    assert problem.path == "eks-platfrom:endpoint" and "did you mean 'eks-platform:endpoint'" in problem.message


def test_a_secure_slack_url_passes_offline(tmp_path):
    text = (FIXTURE_STACKS / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.prod.yaml").write_text(text + "  eks-platform:slackWebhookUrl:\n    secure: v1:AAAA\n")
    settings = load_raw("prod", raw_config(read_stack_config("prod", tmp_path)))
    assert settings.config.slack_webhook_url.get_secret_value() == OFFLINE_PLACEHOLDERS["slackWebhookUrl"]
    assert "slackWebhookUrl" in raw_config(read_stack_config("prod", tmp_path)).secret_keys
    out, err = io.StringIO(), io.StringIO()
    assert plan.main("prod", out, err, tmp_path) == 0 and "slack #alerts" in out.getvalue()


def test_too_many_zones_where_the_region_is_unknown_stops_the_program_naming_the_key():
    evaluation = run_stack("dev", region="ap-east-2", network={"availabilityZones": 6})
    assert "eks-platform:network.availabilityZones: 6 zones wanted" in str(evaluation.error)
    assert not evaluation.of_type("aws:ec2/subnet:Subnet")


# ---- stack files: YAML 1.2, broken files ---------------------------------------------------------

def run_plan(tmp_path, text: str) -> tuple[int, str, str]:
    (tmp_path / "Pulumi.broken.yaml").write_text(text)
    out, err = io.StringIO(), io.StringIO()
    return plan.main("broken", out, err, tmp_path), out.getvalue(), err.getvalue()


BASE = "config:\n  aws:region: us-east-1\n  eks-platform:environment: dev\n"


@pytest.mark.parametrize("text, message", [
    (BASE + "  eks-platform:tags: {team: [unclosed\n", "Pulumi.broken.yaml, line 5"),
    (BASE + "  eks-platform:network:\n\t  cidr: 10.0.0.0/16\n", "a tab: indent with spaces only"),
    ("config:\n  - aws:region\n", "`config:` must be a map"),
    ("- just\n- a list\n", "must be a map with a `config:` key"),
])
def test_a_broken_stack_file_is_reported_with_its_line_and_cause(tmp_path, text, message):
    code, out, err = run_plan(tmp_path, text)
    assert code == 2 and out == "" and message in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["", "config:\n", BASE + "  eks-platform:network:\n"])
def test_an_empty_file_or_value_is_a_configuration_problem_not_a_crash(tmp_path, text):
    code, _, err = run_plan(tmp_path, text)
    assert code == 1 and "configuration problem" in err and "Traceback" not in err


def test_yaml_1_2_reads_what_the_pulumi_cli_reads(tmp_path):
    code, _, err = run_plan(tmp_path, BASE + "  eks-platform:tags: {expires: 2026-12-31, legacy: yes}\n"
                                             "  eks-platform:nodeGroups: {general: {gpu: no}}\n")
    assert code == 1
    assert "eks-platform:nodeGroups.general.gpu: must be true or false" in err  # `no` is text in YAML 1.2
    assert "tags" not in err  # an unquoted date and `yes` are text: valid tag values

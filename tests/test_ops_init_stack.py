"""`python -m ops init-stack`: a minimal, valid stack file from the profile, never over an existing one."""

from __future__ import annotations

import io

import boto3
import pytest

from ops import init_stack
from ops.engine import evaluate
from ops.stackfiles import read_stack_config
from stacks.config import load_raw
from ops.stackfiles import raw_config


def run(tmp_path, name="payments-eu", environment="staging", region="eu-west-1", account="210987654321"):
    out, err = io.StringIO(), io.StringIO()
    code = init_stack.main(name, environment, region, account, out, err, project_dir=tmp_path)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_environment_gets_a_file_that_validates_and_plans(tmp_path, environment, aws):
    code, out, err = run(tmp_path, name=f"team-{environment}", environment=environment)
    assert code == 0, err
    settings = load_raw(f"team-{environment}", raw_config(read_stack_config(f"team-{environment}", tmp_path)))
    assert (settings.region, settings.account_id, settings.config.environment) == ("eu-west-1", "210987654321",
                                                                                   environment)
    assert settings.profile.protect is (environment == "prod")
    evaluation = evaluate(f"team-{environment}", read_stack_config(f"team-{environment}", tmp_path))
    assert evaluation.error is None and len(evaluation.registrations) > 100
    assert f"python -m ops bootstrap --stack team-{environment}" in out  # no key yet: the command that makes it
    assert f"python -m ops plan --stack team-{environment}" in out


def test_prod_is_written_silent_by_decision_with_the_commands_that_end_it(tmp_path, aws):
    run(tmp_path, name="prod-eu", environment="prod")
    text = (tmp_path / "Pulumi.prod-eu.yaml").read_text()
    assert "delivery: none" in text and "--secret eks-platform:slackWebhookUrl" in text
    assert "--secret --path eks-platform:alerting.heartbeatUrl" in text


def test_it_never_overwrites_and_refuses_a_bad_name_or_account(tmp_path, aws):
    assert run(tmp_path)[0] == 0
    before = (tmp_path / "Pulumi.payments-eu.yaml").read_text()
    code, _, err = run(tmp_path, environment="prod")
    assert code == 1 and "never overwrites" in err
    assert (tmp_path / "Pulumi.payments-eu.yaml").read_text() == before
    code, _, err = run(tmp_path, name="Payments_EU")
    assert code == 2 and "lowercase" in err
    code, _, err = run(tmp_path, name="ok-name", account="12345")
    assert code == 2 and "eks-platform:accountId" in err and not (tmp_path / "Pulumi.ok-name.yaml").exists()


def test_after_bootstrap_the_file_names_the_stacks_own_key(tmp_path, aws):
    kms = boto3.client("kms", region_name="eu-west-1")
    kms.create_alias(AliasName="alias/eks-platform-secrets-payments-eu", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    code, out, _ = run(tmp_path)
    text = (tmp_path / "Pulumi.payments-eu.yaml").read_text()
    assert code == 0 and text.startswith(
        "secretsprovider: awskms://alias/eks-platform-secrets-payments-eu?region=eu-west-1\nencryptedkey: ")
    assert "ops bootstrap" not in out

"""`ops bootstrap --stack ... --github-repo ...` against the moto server: the secrets provider written into
the stack files, and the CI identities with their trust and least-privilege state access."""

from __future__ import annotations

import base64
import io
import json
import shutil

import boto3
import pytest
import yaml

from ops import bootstrap, identities, secrets_provider
from ops.stackfiles import PROJECT_DIR

BUCKET, ALIAS, REPO = "acme-pulumi-state", "alias/acme-pulumi", "acme/platform"


@pytest.fixture
def project(tmp_path):
    for stack in ("dev", "prod"):
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", tmp_path / f"Pulumi.{stack}.yaml")
    return tmp_path


def run(project, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = bootstrap.main(BUCKET, "us-east-1", ALIAS, out, err=err, project_dir=project, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_each_stack_file_gets_the_kms_secrets_provider_and_a_data_key_kms_can_decrypt(moto_server, project):
    before = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    code, out, err = run(project, stacks=["dev", "prod"])
    assert code == 0 and err == ""
    kms = boto3.client("kms", region_name="us-east-1")
    key_arn = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"]
    for stack in ("dev", "prod"):
        written = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())
        assert written["secretsprovider"] == "awskms://alias/acme-pulumi?region=us-east-1"
        plain = kms.decrypt(CiphertextBlob=base64.b64decode(written["encryptedkey"]))
        assert plain["KeyId"] == key_arn and len(plain["Plaintext"]) == 32
    assert yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"] == before["config"]
    assert "git add Pulumi.dev.yaml Pulumi.prod.yaml" in out


def test_a_second_run_keeps_the_data_keys(moto_server, project):
    run(project, stacks=["prod"])
    first = (project / "Pulumi.prod.yaml").read_text()
    code, out, _ = run(project, stacks=["prod"])
    assert code == 0 and (project / "Pulumi.prod.yaml").read_text() == first
    assert "nothing changed" in out


def test_another_secrets_provider_is_never_replaced(moto_server, project):
    path = project / "Pulumi.dev.yaml"
    path.write_text("secretsprovider: awskms://alias/other?region=eu-west-1\nencryptedkey: AAAA\n" + path.read_text())
    code, _, err = run(project, stacks=["dev"])
    assert code == 1 and "pulumi stack change-secrets-provider" in err
    assert "alias/other" in path.read_text()


def test_github_identities_trust_only_their_environment_and_pull_requests(moto_server, project, monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")  # AWS managed policies exist, as in an account
    code, out, _ = run(project, stacks=["dev", "prod"], github_repo=REPO)
    assert code == 0
    iam = boto3.client("iam")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    assert provider["Arn"].endswith("oidc-provider/token.actions.githubusercontent.com")
    subjects = {}
    for name in ("eks-platform-deploy-dev", "eks-platform-deploy-prod", "eks-platform-preview"):
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        (web,) = trust["Statement"]
        assert web["Action"] == "sts:AssumeRoleWithWebIdentity" and web["Principal"] == {"Federated": provider["Arn"]}
        condition = web["Condition"]["StringEquals"]
        assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        subjects[name] = condition["token.actions.githubusercontent.com:sub"]
    assert subjects == {"eks-platform-deploy-dev": "repo:acme/platform:environment:dev",
                        "eks-platform-deploy-prod": "repo:acme/platform:environment:prod",
                        "eks-platform-preview": ["repo:acme/platform:pull_request",
                                                 "repo:acme/platform:ref:refs/heads/main"]}
    attached = iam.list_attached_role_policies(RoleName="eks-platform-preview")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    assert "environment prod: AWS_DEPLOY_ROLE_ARN=arn:aws:iam::123456789012:role/eks-platform-deploy-prod" in out
    assert "repository: AWS_PREVIEW_ROLE_ARN=arn:aws:iam::123456789012:role/eks-platform-preview" in out
    again = bootstrap.bootstrap(BUCKET, "us-east-1", ALIAS, stacks=["dev", "prod"], github_repo=REPO,
                                project_dir=project)
    assert again.changes == []


def test_a_deploy_role_writes_only_its_own_stacks_state_and_the_preview_role_only_locks():
    key = "arn:aws:kms:us-east-1:123456789012:key/k"
    deploy = {s["Sid"]: s for s in identities.state_policy(BUCKET, key, "prod")["Statement"]}
    assert deploy["WriteState"]["Resource"] == [
        f"arn:aws:s3:::{BUCKET}/.pulumi/stacks/eks-platform/prod.json*",
        f"arn:aws:s3:::{BUCKET}/.pulumi/history/eks-platform/prod/*",
        f"arn:aws:s3:::{BUCKET}/.pulumi/backups/eks-platform/prod/*",
        f"arn:aws:s3:::{BUCKET}/.pulumi/locks/eks-platform/prod/*"]
    assert deploy["SecretsKey"] == {"Sid": "SecretsKey", "Effect": "Allow", "Resource": key,
                                    "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"]}
    preview = {s["Sid"]: s for s in identities.state_policy(BUCKET, key, None)["Statement"]}
    assert preview["WriteState"]["Resource"] == [f"arn:aws:s3:::{BUCKET}/.pulumi/locks/eks-platform/*"]
    assert "kms:Encrypt" not in preview["SecretsKey"]["Action"]


def test_the_command_line_checks_its_arguments():
    from ops.__main__ import main

    with pytest.raises(SystemExit):
        main(["bootstrap", "--bucket", BUCKET, "--github-repo", "not-a-repo", "--stack", "dev"])
    with pytest.raises(SystemExit):
        main(["bootstrap", "--bucket", BUCKET, "--github-repo", REPO])
    assert secrets_provider.provider_url(ALIAS, "eu-west-1") == "awskms://alias/acme-pulumi?region=eu-west-1"

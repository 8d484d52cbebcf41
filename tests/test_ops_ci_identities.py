"""`ops bootstrap --stack ... --github-repo ...` against the moto server: one account at a time, a secrets key
per stack written into its stack file and limited to its roles, the deploy roles under their boundaries, the
old single-key setup moved by printed commands, and the repository's OIDC subject template."""

from __future__ import annotations

import base64
import http.server
import io
import json
import threading

import boto3
import pytest
import yaml

from ops import bootstrap, identities
from stacks import trust

ACCOUNT = "123456789012"  # moto's account
BUCKET, ALIAS, REPO = "acme-pulumi-state", "alias/acme-pulumi", "acme/platform"


def stack_file(environment: str, account: str = ACCOUNT, extra: str = "") -> str:
    return (f"config:\n  aws:region: us-east-1\n  eks-platform:environment: {environment}\n"
            f"  eks-platform:accountId: \"{account}\"\n"
            f"  eks-platform:adminRoleArns: [\"arn:aws:iam::{account}:role/platform-admin\"]\n"
            "  eks-platform:alerting: {delivery: none}\n" + extra)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file("dev"))
    (tmp_path / "Pulumi.prod.yaml").write_text(stack_file("prod"))
    return tmp_path


def run(project, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = bootstrap.main(BUCKET, "us-east-1", ALIAS, out, err=err, project_dir=project, **kwargs)
    return code, out.getvalue(), err.getvalue()


def _document(value):
    return json.loads(value) if isinstance(value, str) else value


def test_each_stack_gets_its_own_secrets_key_in_its_stack_file(moto_server, project):
    before = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    code, out, err = run(project, stacks=["dev", "prod"])
    assert code == 0 and err == ""
    kms = boto3.client("kms", region_name="us-east-1")
    keys = {}
    for stack in ("dev", "prod"):
        written = yaml.safe_load((project / f"Pulumi.{stack}.yaml").read_text())
        assert written["secretsprovider"] == f"awskms://alias/eks-platform-secrets-{stack}?region=us-east-1"
        key = kms.describe_key(KeyId=f"alias/eks-platform-secrets-{stack}")["KeyMetadata"]
        plain = kms.decrypt(CiphertextBlob=base64.b64decode(written["encryptedkey"]))
        assert plain["KeyId"] == key["Arn"] and len(plain["Plaintext"]) == 32
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
        assert tags["stack"] == stack and kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"]
        keys[stack] = key["Arn"]
    assert keys["dev"] != keys["prod"] != kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["Arn"]
    assert yaml.safe_load((project / "Pulumi.prod.yaml").read_text())["config"] == before["config"]
    assert "git add Pulumi.dev.yaml Pulumi.prod.yaml" in out
    assert "keep KMS's default policy" in out  # without --github-repo: said, not hidden


def test_a_second_run_keeps_the_data_keys(moto_server, project):
    run(project, stacks=["prod"])
    first = (project / "Pulumi.prod.yaml").read_text()
    code, out, _ = run(project, stacks=["prod"])
    assert code == 0 and (project / "Pulumi.prod.yaml").read_text() == first
    assert "nothing changed" in out


def test_a_single_key_setup_is_moved_by_commands_that_lose_no_secret(moto_server, project):
    kms = boto3.client("kms", region_name="us-east-1")
    shared = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/eks-platform-pulumi-old", TargetKeyId=shared)
    path = project / "Pulumi.prod.yaml"
    old = "secretsprovider: awskms://alias/eks-platform-pulumi-old?region=us-east-1\nencryptedkey: AAAA\n"
    path.write_text(old + path.read_text() + "  eks-platform:slackWebhookUrl:\n    secure: v1:abc\n")
    before = path.read_text()
    code, out, err = run(project, stacks=["prod"])
    assert code == 0 and err == ""
    assert path.read_text() == before  # untouched: its secrets stay readable until Pulumi moves them
    assert ("pulumi stack select prod\n  pulumi stack change-secrets-provider "
            "'awskms://alias/eks-platform-secrets-prod?region=us-east-1'") in out
    assert kms.describe_key(KeyId=shared)["KeyMetadata"]["Enabled"]  # the old key still decrypts the old secrets
    assert kms.describe_key(KeyId="alias/eks-platform-secrets-prod")["KeyMetadata"]["Enabled"]


def test_credentials_of_another_account_are_refused_with_the_way_out(moto_server, tmp_path):
    (tmp_path / "Pulumi.prod.yaml").write_text(stack_file("prod", "777788889999"))
    code, out, err = run(tmp_path, stacks=["prod"], github_repo=REPO)
    assert code == 1 and "credentials are for account 123456789012" in err
    assert "prod belongs to 777788889999" in err and "AWS_PROFILE" in err
    assert boto3.client("iam").list_roles()["Roles"] == []  # nothing was created


def test_stacks_of_two_accounts_are_bootstrapped_one_account_at_a_time(moto_server, tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text(stack_file("dev"))
    (tmp_path / "Pulumi.prod.yaml").write_text(stack_file("prod", "777788889999"))
    code, _, err = run(tmp_path, stacks=["dev", "prod"])
    assert code == 1 and "several accounts (dev: 123456789012, prod: 777788889999)" in err


def test_a_stack_file_without_an_account_is_refused(moto_server, tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n  eks-platform:environment: dev\n")
    code, _, err = run(tmp_path, stacks=["dev"])
    assert code == 1 and "eks-platform:accountId: is required" in err and "get-caller-identity" in err


class _GitHub(http.server.BaseHTTPRequestHandler):
    template: dict | None = None

    def do_GET(self):
        self._answer(200, _GitHub.template or {"use_default": True})

    def do_PUT(self):
        assert self.headers["Authorization"] == "Bearer admin-token"
        _GitHub.template = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(201, None)

    def _answer(self, code, body):
        self.send_response(code)
        self.end_headers()
        if body is not None:
            self.wfile.write(json.dumps(body).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def github():
    server = http.server.HTTPServer(("127.0.0.1", 0), _GitHub)
    _GitHub.template = None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"GITHUB_TOKEN": "admin-token", "GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}"}
    server.shutdown()


def test_github_identities_are_bounded_pinned_to_their_workflow_and_decrypt_only_their_stack(moto_server, project,
                                                                                                 github):
    result = bootstrap.bootstrap(BUCKET, "us-east-1", ALIAS, stacks=["dev", "prod"], github_repo=REPO,
                                 project_dir=project, environ=github)
    assert _GitHub.template == {"use_default": False, "include_claim_keys": ["repo", "context", "job_workflow_ref"]}
    iam, kms = boto3.client("iam"), boto3.client("kms", region_name="us-east-1")
    (provider,) = iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
    for stack in ("dev", "prod"):
        role = iam.get_role(RoleName=f"eks-platform-deploy-{stack}")["Role"]
        boundary = f"arn:aws:iam::{ACCOUNT}:policy/eks-platform-boundary-{stack}"
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
        (statement,) = _document(role["AssumeRolePolicyDocument"])["Statement"]
        assert statement["Principal"] == {"Federated": provider["Arn"]}
        assert statement["Condition"]["StringEquals"][f"{trust.GITHUB_ISSUER}:sub"] == trust.deploy_subjects(REPO, stack)
        attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]]
        assert attached == ["eks-platform-deploy"]
        version = iam.get_policy(PolicyArn=boundary)["Policy"]["DefaultVersionId"]
        document = _document(iam.get_policy_version(PolicyArn=boundary, VersionId=version)["PolicyVersion"]["Document"])
        assert document == identities.boundary_policy(bootstrap.stack_identity(stack, project), BUCKET, result.key_arn)
    prod_preview = iam.get_role(RoleName="eks-platform-preview-prod")["Role"]
    assert _document(prod_preview["AssumeRolePolicyDocument"])["Statement"][0]["Condition"]["StringLike"] == {
        f"{trust.GITHUB_ISSUER}:sub": trust.approved_preview_subjects(REPO, "prod")}
    automatic = iam.get_role(RoleName="eks-platform-preview")["Role"]
    assert [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName="eks-platform-preview")[
        "AttachedPolicies"]] == ["eks-platform-preview-read"]  # no ReadOnlyAccess
    state = _document(iam.get_role_policy(RoleName="eks-platform-preview", PolicyName="pulumi-state")["PolicyDocument"])
    read = next(s for s in state["Statement"] if s["Sid"] == "ReadState")["Resource"]
    assert not [r for r in read if "/prod" in r]  # the automatic role does not read prod's state
    prod_key = _document(kms.get_key_policy(KeyId=result.secrets_keys["prod"], PolicyName="default")["Policy"])
    users = {p for s in prod_key["Statement"] if "kms:Decrypt" in s["Action"] for p in
             (s["Principal"]["AWS"] if isinstance(s["Principal"]["AWS"], list) else [s["Principal"]["AWS"]])}
    assert users == {f"arn:aws:iam::{ACCOUNT}:role/eks-platform-deploy-prod", prod_preview["Arn"],
                     f"arn:aws:iam::{ACCOUNT}:role/platform-admin"}
    assert automatic["Arn"] not in users
    again = bootstrap.bootstrap(BUCKET, "us-east-1", ALIAS, stacks=["dev", "prod"], github_repo=REPO,
                                project_dir=project, environ=github)
    assert again.changes == [] and again.subject_template == "already set"


def test_an_old_administrator_deploy_role_is_brought_under_its_boundary(moto_server, project, monkeypatch):
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    iam = boto3.client("iam")
    iam.create_role(RoleName="eks-platform-deploy-dev", AssumeRolePolicyDocument=json.dumps(identities.github_trust(
        "arn:aws:iam::123456789012:oidc-provider/x", [f"repo:{REPO}:environment:dev"])))
    iam.attach_role_policy(RoleName="eks-platform-deploy-dev", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    code, out, _ = run(project, stacks=["dev"], github_repo=REPO)
    assert code == 0
    assert "detached AdministratorAccess from eks-platform-deploy-dev" in out
    assert "set the permissions boundary of eks-platform-deploy-dev" in out
    assert "reset the trust policy of eks-platform-deploy-dev" in out
    assert "gh api --method PUT repos/acme/platform/actions/oidc/customization/sub" in out  # no token: the command


def test_the_command_line_checks_its_arguments():
    from ops.__main__ import main

    with pytest.raises(SystemExit):
        main(["bootstrap", "--bucket", BUCKET, "--github-repo", "not-a-repo", "--stack", "dev"])
    with pytest.raises(SystemExit):
        main(["bootstrap", "--bucket", BUCKET, "--github-repo", REPO])

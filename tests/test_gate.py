"""`ops.gate`: what a job may do with a stack comes from its stack file (a `prod-eu` with `environment: prod` is
prod), and no job deploys through a GitHub environment that lacks the protection the trust model relies on."""

from __future__ import annotations

import http.server
import io
import json
import threading

import pytest

from ops import gate

MAIN_ONLY = {"protected_branches": False, "custom_branch_policies": True}
REVIEWED = [{"type": "required_reviewers", "prevent_self_review": True, "reviewers": [{"type": "Team"}]}]
GOOD = {"protection_rules": REVIEWED, "can_admins_bypass": False, "deployment_branch_policy": MAIN_ONLY}
MAIN = [{"name": "main", "type": "branch"}]


def stack_file(environment: str, account: str = "777788889999") -> str:
    return (f"config:\n  aws:region: eu-west-1\n  eks-platform:environment: {environment}\n"
            f"  eks-platform:accountId: \"{account}\"\n")


@pytest.fixture
def project(tmp_path):
    for stack, environment, account in (("dev", "dev", "111122223333"), ("prod-eu", "prod", "777788889999"),
                                         ("staging", "staging", "444455556666"), ("prod", "dev", "111122223333")):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_file(environment, account))
    return tmp_path


@pytest.mark.parametrize("environment, policies, approvals, main_only, expected", [
    (None, None, True, True, ["does not exist"]),
    (GOOD, MAIN, True, True, []),
    ({**GOOD, "protection_rules": []}, MAIN, True, True, ["no required reviewers"]),
    ({**GOOD, "protection_rules": [{**REVIEWED[0], "prevent_self_review": False}]}, MAIN, True, True,
     ["tick 'Prevent self-review'"]),
    ({**GOOD, "can_admins_bypass": True}, MAIN, True, True, ["untick 'Allow administrators to bypass"]),
    ({**GOOD, "deployment_branch_policy": None}, None, True, True, ["from any branch"]),
    ({**GOOD, "deployment_branch_policy": {"protected_branches": True, "custom_branch_policies": False}}, None,
     True, True, ["every protected branch"]),
    (GOOD, [*MAIN, {"name": "release/*", "type": "branch"}], True, True, ["accepts main, release/*"]),
    ({"protection_rules": [], "deployment_branch_policy": MAIN_ONLY}, MAIN, False, True, []),  # dev: main only
    ({"protection_rules": [], "deployment_branch_policy": None}, None, False, True, ["from any branch"]),
    ({**GOOD, "deployment_branch_policy": None}, None, True, False, []),  # a preview environment: any branch
])
def test_each_missing_protection_is_named_with_the_setting_to_change(environment, policies, approvals, main_only,
                                                                      expected):
    found = gate.environment_problems("prod", environment, policies, approvals, main_only)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found
    assert all("Settings > Environments" in f for f in found)


def test_the_environment_comes_from_the_stack_file_not_the_name(project):
    assert gate.read_stack("prod-eu", project).approved_deploys
    assert gate.read_stack("prod-eu", project).preview_environment == "prod-eu-preview"
    assert not gate.read_stack("prod", project).approved_deploys  # named prod, but a dev stack
    assert [c[0] for c in gate.checks(gate.read_stack("prod-eu", project))] == ["prod-eu", "prod-eu-preview"]
    assert gate.checks(gate.read_stack("dev", project)) == [("dev", False, True)]


def test_a_stack_file_that_does_not_say_its_environment_is_gated_as_prod(tmp_path):
    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  aws:region: us-east-1\n  eks-platform:accountId: '111122223333'\n")
    assert gate.read_stack("x", tmp_path).environment == "prod"


def test_the_matrix_is_every_stack_in_promotion_order_with_its_roles(project):
    rows = gate.matrix(project)["include"]
    assert [r["stack"] for r in rows] == ["dev", "prod", "staging", "prod-eu"]
    prod_eu = rows[-1]
    assert prod_eu["deploy-role"] == "arn:aws:iam::777788889999:role/eks-platform-deploy-prod-eu"
    assert prod_eu["preview-role"] == "arn:aws:iam::777788889999:role/eks-platform-preview-prod-eu"
    assert prod_eu["backend"] == "s3://eks-platform-state-777788889999-eu-west-1?region=eu-west-1&awssdk=v2"
    assert rows[0]["preview-role"] == "arn:aws:iam::111122223333:role/eks-platform-preview"
    assert rows[0]["preview-environment"] == ""


def test_a_stack_file_of_an_aws_account_that_claims_to_be_local_is_still_gated_as_prod(tmp_path):
    (tmp_path / "Pulumi.prod.yaml").write_text(stack_file("local"))  # environment local, but no target: kubeconfig
    assert gate.read_stack("prod", tmp_path).environment == "prod" and gate.read_stack("prod", tmp_path).approved_deploys


def test_a_local_stack_is_never_ci_s_to_deploy(project):
    (project / "Pulumi.local.yaml").write_text((gate.STACKS_DIR / "Pulumi.local.yaml").read_text())
    assert "local" not in [r["stack"] for r in gate.matrix(project)["include"]]
    with pytest.raises(gate.GateError, match="target: kubeconfig.*CI never deploys it"):
        gate.read_stack("local", project)


class _Api(http.server.BaseHTTPRequestHandler):
    environments: dict = {}

    def do_GET(self):
        prefix = "/repos/acme/eks-platform/environments/"
        name = self.path.removeprefix(prefix).removesuffix("/deployment-branch-policies")
        found = self.path.startswith(prefix) and name in _Api.environments and self.headers["Authorization"] == "Bearer t"
        body = {"branch_policies": MAIN} if self.path.endswith("/deployment-branch-policies") else \
            _Api.environments.get(name)
        self.send_response(200 if found else 404)
        self.end_headers()
        self.wfile.write(json.dumps(body if found else {}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}", "GITHUB_TOKEN": "t",
           "GITHUB_REPOSITORY": "acme/eks-platform"}
    server.shutdown()


def test_a_prod_eu_stack_needs_both_its_environments_protected_and_the_outputs_name_its_roles(project, api, tmp_path):
    output = tmp_path / "github_output"
    environ = {**api, "GITHUB_OUTPUT": str(output)}
    _Api.environments = {"prod-eu": GOOD}
    out, err = io.StringIO(), io.StringIO()
    assert gate.main("prod-eu", out, err, environ, project) == 1
    assert "the GitHub environment 'prod-eu-preview' does not exist" in err.getvalue()
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert written["deploy-role"] == "arn:aws:iam::777788889999:role/eks-platform-deploy-prod-eu"
    assert written["preview-environment"] == "prod-eu-preview" and written["protected"] == "true"
    _Api.environments = {"prod-eu": GOOD, "prod-eu-preview": {**GOOD, "deployment_branch_policy": None}}
    assert gate.main("prod-eu", io.StringIO(), io.StringIO(), api, project) == 0


def test_dev_deploys_without_reviewers_but_only_from_main(project, api):
    _Api.environments = {"dev": {"protection_rules": [], "deployment_branch_policy": None}}
    err = io.StringIO()
    assert gate.main("dev", io.StringIO(), err, api, project) == 1 and "from any branch" in err.getvalue()
    _Api.environments = {"dev": {"protection_rules": [], "deployment_branch_policy": MAIN_ONLY}}
    assert gate.main("dev", io.StringIO(), io.StringIO(), api, project) == 0


def test_no_stack_file_no_token_and_no_api_are_errors_not_tracebacks(project, api):
    err = io.StringIO()
    assert gate.main("qa", io.StringIO(), err, api, project) == 2 and "no stack file Pulumi.qa.yaml" in err.getvalue()
    err = io.StringIO()
    assert gate.main("dev", io.StringIO(), err, {}, project) == 2 and "GITHUB_TOKEN" in err.getvalue()
    err = io.StringIO()
    closed = {**api, "GITHUB_API_URL": "http://127.0.0.1:9"}
    assert gate.main("dev", io.StringIO(), err, closed, project) == 1 and "could not read" in err.getvalue()


def test_the_gate_needs_nothing_but_pyyaml_so_it_runs_before_the_install():
    import subprocess
    import sys

    from ops.stackfiles import PROJECT_DIR

    script = "import sys, ops.gate; print(sorted({m.split('.')[0] for m in sys.modules} & {'pydantic', 'pulumi', 'boto3'}))"
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr

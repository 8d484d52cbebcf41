"""The GitHub Actions workflows: who runs what, where, with which identity, behind which gate."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ops import gate
from ops.stackfiles import PROJECT_DIR
from stacks.platform import runner_project

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
RUNNER = "codebuild-eks-platform-{stack}-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action)]


def runs(job: dict) -> list[str]:
    return [s.get("run", s.get("uses", "")) for s in job["steps"]]


def all_jobs():
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in load(path.name)["jobs"].items():
            yield path.name, name, job


def test_the_workflows_pass_zizmor_with_no_finding_of_medium_severity_or_above():
    result = subprocess.run([str(Path(sys.executable).parent / "zizmor"), "--offline", "--format", "json",
                             str(WORKFLOWS)], capture_output=True, text=True, timeout=120)
    findings = json.loads(result.stdout)
    serious = [(f["ident"], f["determinations"]["severity"]) for f in findings
               if f["determinations"]["severity"] in ("Medium", "High")]
    assert serious == []
    assert result.returncode in (0, 11, 12, 13)  # zizmor exits 1x for findings, by their highest severity


def test_every_action_is_pinned_to_a_commit_and_no_checkout_keeps_its_token():
    for workflow, name, job in all_jobs():
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{workflow}/{name}: {step['uses']}"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_no_expression_is_expanded_inside_a_shell_script():
    for workflow, name, job in all_jobs():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{workflow}/{name}: {step['run']}"


def test_workflows_grant_nothing_by_default_and_jobs_only_what_they_use():
    for path in WORKFLOWS.glob("*.yml"):
        assert load(path.name)["permissions"] == {}, path.name
    for workflow, name, job in all_jobs():
        permissions = job.get("permissions")
        assert permissions is not None, f"{workflow}/{name}"
        assert "write-all" not in str(permissions)
        uses_aws = any(s.get("uses", "").startswith("aws-actions/") for s in job.get("steps", []))
        assert (permissions.get("id-token") == "write") == (uses_aws or "uses" in job), f"{workflow}/{name}"
        assert "secrets" not in job or job["secrets"] != "inherit"


def test_pull_requests_test_then_preview_every_stack_from_its_runner_as_the_preview_role():
    workflow = load("pull-request.yml")
    assert list(workflow["on"]) == ["pull_request"]
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"  # no forks
    assert preview["runs-on"] == RUNNER.format(stack="${{ matrix.stack }}")
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    (aws,) = steps_using(preview, "aws-actions/configure-aws-credentials@")
    assert aws["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    (pulumi,) = steps_using(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["suppress-outputs"] is True
    assert "environment" not in preview


def test_main_deploys_dev_then_staging_then_prod_through_the_reusable_workflow():
    jobs = load("deploy.yml")["jobs"]
    assert (jobs["dev"]["needs"], jobs["staging"]["needs"], jobs["prod"]["needs"]) == ("test", "dev", "staging")
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml" and jobs[stack]["with"] == {"stack": stack}


def test_a_deploy_is_gated_previewed_approved_then_applies_exactly_the_plan_from_the_runner():
    jobs = load("pulumi-up.yml")["jobs"]
    gate_job, preview, up = jobs["gate"], jobs["preview"], jobs["up"]
    assert 'python3 -m ops.gate --stack "$STACK"' in runs(gate_job)
    assert gate_job["permissions"]["actions"] == "read" and "environment" not in gate_job
    assert preview["needs"] == "gate" and up["needs"] == "preview"
    assert "environment" not in preview and up["environment"] == "${{ inputs.stack }}"
    runner = RUNNER.format(stack="${{ inputs.stack }}")
    assert preview["runs-on"] == runner and up["runs-on"] == runner
    (saved,) = steps_using(preview, "pulumi/actions@")
    assert saved["with"]["command"] == "preview" and saved["with"]["plan"] == "plan.json"
    assert saved["with"]["comment-on-summary"] is True
    (applied,) = steps_using(up, "pulumi/actions@")
    assert applied["with"]["command"] == "up" and applied["with"]["plan"] == "plan.json"
    assert steps_using(preview, "aws-actions/")[0]["with"]["role-to-assume"] == "${{ vars.AWS_PREVIEW_ROLE_ARN }}"
    assert steps_using(up, "aws-actions/")[0]["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    order = runs(up)
    download = next(i for i, r in enumerate(order) if r.startswith("actions/download-artifact@"))
    preflight = order.index('venv/bin/python -m ops preflight --stack "$STACK"')
    apply = next(i for i, r in enumerate(order) if r.startswith("pulumi/actions@"))
    validate = order.index('venv/bin/python -m ops validate --stack "$STACK" --wait 15m')
    assert download < preflight < apply < validate
    assert up["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}


def test_a_new_stack_is_created_without_its_in_cluster_layer_from_a_hosted_runner():
    job = load("first-deploy.yml")["jobs"]["aws-layer"]
    assert job["runs-on"] == "ubuntu-latest" and job["environment"] == "${{ inputs.stack }}"
    script = job["steps"][-1]["run"]
    assert script.index("ops preflight") < script.index("pulumi config set eks-platform:inClusterLayer false") \
        < script.index("pulumi up --yes")
    assert '"type": "kubernetes:' in script and "exit 1" in script  # refuses a stack that has the layer


def test_destroy_removes_the_in_cluster_layer_from_the_runner_before_the_aws_layer_and_the_runner():
    jobs = load("destroy.yml")["jobs"]
    first, second = jobs["in-cluster-layer"], jobs["aws-layer"]
    assert first["runs-on"] == RUNNER.format(stack="${{ inputs.stack }}") and second["needs"] == "in-cluster-layer"
    assert "pulumi config set eks-platform:inClusterLayer false" in first["steps"][-1]["run"]
    assert second["runs-on"] == "ubuntu-latest"  # the runner is destroyed in this job
    order = runs(second)
    dry_run = order.index('venv/bin/python -m ops teardown --stack "$STACK"')
    destroy = next(i for i, r in enumerate(order) if "pulumi destroy --yes --run-program" in r)
    sweep = order.index('venv/bin/python -m ops teardown --stack "$STACK" --yes')
    assert dry_run < destroy < sweep
    assert order[-1] == 'venv/bin/python -m ops cleanup --stack "$STACK" --yes'


def test_the_runner_label_the_workflows_use_is_the_project_the_stack_creates(prod):
    assert prod.one("aws:codebuild/project:Project").inputs["name"] == runner_project("prod")
    assert prod.outputs["ciRunner"] == RUNNER.format(stack="prod")


@pytest.mark.parametrize("environment, stack, expected", [
    (None, "prod", ["does not exist"]),
    ({"protection_rules": [], "deployment_branch_policy": None}, "prod", ["no required reviewers", "any branch"]),
    ({"protection_rules": [{"type": "required_reviewers", "reviewers": [{"type": "User"}]}],
      "deployment_branch_policy": {"protected_branches": True}}, "staging", []),
    (None, "dev", []),
])
def test_the_gate_fails_closed(environment, stack, expected):
    found = gate.problems(environment, stack)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found))


def test_the_gate_reads_the_environment_from_the_github_api():
    import http.server
    import threading

    class Api(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            known = self.path == "/repos/acme/eks-platform/environments/prod"
            body = json.dumps({"protection_rules": [{"type": "required_reviewers", "reviewers": [{}]}],
                               "deployment_branch_policy": {"custom_branch_policies": True}}).encode()
            self.send_response(200 if known and self.headers["Authorization"] == "Bearer t" else 404)
            self.end_headers()
            self.wfile.write(body if known else b"{}")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        environ = {"GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}", "GITHUB_TOKEN": "t",
                   "GITHUB_REPOSITORY": "acme/eks-platform"}
        out, err = io.StringIO(), io.StringIO()
        assert gate.main("prod", out, err, environ) == 0
        assert gate.main("staging", out, err, environ) == 1 and "does not exist" in err.getvalue()
    finally:
        server.shutdown()

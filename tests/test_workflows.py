"""The GitHub Actions workflows: who runs what, where, with which identity, behind which gate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from ops.stackfiles import PROJECT_DIR
from stacks import trust
from stacks.cloud import runner_project

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
RUNNER = "codebuild-eks-platform-{stack}-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
PREVIEW_RUNNER = "codebuild-eks-platform-{stack}-preview-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if s.get("uses", "").startswith(action)]


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


def test_pull_requests_preview_every_stack_of_the_stack_files_from_its_preview_runner():
    workflow = load("pull-request.yml")
    assert list(workflow["on"]) == ["pull_request"]
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == ["test", "stacks"]
    assert preview["if"] == "github.event.pull_request.head.repo.full_name == github.repository"  # no forks
    assert preview["runs-on"] == PREVIEW_RUNNER.format(stack="${{ matrix.stack }}")
    assert preview["strategy"]["matrix"] == "${{ fromJSON(needs.stacks.outputs.matrix) }}"
    assert 'python -m ops.gate --matrix' in workflow["jobs"]["stacks"]["steps"][-1]["run"]
    assert preview["environment"] == "${{ matrix.preview-environment }}"  # prod: waits for approval
    (aws,) = steps_using(preview, "aws-actions/configure-aws-credentials@")
    assert aws["with"] == {"role-to-assume": "${{ matrix.preview-role }}", "aws-region": "${{ matrix.region }}"}
    (pulumi,) = steps_using(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview" and pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["cloud-url"] == "${{ matrix.backend }}"
    assert pulumi["with"]["comment-on-pr"] is True and pulumi["with"]["suppress-outputs"] is True


def test_main_deploys_every_stack_one_at_a_time_in_promotion_order_through_the_reusable_workflow():
    jobs = load("deploy.yml")["jobs"]
    deploy = jobs["deploy"]
    assert deploy["needs"] == "stacks" and jobs["stacks"]["needs"] == "test"
    assert deploy["strategy"] == {"max-parallel": 1, "fail-fast": True,
                                  "matrix": "${{ fromJSON(needs.stacks.outputs.matrix) }}"}
    assert deploy["uses"] == "./.github/workflows/pulumi-up.yml" and deploy["with"] == {"stack": "${{ matrix.stack }}"}


def test_a_deploy_is_gated_previewed_approved_then_applies_exactly_the_plan_from_the_runner():
    jobs = load("pulumi-up.yml")["jobs"]
    gate_job, preview, up = jobs["gate"], jobs["preview"], jobs["up"]
    assert 'python -m ops.gate --stack "$STACK"' in gate_job["steps"][-1]["run"]
    assert gate_job["permissions"]["actions"] == "read" and "environment" not in gate_job
    assert preview["needs"] == "gate" and up["needs"] == ["gate", "preview"]
    assert preview["environment"] == "${{ needs.gate.outputs.preview_environment }}"
    assert up["environment"] == "${{ inputs.stack }}"
    runner = RUNNER.format(stack="${{ inputs.stack }}")
    assert preview["runs-on"] == runner and up["runs-on"] == runner
    (saved,) = steps_using(preview, "pulumi/actions@")
    assert saved["with"]["command"] == "preview" and saved["with"]["plan"] == "plan.json"
    assert saved["with"]["comment-on-summary"] is True
    (applied,) = steps_using(up, "pulumi/actions@")
    assert applied["with"]["command"] == "up" and applied["with"]["plan"] == "plan.json"
    assert steps_using(preview, "aws-actions/")[0]["with"]["role-to-assume"] == "${{ needs.gate.outputs.preview_role }}"
    assert steps_using(up, "aws-actions/")[0]["with"]["role-to-assume"] == "${{ needs.gate.outputs.deploy_role }}"
    outputs = gate_job["outputs"]
    assert outputs["deploy_role"] == "${{ steps.gate.outputs.deploy-role }}"
    order = runs(up)
    download = next(i for i, r in enumerate(order) if r.startswith("actions/download-artifact@"))
    preflight = order.index('venv/bin/python -m ops preflight --stack "$STACK"')
    apply = next(i for i, r in enumerate(order) if r.startswith("pulumi/actions@"))
    validate = order.index('venv/bin/python -m ops validate --stack "$STACK" --wait 15m')
    assert download < preflight < apply < validate
    assert up["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}


def test_the_workflows_the_roles_trust_are_the_ones_that_assume_them():
    deploying, previewing = set(), set()
    for workflow, _, job in all_jobs():
        for step in steps_using(job, "aws-actions/configure-aws-credentials@"):
            role = step["with"]["role-to-assume"]
            (deploying if "deploy_role" in role else previewing).add(workflow)
    assert deploying == set(trust.DEPLOY_WORKFLOWS)
    assert previewing == {trust.PULL_REQUEST_WORKFLOW, trust.PREVIEW_ON_MAIN_WORKFLOW}
    names = {path.name: load(path.name)["name"] for path in WORKFLOWS.glob("*.yml")}
    on_deploy_runner = {names[w] for w, _, job in all_jobs() if "-runner-${{" in str(job.get("runs-on"))
                        and "preview-runner" not in str(job.get("runs-on"))}
    callers = {names[w] for w, _, job in all_jobs() if job.get("uses") == "./.github/workflows/pulumi-up.yml"}
    assert (on_deploy_runner - {"pulumi-up"}) | callers == set(trust.DEPLOY_RUNNER_WORKFLOWS)
    assert {names[w] for w, _, job in all_jobs() if "preview-runner" in str(job.get("runs-on"))} == set(
        trust.PREVIEW_RUNNER_WORKFLOWS)


def test_workflows_take_the_stack_from_the_stack_files_not_a_list():
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "[dev, staging, prod]" not in text and "options:" not in text, path.name
    assert (PROJECT_DIR / "ops" / "gate-requirements.txt").read_text().strip() in \
        (PROJECT_DIR / "requirements.txt").read_text().splitlines()


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
    assert first["runs-on"] == RUNNER.format(stack="${{ inputs.stack }}") and second["needs"] == ["gate", "in-cluster-layer"]
    assert "pulumi config set eks-platform:inClusterLayer false" in first["steps"][-1]["run"]
    assert second["runs-on"] == "ubuntu-latest"  # the runner is destroyed in this job
    order = runs(second)
    dry_run = order.index('venv/bin/python -m ops teardown --stack "$STACK"')
    destroy = next(i for i, r in enumerate(order) if "pulumi destroy --yes --run-program" in r)
    sweep = order.index('venv/bin/python -m ops teardown --stack "$STACK" --yes')
    assert dry_run < destroy < sweep
    assert order[-1] == 'venv/bin/python -m ops cleanup --stack "$STACK" --yes'


def test_the_runner_labels_the_workflows_use_are_the_projects_the_stack_creates(prod):
    names = {r.inputs["name"] for r in prod.of_type("aws:codebuild/project:Project")}
    assert names == {runner_project("prod"), runner_project("prod", "preview")}
    assert prod.outputs["ciRunner"] == RUNNER.format(stack="prod")
    assert prod.outputs["ciPreviewRunner"] == PREVIEW_RUNNER.format(stack="prod")


def test_the_local_target_job_runs_the_platform_on_kind_with_no_cloud_identity():
    from ops import local

    workflow = load("local-target.yml")
    assert set(workflow["on"]) == {"pull_request"} and workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"contents": "read"} and job["runs-on"].startswith("ubuntu-")
    text = (WORKFLOWS / "local-target.yml").read_text()
    assert "secrets." not in text and "id-token" not in text and "aws-actions" not in text
    (pulumi,) = steps_using(job, "pulumi/actions@")
    assert pulumi["with"]["pulumi-version"] == local.PULUMI_VERSION
    commands = runs(job)
    assert [c for c in commands if "ops local" in c or "ops validate" in c] == [
        "venv/bin/python -m ops local up", "venv/bin/python -m ops validate --stack local --wait 10m",
        "venv/bin/python -m ops local down"]
    assert job["steps"][-1]["if"] == "always()"  # the cluster goes even when validation fails
    assert any("sigs.k8s.io/kind@" in c and "KIND_VERSION" in c for c in commands)

"""The GitHub Actions workflows: valid YAML with the jobs and steps the README promises."""

from __future__ import annotations

import yaml

from ops.stackfiles import PROJECT_DIR

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith(action)]


def test_pull_requests_test_then_preview_every_stack_with_the_policy_pack():
    workflow = load("pull-request.yml")
    assert list(workflow["on"]) == ["pull_request"]
    assert workflow["permissions"]["id-token"] == "write"
    assert any(s.get("run") == "bash .ci/run" for s in workflow["jobs"]["test"]["steps"])
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "test"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    (pulumi,) = steps_using(preview, "pulumi/actions@")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policy"
    assert pulumi["with"]["comment-on-pr"] is True
    (aws,) = steps_using(preview, "aws-actions/configure-aws-credentials@")
    assert "role-to-assume" in aws["with"] and "aws-access-key-id" not in aws["with"]


def test_main_deploys_dev_then_staging_then_prod():
    workflow = load("deploy.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    jobs = workflow["jobs"]
    assert jobs["dev"]["needs"] == "test" and jobs["staging"]["needs"] == "dev" and jobs["prod"]["needs"] == "staging"
    for stack in ("dev", "staging", "prod"):
        assert jobs[stack]["uses"] == "./.github/workflows/pulumi-up.yml"
        assert jobs[stack]["with"] == {"stack": stack}


def test_each_deploy_runs_in_its_environment_one_at_a_time_with_oidc_credentials():
    workflow = load("pulumi-up.yml")
    job = workflow["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-up-${{ inputs.stack }}", "cancel-in-progress": False}
    assert workflow["permissions"]["id-token"] == "write"
    (pulumi,) = steps_using(job, "pulumi/actions@")
    assert pulumi["with"]["command"] == "up" and pulumi["with"]["policyPacks"] == "policy"
    (aws,) = steps_using(job, "aws-actions/configure-aws-credentials@")
    assert "role-to-assume" in aws["with"]
    runs = [s.get("run", s.get("uses", "")) for s in job["steps"]]
    preflight = runs.index("venv/bin/python -m ops preflight --stack ${{ inputs.stack }}")
    up = next(i for i, r in enumerate(runs) if r.startswith("pulumi/actions@"))
    check = runs.index("venv/bin/python -m ops validate --stack ${{ inputs.stack }} --wait 15m")
    assert preflight < up < check

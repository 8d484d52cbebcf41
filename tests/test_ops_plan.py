"""`python -m ops plan <stack>`: the offline main job."""

from __future__ import annotations

import io
import subprocess
import sys

import json
import shutil

from ops import plan
from ops.stackfiles import PROJECT_DIR
from tests.conftest import FIXTURE_STACKS


def run_plan(stack: str, project_dir=FIXTURE_STACKS, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return plan.main(stack, out, err, project_dir, **options), out.getvalue(), err.getvalue()


def test_plan_prints_the_resource_tree_counts_and_outputs():
    code, out, err = run_plan("prod")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("OFFLINE EVALUATION on Pulumi's mock engine, not a `pulumi preview`")
    (stack_line,) = [i for i, line in enumerate(lines) if line.startswith("Stack prod: ")]
    assert lines[stack_line].endswith(" resources registered by the program")
    assert "pulumi-eks components create more inside them than shown" in lines[stack_line + 1]
    assert "eks-platform:control-plane:ControlPlane  acme-prod" in lines
    assert "  eks:index:Cluster  acme-prod [protected]" in lines
    assert "    aws:eks/nodeGroup:NodeGroup  acme-prod-gpu" in lines
    assert "     3  aws:ec2/natGateway:NatGateway" in lines
    assert "  kubeconfig: [secret]  (placeholder)" in lines
    assert '  clusterName: "acme-prod"' in lines
    assert '  vpcId: "vpc-acme-prod"  (placeholder)' in lines


def test_plan_reports_every_config_problem_and_fails(tmp_path):
    (tmp_path / "Pulumi.bad.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  eks-platform:environment: prod\n"
        "  eks-platform:network: {natGateways: single, cidr: 8.8.0.0/16}\n")
    code, out, err = run_plan("bad", tmp_path)
    assert code == 1 and out == ""
    assert "eks-platform:network.natGateways" in err and "eks-platform:network.cidr" in err
    assert "Traceback" not in err


def test_plan_command_line_unknown_stack():
    result = subprocess.run([sys.executable, "-m", "ops", "plan", "nope"], cwd=PROJECT_DIR,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no stack file Pulumi.nope.yaml; stacks here: dev, local, prod, staging" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_output_is_known_as_placeholder_or_configured(any_stack):
    assert plan.PLACEHOLDER_OUTPUTS.isdisjoint(plan.CONFIGURED_OUTPUTS)
    assert set(any_stack.outputs) == plan.PLACEHOLDER_OUTPUTS | plan.CONFIGURED_OUTPUTS


def test_plan_starts_with_the_resolved_settings_marking_what_the_stack_file_set():
    code, out, _ = run_plan("prod")
    lines = out.splitlines()
    assert lines[1] == "Resolved configuration (* = set in the stack file, else the prod profile's):"
    general = next(line for line in lines if "node group general:" in line)
    assert general.startswith(" * node group general: m7i.xlarge/m6i.xlarge* ON_DEMAND ")
    assert "min/desired/max 3/3/12 disk 100 GiB*" in general
    gpu = next(line for line in lines if "node group gpu:" in line)
    assert "GPU (tainted nvidia.com/gpu)" in gpu and "disk 100 GiB " in gpu  # the profile's disk: no mark
    assert any(line.startswith("   Prometheus x2, 30d, 100 GiB; Alertmanager x3") for line in lines)
    assert " * team payments: payments, payments-jobs; quota cpu 20, memory 64Gi, pods 200" in "\n".join(lines)


def test_json_then_diff_shows_what_an_edit_changes_and_never_a_secret(tmp_path):
    shutil.copy(FIXTURE_STACKS / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    saved = tmp_path / "before.json"
    assert run_plan("dev", tmp_path, json_file=saved)[0] == 0
    document = json.loads(saved.read_text())
    assert {"stack", "settings", "resources", "outputs"} <= set(document)
    assert document["outputs"]["grafanaAdminPassword"] == "[secret]"
    (secret,) = [r for r in document["resources"] if r["type"] == "kubernetes:core/v1:Secret"
                 and r["name"] == "acme-dev-grafana-admin"]
    assert secret["inputs"]["stringData"] == "[secret]"
    text = (tmp_path / "Pulumi.dev.yaml").read_text().replace("      maxSize: 2\n", "      maxSize: 3\n", 1)
    (tmp_path / "Pulumi.dev.yaml").write_text(text + "  eks-platform:grafana:\n    allowedCidrs: [198.51.100.0/24]\n"
                                              "  eks-platform:dns:\n    zoneName: example.com\n    subdomain: dev\n")
    code, out, _ = run_plan("dev", tmp_path, previous=saved)
    since = out[out.index("Since "):].splitlines()
    assert code == 0
    assert any(line.startswith("  + kubernetes:networking.k8s.io/v1:Ingress  acme-dev-grafana") for line in since)
    assert any(line.startswith("  ~ aws:eks/nodeGroup:NodeGroup  acme-dev-gpu: ") and "scalingConfig" in line
               for line in since), since
    assert run_plan("dev", tmp_path, previous=saved, json_file=tmp_path / "after.json")[0] == 0
    code, out, _ = run_plan("dev", tmp_path, previous=tmp_path / "after.json")
    assert "  no change since the saved plan" in out


def test_a_dev_gpu_group_left_on_demand_is_questioned(tmp_path):
    shutil.copy(FIXTURE_STACKS / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    text = (tmp_path / "Pulumi.dev.yaml").read_text()
    assert run_plan("dev", tmp_path)[2].count("GPU group on ON_DEMAND") == 0  # the fixture asks for SPOT
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace("      capacityType: SPOT\n", "", 1))
    _, _, err = run_plan("dev", tmp_path)
    assert "nodeGroups.gpu: a GPU group on ON_DEMAND capacity, the dev default" in err

"""`python -m ops plan <stack>`: the offline main job."""

from __future__ import annotations

import io
import subprocess
import sys

from ops import plan
from ops.stackfiles import PROJECT_DIR


def run_plan(stack: str, project_dir=PROJECT_DIR) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return plan.main(stack, out, err, project_dir), out.getvalue(), err.getvalue()


def test_plan_prints_the_resource_tree_counts_and_outputs():
    code, out, err = run_plan("prod")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("OFFLINE EVALUATION on Pulumi's mock engine, not a `pulumi preview`")
    assert lines[1].startswith("Stack prod: ") and lines[1].endswith(" resources registered by the program")
    assert "pulumi-eks components create more inside them than shown" in lines[2]
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
    assert "no stack file Pulumi.nope.yaml; stacks here: dev, prod, staging" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_output_is_known_as_placeholder_or_configured(any_stack):
    assert plan.PLACEHOLDER_OUTPUTS.isdisjoint(plan.CONFIGURED_OUTPUTS)
    assert set(any_stack.outputs) == plan.PLACEHOLDER_OUTPUTS | plan.CONFIGURED_OUTPUTS

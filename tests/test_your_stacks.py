"""The project's own stack files (`Pulumi.*.yaml` at the root): whatever a team writes there, each must only
do what any valid stack does: pass validation, plan on the mock engine, and pass the policy pack's mandatory
policies. Nothing here depends on what the stacks contain; the behavioural tests use tests/stacks."""

from __future__ import annotations

import pytest

from ops.engine import evaluate
from ops.stackfiles import PROJECT_DIR, read_stack_config
from tests.test_policy_pack import mandatory_violations

YOUR_STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in PROJECT_DIR.glob("Pulumi.*.yaml"))


@pytest.mark.skipif(not YOUR_STACKS, reason="no Pulumi.<stack>.yaml at the project's root yet: python -m ops init-stack")
@pytest.mark.parametrize("stack", YOUR_STACKS)
def test_your_stack_validates_plans_and_passes_the_policies(stack):
    evaluation = evaluate(stack, read_stack_config(stack, PROJECT_DIR))
    assert evaluation.error is None, str(evaluation.error)
    if evaluation.settings.is_local:
        assert not [r for r in evaluation.registrations if r.type.startswith(("aws:", "eks:"))]
    else:
        assert any(r.type == "eks:index:Cluster" for r in evaluation.registrations)
    assert mandatory_violations(evaluation, stack) == []

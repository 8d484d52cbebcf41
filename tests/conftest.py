"""Shared harness: each stack's real `Pulumi.<stack>.yaml` evaluated on the mock engine.

`ops.engine.evaluate` gives every run a fresh mock monitor, config and root stack, so runs are
isolated; the three real stacks are evaluated once per session and shared read-only.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from moto import mock_aws

from ops.engine import Evaluation, evaluate
from ops.stackfiles import read_stack_config

STACKS = ("dev", "staging", "prod")


def run_stack(stack: str, **overrides: Any) -> Evaluation:
    """Evaluate `stack` with its stack file, each `key=value` override replacing `eks-platform:<key>`
    (`region=` sets `aws:region`; a value of None removes the key)."""
    config = copy.deepcopy(read_stack_config(stack))
    for key, value in overrides.items():
        full = "aws:region" if key == "region" else f"eks-platform:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = value
    return evaluate(stack, config)


_cache: dict[str, Evaluation] = {}


def stack_evaluation(stack: str) -> Evaluation:
    if stack not in _cache:
        evaluation = run_stack(stack)
        assert evaluation.error is None, str(evaluation.error)
        _cache[stack] = evaluation
    return _cache[stack]


@pytest.fixture(params=STACKS)
def any_stack(request) -> Evaluation:
    return stack_evaluation(request.param)


@pytest.fixture
def dev() -> Evaluation:
    return stack_evaluation("dev")


@pytest.fixture
def staging() -> Evaluation:
    return stack_evaluation("staging")


@pytest.fixture
def prod() -> Evaluation:
    return stack_evaluation("prod")


@pytest.fixture
def aws(monkeypatch):
    """moto's emulation of AWS, with dummy credentials and no profile from the machine."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield

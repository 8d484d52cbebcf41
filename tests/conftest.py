"""Shared harness: the fixture stacks (`tests/stacks/Pulumi.<stack>.yaml`) evaluated on the mock engine.

The behavioural tests run on these fixtures, never on the project's own stack files, so a team's edits to
its `Pulumi.<stack>.yaml` cannot break them (`test_your_stacks.py` checks those files for what holds for any
valid stack). The operator commands read the fixtures too (EKS_PLATFORM_STACKS_DIR, set before any import).
`ops.engine.evaluate` gives every run a fresh mock monitor, config and root stack, so runs are isolated;
the three fixture stacks are evaluated once per session and shared read-only.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
import os
from pathlib import Path
from typing import Any

FIXTURE_STACKS = Path(__file__).resolve().parent / "stacks"
os.environ["EKS_PLATFORM_STACKS_DIR"] = str(FIXTURE_STACKS)

import kubernetes_validate.utils
import pytest
from moto import mock_aws

from ops.engine import Evaluation, evaluate
from ops.stackfiles import read_stack_config
from stacks.schema import NESTED_SECRETS, SECRET_KEYS, TEAM_WEBHOOK
from stacks.secure import SecureMap, SecureValue

STACKS = ("dev", "staging", "prod")


def _keep_out_of_gc() -> None:
    """Move every object alive now (the SDKs' modules, the cached evaluations) out of the cyclic collector's
    reach: its full passes over them were a third of each stack evaluation's time."""
    gc.collect()
    gc.freeze()


_keep_out_of_gc()


def _share_aws_models() -> None:
    """One botocore data loader for every session the tests make: each `boto3.session.Session()` of the code
    under test would otherwise parse the same service models again (a third of the AWS-facing tests' time).
    The models are read-only data; credentials, region and endpoints stay per session."""
    import botocore.loaders
    import botocore.session

    loader = botocore.loaders.create_loader()
    botocore.session.Session._register_data_loader = (
        lambda self: self._components.lazy_register_component("data_loader", lambda: loader))


_share_aws_models()

# kubernetes-validate reads and parses its schema files (the definitions are megabytes) on every call:
# keep what it read, so schema-checking hundreds of rendered objects takes a fraction of a second.
kubernetes_validate.utils.schema_contents = functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents)


class FastClock:
    """A clock for bounded waits: `sleep` advances time at once."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


SILENT_BY_CHOICE = {"alerting": {"delivery": "none"}}  # prod without Slack and heartbeat, for tests about other things
HEARTBEAT = "https://heartbeat.example.com/ping/0b7c"


def _has_team_webhook(key: str, value: Any) -> bool:
    return key == "teams" and isinstance(value, dict) and any(
        isinstance(team, dict) and TEAM_WEBHOOK[1] in (team.get(TEAM_WEBHOOK[0]) or {}) for team in value.values())


def run_stack(stack: str, **overrides: Any) -> Evaluation:
    """Evaluate `stack` with its stack file, each `key=value` override replacing `eks-platform:<key>`
    (`region=` sets `aws:region`; a value of None removes the key). Secret keys are set as secrets, as
    `pulumi config set --secret` does."""
    config = copy.deepcopy(read_stack_config(stack))
    for key, value in overrides.items():
        full = "aws:region" if key == "region" else f"eks-platform:{key}"
        if value is None:
            config.pop(full, None)
        else:
            config[full] = SecureValue(value) if key in SECRET_KEYS and isinstance(value, str) else \
                SecureMap(value) if any(path[0] == key and isinstance(value, dict) and path[1] in value
                                        for path in NESTED_SECRETS) or _has_team_webhook(key, value) else value
    return evaluate(stack, config)


_cache: dict[str, Evaluation] = {}


def stack_evaluation(stack: str) -> Evaluation:
    if stack not in _cache:
        evaluation = run_stack(stack)
        assert evaluation.error is None, str(evaluation.error)
        _cache[stack] = evaluation
        _keep_out_of_gc()
    return _cache[stack]


_variants: dict[str, Evaluation] = {}


def stack_variant(stack: str, **overrides: Any) -> Evaluation:
    """`run_stack`, evaluated once per session for the same overrides (read-only: do not change it)."""
    key = f"{stack}:{json.dumps(overrides, sort_keys=True)}"
    if key not in _variants:
        evaluation = run_stack(stack, **overrides)
        assert evaluation.error is None, str(evaluation.error)
        _variants[key] = evaluation
        _keep_out_of_gc()
    return _variants[key]


# One dev stack with teams that make the choices the examples do not: baseline Pod Security, load balancers,
# GPUs and a larger storage quota, no internet, a platform peer, a search team. Shared by the tenancy tests.
DEV_TEAMS = {
    "legacy": {"namespaces": ["legacy"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"},
               "podSecurity": "baseline"},
    "ml": {"namespaces": ["ml"], "allowLoadBalancers": True,
           "quota": {"cpu": "4", "memory": "16Gi", "pods": "50", "gpus": "2", "storage": "1Ti"},
           "egress": {"internet": False, "namespaces": ["monitoring"]}},
    "search": {"namespaces": ["search"], "quota": {"cpu": "1", "memory": "1Gi", "pods": "10"}},
}


def dev_with_teams(**overrides: Any) -> Evaluation:
    return stack_variant("dev", teams=DEV_TEAMS, **overrides)


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


@pytest.fixture(scope="session")
def _moto_server_url():
    """moto in server mode on a free loopback port, for code that talks to AWS over HTTP (AWS_ENDPOINT_URL)."""
    import socket

    from moto.server import ThreadedMotoServer


    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def moto_server(_moto_server_url, monkeypatch):
    """A clean moto server; boto3 clients made in the test reach it through AWS_ENDPOINT_URL."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{_moto_server_url}/moto-api/reset", method="POST"), timeout=10)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": _moto_server_url}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield _moto_server_url

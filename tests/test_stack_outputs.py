"""What a stack exports, and the real stack files."""

from __future__ import annotations

import json

import pytest
import yaml

from ops.stackfiles import PROJECT_DIR, load_settings, stack_names
from tests.conftest import STACKS


def test_every_environment_has_a_stack_file():
    assert stack_names() == sorted([*STACKS, "local"])


@pytest.mark.parametrize("stack", [*STACKS, "local"])
def test_stack_files_select_their_profile_and_hold_only_known_keys(stack):
    settings = load_settings(stack)
    assert settings.config.environment == settings.profile.name == stack


def test_exported_outputs(any_stack):
    outputs = any_stack.outputs
    env = any_stack.stack
    assert set(outputs) == {"clusterName", "clusterEndpoint", "kubeconfig", "oidcProviderArn", "vpcId",
                            "publicSubnetIds", "privateSubnetIds", "nodeGroupNames", "grafanaAdminPassword",
                            "lokiBucket", "alertDelivery", "baseDomain", "grafanaUrl", "ciRunner", "edge",
                            "nameServers", "backupBucket", "ciPreviewRunner"}
    assert outputs["clusterName"] == f"acme-{env}"
    assert outputs["backupBucket"] == f"acme-{env}-velero-{any_stack.settings.account_id}-us-east-1"
    assert outputs["clusterEndpoint"].startswith("https://")
    assert outputs["oidcProviderArn"].startswith(f"arn:aws:iam::{any_stack.settings.account_id}:oidc-provider/oidc.eks.us-east-1")
    assert outputs["vpcId"] == f"vpc-acme-{env}"
    assert set(outputs["nodeGroupNames"]) == {"general", "gpu"}
    assert len(outputs["privateSubnetIds"]) == len(outputs["publicSubnetIds"])
    assert outputs["ciRunner"] == f"codebuild-eks-platform-{env}-runner-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


def test_kubeconfig_is_exported_as_a_secret_and_reaches_the_cluster(any_stack):
    assert any_stack.secret_outputs == {"kubeconfig", "grafanaAdminPassword"}
    kubeconfig = json.loads(any_stack.outputs["kubeconfig"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == any_stack.outputs["clusterEndpoint"]


def test_main_is_thin():
    source = (PROJECT_DIR / "__main__.py").read_text()
    assert "build(settings)" in source and "pulumi.export" in source
    assert yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["runtime"] == {
        "name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}

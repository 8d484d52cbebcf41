"""Every Kubernetes object the program creates itself is valid for the cluster's Kubernetes version."""

from __future__ import annotations

import kubernetes_validate
import pytest

from tests.conftest import run_stack
from tests.k8s import kubernetes_objects


def assert_valid(objects: list[dict], version: str) -> None:
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, f"{version}.0", strict=True)


def test_objects_are_schema_valid(any_stack):
    objects = kubernetes_objects(any_stack)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Secret", "ConfigMap", "StorageClass"} <= kinds
    assert_valid(objects, "1.34")


@pytest.mark.parametrize("version", ["1.32", "1.35"])
def test_objects_are_schema_valid_for_other_supported_versions(version):
    evaluation = run_stack("prod", kubernetesVersion=version, upgradePolicy="EXTENDED",
                           slackWebhookUrl="https://hooks.slack.com/services/T/B/C")
    assert_valid(kubernetes_objects(evaluation), version)


def test_the_validator_rejects_a_broken_object():
    broken = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "x"},
              "provisioner": "ebs.csi.aws.com", "volumeBindingMode": "WaitForFirstConsumer", "reclaimPolicy": 3}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)

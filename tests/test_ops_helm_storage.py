"""Helm's release records as ConfigMaps: the provider says so, the preview role reads no Secret, and
`ops helm-storage` moves an older cluster's records without changing a byte of them."""

from __future__ import annotations

import base64
import gzip
import io
import json

from kubernetes import client

from ops import helm_storage
from tests.conftest import STACKS, stack_evaluation


class FakeCore:
    """The CoreV1Api calls the move makes, over in-memory Secrets and ConfigMaps (as the API returns them)."""

    def __init__(self, secrets: list[client.V1Secret]):
        self.secrets = {(s.metadata.namespace, s.metadata.name): s for s in secrets}
        self.config_maps: dict[tuple[str, str], client.V1ConfigMap] = {}

    def list_secret_for_all_namespaces(self, label_selector: str):
        key, value = label_selector.split("=")
        return client.V1SecretList(items=[s for s in self.secrets.values() if (s.metadata.labels or {}).get(key) == value])

    def create_namespaced_config_map(self, namespace, body):
        if (namespace, body.metadata.name) in self.config_maps:
            raise client.ApiException(status=409)
        self.config_maps[(namespace, body.metadata.name)] = body

    def delete_namespaced_secret(self, name, namespace):
        del self.secrets[(namespace, name)]


def helm_encoded(release: dict) -> str:
    """What Helm stores as a release record: base64 of the gzipped JSON."""
    return base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()


def record(name: str, namespace: str, release: dict) -> client.V1Secret:
    labels = {"owner": "helm", "name": name.split(".")[3], "status": "deployed", "version": "3"}
    return client.V1Secret(metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels),
                           type="helm.sh/release.v1",
                           data={"release": base64.b64encode(helm_encoded(release).encode()).decode()})


def test_every_stacks_provider_keeps_releases_as_configmaps_and_the_preview_reads_no_secret():
    for stack in STACKS:
        evaluation = stack_evaluation(stack)
        (provider,) = [r for r in evaluation.registrations if r.type == "pulumi:providers:kubernetes" and r.name == "k8s"]
        assert json.loads(provider.inputs["helmReleaseSettings"]) == {"driver": "configmap"}
        preview = evaluation.one("eks:index:Cluster").inputs["accessEntries"]["preview"]
        assert list(preview["accessPolicies"]) == ["view"]  # AmazonEKSViewPolicy: everything but Secrets


def test_a_dry_run_lists_and_yes_moves_each_record_unchanged_then_nothing_is_left():
    release = {"name": "kube-prometheus-stack", "version": 3, "config": {"grafana": {"enabled": True}}}
    secrets = [record("sh.helm.release.v1.kube-prometheus-stack.v3", "monitoring", release),
               client.V1Secret(metadata=client.V1ObjectMeta(name="grafana-admin", namespace="monitoring"),
                               data={"admin-password": "eA=="})]
    core = FakeCore(secrets)
    out = io.StringIO()
    assert helm_storage.main("prod", False, out, io.StringIO(), core=core) == 0
    assert "would move monitoring/sh.helm.release.v1.kube-prometheus-stack.v3" in out.getvalue()
    assert core.config_maps == {}
    assert helm_storage.main("prod", True, io.StringIO(), io.StringIO(), core=core) == 0
    moved = core.config_maps[("monitoring", "sh.helm.release.v1.kube-prometheus-stack.v3")]
    assert json.loads(gzip.decompress(base64.b64decode(moved.data["release"]))) == release
    assert moved.metadata.labels["owner"] == "helm" and moved.metadata.labels["status"] == "deployed"
    assert set(core.secrets) == {("monitoring", "grafana-admin")}  # only Helm's records move
    out = io.StringIO()
    helm_storage.main("prod", True, out, io.StringIO(), core=core)
    assert "nothing to move" in out.getvalue()


class RefusingCore(FakeCore):
    def list_secret_for_all_namespaces(self, label_selector: str):
        raise client.ApiException(status=403, reason="Forbidden")


def test_a_refusing_or_unreachable_cluster_is_one_line_not_a_traceback():
    err = io.StringIO()
    assert helm_storage.main("prod", True, io.StringIO(), err, core=RefusingCore([])) == 1
    assert err.getvalue().startswith("error: the cluster's API refused or could not be reached (") and \
        "Traceback" not in err.getvalue() and len(err.getvalue().splitlines()) == 1

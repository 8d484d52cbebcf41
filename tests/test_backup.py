"""Backups: Velero's bucket, its role, the CSI snapshot class, the schedule per environment, the objects
Helm installs for it, and the configuration that drives it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml

from components.backup import AWS_PLUGIN_IMAGE, SCHEDULE_OBJECT, VELERO_MINOR
from components.schedules import longest_gap
from components.helm import CHARTS
from components.storage import SNAPSHOT_CLASS
from tests.conftest import STACKS, FastClock, stack_evaluation, stack_variant
from tests.k8s import release, reveal, values
from tests.rendering import CHARTS_DIR, needs_charts, render_stack
from tests.test_config_validation import problems_of

CONFIG_GROUP = "kubernetes:yaml/v2:ConfigGroup"
RETENTION = {"dev": 7, "staging": 14, "prod": 30}


def backups(evaluation, type_: str):
    return evaluation.one(type_, f"acme-{evaluation.stack}-backups")


# ---- the bucket and the role ---------------------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_the_backup_bucket_is_private_encrypted_versioned_and_kept_in_prod_only(stack):
    evaluation = stack_evaluation(stack)
    bucket, key = backups(evaluation, "aws:s3/bucket:Bucket"), backups(evaluation, "aws:kms/key:Key")
    assert bucket.inputs["bucket"] == f"acme-{stack}-velero-{evaluation.settings.account_id}-us-east-1"
    kept = stack == "prod"
    for resource in (bucket, key):
        assert (resource.protect, resource.retain_on_delete) == (kept, kept)
    assert bucket.inputs["forceDestroy"] is not kept
    assert key.inputs["enableKeyRotation"] is True
    encryption = backups(evaluation, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    default = encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}
    block = backups(evaluation, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    versioning = backups(evaluation, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    policy = json.loads(backups(evaluation, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    lifecycle = backups(evaluation, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (rule,) = lifecycle.inputs["rules"]
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": RETENTION[stack]}
    assert "expiration" not in rule  # Velero expires backups itself; S3 only forgets deleted versions
    assert lifecycle.depends_on(versioning)


def test_velero_reaches_its_bucket_and_key_only_through_pod_identity(prod):
    role = prod.one("aws:iam/role:Role", "acme-prod-velero")
    assert json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"}
    bucket_arn = backups(prod, "aws:s3/bucket:Bucket").outputs["arn"]
    key_arn = backups(prod, "aws:kms/key:Key").outputs["arn"]
    statements = json.loads(prod.one("aws:iam/rolePolicy:RolePolicy", "acme-prod-velero").inputs["policy"])["Statement"]
    assert {(tuple(s["Resource"]), s["Effect"]) for s in statements} == {
        ((bucket_arn,), "Allow"), ((f"{bucket_arn}/*",), "Allow"), ((key_arn,), "Allow")}
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                       "s3:ListMultipartUploadParts", "kms:Decrypt", "kms:GenerateDataKey"}
    assert not [a for a in actions if a.startswith("ec2:")]  # the CSI driver takes and deletes the snapshots
    association = prod.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "acme-prod-velero").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("velero", "velero")
    chart = values(prod, "velero")
    assert chart["credentials"] == {"useSecret": False}
    assert chart["serviceAccount"]["server"] == {"create": True, "name": "velero"}


# ---- snapshots and ordering ----------------------------------------------------------------------

def test_volumes_are_snapshotted_by_the_csi_driver_with_a_class_velero_picks(prod):
    addon = prod.one("aws:eks/addon:Addon", "acme-prod-snapshot-controller")
    assert addon.inputs["addonVersion"] == "v1.36.0-snapshot-controller-eksbuild.1"
    group = prod.one(CONFIG_GROUP, f"acme-prod-{SNAPSHOT_CLASS}")
    (snapshot_class,) = reveal(group.inputs["objs"])
    assert snapshot_class["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert snapshot_class["kind"] == "VolumeSnapshotClass"
    assert snapshot_class["driver"] == "ebs.csi.aws.com"
    assert snapshot_class["deletionPolicy"] == "Retain"  # a deleted namespace keeps its backups' snapshots
    assert snapshot_class["metadata"]["labels"] == {"velero.io/csi-volumesnapshot-class": "true"}
    assert set(snapshot_class["parameters"].values()) == {"kubernetes.io/cluster/acme-prod=owned",
                                                          "eks-platform/backup=velero"}
    assert all(k.startswith("tagSpecification_") for k in snapshot_class["parameters"])
    assert group.depends_on(addon) and group.depends_on(prod.one("aws:eks/addon:Addon", "acme-prod-ebs-csi"))
    chart = values(prod, "velero")
    assert chart["configuration"]["features"] == "EnableCSI"
    assert chart["snapshotsEnabled"] is False and chart["configuration"]["volumeSnapshotLocation"] == []
    assert chart["deployNodeAgent"] is False


def test_velero_installs_after_its_crds_and_the_snapshot_class_and_waits_for_no_other_release(prod):
    velero = release(prod, "velero")
    crds = prod.one(CONFIG_GROUP, "acme-prod-velero.io")
    assert crds.inputs["files"] == ["components/crds/velero.io/*.yaml"]
    assert velero.depends_on(crds) and velero.depends_on(prod.one(CONFIG_GROUP, f"acme-prod-{SNAPSHOT_CLASS}"))
    assert velero.depends_on(prod.one("aws:eks/podIdentityAssociation:PodIdentityAssociation", "acme-prod-velero"))
    assert velero.inputs["skipCrds"] is True and velero.inputs["values"]["upgradeCRDs"] is False
    assert not [r.name for r in prod.of_type("kubernetes:helm.sh/v3:Release") if velero.depends_on(r)]


@needs_charts
def test_the_pinned_chart_runs_the_velero_the_plugin_is_paired_with():
    chart = yaml.safe_load((CHARTS_DIR / "velero" / "Chart.yaml").read_text())
    assert chart["version"] == CHARTS["velero"].version
    # a chart bump to another Velero minor must come with the plugin line paired with it
    assert chart["appVersion"].rsplit(".", 1)[0] == VELERO_MINOR


# ---- schedule and retention per environment ------------------------------------------------------

@pytest.mark.parametrize("stack", STACKS)
def test_every_environment_backs_up_nightly_and_keeps_backups_for_its_retention(stack):
    chart = values(stack_evaluation(stack), "velero")
    ttl = f"{RETENTION[stack] * 24}h0m0s"
    schedule = chart["schedules"]["platform"]
    assert schedule["schedule"] == "0 3 * * *"
    assert schedule["template"] == {"ttl": ttl, "includedNamespaces": ["*"], "snapshotVolumes": True,
                                    "storageLocation": "default"}
    assert chart["configuration"]["defaultBackupTTL"] == ttl


def test_a_stack_sets_its_own_schedule_and_retention():
    chart = values(stack_variant("staging", backup={"schedule": "30 */6 * * *", "retentionDays": 3}), "velero")
    assert chart["schedules"]["platform"]["schedule"] == "30 */6 * * *"
    assert chart["schedules"]["platform"]["template"]["ttl"] == "72h0m0s"
    overdue = next(r for r in chart["metrics"]["prometheusRule"]["spec"] if r["alert"] == "VeleroBackupOverdue")
    assert f"> {9 * 3600}" in overdue["expr"]  # six hours between runs, and three of margin


@pytest.mark.parametrize("schedule, gap", [
    ("0 3 * * *", timedelta(days=1)), ("0 3 * * 0", timedelta(days=7)), ("0 * * * *", timedelta(hours=1)),
    ("0 3 31 * *", timedelta(days=61)), ("0 2 * * 1-5", timedelta(days=3)),
])
def test_the_longest_gap_between_backups(schedule, gap):
    assert longest_gap(schedule) == gap


def test_the_backup_alerts_follow_the_schedule_velero_reports_under(dev):
    rules = {r["alert"]: r for r in values(dev, "velero")["metrics"]["prometheusRule"]["spec"]}
    assert set(rules) == {"VeleroBackupFailed", "VeleroBackupPartiallyFailed", "VeleroCsiSnapshotFailed",
                          "VeleroBackupOverdue"}
    assert all(f'schedule="{SCHEDULE_OBJECT}"' in r["expr"] for r in rules.values())
    assert f"> {27 * 3600}" in rules["VeleroBackupOverdue"]["expr"] and "absent(" in rules["VeleroBackupOverdue"]["expr"]
    assert rules["VeleroBackupOverdue"]["labels"]["severity"] == "critical"


@pytest.mark.parametrize("backup, key, fragment", [
    ({"schedule": "nightly"}, "backup.schedule", "cron schedule of five fields"),
    ({"schedule": "0 3 * * * *"}, "backup.schedule", "five fields"),
    ({"schedule": "*/5 * * * *"}, "backup.schedule", "at most once an hour"),
    ({"schedule": "0 3 30 2 *"}, "backup.schedule", "never runs"),
    ({"schedule": 3}, "backup.schedule", "must be text"),
    ({"retentionDays": 0}, "backup.retentionDays", "at least 1"),
    ({"retentionDays": "7"}, "backup.retentionDays", "whole number"),
    ({"schedule": "0 3 * * 0", "retentionDays": 7}, "backup.retentionDays", "longest gap between two backups"),
    ({"keep": 3}, "backup.keep", "unknown key; known keys: schedule, retentionDays"),
])
def test_a_bad_backup_setting_is_reported_with_its_key(backup, key, fragment):
    problems = problems_of("dev", backup=backup)
    assert key in problems and fragment in problems[key], problems


# ---- as Helm installs it -------------------------------------------------------------------------

@needs_charts
@pytest.mark.parametrize("stack", STACKS)
def test_velero_as_helm_installs_it(stack):
    evaluation = stack_evaluation(stack)
    rendered = render_stack(evaluation)["velero"]
    assert not rendered.of_kind("CustomResourceDefinition", "Job", "Secret", "VolumeSnapshotLocation")
    (location,) = rendered.of_kind("BackupStorageLocation")
    assert location["spec"]["provider"] == "aws" and location["spec"]["default"] is True
    assert location["spec"]["objectStorage"]["bucket"] == evaluation.outputs["backupBucket"]
    assert location["spec"]["config"] == {"region": "us-east-1"}
    schedule = rendered.named("Schedule", SCHEDULE_OBJECT)
    assert schedule["spec"]["schedule"] == "0 3 * * *"
    assert schedule["spec"]["template"]["ttl"] == f"{RETENTION[stack] * 24}h0m0s"
    deployment = rendered.named("Deployment", "velero")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "velero" and pod["priorityClassName"] == "system-cluster-critical"
    (server,) = pod["containers"]
    assert "--features=EnableCSI" in server["args"]
    assert server["image"] == "docker.io/velero/velero:v1.18.1"
    assert [c["image"] for c in pod["initContainers"]] == [AWS_PLUGIN_IMAGE]
    assert not [e for e in server["env"] if e["name"] == "AWS_SHARED_CREDENTIALS_FILE"]
    assert {m["mountPath"] for m in server["volumeMounts"]} == {"/plugins", "/scratch", "/tmp"}
    (rule,) = rendered.of_kind("PrometheusRule")
    assert {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]} >= {"VeleroBackupOverdue"}
    assert rendered.of_kind("ServiceMonitor")
    binding = rendered.named("ClusterRoleBinding", "velero-server")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "velero", "namespace": "velero"}]


# ---- a destroy that finishes ---------------------------------------------------------------------

class FakeCustomObjects:
    """The Restores of a cluster: a deleted Restore carries Velero's finalizer and goes once Velero has
    processed it (`released_after` polls), or never when Velero is not running."""

    def __init__(self, names, released_after=1, crd_installed=True):
        self.restores = {n: None for n in names}
        self.released_after, self.crd_installed, self.deleted = released_after, crd_installed, []

    def list_namespaced_custom_object(self, group, version, namespace, plural):
        from kubernetes.client.exceptions import ApiException

        assert (group, version, namespace, plural) == ("velero.io", "v1", "velero", "restores")
        if not self.crd_installed:
            raise ApiException(status=404)
        for name, polls in list(self.restores.items()):
            if polls is not None and self.released_after is not None:
                if polls >= self.released_after:
                    del self.restores[name]
                else:
                    self.restores[name] = polls + 1
        return {"items": [{"metadata": {"name": n}} for n in self.restores]}

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name):
        self.deleted.append(name)
        self.restores[name] = 0



def test_before_velero_goes_every_restore_is_deleted_and_released():
    from ops.hooks import delete_restores

    api = FakeCustomObjects(["drill-20261130", "rebuild"], released_after=2)
    delete_restores(api, timeout_seconds=60, poll_seconds=5, clock=FastClock())
    assert sorted(api.deleted) == ["drill-20261130", "rebuild"] and api.restores == {}
    delete_restores(FakeCustomObjects([], crd_installed=False), clock=FastClock())  # Velero never installed


def test_a_restore_velero_does_not_release_stops_the_uninstall_and_is_named():
    from ops.hooks import delete_restores

    with pytest.raises(TimeoutError, match="restore stuck"):
        delete_restores(FakeCustomObjects(["stuck"], released_after=None), timeout_seconds=30, poll_seconds=5,
                        clock=FastClock())


def test_the_velero_release_releases_restores_before_it_is_uninstalled(dev):
    velero = release(dev, "velero")
    assert velero.before_delete_hooks == ["acme-dev-velero-restores-released"]
    namespace = dev.one("kubernetes:core/v1:Namespace", "velero")
    assert velero.depends_on(namespace)  # so the namespace is deleted after the release and its hook

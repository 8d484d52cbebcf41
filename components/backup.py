"""Backup: Velero backing up every namespace on a schedule, with volumes as EBS snapshots.

Velero writes the cluster's objects to its own bucket (KMS, TLS-only, private, versioned, so a deleted
backup can be recovered for another retention period) and snapshots every volume through the CSI
snapshot API: the EBS CSI driver takes the snapshot with the `VolumeSnapshotClass` the storage
component labels for Velero. Velero's role, given to its service account by the cluster's workload
identity (EKS Pod Identity: no keys), reaches that bucket and its key only; it needs no EC2 permission because the CSI driver, not
Velero, creates and deletes the snapshots. Backups expire after the retention period, and Velero
deletes their snapshots with them. Velero alerts when a scheduled backup fails or has not succeeded
for longer than the schedule's longest gap. Its CRDs are applied from `components/crds/velero.io`.

Before the release is uninstalled, the caller's hook (`ops.hooks.restores_released`) deletes every `Restore`
and waits until Velero has released it: a Restore carries a finalizer only the Velero server removes, and one
left behind keeps the `velero` namespace and the Restore CRD terminating forever, which stops a destroy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.capabilities import ObjectStorage, WorkloadIdentity
from components.helm import CLUSTER_CRITICAL, Resources, release, resources_values, waits_like
from components.namespaces import RESTRICTED_CONTAINER, namespace
from components.schedules import longest_gap

NAMESPACE = "velero"
SERVICE_ACCOUNT = "velero"
SCHEDULE = "platform"
SCHEDULE_OBJECT = f"velero-{SCHEDULE}"  # the chart's name for it, and the `schedule` label of Velero's metrics
STORAGE_LOCATION = "default"
VELERO_MINOR = "1.18"  # of the pinned chart (12.1.0); the AWS plugin's v1.14 line is the one paired with it
AWS_PLUGIN_IMAGE = "velero/velero-plugin-for-aws:v1.14.2"
NONROOT = 65532
LATE_MARGIN = timedelta(hours=3)  # a backup of a large cluster takes a while to finish after it starts


@dataclass
class BackupArgs:
    cluster_name: str
    object_storage: ObjectStorage
    identity: WorkloadIdentity
    schedule: str
    retention_days: int
    protect: bool = False
    resources: Resources | None = None
    plugin_resources: Resources | None = None
    before_delete: Sequence[pulumi.ResourceHook] = ()  # e.g. release the Restores (`ops.hooks.restores_released`)


def ttl(retention_days: int) -> str:
    """Velero's duration format for a backup's time to live."""
    return f"{retention_days * 24}h0m0s"


def access_policy(bucket_arn: str, key_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ListBackups", "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {"Sid": "ReadWriteBackups", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"],
         "Resource": [f"{bucket_arn}/*"]},
        {"Sid": "EncryptBackups", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": [key_arn]},
    ]})


def alerts(schedule: str) -> list[dict[str, Any]]:
    """Over Velero 1.18's metrics. Its counters per schedule start at 0 when Velero starts, so `increase` sees a
    failure across a restart; the CSI snapshot failures are a series per backup, written once at the backup's
    end, so a new one is news for an hour."""
    overdue_hours = int((longest_gap(schedule) + LATE_MARGIN).total_seconds() // 3600)
    scheduled = f'schedule="{SCHEDULE_OBJECT}"'
    velero_uptime = 'time() - max(process_start_time_seconds{namespace="velero"})'
    return [
        {"alert": "VeleroBackupFailed",
         "expr": f"increase(velero_backup_failure_total{{{scheduled}}}[{overdue_hours}h]) > 0",
         "labels": {"severity": "warning"},
         "annotations": {"summary": f"A scheduled backup failed in the last {overdue_hours} hours: `velero backup "
                                    "describe` and `velero backup logs` on it say why"}},
        {"alert": "VeleroBackupPartiallyFailed",
         "expr": f"increase(velero_backup_partial_failure_total{{{scheduled}}}[{overdue_hours}h]) > 0",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "A scheduled backup finished with errors: some objects or volumes are missing"}},
        {"alert": "VeleroCsiSnapshotFailed",
         "expr": f"max by (schedule, backupName) (velero_csi_snapshot_failure_total{{{scheduled}}}) > 0 "
                 f"unless on (backupName) velero_csi_snapshot_failure_total offset 1h",
         "labels": {"severity": "warning"},
         "annotations": {"summary": "{{ $value }} volume snapshots of backup {{ $labels.backupName }} failed"}},
        {"alert": "VeleroBackupOverdue",
         "expr": f"(time() - velero_backup_last_successful_timestamp{{{scheduled}}}) > {overdue_hours * 3600} "
                 f"or (absent(velero_backup_last_successful_timestamp{{{scheduled}}}) "
                 f"and on () ({velero_uptime}) > {overdue_hours * 3600})",
         "for": "1h", "labels": {"severity": "critical"},
         "annotations": {"summary": f"No backup has succeeded for {overdue_hours} hours (the schedule's longest gap "
                                    "and a margin): the cluster would be restored from an old backup"}},
    ]


def velero_values(args: BackupArgs, bucket: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "initContainers": [{
            "name": "velero-plugin-for-aws", "image": AWS_PLUGIN_IMAGE, "imagePullPolicy": "IfNotPresent",
            "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
            "securityContext": RESTRICTED_CONTAINER, "resources": resources_values(args.plugin_resources)}],
        "configuration": {
            "backupStorageLocation": [{"name": STORAGE_LOCATION, "provider": "aws", "bucket": bucket, "default": True,
                                       "accessMode": "ReadWrite", "config": {"region": args.object_storage.region}}],
            "volumeSnapshotLocation": [],
            "features": "EnableCSI",
            "defaultBackupTTL": ttl(args.retention_days),
            "logFormat": "json",
        },
        "snapshotsEnabled": False,  # volumes are snapshotted through CSI, not by the AWS plugin
        "deployNodeAgent": False,
        "upgradeCRDs": False,  # applied by the platform from components/crds/velero.io
        "credentials": {"useSecret": False},  # the workload identity: no keys
        "serviceAccount": {"server": {"create": True, "name": SERVICE_ACCOUNT,
                                      **({"annotations": annotations} if annotations else {})}},
        "schedules": {SCHEDULE: {
            "schedule": args.schedule, "useOwnerReferencesInBackup": False,
            "template": {"ttl": ttl(args.retention_days), "includedNamespaces": ["*"], "snapshotVolumes": True,
                         "storageLocation": STORAGE_LOCATION}}},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": True},
                    "prometheusRule": {"enabled": True, "spec": alerts(args.schedule)}},
        "priorityClassName": CLUSTER_CRITICAL,
        "resources": resources_values(args.resources),
        "podSecurityContext": {"runAsNonRoot": True, "runAsUser": NONROOT, "runAsGroup": NONROOT, "fsGroup": NONROOT,
                               "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": RESTRICTED_CONTAINER,
    }


class Backup(pulumi.ComponentResource):
    namespace_object: k8s.core.v1.Namespace

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        """`opts` must make it wait for the monitoring and Velero CRDs and the snapshot class."""
        super().__init__("eks-platform:backup:Backup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        storage = args.object_storage.bucket(
            f"{name}-backups", self, purpose="velero", description=f"Velero backups of {args.cluster_name}",
            protect=args.protect, versioned=True, lifecycle_rules=[{
                "id": "recoverable-for-one-retention-period", "status": "Enabled", "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": args.retention_days},
                "abort_incomplete_multipart_upload": {"days_after_initiation": 1}}])
        self.bucket = storage
        binding = args.identity.bind(f"{name}-velero", NAMESPACE, SERVICE_ACCOUNT, self, policy=pulumi.Output.all(
            storage.arn, storage.key_arn).apply(lambda a: access_policy(a[0], a[1])))
        self.namespace_object = namespace(NAMESPACE, child, pod_security="restricted")
        self.namespace = NAMESPACE
        values = pulumi.Output.all(storage.name, pulumi.Output.from_input(dict(binding.annotations))).apply(
            lambda a: velero_values(args, a[0], a[1]))
        before_uninstall = pulumi.ResourceOptions(hooks=pulumi.ResourceHookBinding(
            before_delete=list(args.before_delete)))
        self.release = release("velero", "velero", self.namespace_object.metadata.name, values, timeout_seconds=600,
                               opts=pulumi.ResourceOptions.merge(waits_like(self, opts, *binding.ready),
                                                                 before_uninstall), skip_crds=True)
        self.register_outputs({"bucket": storage.name, "schedule": args.schedule})

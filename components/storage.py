"""Storage: the EBS CSI driver add-on with its own role (EKS Pod Identity, through the add-on's association), the default `gp3` StorageClass, and EBS
snapshots of volumes through the CSI snapshot API (EKS's snapshot-controller add-on and a
`VolumeSnapshotClass`, labelled for Velero).

Volumes are encrypted gp3, bound where the pod lands (WaitForFirstConsumer, so a volume and its pod
share a zone) and can grow in place; the reclaim policy decides whether data outlives its claim.
Every volume is tagged with its cluster and the namespace and claim it was made for, so a retained
volume can be found (and swept by `ops teardown`) after its cluster is gone. Snapshots are tagged with
the cluster too, and retained when their VolumeSnapshot is deleted: Velero deletes them when the backup
that holds them expires, so a namespace deleted by mistake does not take its backups with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.control_plane import addon_version
from components.helm import waits_like
from components.pod_identity import pod_identity_trusted_role

EBS_CSI_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
STORAGE_CLASS = "gp3"
EBS_CSI_SERVICE_ACCOUNT = "ebs-csi-controller-sa"
SNAPSHOT_CLASS = "ebs-snapshots"
VELERO_SNAPSHOT_CLASS_LABEL = "velero.io/csi-volumesnapshot-class"


def tag_specifications(*tags: str) -> dict[str, str]:
    """EBS CSI `tagSpecification_N` parameters (of a StorageClass or a VolumeSnapshotClass), `key=value` each."""
    return {f"tagSpecification_{i}": tag for i, tag in enumerate(tags, start=1)}


def volume_tags(cluster_name: str) -> dict[str, str]:
    """The driver fills in the claim's namespace and name."""
    return tag_specifications(f"kubernetes.io/cluster/{cluster_name}=owned",
                              "eks-platform/namespace={{ .PVCNamespace }}", "eks-platform/claim={{ .PVCName }}")


def snapshot_tags(cluster_name: str) -> dict[str, str]:
    return tag_specifications(f"kubernetes.io/cluster/{cluster_name}=owned", "eks-platform/backup=velero")


def snapshot_class(cluster_name: str) -> dict[str, Any]:
    return {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
            "metadata": {"name": SNAPSHOT_CLASS, "labels": {VELERO_SNAPSHOT_CLASS_LABEL: "true"},
                         "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"}},
            "driver": "ebs.csi.aws.com", "deletionPolicy": "Retain", "parameters": snapshot_tags(cluster_name)}


@dataclass
class StorageArgs:
    cluster_name: pulumi.Input[str]
    kubernetes_version: str
    reclaim_policy: Literal["Delete", "Retain"] = "Delete"


class Storage(pulumi.ComponentResource):
    storage_class: k8s.storage.v1.StorageClass

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:storage:Storage", name, None, opts)
        role = pod_identity_trusted_role(f"{name}-ebs-csi", args.cluster_name, "kube-system", EBS_CSI_SERVICE_ACCOUNT,
                                         self)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-ebs-csi", role=role.name, policy_arn=EBS_CSI_POLICY,
                                                  opts=pulumi.ResourceOptions(parent=self))
        self.addon = aws.eks.Addon(
            f"{name}-ebs-csi", cluster_name=args.cluster_name, addon_name="aws-ebs-csi-driver",
            addon_version=addon_version("aws-ebs-csi-driver", args.kubernetes_version, self),
            pod_identity_associations=[{"role_arn": role.arn, "service_account": EBS_CSI_SERVICE_ACCOUNT}],
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=waits_like(self, opts, attachment),  # with no nodes yet the add-on never becomes ACTIVE
        )
        self.storage_class = k8s.storage.v1.StorageClass(
            f"{name}-{STORAGE_CLASS}",
            metadata={"name": STORAGE_CLASS,
                      "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner="ebs.csi.aws.com",
            parameters=pulumi.Output.from_input(args.cluster_name).apply(
                lambda cluster: {"type": "gp3", "encrypted": "true", "fsType": "ext4", **volume_tags(cluster)}),
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            reclaim_policy=args.reclaim_policy,
            opts=waits_like(self, opts, self.addon),
        )
        self.snapshot_controller = aws.eks.Addon(
            f"{name}-snapshot-controller", cluster_name=args.cluster_name, addon_name="snapshot-controller",
            addon_version=addon_version("snapshot-controller", args.kubernetes_version, self),
            resolve_conflicts_on_create="OVERWRITE", resolve_conflicts_on_update="OVERWRITE",
            opts=waits_like(self, opts),
        )
        # A CRD instance with top-level fields (driver, deletionPolicy), which CustomResource cannot express.
        self.snapshot_class = k8s.yaml.v2.ConfigGroup(
            f"{name}-{SNAPSHOT_CLASS}",
            objs=[pulumi.Output.from_input(args.cluster_name).apply(snapshot_class)],
            opts=waits_like(self, opts, self.addon, self.snapshot_controller),  # the add-on installs the CRD
        )
        self.register_outputs({"storageClassName": self.storage_class.metadata.name,
                               "snapshotClassName": SNAPSHOT_CLASS})

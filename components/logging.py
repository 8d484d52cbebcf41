"""Logging: Loki storing in S3, and Fluent Bit shipping every node's container logs to it.

Where the cluster offers object storage (EKS), Loki's bucket is KMS-encrypted, private, TLS-only and expires
objects after the retention period, and Loki reaches it through its own identity limited to that bucket and
key (IRSA, no access keys: the one named exception to Pod Identity). Without one (a local cluster) a single
binary keeps chunks and index on its volume, with replication factor 1 and no caches. Loki is
multi-tenant: each team's logs are its own tenant (`X-Scope-OrgID`), the platform's namespaces and the
nodes' journal are the `platform` tenant, and retention and limits apply per tenant. Retention
is enforced by Loki's compactor. Loki's replication factor follows its writers, so a single binary
accepts pushes and three writers survive the loss of one. Fluent Bit runs on every node whatever its
taints, sends each record to the tenant of its namespace (one Loki output per tenant, matched on the
file name in the record's tag, so a record can reach one tenant only), labels streams with
namespace/pod/container/node only, buffers on the node's disk so logs
survive a Loki outage, and skips its own and Loki's logs (an error shipping them would feed itself).
Both are monitored: Loki's own rules, alerts and dashboards; Fluent Bit's metrics, dashboard and
alerts for failed retries and dropped records.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import pulumi

from components.helm import (CLUSTER_CRITICAL, NODE_CRITICAL, TOLERATE_EVERY_TAINT, Resources, release,
                             resources_values, waits_like)
from components.dashboards import DASHBOARDS_NAMESPACE
from components.namespaces import namespace
from components.capabilities import Binding, Bucket, ObjectStorage, WorkloadIdentity

NAMESPACE = "logging"
FLUENT_BIT_NAMESPACE = "fluent-bit"
LOKI_SERVICE_ACCOUNT = "loki"
LOKI_GATEWAY = f"loki-gateway.{NAMESPACE}.svc.cluster.local"
LOKI_URL = f"http://{LOKI_GATEWAY}"
BUFFER_DIR = "/var/fluent-bit/state"
PLATFORM_TENANT = "platform"


@dataclass
class LokiArgs:
    cluster_name: str
    storage_class: str
    retention_days: int
    object_storage: ObjectStorage | None = None  # None: chunks and index on the pod's volume
    identity: WorkloadIdentity | None = None  # how Loki reaches its bucket
    mode: Literal["Monolithic", "SimpleScalable"] = "Monolithic"  # the pinned chart's name for SingleBinary
    replicas: int = 1
    cache_memory_mib: int | None = 512  # None: no memcached caches (a local cluster)
    protect: bool = False
    delete_volumes_with_workload: bool = True
    resources: dict[str, Resources] = field(default_factory=dict)
    after_delete: Sequence[pulumi.ResourceHook] = ()


def loki_access_policy(bucket_arn: str, key_arn: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [f"{bucket_arn}/*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn]},
    ]})


QUORUM_REPLICATION = 3


def replication_factor(writers: int) -> int:
    """3 (a quorum of 2 survives one lost writer) where there are at least 3 writers, else 1: Loki
    refuses every push while fewer writers than the quorum of its replication factor are live."""
    return QUORUM_REPLICATION if writers >= QUORUM_REPLICATION else 1


def _cache(memory_mib: int, resources: Resources | None) -> dict[str, Any]:
    cache: dict[str, Any] = {"allocatedMemory": memory_mib, "priorityClassName": CLUSTER_CRITICAL}
    if resources:
        memory = f"{memory_mib * 6 // 5}Mi"  # memcached's item memory plus its connections (the chart's own ratio)
        cache["resources"] = {"requests": {"cpu": resources.cpu, "memory": memory}, "limits": {"memory": memory}}
    return cache


def _storage(args: LokiArgs, bucket: str | None) -> dict[str, Any]:
    """Chunks, index and deletes in the bucket; without one (a local cluster), on the single binary's volume."""
    store = "s3" if bucket else "filesystem"
    schema = {"configs": [{"from": "2025-01-01", "store": "tsdb", "object_store": store, "schema": "v13",
                           "index": {"prefix": "index_", "period": "24h"}}]}
    storage: dict[str, Any] = {"type": "filesystem"}
    if bucket:
        storage = {"type": "s3", "bucketNames": {"chunks": bucket, "ruler": bucket, "admin": bucket},
                   "s3": {"region": args.object_storage.region}}
    return {"schemaConfig": schema, "storage": storage,
            "compactor": {"retention_enabled": True, "delete_request_store": store}}


def loki_values(args: LokiArgs, bucket: str | None, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    scalable = args.mode == "SimpleScalable"
    size = {name: r.values() for name, r in args.resources.items()}
    persistence = {"persistence": {"storageClass": args.storage_class,
                                   "enableStatefulSetAutoDeletePVC": args.delete_volumes_with_workload}}
    loki_pod = {"resources": size.get("loki")}
    storage = _storage(args, bucket)
    caches = args.cache_memory_mib is not None
    return {
        "deploymentMode": args.mode,
        "loki": {
            "auth_enabled": True,
            "querier": {"multi_tenant_queries_enabled": True},  # Grafana's all-tenants datasource: `a|b|c`
            "commonConfig": {"replication_factor": replication_factor(args.replicas)},
            "schemaConfig": storage["schemaConfig"],
            "storage": storage["storage"],
            "limits_config": {"retention_period": f"{args.retention_days * 24}h"},
            "compactor": storage["compactor"],
        },
        "serviceAccount": {"create": True, "name": LOKI_SERVICE_ACCOUNT, "annotations": dict(annotations or {})},
        "singleBinary": {"replicas": 0 if scalable else args.replicas, **persistence, **loki_pod},
        "write": {"replicas": args.replicas if scalable else 0, **persistence, **loki_pod},
        "read": {"replicas": args.replicas if scalable else 0, **loki_pod},
        "backend": {"replicas": args.replicas if scalable else 0, **persistence, **loki_pod},
        "gateway": {"resources": size.get("loki-gateway"), "metrics": {"resources": size.get("cache-exporter")}},
        "sidecar": {"rules": {"enabled": False}},  # no Loki ruler rules to load: no reader of every ConfigMap and Secret
        "memcachedExporter": {"resources": size.get("cache-exporter")},
        "chunksCache": _cache(args.cache_memory_mib, args.resources.get("loki-cache")) if caches else {"enabled": False},
        "resultsCache": _cache(max(args.cache_memory_mib // 4, 128), args.resources.get("loki-cache")) if caches
        else {"enabled": False},
        "monitoring": {"namespace": DASHBOARDS_NAMESPACE,  # its alert and recording rules land there too
                       "serviceMonitor": {"enabled": True}, "rules": {"enabled": True},
                       "alerts": {"enabled": True}, "dashboards": {"enabled": True}},
        "lokiCanary": {"enabled": False},  # a pusher on every node; the pipeline alerts watch ingestion instead
        "test": {"enabled": False},  # the helm test needs the canary
        "minio": {"enabled": False},
        "global": {"priorityClassName": CLUSTER_CRITICAL},
    }


# Loki's S3 client ignores EKS Pod Identity's container credentials (grafana/loki#12624: access denied with the
# association in place), so Loki is the one platform workload on IRSA (the web identity its SDK reads).
LOKI_NEEDS_WEB_IDENTITY = True


class Loki(pulumi.ComponentResource):
    def __init__(self, name: str, args: LokiArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:logging:Loki", name, None, opts)
        ns = namespace(NAMESPACE, pulumi.ResourceOptions(parent=self))
        self.bucket: Bucket | None = None
        bucket_name: pulumi.Input[str | None] = None
        binding = Binding()
        if args.object_storage:
            self.bucket = args.object_storage.bucket(
                f"{name}-logs", self, purpose="loki", description=f"Loki log storage of {args.cluster_name}",
                protect=args.protect, lifecycle_rules=[{
                    "id": "expire-after-retention", "status": "Enabled", "filter": {},
                    "expiration": {"days": args.retention_days + 1},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 1}}])
            bucket_name = self.bucket.name
            if args.identity is None:
                raise ValueError("Loki with a bucket needs a workload identity to reach it")
            binding = args.identity.bind(
                f"{name}-loki", NAMESPACE, LOKI_SERVICE_ACCOUNT, self, web_identity=LOKI_NEEDS_WEB_IDENTITY,
                policy=pulumi.Output.all(self.bucket.arn, self.bucket.key_arn).apply(
                    lambda a: loki_access_policy(a[0], a[1])))
        values = pulumi.Output.all(bucket_name, pulumi.Output.from_input(dict(binding.annotations))).apply(
            lambda a: loki_values(args, a[0], a[1]))
        self.release = release("loki", "loki", ns.metadata.name, values, timeout_seconds=900,
                               opts=waits_like(self, opts, *binding.ready), delete_hooks=args.after_delete)
        self.namespace = NAMESPACE
        self.namespace_object = ns
        self.register_outputs({"bucket": bucket_name, "url": LOKI_URL})


UNSHIPPED_NAMESPACES = (FLUENT_BIT_NAMESPACE, NAMESPACE)
NODE_UNITS = ("kubelet.service", "containerd.service")  # the node's own logs, from the systemd journal


CONTAINER_LOG_TAG = r"^kube\.var\.log\.containers\.[^_]+_"  # kube.* + <pod>_<namespace>_<container>-<id>.log
CONTAINER_LABELS = ("job=fluent-bit, namespace=$kubernetes['namespace_name'], pod=$kubernetes['pod_name'], "
                    "container=$kubernetes['container_name'], node=$kubernetes['host']")


def container_log_matches(team_namespaces: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Tenant -> the `Match`/`Match_Regex` line of its output. Each team's regex names its namespaces;
    the platform's takes every other namespace, so each container log file reaches exactly one tenant."""
    if not team_namespaces:
        return {PLATFORM_TENANT: "Match kube.*"}
    def alternatives(namespaces: Sequence[str]) -> str:
        return "|".join(sorted(namespaces))  # namespace names are DNS labels: nothing to escape
    every_team = alternatives([ns for namespaces in team_namespaces.values() for ns in namespaces])
    matches = {team: f"Match_Regex {CONTAINER_LOG_TAG}(?:{alternatives(namespaces)})_[^_]+\\.log$"
               for team, namespaces in sorted(team_namespaces.items())}
    return {PLATFORM_TENANT: f"Match_Regex {CONTAINER_LOG_TAG}(?!(?:{every_team})_)[^_]+_[^_]+\\.log$", **matches}


def _loki_output(alias: str, match: str, tenant: str, labels: str, buffer_limit: str, extra: str = "") -> str:
    return (f"[OUTPUT]\n    Name loki\n    Alias {alias}\n    {match}\n"
            f"    Host {LOKI_GATEWAY}\n    Port 80\n    tenant_id {tenant}\n"
            f"    labels {labels}\n{extra}    line_format json\n"
            f"    storage.total_limit_size {buffer_limit}\n    Retry_Limit no_limits\n")


def _container_outputs(team_namespaces: Mapping[str, Sequence[str]]) -> list[str]:
    return [_loki_output(f"loki-{tenant}", match, tenant, CONTAINER_LABELS,
                         "2G" if tenant == PLATFORM_TENANT else "1G", "    remove_keys kubernetes\n")
            for tenant, match in container_log_matches(team_namespaces).items()]


def fluent_bit_config(team_namespaces: Mapping[str, Sequence[str]] = {}, node_journal: bool = True) -> dict[str, str]:
    """`node_journal`: the nodes keep a persistent systemd journal in /var/log/journal (EKS's AL2023 does; kind's
    and minikube's nodes keep theirs in /run, where an input would find nothing to open)."""
    journal_input = (
        "[INPUT]\n    Name systemd\n    Tag host.*\n    Path /var/log/journal\n"
        + "".join(f"    Systemd_Filter _SYSTEMD_UNIT={unit}\n" for unit in NODE_UNITS)
        + f"    Read_From_Tail On\n    storage.type filesystem\n    DB {BUFFER_DIR}/flb_systemd.db\n"
    ) if node_journal else ""
    journal_output = _loki_output("loki-node-journal", "Match host.*", PLATFORM_TENANT,
                                  "job=node-journal, unit=$_SYSTEMD_UNIT, node=${NODE_NAME}", "512M") \
        if node_journal else ""
    return {
        "service": (
            "[SERVICE]\n    Daemon Off\n    Flush 1\n    Log_Level info\n    Parsers_File /fluent-bit/etc/parsers.conf\n"
            "    Parsers_File /fluent-bit/etc/conf/custom_parsers.conf\n    HTTP_Server On\n    HTTP_Listen 0.0.0.0\n"
            "    HTTP_Port 2020\n    Health_Check On\n"
            f"    scheduler.cap {SCHEDULER_CAP_SECONDS}\n"
            f"    storage.path {BUFFER_DIR}/flb-storage/\n    storage.sync normal\n"
            "    storage.backlog.mem_limit 16M\n"
        ),
        "inputs": (
            "[INPUT]\n    Name tail\n    Path /var/log/containers/*.log\n"
            f"    Exclude_Path {','.join(f'/var/log/containers/*_{ns}_*.log' for ns in UNSHIPPED_NAMESPACES)}\n"
            "    multiline.parser docker, cri\n"
            "    Tag kube.*\n    Mem_Buf_Limit 16MB\n    Skip_Long_Lines On\n    storage.type filesystem\n"
            f"    DB {BUFFER_DIR}/flb_kube.db\n"
            + journal_input
        ),
        "filters": (
            "[FILTER]\n    Name kubernetes\n    Match kube.*\n    Merge_Log On\n    Keep_Log Off\n"
            "    K8S-Logging.Parser On\n    K8S-Logging.Exclude On\n    Labels Off\n    Annotations Off\n"
        ),
        "outputs": "".join(_container_outputs(team_namespaces)) + journal_output,
    }


SCHEDULER_CAP_SECONDS = 60  # the longest wait between two retries of a chunk (Fluent Bit's default: 2000)


def fluent_bit_alerts() -> list[dict[str, Any]]:
    """Over Fluent Bit 5.x's own metrics (`/api/v2/metrics/prometheus`), per pod and output (`name`: the alias)."""
    summary = "Fluent Bit on {{ $labels.pod }} "
    by = "sum by (pod, name)"
    return [
        {"alert": "FluentBitRetriesFailing",
         "expr": f"({by} (increase(fluentbit_output_retries_total[5m])) > 0 "
                 f"or {by} (increase(fluentbit_output_errors_total[5m])) > 0) "
                 f"unless on (pod, name) {by} (increase(fluentbit_output_proc_records_total[5m])) > 0",
         "for": "10m", "labels": {"severity": "warning"},
         "annotations": {
             "summary": summary + "has delivered nothing to {{ $labels.name }} for 15 minutes: Loki refuses or is "
                                  "unreachable",
             "description": "Outputs retry without limit (Retry_Limit no_limits, a retry at least every "
                            f"{SCHEDULER_CAP_SECONDS} s), buffering on the node's disk, so no retry ever 'fails' and "
                            "fluentbit_output_retries_failed_total stays 0: this alert watches retries and errors "
                            "without a single delivered record instead. Records are lost only when the buffer is "
                            "full (FluentBitRecordsDropped)."}},
        {"alert": "FluentBitRecordsDropped",
         "expr": f"{by} (increase(fluentbit_output_dropped_records_total[10m])) > 0",
         "for": "5m", "labels": {"severity": "warning"},
         "annotations": {"summary": summary + "dropped records for {{ $labels.name }}: Loki rejected them or the "
                                              "disk buffer is full"}},
        {"alert": "FluentBitOutputStalled",
         "expr": "sum by (pod) (rate(fluentbit_output_proc_records_total[5m])) == 0 "
                 "and on (pod) sum by (pod) (rate(fluentbit_input_records_total[5m])) > 0",
         "for": "10m", "labels": {"severity": "critical"},
         "annotations": {"summary": summary + "reads logs but has sent nothing to Loki for 15 minutes"}},
    ]


@dataclass
class FluentBitArgs:
    team_namespaces: Mapping[str, Sequence[str]] = field(default_factory=dict)  # team (log tenant) -> namespaces
    resources: Resources | None = None
    node_journal: bool = True


def fluent_bit_values(args: FluentBitArgs) -> dict[str, Any]:
    return {
        "kind": "DaemonSet",
        "tolerations": [TOLERATE_EVERY_TAINT],
        "config": fluent_bit_config(args.team_namespaces, args.node_journal),
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "extraVolumes": [{"name": "buffer", "hostPath": {"path": BUFFER_DIR, "type": "DirectoryOrCreate"}}],
        "extraVolumeMounts": [{"name": "buffer", "mountPath": BUFFER_DIR}],
        "resources": resources_values(args.resources),
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True, "rules": fluent_bit_alerts()},
        "dashboards": {"enabled": True, "namespace": DASHBOARDS_NAMESPACE},
        "priorityClassName": NODE_CRITICAL,
    }


class FluentBit(pulumi.ComponentResource):
    def __init__(self, name: str, args: FluentBitArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:logging:FluentBit", name, None, opts)
        ns = namespace(FLUENT_BIT_NAMESPACE, pulumi.ResourceOptions(parent=self), pod_security="privileged")  # reads host logs
        self.release = release("fluent-bit", "fluent-bit", ns.metadata.name, fluent_bit_values(args),
                               timeout_seconds=300, opts=waits_like(self, opts))
        self.namespace = FLUENT_BIT_NAMESPACE
        self.namespace_object = ns
        self.register_outputs({"namespace": FLUENT_BIT_NAMESPACE})

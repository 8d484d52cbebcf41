"""Every Helm release of every stack, rendered with Helm's engine from the pinned charts, checked as installed.

Chart defaults decide half of what a release installs: these tests look at the objects Helm would
create (schema, Pod Security, requests, webhooks, Loki's generated config, rules vs exporters,
volume retention) rather than at the values the program passes.
"""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from components.crds import BUNDLES, CRD_ROOT
from components.gpu import NODE_LABELS_FOR_METRICS
from components.logging import UNSHIPPED_NAMESPACES
from tests.conftest import stack_evaluation, stack_variant
from tests.k8s import is_custom, reveal, validate_custom, values
from tests.pod_security import violations
from tests.rendering import CHARTS_DIR, WORKLOAD_KINDS, containers, needs_charts, pod_spec, render_stack

pytestmark = needs_charts

MODES = {
    "dev": {},
    "staging": {},
    "prod": {},
    "prod-published-slack-1.35": {"kubernetesVersion": "1.35", "slackWebhookUrl": "https://hooks.slack.com/services/T/B/C",
                                  "grafana": {"allowedCidrs": ["198.51.100.0/24"]}, "ingress": {"scheme": "internal"}},
    "staging-gateway": {"ingress": {"controller": "gateway"}},
    "local": {},
    "dev-no-gpu-1.32": {"kubernetesVersion": "1.32", "upgradePolicy": "EXTENDED", "nodeGroups": {"general": {"minSize": 1}}},
}
# Containers whose memory grows with the data they hold: no memory limit by design (an OOM kill loses data).
UNBOUNDED_MEMORY = {"prometheus", "loki", "write", "read", "backend"}


def evaluation(mode: str):
    return stack_variant(mode.split("-", 1)[0], **MODES[mode]) if MODES[mode] else stack_evaluation(mode)


def rendered(mode: str):
    return render_stack(evaluation(mode))


@pytest.fixture(params=list(MODES))
def mode(request) -> str:
    return request.param


def all_objects(mode: str) -> list[dict]:
    return [o for r in rendered(mode).values() for o in r.objects]


def workloads(mode: str) -> list[dict]:
    return [o for o in all_objects(mode) if o["kind"] in WORKLOAD_KINDS]


def namespace_levels(mode: str) -> dict[str, str]:
    return {reveal(r.inputs)["metadata"]["name"]: reveal(r.inputs)["metadata"]["labels"].get(
        "pod-security.kubernetes.io/enforce", "privileged")
        for r in evaluation(mode).of_type("kubernetes:core/v1:Namespace")}


# ---- the render itself ---------------------------------------------------------------------------

def test_every_release_renders_and_its_objects_are_valid_for_the_clusters_version(mode):
    version = evaluation(mode).settings.kubernetes_version
    releases = rendered(mode)
    edge = "envoy-gateway" if "gateway" in mode else "ingress-nginx"
    in_cluster = {"kube-prometheus-stack", "loki", "fluent-bit", edge, "metrics-server"}
    eks_only = {"cluster-autoscaler", "aws-load-balancer-controller", "velero"}
    if evaluation(mode).settings.is_local:
        assert set(releases) == in_cluster
    else:
        assert set(releases) >= in_cluster | eks_only
    for release in releases.values():
        assert release.objects, release.release
        for obj in release.objects:
            if is_custom(obj):
                validate_custom(obj)
            else:
                kubernetes_validate.validate(obj, f"{version}.0", strict=True)


def test_kube_prometheus_stack_does_not_install_crds(mode):
    assert not [o for o in all_objects(mode) if o["kind"] == "CustomResourceDefinition"]


def test_pods_satisfy_the_pod_security_level_their_namespace_enforces(mode):
    levels = namespace_levels(mode)
    assert levels["logging"] == "baseline"
    edge = "envoy-gateway-system" if "gateway" in mode else "ingress-nginx"
    assert levels[edge] == ("privileged" if mode == "local" else "baseline")  # kind's edge takes host ports
    for workload in workloads(mode):
        namespace = workload["metadata"]["namespace"]
        level = levels.get(namespace, "privileged")
        found = violations(pod_spec(workload), level)
        assert not found, f"{workload['kind']} {namespace}/{workload['metadata']['name']} breaks {level}: {found}"


def test_the_pod_security_check_catches_a_host_path_in_a_baseline_namespace():
    pod = {"containers": [{"name": "x", "image": "x"}], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    assert violations(pod, "baseline") and not violations(pod, "privileged")


# ---- resources -----------------------------------------------------------------------------------

def test_every_platform_container_requests_cpu_and_memory_and_caps_bounded_memory(mode):
    for workload in workloads(mode):
        for container in containers(workload):
            resources = container.get("resources") or {}
            where = f"{workload['metadata']['namespace']}/{workload['metadata']['name']}/{container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests") or {}), f"{where} has no requests"
            if container["name"] not in UNBOUNDED_MEMORY:
                assert (resources.get("limits") or {}).get("memory"), f"{where} has no memory limit"


def test_operator_managed_pods_and_unrendered_subcharts_get_requests(mode):
    kps = rendered(mode)["kube-prometheus-stack"]
    for kind in ("Prometheus", "Alertmanager"):
        (custom,) = kps.of_kind(kind)
        assert {"cpu", "memory"} <= set(custom["spec"]["resources"]["requests"]), kind
    chart = values(evaluation(mode), "kube-prometheus-stack")
    for subchart in (chart["grafana"], chart["grafana"]["sidecar"], chart["kube-state-metrics"],
                     chart["prometheus-node-exporter"]):
        assert {"cpu", "memory"} <= set(subchart["resources"]["requests"])
        assert subchart["resources"]["limits"]["memory"]


def _cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def _gib(quantity: str) -> float:
    units = {"Ki": 2 ** -20, "Mi": 2 ** -10, "Gi": 1}
    return float(quantity[:-2]) * units[quantity[-2:]]


NODE_SIZE = {"m7i.large": (2, 8), "m7i.xlarge": (4, 16), "m6i.xlarge": (4, 16)}


def platform_requests(mode: str, nodes: int) -> tuple[float, float]:
    """CPU cores and GiB the platform requests on `nodes` general nodes (DaemonSets on each, Jobs excluded)."""
    cpu = memory = 0.0
    for workload in workloads(mode):
        if workload["kind"] in ("Job", "CronJob", "Pod") or workload["metadata"]["namespace"] == "gpu":
            continue
        copies = nodes if workload["kind"] == "DaemonSet" else workload["spec"].get("replicas", 1)
        for container in pod_spec(workload).get("containers", []):
            requests = container["resources"]["requests"]
            cpu, memory = cpu + copies * _cpu(requests["cpu"]), memory + copies * _gib(requests["memory"])
    kps = rendered(mode)["kube-prometheus-stack"]
    for kind in ("Prometheus", "Alertmanager"):
        (custom,) = kps.of_kind(kind)
        requests = custom["spec"]["resources"]["requests"]
        cpu += custom["spec"]["replicas"] * _cpu(requests["cpu"])
        memory += custom["spec"]["replicas"] * _gib(requests["memory"])
    chart = values(evaluation(mode), "kube-prometheus-stack")
    for subchart, copies in ((chart["grafana"], 1), (chart["grafana"]["sidecar"], 1),
                             (chart["kube-state-metrics"], 1), (chart["prometheus-node-exporter"], nodes)):
        cpu += copies * _cpu(subchart["resources"]["requests"]["cpu"])
        memory += copies * _gib(subchart["resources"]["requests"]["memory"])
    return cpu, memory


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_platform_fits_in_two_thirds_of_the_general_group_at_its_minimum(stack):
    group = evaluation(stack).settings.config.node_groups["general"]
    nodes = max(group.min_size, 1)
    vcpus, gib = NODE_SIZE[group.instance_types[0]]
    cpu, memory = platform_requests(stack, nodes)
    assert cpu <= nodes * vcpus * 2 / 3, f"{stack}: {cpu:.2f} cores requested on {nodes} x {vcpus}"
    assert memory <= nodes * gib * 2 / 3, f"{stack}: {memory:.1f} GiB requested on {nodes} x {gib}"


# ---- logging -------------------------------------------------------------------------------------

def loki_config(mode: str) -> dict:
    loki = rendered(mode)["loki"]
    holders = [o for o in loki.of_kind("ConfigMap", "Secret") if o["metadata"]["name"] == "loki"]
    (holder,) = holders
    return yaml.safe_load(holder["data"]["config.yaml"])


def test_loki_replication_factor_tolerates_losing_one_writer_where_there_is_more_than_one(mode):
    loki = rendered(mode)["loki"]
    writers = sum(s["spec"]["replicas"] for s in loki.of_kind("StatefulSet")
                  if s["metadata"]["name"] in ("loki", "loki-write"))
    factor = loki_config(mode)["common"]["replication_factor"]
    quorum = factor // 2 + 1
    assert quorum <= writers, f"{writers} writers can never reach a quorum of {quorum}"
    if writers > 1:
        assert quorum <= writers - 1, f"losing one of {writers} writers stops ingestion (RF {factor})"


def test_the_logging_pipeline_is_monitored(mode):
    loki, fluent_bit = rendered(mode)["loki"], rendered(mode)["fluent-bit"]
    loki_alerts = {r["alert"] for rule in loki.of_kind("PrometheusRule") for g in rule["spec"]["groups"]
                   for r in g["rules"] if "alert" in r}
    assert {"LokiRequestErrors", "LokiRequestPanics"} <= loki_alerts
    assert loki.of_kind("ServiceMonitor")
    dashboards = [c for c in loki.of_kind("ConfigMap") if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert dashboards and {c["metadata"]["namespace"] for c in dashboards} == {"monitoring"}
    assert fluent_bit.of_kind("ServiceMonitor")
    bit_alerts = {r["alert"]: r["expr"] for rule in fluent_bit.of_kind("PrometheusRule")
                  for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "fluentbit_output_retries_total" in bit_alerts["FluentBitRetriesFailing"]  # what fires: test_alert_rules
    assert "fluentbit_output_dropped_records_total" in bit_alerts["FluentBitRecordsDropped"]


def test_fluent_bit_collects_from_every_node_but_not_its_own_or_lokis_logs(mode):
    (daemonset,) = rendered(mode)["fluent-bit"].of_kind("DaemonSet")
    tolerations = pod_spec(daemonset)["tolerations"]
    assert {"operator": "Exists"} in tolerations  # any key, any effect
    (config,) = [c for c in rendered(mode)["fluent-bit"].of_kind("ConfigMap") if "fluent-bit.conf" in c["data"]]
    excluded = re.search(r"Exclude_Path (\S+)", config["data"]["fluent-bit.conf"]).group(1).split(",")
    assert {f"/var/log/containers/*_{ns}_*.log" for ns in UNSHIPPED_NAMESPACES} == set(excluded)
    assert set(UNSHIPPED_NAMESPACES) == {"fluent-bit", "logging"}


# ---- alerts --------------------------------------------------------------------------------------

def every_rule(mode: str) -> list[dict]:
    rules = [r for o in all_objects(mode) if o["kind"] == "PrometheusRule"
             for g in o["spec"]["groups"] for r in g["rules"]]
    for registration in evaluation(mode).of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule"):
        rules += [r for g in registration.inputs["spec"]["groups"] for r in g["rules"]]
    return rules


def test_every_node_label_a_rule_matches_is_exported_by_kube_state_metrics(mode):
    allowlist = values(evaluation(mode), "kube-prometheus-stack")["kube-state-metrics"]["metricLabelsAllowlist"]
    exported = {f"label_{re.sub(r'[^a-zA-Z0-9_]', '_', label)}"
                for entry in allowlist for label in entry.split("=", 1)[1].strip("[]").split(",")}
    matched = {m for r in every_rule(mode) for m in re.findall(r"kube_node_labels\{([a-z0-9_]+)=", r["expr"])}
    assert matched <= exported, f"rules match labels kube-state-metrics never exports: {matched - exported}"
    if any(g.gpu for g in getattr(evaluation(mode).settings.config, "node_groups", {}).values()):
        assert "label_nvidia_com_gpu_present" in matched
        assert allowlist == [f"nodes=[{','.join(NODE_LABELS_FOR_METRICS)}]"]


def test_nothing_scrapes_or_alerts_on_what_eks_does_not_expose(mode):
    kps = rendered(mode)["kube-prometheus-stack"]
    names = {o["metadata"]["name"] for o in kps.of_kind("ServiceMonitor", "Service")}
    assert not {n for n in names if re.search("kube-proxy|controller-manager|scheduler|etcd", n)}
    alerts = {r.get("alert") for r in every_rule(mode)}
    assert alerts.isdisjoint({"KubeProxyDown", "KubeControllerManagerDown", "KubeSchedulerDown", "etcdMembersDown"})
    assert "KubeAPIDown" in alerts and "Watchdog" in alerts


def test_prometheus_is_bounded_by_size_below_its_volume(mode):
    (prometheus,) = rendered(mode)["kube-prometheus-stack"].of_kind("Prometheus")
    spec = prometheus["spec"]
    volume = _gib(spec["storage"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"])
    size = float(spec["retentionSize"].removesuffix("GB"))
    assert 0.8 * volume <= size < volume
    assert spec["retention"] == evaluation(mode).settings.config.monitoring.prometheus_retention


# ---- volumes, webhooks, Grafana --------------------------------------------------------------------

def test_statefulset_volumes_go_with_their_workload_except_in_prod(mode):
    expected = "Retain" if mode.startswith("prod") else "Delete"
    kps = rendered(mode)["kube-prometheus-stack"]
    for kind in ("Prometheus", "Alertmanager"):
        (custom,) = kps.of_kind(kind)
        assert custom["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": expected,
                                                                          "whenScaled": expected}
    for statefulset in rendered(mode)["loki"].of_kind("StatefulSet"):
        if statefulset["spec"].get("volumeClaimTemplates"):
            policy = statefulset["spec"].get("persistentVolumeClaimRetentionPolicy", {})
            assert policy.get("whenDeleted", "Retain") == expected, statefulset["metadata"]["name"]
    if evaluation(mode).settings.is_local:  # the cluster's own class: its claims' volumes go with them
        assert not evaluation(mode).of_type("kubernetes:storage.k8s.io/v1:StorageClass")
        return
    storage_class = evaluation(mode).one("kubernetes:storage.k8s.io/v1:StorageClass").inputs
    assert storage_class["reclaimPolicy"] == expected
    assert "kubernetes.io/cluster/" in storage_class["parameters"]["tagSpecification_1"]


def _replicas_behind(release, service_name: str) -> int:
    (service,) = [s for s in release.of_kind("Service") if s["metadata"]["name"] == service_name]
    selector = service["spec"]["selector"]
    for deployment in release.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if all(labels.get(k) == v for k, v in selector.items()):
            autoscaler = [h for h in release.of_kind("HorizontalPodAutoscaler")
                          if h["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]]
            return autoscaler[0]["spec"]["minReplicas"] if autoscaler else deployment["spec"].get("replicas", 1)
    return 0


def test_no_single_replica_webhook_fails_closed(mode):
    for release in rendered(mode).values():
        for config in release.of_kind("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            for hook in config["webhooks"]:
                if hook.get("failurePolicy", "Fail") == "Fail":
                    service = hook["clientConfig"]["service"]["name"]
                    assert _replicas_behind(release, service) > 1, f"{hook['name']} fails closed on one pod"


def test_the_ingress_webhook_fails_closed_where_the_controller_is_highly_available():
    (config,) = rendered("prod")["ingress-nginx"].of_kind("ValidatingWebhookConfiguration")
    assert config["webhooks"][0]["failurePolicy"] == "Fail"
    (config,) = rendered("dev")["ingress-nginx"].of_kind("ValidatingWebhookConfiguration")
    assert config["webhooks"][0]["failurePolicy"] == "Ignore"


def test_grafana_keeps_its_database_on_a_volume(mode):
    grafana = values(evaluation(mode), "kube-prometheus-stack")["grafana"]
    storage_class = "standard" if evaluation(mode).settings.is_local else "gp3"
    assert grafana["persistence"] == {"enabled": True, "type": "pvc", "storageClassName": storage_class,
                                      "accessModes": ["ReadWriteOnce"], "size": "10Gi"}
    assert grafana["deploymentStrategy"] == {"type": "Recreate"}



@pytest.mark.parametrize("bundle", list(BUNDLES))
def test_the_vendored_crds_are_the_pinned_charts(bundle):
    vendored = {p.name: p.read_bytes() for p in (CRD_ROOT / bundle).glob("*.yaml")}
    assert vendored and vendored == {p.name: p.read_bytes() for p in (CHARTS_DIR / BUNDLES[bundle]).glob("*.yaml")}


def test_fluent_bit_ships_the_kubelet_and_containerd_journal_labelled_with_the_node(mode):
    (config,) = [c for c in rendered(mode)["fluent-bit"].of_kind("ConfigMap") if "fluent-bit.conf" in c["data"]]
    text = config["data"]["fluent-bit.conf"]
    if mode == "local":  # kind keeps its journal in /run: no input that would find nothing to open
        assert "Name systemd" not in text and "Match host.*" not in text
        return
    journal = text[text.index("Name systemd"):]
    assert "Systemd_Filter _SYSTEMD_UNIT=kubelet.service" in journal
    assert "Systemd_Filter _SYSTEMD_UNIT=containerd.service" in journal and "Path /var/log/journal" in journal
    assert "Match host.*" in text and "labels job=node-journal, unit=$_SYSTEMD_UNIT, node=${NODE_NAME}" in text
    (daemonset,) = rendered(mode)["fluent-bit"].of_kind("DaemonSet")
    (container,) = pod_spec(daemonset)["containers"]
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in container["env"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/var/log" in mounts  # the journal lives in /var/log/journal on AL2023


def test_every_platform_pod_has_a_critical_priority_class_node_agents_the_node_one(mode):
    """Long-running workloads; install Jobs (webhook certificates) are one-off and not all charts set them."""
    for workload in [w for w in workloads(mode) if w["kind"] in ("Deployment", "StatefulSet", "DaemonSet")]:
        priority = pod_spec(workload).get("priorityClassName")
        where = f"{workload['kind']} {workload['metadata']['namespace']}/{workload['metadata']['name']}"
        expected = ("system-node-critical",) if workload["kind"] == "DaemonSet" else (
            "system-cluster-critical", "system-node-critical")
        assert priority in expected, f"{where}: {priority}"
    kps = rendered(mode)["kube-prometheus-stack"]
    for kind in ("Prometheus", "Alertmanager"):
        (custom,) = kps.of_kind(kind)
        assert custom["spec"]["priorityClassName"] == "system-cluster-critical"


def test_what_runs_more_than_one_replica_keeps_all_but_one_through_a_node_group_roll(mode):
    objects = all_objects(mode)
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]

    def covered(workload_labels: dict) -> bool:
        return any(all(workload_labels.get(k) == v for k, v in b["spec"]["selector"].get("matchLabels", {}).items())
                   for b in budgets if b["metadata"]["namespace"] == workload_namespace)

    for workload in [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]:
        replicas = workload["spec"].get("replicas", 1)
        workload_namespace = workload["metadata"]["namespace"]
        if replicas > 1:
            assert covered(workload["spec"]["template"]["metadata"]["labels"]), workload["metadata"]["name"]
    kps = rendered(mode)["kube-prometheus-stack"]
    for kind, key in (("Prometheus", "prometheus"), ("Alertmanager", "alertmanager")):
        (custom,) = kps.of_kind(kind)
        has_budget = any(b["metadata"]["name"].endswith(key) for b in kps.of_kind("PodDisruptionBudget"))
        assert has_budget == (custom["spec"]["replicas"] > 1), kind

"""In-cluster services: pinned releases, Helm values per environment, IAM, the log bucket, ordering, secrets."""

from __future__ import annotations

import json

import pytest

from components.helm import CHARTS
from components.logging import LOKI_URL
from tests.conftest import HEARTBEAT, run_stack, stack_evaluation
from tests.k8s import RELEASE, is_secret, release, reveal, values

PINNED = {
    "kube-prometheus-stack": ("88.5.3", "https://prometheus-community.github.io/helm-charts"),
    "loki": ("18.11.0", "https://grafana-community.github.io/helm-charts"),
    "fluent-bit": ("0.58.1", "https://fluent.github.io/helm-charts"),
    "ingress-nginx": ("4.15.1", "https://kubernetes.github.io/ingress-nginx"),
    "nvidia-device-plugin": ("0.20.0", "https://nvidia.github.io/k8s-device-plugin"),
    "dcgm-exporter": ("4.8.2", "https://nvidia.github.io/dcgm-exporter/helm-charts"),
    "metrics-server": ("3.13.1", "https://kubernetes-sigs.github.io/metrics-server/"),
    "cluster-autoscaler": ("9.59.0", "https://kubernetes.github.io/autoscaler"),
    "aws-load-balancer-controller": ("3.5.0", "https://aws.github.io/eks-charts"),
    "velero": ("12.1.0", "https://vmware-tanzu.github.io/helm-charts"),
}
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
RELEASES_WITH_MONITORING_OBJECTS = {"kube-prometheus-stack", "loki", "fluent-bit", "ingress-nginx", "dcgm-exporter",
                                    "velero"}


def test_every_release_is_pinned_atomic_and_rollbackable(any_stack):
    releases = {r.name: r.inputs for r in any_stack.of_type(RELEASE)}
    assert set(releases) == set(PINNED) == set(CHARTS) - {"gateway-helm"}
    for name, inputs in releases.items():
        assert (inputs["version"], inputs["repositoryOpts"]["repo"]) == PINNED[name]
        assert inputs["chart"] == name
        assert inputs["atomic"] is True and inputs["cleanupOnFail"] is True
        assert inputs["maxHistory"] == 10
        assert 300 <= inputs["timeout"] <= 900


def test_no_gpu_services_without_a_gpu_group():
    no_gpu = run_stack("dev", nodeGroups=None)
    assert no_gpu.error is None
    names = {r.name for r in no_gpu.of_type(RELEASE)}
    assert "nvidia-device-plugin" not in names and "dcgm-exporter" not in names
    assert not [r for r in no_gpu.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule") if "gpu" in r.name]


# ---- ingress -------------------------------------------------------------------------------------

def test_dev_ingress_is_one_replica_without_pdb_or_autoscaling(dev):
    controller = values(dev, "ingress-nginx")["controller"]
    assert controller["replicaCount"] == 1
    assert "minAvailable" not in controller and "autoscaling" not in controller


def test_prod_ingress_is_highly_available(prod):
    controller = values(prod, "ingress-nginx")["controller"]
    assert controller["replicaCount"] == 3
    assert controller["autoscaling"] == {"enabled": True, "minReplicas": 3, "maxReplicas": 9,
                                         "targetCPUUtilizationPercentage": 70}
    assert controller["minAvailable"] == 2
    spread = controller["topologySpreadConstraints"][0]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"


def test_the_load_balancer_controller_builds_the_ingress_nlb_keeping_the_client_ip(any_stack):
    controller = values(any_stack, "ingress-nginx")["controller"]
    service = controller["service"]
    assert service["loadBalancerClass"] == "service.k8s.aws/nlb"
    prefix = "service.beta.kubernetes.io/aws-load-balancer"
    annotations = service["annotations"]
    assert (annotations[f"{prefix}-type"], annotations[f"{prefix}-nlb-target-type"]) == ("external", "ip")
    assert annotations[f"{prefix}-scheme"] == "internet-facing"
    assert annotations[f"{prefix}-attributes"] == "load_balancing.cross_zone.enabled=true"
    assert annotations[f"{prefix}-target-group-attributes"] == "preserve_client_ip.enabled=true"
    assert controller["metrics"] == {"enabled": True, "serviceMonitor": {"enabled": True}}


def test_internal_ingress_scheme():
    service = values(run_stack("dev", ingress={"scheme": "internal"}), "ingress-nginx")["controller"]["service"]
    assert service["annotations"]["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internal"


# ---- monitoring ----------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, replicas, retention, gib, am_replicas", [
    ("dev", 1, "7d", 20, 1), ("staging", 2, "15d", 50, 2), ("prod", 2, "30d", 100, 3)])
def test_prometheus_and_alertmanager_sizes(stack, replicas, retention, gib, am_replicas, request):
    chart = values(request.getfixturevalue(stack), "kube-prometheus-stack")
    spec = chart["prometheus"]["prometheusSpec"]
    assert (spec["replicas"], spec["retention"]) == (replicas, retention)
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim == {"storageClassName": "gp3", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": f"{gib}Gi"}}}
    am = chart["alertmanager"]["alertmanagerSpec"]
    assert am["replicas"] == am_replicas
    assert am["storage"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"


def test_monitoring_config_overrides():
    spec = values(run_stack("dev", monitoring={"prometheusRetention": "3d", "prometheusStorageGiB": 30}),
                  "kube-prometheus-stack")["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "3d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "30Gi"


def test_prometheus_picks_up_every_release_and_skips_what_eks_hides(any_stack):
    chart = values(any_stack, "kube-prometheus-stack")
    spec = chart["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd"):
        assert chart[component] == {"enabled": False}


def test_grafana_password_comes_from_a_secret_never_from_values(any_stack):
    grafana = values(any_stack, "kube-prometheus-stack")["grafana"]
    assert grafana["admin"] == {"existingSecret": "grafana-admin", "userKey": "admin-user",
                                "passwordKey": "admin-password"}
    assert "adminPassword" not in grafana
    secret = any_stack.one("kubernetes:core/v1:Secret", f"acme-{any_stack.stack}-grafana-admin").inputs
    assert is_secret(secret["stringData"])
    password = reveal(secret["stringData"])["admin-password"]
    assert password == any_stack.outputs["grafanaAdminPassword"] and len(password) >= 12
    assert password not in json.dumps(values(any_stack, "kube-prometheus-stack"))
    assert "grafanaAdminPassword" in any_stack.secret_outputs


def test_configured_grafana_password_is_used_instead_of_a_generated_one():
    evaluation = run_stack("dev", grafanaAdminPassword="correct-horse-battery")
    assert evaluation.outputs["grafanaAdminPassword"] == "correct-horse-battery"
    assert not evaluation.of_type("random:index/randomPassword:RandomPassword")
    assert "grafanaAdminPassword" in evaluation.secret_outputs


def test_grafana_has_a_loki_datasource_for_all_tenants_and_one_per_team(any_stack):
    grafana = values(any_stack, "kube-prometheus-stack")["grafana"]
    teams = list(any_stack.settings.config.teams)
    sources = {s["name"]: s for s in grafana["additionalDataSources"]}
    assert set(sources) == {"Loki", *(f"Loki {team}" for team in teams)}
    assert sources["Loki"]["secureJsonData"]["httpHeaderValue1"] == "|".join(["platform", *teams])
    for team in teams:
        assert sources[f"Loki {team}"]["secureJsonData"]["httpHeaderValue1"] == team
    assert {s["url"] for s in sources.values()} == {LOKI_URL}
    assert {s["jsonData"]["httpHeaderName1"] for s in sources.values()} == {"X-Scope-OrgID"}
    assert LOKI_URL == "http://loki-gateway.logging.svc.cluster.local"


def test_without_slack_alerts_go_nowhere_and_the_plan_says_so(dev):
    config = values(dev, "kube-prometheus-stack")["alertmanager"]["config"]
    assert config["route"]["receiver"] == "null"
    assert config["receivers"] == [{"name": "null"}]
    assert dev.outputs["alertDelivery"] == "none: no Slack webhook configured"
    assert not [r for r in dev.of_type("kubernetes:core/v1:Secret") if "slack" in r.name]


def test_slack_webhook_reaches_alertmanager_through_a_mounted_secret():
    url = "https://hooks.slack.com/services/T0/B0/XYZ"
    evaluation = run_stack("prod", slackWebhookUrl=url, alerting={"slackChannel": "#prod-alerts", "heartbeatUrl": HEARTBEAT})
    secret = evaluation.one("kubernetes:core/v1:Secret", "acme-prod-alertmanager-slack").inputs
    assert secret["metadata"] == {"name": "alertmanager-slack", "namespace": "monitoring"}
    assert is_secret(secret["stringData"]) and reveal(secret["stringData"]) == {"url": url}
    chart = values(evaluation, "kube-prometheus-stack")
    assert url not in json.dumps(chart)
    assert chart["alertmanager"]["alertmanagerSpec"]["secrets"] == ["alertmanager-slack", "alertmanager-heartbeat"]
    config = chart["alertmanager"]["config"]
    assert config["route"]["receiver"] == "slack"
    (slack,) = next(r for r in config["receivers"] if r["name"] == "slack")["slack_configs"]
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-slack/url"
    assert slack["channel"] == "#prod-alerts"
    assert evaluation.outputs["alertDelivery"] == "slack #prod-alerts"
    assert release(evaluation, "kube-prometheus-stack").depends_on(
        evaluation.one("kubernetes:core/v1:Secret", "acme-prod-alertmanager-slack"))


def test_bad_service_config_is_rejected_with_secrets_masked():
    evaluation = run_stack("dev", slackWebhookUrl="http://example.com/hook", ingress={"scheme": "public"},
                           logging={"retentionDays": 0}, monitoring={"prometheusRetention": "15 days"},
                           grafanaAdminPassword="short")
    problems = {p.path: str(p) for p in evaluation.error.problems}
    assert "https:// URL" in problems["slackWebhookUrl"] and "example.com" not in problems["slackWebhookUrl"]
    assert "[secret]" in problems["grafanaAdminPassword"] and "short" not in problems["grafanaAdminPassword"]
    assert {"ingress.scheme", "logging.retentionDays", "monitoring.prometheusRetention"} <= set(problems)
    assert evaluation.registrations == []


# ---- logging -------------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, mode, replicas, days, cache", [
    ("dev", "Monolithic", 1, 7, 512), ("staging", "SimpleScalable", 3, 14, 1024),
    ("prod", "SimpleScalable", 3, 30, 2048)])
def test_loki_mode_replicas_retention_and_caches(stack, mode, replicas, days, cache, request):
    chart = values(request.getfixturevalue(stack), "loki")
    assert chart["deploymentMode"] == mode
    scalable = mode == "SimpleScalable"
    assert chart["singleBinary"]["replicas"] == (0 if scalable else replicas)
    for target in ("read", "write", "backend"):
        assert chart[target]["replicas"] == (replicas if scalable else 0)
    assert chart["loki"]["limits_config"] == {"retention_period": f"{days * 24}h"}
    assert chart["loki"]["compactor"] == {"retention_enabled": True, "delete_request_store": "s3"}
    assert chart["chunksCache"]["allocatedMemory"] == cache
    assert chart["singleBinary"]["persistence"]["storageClass"] == "gp3"


def test_loki_stores_in_its_bucket_through_irsa_without_keys(any_stack):
    env = any_stack.stack
    chart = values(any_stack, "loki")
    bucket = f"acme-{env}-loki-{any_stack.settings.account_id}-us-east-1"
    assert chart["loki"]["storage"] == {"type": "s3", "bucketNames": {"chunks": bucket, "ruler": bucket,
                                                                      "admin": bucket},
                                        "s3": {"region": "us-east-1"}}
    assert chart["loki"]["schemaConfig"]["configs"][0]["schema"] == "v13"
    assert chart["loki"]["schemaConfig"]["configs"][0]["store"] == "tsdb"
    role = any_stack.one("aws:iam/role:Role", f"acme-{env}-loki")
    assert chart["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    assert chart["serviceAccount"]["name"] == "loki"
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
    assert "system:serviceaccount:logging:loki" in trust.values()
    assert any_stack.outputs["lokiBucket"] == bucket
    assert "accessKeyId" not in json.dumps(chart) and "endpoint" not in chart["loki"]["storage"]["s3"]


def test_loki_role_is_scoped_to_its_bucket_and_key(any_stack):
    env = any_stack.stack
    bucket_arn = f"arn:aws:s3:::acme-{env}-loki-{any_stack.settings.account_id}-us-east-1"
    key = any_stack.one("aws:kms/key:Key", f"acme-{env}-logs")
    policy = json.loads(any_stack.one("aws:iam/rolePolicy:RolePolicy", f"acme-{env}-loki").inputs["policy"])
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [bucket_arn]},
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [f"{bucket_arn}/*"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key.outputs["arn"]]},
    ]


def test_log_bucket_controls(any_stack):
    env = any_stack.stack
    name = f"acme-{env}-logs"
    key = any_stack.one("aws:kms/key:Key", name)
    assert key.inputs["enableKeyRotation"] is True
    sse = any_stack.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                        name).inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms",
                                                         "kmsMasterKeyId": key.outputs["arn"]}
    block = any_stack.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", name).inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    policy = json.loads(any_stack.one("aws:s3/bucketPolicy:BucketPolicy", name).inputs["policy"])
    assert policy["Statement"][0]["Effect"] == "Deny"
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    lifecycle = any_stack.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", name)
    days = {"dev": 7, "staging": 14, "prod": 30}[env]
    assert lifecycle.inputs["rules"][0]["expiration"] == {"days": days + 1}


def test_log_bucket_and_key_are_protected_and_retained_in_prod_only(dev, prod):
    for evaluation, kept in ((dev, False), (prod, True)):
        for type_ in ("aws:s3/bucket:Bucket", "aws:kms/key:Key"):
            resource = evaluation.one(type_, f"acme-{evaluation.stack}-logs")
            assert (resource.protect, resource.retain_on_delete) == (kept, kept)
        bucket = evaluation.one("aws:s3/bucket:Bucket", f"acme-{evaluation.stack}-logs")
        assert bucket.inputs["forceDestroy"] is (not kept)


def test_fluent_bit_runs_on_gpu_nodes_ships_to_loki_and_buffers_on_disk(any_stack):
    chart = values(any_stack, "fluent-bit")
    assert chart["kind"] == "DaemonSet"
    assert chart["tolerations"] == [{"operator": "Exists"}]
    config = chart["config"]
    assert "storage.type filesystem" in config["inputs"]
    assert "storage.path /var/fluent-bit/state/flb-storage/" in config["service"]
    assert "Host loki-gateway.logging.svc.cluster.local" in config["outputs"]
    assert ("labels job=fluent-bit, namespace=$kubernetes['namespace_name'], pod=$kubernetes['pod_name'], "
            "container=$kubernetes['container_name'], node=$kubernetes['host']") in config["outputs"]
    assert "Labels Off" in config["filters"] and "auto_kubernetes_labels" not in config["outputs"]
    assert chart["extraVolumeMounts"] == [{"name": "buffer", "mountPath": "/var/fluent-bit/state"}]


# ---- GPU -----------------------------------------------------------------------------------------

def test_device_plugin_and_dcgm_only_on_gpu_nodes(any_stack):
    plugin = values(any_stack, "nvidia-device-plugin")
    assert plugin["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    terms = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "nvidia.com/gpu.present", "operator": "In", "values": ["true"]}]}]
    assert GPU_TOLERATION in plugin["tolerations"]
    dcgm = values(any_stack, "dcgm-exporter")
    assert dcgm["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert dcgm["tolerations"] == [GPU_TOLERATION]
    assert dcgm["serviceMonitor"] == {"enabled": True}


def test_gpu_dashboard_and_alert_rules(any_stack):
    dashboard = any_stack.one("kubernetes:core/v1:ConfigMap", f"acme-{any_stack.stack}-gpu-dashboard").inputs
    assert dashboard["metadata"]["labels"] == {"grafana_dashboard": "1"}
    panels = json.loads(dashboard["data"]["gpu.json"])["panels"]
    assert [p["title"] for p in panels] == ["GPU utilisation", "GPU memory used", "GPU temperature"]
    assert "DCGM_FI_DEV_GPU_UTIL" in panels[0]["targets"][0]["expr"]
    rule = any_stack.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", f"acme-{any_stack.stack}-gpu-alerts").inputs
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"GpuXidHardwareError", "GpuXidError", "GpuTemperatureHigh", "GpuNodeNotReady"}
    assert "DCGM_FI_DEV_XID_ERRORS" in alerts["GpuXidError"]["expr"]
    assert 'label_nvidia_com_gpu_present="true"' in alerts["GpuNodeNotReady"]["expr"]


# ---- autoscaling ---------------------------------------------------------------------------------

def test_cluster_autoscaler_discovers_this_cluster_with_a_matching_image(any_stack):
    env = any_stack.stack
    chart = values(any_stack, "cluster-autoscaler")
    assert chart["autoDiscovery"] == {"clusterName": f"acme-{env}"}
    assert chart["awsRegion"] == "us-east-1" and chart["cloudProvider"] == "aws"
    assert chart["image"] == {"tag": "v1.36.0"}
    role = any_stack.one("aws:iam/role:Role", f"acme-{env}-cluster-autoscaler")
    assert "annotations" not in chart["rbac"]["serviceAccount"]  # EKS Pod Identity, not IRSA
    association = any_stack.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                                f"acme-{env}-cluster-autoscaler").inputs
    assert (association["namespace"], association["serviceAccount"], association["roleArn"]) == (
        "kube-system", "cluster-autoscaler", role.outputs["arn"])
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "cluster-autoscaler"


def test_cluster_autoscaler_image_follows_the_kubernetes_version():
    chart = values(run_stack("dev", kubernetesVersion="1.33", upgradePolicy="EXTENDED"), "cluster-autoscaler")
    assert chart["image"]["tag"] == "v1.33.0"


def test_cluster_autoscaler_may_resize_only_this_clusters_groups(any_stack):
    env = any_stack.stack
    policy = json.loads(any_stack.one("aws:iam/rolePolicy:RolePolicy", f"acme-{env}-cluster-autoscaler").inputs["policy"])
    resize, discover = policy["Statement"]
    assert resize["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert resize["Condition"] == {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/acme-{env}": "owned"}}
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in discover["Action"])


@pytest.mark.parametrize("stack, replicas", [("dev", 1), ("prod", 2)])
def test_metrics_server_replicas(stack, replicas, request):
    chart = values(request.getfixturevalue(stack), "metrics-server")
    assert chart["replicas"] == replicas
    assert ("podDisruptionBudget" in chart) is (replicas > 1)


# ---- ordering ------------------------------------------------------------------------------------

COMPONENT_OF_RELEASE = {
    "kube-prometheus-stack": "eks-platform:monitoring:Monitoring",
    "loki": "eks-platform:logging:Loki",
    "fluent-bit": "eks-platform:logging:FluentBit",
    "ingress-nginx": "eks-platform:ingress:Ingress",
    "metrics-server": "eks-platform:autoscaling:MetricsServer",
}


def test_every_service_waits_for_the_general_nodes_and_coredns(any_stack):
    env = any_stack.stack
    general = any_stack.one("eks:index:ManagedNodeGroup", f"acme-{env}-general")
    gpu = any_stack.one("eks:index:ManagedNodeGroup", f"acme-{env}-gpu")
    coredns = any_stack.one("aws:eks/addon:Addon", f"acme-{env}-coredns")
    components = [r for r in any_stack.registrations if r.type.startswith("eks-platform:")
                  and r.type.split(":")[1] in ("storage", "crds", "monitoring", "logging", "ingress", "gpu",
                                               "autoscaling", "edge", "backup")]
    assert len(components) == 12
    for component in components:
        assert component.depends_on(general) and component.depends_on(coredns), component.type
        assert not component.depends_on(gpu), component.type


def test_a_release_waits_for_another_only_where_one_serves_the_other_at_install_time(any_stack):
    """With the CRDs applied on their own, releases install in parallel, except that the load balancer
    controller must be serving before the ingress controller's LoadBalancer Service is created."""
    releases = any_stack.of_type(RELEASE)
    waits = {(r.name, other.name) for r in releases for other in releases if r.depends_on(other)}
    assert waits == {("ingress-nginx", "aws-load-balancer-controller")}


def test_releases_and_objects_that_use_monitoring_crds_wait_for_them(any_stack):
    crds = any_stack.one("kubernetes:yaml/v2:ConfigGroup", f"acme-{any_stack.stack}-monitoring.coreos.com")
    assert crds.inputs["files"] == ["components/crds/monitoring.coreos.com/*.yaml"]
    waits = {r.name for r in any_stack.of_type(RELEASE) if r.depends_on(crds)}
    assert RELEASES_WITH_MONITORING_OBJECTS <= waits
    assert {"metrics-server", "cluster-autoscaler"}.isdisjoint(waits)
    rules = any_stack.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert len(rules) == 2 and all(rule.depends_on(crds) for rule in rules)
    kps = release(any_stack, "kube-prometheus-stack")
    assert kps.inputs["skipCrds"] is True and kps.inputs["values"]["crds"] == {"enabled": False}


def test_releases_with_volumes_wait_for_the_storage_class_and_no_others(any_stack):
    storage_class = any_stack.one("kubernetes:storage.k8s.io/v1:StorageClass")
    waits = {r.name for r in any_stack.of_type(RELEASE) if r.depends_on(storage_class)}
    assert waits == {"kube-prometheus-stack", "loki"}


def test_fluent_bit_does_not_wait_for_loki(any_stack):
    fluent_bit = any_stack.one("eks-platform:logging:FluentBit")
    loki = any_stack.one("eks-platform:logging:Loki")
    assert not fluent_bit.depends_on(loki) and not fluent_bit.depends_on(release(any_stack, "loki"))


def test_in_cluster_resources_use_the_clusters_kubernetes_provider(any_stack):
    provider = any_stack.one("pulumi:providers:kubernetes", "k8s")
    assert is_secret(provider.inputs["kubeconfig"])
    assert reveal(provider.inputs["kubeconfig"]) == any_stack.outputs["kubeconfig"]
    in_cluster = [r for r in any_stack.registrations if r.type.startswith("kubernetes:")]
    assert in_cluster and all(r.provider.startswith(provider.urn) for r in in_cluster)


def test_the_crds_applied_are_those_of_the_pinned_operator():
    import re

    from components.crds import CRD_ROOT, OPERATOR_VERSION

    texts = [p.read_text() for p in sorted((CRD_ROOT / "monitoring.coreos.com").glob("*.yaml"))]
    kinds = {re.search(r"^  names:\n(?:    .*\n)*?    kind: (\w+)$", t, re.MULTILINE).group(1) for t in texts}
    assert kinds >= {"ServiceMonitor", "PrometheusRule", "Prometheus", "Alertmanager", "PodMonitor"}
    versions = {re.search(r"^    operator\.prometheus\.io/version: (\S+)$", t, re.MULTILINE).group(1) for t in texts}
    assert versions == {OPERATOR_VERSION}


def test_bucket_names_fit_s3s_limit_for_any_cluster_name_and_region():
    from components.buckets import bucket_name

    assert bucket_name("acme-prod", "loki", "123456789012", "us-east-1") == "acme-prod-loki-123456789012-us-east-1"
    long_a, long_b = "a" * 30 + "-platform-one", "a" * 30 + "-platform-two"
    names = {bucket_name(n, "velero", "123456789012", "ap-southeast-2") for n in (long_a, long_b)}
    assert len(names) == 2 and all(len(n) <= 63 and not n.startswith("-") and "--" not in n for n in names)
    evaluation = run_stack("prod", clusterName="x" * 40, region="ap-southeast-2")
    buckets = {b.name.rsplit("-", 1)[1]: b.inputs["bucket"] for b in evaluation.of_type("aws:s3/bucket:Bucket")}
    assert all(len(b) <= 63 for b in buckets.values())
    assert buckets["logs"].endswith("-loki-777788889999-ap-southeast-2")
    assert buckets["backups"].endswith("-velero-777788889999-ap-southeast-2")


def test_releases_that_make_aws_resources_wait_on_delete_until_those_are_gone(dev, prod):
    assert release(dev, "ingress-nginx").after_delete_hooks == ["acme-dev-load-balancers-gone"]
    assert release(dev, "kube-prometheus-stack").after_delete_hooks == ["acme-dev-monitoring-volumes-gone"]
    assert release(dev, "loki").after_delete_hooks == ["acme-dev-logging-volumes-gone"]
    assert release(prod, "ingress-nginx").after_delete_hooks == ["acme-prod-load-balancers-gone"]
    assert release(prod, "loki").after_delete_hooks == []  # prod retains its volumes
    assert not [r for r in dev.of_type(RELEASE) if r.name in ("fluent-bit", "metrics-server") and r.after_delete_hooks]


def test_ingress_alerts_and_dashboard(prod):
    rule = prod.one("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "acme-prod-ingress-alerts").inputs
    assert rule["metadata"]["namespace"] == "ingress-nginx"
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"IngressHigh5xxRatio", "IngressHighP99Latency", "IngressCertificateExpiringSoon"}
    assert 'status=~"5.."' in alerts["IngressHigh5xxRatio"]["expr"]  # what each alert does: tests/test_alert_rules.py
    assert "histogram_quantile(0.99," in alerts["IngressHighP99Latency"]["expr"]
    assert "nginx_ingress_controller_ssl_expire_time_seconds" in alerts["IngressCertificateExpiringSoon"]["expr"]
    board = prod.one("kubernetes:core/v1:ConfigMap", "acme-prod-ingress-dashboard").inputs
    assert board["metadata"]["labels"] == {"grafana_dashboard": "1"}
    panels = json.loads(board["data"]["ingress.json"])["panels"]
    assert [p["title"] for p in panels] == ["5xx ratio", "p99 latency", "Requests per second"]
    assert panels[0]["targets"][0]["expr"].startswith("sum by (ingress, exported_namespace) (rate(")
    assert "label_replace" not in panels[0]["targets"][0]["expr"] + panels[1]["targets"][0]["expr"]


def test_a_teams_alerts_go_to_its_own_slack_webhook_through_its_own_secret():
    team_url = "https://hooks.slack.com/services/T/PAY/TEAMSECRET"
    team = {"namespaces": ["payments", "payments-jobs"], "quota": {"cpu": "8", "memory": "16Gi", "pods": "100"},
            "alerts": {"slackChannel": "#payments-alerts", "slackWebhookUrl": team_url}}
    evaluation = run_stack("prod", teams={"payments": team}, slackWebhookUrl="https://hooks.slack.com/services/T/B/C",
                           alerting={"slackChannel": "#alerts", "heartbeatUrl": HEARTBEAT})
    chart = values(evaluation, "kube-prometheus-stack")["alertmanager"]
    config = chart["config"]
    route = next(r for r in config["route"]["routes"] if r["receiver"] == "team-payments")
    assert route["matchers"] == ['namespace =~ "payments|payments-jobs"']
    receiver = next(r for r in config["receivers"] if r["name"] == "team-payments")
    assert receiver["slack_configs"][0]["channel"] == "#payments-alerts"
    assert receiver["slack_configs"][0]["api_url_file"] == \
        "/etc/alertmanager/secrets/alertmanager-slack-team-payments/url"
    assert "alertmanager-slack-team-payments" in chart["alertmanagerSpec"]["secrets"]
    secret = evaluation.one("kubernetes:core/v1:Secret", "acme-prod-alertmanager-slack-team-payments").inputs
    assert is_secret(secret["stringData"]) and reveal(secret["stringData"]) == {"url": team_url}
    assert "TEAMSECRET" not in json.dumps(reveal(release(evaluation, "kube-prometheus-stack").inputs["values"]))
    assert release(evaluation, "kube-prometheus-stack").depends_on(
        evaluation.one("kubernetes:core/v1:Secret", "acme-prod-alertmanager-slack-team-payments"))


def test_a_team_channel_without_its_webhook_and_a_plain_text_webhook_are_refused():
    team = {"namespaces": ["payments"], "quota": {"cpu": "8", "memory": "16Gi", "pods": "100"},
            "alerts": {"slackChannel": "#payments-alerts"}}
    problems = {p.path: str(p) for p in run_stack("dev", teams={"payments": team}).error.problems}
    assert "teams.payments.alerts.slackChannel" in problems["teams.payments.alerts.slackWebhookUrl"]
    assert "--secret --path eks-platform:teams.payments.alerts.slackWebhookUrl" in \
        problems["teams.payments.alerts.slackWebhookUrl"]
    from ops.stackfiles import raw_config, read_stack_config
    from stacks.config import load_raw
    from stacks.problems import ConfigError

    config = read_stack_config("dev")
    config["eks-platform:teams"] = {"payments": {**team, "alerts": {
        "slackChannel": "#payments-alerts", "slackWebhookUrl": "https://hooks.slack.com/services/T/B/PLAIN"}}}
    with pytest.raises(ConfigError) as caught:
        load_raw("dev", raw_config(config))
    (problem,) = caught.value.problems
    assert problem.path == "teams.payments.alerts.slackWebhookUrl" and "--secret --path" in problem.message
    assert "PLAIN" not in str(caught.value)


@pytest.mark.parametrize("alerting, missing", [
    ({}, {"slackWebhookUrl", "alerting.heartbeatUrl"}),
    ({"heartbeatUrl": HEARTBEAT}, {"slackWebhookUrl"}),
])
def test_prod_is_never_silent_unless_it_says_so(alerting, missing):
    evaluation = run_stack("prod", alerting={"slackChannel": "#alerts", **alerting})
    problems = {p.path: str(p) for p in evaluation.error.problems}
    assert set(problems) == missing
    for message in problems.values():
        assert "pulumi config set --secret eks-platform:slackWebhookUrl" in message
        assert "alerting.delivery: none" in message
    chosen = run_stack("prod", alerting={"slackChannel": "#alerts", "delivery": "none"})
    assert chosen.error is None
    assert values(chosen, "kube-prometheus-stack")["alertmanager"]["config"]["route"]["receiver"] == "null"


def test_staging_without_delivery_warns_and_the_plan_says_so():
    from stacks.rules import delivery_warnings

    (warning,) = delivery_warnings(stack_evaluation("staging").settings.config)
    assert "eks-platform:slackWebhookUrl and eks-platform:alerting.heartbeatUrl not set" in warning
    assert delivery_warnings(stack_evaluation("dev").settings.config) == []


def test_the_watchdog_pings_a_dead_mans_switch_through_a_mounted_secret():
    url = "https://hc-ping.example.org/uuid-SECRET"
    evaluation = run_stack("prod", alerting={"slackChannel": "#alerts", "heartbeatUrl": url},
                           slackWebhookUrl="https://hooks.slack.com/services/T/B/C")
    chart = values(evaluation, "kube-prometheus-stack")["alertmanager"]
    watchdog = chart["config"]["route"]["routes"][0]
    assert watchdog == {"receiver": "heartbeat", "matchers": ['alertname = "Watchdog"'], "group_wait": "0s",
                        "group_interval": "1m", "repeat_interval": "1m"}
    receiver = next(r for r in chart["config"]["receivers"] if r["name"] == "heartbeat")
    assert receiver["webhook_configs"] == [{"url_file": "/etc/alertmanager/secrets/alertmanager-heartbeat/url",
                                            "send_resolved": False}]
    assert chart["alertmanagerSpec"]["secrets"] == ["alertmanager-slack", "alertmanager-heartbeat"]
    secret = evaluation.one("kubernetes:core/v1:Secret", "acme-prod-alertmanager-heartbeat").inputs
    data = secret["stringData"]
    assert (is_secret(data) or is_secret(data["url"])) and reveal(data)["url"] == url
    assert "SECRET" not in json.dumps(reveal(release(evaluation, "kube-prometheus-stack").inputs["values"]))


def test_a_heartbeat_url_in_plain_text_is_refused_naming_the_path():
    from ops.stackfiles import raw_config, read_stack_config
    from stacks.config import load_raw
    from stacks.problems import ConfigError
    from stacks.secure import OFFLINE_PLACEHOLDERS

    config = read_stack_config("prod")
    config["eks-platform:slackWebhookUrl"] = {"secure": "v1:BBBB"}
    config["eks-platform:alerting"] = {"slackChannel": "#alerts", "heartbeatUrl": "https://hc-ping.example.org/SECRET"}
    with pytest.raises(ConfigError) as caught:
        load_raw("prod", raw_config(config))
    (problem,) = caught.value.problems
    assert problem.path == "alerting.heartbeatUrl" and "--secret --path eks-platform:alerting.heartbeatUrl" in problem.message
    assert "SECRET" not in str(caught.value)
    config["eks-platform:alerting"] = {"slackChannel": "#alerts", "heartbeatUrl": {"secure": "v1:AAAA"}}
    heartbeat = load_raw("prod", raw_config(config)).config.alerting.heartbeat_url
    assert heartbeat.get_secret_value() == OFFLINE_PLACEHOLDERS["heartbeatUrl"]


def test_moving_metrics_server_to_its_own_component_keeps_its_release(dev):
    """An alias names the release's former parent, so an upgrade from the combined Autoscaling component updates
    the release in place instead of uninstalling and reinstalling it."""
    (release,) = [r for r in dev.of_type(RELEASE) if r.name == "metrics-server"]
    (autoscaling,) = dev.of_type("eks-platform:autoscaling:Autoscaling")
    # The engine's URN of a top-level component (the mock's own URNs put the Stack type in the chain).
    assert release.alias_parents == [f"urn:pulumi:dev::eks-platform::{autoscaling.type}::{autoscaling.name}"]
    assert release.parent == dev.one("eks-platform:autoscaling:MetricsServer").urn


def test_the_autoscaler_rolls_its_pods_when_its_identity_mechanism_changes(dev):
    assert values(dev, "cluster-autoscaler")["podAnnotations"] == {"eks-platform.io/aws-identity": "eks-pod-identity"}

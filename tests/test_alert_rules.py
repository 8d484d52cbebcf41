"""Every alert the platform defines, run by Prometheus's own rule engine (`promtool test rules`) on synthetic series.

Each alert fires on the failure its name promises, within its `for:` plus an evaluation, with the labels its
route needs; and stays silent on a healthy system, a quiet one, and across an exporter or pod restart. The
rules are the evaluated stack's (tests/prometheus_tools.py). Metric and label names, by source:

- dcgm-exporter 4.x (`pkg/.../gpu_collector.go`): `DCGM_FI_DEV_XID_ERRORS` with `gpu`, `UUID`, `device`,
  `modelName`, `Hostname`, `DCGM_FI_DRIVER_VERSION`, and since 3.3.6 `err_code` (the XID, "0" for none) and
  `err_msg`; the value is the XID. `DCGM_FI_DEV_GPU_TEMP` in °C.
- kube-state-metrics 2.20: `kube_node_status_condition{node,condition,status}`, and `kube_node_labels` with
  `label_nvidia_com_gpu_present` (the allow-list the program sets, `nodes=[nvidia.com/gpu.present]`).
- ingress-nginx controller 1.15 (`internal/ingress/metric/collectors`): `nginx_ingress_controller_requests`
  and `..._request_duration_seconds_bucket` with `ingress`, `namespace` (the Ingress's: `exported_namespace` once
  Prometheus adds the target's own `namespace`), `service`, `status`, `method`, `host`, `path`;
  `nginx_ingress_controller_ssl_expire_time_seconds{host,namespace,secret_name}`.
- Envoy 1.x cluster stats as Envoy Gateway exposes them: `envoy_cluster_upstream_rq_xx{envoy_cluster_name,
  envoy_response_code_class}` and `envoy_cluster_upstream_rq_time_bucket` (ms); route clusters are named
  `httproute/<namespace>/<route>/rule/<n>`.
- Fluent Bit 5.x (`/api/v2/metrics/prometheus`): `fluentbit_output_proc_records_total`,
  `fluentbit_output_retries_total`, `fluentbit_output_errors_total`, `fluentbit_output_dropped_records_total`
  (`name` = the output's alias), `fluentbit_input_records_total` (`name` = `tail.0`, `systemd.1`).
- Velero 1.18 (`pkg/metrics/metrics.go`): per-schedule counters `velero_backup_failure_total`,
  `velero_backup_partial_failure_total` (set to 0 for each schedule at start), the gauge
  `velero_backup_last_successful_timestamp{schedule}` (set on success only), and
  `velero_csi_snapshot_failure_total{schedule,backupName}` (written once, at the backup's end);
  `process_start_time_seconds` from the Go client.
"""

from __future__ import annotations

import pytest

from components.backup import SCHEDULE_OBJECT
from tests.conftest import stack_evaluation, stack_variant
from tests.prometheus_tools import (alert, alert_names, check_rules, platform_rule_groups, rule, run_rule_tests,
                                    series, silent)
from tests.rendering import needs_charts, render_stack

GPU_SCRAPE = {"namespace": "gpu", "job": "dcgm-exporter", "service": "dcgm-exporter", "container": "exporter"}
GPU = {"gpu": "0", "UUID": "GPU-5e1f0c2a", "device": "nvidia0", "modelName": "NVIDIA L4", "Hostname": "ip-10-40-1-7",
       "DCGM_FI_DRIVER_VERSION": "570.133.20"}


@pytest.fixture(scope="module")
def prod_groups():
    return platform_rule_groups(stack_evaluation("prod"))


def xid(code: str, message: str, pod: str, samples: str) -> dict:
    return series("DCGM_FI_DEV_XID_ERRORS", {**GPU, **GPU_SCRAPE, "pod": pod, "err_code": code, "err_msg": message},
                  samples)


def xid_alert(code: str, message: str, severity: str, advice: str) -> tuple[dict, dict]:
    labels = {"Hostname": GPU["Hostname"], "gpu": "0", "UUID": GPU["UUID"], "err_code": code, "err_msg": message,
              "severity": severity}
    return labels, {"summary": f"GPU 0 on {GPU['Hostname']} reported XID {code} ({message}): {advice}"}


FALLEN = "GPU has fallen off the bus"
APP = "Graphics Engine Exception"
HARDWARE_ADVICE = "a hardware fault, drain and replace the node"


def test_gpu_xid_alerts_fire_on_a_new_xid_by_class_and_not_on_an_exporter_restart(prod_groups):
    run_rule_tests(prod_groups, [
        {"interval": "1m", "name": "a new hardware XID replaces the healthy series", "input_series": [
            xid("0", "No Error", "dcgm-a", "0x19 stale"), xid("79", FALLEN, "dcgm-a", "_x19 79x20")],
         "alert_rule_test": [
             *silent("15m", "GpuXidHardwareError", "GpuXidError"),
             alert("21m", "GpuXidHardwareError", xid_alert("79", FALLEN, "critical", HARDWARE_ADVICE)),
             *silent("21m", "GpuXidError"),
             *silent("32m", "GpuXidHardwareError")]},                     # news for the window only
        {"interval": "1m", "name": "an application XID warns", "input_series": [
            xid("13", APP, "dcgm-a", "_x9 13x20")],
         "alert_rule_test": [
             alert("12m", "GpuXidError", xid_alert("13", APP, "warning", "usually an application fault")),
             *silent("12m", "GpuXidHardwareError")]},
        {"interval": "1m", "name": "the exporter restarts: the old XID comes back under a new pod", "input_series": [
            xid("79", FALLEN, "dcgm-a", "79x15 stale"), xid("79", FALLEN, "dcgm-b", "_x17 79x30")],
         "alert_rule_test": [*silent("20m", "GpuXidHardwareError", "GpuXidError"),
                             *silent("40m", "GpuXidHardwareError", "GpuXidError")]},
        {"interval": "1m", "name": "the exporter restarts and reports no error", "input_series": [
            xid("79", FALLEN, "dcgm-a", "79x15 stale"), xid("0", "No Error", "dcgm-b", "_x17 0x30")],
         "alert_rule_test": silent("25m", "GpuXidHardwareError", "GpuXidError")},
        {"interval": "1m", "name": "healthy", "input_series": [xid("0", "No Error", "dcgm-a", "0x60")],
         "alert_rule_test": silent("45m", "GpuXidHardwareError", "GpuXidError")},
        {"interval": "1m", "name": "quiet: no GPU", "input_series": [],
         "alert_rule_test": silent("30m", "GpuXidHardwareError", "GpuXidError", "GpuTemperatureHigh",
                                   "GpuNodeNotReady")},
    ])


def test_gpu_temperature_and_node_readiness(prod_groups):
    node = {"namespace": "monitoring", "job": "kube-state-metrics", "node": "ip-10-40-1-7"}
    ready = {**node, "condition": "Ready", "status": "true"}
    run_rule_tests(prod_groups, [
        {"interval": "1m", "name": "hot, then a restart under a new pod", "input_series": [
            series("DCGM_FI_DEV_GPU_TEMP", {**GPU, **GPU_SCRAPE, "pod": "dcgm-a"}, "90x8 stale"),
            series("DCGM_FI_DEV_GPU_TEMP", {**GPU, **GPU_SCRAPE, "pod": "dcgm-b"}, "_x9 90x10 60x10")],
         "alert_rule_test": [
             *silent("4m", "GpuTemperatureHigh"),
             alert("7m", "GpuTemperatureHigh", ({"Hostname": GPU["Hostname"], "gpu": "0", "severity": "warning"},
                                                {"summary": f"GPU 0 on {GPU['Hostname']} is at 90 °C"})),
             alert("16m", "GpuTemperatureHigh", ({"Hostname": GPU["Hostname"], "gpu": "0", "severity": "warning"},
                                                 {"summary": f"GPU 0 on {GPU['Hostname']} is at 90 °C"})),
             *silent("25m", "GpuTemperatureHigh")]},
        {"interval": "1m", "name": "a GPU node goes NotReady; a CPU node does not page", "input_series": [
            series("kube_node_status_condition", ready, "1x3 0x10"),
            series("kube_node_labels", {**node, "label_nvidia_com_gpu_present": "true"}, "1x13"),
            series("kube_node_status_condition", {**ready, "node": "ip-10-40-2-9"}, "0x13"),
            series("kube_node_labels", {**node, "node": "ip-10-40-2-9"}, "1x13")],
         "alert_rule_test": [
             *silent("6m", "GpuNodeNotReady"),
             alert("10m", "GpuNodeNotReady", ({**ready, "severity": "critical"},
                                              {"summary": "GPU node ip-10-40-1-7 is not Ready"}))]},
    ])


FLUENT = {"namespace": "fluent-bit", "job": "fluent-bit", "service": "fluent-bit", "container": "fluent-bit"}


def output(metric: str, pod: str, name: str, samples: str) -> dict:
    return series(f"fluentbit_output_{metric}", {**FLUENT, "pod": pod, "name": name}, samples)


def tail(pod: str, samples: str) -> dict:
    return series("fluentbit_input_records_total", {**FLUENT, "pod": pod, "name": "tail.0"}, samples)


def loki_failing(retries: str, errors: str, dropped: str) -> list[dict]:
    """A Fluent Bit pod that reads 500 lines a minute and delivers none, with these output counters."""
    return [tail("fluent-bit-x7", "0+500x30"), output("proc_records_total", "fluent-bit-x7", "loki-platform", "1000x30"),
            *(output(metric, "fluent-bit-x7", "loki-platform", samples) for metric, samples in
              (("retries_total", retries), ("errors_total", errors), ("dropped_records_total", dropped)))]


def test_fluent_bit_alerts_fire_when_loki_refuses_or_is_gone_and_not_on_a_restart(prod_groups):
    retrying = ({"pod": "fluent-bit-x7", "name": "loki-platform", "severity": "warning"},
                {"summary": "Fluent Bit on fluent-bit-x7 has delivered nothing to loki-platform for 15 minutes: Loki "
                            "refuses or is unreachable",
                 "description": rule(prod_groups, "FluentBitRetriesFailing")["annotations"]["description"]})
    stalled = ({"pod": "fluent-bit-x7", "severity": "critical"},
               {"summary": "Fluent Bit on fluent-bit-x7 reads logs but has sent nothing to Loki for 15 minutes"})
    run_rule_tests(prod_groups, [
        {"interval": "1m", "name": "Loki unreachable: a retry a minute, nothing delivered",
         "input_series": loki_failing(retries="0+1x30", errors="0x30", dropped="0x30"),
         "alert_rule_test": [
             *silent("8m", "FluentBitRetriesFailing", "FluentBitOutputStalled"),
             alert("16m", "FluentBitRetriesFailing", retrying),
             alert("16m", "FluentBitOutputStalled", stalled),
             *silent("16m", "FluentBitRecordsDropped")]},
        {"interval": "1m", "name": "Loki rejects every push (4xx): errors and dropped records",
         "input_series": loki_failing(retries="0x30", errors="0+2x30", dropped="0+500x30"),
         "alert_rule_test": [
             alert("16m", "FluentBitRetriesFailing", retrying),
             alert("16m", "FluentBitRecordsDropped", (
                 {"pod": "fluent-bit-x7", "name": "loki-platform", "severity": "warning"},
                 {"summary": "Fluent Bit on fluent-bit-x7 dropped records for loki-platform: Loki rejected them or "
                             "the disk buffer is full"}))]},
        {"interval": "1m", "name": "healthy, a retry now and then, a team output with nothing to send, and a restart",
         "input_series": [
             tail("fluent-bit-x7", "0+500x15 stale"), tail("fluent-bit-y2", "_x16 0+500x15"),
             output("proc_records_total", "fluent-bit-x7", "loki-platform", "0+500x15 stale"),
             output("proc_records_total", "fluent-bit-y2", "loki-platform", "_x16 0+500x15"),
             output("proc_records_total", "fluent-bit-y2", "loki-payments", "_x16 0x15"),
             output("retries_total", "fluent-bit-x7", "loki-platform", "0x5 1x10 stale"),
             output("retries_total", "fluent-bit-y2", "loki-platform", "_x16 0x15"),
             output("errors_total", "fluent-bit-y2", "loki-platform", "_x16 0x15"),
             output("dropped_records_total", "fluent-bit-y2", "loki-platform", "_x16 0x15")],
         "alert_rule_test": [case for at in ("14m", "30m") for case in
                             silent(at, "FluentBitRetriesFailing", "FluentBitOutputStalled", "FluentBitRecordsDropped")]},
        {"interval": "1m", "name": "quiet: no logs at all", "input_series": [
            tail("fluent-bit-x7", "0x30"), output("proc_records_total", "fluent-bit-x7", "loki-platform", "0x30"),
            output("retries_total", "fluent-bit-x7", "loki-platform", "0x30")],
         "alert_rule_test": silent("25m", "FluentBitRetriesFailing", "FluentBitOutputStalled")},
    ])


VELERO = {"namespace": "velero", "job": "velero", "service": "velero", "container": "velero",
          "schedule": SCHEDULE_OBJECT}


def velero(metric: str, pod: str, samples: str, **labels: str) -> dict:
    return series(f"velero_{metric}", {**VELERO, "pod": pod, **labels}, samples)


def test_velero_alerts_fire_on_failed_backups_and_survive_a_restart(prod_groups):
    failed_labels = {**VELERO, "pod": "velero-a", "severity": "warning"}
    failed = (failed_labels, {"summary": rule(prod_groups, "VeleroBackupFailed")["annotations"]["summary"]})
    run_rule_tests(prod_groups, [
        {"interval": "10m", "name": "a backup fails, then Velero restarts", "input_series": [
            velero("backup_failure_total", "velero-a", "0x2 1x2 stale"),
            velero("backup_failure_total", "velero-b", "_x5 0x20"),
            velero("backup_partial_failure_total", "velero-a", "0x4 stale")],
         "alert_rule_test": [
             *silent("10m", "VeleroBackupFailed"),
             alert("30m", "VeleroBackupFailed", failed),
             alert("3h", "VeleroBackupFailed", failed),               # the restart did not hide it
             *silent("30m", "VeleroBackupPartiallyFailed")]},
        {"interval": "10m", "name": "a partial failure is not a failure", "input_series": [
            velero("backup_failure_total", "velero-a", "0x10"),
            velero("backup_partial_failure_total", "velero-a", "0x2 1x8")],
         "alert_rule_test": [
             *silent("40m", "VeleroBackupFailed"),
             alert("40m", "VeleroBackupPartiallyFailed", (
                 {**VELERO, "pod": "velero-a", "severity": "warning"},
                 {"summary": rule(prod_groups, "VeleroBackupPartiallyFailed")["annotations"]["summary"]}))]},
        {"interval": "1m", "name": "a backup's CSI snapshots failed", "input_series": [
            velero("csi_snapshot_failure_total", "velero-a", "_x29 2x100", backupName="velero-nightly-20261206030000")],
         "alert_rule_test": [
             alert("31m", "VeleroCsiSnapshotFailed", (
                 {"schedule": SCHEDULE_OBJECT, "backupName": "velero-nightly-20261206030000", "severity": "warning"},
                 {"summary": "2 volume snapshots of backup velero-nightly-20261206030000 failed"})),
             *silent("95m", "VeleroCsiSnapshotFailed")]},
        {"interval": "1m", "name": "a backup whose snapshots all succeeded", "input_series": [
            velero("csi_snapshot_failure_total", "velero-a", "_x29 0x60", backupName="velero-nightly-20261206030000")],
         "alert_rule_test": silent("35m", "VeleroCsiSnapshotFailed")},
    ])


def test_velero_overdue_fires_after_the_longest_gap_but_not_just_after_a_restart(prod_groups):
    overdue = rule(prod_groups, "VeleroBackupOverdue")
    uptime = {"namespace": "velero", "job": "velero", "pod": "velero-b"}
    run_rule_tests(prod_groups, [
        {"interval": "5m", "name": "the last success is old", "input_series": [
            velero("backup_last_successful_timestamp", "velero-a", "0x400")],
         "alert_rule_test": [
             *silent("26h", "VeleroBackupOverdue"),
             alert("29h", "VeleroBackupOverdue", ({**VELERO, "pod": "velero-a", "severity": "critical"},
                                                  {"summary": overdue["annotations"]["summary"]}))]},
        {"interval": "5m", "name": "Velero restarted: no success yet, but not up for the whole gap", "input_series": [
            series("process_start_time_seconds", uptime, "0x400")],
         "alert_rule_test": [
             *silent("20h", "VeleroBackupOverdue"),
             alert("29h", "VeleroBackupOverdue", ({"schedule": SCHEDULE_OBJECT, "severity": "critical"},
                                                  {"summary": overdue["annotations"]["summary"]}))]},
        {"interval": "5m", "name": "backups succeed nightly", "input_series": [
            velero("backup_last_successful_timestamp", "velero-a", "0x287 86400x287")],
         "alert_rule_test": silent("40h", "VeleroBackupOverdue")},
    ])


NGINX = {"namespace": "ingress-nginx", "job": "ingress-nginx-controller-metrics", "service": "ingress-nginx-controller-metrics",
         "pod": "ingress-nginx-controller-5f9", "controller_class": "k8s.io/ingress-nginx",
         "controller_namespace": "ingress-nginx", "controller_pod": "ingress-nginx-controller-5f9"}
API = {"exported_namespace": "payments", "ingress": "api", "service": "api", "host": "api.payments.prod.example.com",
       "method": "GET", "path": "/"}


def requests(status: str, samples: str, **labels: str) -> dict:
    return series("nginx_ingress_controller_requests", {**NGINX, **API, "status": status, **labels}, samples)


def latency(le: str, samples: str) -> dict:
    return series("nginx_ingress_controller_request_duration_seconds_bucket", {**NGINX, **API, "le": le}, samples)


def edge_labels(**extra: str) -> dict:
    return {"exported_namespace": "payments", "ingress": "api", "namespace": "payments", "severity": "warning", **extra}


def descriptions(groups, alert_name):
    return rule(groups, alert_name)["annotations"]["description"]


def test_nginx_edge_alerts_reach_the_team_and_need_traffic(prod_groups):
    ratio = (edge_labels(), {"summary": "payments/api answers 10% of requests with 5xx",
                             "description": descriptions(prod_groups, "IngressHigh5xxRatio")})
    slow = (edge_labels(), {"summary": "payments/api p99 latency is 4.975s",
                            "description": descriptions(prod_groups, "IngressHighP99Latency")})
    run_rule_tests(prod_groups, [
        {"interval": "1m", "name": "10 % 5xx at 2 requests a second", "input_series": [
            requests("200", "0+108x20"), requests("500", "0+12x20")],
         "alert_rule_test": [*silent("6m", "IngressHigh5xxRatio"), alert("14m", "IngressHigh5xxRatio", ratio)]},
        {"interval": "1m", "name": "one failed request in five minutes is no ratio", "input_series": [
            requests("500", "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3 3 3 3 3 4")],
         "alert_rule_test": silent("18m", "IngressHigh5xxRatio")},
        {"interval": "1m", "name": "slow at 2 requests a second", "input_series": [
            requests("200", "0+120x20"),
            latency("2.5", "0x20"), latency("5", "0+120x20"), latency("+Inf", "0+120x20")],
         "alert_rule_test": [alert("14m", "IngressHighP99Latency", slow)]},
        {"interval": "1m", "name": "one slow request is no p99", "input_series": [
            requests("200", "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3 3 3 3 3 4"),
            latency("2.5", "0x20"), latency("5", "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3 3 3 3 3 4"),
            latency("+Inf", "0 0 0 0 0 1 1 1 1 1 2 2 2 2 2 3 3 3 3 3 4")],
         "alert_rule_test": silent("18m", "IngressHighP99Latency")},
        {"interval": "1m", "name": "healthy, and the controller restarts under a new pod", "input_series": [
            requests("200", "0+120x10 stale"), requests("500", "0+1x10 stale"),
            requests("200", "_x11 0+120x10", pod="ingress-nginx-controller-8c1", controller_pod="ingress-nginx-controller-8c1")],
         "alert_rule_test": silent("20m", "IngressHigh5xxRatio", "IngressHighP99Latency")},
        {"interval": "1m", "name": "a team's certificate expires in ten days", "input_series": [
            series("nginx_ingress_controller_ssl_expire_time_seconds",
                   {**NGINX, "exported_namespace": "payments", "host": "api.payments.prod.example.com",
                    "secret_name": "api-tls"}, "864000x10")],
         "alert_rule_test": [alert("1m", "IngressCertificateExpiringSoon", (
             {"exported_namespace": "payments", "host": "api.payments.prod.example.com", "namespace": "payments",
              "severity": "warning"},
             {"summary": "The certificate of api.payments.prod.example.com expires in 9.999 days"}))]},
    ])


def test_gateway_edge_alerts_carry_the_routes_namespace():
    groups = platform_rule_groups(stack_variant("staging", ingress={"controller": "gateway"}))
    assert {"IngressHigh5xxRatio", "IngressHighP99Latency"} <= alert_names(groups)
    envoy = {"namespace": "envoy-gateway-system", "job": "envoy", "pod": "envoy-default-eks-platform-7d"}
    route = {**envoy, "envoy_cluster_name": "httproute/payments/api/rule/0"}
    labels = {"envoy_cluster_name": "httproute/payments/api/rule/0", "namespace": "payments", "severity": "warning"}
    run_rule_tests(groups, [
        {"interval": "1m", "name": "10 % 5xx on a team's route", "input_series": [
            series("envoy_cluster_upstream_rq_xx", {**route, "envoy_response_code_class": "2"}, "0+108x20"),
            series("envoy_cluster_upstream_rq_xx", {**route, "envoy_response_code_class": "5"}, "0+12x20"),
            series("envoy_cluster_upstream_rq_xx", {**envoy, "envoy_cluster_name": "xds_cluster",
                                                    "envoy_response_code_class": "5"}, "0+100x20")],
         "alert_rule_test": [alert("14m", "IngressHigh5xxRatio", (labels, {
             "summary": "httproute/payments/api/rule/0 answers 10% of requests with 5xx",
             "description": descriptions(groups, "IngressHigh5xxRatio")}))]},
        {"interval": "1m", "name": "a trickle of failures is no ratio (staging needs 0.5 requests a second)",
         "input_series": [
             series("envoy_cluster_upstream_rq_xx", {**route, "envoy_response_code_class": "5"}, "0+12x20")],
         "alert_rule_test": silent("14m", "IngressHigh5xxRatio")},
    ])


def test_every_platform_alert_has_rule_tests():
    """A new alert without promtool cases in this file fails here."""
    tested = {"GpuXidHardwareError", "GpuXidError", "GpuTemperatureHigh", "GpuNodeNotReady",
              "FluentBitRetriesFailing", "FluentBitRecordsDropped", "FluentBitOutputStalled",
              "VeleroBackupFailed", "VeleroBackupPartiallyFailed", "VeleroCsiSnapshotFailed", "VeleroBackupOverdue",
              "IngressHigh5xxRatio", "IngressHighP99Latency", "IngressCertificateExpiringSoon"}
    defined = set()
    for stack in ("dev", "staging", "prod"):
        defined |= alert_names(platform_rule_groups(stack_evaluation(stack)))
    defined |= alert_names(platform_rule_groups(stack_variant("staging", ingress={"controller": "gateway"})))
    assert defined == tested


@needs_charts
@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "gateway"])
def test_promtool_accepts_every_rule_file_of_the_stack_charts_included(stack):
    evaluation = stack_variant("staging", ingress={"controller": "gateway"}) if stack == "gateway" \
        else stack_evaluation(stack)
    files = {f"{o['metadata']['namespace']}-{o['metadata']['name']}": o["spec"]["groups"]
             for rendered in render_stack(evaluation).values() for o in rendered.of_kind("PrometheusRule")}
    files.update({f"platform-{g['name']}": [g] for g in platform_rule_groups(evaluation)})
    assert len(files) > 20  # the charts' own rule files are there
    result = check_rules(files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_charts
def test_watchdog_always_fires_so_its_silence_can_page():
    objects = [o for r in render_stack(stack_evaluation("prod")).values() for o in r.of_kind("PrometheusRule")]
    general = [g for o in objects for g in o["spec"]["groups"] if any(r.get("alert") == "Watchdog" for r in g["rules"])]
    (watchdog,) = [r for g in general for r in g["rules"] if r.get("alert") == "Watchdog"]
    run_rule_tests([{"name": "general", "rules": [watchdog]}], [
        {"interval": "1m", "name": "quiet cluster", "input_series": [],
         "alert_rule_test": [alert("1m", "Watchdog", ({"severity": "none"}, watchdog["annotations"]))]}])

"""Alert routing, tested with Alertmanager's own tools on the configuration the pinned chart renders (chart
defaults, such as the inhibition rules, merged in): `amtool check-config`, `amtool config routes test`, and a
real Alertmanager for inhibition."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import HEARTBEAT, stack_variant
from tests.prometheus_tools import for_old_tools, routes_to, run, tool
from tests.rendering import needs_charts, render_stack

pytestmark = needs_charts

TEAM = {"namespaces": ["payments", "payments-jobs"], "quota": {"cpu": "8", "memory": "16Gi", "pods": "100"},
        "alerts": {"slackChannel": "#payments-alerts", "slackWebhookUrl": "https://hooks.slack.com/services/T/P/X"}}
SEARCH = {"namespaces": ["search"], "quota": {"cpu": "2", "memory": "4Gi", "pods": "20"}}


def rendered_config(**overrides) -> dict:
    evaluation = stack_variant("prod", slackWebhookUrl="https://hooks.slack.com/services/T/B/C",
                               alerting={"slackChannel": "#alerts", "heartbeatUrl": HEARTBEAT},
                               teams={"payments": TEAM, "search": SEARCH}, **overrides)
    (secret,) = [o for o in render_stack(evaluation)["kube-prometheus-stack"].of_kind("Secret")
                 if o["metadata"]["name"] == "alertmanager-kube-prometheus-stack-alertmanager"]
    return yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))


@pytest.fixture(scope="module")
def config_file():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alertmanager.yaml"
        path.write_text(yaml.safe_dump(for_old_tools(rendered_config(), Path(folder))))
        yield path


def test_amtool_accepts_the_rendered_configuration(config_file):
    result = run(tool("amtool"), "check-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "4 receivers" in result.stdout


@pytest.mark.parametrize("labels, receivers", [
    ({"alertname": "KubePodCrashLooping", "namespace": "payments", "severity": "warning"}, ["team-payments"]),
    ({"alertname": "IngressHigh5xxRatio", "namespace": "payments-jobs", "exported_namespace": "payments-jobs",
      "ingress": "api", "severity": "warning"}, ["team-payments"]),          # a team's own edge alert
    ({"alertname": "IngressHigh5xxRatio", "namespace": "payments", "envoy_cluster_name": "httproute/payments/api/rule/0",
      "severity": "warning"}, ["team-payments"]),                            # gateway mode
    ({"alertname": "KubePodCrashLooping", "namespace": "payments-x", "severity": "warning"}, ["slack"]),  # no prefix match
    ({"alertname": "KubePodCrashLooping", "namespace": "search", "severity": "warning"}, ["slack"]),  # no team channel
    ({"alertname": "PrometheusRuleFailures", "namespace": "monitoring", "severity": "critical"}, ["slack"]),
    ({"alertname": "GpuXidHardwareError", "Hostname": "ip-10-40-1-7", "severity": "critical"}, ["slack"]),  # no namespace
    ({"alertname": "Watchdog", "severity": "none"}, ["heartbeat"]),
    ({"alertname": "Watchdog", "namespace": "payments", "severity": "none"}, ["heartbeat"]),
    ({"alertname": "InfoInhibitor", "namespace": "payments", "severity": "none"}, ["null"]),
    ({"alertname": "KubeQuotaAlmostFull", "namespace": "payments", "severity": "info"}, ["null"]),
    ({"alertname": "CPUThrottlingHigh", "namespace": "kube-system", "severity": "info"}, ["null"]),
])
def test_each_alert_reaches_its_receiver(config_file, labels, receivers):
    assert routes_to(config_file, labels) == receivers


def test_without_a_heartbeat_watchdog_goes_nowhere_and_without_slack_only_teams_are_told():
    with tempfile.TemporaryDirectory() as folder:
        dev = stack_variant("dev", teams={"payments": TEAM})
        (secret,) = [o for o in render_stack(dev)["kube-prometheus-stack"].of_kind("Secret")
                     if o["metadata"]["name"] == "alertmanager-kube-prometheus-stack-alertmanager"]
        path = Path(folder) / "alertmanager.yaml"
        path.write_text(yaml.safe_dump(for_old_tools(
            yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"])), Path(folder))))
        assert routes_to(path, {"alertname": "Watchdog", "severity": "none"}) == ["null"]
        assert routes_to(path, {"alertname": "KubePodCrashLooping", "namespace": "payments"}) == ["team-payments"]
        assert routes_to(path, {"alertname": "KubePodCrashLooping", "namespace": "monitoring"}) == ["null"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _api(port: int, path: str, body: list | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/{path}", method="POST" if body else "GET",
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else None


def test_a_critical_inhibits_its_own_warning_in_a_running_alertmanager(config_file):
    alertmanager = tool("prometheus-alertmanager")
    port = _free_port()
    with tempfile.TemporaryDirectory() as storage:
        process = subprocess.Popen([alertmanager, f"--config.file={config_file}", f"--storage.path={storage}",
                                    f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    _api(port, "status")
                    break
                except OSError:
                    time.sleep(0.1)
            labels = {"alertname": "KubePersistentVolumeFillingUp", "namespace": "payments"}
            _api(port, "alerts", [{"labels": {**labels, "severity": sev}} for sev in ("critical", "warning")] +
                 [{"labels": {"alertname": "KubePersistentVolumeFillingUp", "namespace": "search",
                              "severity": "warning"}}])
            time.sleep(0.5)
            alerts = {(a["labels"]["namespace"], a["labels"]["severity"]): a["status"] for a in _api(port, "alerts")}
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert alerts[("payments", "warning")]["state"] == "suppressed" and alerts[("payments", "warning")]["inhibitedBy"]
    assert alerts[("payments", "critical")]["state"] == "active"
    assert alerts[("search", "warning")]["state"] == "active"  # another namespace's critical inhibits nothing here

"""Prometheus's and Alertmanager's own tools for the suite: `promtool test rules` / `check rules` and `amtool`.

The tools come from the distribution (`apt-get install prometheus prometheus-alertmanager`, or
`brew install prometheus alertmanager`); `.ci/run` installs them. Without them a local run skips these
tests with that command as the reason, and CI (`CI=true`) fails instead.

The rules under test are extracted from the evaluated stack, never copied: the PrometheusRule objects the
program registers and the rules it hands to the Fluent Bit and Velero charts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from ops.engine import Evaluation
from tests.k8s import reveal, values

INSTALL = "apt-get install prometheus prometheus-alertmanager (macOS: brew install prometheus alertmanager)"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
EVALUATION_INTERVAL = "30s"  # kube-prometheus-stack's Prometheus default


def tool(name: str) -> str:
    """The tool's path; without it, a skip naming the install command (a failure under CI)."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: {INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def platform_rule_groups(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Every rule group the platform itself defines, as the stack registers it."""
    groups = [group for registration in evaluation.of_type(PROMETHEUS_RULE)
              for group in reveal(registration.inputs)["spec"]["groups"]]
    groups.append({"name": "fluent-bit", "rules": values(evaluation, "fluent-bit")["prometheusRule"]["rules"]})
    groups.append({"name": "velero", "rules": values(evaluation, "velero")["metrics"]["prometheusRule"]["spec"]})
    return groups


def rule(groups: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The alerting rule `name` of `groups`."""
    (found,) = [r for group in groups for r in group["rules"] if r.get("alert") == name]
    return found


def alert_names(groups: list[dict[str, Any]]) -> set[str]:
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd)


def run_rule_tests(groups: list[dict[str, Any]], cases: list[dict[str, Any]]) -> None:
    """`promtool test rules` with `cases` (promtool's own test format) over the groups of `groups` that hold an
    alert the cases name (whole groups, as registered: fewer rules to evaluate); fails with promtool's report."""
    promtool = tool("promtool")
    named = {test["alertname"] for case in cases for test in case.get("alert_rule_test", [])}
    groups = [g for g in groups if named & {r.get("alert") for r in g["rules"]}]
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        (directory / "tests.yaml").write_text(yaml.safe_dump(
            {"rule_files": ["rules.yaml"], "evaluation_interval": EVALUATION_INTERVAL, "tests": cases},
            sort_keys=False))
        result = run(promtool, "test", "rules", "tests.yaml", cwd=directory)
    assert result.returncode == 0, result.stdout + result.stderr



def check_rules(files: dict[str, list[dict[str, Any]]]) -> subprocess.CompletedProcess:
    """`promtool check rules` over named rule files (name -> groups)."""
    promtool = tool("promtool")
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, groups in files.items():
            path = Path(folder) / f"{name}.yaml"
            path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
            paths.append(str(path))
        return run(promtool, "check", "rules", *paths)


def series(metric: str, labels: dict[str, str], samples: str) -> dict[str, str]:
    rendered = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{metric}{{{rendered}}}", "values": samples}


def alert(at: str, name: str, *expected: tuple[dict[str, str], dict[str, str]]) -> dict[str, Any]:
    """An `alert_rule_test`: at `at`, `name` is firing exactly with the `expected` (labels, annotations)."""
    return {"eval_time": at, "alertname": name,
            "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations} for labels, annotations in expected]}


def silent(at: str, *names: str) -> list[dict[str, Any]]:
    return [{"eval_time": at, "alertname": name, "exp_alerts": []} for name in names]


def for_old_tools(config: dict[str, Any], files: Path) -> dict[str, Any]:
    """The Alertmanager configuration as the distribution's older tools take it (Debian's 0.25; the chart runs
    0.28+): webhook `url_file` (0.26+) becomes `url`, and each `*_file` points at a file under `files`. Only
    these substitutions; routes, receivers and inhibition stay as rendered."""
    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "url_file":
                    out["url"] = "https://heartbeat.invalid/ping"
                elif key.endswith("_file") and isinstance(value, str):
                    path = files / value.strip("/").replace("/", "_")
                    path.write_text("https://hooks.slack.invalid/services/T/B/C")
                    out[key] = str(path)
                else:
                    out[key] = rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node
    return rewrite(config)


def routes_to(config_file: Path, labels: dict[str, str]) -> list[str]:
    """The receivers `amtool config routes test` sends an alert with `labels` to."""
    result = run(tool("amtool"), "config", "routes", "test", f"--config.file={config_file}",
                 *(f"{key}={value}" for key, value in labels.items()))
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().split(",")

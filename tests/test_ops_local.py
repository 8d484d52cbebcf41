"""`python -m ops local up | down | status` with a fake command runner (no Docker, kind or Pulumi CLI here), the
kind config against kind's own schema, and the EKS-only commands refusing a local stack."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from ops import local
from ops.stackfiles import PROJECT_DIR
from stacks import eks_versions
from stacks.local import LOCAL_KUBERNETES_VERSION
from tests.conftest import FIXTURE_STACKS

SCHEMA = json.loads((Path(__file__).parent / "kind_config_v1alpha4.schema.json").read_text())


class FakeRunner:
    """Answers the commands `ops local` runs as kind and the Pulumi CLI would (creating the stack writes the
    passphrase's salt into the stack file; every Pulumi command needs it there), and records them."""

    def __init__(self, clusters=(), stacks=(), fail: str | None = None):
        self.clusters, self.stacks, self.fail = list(clusters), list(stacks), fail
        self.commands: list[list[str]] = []
        self.environments: list[dict] = []

    def __call__(self, command, env, capture):
        command = list(command)
        self.commands.append(command)
        self.environments.append(dict(env))
        line = " ".join(command)
        stack_file = local.STACK_FILE
        if line.startswith("pulumi stack select local --create") and "encryptionsalt" not in stack_file.read_text():
            stack_file.write_text(stack_file.read_text() + "encryptionsalt: v1:c2FsdA==:v1:aGk=:Y2lwaGVy\n")
        elif command[0] == "pulumi" and "stack ls" not in line:
            assert "encryptionsalt: v1:c2FsdA==" in stack_file.read_text(), f"{line} without the salt"
        if self.fail and line.startswith(self.fail):
            return subprocess.CompletedProcess(command, 1, "", "ERROR: failed to create cluster: port 80 is taken")
        out = ""
        if line == "kind get clusters":
            out = "\n".join(self.clusters)
        elif line == "pulumi stack ls --json":
            out = json.dumps([{"name": s} for s in self.stacks])
        elif line.startswith("pulumi stack output --json"):
            out = json.dumps({"edge": "nginx: ingress-nginx/ingress-nginx-controller"})
        elif line.startswith("kind create cluster"):
            self.clusters.append("eks-platform")
        return subprocess.CompletedProcess(command, 0, out, "")


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "STATE", tmp_path / ".pulumi-local")
    stack_file = tmp_path / "Pulumi.local.yaml"
    stack_file.write_text((FIXTURE_STACKS / "Pulumi.local.yaml").read_text())
    monkeypatch.setattr(local, "STACK_FILE", stack_file)
    return {"PATH": "/usr/bin", "PULUMI_CONFIG_PASSPHRASE": "from-the-shell", "PULUMI_ACCESS_TOKEN": "pul-123"}


def run(action, runner, env, which=lambda tool: f"/usr/bin/{tool}"):
    out, err = io.StringIO(), io.StringIO()
    code = local.main(action, out, err, runner=runner, which=which, env=env)
    return code, out.getvalue(), err.getvalue()


def test_up_creates_the_kind_cluster_then_deploys_the_local_stack_to_a_file_backend(env, tmp_path):
    runner = FakeRunner()
    code, out, err = run("up", runner, env)
    assert code == 0, err
    assert runner.commands == [
        ["kind", "get", "clusters"],
        ["kind", "create", "cluster", "--config", str(local.KIND_CONFIG), "--wait", "5m"],
        ["pulumi", "stack", "select", "local", "--create", "--secrets-provider", "passphrase"],
        ["pulumi", "up", "--stack", "local", "--yes"]]
    environment = runner.environments[-1]
    state = tmp_path / ".pulumi-local"
    assert environment["PULUMI_BACKEND_URL"] == f"file://{state / 'state'}"
    passphrase = Path(environment["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert passphrase.parent == state and len(passphrase.read_text()) >= 32
    assert passphrase.stat().st_mode & 0o077 == 0  # the owner's only
    assert "PULUMI_CONFIG_PASSPHRASE" not in environment and "PULUMI_ACCESS_TOKEN" not in environment
    assert "http://grafana.localtest.me" in out and "get secret grafana-admin" in out
    assert local.STACK_FILE.read_text() == (FIXTURE_STACKS / "Pulumi.local.yaml").read_text()  # the salt kept aside
    assert (state / "encryptionsalt").read_text() == "v1:c2FsdA==:v1:aGk=:Y2lwaGVy"


def test_up_reuses_a_running_cluster_and_the_same_passphrase(env):
    first, second = FakeRunner(clusters=["eks-platform"]), FakeRunner(clusters=["eks-platform"])
    assert run("up", first, env)[0] == 0 and run("up", second, env)[0] == 0
    assert not [c for c in first.commands if c[:2] == ["kind", "create"]]
    key = "PULUMI_CONFIG_PASSPHRASE_FILE"
    assert Path(first.environments[-1][key]).read_text() == Path(second.environments[-1][key]).read_text()
    assert "reusing kind cluster eks-platform" in run("up", FakeRunner(clusters=["eks-platform"]), env)[1]


def test_a_failing_step_is_one_line_with_its_cause_and_nothing_after_it_runs(env):
    runner = FakeRunner(fail="kind create cluster")
    code, _, err = run("up", runner, env)
    assert code == 1 and err.count("\n") == 1
    assert "`kind create cluster" in err and "failed (exit 1)" in err
    assert not [c for c in runner.commands if c[0] == "pulumi"]


def test_every_missing_tool_is_named_with_its_install_command(env):
    code, out, err = run("up", FakeRunner(), env, which=lambda tool: None if tool != "docker" else "/usr/bin/docker")
    assert code == 2 and out == ""
    assert err.splitlines() == [f"error: kind is not installed: {local.INSTALL['kind']}",
                                f"error: pulumi is not installed: {local.INSTALL['pulumi']}"]
    assert local.KIND_VERSION in local.INSTALL["kind"] and local.PULUMI_VERSION in local.INSTALL["pulumi"]


def test_down_destroys_the_stack_before_deleting_its_cluster(env):
    runner = FakeRunner(clusters=["eks-platform"], stacks=["local"])
    (local.STATE / "encryptionsalt").parent.mkdir(parents=True, exist_ok=True)
    (local.STATE / "encryptionsalt").write_text("v1:c2FsdA==:v1:aGk=:Y2lwaGVy")
    assert run("down", runner, env)[0] == 0
    assert runner.commands[2:] == [["pulumi", "destroy", "--stack", "local", "--yes"],
                                   ["pulumi", "stack", "rm", "local", "--yes", "--preserve-config"],
                                   ["kind", "delete", "cluster", "--name", "eks-platform"]]
    assert "encryptionsalt" not in local.STACK_FILE.read_text() and not (local.STATE / "encryptionsalt").exists()


def test_down_without_a_cluster_forgets_the_stack_it_cannot_reach(env):
    run("up", FakeRunner(clusters=["eks-platform"]), env)
    runner = FakeRunner(clusters=[], stacks=["local"])
    code, out, _ = run("down", runner, env)
    assert code == 0 and ["pulumi", "stack", "rm", "local", "--force", "--yes", "--preserve-config"] in runner.commands
    assert not [c for c in runner.commands if c[:2] in (["pulumi", "destroy"], ["kind", "delete"])]
    assert "no kind cluster eks-platform" in out


def test_status_says_what_exists(env):
    run("up", FakeRunner(clusters=["eks-platform"]), env)
    code, out, _ = run("status", FakeRunner(clusters=["eks-platform"], stacks=["local"]), env)
    assert code == 0 and "running (context kind-eks-platform)" in out and "deployed, edge nginx" in out
    code, out, _ = run("status", FakeRunner(), env)
    assert code == 1 and "absent" in out and "not deployed (python -m ops local up)" in out


def test_the_pulumi_cli_pinned_is_the_sdks():
    sdk = re.search(r"^pulumi==([\d.]+)$", (PROJECT_DIR / "requirements.txt").read_text(), re.M).group(1)
    assert local.PULUMI_VERSION == sdk


# ---- local/kind.yaml ---------------------------------------------------------------------------

def test_the_kind_config_is_valid_for_the_pinned_kind_and_matches_the_local_stack():
    config = yaml.safe_load(local.KIND_CONFIG.read_text())
    jsonschema.validate(config, SCHEMA)
    (node,) = config["nodes"]
    assert node["labels"] == {"ingress-ready": "true"}
    assert {(m["containerPort"], m["hostPort"], m["listenAddress"]) for m in node["extraPortMappings"]} == {
        (80, 80, "127.0.0.1"), (443, 443, "127.0.0.1")}
    image = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}", node["image"])
    assert image and image.group(1) == LOCAL_KUBERNETES_VERSION
    assert LOCAL_KUBERNETES_VERSION in eks_versions.VERSIONS  # a minor the platform supports
    stack = yaml.safe_load((FIXTURE_STACKS / "Pulumi.local.yaml").read_text())["config"]
    assert stack["eks-platform:kubeconfig"]["context"] == local.kind_cluster().context


def test_the_schema_refuses_what_kind_refuses():
    config = yaml.safe_load(local.KIND_CONFIG.read_text())
    config["nodes"][0]["extraPortMapping"] = []  # a misspelt field: kind's strict decoder refuses it
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, SCHEMA)


# ---- EKS-only commands --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["preflight", "--stack", "local"], ["teardown", "--stack", "local"],
                                     ["upgrade-plan", "--stack", "local", "--to", "1.37"],
                                     ["bootstrap", "--stack", "local"]])
def test_an_eks_only_command_refuses_a_local_stack_in_one_line(command, capsys):
    from ops.__main__ import main

    assert main(command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {command[0]} is for EKS stacks; Pulumi.local.yaml "
                                                     "has target: kubeconfig")

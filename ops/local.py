"""`python -m ops local up | down | status`: the platform on a kind cluster of one's own (the `local` stack).

`up` creates the kind cluster of `local/kind.yaml` (or reuses it), points Pulumi at a file backend under the
project (`.pulumi-local/state`, as `pulumi login file://...` would, for these commands only: the user's own
login is left alone), keeps the local stack's secrets under the passphrase provider with a passphrase file of
its own (`.pulumi-local/passphrase`, made once, never committed), runs `pulumi up --stack local --yes`, then
prints Grafana's URL and the command that shows its password. `down` destroys the stack and deletes the
cluster; `status` says what exists. A missing tool is one line with the command that installs it. The salt
Pulumi keeps in `Pulumi.local.yaml` for the passphrase is this machine's: it is put there for each Pulumi
command and kept under `.pulumi-local` in between, so the committed stack file never changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence, TextIO

import yaml

from components.monitoring import GRAFANA, GRAFANA_ADMIN_SECRET, NAMESPACE as MONITORING
from ops.stackfiles import PROJECT_DIR, StackFileError, load_settings
from stacks.local import LOCAL_HOSTS
from stacks.rules import grafana_host
from stacks.problems import ConfigError

STACK = "local"
KIND_VERSION = "v0.32.0"
PULUMI_VERSION = "3.272.0"  # the CLI of the pinned SDK (requirements.txt)
KIND_CONFIG = PROJECT_DIR / "local" / "kind.yaml"
STATE = PROJECT_DIR / ".pulumi-local"
STACK_FILE = PROJECT_DIR / f"Pulumi.{STACK}.yaml"
SALT = re.compile(r"^encryptionsalt: (\S+)\n", re.M)
INSTALL = {
    "docker": "install Docker Engine or Docker Desktop: https://docs.docker.com/get-docker/",
    "kind": f"go install sigs.k8s.io/kind@{KIND_VERSION} (or a release binary: "
            f"https://github.com/kubernetes-sigs/kind/releases/tag/{KIND_VERSION})",
    "pulumi": f"curl -fsSL https://get.pulumi.com | sh -s -- --version {PULUMI_VERSION}",
}
TOOLS = {"up": ("docker", "kind", "pulumi"), "down": ("docker", "kind", "pulumi"), "status": ("kind", "pulumi")}


class LocalError(Exception):
    """Why a local command cannot go on, said in one line."""


Runner = Callable[[Sequence[str], Mapping[str, str], bool], subprocess.CompletedProcess]


def run(command: Sequence[str], env: Mapping[str, str], capture: bool) -> subprocess.CompletedProcess:
    """`command` in the project directory; its output shown as it runs unless `capture`."""
    return subprocess.run(list(command), cwd=PROJECT_DIR, env=dict(env), text=True,
                          capture_output=capture, check=False)


@dataclass(frozen=True)
class Cluster:
    name: str
    context: str


def kind_cluster(config: Path = KIND_CONFIG) -> Cluster:
    """The cluster `local/kind.yaml` describes (kind names its context `kind-<name>`)."""
    name = (yaml.safe_load(config.read_text()) or {}).get("name", "kind")
    return Cluster(name, f"kind-{name}")


def missing_tools(command: str, which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [f"{tool} is not installed: {INSTALL[tool]}" for tool in TOOLS[command] if which(tool) is None]


def pulumi_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the Pulumi commands: the project's file backend and the local stack's passphrase."""
    state = STATE
    state.mkdir(parents=True, exist_ok=True)
    (state / "state").mkdir(exist_ok=True)
    passphrase = state / "passphrase"
    if not passphrase.exists():
        passphrase.touch(mode=0o600)
        passphrase.write_text(secrets.token_urlsafe(32))
    environment = {k: v for k, v in (base if base is not None else os.environ).items()
                   if k not in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN")}
    return {**environment, "PULUMI_BACKEND_URL": f"file://{state / 'state'}",
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase), "PULUMI_SKIP_UPDATE_CHECK": "true"}


@contextlib.contextmanager
def salted(stack_file: Path | None = None) -> Iterator[None]:
    """The passphrase's salt in the stack file while Pulumi runs, and only then: Pulumi writes `encryptionsalt`
    into `Pulumi.local.yaml` when it creates the stack, but the salt belongs to this machine's passphrase (another
    developer's would be refused), so it is kept beside the passphrase and the committed file stays as it is."""
    stack_file = stack_file or STACK_FILE
    kept = STATE / "encryptionsalt"
    text = stack_file.read_text()
    if kept.exists() and not SALT.search(text):
        stack_file.write_text(text.rstrip("\n") + f"\nencryptionsalt: {kept.read_text().strip()}\n")
    try:
        yield
    finally:
        text = stack_file.read_text()
        found = SALT.search(text)
        if found:
            kept.write_text(found.group(1))
            stack_file.write_text(SALT.sub("", text))


def _checked(runner: Runner, command: Sequence[str], env: Mapping[str, str], capture: bool = False) -> str:
    result = runner(command, env, capture)
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
        raise LocalError(f"`{' '.join(command)}` failed (exit {result.returncode})"
                         + (f": {detail[0]}" if detail else ": its output above says why"))
    return result.stdout or ""


def _clusters(runner: Runner, env: Mapping[str, str]) -> list[str]:
    return _checked(runner, ["kind", "get", "clusters"], env, capture=True).split()


def _local_settings(cluster: Cluster):
    try:
        settings = load_settings(STACK)
    except (FileNotFoundError, StackFileError, ConfigError) as error:
        raise LocalError(str(error)) from None
    kubeconfig = settings.config.kubeconfig if settings.is_local else None
    if kubeconfig is None or kubeconfig.distribution != "kind" or kubeconfig.context != cluster.context:
        raise LocalError(f"Pulumi.{STACK}.yaml must be a `target: kubeconfig` stack of distribution kind with "
                         f"context {cluster.context} (the cluster local/kind.yaml makes); for k3s or minikube, "
                         "run `pulumi up --stack <stack>` against your own context")
    return settings


def _stack_exists(runner: Runner, env: Mapping[str, str]) -> bool:
    listed = _checked(runner, ["pulumi", "stack", "ls", "--json"], env, capture=True)
    return any(s.get("name") == STACK for s in json.loads(listed or "[]"))


def grafana_lines(context: str) -> list[str]:
    return [f"Grafana: http://{grafana_host(LOCAL_HOSTS)} (user admin)",
            f"  password: kubectl --context {context} -n {MONITORING} get secret {GRAFANA_ADMIN_SECRET} "
            "-o jsonpath='{.data.admin-password}' | base64 -d",
            f"  without the edge: kubectl --context {context} -n {MONITORING} port-forward svc/{GRAFANA} 3000:80"]


def up(out: TextIO, runner: Runner = run, env: Mapping[str, str] | None = None) -> None:
    cluster = kind_cluster()
    _local_settings(cluster)
    env = pulumi_environment(env)
    if cluster.name in _clusters(runner, env):
        print(f"reusing kind cluster {cluster.name}", file=out, flush=True)
    else:
        print(f"creating kind cluster {cluster.name} from local/kind.yaml", file=out, flush=True)
        _checked(runner, ["kind", "create", "cluster", "--config", str(KIND_CONFIG), "--wait", "5m"], env)
    with salted():
        _checked(runner, ["pulumi", "stack", "select", STACK, "--create", "--secrets-provider", "passphrase"], env)
        _checked(runner, ["pulumi", "up", "--stack", STACK, "--yes"], env)
    print("\n".join(grafana_lines(cluster.context)), file=out)


def down(out: TextIO, runner: Runner = run, env: Mapping[str, str] | None = None) -> None:
    """Destroy the stack while its cluster still answers, then delete the cluster."""
    cluster = kind_cluster()
    env = pulumi_environment(env)
    running = cluster.name in _clusters(runner, env)
    if _stack_exists(runner, env):
        with salted():
            if running:
                _checked(runner, ["pulumi", "destroy", "--stack", STACK, "--yes"], env)
                _checked(runner, ["pulumi", "stack", "rm", STACK, "--yes", "--preserve-config"], env)
            else:  # nothing of it is left anywhere: its cluster is gone
                _checked(runner, ["pulumi", "stack", "rm", STACK, "--force", "--yes", "--preserve-config"], env)
        (STATE / "encryptionsalt").unlink(missing_ok=True)  # the next stack gets a salt of its own
        print(f"stack {STACK} removed", file=out, flush=True)
    if running:
        _checked(runner, ["kind", "delete", "cluster", "--name", cluster.name], env)
        print(f"kind cluster {cluster.name} deleted", file=out)
    else:
        print(f"no kind cluster {cluster.name}", file=out)


def status(out: TextIO, runner: Runner = run, env: Mapping[str, str] | None = None) -> bool:
    """What exists; True when both the cluster and the deployed stack do."""
    cluster = kind_cluster()
    env = pulumi_environment(env)
    running = cluster.name in _clusters(runner, env)
    print(f"kind cluster {cluster.name}: {'running (context ' + cluster.context + ')' if running else 'absent'}",
          file=out)
    deployed = _stack_exists(runner, env)
    if deployed:
        with salted():
            outputs = json.loads(_checked(runner, ["pulumi", "stack", "output", "--json", "--stack", STACK], env,
                                          capture=True) or "{}")
        print(f"stack {STACK}: deployed, edge {outputs.get('edge', '?')}", file=out)
        print("\n".join(grafana_lines(cluster.context)), file=out)
    else:
        print(f"stack {STACK}: not deployed (python -m ops local up)", file=out)
    return running and deployed


def main(action: str, out: TextIO, err: TextIO, runner: Runner = run,
         which: Callable[[str], str | None] = shutil.which, env: Mapping[str, str] | None = None) -> int:
    missing = missing_tools(action, which)
    if missing:
        for line in missing:
            print(f"error: {line}", file=err)
        return 2
    try:
        if action == "up":
            up(out, runner, env)
        elif action == "down":
            down(out, runner, env)
        else:
            return 0 if status(out, runner, env) else 1
    except LocalError as error:
        print(f"error: {error}", file=err)
        return 1
    return 0

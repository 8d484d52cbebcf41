"""End-to-end probes of `ops validate`, on every target: what a user of the cluster would notice first.

In a throwaway namespace (Pod Security `restricted` enforced), a Job resolves a cluster name and an external
name and prints a nonce; the probe then finds that nonce through Loki's query API (Fluent Bit ships it to the
platform's tenant: the namespace is no team's), which proves the log pipeline end to end. With a DNS base on
EKS it also resolves the edge's public name and checks its certificate (valid, and for at least 14 more days).
Each probe passes, fails with the reason, or says it does not apply here. Loki and Alertmanager are reached
by port-forward (the kubelet's stream into the pod, as `kubectl port-forward` does): their namespaces'
NetworkPolicies let no other client in, and must not.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from components.logging import PLATFORM_TENANT
from components.namespaces import RESTRICTED_CONTAINER, pod_security_labels

PROBE_IMAGE = "busybox:1.37.0"
CLUSTER_NAME = "kubernetes.default.svc.cluster.local"
EXTERNAL_NAME = "kubernetes.io"
CERTIFICATE_DAYS = 14
NONCE_WORD = "eks-platform-probe"
JOB_SECONDS = 120
NONROOT = 65534


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str
    applicable: bool = True


class ProbeApi(Protocol):
    def run_job(self, namespace: dict, job: dict, timeout_seconds: float) -> tuple[str, str]:
        """Create `namespace` and `job`, wait for the Job to finish, delete the namespace: (phase, logs), the
        phase `Succeeded`, `Failed` or `Timeout`."""

    def loki(self, path: str, tenant: str) -> str:
        """GET `path` of Loki's HTTP API (the gateway) as `tenant`."""


def probe_namespace(nonce: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": f"{NONCE_WORD}-{nonce}", "labels": {"eks-platform.io/probe": "true",
                                                   **pod_security_labels("restricted")}}}


def probe_job(namespace: str, nonce: str) -> dict[str, Any]:
    """A Job whose one pod meets Pod Security `restricted` and says how far it got on stdout."""
    script = (f"set -e; nslookup {CLUSTER_NAME} >/dev/null; echo cluster-dns-ok; "
              f"nslookup {EXTERNAL_NAME} >/dev/null; echo external-dns-ok; echo {NONCE_WORD} {nonce}")
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "probe", "namespace": namespace},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": JOB_SECONDS, "ttlSecondsAfterFinished": 600,
                     "template": {"spec": {
                         "restartPolicy": "Never", "automountServiceAccountToken": False,
                         "securityContext": {"runAsNonRoot": True, "runAsUser": NONROOT, "runAsGroup": NONROOT,
                                             "seccompProfile": {"type": "RuntimeDefault"}},
                         "containers": [{
                             "name": "probe", "image": PROBE_IMAGE, "command": ["sh", "-c", script],
                             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                                           "limits": {"memory": "32Mi"}},
                             "securityContext": RESTRICTED_CONTAINER}]}}}}


def loki_query_path(namespace: str, nonce: str, since_ns: int) -> str:
    query = f'{{namespace="{namespace}"}} |= "{NONCE_WORD} {nonce}"'
    return "loki/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": query, "start": str(since_ns), "limit": "5", "direction": "forward"})


def tls_days_left(host: str, port: int = 443, timeout: float = 10) -> float:
    """Days until the certificate `host` serves expires, after a verified handshake (raises otherwise)."""
    context = ssl.create_default_context()
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            not_after = tls.getpeercert()["notAfter"]
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), timezone.utc)
    return (expires - datetime.now(timezone.utc)).total_seconds() / 86400


def resolve(host: str) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)})


@dataclass
class Probes:
    """The probes of one `ops validate` run: the Job runs once, the log search repeats until it finds the nonce."""

    api: ProbeApi
    public_host: str | None  # the edge's public name with a DNS base (EKS), else None
    tls_days: Callable[[str], float] = tls_days_left
    lookup: Callable[[str], list[str]] = resolve
    clock: Callable[[], float] = time.time
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    _job: tuple[str, str] | None = None
    _started_ns: int = 0

    @property
    def namespace(self) -> str:
        return f"{NONCE_WORD}-{self.nonce}"

    def results(self) -> list[ProbeResult]:
        return [*self._dns_and_logs(), self._tls()]

    def _dns_and_logs(self) -> list[ProbeResult]:
        if self._job is None or self._job[0] != "Succeeded":
            if self._job is not None:
                self.nonce = secrets.token_hex(6)  # the last namespace may still be terminating
            self._started_ns = int(self.clock() * 1e9)
            try:
                self._job = self.api.run_job(probe_namespace(self.nonce), probe_job(self.namespace, self.nonce),
                                             JOB_SECONDS + 30)
            except Exception as error:  # the API's refusals alike (quota, admission, RBAC): a failed probe
                self._job = ("NotRun", "")
                return [ProbeResult("dns", False, f"the probe Job could not run: {str(error).splitlines()[0]}"),
                        ProbeResult("logs", False, "not tried: the probe Job did not print its nonce")]
        phase, logs = self._job
        lines = logs.splitlines()
        dns = ProbeResult("dns", phase == "Succeeded", f"{CLUSTER_NAME} and {EXTERNAL_NAME} resolved from a "
                                                        "restricted pod")
        if phase != "Succeeded":
            where = EXTERNAL_NAME if "cluster-dns-ok" in lines else CLUSTER_NAME
            reason = f"cannot resolve {where}" if phase == "Failed" else f"the probe Job did not finish ({phase})"
            dns = ProbeResult("dns", False, f"{reason}; its output: {' | '.join(lines[-3:]) or 'none'}")
            return [dns, ProbeResult("logs", False, "not tried: the probe Job did not print its nonce")]
        return [dns, self._logs()]

    def _logs(self) -> ProbeResult:
        try:
            answer = json.loads(self.api.loki(loki_query_path(self.namespace, self.nonce, self._started_ns),
                                              PLATFORM_TENANT))
        except Exception as error:  # the port-forward's and Loki's errors alike: reported, not raised
            return ProbeResult("logs", False, f"Loki's query API did not answer: {error}")
        found = [value for stream in answer.get("data", {}).get("result", []) for _, value in stream.get("values", [])
                 if self.nonce in value]
        if found:
            return ProbeResult("logs", True, f"the probe's line reached Loki (tenant {PLATFORM_TENANT}) through "
                                             "Fluent Bit")
        return ProbeResult("logs", False, f"Loki has not got the probe's line yet (namespace {self.namespace}, "
                                          f"tenant {PLATFORM_TENANT}): Fluent Bit does not ship or Loki refuses")

    def _tls(self) -> ProbeResult:
        host = self.public_host
        if host is None:
            return ProbeResult("tls", True, "not applicable here: no dns block, so no public name or certificate",
                               applicable=False)
        try:
            addresses = self.lookup(host)
        except OSError as error:
            return ProbeResult("tls", False, f"{host} does not resolve: {error}")
        try:
            days = self.tls_days(host)
        except (OSError, ssl.SSLError, ValueError) as error:
            return ProbeResult("tls", False, f"{host} ({', '.join(addresses)}): no valid certificate: {error}")
        if days < CERTIFICATE_DAYS:
            return ProbeResult("tls", False, f"{host}: the certificate expires in {days:.0f} days "
                                             f"(less than {CERTIFICATE_DAYS})")
        return ProbeResult("tls", True, f"{host} ({', '.join(addresses)}) serves a valid certificate for "
                                        f"{days:.0f} more days")


"""The end-to-end probes of `ops validate`, against fakes of the Kubernetes API and of Loki's answers, on a local
and an EKS stack; the port-forward's HTTP exchange over a real socket."""

from __future__ import annotations

import json
import socket
import threading
import urllib.parse

import pytest

from ops import probes, validate
from ops.probes import Probes, probe_job, probe_namespace
from stacks.config import load
from tests.pod_security import violations
from tests.test_ops_validate import FakeKubernetes, Workload, loki_answer, offline_probes

LOCAL_RAW = {"target": "kubeconfig", "environment": "local", "kubeconfig": {"context": "kind-eks-platform"}}
READY = [("kind-control-plane", {}, True)]
WORKLOADS = [Workload("Deployment", "monitoring", "grafana", 1, 1)]


def by_name(results):
    return {r.name: r for r in results}


def test_the_probe_pod_meets_pod_security_restricted_in_a_namespace_that_enforces_it():
    namespace = probe_namespace("abc123")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    job = probe_job(namespace["metadata"]["name"], "abc123")
    pod = job["spec"]["template"]["spec"]
    assert violations(pod, "restricted") == []
    assert pod["automountServiceAccountToken"] is False and job["spec"]["backoffLimit"] == 0
    (container,) = pod["containers"]
    assert ":" in container["image"] and not container["image"].endswith(":latest")
    script = container["command"][2]
    assert probes.CLUSTER_NAME in script and probes.EXTERNAL_NAME in script and script.endswith("abc123")


def test_a_healthy_cluster_resolves_names_and_its_line_reaches_loki_as_the_platform_tenant():
    api = FakeKubernetes(READY, WORKLOADS)
    found = by_name(Probes(api, None, clock=lambda: 1_700_000_000).results())
    assert found["dns"].ok and found["logs"].ok, found
    (path, tenant), = api.loki_calls
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    namespace = api.jobs[0][0]["metadata"]["name"]
    assert tenant == "platform" and path.startswith("loki/api/v1/query_range?")
    assert query["query"] == [f'{{namespace="{namespace}"}} |= "eks-platform-probe {namespace.rsplit("-", 1)[1]}"']
    assert query["start"] == [str(1_700_000_000 * 10 ** 9)]
    assert found["tls"].applicable is False and "not applicable here" in found["tls"].detail


@pytest.mark.parametrize("logs, reason", [
    ("", f"cannot resolve {probes.CLUSTER_NAME}"),
    ("cluster-dns-ok\n", f"cannot resolve {probes.EXTERNAL_NAME}"),
])
def test_a_name_that_does_not_resolve_fails_the_dns_probe_with_the_name(logs, reason):
    api = FakeKubernetes(READY, WORKLOADS, job=("Failed", logs))
    found = by_name(Probes(api, None).results())
    assert not found["dns"].ok and found["dns"].detail.startswith(reason)
    assert not found["logs"].ok and api.loki_calls == []


def test_a_failed_job_is_run_again_in_a_namespace_of_its_own_and_an_api_refusal_is_a_failed_probe():
    api = FakeKubernetes(READY, WORKLOADS, job=("Failed", ""))
    probe = Probes(api, None)
    probe.results()
    api._job = None  # the cluster's DNS recovered
    assert by_name(probe.results())["dns"].ok and by_name(probe.results())["logs"].ok
    namespaces = [namespace["metadata"]["name"] for namespace, _ in api.jobs]
    assert len(namespaces) == 2 and len(set(namespaces)) == 2  # the first may still be terminating

    def refused(namespace, job, timeout_seconds):
        raise RuntimeError("(403) Forbidden: namespaces is forbidden")
    api.run_job = refused
    found = by_name(Probes(api, None).results())
    assert not found["dns"].ok and "could not run: (403) Forbidden" in found["dns"].detail


def test_a_job_that_never_finishes_is_a_failure_not_a_hang():
    found = by_name(Probes(FakeKubernetes(READY, WORKLOADS, job=("Timeout", "")), None).results())
    assert "did not finish (Timeout)" in found["dns"].detail


def test_a_line_loki_has_not_got_fails_and_the_wait_finds_it_later_with_one_job():
    api = FakeKubernetes(READY, WORKLOADS, loki=loki_answer())
    probe = Probes(api, None)
    assert "has not got the probe's line yet" in by_name(probe.results())["logs"].detail
    api._loki = None  # Fluent Bit caught up
    assert by_name(probe.results())["logs"].ok and len(api.jobs) == 1


def test_a_line_of_another_nonce_is_not_taken_for_this_one():
    api = FakeKubernetes(READY, WORKLOADS, loki=loki_answer("eks-platform-probe 000000000000"))
    assert not by_name(Probes(api, None).results())["logs"].ok


def test_an_unreachable_loki_is_a_failed_probe_with_its_reason():
    api = FakeKubernetes(READY, WORKLOADS, loki=ConnectionError("no running pod app.kubernetes.io/name=loki"))
    assert "no running pod" in by_name(Probes(api, None).results())["logs"].detail


@pytest.mark.parametrize("days, addresses, ok, words", [
    (80, ("203.0.113.10",), True, "valid certificate for 80 more days"),
    (5, ("203.0.113.10",), False, "expires in 5 days"),
    (80, (), False, "does not resolve"),
])
def test_the_public_name_resolves_and_serves_a_certificate_for_two_more_weeks(days, addresses, ok, words):
    api = FakeKubernetes(READY, WORKLOADS)
    tls = by_name(offline_probes(days, addresses)(api, "grafana.prod.example.com").results())["tls"]
    assert tls.ok is ok and words in tls.detail and "grafana.prod.example.com" in tls.detail


def test_a_certificate_that_does_not_verify_fails_the_tls_probe():
    def untrusted(host):
        raise probes.ssl.SSLCertVerificationError("certificate verify failed: self-signed certificate")
    tls = by_name(Probes(FakeKubernetes(READY, WORKLOADS), "grafana.prod.example.com", tls_days=untrusted,
                         lookup=lambda h: ["203.0.113.10"]).results())["tls"]
    assert not tls.ok and "self-signed" in tls.detail


def test_validate_on_a_local_stack_uses_no_aws_and_runs_every_probe():
    settings = load("local", LOCAL_RAW, None)
    api = FakeKubernetes(READY, WORKLOADS)
    rows = validate.validate(settings, None, lambda cluster: api)
    kinds = {(r.kind, r.name): r for r in rows}
    assert not [k for k in kinds if k[0] in ("cluster", "add-on", "node group")]
    assert kinds[("nodes", "all")].ok and kinds[("alerting", "Watchdog")].ok
    assert kinds[("probe", "dns")].ok and kinds[("probe", "logs")].ok and not kinds[("probe", "tls")].applicable
    assert validate.render(rows).endswith(f"cluster is ready: {len(rows) - 1} passed, 0 failed, 1 not applicable")


def test_the_public_name_is_grafanas_when_published_else_the_base_domain():
    base = {"environment": "prod", "accountId": "123456789012", "alerting": {"slackChannel": "#a",
                                                                             "delivery": "none"}}
    dns = {"zoneName": "example.com", "subdomain": "prod"}
    assert validate.public_host(load("prod", {**base, "dns": dns}, "us-east-1")) == "prod.example.com"
    published = load("prod", {**base, "dns": dns, "grafana": {"allowedCidrs": ["198.51.100.0/24"]}}, "us-east-1")
    assert validate.public_host(published) == "grafana.prod.example.com"
    assert validate.public_host(load("local", LOCAL_RAW, None)) is None


def _serve_once(server: socket.socket, answer: bytes, seen: list[bytes]) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        request += server.recv(4096)
    seen.append(request)
    server.sendall(answer)
    server.close()


def test_the_port_forwards_http_exchange_sends_the_tenant_and_reads_the_answer():
    client, server = socket.socketpair()
    seen: list[bytes] = []
    body = b'{"status":"success"}'
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s" % (len(body), body)
    thread = threading.Thread(target=_serve_once, args=(server, answer, seen))
    thread.start()
    assert validate.http_get(client, "loki/api/v1/labels", {"X-Scope-OrgID": "platform"}) == body.decode()
    thread.join(5)
    assert seen[0].startswith(b"GET /loki/api/v1/labels HTTP/1.1") and b"X-Scope-OrgID: platform" in seen[0]


def test_an_http_error_through_the_port_forward_is_raised_with_its_status():
    client, server = socket.socketpair()
    answer = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 9\r\n\r\nno org id"
    thread = threading.Thread(target=_serve_once, args=(server, answer, []))
    thread.start()
    with pytest.raises(ConnectionError, match="HTTP 401 Unauthorized: no org id"):
        validate.http_get(client, "loki/api/v1/labels")
    thread.join(5)


def _kubeconfig(path, context: str, server: str) -> str:
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "users": [{"name": context, "user": {"token": "t"}}]}))
    return str(path)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("context, says", [
    ("kind-other", "the kubeconfig cannot reach the stack's cluster"),
    ("kind-eks-platform", "a local cluster must be running (`python -m ops local status`)"),
])
def test_validate_on_a_local_stack_explains_a_missing_context_or_a_stopped_cluster(context, says, tmp_path,
                                                                                   monkeypatch, capsys):
    from ops.__main__ import main

    monkeypatch.setenv("KUBECONFIG", _kubeconfig(tmp_path / "config", context, f"https://127.0.0.1:{_closed_port()}"))
    assert main(["validate", "--stack", "local"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "a bug of eks-platform" not in err

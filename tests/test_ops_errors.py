"""Every AWS-facing `ops` command through each fault of the world outside: no traceback, one line naming the
cause and the fix, exit 1 (2 for usage). AWS's answers come from moto in server mode (a missing resource) or from
a loopback server that answers every request with the fault's error, in each protocol's own format."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ops.__main__ import main
from tests.conftest import stack_evaluation

MAJOR, MINOR = stack_evaluation("prod").settings.config.kubernetes_version.split(".")
NEXT = f"{MAJOR}.{int(MINOR) + 1}"
COMMANDS = {
    "preflight": ["preflight", "--stack", "prod"],
    "validate": ["validate", "--stack", "prod"],
    "teardown": ["teardown", "--stack", "prod"],
    "cleanup": ["cleanup", "--stack", "prod"],
    "upgrade-plan": ["upgrade-plan", "--stack", "prod", "--to", NEXT],
    "helm-storage": ["helm-storage", "--stack", "prod"],
    "bootstrap": ["bootstrap", "--stack", "prod"],
}


class _FaultHandler(BaseHTTPRequestHandler):
    code, status, message = "Throttling", 400, "Rate exceeded"

    def log_message(self, *_):
        pass

    def _answer(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
        headers = {"x-amzn-RequestId": "0", "x-amzn-ErrorType": f"{self.code}:http://internal.amazon.com/"}
        if self.headers.get("X-Amz-Target"):
            payload, kind = json.dumps({"__type": self.code, "message": self.message}), "application/x-amz-json-1.1"
        elif "Action=" in body and "Version=2016-11-15" in body:  # EC2's query dialect
            payload = (f"<Response><Errors><Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
                       "</Errors><RequestID>0</RequestID></Response>")
            kind = "text/xml"
        elif "Action=" in body:
            payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{self.code}</Code><Message>{self.message}"
                       "</Message></Error><RequestId>0</RequestId></ErrorResponse>")
            kind = "text/xml"
        elif self.path.startswith(("/clusters", "/addons")):  # EKS: rest-json
            payload, kind = json.dumps({"message": self.message}), "application/json"
        else:  # S3: rest-xml
            payload = f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
            kind = "application/xml"
        self.send_response(self.status)
        for key, value in {**headers, "Content-Type": kind, "Content-Length": str(len(payload))}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload.encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer


@pytest.fixture(scope="module")
def fault_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FaultHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No credentials from the machine, no profile, one attempt per call."""
    for key in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return monkeypatch


def _keys(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")


def _run(argv, capsys) -> tuple[int, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


FAULTS = {
    "expired": ("ExpiredToken", 400, "The security token included in the request is expired",
                "have expired", "aws sso login"),
    "denied": ("AccessDenied", 403, "User: arn:aws:iam::777788889999:user/dev is not authorized to perform: X",
               "access denied to", "is not authorized to perform"),
    "throttled": ("Throttling", 400, "Rate exceeded", "AWS throttled", "AWS_RETRY_MODE=adaptive"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_missing_credentials_are_one_line_naming_the_fix(command, offline, capsys):
    code, text = _run(COMMANDS[command], capsys)
    assert "Traceback" not in text
    assert code == 1, text
    assert "no AWS credentials: set AWS_PROFILE" in text


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_aws_refusals_are_one_line_naming_the_cause_and_fix(command, fault, offline, fault_server, capsys):
    code_name, status, message, cause, fix = FAULTS[fault]
    _FaultHandler.code, _FaultHandler.status, _FaultHandler.message = code_name, status, message
    _keys(offline)
    offline.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{fault_server.server_address[1]}")
    code, text = _run(COMMANDS[command], capsys)
    assert "Traceback" not in text
    assert code == 1, text
    assert cause in text and fix in text, text


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unreachable_endpoint_is_one_line(command, offline, capsys):
    _keys(offline)
    offline.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    code, text = _run(COMMANDS[command], capsys)
    assert "Traceback" not in text
    assert code == 1, text
    assert "cannot reach AWS" in text and "HTTPS_PROXY" in text


EMPTY_ACCOUNT = {  # what each command says of an account where nothing of the stack exists yet
    "preflight": "FAIL  DNS zone: hosted zone example.com not found",
    "validate": "FAIL cluster acme-prod  No cluster found for name: acme-prod.",
    "upgrade-plan": "error: not found: No cluster found for name: acme-prod. (DescribeCluster); is the stack deployed",
    "helm-storage": "error: not found: No cluster found for name: acme-prod. (DescribeCluster); is the stack deployed",
}


@pytest.mark.parametrize("command", list(EMPTY_ACCOUNT))
def test_an_account_without_the_stack_is_reported_not_raised(command, moto_server, capsys):
    code, text = _run(COMMANDS[command], capsys)
    assert "Traceback" not in text
    assert code == 1, text
    assert EMPTY_ACCOUNT[command] in text, text


@pytest.mark.parametrize("command", ["teardown", "cleanup"])
def test_after_a_destroy_nothing_left_is_success(command, moto_server, capsys):
    code, text = _run(COMMANDS[command], capsys)  # bootstrap is not here: it creates what is missing
    assert code == 0 and "nothing left behind by cluster acme-prod" in text, text


def test_debug_shows_the_traceback(offline):
    with pytest.raises(Exception) as raised:
        main(["--debug", *COMMANDS["validate"]])
    assert type(raised.value).__name__ == "NoCredentialsError"


def test_usage_errors_exit_2_and_plan_takes_stack_like_every_command(capsys):
    with pytest.raises(SystemExit) as usage:
        main(["plan"])
    assert usage.value.code == 2 and "plan needs a stack" in capsys.readouterr().err
    with pytest.raises(SystemExit) as both:
        main(["plan", "dev", "--stack", "prod"])
    assert both.value.code == 2
    assert main(["plan", "--stack", "nope"]) == 2
    assert "nope" in capsys.readouterr().err

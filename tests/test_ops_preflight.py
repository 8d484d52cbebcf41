"""`ops preflight` against moto (EC2, STS, Route53). moto has no EC2 service quotas, so the
Service Quotas answers are injected into the real botocore client for the quota codes asked."""

from __future__ import annotations

import io
import json

import boto3
from botocore.awsrequest import AWSResponse

from ops import preflight
from stacks.config import load

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"  # moto's account


class QuotaSession(boto3.session.Session):
    """A real boto3 session whose Service Quotas client answers from `quotas` (code -> value)."""

    def __init__(self, quotas: dict[str, float]):
        super().__init__(region_name="us-east-1")
        self.quotas = quotas
        self.asked: list[str] = []

    def client(self, service_name, **kwargs):
        client = super().client(service_name, **kwargs)
        if service_name == "service-quotas":
            client.meta.events.register("before-call.service-quotas.GetServiceQuota", self._answer)
        return client

    def _answer(self, params, **_):
        code = json.loads(params["body"])["QuotaCode"]
        self.asked.append(code)
        if code not in self.quotas:
            return (AWSResponse("", 400, {}, None), {"Error": {"Code": "NoSuchResourceException", "Message": code}})
        return (AWSResponse("", 200, {}, None), {"Quota": {"QuotaCode": code, "Value": self.quotas[code]}})


GENEROUS = {code: 10000.0 for code in preflight.VCPU_QUOTAS.values()} | {preflight.EIP_QUOTA: 5.0}


def settings(**raw):
    return load("prod", {"environment": "prod", "adminRoleArns": [ADMIN], **raw}, "us-east-1")


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_ready_account_passes_every_check(aws):
    boto3.client("route53").create_hosted_zone(Name="example.com", CallerReference="x")
    session = QuotaSession(GENEROUS)
    checks = preflight.run_checks(settings(
        dns={"zoneName": "example.com"},
        nodeGroups={"gpu": {"instanceTypes": ["g6.xlarge"], "gpu": True, "minSize": 0, "maxSize": 2}}), session)
    assert all(c.ok for c in checks), preflight.render(checks)
    names = by_name(checks)
    assert {"account", "availability zones", "node group general: instance types", "node group gpu: instance types",
            "vCPU quota on_demand standard", "vCPU quota on_demand g", "Elastic IP quota", "DNS zone"} == set(names)
    assert names["vCPU quota on_demand g"].detail == "max sizes need 8 vCPUs, quota is 10000"
    assert set(session.asked) == {"L-1216C47A", "L-DB2E81BA", "L-0263D0A3"}


def test_every_failure_is_reported_with_what_to_do(aws):
    tight = {**GENEROUS, "L-1216C47A": 8.0, preflight.EIP_QUOTA: 2.0}
    checks = by_name(preflight.run_checks(settings(
        adminRoleArns=["arn:aws:iam::999999999999:role/admin"], dns={"zoneName": "missing.example"},
        network={"availabilityZones": 3}), QuotaSession(tight)))
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"account", "vCPU quota on_demand standard", "Elastic IP quota", "DNS zone"}
    assert "999999999999" in checks["account"].fix
    assert checks["vCPU quota on_demand standard"].detail == "max sizes need 24 vCPUs, quota is 8"
    assert "L-1216C47A" in checks["vCPU quota on_demand standard"].fix
    assert "createZone" in checks["DNS zone"].fix


def test_instance_type_not_offered_in_a_zone_fails(aws):
    checks = by_name(preflight.run_checks(settings(
        nodeGroups={"general": {"instanceTypes": ["m7i.large", "x9z.large"]}}), QuotaSession(GENEROUS)))
    check = checks["node group general: instance types"]
    assert not check.ok and "x9z.large in us-east-1a" in check.detail


def test_unreadable_quota_fails_with_the_permission_to_grant(aws):
    checks = by_name(preflight.run_checks(settings(), QuotaSession({})))
    assert not checks["Elastic IP quota"].ok
    assert "servicequotas:GetServiceQuota" in checks["Elastic IP quota"].fix


def test_command_exit_code_and_report(aws):
    out, err = io.StringIO(), io.StringIO()
    code = preflight.main("prod", out, err, session=QuotaSession({}))
    assert code == 1 and err.getvalue() == ""
    assert "FAIL  Elastic IP quota" in out.getvalue() and "fix: allow servicequotas" in out.getvalue()
    assert preflight.main("nope", out, err) == 2 and "no stack file" in err.getvalue()


def test_instance_classes():
    assert [preflight.instance_class(t) for t in ("m7i.large", "g6.xlarge", "p5.48xlarge", "vt1.3xlarge", "c7g.large")] \
        == ["standard", "g", "p", "g", "standard"]

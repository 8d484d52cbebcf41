"""`ops preflight` against moto (EC2, STS, Route53). moto has no EC2 service quotas, so the
Service Quotas answers are injected into the real botocore client for the quota codes asked."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from tests.conftest import SILENT_BY_CHOICE
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
    return load("prod", {"environment": "prod", "accountId": "123456789012", **SILENT_BY_CHOICE, "adminRoleArns": [ADMIN],
                         "ciRunner": {"githubRepo": "acme/eks-platform"}, **raw}, "us-east-1")


def by_name(checks):
    return {c.name: c for c in checks}


def with_boundary():
    boto3.client("iam").create_policy(PolicyName="eks-platform-boundary-prod", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))


def test_a_ready_account_passes_every_check(aws):
    with_boundary()
    boto3.client("route53").create_hosted_zone(Name="example.com", CallerReference="x")
    session = QuotaSession(GENEROUS)
    checks = preflight.run_checks(settings(
        dns={"zoneName": "example.com"},
        nodeGroups={"gpu": {"instanceTypes": ["g6.xlarge"], "gpu": True, "minSize": 0, "maxSize": 2}}), session)
    assert all(c.ok for c in checks), preflight.render(checks)
    names = by_name(checks)
    assert {"account", "deploying identity", "permissions boundary", "API endpoint reach", "Kubernetes version step", "Kubernetes version",
            "availability zones", "node group general: instance types", "node group gpu: instance types",
            "vCPU quota on_demand standard", "vCPU quota on_demand g", "Elastic IP quota", "DNS zone"} == set(names)
    assert names["vCPU quota on_demand g"].detail == "max sizes need 8 vCPUs, quota is 10000"
    assert set(session.asked) == {"L-1216C47A", "L-DB2E81BA", "L-0263D0A3"}


def test_every_failure_is_reported_with_what_to_do(aws):
    tight = {**GENEROUS, "L-1216C47A": 8.0, preflight.EIP_QUOTA: 2.0}
    checks = by_name(preflight.run_checks(settings(
        accountId="999999999999", dns={"zoneName": "missing.example"},
        network={"availabilityZones": 3}), QuotaSession(tight)))
    failed = {name for name, c in checks.items() if not c.ok}
    assert failed == {"account", "permissions boundary", "vCPU quota on_demand standard", "Elastic IP quota", "DNS zone"}
    assert "ops bootstrap --stack prod --github-repo" in checks["permissions boundary"].fix
    assert checks["account"].detail == "credentials are for account 123456789012; the stack belongs to 999999999999"
    assert "aws configure sso" in checks["account"].fix
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


class AssumedRoleSession(QuotaSession):
    """Credentials of a session of `role` (assumed through moto's STS), like a CI job's."""

    def __init__(self, quotas: dict[str, float], role: str):
        credentials = boto3.client("sts").assume_role(RoleArn=role, RoleSessionName="ci")["Credentials"]
        super().__init__(quotas)
        boto3.session.Session.__init__(self, aws_access_key_id=credentials["AccessKeyId"],
                                       aws_secret_access_key=credentials["SecretAccessKey"],
                                       aws_session_token=credentials["SessionToken"], region_name="us-east-1")


def test_a_deploy_role_also_listed_for_an_access_entry_fails_before_eks_refuses_it(aws):
    deploy = "arn:aws:iam::123456789012:role/eks-platform-deploy-prod"
    checks = by_name(preflight.run_checks(settings(adminRoleArns=[ADMIN, deploy]),
                                          AssumedRoleSession(GENEROUS, deploy)))
    check = checks["deploying identity"]
    assert not check.ok and f"also listed as {deploy}" in check.detail and "409" in check.fix
    checks = by_name(preflight.run_checks(settings(), AssumedRoleSession(GENEROUS, deploy)))
    assert checks["deploying identity"].ok


def test_zones_eks_refuses_do_not_count(aws, monkeypatch):
    from stacks import regions

    monkeypatch.delitem(regions.EKS_ZONES, "us-east-1")  # as for a region the table does not know
    zone_ids = {z["ZoneName"]: z["ZoneId"] for z in boto3.client("ec2").describe_availability_zones()["AvailabilityZones"]}
    unsupported = [name for name, zone_id in zone_ids.items() if zone_id == "use1-az3"]
    assert unsupported  # moto maps one us-east-1 zone name to use1-az3, as AWS does per account
    check = by_name(preflight.run_checks(settings(network={"availabilityZones": len(zone_ids)}),
                                         QuotaSession(GENEROUS)))["availability zones"]
    assert not check.ok and "eks-platform:network.availabilityZones" in check.detail
    check = by_name(preflight.run_checks(settings(), QuotaSession(GENEROUS)))["availability zones"]
    assert check.ok and unsupported[0] not in check.detail


def test_a_redeploy_does_not_count_the_stacks_own_nat_addresses_as_new(aws):
    ec2 = boto3.client("ec2")
    for _ in range(3):
        allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
        ec2.create_tags(Resources=[allocation], Tags=[{"Key": "cluster", "Value": "eks-platform-prod"},
                                                      {"Key": "stack", "Value": "prod"}])
    check = by_name(preflight.run_checks(settings(), QuotaSession(GENEROUS)))["Elastic IP quota"]
    assert check.ok and "3 in use (3 already this stack's) + 0 new" in check.detail
    ec2.allocate_address(Domain="vpc")
    ec2.allocate_address(Domain="vpc")
    other = by_name(preflight.run_checks(settings(clusterName="acme-other"), QuotaSession(GENEROUS)))["Elastic IP quota"]
    assert not other.ok and "5 in use (0 already this stack's) + 3 new" in other.detail


@pytest.mark.parametrize("raw, ok, detail", [
    ({}, True, "the in-cluster layer deploys from the in-VPC runner eks-platform-prod-runner"),
    ({"ciRunner": None}, False, "no CIDR here can reach the API: the endpoint is private"),
    ({"ciRunner": None, "endpoint": {"publicAccessCidrs": ["203.0.113.0/24"]}}, False,
     "no CIDR here can reach the API: 203.0.113.0/24 is not a routable egress range"),
    ({"ciRunner": None, "endpoint": {"publicAccessCidrs": ["52.94.0.0/24"]}}, True, "public endpoint open to 52.94.0.0/24"),
])
def test_the_in_cluster_layer_must_be_reachable_from_where_the_deploy_runs(raw, ok, detail):
    config = {k: v for k, v in raw.items() if v is not None}
    base = {"environment": "dev", "accountId": "123456789012", "adminRoleArns": [ADMIN], **config}
    if "ciRunner" not in raw:
        base["ciRunner"] = {"githubRepo": "acme/eks-platform"}
    check = preflight._api_reach(load("prod", base, "us-east-1"))
    assert (check.ok, check.detail) == (ok, detail)


def test_a_version_near_a_support_phase_change_is_warned_without_failing(aws):
    from datetime import date

    checks = preflight.run_checks(settings(kubernetesVersion="1.34", upgradePolicy="EXTENDED"), QuotaSession(GENEROUS), today=date(2026, 11, 1))
    check = by_name(checks)["Kubernetes version"]
    assert check.ok and check.warn and "standard support ends on 2026-12-02 (31 days)" in check.detail
    assert "WARN  Kubernetes version" in preflight.render(checks)


def test_a_stack_file_without_the_kms_secrets_provider_fails(tmp_path):
    (tmp_path / "Pulumi.dev.yaml").write_text("config:\n  aws:region: us-east-1\n")
    check = preflight.secrets_provider_check("dev", tmp_path)
    assert not check.ok and "passphrase" in check.detail and "ops bootstrap" in check.fix
    (tmp_path / "Pulumi.dev.yaml").write_text("secretsprovider: awskms://alias/x?region=us-east-1\n"
                                             "encryptedkey: AQID\nconfig: {}\n")
    shared = preflight.secrets_provider_check("dev", tmp_path)
    assert shared.ok and shared.warn and "not the stack's own key alias/eks-platform-secrets-dev" in shared.detail
    (tmp_path / "Pulumi.dev.yaml").write_text("secretsprovider: awskms://alias/eks-platform-secrets-dev?region=us-east-1"
                                             "\nencryptedkey: AQID\nconfig: {}\n")
    own = preflight.secrets_provider_check("dev", tmp_path)
    assert own.ok and not own.warn


@pytest.mark.parametrize("live, configured, ok, detail", [
    ("1.35", "1.36", True, "1.35 -> 1.36"),
    ("1.36", "1.36", True, "stays at 1.36"),
    ("1.36", "1.35", False, "the cluster runs 1.36: EKS cannot downgrade to 1.35"),
    ("1.34", "1.36", False, "1.34 -> 1.36 skips a minor"),
])
def test_the_configured_version_is_checked_against_the_live_cluster(aws, live, configured, ok, detail):
    role = boto3.client("iam").create_role(RoleName="eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    ec2 = boto3.client("ec2")
    subnet = ec2.create_subnet(VpcId=ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"],
                               CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    boto3.client("eks").create_cluster(name="eks-platform-prod", version=live, roleArn=role,
                                       resourcesVpcConfig={"subnetIds": [subnet]})
    check = preflight._version_step(boto3.client("eks"), settings(kubernetesVersion=configured))
    assert (check.ok, check.detail) == (ok, detail)


def test_a_wrong_credential_is_told_which_profile_reaches_the_stacks_account(aws, tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile acme-dev]\nsso_account_id = 111122223333\n\n"
                      "[profile acme-prod]\nsso_account_id = 999999999999\nsso_role_name = Admin\n\n"
                      "[profile prod-ci]\nrole_arn = arn:aws:iam::999999999999:role/ci\nsource_profile = acme-dev\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    checks = by_name(preflight.run_checks(settings(accountId="999999999999"), QuotaSession(GENEROUS)))
    assert not checks["account"].ok
    assert checks["account"].fix == ("use a profile of account 999999999999: export AWS_PROFILE=acme-prod "
                                     "(also: prod-ci)")

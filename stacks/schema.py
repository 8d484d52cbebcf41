"""The shape of the `eks-platform:` stack configuration: one pydantic model per config block.

Field aliases are the config keys users write (camelCase, the only spelling accepted); unknown keys are
rejected. Types are strict: a number is a number (not "5", 5.0 or true), a boolean is true or false, text
is text. Checks that involve more than one field live in `stacks/rules.py` and run on the validated values.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from croniter import CroniterBadDateError, croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, SecretStr, StrictBool, StrictInt, StrictStr

from components.schedules import longest_gap
from stacks.eks_versions import KNOWN_VERSIONS


_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
_ROLE_ARN = re.compile(r"^arn:aws(-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\d[a-z0-9-]*\.[a-z0-9-]+$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
PRIVATE_RANGES = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def _cluster_name(value: str) -> str:
    if not _CLUSTER_NAME.match(value):
        raise ValueError(
            "must be 2-40 characters of lowercase letters, digits and '-', "
            "starting with a letter and ending with a letter or digit"
        )
    return value


def _private_network(value: str, example: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise ValueError(f"must be an IPv4 network in CIDR notation with no host bits set, e.g. {example}")
    if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
        raise ValueError("must lie in a private RFC 1918 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)")
    return network


def _vpc_cidr(value: str) -> str:
    network = _private_network(value, "10.20.0.0/16")
    if not 16 <= network.prefixlen <= 20:
        raise ValueError("must be a /16 to /20 network (the subnet plan needs at least a /20)")
    return value


def _public_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        raise ValueError("must be an IPv4 network in CIDR notation with no host bits set, e.g. 203.0.113.0/24")
    return value


def _account_id(value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        hint = " (quote it: YAML drops an account's leading zeros)" if re.fullmatch(r"\d{1,11}", value) else ""
        raise ValueError(f"must be a 12-digit AWS account ID like \"123456789012\"{hint}")
    return value


def _role_arn(value: str) -> str:
    if not _ROLE_ARN.match(value):
        raise ValueError("must be an IAM role ARN like arn:aws:iam::123456789012:role/platform-admin")
    return value


def _instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise ValueError("must be an EC2 instance type like m7i.large")
    return value


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters")
    return value


def _label_key(value: str) -> str:
    prefix, _, name = value.rpartition("/")
    if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or not _LABEL_NAME.match(name):
        raise ValueError(
            "must be a Kubernetes label key: an optional DNS subdomain prefix and '/', then a name of at most "
            "63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        )
    return value


def _label_value(value: str) -> str:
    if not _LABEL_VALUE.match(value):
        raise ValueError("must be a Kubernetes label value: at most 63 letters, digits, '-', '_' or '.'")
    return value


_TAG_CHARACTERS = re.compile(r"^[\w\s.:/=+\-@]*$")


def _tag_key(value: str) -> str:
    if not 1 <= len(value) <= 128 or value.lower().startswith("aws:"):
        raise ValueError("must be 1-128 characters and must not start with 'aws:'")
    if not _TAG_CHARACTERS.match(value):
        raise ValueError("may hold only letters, digits, spaces and _ . : / = + - @")
    return value


def _tag_value(value: str) -> str:
    if len(value) > 256 or not _TAG_CHARACTERS.match(value):
        raise ValueError("must be at most 256 letters, digits, spaces and _ . : / = + - @")
    return value


ClusterName = Annotated[StrictStr, AfterValidator(_cluster_name)]
VpcCidr = Annotated[StrictStr, AfterValidator(_vpc_cidr)]
PublicCidr = Annotated[StrictStr, AfterValidator(_public_cidr)]
AccountId = Annotated[StrictStr, AfterValidator(_account_id)]
RoleArn = Annotated[StrictStr, AfterValidator(_role_arn)]
InstanceType = Annotated[StrictStr, AfterValidator(_instance_type)]
NodeGroupName = Annotated[StrictStr, AfterValidator(_dns_label)]
LabelKey = Annotated[StrictStr, AfterValidator(_label_key)]
LabelValue = Annotated[StrictStr, AfterValidator(_label_value)]
TagKey = Annotated[StrictStr, AfterValidator(_tag_key)]
TagValue = Annotated[StrictStr, AfterValidator(_tag_value)]


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(_Block):
    cidr: VpcCidr
    availability_zones: StrictInt = Field(alias="availabilityZones", ge=2, le=6)
    nat_gateways: Literal["single", "perAz"] = Field(alias="natGateways")


class EndpointConfig(_Block):
    public_access_cidrs: tuple[PublicCidr, ...] = Field(alias="publicAccessCidrs")


class Taint(_Block):
    key: LabelKey
    value: LabelValue = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodeGroupConfig(_Block):
    instance_types: tuple[InstanceType, ...] = Field(alias="instanceTypes", min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = Field(alias="capacityType")
    min_size: StrictInt = Field(alias="minSize", ge=0, le=1000)
    max_size: StrictInt = Field(alias="maxSize", ge=1, le=1000)
    desired_size: StrictInt = Field(alias="desiredSize", ge=0, le=1000)
    disk_size_gib: StrictInt = Field(alias="diskSizeGiB", ge=20, le=16384)
    labels: dict[LabelKey, LabelValue]
    taints: tuple[Taint, ...]
    gpu: StrictBool
    per_zone: StrictBool = Field(alias="perZone", default=False)


RequestRate = Annotated[float, Field(gt=0, le=100000, strict=True)]


class IngressAlertsConfig(_Block):
    min_5xx_requests_per_second: RequestRate = Field(alias="min5xxRequestsPerSecond")
    min_latency_requests_per_second: RequestRate = Field(alias="minLatencyRequestsPerSecond")


class IngressConfig(_Block):
    scheme: Literal["internet-facing", "internal"]
    controller: Literal["nginx", "gateway"] = "nginx"
    accept_retired_controller: StrictBool = Field(alias="acceptRetiredController", default=False)
    alerts: IngressAlertsConfig


def _github_repo(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}", value):
        raise ValueError("must be a GitHub repository as OWNER/REPO, e.g. acme/platform")
    return value


class CiRunnerConfig(_Block):
    github_repo: Annotated[StrictStr, AfterValidator(_github_repo)] = Field(alias="githubRepo")


class GrafanaConfig(_Block):
    allowed_cidrs: tuple[PublicCidr, ...] = Field(alias="allowedCidrs")


_DURATION = re.compile(r"^([1-9]\d{0,5})(h|d|w|y)$")
HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 24 * 7, "y": 24 * 365}
MAX_RETENTION_HOURS = 10 * HOURS_PER_UNIT["y"]


def _duration(value: str) -> str:
    match = _DURATION.match(value)
    if not match:
        raise ValueError("must be a whole number and a unit h, d, w or y, e.g. 15d")
    if int(match.group(1)) * HOURS_PER_UNIT[match.group(2)] > MAX_RETENTION_HOURS:
        raise ValueError("must be at most 10 years (3650d)")
    return value


def _slack_channel(value: str) -> str:
    if not re.match(r"^#[a-z0-9][a-z0-9._-]{0,79}$", value):
        raise ValueError("must be a Slack channel like \"#alerts\" (quoted: YAML reads # as a comment): "
                         "'#', then lowercase letters, digits, '.', '_' or '-'")
    return value


class MonitoringConfig(_Block):
    prometheus_retention: Annotated[StrictStr, AfterValidator(_duration)] = Field(alias="prometheusRetention")
    prometheus_storage_gib: StrictInt = Field(alias="prometheusStorageGiB", ge=5, le=16384)


class LoggingConfig(_Block):
    retention_days: StrictInt = Field(alias="retentionDays", ge=1, le=3650)


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not croniter.is_valid(value):
        raise ValueError('must be a cron schedule of five fields (minute hour day-of-month month day-of-week), '
                         'e.g. "0 3 * * *" for 03:00 UTC every night')
    if not re.fullmatch(r"[0-9]{1,2}", fields[0]):
        raise ValueError("must run at most once an hour: the minute field must be one number, e.g. 0")
    try:
        longest_gap(value)
    except (CroniterBadDateError, ValueError):
        raise ValueError("never runs (no date matches it)")
    return value


class BackupConfig(_Block):
    schedule: Annotated[StrictStr, AfterValidator(_cron)]
    retention_days: StrictInt = Field(alias="retentionDays", ge=1, le=3650)




def _https_url(value: SecretStr) -> SecretStr:
    if not re.match(r"^https://[^\s/]+\.[^\s/]+/\S*$", value.get_secret_value()):
        raise ValueError("must be an https:// URL (a Slack incoming webhook)")
    return value


HttpsUrlSecret = Annotated[SecretStr, AfterValidator(_https_url)]


def _password(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 12:
        raise ValueError("must be at least 12 characters")
    return value


PasswordSecret = Annotated[SecretStr, AfterValidator(_password)]


class AlertingConfig(_Block):
    slack_channel: Annotated[StrictStr, AfterValidator(_slack_channel)] = Field(alias="slackChannel")
    heartbeat_url: HttpsUrlSecret | None = Field(alias="heartbeatUrl", default=None)
    delivery: Literal["slack", "none"] = "slack"  # `none`: a decision that nobody is told (refused silently in prod)

_QUANTITY = re.compile(r"^([0-9]+(\.[0-9]+)?|\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE][0-9]+)?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _count(value: str) -> str:
    if not re.match(r"^(0|[1-9][0-9]{0,5})$", value):
        raise ValueError('must be a count in quotes, e.g. "20" ("0" for none)')
    return value


def _pod_count(value: str) -> str:
    if not re.match(r"^[1-9][0-9]{0,5}$", value):
        raise ValueError('must be a pod count in quotes, e.g. "100"')
    return value


def _quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError("must be a Kubernetes quantity like 500m, 20, 64Gi")
    return value


def _domain(value: str) -> str:
    if not _DOMAIN.match(value):
        raise ValueError("must be a lowercase DNS domain like example.com")
    return value


def _subdomain(value: str) -> str:
    if not all(_DNS_LABEL.match(label) and len(label) <= 63 for label in value.split(".")):
        raise ValueError("must be DNS labels (lowercase letters, digits, '-') separated by '.'")
    return value


_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")


def _port(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and _PORT_NAME.match(value) and "--" not in value:
        return value
    raise ValueError("must be a port number (1-65535, unquoted) or a container port's name (up to 15 lowercase "
                     "letters, digits and single '-', at least one letter)")


Quantity = Annotated[StrictStr, AfterValidator(_quantity)]
Port = Annotated[int | str, PlainValidator(_port)]
Domain = Annotated[StrictStr, AfterValidator(_domain)]
Subdomain = Annotated[StrictStr, AfterValidator(_subdomain)]
NamespaceName = Annotated[StrictStr, AfterValidator(_dns_label)]


class DnsConfig(_Block):
    zone_name: Domain = Field(alias="zoneName")
    create_zone: StrictBool = Field(alias="createZone", default=False)
    subdomain: Subdomain | None = None


Count = Annotated[StrictStr, AfterValidator(_count)]


class QuotaConfig(_Block):
    """A team's total, split evenly across its namespaces."""

    cpu: Quantity
    memory: Quantity
    pods: Annotated[StrictStr, AfterValidator(_pod_count)]
    storage: Quantity
    persistent_volume_claims: Count = Field(alias="persistentVolumeClaims")
    ephemeral_storage: Quantity = Field(alias="ephemeralStorage")
    gpus: Count
    services: Count
    config_maps: Count = Field(alias="configMaps")
    secrets: Count


def _policy_arn(value: str) -> str:
    if not re.match(r"^arn:aws(-cn|-us-gov)?:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$", value):
        raise ValueError("must be an IAM policy ARN like arn:aws:iam::aws:policy/AmazonSQSReadOnlyAccess")
    return value


PolicyArn = Annotated[StrictStr, AfterValidator(_policy_arn)]


class CiConfig(_Block):
    permissions_boundary_arn: PolicyArn | None = Field(alias="permissionsBoundaryArn", default=None)


class ServiceAccountConfig(_Block):
    namespace: NamespaceName | None = None
    policy_arns: tuple[PolicyArn, ...] = Field(alias="policyArns", min_length=1, max_length=20)


class TeamAlertsConfig(_Block):
    slack_channel: Annotated[StrictStr, AfterValidator(_slack_channel)] = Field(alias="slackChannel")
    slack_webhook_url: HttpsUrlSecret | None = Field(alias="slackWebhookUrl", default=None)


class TeamEgressConfig(_Block):
    namespaces: tuple[NamespaceName, ...] = ()
    internet: StrictBool = True


class TeamConfig(_Block):
    namespaces: tuple[NamespaceName, ...] = Field(min_length=1)
    role_arns: tuple[RoleArn, ...] = Field(alias="roleArns", default=())
    quota: QuotaConfig
    hosts: tuple[Domain, ...] = ()
    allow_load_balancers: StrictBool = Field(alias="allowLoadBalancers", default=False)
    pod_security: Literal["restricted", "baseline"] = Field(alias="podSecurity", default="restricted")
    egress: TeamEgressConfig = Field(default_factory=TeamEgressConfig)
    edge_ports: tuple[Port, ...] = Field(alias="edgePorts", default=())  # the pods' ports the edge may reach; none: any
    service_accounts: dict[NamespaceName, ServiceAccountConfig] = Field(alias="serviceAccounts", default_factory=dict)
    alerts: TeamAlertsConfig | None = None




class ReleaseConfig(_Block):
    values: dict[StrictStr, object] = Field(default_factory=dict)  # laid over the platform's values of the release


class TenancyConfig(_Block):
    admission: Literal["enforce", "warn"] = "enforce"


_CONTEXT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:/-]{0,252}$")


def _context(value: str) -> str:
    if not _CONTEXT.match(value):
        raise ValueError("must be a kubeconfig context name (`kubectl config get-contexts -o name`): up to 253 "
                         "letters, digits and . _ @ : / -, starting with a letter or digit")
    return value


def _private_cidr(value: str) -> str:
    _private_network(value, "192.168.1.0/24")
    return value


class KubeconfigConfig(_Block):
    """A cluster of one's own, reached through a context of the kubeconfig (`target: kubeconfig`)."""

    context: Annotated[StrictStr, AfterValidator(_context)]
    distribution: Literal["kind", "k3s", "minikube"] = "kind"
    node_cidr: Annotated[StrictStr, AfterValidator(_private_cidr)] | None = Field(alias="nodeCidr", default=None)


class ClusterLayerConfig(_Block):
    """The settings of the in-cluster layer, on any target."""

    cluster_name: ClusterName = Field(alias="clusterName")
    ingress: IngressConfig
    monitoring: MonitoringConfig
    grafana: GrafanaConfig
    logging: LoggingConfig
    alerting: AlertingConfig
    grafana_admin_password: PasswordSecret | None = Field(alias="grafanaAdminPassword", default=None)
    slack_webhook_url: HttpsUrlSecret | None = Field(alias="slackWebhookUrl", default=None)
    teams: dict[NodeGroupName, TeamConfig] = Field(default_factory=dict)
    tenancy: TenancyConfig = Field(default_factory=TenancyConfig)
    releases: dict[StrictStr, ReleaseConfig] = Field(default_factory=dict)


class PlatformConfig(ClusterLayerConfig):
    """An EKS stack (`target: eks`, the default): the cloud layer's settings and the cluster layer's."""

    target: Literal["eks"] = "eks"
    environment: Literal["dev", "staging", "prod"]
    account_id: AccountId = Field(alias="accountId")
    kubernetes_version: Literal[KNOWN_VERSIONS] = Field(alias="kubernetesVersion")
    network: NetworkConfig
    endpoint: EndpointConfig
    admin_role_arns: tuple[RoleArn, ...] = Field(alias="adminRoleArns")
    preview_role_arn: RoleArn | None = Field(alias="previewRoleArn", default=None)
    ci_runner: CiRunnerConfig | None = Field(alias="ciRunner", default=None)
    ci: CiConfig = Field(default_factory=CiConfig)
    in_cluster_layer: StrictBool = Field(alias="inClusterLayer", default=True)
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = Field(alias="upgradePolicy", default="STANDARD")
    node_groups: dict[NodeGroupName, NodeGroupConfig] = Field(alias="nodeGroups", min_length=1)
    tags: dict[TagKey, TagValue]
    backup: BackupConfig
    dns: DnsConfig | None = None


class LocalConfig(ClusterLayerConfig):
    """A stack on a cluster of one's own (`target: kubeconfig`): the cluster layer's settings only."""

    target: Literal["kubeconfig"]
    environment: Literal["local"]
    kubeconfig: KubeconfigConfig


TARGETS = ("eks", "kubeconfig")
# What a `target: kubeconfig` stack must not set: the key (a dotted path, `*` any team) and why.
EKS_ONLY = {
    "accountId": "the AWS account of an EKS stack",
    "kubernetesVersion": "the EKS control plane's version (a local cluster's is its node image's)",
    "network": "the VPC of an EKS stack",
    "endpoint": "the EKS API endpoint's public access",
    "adminRoleArns": "EKS access entries of IAM roles (a local cluster's admin is the kubeconfig's user)",
    "previewRoleArn": "the IAM role pull-request previews assume",
    "ciRunner": "the in-VPC CI runner of an EKS stack",
    "ci": "the CI identities' permissions boundary",
    "inClusterLayer": "the two-step first deploy of an EKS stack",
    "upgradePolicy": "EKS's support policy",
    "nodeGroups": "EKS managed node groups (a local cluster's nodes are its own)",
    "tags": "AWS tags",
    "backup": "Velero backups to S3 (no Velero on a local cluster)",
    "dns": "Route 53 records and an ACM certificate (a local stack answers at *.localtest.me)",
    "ingress.scheme": "the NLB's scheme",
    "grafana.allowedCidrs": "publishing Grafana through the NLB (a local stack publishes it at grafana.localtest.me)",
    "teams.*.roleArns": "EKS access entries (a local team is the Kubernetes group team:<name>)",
    "teams.*.serviceAccounts": "IAM roles for a team's pods through EKS Pod Identity",
}
KUBECONFIG_ONLY = {"kubeconfig": "the kubeconfig context of a `target: kubeconfig` stack"}


SECRET_KEYS = tuple(f.alias for f in ClusterLayerConfig.model_fields.values()
                    if "SecretStr" in str(f.annotation))
# Secrets inside a block: `pulumi config set --secret --path eks-platform:alerting.heartbeatUrl ...` makes
# the whole `alerting` value secret. Messages never show a value below these paths.
NESTED_SECRETS = (("alerting", "heartbeatUrl"),)
TEAM_WEBHOOK = ("alerts", "slackWebhookUrl")  # below teams.<team>: the whole `teams` value becomes secret
SECRET_PATHS = (*((key,) for key in SECRET_KEYS), *NESTED_SECRETS, ("teams", "*", *TEAM_WEBHOOK))

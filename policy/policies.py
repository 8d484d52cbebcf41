"""The eks-platform CrossGuard policies: what every preview of every stack is held to.

Mandatory: EKS secrets encrypted with KMS and all control-plane logs on; no public API endpoint open
to 0.0.0.0/0 in prod; launch templates require IMDSv2; EBS volumes and S3 buckets encrypted, buckets
block public access; Helm releases pin a chart version; AWS resources carry the required tags; in prod,
the resources that hold data (S3 buckets, KMS keys, hosted zones) are protected from deletion; no retired
ingress controller (ingress-nginx) in prod unless the stack accepted the risk.
Advisory: spot-only general capacity in prod; fewer NAT gateways than availability zones.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

LOG_TYPES = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
ENVIRONMENTS = ("dev", "staging", "prod", "local")
STACK_FILES = Path(__file__).resolve().parent.parent  # the project beside the pack
DEFAULT_CONFIG = {"requiredTags": ["platform", "environment", "stack", "cluster"]}
_PROD_SCHEMA = PolicyConfigSchema(properties={"environment": {"type": "string", "enum": list(ENVIRONMENTS)}})
_TAGS_SCHEMA = PolicyConfigSchema(properties={"requiredTags": {"type": "array", "items": {"type": "string"},
                                                               "default": DEFAULT_CONFIG["requiredTags"]}})


def _config(args: ResourceValidationArgs | StackValidationArgs, key: str) -> Any:
    return (args.get_config() or {}).get(key, DEFAULT_CONFIG[key])


def _stack(urn: str) -> str:
    return urn.split("::")[0].rsplit(":", 1)[-1]


@functools.lru_cache(maxsize=None)
def stack_file_environment(stack: str, directory: Path) -> str:
    """`eks-platform:environment` of `Pulumi.<stack>.yaml`; a stack whose file cannot tell is judged as prod."""
    try:
        environment = yaml.safe_load((directory / f"Pulumi.{stack}.yaml").read_text())["config"]["eks-platform:environment"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return "prod"
    return environment if environment in ENVIRONMENTS else "prod"


def _is_prod(args: ResourceValidationArgs | StackValidationArgs, urn: str) -> bool:
    """Prod is the stack's environment, never its name: the policy config's `environment`, else its stack file."""
    configured = (args.get_config() or {}).get("environment")
    environment = configured if configured in ENVIRONMENTS else stack_file_environment(_stack(urn), STACK_FILES)
    return environment == "prod"


def _for_type(type_: str, check: Callable[[ResourceValidationArgs, ReportViolation], None]):
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type == type_:
            check(args, report)
    return validate


def _eks_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    configs = args.props.get("encryptionConfig") or {}
    configs = configs if isinstance(configs, list) else [configs]
    if not any("secrets" in (c.get("resources") or []) and (c.get("provider") or {}).get("keyArn") for c in configs):
        report("EKS secrets must be envelope-encrypted with a KMS key (encryptionConfig for 'secrets').", None)


def _eks_logs(args: ResourceValidationArgs, report: ReportViolation) -> None:
    missing = LOG_TYPES - set(args.props.get("enabledClusterLogTypes") or [])
    if missing:
        report(f"EKS control-plane logs must all be on; missing: {', '.join(sorted(missing))}.", None)


def _eks_endpoint(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not _is_prod(args, args.urn):
        return
    vpc = args.props.get("vpcConfig") or {}
    cidrs = vpc.get("publicAccessCidrs") or []
    if vpc.get("endpointPublicAccess", True) and (not cidrs or "0.0.0.0/0" in cidrs):
        report("A prod EKS API endpoint must not be public to 0.0.0.0/0: list CIDRs or make it private.", None)


def _imdsv2(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if (args.props.get("metadataOptions") or {}).get("httpTokens") != "required":
        report("Launch templates must require IMDSv2 (metadataOptions.httpTokens = required).", None)
    for mapping in args.props.get("blockDeviceMappings") or []:
        ebs = mapping.get("ebs") or {}
        if ebs and str(ebs.get("encrypted")).lower() != "true":
            report(f"EBS volume {mapping.get('deviceName')} of the launch template must be encrypted.", None)


def _ebs_volume(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.props.get("encrypted") is not True:
        report("EBS volumes must be encrypted.", None)


def _helm_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.props.get("version"):
        report(f"Helm release of chart '{args.props.get('chart')}' must pin a chart version.", None)


def _required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:") or args.resource_type.startswith("aws:index/"):
        return
    if "tagsAll" not in args.props and "tags" not in args.props:
        return
    tags = {**(args.props.get("tags") or {}), **(args.props.get("tagsAll") or {})}
    missing = [t for t in _config(args, "requiredTags") if t not in tags]
    if missing:
        report(f"Missing required tags: {', '.join(missing)}.", None)


RETIRED_CHARTS = {"ingress-nginx": "ingress-nginx stopped receiving fixes in March 2026; set "
                                    "eks-platform:ingress.controller: gateway (Envoy Gateway), or accept the risk "
                                    "with eks-platform:ingress.acceptRetiredController: true"}
RETIRED_RISK_ACCEPTED = "eks-platform: retired controller accepted (ingress.acceptRetiredController)"


def _retired_ingress_in_prod(args: ResourceValidationArgs, report: ReportViolation) -> None:
    chart = str(args.props.get("chart", "")).rsplit("/", 1)[-1]
    if chart in RETIRED_CHARTS and _is_prod(args, args.urn) and args.props.get("description") != RETIRED_RISK_ACCEPTED:
        report(f"Prod runs a retired ingress controller: {RETIRED_CHARTS[chart]}.", None)


DATA_TYPES = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:route53/zone:Zone")


def _prod_data_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type in DATA_TYPES and _is_prod(args, args.urn) and not args.opts.protect:
        report(f"{args.name} holds data in prod and must be protected (`protect`): a destroy or a replacement "
               "would lose it.", None)


def _resources(args: StackValidationArgs, type_: str) -> list:
    return [r for r in args.resources if r.resource_type == type_]


def _bucket_controls(args: StackValidationArgs, report: ReportViolation) -> None:
    for bucket in _resources(args, "aws:s3/bucket:Bucket"):
        def covered(type_: str, ok: Callable[[dict], bool] = lambda props: True) -> bool:
            return any(bucket in r.property_dependencies.get("bucket", []) and ok(r.props)
                       for r in _resources(args, type_))
        if not covered("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
            report(f"S3 bucket {bucket.name} must have default encryption.", bucket.urn)
        if not covered("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                       lambda p: all(p.get(k) is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                                                  "ignorePublicAcls", "restrictPublicBuckets"))):
            report(f"S3 bucket {bucket.name} must block all public access.", bucket.urn)


def _spot_only_in_prod(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = [g for g in _resources(args, "aws:eks/nodeGroup:NodeGroup") if "NVIDIA" not in (g.props.get("amiType") or "")]
    if groups and _is_prod(args, groups[0].urn) and \
            all(g.props.get("capacityType") == "SPOT" for g in groups):
        report("Prod general capacity is SPOT only: one reclaim wave can take every node.", None)


def _nat_per_zone(args: StackValidationArgs, report: ReportViolation) -> None:
    zones = {s.props.get("availabilityZone") for s in _resources(args, "aws:ec2/subnet:Subnet")}
    nats = _resources(args, "aws:ec2/natGateway:NatGateway")
    if nats and len(nats) < len(zones):
        report(f"{len(nats)} NAT gateway(s) for {len(zones)} zones: losing that zone cuts egress for all.", None)


def _resource_policy(name: str, description: str, validate, schema: PolicyConfigSchema | None = None):
    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY, config_schema=schema)


MANDATORY: list = [
    _resource_policy("eks-secrets-encrypted", "EKS secrets are envelope-encrypted with KMS.",
                     _for_type("aws:eks/cluster:Cluster", _eks_encryption)),
    _resource_policy("eks-control-plane-logs", "All five EKS control-plane log types are on.",
                     _for_type("aws:eks/cluster:Cluster", _eks_logs)),
    _resource_policy("eks-no-open-endpoint-in-prod", "No prod EKS API endpoint open to 0.0.0.0/0.",
                     _for_type("aws:eks/cluster:Cluster", _eks_endpoint), _PROD_SCHEMA),
    _resource_policy("launch-template-imdsv2", "Launch templates require IMDSv2 and encrypt their volumes.",
                     _for_type("aws:ec2/launchTemplate:LaunchTemplate", _imdsv2)),
    _resource_policy("ebs-encrypted", "EBS volumes are encrypted.", _for_type("aws:ebs/volume:Volume", _ebs_volume)),
    _resource_policy("helm-chart-version-pinned", "Helm releases pin a chart version.",
                     _for_type("kubernetes:helm.sh/v3:Release", _helm_pinned)),
    _resource_policy("aws-required-tags", "AWS resources carry the required tags.", _required_tags, _TAGS_SCHEMA),
    _resource_policy("prod-data-protected", "In prod, buckets, KMS keys and hosted zones are protected.",
                     _prod_data_protected, _PROD_SCHEMA),
    ResourceValidationPolicy(name="retired-ingress-controller", description="Prod runs no retired ingress "
                             "controller unless the stack accepted the risk.",
                             validate=_for_type("kubernetes:helm.sh/v3:Release", _retired_ingress_in_prod),
                             enforcement_level=EnforcementLevel.MANDATORY, config_schema=_PROD_SCHEMA),
    StackValidationPolicy(name="s3-bucket-controls", description="S3 buckets are encrypted and block public access.",
                          validate=_bucket_controls, enforcement_level=EnforcementLevel.MANDATORY),
]

ADVISORY: list = [
    StackValidationPolicy(name="prod-not-spot-only", description="Prod general capacity is not SPOT only.",
                          validate=_spot_only_in_prod, enforcement_level=EnforcementLevel.ADVISORY,
                          config_schema=_PROD_SCHEMA),
    StackValidationPolicy(name="nat-gateway-per-zone", description="A NAT gateway per availability zone.",
                          validate=_nat_per_zone, enforcement_level=EnforcementLevel.ADVISORY),
]


def all_policies() -> Iterable:
    return [*MANDATORY, *ADVISORY]

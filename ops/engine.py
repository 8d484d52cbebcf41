"""Offline evaluation of a stack on Pulumi's mock engine (`pulumi.runtime.set_mocks`).

Runs the real program path (Pulumi config -> `stacks.config.load` -> `stacks.platform.build`) with
no CLI, plugins or cloud, and records every registration (type, name, inputs, options, parent).
The eks remote components register as one component each; `PlatformMocks` hands back outputs of the
shape the SDK expects, resource references included, so code that reads them runs for real.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import inspect
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from google.protobuf import struct_pb2
from google.protobuf.json_format import MessageToDict
from pulumi.runtime import mocks, rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime import resource as resource_runtime
from pulumi.runtime.proto import resource_pb2, source_pb2
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.settings import _get_rpc_manager, set_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from stacks.config import Settings, as_pulumi_config_value, load_raw, read_pulumi_config
from stacks.platform import build
from stacks.problems import ConfigError
from stacks.secure import SecureMap, SecureValue

# The Pulumi SDK's private names this evaluation depends on, each for what no public API offers. An SDK upgrade
# that removes one fails `evaluate` (and tests/test_sdk_internals.py) with the name, never deep in a run.
PRIVATE_SDK_NAMES = {
    "pulumi.runtime.rpc._special_sig_key": "tells a resource reference or a secret in serialized properties",
    "pulumi.runtime.rpc._special_resource_sig": "builds the resource references the eks components' outputs hold",
    "pulumi.runtime.rpc._special_secret_sig": "finds secrets in registered inputs (`ops plan --json` redacts them)",
    "pulumi.runtime.mocks._resolve_callbacks": "runs a registration's transforms, as the engine would, under mocks",
    "pulumi.runtime.mocks.MockMonitor.ResourceRegistration": "records a registration in the stock mock monitor",
    "pulumi.runtime.settings._get_rpc_manager": "drops the RPC state a run that stopped with an error leaves",
    "pulumi.runtime.settings.SETTINGS": "drops the outputs a run that stopped with an error leaves",
    "pulumi.runtime.settings.set_root_resource": "gives each evaluation a root stack of its own",
    "pulumi.runtime.stack.run_pulumi_func": "runs the program as `pulumi up` does: waits for every registration",
    "pulumi.runtime.sync_await._sync_await": "drives the SDK's event loop from synchronous code",
    "pulumi.runtime.sync_await._ensure_event_loop": "the SDK's event loop, on the monitor's calls too",
    "pulumi.runtime.config.set_all_config": "hands the stack file's config to the program as the CLI would",
    "pulumi.runtime.config.CONFIG": "reads every config key the stack has (stacks.config.read_pulumi_config)",
    "pulumi.runtime.config.get_config_env": "reads the config keys the CLI passes in the environment",
    "pulumi.runtime.resource._get_stack_trace": "skipped: the source positions of registrations are for the real "
                                                "engine's diagnostics, and capturing them was a tenth of a run",
}


def missing_sdk_names(names: dict[str, str] = PRIVATE_SDK_NAMES) -> list[str]:
    """The names of `names` this Pulumi SDK no longer has, each with what it was for."""
    missing = []
    for dotted, why in names.items():
        parts = dotted.split(".")
        for split in range(len(parts) - 1, 0, -1):
            try:
                found: Any = importlib.import_module(".".join(parts[:split]))
            except ImportError:
                continue
            try:
                for attribute in parts[split:]:
                    found = getattr(found, attribute)
            except AttributeError:
                missing.append(f"{dotted} ({why})")
            break
        else:
            missing.append(f"{dotted} ({why})")
    return missing


PROJECT = "eks-platform"
ACCOUNT = "123456789012"
GPUS_PER_INSTANCE = {"xlarge": 1, "2xlarge": 1, "4xlarge": 1, "8xlarge": 1, "16xlarge": 1,
                     "12xlarge": 4, "24xlarge": 4, "48xlarge": 8}


@dataclass
class Registration:
    """One resource registration as the engine received it."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    protect: bool
    retain_on_delete: bool
    deleted_with: str
    ignore_changes: list[str]
    provider: str
    providers: dict[str, str] = field(default_factory=dict)
    after_delete_hooks: list[str] = field(default_factory=list)
    before_delete_hooks: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    read: bool = False
    alias_parents: list[str] = field(default_factory=list)  # the former parents its aliases name

    def depends_on(self, other: "Registration") -> bool:
        return other.urn in self.dependencies


def _strip_resource_refs(value: Any) -> Any:
    """Resource references become their URN, so no Resource is built on the monitor's worker thread
    (the stock monitor does, and fails with "attached to a different loop")."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_resource_sig:
            return value.get("urn")
        return {k: _strip_resource_refs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip_resource_refs(v) for v in value]
    return value


def _whole_numbers(value: Any) -> Any:
    """Protobuf carries every number as a double: give back the ints the program wrote."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _ref(urn: str, id_: str | None = None) -> dict[str, Any]:
    ref = {rpc._special_sig_key: rpc._special_resource_sig, "urn": urn, "packageVersion": ""}
    if id_ is not None:
        ref["id"] = id_
    return ref


class PlatformMocks(pulumi.runtime.Mocks):
    """Realistic outputs for the AWS resources and lookups the platform uses."""

    def __init__(self, region: str, account: str = ACCOUNT):
        self.region = region
        self.account = account

    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{self.region}{c}" for c in "abcdef"]
            return {"id": self.region, "names": names, "zoneIds": [f"use1-az{i}" for i in range(1, 7)]}
        if token == "aws:index/getRegion:getRegion":
            return {"id": self.region, "name": self.region, "region": self.region}
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account, "arn": f"arn:aws:iam::{self.account}:user/ci", "userId": "AIDA", "id": self.account}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:route53/getZone:getZone":
            return {"id": "Z0MOCKZONE", "zoneId": "Z0MOCKZONE", "name": args.args["name"], "privateZone": False}
        if token == "aws:lb/getHostedZoneId:getHostedZoneId":
            return {"id": "Z26RNL4JYFTOTI"}
        if token == "aws:eks/getAddonVersion:getAddonVersion":
            addon, version = args.args["addonName"], args.args["kubernetesVersion"]
            return {"id": addon, "addonName": addon, "kubernetesVersion": version,
                    "version": f"v{version}.0-{addon}-eksbuild.1"}
        if token == "aws:ec2/getInstanceType:getInstanceType":
            size = args.args["instanceType"].split(".", 1)[1]
            return {"instanceType": args.args["instanceType"],
                    "gpuses": [{"count": GPUS_PER_INSTANCE.get(size, 1), "manufacturer": "NVIDIA", "name": "mock",
                                "memorySize": 24576}]}
        return {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        name, inputs = args.name, dict(args.inputs)
        kind = args.typ.split(":")[-1]
        id_ = f"{kind.lower()}-{name}"
        arn = f"arn:aws:{args.typ.split(':')[1].split('/')[0]}:{self.region}:{self.account}:{kind.lower()}/{name}"
        computed: dict[str, Any] = {"arn": arn}
        if args.typ == "aws:iam/role:Role":
            computed = {"arn": f"arn:aws:iam::{self.account}:role/{name}", "name": inputs.get("name", name)}
        elif args.typ == "aws:kms/key:Key":
            computed = {"arn": f"arn:aws:kms:{self.region}:{self.account}:key/{id_}", "keyId": id_}
        elif args.typ == "aws:ec2/launchTemplate:LaunchTemplate":
            computed = {"arn": arn, "latestVersion": 1, "defaultVersion": 1}
        elif args.typ == "kubernetes:core/v1:Service":
            hostname = f"{name.rsplit('-', 1)[0]}-0123456789abcdef.elb.{self.region}.amazonaws.com"
            computed = {"status": {"loadBalancer": {"ingress": [{"hostname": hostname}]}}}
        elif args.typ == "aws:acm/certificate:Certificate":
            domain = inputs["domainName"]
            computed = {"arn": arn, "domainValidationOptions": [
                {"domainName": d, "resourceRecordName": f"_x1.{domain}.", "resourceRecordType": "CNAME",
                 "resourceRecordValue": "_x2.acm-validations.aws."} for d in [domain, *inputs.get("subjectAlternativeNames", [])]]}
        elif args.typ == "aws:route53/record:Record":
            computed = {"fqdn": inputs["name"].rstrip(".")}
        elif args.typ == "aws:route53/zone:Zone":
            computed = {"arn": arn, "zoneId": "Z0CREATED", "nameServers": ["ns-1.awsdns-01.org", "ns-2.awsdns-02.net"]}
        elif args.typ == "random:index/randomPassword:RandomPassword":
            computed = {"result": f"generated-{name}-" + "x" * max(inputs.get("length", 16) - 20, 0)}
        elif args.typ == "aws:s3/bucket:Bucket":
            computed = {"arn": f"arn:aws:s3:::{inputs.get('bucket', name)}", "bucket": inputs.get("bucket", name)}
        elif args.typ == "aws:cloudwatch/logGroup:LogGroup":
            computed = {"arn": f"arn:aws:logs:{self.region}:{self.account}:log-group:{inputs.get('name', name)}"}
        return id_, {**inputs, **computed}


class PlatformMonitor(mocks.MockMonitor):
    """The stock mock monitor, plus a record of every registration and outputs for eks components."""

    def __init__(self, mocks_: PlatformMocks):
        super().__init__(mocks_)
        self.registrations: list[Registration] = []
        self.transform_chains: dict[str, list[Callable]] = {}

    def _record(self, registration: Registration, id_: str | None, state: dict) -> None:
        registration.outputs = state
        self.resources[registration.urn] = mocks.MockMonitor.ResourceRegistration(registration.urn, id_, state)
        self.registrations.append(registration)

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        _ensure_event_loop()
        plain = struct_pb2.Struct()
        plain.update(_strip_resource_refs(MessageToDict(request.object)))
        inputs = _whole_numbers(rpc.deserialize_properties(plain))
        own_transforms = mocks._resolve_callbacks(request.transforms)
        chain = [*self.transform_chains.get(request.parent, []), *own_transforms]
        self.transform_chains[urn] = chain
        inputs = self._transformed(request.custom, request.type, request.name, inputs, chain)
        registration = Registration(
            urn=urn, type=request.type, name=request.name, custom=request.custom, inputs=inputs,
            parent=request.parent, dependencies=list(request.dependencies), protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete), deleted_with=request.deletedWith,
            ignore_changes=list(request.ignoreChanges), provider=request.provider,
            providers=dict(request.providers),
            after_delete_hooks=list(request.hooks.after_delete),
            before_delete_hooks=list(request.hooks.before_delete),
            alias_parents=[a.spec.parentUrn for a in request.aliases if a.spec.parentUrn],
        )
        if request.type == "eks:index:Cluster":
            id_, state = None, self._cluster_outputs(registration)
        elif request.type == "eks:index:ManagedNodeGroup":
            id_, state = None, self._node_group_outputs(registration)
        elif request.custom:
            id_, state = self.mocks.new_resource(mocks.MockResourceArgs(
                typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
                resource_id=request.importId, custom=True))
        else:
            id_, state = None, {}
        self._record(registration, id_, state)
        obj = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj)

    def ReadResource(self, request):
        """A `Resource.get`: recorded like a registration (with the id it reads) so tests see its dependencies."""
        response = super().ReadResource(request)
        registration = Registration(
            urn=response.urn, type=request.type, name=request.name, custom=True,
            inputs={"id": request.id}, parent=request.parent, dependencies=list(request.dependencies),
            protect=False, retain_on_delete=False, deleted_with="", ignore_changes=[], provider=request.provider,
            outputs=self.resources[response.urn].state, read=True,
        )
        self.registrations.append(registration)
        return response

    @staticmethod
    def _transformed(custom: bool, type_: str, name: str, inputs: dict, transforms: list[Callable]) -> dict:
        """The inputs after `transforms`, as the engine runs them: a resource's own and every ancestor's."""
        for transform in transforms:
            result = transform(pulumi.ResourceTransformArgs(
                custom=custom, type_=type_, name=name, props=inputs, opts=pulumi.ResourceOptions()))
            if inspect.isawaitable(result):
                result = _sync_await(result)
            if result is not None:
                inputs = dict(result.props)
        return inputs

    def _child(self, parent: Registration, type_: str, name: str, inputs: dict, custom: bool = True) -> dict:
        """Register a resource the remote component would create, after its transforms and its ancestors'."""
        inputs = self._transformed(custom, type_, name, inputs, self.transform_chains.get(parent.urn, []))
        urn = self.make_urn(parent.urn, type_, name)
        id_ = f"{name}-id"
        child = Registration(urn=urn, type=type_, name=name, custom=custom, inputs=inputs, parent=parent.urn,
                             dependencies=[], protect=parent.protect, retain_on_delete=False, deleted_with="",
                             ignore_changes=[], provider="")
        self._record(child, id_, inputs)
        return _ref(urn, id_)

    def _cluster_outputs(self, reg: Registration) -> dict:
        region, name = self.mocks.region, reg.inputs.get("name", reg.name)
        issuer = f"https://oidc.eks.{region}.amazonaws.com/id/{name.upper()}"
        endpoint = f"https://{name}.gr7.{region}.eks.amazonaws.com"
        cluster = self._child(reg, "aws:eks/cluster:Cluster", f"{reg.name}-eksCluster", {
            "name": name, "arn": f"arn:aws:eks:{region}:{self.mocks.account}:cluster/{name}", "endpoint": endpoint,
            "version": reg.inputs.get("version"), "certificateAuthority": {"data": "Q0VSVA=="},
            "identities": [{"oidcs": [{"issuer": issuer}]}],
            "vpcConfig": {"clusterSecurityGroupId": "sg-cluster", "subnetIds": reg.inputs.get("privateSubnetIds"),
                          "endpointPrivateAccess": reg.inputs.get("endpointPrivateAccess"),
                          "endpointPublicAccess": reg.inputs.get("endpointPublicAccess"),
                          "publicAccessCidrs": reg.inputs.get("publicAccessCidrs")},
        })
        oidc_arn = f"arn:aws:iam::{self.mocks.account}:oidc-provider/{issuer.removeprefix('https://')}"
        oidc = self._child(reg, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", f"{reg.name}-oidcProvider",
                           {"arn": oidc_arn, "url": issuer, "clientIdLists": ["sts.amazonaws.com"]})
        role = self._child(reg, "aws:iam/role:Role", f"{reg.name}-eksRole",
                           {"arn": f"arn:aws:iam::{self.mocks.account}:role/{name}-eks", "name": f"{name}-eks"})
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "aws",
                      "clusters": [{"name": "kubernetes", "cluster": {"server": endpoint,
                                                                     "certificate-authority-data": "Q0VSVA=="}}],
                      "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
                      "users": [{"name": "aws", "user": {"exec": {
                          "apiVersion": "client.authentication.k8s.io/v1beta1", "command": "aws",
                          "args": ["eks", "get-token", "--cluster-name", name]}}}]}
        provider = self._child(reg, "pulumi:providers:kubernetes", f"{reg.name}-eks-k8s",
                               {"kubeconfig": json.dumps(kubeconfig)})
        return {
            "eksCluster": cluster, "kubeconfig": kubeconfig, "kubeconfigJson": json.dumps(kubeconfig),
            "oidcProviderArn": oidc_arn, "oidcProviderUrl": issuer.removeprefix("https://"), "oidcIssuer": issuer,
            "clusterSecurityGroupId": "sg-cluster", "nodeSecurityGroupId": "sg-node",
            "core": {"cluster": cluster, "clusterIamRole": role, "endpoint": endpoint, "instanceRoles": [],
                     "nodeGroupOptions": {}, "provider": provider, "oidcProvider": oidc,
                     "subnetIds": reg.inputs.get("privateSubnetIds", []), "vpcId": reg.inputs.get("vpcId", "")},
        }

    def _node_group_outputs(self, reg: Registration) -> dict:
        props = {k: v for k, v in reg.inputs.items() if k not in ("cluster", "nodeRole", "ignoreScalingChanges")}
        props["clusterName"] = reg.inputs.get("cluster")
        props["nodeRoleArn"] = reg.inputs.get("nodeRole")
        props["nodeGroupName"] = f"{reg.name}-ng"
        props["resources"] = [{"autoscalingGroups": [{"name": f"eks-{reg.name}-asg"}]}]
        node_group = self._child(reg, "aws:eks/nodeGroup:NodeGroup", reg.name, props)
        return {"nodeGroup": node_group}


@dataclass
class Evaluation:
    """What one offline run of a stack registered and exported."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    error: ConfigError | pulumi.RunError | None = None
    settings: Settings | None = None

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def children(self, parent: Registration) -> list[Registration]:
        return [r for r in self.registrations if r.parent == parent.urn]


def pulumi_config(values: dict[str, Any]) -> dict[str, str]:
    """Config as Pulumi hands it to a program: structured values as JSON text, scalars as strings."""
    return {k: as_pulumi_config_value(v) for k, v in values.items()}


def _settle() -> None:
    """After a run that stopped with an error: drop its leftover outputs and RPC state (module-level in the
    SDK), so that its error is not raised again inside the next run."""
    loop = _ensure_event_loop()
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        _sync_await(asyncio.gather(*pending, return_exceptions=True))
    runtime_settings.SETTINGS.outputs.clear()
    _get_rpc_manager().clear()


@functools.lru_cache(maxsize=1)
def _missing_once() -> tuple[str, ...]:
    missing = tuple(missing_sdk_names())
    if not missing:
        resource_runtime._get_stack_trace = source_pb2.StackTrace  # an empty trace: no source positions offline
    return missing


def evaluate(stack: str, config: dict[str, Any], preview: bool = False,
             logger: logging.Logger | None = None) -> Evaluation:
    """Run the platform program for `stack` with `config` (`ns:key` -> value) under mocks.

    A configuration error is returned in `Evaluation.error` (with what was registered: nothing);
    any other error is raised as is."""
    gone = _missing_once()
    if gone:
        raise RuntimeError(f"this Pulumi SDK ({importlib.metadata.version('pulumi')}) lacks "
                           f"what the offline evaluation uses: {'; '.join(gone)}; pin the pulumi version of "
                           "requirements.txt or adapt ops/engine.py")
    region = str(config.get("aws:region", "us-east-1"))
    account = str(config.get("eks-platform:accountId", ACCOUNT))
    monitor = PlatformMonitor(PlatformMocks(region, account if account.isdigit() and len(account) == 12 else ACCOUNT))
    set_root_resource(None)
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=logger)
    set_all_config(pulumi_config(config), [k for k, v in config.items() if isinstance(v, (SecureValue, SecureMap))])

    outputs: dict[str, Any] = {}
    loaded: list[Settings] = []

    def run() -> None:
        loaded.append(load_raw(stack, read_pulumi_config()))
        outputs.update(build(loaded[0]))

    try:
        _sync_await(run_pulumi_func(run))
    except (ConfigError, pulumi.RunError) as error:  # RunError: the program stopped cleanly with a message
        _settle()
        return Evaluation(stack, list(monitor.registrations), {}, set(), error)
    resolved, secret = {}, set()
    for key, value in outputs.items():
        output = pulumi.Output.from_input(value)
        resolved[key] = _sync_await(output.future())
        if _sync_await(output.is_secret()):
            secret.add(key)
    return Evaluation(stack, list(monitor.registrations), resolved, secret, settings=loaded[0])

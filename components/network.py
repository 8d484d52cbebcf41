"""Network: the VPC an EKS cluster runs in.

Per availability zone a small public subnet (load balancers, NAT) and a large private subnet (nodes
and pods: the VPC CNI gives every pod a VPC address), NAT gateways (one, or one per zone), a private
route table per zone, an S3 gateway endpoint so image layers and logs skip the NAT, and VPC flow logs.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Literal, Sequence

import pulumi
import pulumi_aws as aws

from components.naming import iam_name_prefix


@dataclass(frozen=True)
class SubnetPlan:
    availability_zone_index: int
    public_cidr: str
    private_cidr: str


def plan_subnets(vpc_cidr: str, zone_count: int) -> list[SubnetPlan]:
    """Deterministic subnet plan: the VPC splits into 8 equal blocks; block i is zone i's private
    subnet; the last block splits into 8 again, and piece i is zone i's public subnet."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=3))
    public = list(blocks[-1].subnets(prefixlen_diff=3))
    return [SubnetPlan(i, str(public[i]), str(blocks[i])) for i in range(zone_count)]


# Zone IDs where EKS refuses control-plane subnets (UnsupportedAvailabilityZoneException). Zone names
# map to different physical zones in each account; zone IDs do not.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")


def flow_log_trust_policy(account: str, region: str) -> str:
    """Only VPC Flow Logs acting for this account's flow logs in this region may assume the role."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
        "Condition": {"StringEquals": {"aws:SourceAccount": account},
                      "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{region}:{account}:vpc-flow-log/*"}}}]})


class TooFewZones(ValueError):
    """The region offers fewer zones EKS supports than the stack asks for."""


def supported_zones(names: Sequence[str], zone_ids: Sequence[str]) -> list[str]:
    """The zone names whose zone IDs accept EKS control-plane subnets."""
    return [name for name, zone_id in zip(names, zone_ids) if zone_id not in EKS_UNSUPPORTED_ZONE_IDS]


def pick_zones(names: Sequence[str], zone_ids: Sequence[str], count: int) -> list[str]:
    """The first `count` zones EKS supports, by name; fails naming the config key when there are too few."""
    usable = supported_zones(names, zone_ids)
    if len(usable) < count:
        raise TooFewZones(f"eks-platform:network.availabilityZones: {count} zones wanted, but this region offers "
                         f"only {len(usable)} that EKS supports ({', '.join(usable)})")
    return usable[:count]


def _zones_or_stop(names: Sequence[str], zone_ids: Sequence[str], count: int) -> list[str]:
    try:
        return pick_zones(names, zone_ids, count)
    except TooFewZones as error:
        raise pulumi.RunError(str(error))  # a clean stop with the message, no traceback


@dataclass
class NetworkArgs:
    cidr: str
    zone_count: int
    cluster_name: str
    nat_gateways: Literal["single", "perAz"] = "perAz"
    flow_log_retention_days: int = 30
    protect: bool = False


class Network(pulumi.ComponentResource):
    vpc: aws.ec2.Vpc
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    nat_gateways: list[aws.ec2.NatGateway]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        found = aws.get_availability_zones_output(
            state="available",
            filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        zones = pulumi.Output.all(found.names, found.zone_ids).apply(
            lambda a: _zones_or_stop(a[0], a[1], args.zone_count))
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        self.vpc = aws.ec2.Vpc(
            name, cidr_block=args.cidr, enable_dns_support=True, enable_dns_hostnames=True,
            tags={"Name": name}, opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        igw = aws.ec2.InternetGateway(name, vpc_id=self.vpc.id, tags={"Name": name}, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public", vpc_id=self.vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags={"Name": f"{name}-public"}, opts=child,
        )

        public_subnets, private_subnets, private_routes = [], [], []
        self.nat_gateways = []
        for plan in plan_subnets(args.cidr, args.zone_count):
            zone = zones.apply(lambda names, i=plan.availability_zone_index: names[i])
            suffix = f"{name}-{plan.availability_zone_index}"
            public = aws.ec2.Subnet(
                f"{suffix}-public", vpc_id=self.vpc.id, cidr_block=plan.public_cidr, availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{suffix}-public", "kubernetes.io/role/elb": "1", **cluster_tag}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{suffix}-public", subnet_id=public.id,
                                          route_table_id=public_routes.id, opts=child)
            private = aws.ec2.Subnet(
                f"{suffix}-private", vpc_id=self.vpc.id, cidr_block=plan.private_cidr, availability_zone=zone,
                tags={"Name": f"{suffix}-private", "kubernetes.io/role/internal-elb": "1", **cluster_tag}, opts=child,
            )
            if args.nat_gateways == "perAz" or not self.nat_gateways:
                eip = aws.ec2.Eip(f"{suffix}-nat", domain="vpc", tags={"Name": f"{suffix}-nat"}, opts=child)
                self.nat_gateways.append(aws.ec2.NatGateway(
                    f"{suffix}", allocation_id=eip.id, subnet_id=public.id, tags={"Name": suffix},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                ))
            routes = aws.ec2.RouteTable(
                f"{suffix}-private", vpc_id=self.vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": self.nat_gateways[-1].id}],
                tags={"Name": f"{suffix}-private"}, opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{suffix}-private", subnet_id=private.id, route_table_id=routes.id,
                                          opts=child)
            public_subnets.append(public)
            private_subnets.append(private)
            private_routes.append(routes)

        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=self.vpc.id, vpc_endpoint_type="Gateway",
            service_name=region.apply(lambda r: f"com.amazonaws.{r}.s3"),
            route_table_ids=[public_routes.id, *[r.id for r in private_routes]],
            tags={"Name": f"{name}-s3"}, opts=child,
        )
        self._flow_logs(name, args.flow_log_retention_days, region)

        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.register_outputs({
            "vpcId": self.vpc.id,
            "publicSubnetIds": self.public_subnet_ids,
            "privateSubnetIds": self.private_subnet_ids,
        })

    def _flow_logs(self, name: str, retention_days: int, region: pulumi.Output[str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", name=f"/aws/vpc/{name}/flow-logs", retention_in_days=retention_days, opts=child,
        )
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        role = aws.iam.Role(
            f"{name}-flow-logs",
            name_prefix=iam_name_prefix(f"{name}-flow-logs"),
            assume_role_policy=pulumi.Output.all(identity.account_id, region).apply(
                lambda a: flow_log_trust_policy(account=a[0], region=a[1])),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs", role=role.id,
            policy=log_group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow",
                               "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                                          "logs:DescribeLogGroups", "logs:DescribeLogStreams"],
                               "Resource": [arn, f"{arn}:*"]}],
            })),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs", vpc_id=self.vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn, iam_role_arn=role.arn, max_aggregation_interval=60, opts=child,
        )

"""The VPC: subnet plan, NAT gateways per environment, subnet tags, S3 endpoint, flow logs."""

from __future__ import annotations

import ipaddress
import json

import pytest

from components.network import pick_zones, plan_subnets

SUBNET = "aws:ec2/subnet:Subnet"


def test_subnet_plan_for_a_16_with_three_zones():
    plan = plan_subnets("10.40.0.0/16", 3)
    assert [(p.private_cidr, p.public_cidr) for p in plan] == [
        ("10.40.0.0/19", "10.40.224.0/22"),
        ("10.40.32.0/19", "10.40.228.0/22"),
        ("10.40.64.0/19", "10.40.232.0/22"),
    ]


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "172.16.0.0/18", "192.168.16.0/20"])
@pytest.mark.parametrize("zones", [2, 3, 6])
def test_subnet_plan_never_overlaps_and_stays_inside_the_vpc(cidr, zones):
    vpc = ipaddress.ip_network(cidr)
    subnets = [ipaddress.ip_network(c) for p in plan_subnets(cidr, zones) for c in (p.private_cidr, p.public_cidr)]
    assert all(s.subnet_of(vpc) for s in subnets)
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    private, public = subnets[0], subnets[1]
    assert private.num_addresses == vpc.num_addresses // 8 == 8 * public.num_addresses


def test_registered_subnets_follow_the_plan(any_stack):
    cidr = any_stack.one("aws:ec2/vpc:Vpc").inputs["cidrBlock"]
    zones = len(any_stack.outputs["privateSubnetIds"])
    registered = {r.name: r.inputs["cidrBlock"] for r in any_stack.of_type(SUBNET)}
    expected = {}
    for p in plan_subnets(cidr, zones):
        prefix = f"{any_stack.outputs['clusterName']}-{p.availability_zone_index}"
        expected[f"{prefix}-private"] = p.private_cidr
        expected[f"{prefix}-public"] = p.public_cidr
    assert registered == expected


def test_one_subnet_pair_per_zone_in_distinct_zones(any_stack):
    zones = [r.inputs["availabilityZone"] for r in any_stack.of_type(SUBNET) if r.name.endswith("-private")]
    assert len(zones) == len(set(zones)) == {"dev": 2, "staging": 3, "prod": 3}[any_stack.stack]


@pytest.mark.parametrize("stack, nat_count", [("dev", 1), ("staging", 3), ("prod", 3)])
def test_nat_gateways_per_environment(stack, nat_count, request):
    evaluation = request.getfixturevalue(stack)
    assert len(evaluation.of_type("aws:ec2/natGateway:NatGateway")) == nat_count
    assert len(evaluation.of_type("aws:ec2/eip:Eip")) == nat_count


def test_each_private_zone_routes_through_its_own_nat_in_prod(prod):
    nats = {r.name: r for r in prod.of_type("aws:ec2/natGateway:NatGateway")}
    for zone in range(3):
        table = prod.one("aws:ec2/routeTable:RouteTable", f"acme-prod-{zone}-private")
        assert table.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "natGatewayId": f"natgateway-acme-prod-{zone}"}]
        nat = nats[f"acme-prod-{zone}"]
        assert nat.inputs["subnetId"] == f"subnet-acme-prod-{zone}-public"


def test_dev_shares_one_nat(dev):
    routes = [r.inputs["routes"][0]["natGatewayId"] for r in dev.of_type("aws:ec2/routeTable:RouteTable")
              if r.name.endswith("-private")]
    assert routes == ["natgateway-acme-dev-0"] * 2


def test_subnet_tags_for_load_balancers_and_the_cluster(any_stack):
    cluster_tag = f"kubernetes.io/cluster/{any_stack.outputs['clusterName']}"
    for subnet in any_stack.of_type(SUBNET):
        tags = subnet.inputs["tags"]
        assert tags[cluster_tag] == "shared"
        if subnet.name.endswith("-public"):
            assert tags.get("kubernetes.io/role/elb") == "1" and "kubernetes.io/role/internal-elb" not in tags
            assert subnet.inputs.get("mapPublicIpOnLaunch") is False
        else:
            assert tags.get("kubernetes.io/role/internal-elb") == "1" and "kubernetes.io/role/elb" not in tags


def test_vpc_has_dns_and_an_s3_gateway_endpoint_on_every_route_table(any_stack):
    vpc = any_stack.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["enableDnsSupport"] and vpc.inputs["enableDnsHostnames"]
    endpoint = any_stack.one("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert endpoint.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    tables = {f"routetable-{r.name}" for r in any_stack.of_type("aws:ec2/routeTable:RouteTable")}
    assert set(endpoint.inputs["routeTableIds"]) == tables


@pytest.mark.parametrize("stack, days", [("dev", 7), ("staging", 30), ("prod", 90)])
def test_flow_logs_go_to_a_log_group_with_retention(stack, days, request):
    evaluation = request.getfixturevalue(stack)
    flow_log = evaluation.one("aws:ec2/flowLog:FlowLog")
    group = evaluation.one("aws:cloudwatch/logGroup:LogGroup", f"acme-{stack}-flow-logs")
    assert flow_log.inputs["trafficType"] == "ALL"
    assert flow_log.inputs["logDestination"] == group.outputs["arn"]
    assert group.inputs["retentionInDays"] == days
    role = evaluation.one("aws:iam/role:Role", f"acme-{stack}-flow-logs")
    assert '"vpc-flow-logs.amazonaws.com"' in role.inputs["assumeRolePolicy"]


def test_flow_log_role_is_assumable_only_for_this_accounts_flow_logs(prod):
    role = next(r for r in prod.of_type("aws:iam/role:Role") if r.name.endswith("-flow-logs"))
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": prod.settings.account_id},
                                      "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:us-east-1:{prod.settings.account_id}:vpc-flow-log/*"}}


def test_zones_eks_refuses_are_skipped_by_zone_id(prod):
    zones = [s.inputs["availabilityZone"] for s in prod.of_type("aws:ec2/subnet:Subnet") if s.name.endswith("-private")]
    assert zones == ["us-east-1a", "us-east-1b", "us-east-1d"]  # us-east-1c is use1-az3 in the mock account
    assert pick_zones(["x-1a", "x-1b", "x-1c"], ["use1-az1", "use1-az3", "use1-az4"], 2) == ["x-1a", "x-1c"]


def test_too_few_supported_zones_names_the_config_key():
    with pytest.raises(ValueError, match="eks-platform:network.availabilityZones: 3 zones wanted, but this region "
                                         "offers only 2 that EKS supports"):
        pick_zones(["x-1a", "x-1b", "x-1c"], ["use1-az1", "use1-az3", "use1-az4"], 3)

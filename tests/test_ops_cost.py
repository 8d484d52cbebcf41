"""`python -m ops plan <stack> --cost`: the monthly estimate from the dated price table."""

from __future__ import annotations

import io

import pytest

from tests.conftest import SILENT_BY_CHOICE

from ops import cost, plan
from stacks.config import load

PRICES = cost.PRICES["regions"]["us-east-1"]
HOURS = 730


def settings_of(stack: str, region: str = "us-east-1", **raw):
    return load(stack, {"environment": stack, "accountId": "123456789012", **SILENT_BY_CHOICE, **raw}, region)


def lines(result) -> dict[str, tuple[float, float]]:
    return {item: (at_min, at_desired) for item, at_min, at_desired in result.lines}


def test_dev_estimate_counts_control_plane_nat_nlb_spot_nodes_and_volumes():
    result = cost.estimate(settings_of("dev"))
    priced = lines(result)
    assert priced["EKS control plane (Kubernetes 1.36, standard support)"] == (pytest.approx(0.10 * HOURS),) * 2
    assert priced["public IPv4 addresses (3)"] == (pytest.approx(3 * 0.005 * HOURS),) * 2  # 1 NAT + NLB in 2 zones
    assert priced["NAT gateways (1)"] == (pytest.approx(0.045 * HOURS),) * 2
    spot = PRICES["instances"]["m7i.large"]["spot"]
    assert priced["node group general: m7i.large spot (1/2)"] == (pytest.approx(spot * HOURS),
                                                                  pytest.approx(2 * spot * HOURS))
    assert priced["monitoring volumes (30 GiB)"] == (pytest.approx(30 * 0.08),) * 2
    assert result.unknown == []
    assert result.totals[1] > result.totals[0]


def test_prod_pays_a_nat_per_zone_and_on_demand_nodes():
    priced = lines(cost.estimate(settings_of("prod")))
    assert priced["NAT gateways (3)"] == (pytest.approx(3 * 0.045 * HOURS),) * 2
    on_demand = PRICES["instances"]["m7i.large"]["onDemand"]
    assert priced["node group general: m7i.large on-demand (3/3)"][0] == pytest.approx(3 * on_demand * HOURS)


def test_unknown_instance_type_is_said_not_guessed():
    result = cost.estimate(settings_of("dev", nodeGroups={"general": {"instanceTypes": ["m8i.large"]}}))
    assert result.unknown == ["instance type m8i.large (node group general)"]
    assert not any("m8i" in item for item, *_ in result.lines)


def test_unknown_region_is_said_not_guessed():
    result = cost.estimate(settings_of("dev", region="ap-south-2"))
    assert result.lines == [] and result.unknown[0].startswith("region ap-south-2")
    assert "not priced: region ap-south-2" in cost.render(settings_of("dev", region="ap-south-2"), result)


def test_plan_cost_prints_the_dated_table_after_the_plan():
    out, err = io.StringIO(), io.StringIO()
    assert plan.main("prod", out, err, cost=True) == 0
    text = out.getvalue()
    assert "Monthly estimate for stack prod (us-east-1, prices of 2026-11-01, USD):" in text
    assert text.index("Outputs:") < text.index("Monthly estimate")
    assert "  total " in text


def test_the_control_plane_is_priced_by_its_support_phase_on_the_day():
    from datetime import date

    older = settings_of("dev", kubernetesVersion="1.34", upgradePolicy="EXTENDED")
    standard = lines(cost.estimate(older, today=date(2026, 12, 1)))
    extended = lines(cost.estimate(older, today=date(2026, 12, 2)))
    assert standard["EKS control plane (Kubernetes 1.34, standard support)"][0] == pytest.approx(0.10 * HOURS)
    assert extended["EKS control plane (Kubernetes 1.34, extended support)"][0] == pytest.approx(0.60 * HOURS)


def test_an_internal_load_balancer_has_no_public_addresses_and_the_exclusions_are_named():
    settings = settings_of("prod", ingress={"scheme": "internal"})
    result = cost.estimate(settings)
    assert lines(result)["public IPv4 addresses (3)"][0] == pytest.approx(3 * 0.005 * HOURS)  # the NAT EIPs only
    assert "NAT gateway processing ($0.045/GB)" in cost.render(settings, result)

"""`ops plan --cost`: an honest monthly estimate from the dated price table."""

from __future__ import annotations

import io
import json
import re

import pytest

from ops import cost, plan, prices
from ops.stackfiles import PROJECT_DIR
from stacks.config import load
from stacks.profiles import PROFILES
from tests.conftest import FIXTURE_STACKS, SILENT_BY_CHOICE

PRICES = cost.PRICES["regions"]["us-east-1"]
HOURS = cost.PRICES["hoursPerMonth"]


def settings_of(stack: str, region: str = "us-east-1", **raw):
    return load(stack, {"environment": stack, "accountId": "123456789012", **SILENT_BY_CHOICE, **raw}, region)


def test_every_region_has_every_price_the_estimate_uses_for_every_type_named_anywhere():
    named = {t for profile in PROFILES.values() if "nodeGroups" in profile.defaults for t in profile.defaults["nodeGroups"]["general"]["instanceTypes"]}
    for path in [*FIXTURE_STACKS.glob("Pulumi.*.yaml"), PROJECT_DIR / "README.md", *(PROJECT_DIR / "docs").glob("*.md")]:
        named |= set(re.findall(r"\b[a-z][0-9][a-z]*\.[0-9]*x?large\b", path.read_text()))
    listed = {t for region in cost.PRICES["regions"].values() for t in region["instances"]}
    assert named <= listed, named - listed
    for name, region in cost.PRICES["regions"].items():
        assert set(cost.REGION_PRICES) <= set(region), (name, set(cost.REGION_PRICES) - set(region))
        assert set(region["instances"]) == listed, (name, listed - set(region["instances"]))
        for instance, price in region["instances"].items():
            assert price["onDemand"] > price["spot"] > 0, (name, instance)


def test_dev_is_priced_at_min_desired_and_max_with_spot_nodes():
    result = cost.estimate(settings_of("dev"))
    assert result.line("EKS control plane (Kubernetes 1.36, standard support)").low == (pytest.approx(0.10 * HOURS),) * 3
    assert result.line("public IPv4 addresses (3)").low[0] == pytest.approx(3 * 0.005 * HOURS)  # 1 NAT + NLB in 2 zones
    spot = PRICES["instances"]["m7i.large"]["spot"]
    general = result.line("node group general: m7i.large spot")
    assert general.low == general.high == (pytest.approx(spot * HOURS), pytest.approx(2 * spot * HOURS),
                                           pytest.approx(4 * spot * HOURS))
    assert result.unknown == [] and result.totals()[0][2] > result.totals()[0][1] > result.totals()[0][0]


def test_a_group_of_several_types_is_a_range_from_the_cheapest_to_the_dearest():
    result = cost.estimate(settings_of("prod", nodeGroups={"general": {"instanceTypes": ["m7i.xlarge", "m6i.xlarge"],
                                                                       "minSize": 3, "maxSize": 12, "desiredSize": 3}}))
    line = result.line("node group general: m6i.xlarge to m7i.xlarge on-demand")
    assert line.low[2] == pytest.approx(12 * PRICES["instances"]["m6i.xlarge"]["onDemand"] * HOURS)
    assert line.high[2] == pytest.approx(12 * PRICES["instances"]["m7i.xlarge"]["onDemand"] * HOURS)
    text = cost.render(settings_of("prod"), result)
    assert re.search(r"node group general: m6i.xlarge to m7i.xlarge on-demand\s+\d+\.\d\d-\d+\.\d\d", text)


def test_a_spot_group_scaled_to_zero_still_shows_what_it_costs_at_max():
    result = cost.estimate(settings_of("dev", nodeGroups={"gpu": {"instanceTypes": ["g6.xlarge"], "gpu": True,
                                                                  "capacityType": "SPOT", "minSize": 0, "maxSize": 10}}))
    gpu = result.line("node group gpu: g6.xlarge spot")
    assert gpu.low[:2] == (0, 0) and gpu.low[2] == pytest.approx(10 * PRICES["instances"]["g6.xlarge"]["spot"] * HOURS)


def test_an_unknown_instance_type_is_said_and_the_total_says_it_is_incomplete():
    settings = settings_of("dev", nodeGroups={"general": {"instanceTypes": ["m8i.large", "m7i.large"]}})
    result = cost.estimate(settings)
    assert result.unknown == ["instance type m8i.large in us-east-1 (node group general)"]
    text = cost.render(settings, result)
    assert "total, INCOMPLETE (see not priced)" in text and "node group general: m7i.large spot" in text


def test_an_unpriced_region_gives_no_total_at_all():
    settings = settings_of("dev", region="ap-south-2")
    text = cost.render(settings, cost.estimate(settings))
    assert "not priced: region ap-south-2" in text and "no estimate" in text
    assert "total" not in text and "0.00" not in text


def test_eu_west_1_is_priced_completely_and_estimated_prices_are_named():
    settings = settings_of("dev", region="eu-west-1", nodeGroups={"gpu": {"instanceTypes": ["g5.xlarge"], "gpu": True,
                                                                          "capacityType": "SPOT", "minSize": 0, "maxSize": 1}})
    result = cost.estimate(settings)
    assert result.unknown == [] and result.estimated == ["g5.xlarge"]
    assert "estimated (scaled from us-east-1 until python -m ops.prices refreshes eu-west-1): g5.xlarge" in \
        cost.render(settings, result)


def test_plan_cost_prints_the_dated_table_after_the_plan():
    out, err = io.StringIO(), io.StringIO()
    assert plan.main("prod", out, err, cost=True) == 0
    text = out.getvalue()
    assert "Monthly estimate for stack prod (us-east-1, prices of 2026-11-01, USD):" in text
    assert text.index("Outputs:") < text.index("Monthly estimate") and "at max" in text


def test_the_control_plane_is_priced_by_its_support_phase_on_the_day():
    from datetime import date

    older = settings_of("dev", kubernetesVersion="1.34", upgradePolicy="EXTENDED")
    standard = cost.estimate(older, today=date(2026, 12, 1))
    extended = cost.estimate(older, today=date(2026, 12, 2))
    assert standard.line("EKS control plane (Kubernetes 1.34, standard support)").low[0] == pytest.approx(0.10 * HOURS)
    assert extended.line("EKS control plane (Kubernetes 1.34, extended support)").low[0] == pytest.approx(0.60 * HOURS)


def test_an_internal_load_balancer_has_no_public_addresses_and_the_exclusions_are_named():
    settings = settings_of("prod", ingress={"scheme": "internal"})
    result = cost.estimate(settings)
    assert result.line("public IPv4 addresses (3)").low[0] == pytest.approx(3 * 0.005 * HOURS)  # the NAT EIPs only
    assert "NAT gateway processing ($0.045/GB)" in cost.render(settings, result)


def test_the_table_is_refreshed_from_an_ec2_offer_file_and_the_spot_history(tmp_path, monkeypatch):
    offer = {"products": {
        "A": {"productFamily": "Compute Instance", "attributes": {
            "instanceType": "g5.xlarge", "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
            "capacitystatus": "Used", "usagetype": "EUW1-BoxUsage:g5.xlarge"}},
        "B": {"productFamily": "Compute Instance", "attributes": {
            "instanceType": "g5.xlarge", "operatingSystem": "Windows", "tenancy": "Shared", "preInstalledSw": "NA",
            "capacitystatus": "Used"}},
        "C": {"productFamily": "NAT Gateway", "attributes": {"usagetype": "EU-NatGateway-Hours"}},
        "D": {"productFamily": "Storage", "attributes": {"volumeApiName": "gp3"}}},
        "terms": {"OnDemand": {sku: {f"{sku}.JRTCKXETXF": {"priceDimensions": {f"{sku}.1": {
            "unit": "Hrs", "pricePerUnit": {"USD": price}}}}} for sku, price in
            (("A", "1.1230000000"), ("B", "1.9070000000"), ("C", "0.0480000000"), ("D", "0.0880000000"))}}}
    history = {"SpotPriceHistory": [{"InstanceType": "g5.xlarge", "SpotPrice": "0.40"},
                                    {"InstanceType": "g5.xlarge", "SpotPrice": "0.50"}]}
    (tmp_path / "index.json").write_text(json.dumps(offer))
    (tmp_path / "spot.json").write_text(json.dumps(history))
    table = tmp_path / "prices.json"
    table.write_text(prices.TABLE.read_text())
    monkeypatch.setattr(prices, "TABLE", table)
    assert prices.main(["--region", "eu-west-1", "--ec2", str(tmp_path / "index.json"), "--spot",
                        str(tmp_path / "spot.json"), "--date", "2026-12-06"]) == 0
    refreshed = json.loads(table.read_text())
    eu = refreshed["regions"]["eu-west-1"]
    assert eu["instances"]["g5.xlarge"] == {"onDemand": 1.123, "spot": 0.45}
    assert "g5.xlarge" not in eu["estimated"] and "m6i.large" in eu["estimated"]
    assert (eu["natGatewayHour"], eu["ebsGp3GiBMonth"], refreshed["date"]) == (0.048, 0.088, "2026-12-06")

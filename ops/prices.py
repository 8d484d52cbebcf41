"""Refresh one region of `ops/prices.json` offline, from files downloaded from AWS:

    curl -O https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/eu-west-1/index.json
    aws ec2 describe-spot-price-history --region eu-west-1 --product-descriptions Linux/UNIX \\
        --start-time $(date -d '-30 days' +%FT%T) > spot.json
    python -m ops.prices --region eu-west-1 --ec2 index.json [--spot spot.json] [--date 2026-12-01]

From the EC2 offer file (the AWS Price List bulk format): the on-demand hourly price of every instance type the
table lists (Linux, shared tenancy, no pre-installed software), the NAT gateway's hourly and per-GB prices and
gp3's GiB-month; from the spot history, each type's 30-day average. Types it finds are no longer `estimated`.
The EKS control plane, NLB and public IPv4 prices live in other offer files and are kept.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("prices.json")


def _on_demand(offer: dict[str, Any], sku: str) -> float | None:
    for term in offer.get("terms", {}).get("OnDemand", {}).get(sku, {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            return float(dimension["pricePerUnit"]["USD"])
    return None


def from_offer(offer: dict[str, Any], instance_types: set[str]) -> dict[str, Any]:
    """The prices this table keeps, as found in an EC2 offer file."""
    found: dict[str, Any] = {"instances": {}}
    for sku, product in offer.get("products", {}).items():
        attributes, family = product.get("attributes", {}), product.get("productFamily")
        usage = attributes.get("usagetype", "")
        if (family == "Compute Instance" and attributes.get("instanceType") in instance_types
                and attributes.get("operatingSystem") == "Linux" and attributes.get("tenancy") == "Shared"
                and attributes.get("preInstalledSw") == "NA" and attributes.get("capacitystatus") == "Used"):
            price = _on_demand(offer, sku)
            if price:
                found["instances"][attributes["instanceType"]] = price
        elif family == "NAT Gateway" and usage.endswith("NatGateway-Hours"):
            found["natGatewayHour"] = _on_demand(offer, sku)
        elif family == "NAT Gateway" and usage.endswith("NatGateway-Bytes"):
            found["natGatewayGB"] = _on_demand(offer, sku)
        elif family == "Storage" and attributes.get("volumeApiName") == "gp3":
            found["ebsGp3GiBMonth"] = _on_demand(offer, sku)
    return found


def spot_averages(history: dict[str, Any]) -> dict[str, float]:
    prices: dict[str, list[float]] = {}
    for entry in history.get("SpotPriceHistory", []):
        prices.setdefault(entry["InstanceType"], []).append(float(entry["SpotPrice"]))
    return {instance: round(statistics.fmean(values), 4) for instance, values in prices.items()}


def refresh(table: dict[str, Any], region: str, offer: dict[str, Any], spot: dict[str, float], day: str) -> list[str]:
    """Update `region` of `table` in place; the types not found, which keep their old prices."""
    listed = {t for prices in table["regions"].values() for t in prices["instances"]}
    current = table["regions"].setdefault(region, {"instances": {}})
    found = from_offer(offer, listed)
    for key in ("natGatewayHour", "natGatewayGB", "ebsGp3GiBMonth"):
        if found.get(key):
            current[key] = found[key]
    estimated = set(current.get("estimated", []))
    for instance, price in found["instances"].items():
        entry = current["instances"].setdefault(instance, {})
        entry["onDemand"] = price
        if instance in spot:
            entry["spot"] = spot[instance]
        estimated.discard(instance)
    current["estimated"] = sorted(estimated)
    current["instances"] = dict(sorted(current["instances"].items()))
    table["date"] = day
    return sorted(listed - set(found["instances"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.prices", description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True)
    parser.add_argument("--ec2", type=Path, required=True, help="the region's AmazonEC2 offer file (index.json)")
    parser.add_argument("--spot", type=Path, help="`aws ec2 describe-spot-price-history` output (JSON)")
    parser.add_argument("--date", default=date.today().isoformat(), help="the prices' date (default today)")
    args = parser.parse_args(argv)
    try:
        offer = json.loads(args.ec2.read_text())
        spot = spot_averages(json.loads(args.spot.read_text())) if args.spot else {}
    except (OSError, json.JSONDecodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = json.loads(TABLE.read_text())
    missing = refresh(table, args.region, offer, spot, args.date)
    TABLE.write_text(json.dumps(table, indent=2) + "\n")
    print(f"updated {args.region} in {TABLE.name} ({args.date})"
          + (f"; not in the offer file, kept: {', '.join(missing)}" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many availability zones EKS can use in each region, to refuse a zone count before any resource.

Zones that accept EKS control-plane subnets (zone IDs EKS refuses, like use1-az3, excluded; opt-in
Local and Wavelength zones not counted), from the EC2 and EKS documentation, checked on `CHECKED`. A
region not listed here is checked when the zones are looked up (`components.network.pick_zones`).
"""

from __future__ import annotations

from datetime import date

from stacks.problems import Problem

CHECKED = date(2026, 11, 30)
EKS_ZONES = {
    "us-east-1": 5, "us-east-2": 3, "us-west-1": 2, "us-west-2": 4,
    "ca-central-1": 3, "sa-east-1": 3,
    "eu-west-1": 3, "eu-west-2": 3, "eu-west-3": 3, "eu-central-1": 3, "eu-central-2": 3, "eu-north-1": 3,
    "eu-south-1": 3, "eu-south-2": 3,
    "ap-south-1": 3, "ap-south-2": 3, "ap-southeast-1": 3, "ap-southeast-2": 3, "ap-southeast-3": 3,
    "ap-southeast-4": 3, "ap-northeast-1": 3, "ap-northeast-2": 4, "ap-northeast-3": 3, "ap-east-1": 3,
    "me-south-1": 3, "me-central-1": 3, "il-central-1": 3, "af-south-1": 3,
}


def zone_problem(region: str, wanted: int) -> Problem | None:
    available = EKS_ZONES.get(region)
    if available is None or wanted <= available:
        return None
    return Problem("network.availabilityZones", wanted,
                   f"{region} has {available} availability zones EKS can use (as of {CHECKED}): at most {available}")

"""The EKS version table: default, support phases, what validation, the program and the tools say of them."""

from __future__ import annotations

from datetime import date

import pytest

from stacks import eks_versions
from stacks.config import load
from stacks.problems import ConfigError
from stacks.profiles import PROFILES
from tests.conftest import run_stack


def test_the_default_is_the_newest_version_in_standard_support():
    assert eks_versions.DEFAULT_VERSION == eks_versions.newest_in_standard_support(eks_versions.CHECKED) == "1.36"
    assert all(p.defaults["kubernetesVersion"] == eks_versions.DEFAULT_VERSION for p in PROFILES.values()
               if p.name != "local")


@pytest.mark.parametrize("version, on, phase", [
    ("1.34", date(2026, 12, 1), "standard"), ("1.34", date(2026, 12, 2), "extended"),
    ("1.32", date(2026, 11, 30), "extended"), ("1.32", date(2027, 3, 23), "ended"),
])
def test_phases_change_on_the_calendar_dates(version, on, phase):
    assert eks_versions.phase(version, on) == phase


def test_extended_support_and_an_approaching_change_are_warned():
    extended = eks_versions.notice("1.33", date(2026, 11, 30))
    assert "extended support until 2027-07-29" in extended and "six times" in extended and "1.36" in extended
    assert eks_versions.notice("1.34", date(2026, 11, 30)) == \
        "Kubernetes 1.34: standard support ends on 2026-12-02 (2 days)"
    assert eks_versions.notice("1.36", date(2026, 11, 30)) is None


def test_a_version_past_extended_support_is_rejected_naming_what_is_supported():
    with pytest.raises(ConfigError) as caught:
        load("dev", {"environment": "dev", "accountId": "123456789012", "kubernetesVersion": "1.32", "upgradePolicy": "EXTENDED"}, "us-east-1",
             today=date(2027, 4, 1))
    (problem,) = caught.value.problems
    assert problem.path == "kubernetesVersion"
    assert "EKS support ended on 2027-03-23" in problem.message and "1.36" in problem.message
    assert load("dev", {"environment": "dev", "accountId": "123456789012", "kubernetesVersion": "1.32", "upgradePolicy": "EXTENDED"}, "us-east-1",
                today=date(2026, 11, 30)).config.kubernetes_version == "1.32"


def test_an_unknown_version_is_rejected():
    evaluation = run_stack("dev", kubernetesVersion="1.31")
    (problem,) = evaluation.error.problems
    assert problem.path == "kubernetesVersion" and "1.36" in problem.message


def test_an_extended_support_version_needs_the_extended_upgrade_policy():
    with pytest.raises(ConfigError) as caught:
        load("dev", {"environment": "dev", "accountId": "123456789012", "kubernetesVersion": "1.33"}, "us-east-1", today=date(2026, 11, 30))
    (problem,) = caught.value.problems
    assert "EKS upgrades the cluster itself" in problem.message and "upgradePolicy: EXTENDED" in problem.message
    cluster = run_stack("dev", kubernetesVersion="1.33", upgradePolicy="EXTENDED").one("eks:index:Cluster").inputs
    assert cluster["upgradePolicy"] == {"supportType": "EXTENDED"}

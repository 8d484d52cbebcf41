"""The configuration reference is the user's: docs/configuration.md is what the schema, the profiles and the
descriptions generate, and every key the schema accepts has a description."""

from __future__ import annotations

from stacks import reference


def test_the_configuration_reference_is_generated_from_the_schema_and_profiles():
    assert reference.PAGE.read_text() == reference.render(), "run: python -m stacks.reference"


def test_every_configuration_key_is_described_and_no_description_is_stale():
    keys = reference.documented_keys()
    assert "eks-platform:backup.schedule" in keys and "eks-platform:teams" in keys and "aws:region" in keys
    assert [k for k in keys if not reference.description(k)] == []
    assert [k for k in reference.ALLOWED if k not in keys] == []


def test_the_reference_shows_each_environments_own_default():
    rows = {line.split(" | ")[0].strip("| `"): line.split(" | ")[1:4] for line in reference.render().splitlines()
            if line.startswith("| `")}
    assert rows["eks-platform:network.natGateways"] == ['`"single"`', '`"perAz"`', '`"perAz"`']
    assert rows["eks-platform:logging.retentionDays"] == ["`7`", "`14`", "`30`"]
    assert rows["eks-platform:accountId"] == ["required"] * 3

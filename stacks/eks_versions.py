"""The Kubernetes versions EKS offers, with their support phases: one table that the configuration
rules, the program, `ops preflight` and `ops plan --cost` all read.

A minor version is in standard support for 14 months after its EKS release, then in extended support
(six times the control-plane price) for 12 more; after that EKS upgrades the cluster itself. Dates from
the EKS Kubernetes release calendar, checked on `CHECKED`; 1.36's are 14 and 26 months after its EKS
release and must be re-checked against the calendar. Add a row when EKS releases a version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Phase = Literal["standard", "extended", "ended"]
CHECKED = date(2026, 11, 30)
WARN_DAYS = 60


@dataclass(frozen=True)
class EksVersion:
    version: str
    released: date
    standard_end: date
    extended_end: date

    def phase(self, on: date) -> Phase:
        if on < self.standard_end:
            return "standard"
        return "extended" if on < self.extended_end else "ended"

    def next_change(self, on: date) -> tuple[str, date] | None:
        """The next phase change after `on`: ("standard support ends", date) or ("extended support ends", date)."""
        if on < self.standard_end:
            return "standard support ends", self.standard_end
        if on < self.extended_end:
            return "extended support ends", self.extended_end
        return None


VERSIONS = {v.version: v for v in (
    EksVersion("1.32", date(2025, 1, 23), date(2026, 3, 23), date(2027, 3, 23)),
    EksVersion("1.33", date(2025, 5, 29), date(2026, 7, 29), date(2027, 7, 29)),
    EksVersion("1.34", date(2025, 10, 2), date(2026, 12, 2), date(2027, 12, 2)),
    EksVersion("1.35", date(2026, 1, 27), date(2027, 3, 27), date(2028, 3, 27)),
    EksVersion("1.36", date(2026, 6, 10), date(2027, 8, 10), date(2028, 8, 10)),
)}
KNOWN_VERSIONS = tuple(VERSIONS)
DEFAULT_VERSION = "1.36"


def newest_in_standard_support(on: date) -> str:
    return max((v for v in VERSIONS.values() if v.phase(on) == "standard" and v.released <= on),
               key=lambda v: tuple(map(int, v.version.split(".")))).version


def phase(version: str, on: date) -> Phase:
    return VERSIONS[version].phase(on)


def notice(version: str, on: date) -> str | None:
    """A warning for a version in extended support, or within `WARN_DAYS` of its next phase change."""
    entry = VERSIONS[version]
    if entry.phase(on) == "extended":
        return (f"Kubernetes {version} is in EKS extended support until {entry.extended_end}: the control plane "
                f"costs six times the standard price; upgrade to {newest_in_standard_support(on)}")
    change = entry.next_change(on)
    if change and (change[1] - on).days <= WARN_DAYS:
        return f"Kubernetes {version}: {change[0]} on {change[1]} ({(change[1] - on).days} days)"
    return None

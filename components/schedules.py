"""Cron schedules (Velero's backups): how far apart their runs can be."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

from croniter import croniter


@functools.lru_cache(maxsize=256)
def longest_gap(schedule: str) -> timedelta:
    """The longest time between two runs of a cron `schedule`, over a year of runs (month ends, leap day)."""
    start = datetime(2028, 1, 1)
    runs = croniter(schedule, start)
    previous, longest = runs.get_next(datetime), timedelta(0)
    while previous < start + timedelta(days=366):
        following = runs.get_next(datetime)
        longest, previous = max(longest, following - previous), following
    return longest

"""When will a step be complete?  A straight line through its recent done counts.

The HTML report draws, for each step not yet complete, where its recent trend reaches the
total, and warns when that is after the deadline.  The trend is a least-squares line through
the last `RECENT` evaluations (fewer when fewer exist): recent, so a burst of work last week
does not promise anything about today, and a line rather than the last two points, so one
noisy evaluation does not swing the forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

RECENT = 12  # evaluations the trend is drawn through

Outlook = Literal["complete", "projected", "no-progress", "too-few"]


@dataclass(frozen=True)
class Forecast:
    outlook: Outlook
    at: datetime | None = None  # projected completion (outlook "projected")
    per_hour: float = 0.0  # the recent trend, provinces per hour
    late: bool = False  # projected (or still incomplete) after the deadline


def forecast(
    points: Sequence[tuple[datetime, int]], total: int, due: datetime, now: datetime
) -> Forecast:
    """The outlook of one step from its done counts over time (oldest first)."""
    if total and points and points[-1][1] >= total:
        return Forecast("complete")
    recent = list(points[-RECENT:])
    if len(recent) < 2 or recent[-1][0] == recent[0][0]:
        return Forecast("too-few", late=now > due)
    slope = _slope(recent)
    if slope <= 0:
        return Forecast("no-progress", per_hour=slope, late=True)  # never, at this pace
    last_time, last_done = recent[-1]
    at = last_time + timedelta(hours=(total - last_done) / slope)
    return Forecast("projected", at, slope, at > due)


def _slope(points: Sequence[tuple[datetime, int]]) -> float:
    """Least-squares slope, in provinces per hour."""
    origin = points[0][0]
    xs = [(t - origin).total_seconds() / 3600 for t, _ in points]
    ys = [float(done) for _, done in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread

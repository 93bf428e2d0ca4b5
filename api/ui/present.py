"""How the dashboard shows values: times, durations, scores, safe links, match boxes, timelines."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from service.desk.reports import SightingEntry

Box = tuple[float, float, float, float]  # left, top, right, bottom as shares of width, height

_CROP = re.compile(r"crop(\d{1,3})-(\d{1,3})-(\d{1,3})")
_CUT = re.compile(r"cut-([tblr])(\d{1,2})")

STATUS_LABELS = {
    "open": "Open",
    "confirmed": "Confirmed",
    "takedown_requested": "Takedown requested",
    "false_positive": "False positive",
    "resolved": "Resolved",
}
# What the button that moves a leak *to* a status says.
ACTION_LABELS = {
    "open": "Reopen",
    "confirmed": "Confirm leak",
    "takedown_requested": "Takedown requested",
    "false_positive": "False positive",
    "resolved": "Resolved",
}


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """Two units at most: "3d 4h", "5h 12m", "12m", "under a minute"."""
    seconds = abs(seconds)
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return "under a minute"


def lead_time(seconds: float) -> str:
    if seconds <= 0:
        return "after embargo"
    return f"{duration(seconds)} early"


def countdown(until: datetime, now: datetime) -> str:
    left = (until - now).total_seconds()
    if left <= 0:
        return f"lifted {duration(left)} ago"
    return f"in {duration(left)}"


def score(value: float) -> str:
    return f"{value:.3f}"


def safe_href(url: str | None) -> str | None:
    """The URL if a link to it can only open a web page; None otherwise (shown as text only).
    URLs come from crawlers: `javascript:` or `data:` must never become a link."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _clipped(box: Box) -> Box | None:
    left, top, right, bottom = (min(max(v, 0.0), 1.0) for v in box)
    if right - left <= 0 or bottom - top <= 0:
        return None
    return left, top, right, bottom


def region_box(region: str) -> Box | None:
    """The part of the found image that matched, from its label `region:l,t,r,b`; None for the
    whole image (`original`) or a label this version does not know."""
    if not region.startswith("region:"):
        return None
    try:
        values = [float(v) for v in region.removeprefix("region:").split(",")]
    except ValueError:
        return None
    if len(values) != 4:
        return None
    left, top, right, bottom = values
    return _clipped((left, top, right, bottom))


def variant_box(variant: str) -> Box | None:
    """The window of the registered asset a crop or cut variant stands for (see
    service.detection.hashes); None for flips, rotations, tilts and the whole picture."""
    if crop := _CROP.fullmatch(variant):
        scale, ax, ay = (int(v) / 100 for v in crop.groups())
        left, top = (1 - scale) * ax, (1 - scale) * ay
        return _clipped((left, top, left + scale, top + scale))
    if cut := _CUT.fullmatch(variant):
        edge, share = cut.group(1), int(cut.group(2)) / 100
        return {
            "t": (0.0, share, 1.0, 1.0),
            "b": (0.0, 0.0, 1.0, 1.0 - share),
            "l": (share, 0.0, 1.0, 1.0),
            "r": (0.0, 0.0, 1.0 - share, 1.0),
        }[edge]
    return None


def svg_points(polygon: Sequence[Sequence[float]] | None) -> str | None:
    """A matched quadrilateral (corner shares, from local features) as SVG `points` in a 0..100
    viewBox; None when there is none or it is not four finite corners within the image."""
    if polygon is None or len(polygon) != 4:
        return None
    corners = []
    for corner in polygon:
        if len(corner) != 2 or not all(0.0 <= v <= 1.0 for v in corner):
            return None
        corners.append(f"{corner[0] * 100:.2f},{corner[1] * 100:.2f}")
    return " ".join(corners)


def svg_rect(box: Box) -> dict[str, str]:
    """SVG attributes in a 0..100 viewBox: drawn over a thumbnail without inline CSS, which the
    pages' Content-Security-Policy forbids."""
    left, top, right, bottom = box
    return {
        "x": f"{left * 100:.2f}",
        "y": f"{top * 100:.2f}",
        "width": f"{(right - left) * 100:.2f}",
        "height": f"{(bottom - top) * 100:.2f}",
    }


@dataclass(frozen=True)
class TimelineDot:
    x: float  # 0..100 across the chart
    label: str
    first: bool


@dataclass(frozen=True)
class TimelineRow:
    source: str
    dots: list[TimelineDot]


@dataclass(frozen=True)
class Timeline:
    rows: list[TimelineRow]
    start: str
    end: str
    embargo_x: float | None  # where the embargo ends, if inside the chart


def published(sighting: SightingEntry) -> datetime:
    return sighting.found_at or sighting.received_at


def timeline(
    sightings: Sequence[SightingEntry], embargo_until: datetime, first_id: object
) -> Timeline:
    """Sightings on one time axis, one row per source (domain, and account where known), in
    the order each source first published."""
    if not sightings:
        return Timeline([], "", "", None)
    times = [published(s) for s in sightings]
    start, end = min(times), max(times)
    span = (end - start).total_seconds()

    def x(moment: datetime) -> float:
        # A single instant sits in the middle; otherwise 3..97 keeps dots off the edges.
        if span <= 0:
            return 50.0
        return 3 + 94 * (moment - start).total_seconds() / span

    rows: dict[str, list[TimelineDot]] = {}
    for sighting in sorted(sightings, key=published):
        source = sighting.domain + (f" · {sighting.account}" if sighting.account else "")
        rows.setdefault(source, []).append(
            TimelineDot(x(published(sighting)), when(published(sighting)), sighting.id == first_id)
        )
    embargo_x = x(embargo_until) if span > 0 and start <= embargo_until <= end else None
    return Timeline(
        [TimelineRow(source, dots) for source, dots in rows.items()],
        when(start),
        when(end),
        embargo_x,
    )

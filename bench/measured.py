"""What a robustness run measured: each photo's results, its wrong matches, the populations."""

import argparse
from dataclasses import dataclass, field
from typing import Any

from bench.margin import QueryMargin
from bench.methods import LocalNearMiss

DISTRACTORS = "distractors"
OTHER_ASSETS = "registered copies vs other assets"
BOTH = "both together"


@dataclass(frozen=True)
class WrongMatch:
    """A query detected as an asset that it is not a copy of; region, variant and distances are
    known for LeakSentinel only."""

    method: str
    query: str
    copy: str
    asset: str
    region: str | None = None
    variant: str | None = None
    distances: dict[str, int] | None = None
    score: float | None = None

    def __str__(self) -> str:
        shown = f"`{self.query}` ({self.copy}) matched asset `{self.asset}`"
        if self.distances is None:
            return shown
        distances = ", ".join(f"{a} {d}" for a, d in self.distances.items())
        return (
            f"{shown}: sighting region `{self.region}` vs asset variant `{self.variant}`, "
            f"{distances} (score {self.score})"
        )


@dataclass
class PhotoResult:
    key: str
    registered: bool
    found_own: dict[str, dict[str, bool]] = field(default_factory=dict)  # copy -> method -> hit
    found_other: dict[str, dict[str, int]] = field(default_factory=dict)  # assets wrongly matched
    # copy -> method -> other registered photos of the same object matched (bench/objects.py)
    found_sibling: dict[str, dict[str, int]] = field(default_factory=dict)
    negatives: int = 0  # (copy, asset) pairs with an asset of another object: the negatives
    same_object: int = 0  # (copy, asset) pairs with another registered photo of an object shown
    wrong: list[WrongMatch] = field(default_factory=list)
    margins: dict[str, QueryMargin] = field(default_factory=dict)  # copy -> LeakSentinel's margin
    # copy -> the wrong asset LeakSentinel's local features came nearest to, if any voted
    local_misses: dict[str, LocalNearMiss | None] = field(default_factory=dict)
    low_information: dict[str, str | None] = field(default_factory=dict)  # copy -> reason
    errors: list[str] = field(default_factory=list)
    method_seconds: dict[str, float] = field(default_factory=dict)
    search_seconds: list[float] = field(default_factory=list)
    transform_seconds: float = 0.0


@dataclass(frozen=True)
class Run:
    args: argparse.Namespace
    assets: list[str]  # registration order
    distractors: list[str]
    results: list[PhotoResult]
    method_names: list[str]
    thresholds: dict[str, int]  # the matching rule's, per algorithm
    timings: dict[str, float]
    enrol_seconds: dict[str, float]
    speeds: dict[str, Any]

    @property
    def registered(self) -> list[PhotoResult]:
        return [r for r in self.results if r.registered]

    @property
    def unregistered(self) -> list[PhotoResult]:
        return [r for r in self.results if not r.registered]

    @property
    def populations(self) -> dict[str, list[PhotoResult]]:
        return {DISTRACTORS: self.unregistered, OTHER_ASSETS: self.registered}

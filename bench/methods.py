"""The detectors under test behind one protocol: two whole-image hash baselines and LeakSentinel.

LeakSentinel is measured through the service's public entry points only (decode,
fingerprint_asset / fingerprint_sighting, MatchIndex, find_matches with the thresholds in
Settings). The baselines hash the full decode of the file: "pHash@10" (imagehash.phash, a match
within Hamming distance 10 of an asset's pHash) and "PDQ@31" (pdqhash, within 31).
"""

import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from bench.imaging import full_decode
from service.detection.decode import DecodedImage, ImageLimits, decode
from service.detection.hashes import (
    Fingerprint,
    SightingPrints,
    fingerprint_asset,
    fingerprint_sighting,
)
from service.detection.index import MatchIndex
from service.detection.matching import AssetMatch, find_matches, verified_candidates
from service.settings import Settings


class Method(Protocol):
    """One detector under test, registered with every asset before it is queried.

    `register(key, data)` is `add(key, enroll(data))`: the split lets the costly, pure half run
    once per asset in the worker pool, while each worker repeats only the cheap `add`."""

    name: str

    def enroll(self, data: bytes) -> Any:
        """What is kept of one asset file; must be picklable."""
        ...

    def add(self, asset_key: str, record: Any) -> None: ...

    def register(self, asset_key: str, data: bytes) -> None: ...

    def query(self, data: bytes) -> set[str]:
        """The keys of the registered assets that the file `data` is detected as."""
        ...


def popcount_distances(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Hamming distances, shape (len(queries), len(rows)), of packed-bit rows: uint8, or uint64
    words (uint8 rows whose width is a multiple of 8 bytes are read as words)."""
    if rows.dtype == np.uint8 and rows.shape[1] % 8 == 0:
        rows, queries = rows.view(np.uint64), queries.view(np.uint64)
    out = np.empty((len(queries), len(rows)), dtype=np.int32)
    chunk = max(1, 4_000_000 // max(1, rows.size))
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk]
        out[start : start + chunk] = np.bitwise_count(rows[None, :, :] ^ block[:, None, :]).sum(
            axis=2, dtype=np.int32
        )
    return out


class HashBaseline:
    """One whole-image hash of the full decode per file; a query detects every asset whose hash
    is within `max_distance` bits."""

    def __init__(self, name: str, hash_bits: Callable[[Image.Image], bytes], max_distance: int):
        self.name = name
        self._hash_bits = hash_bits
        self._max_distance = max_distance
        self._keys: list[str] = []
        self._rows: list[bytes] = []
        self._matrix: np.ndarray | None = None

    def enroll(self, data: bytes) -> bytes:
        return self._hash_bits(full_decode(data))

    def add(self, asset_key: str, record: bytes) -> None:
        self._keys.append(asset_key)
        self._rows.append(record)
        self._matrix = None

    def register(self, asset_key: str, data: bytes) -> None:
        self.add(asset_key, self.enroll(data))

    def query(self, data: bytes) -> set[str]:
        if self._matrix is None:
            self._matrix = np.frombuffer(b"".join(self._rows), dtype=np.uint8).reshape(
                len(self._rows), -1
            )
        query = np.frombuffer(self.enroll(data), dtype=np.uint8)[None, :]
        distances = popcount_distances(self._matrix, query)[0]
        return {self._keys[i] for i in np.flatnonzero(distances <= self._max_distance)}


def phash_bits(image: Image.Image) -> bytes:
    return bytes(np.packbits(imagehash.phash(image).hash.ravel()))


def pdq_bits(image: Image.Image) -> bytes:
    bits, _quality = pdqhash.compute(np.asarray(image))
    return bytes(np.packbits(np.asarray(bits, dtype=np.uint8).ravel()))


def sighting_prints(decoded: DecodedImage) -> SightingPrints:
    """The one call of the service's sighting entry point (it also takes the original size)."""
    return fingerprint_sighting(decoded.pixels, decoded.width, decoded.height)


NEAR_MISS_VOTES = 4  # the fewest point pairs a homography can be fitted to


@dataclass(frozen=True)
class LocalNearMiss:
    """The wrong asset a query's local features came nearest to, and how near."""

    asset: str
    votes: int
    inliers: int  # 0 when no plausible homography explains the votes
    density: float


class LeakSentinel:
    """The service's own pipeline, through its public entry points only."""

    name = "LeakSentinel"

    def __init__(self, settings: Settings) -> None:
        self._limits: ImageLimits = settings.image_limits
        self._policy = settings.match_policy
        self._index = MatchIndex()
        self._keys: dict[uuid.UUID, str] = {}
        self._prints: list[tuple[str, Sequence[Fingerprint]]] = []
        self._memo: tuple[bytes, SightingPrints] | None = None
        self.search_seconds: list[float] = []

    @property
    def fingerprint_count(self) -> int:
        return sum(len(prints) for _, prints in self._prints)

    def enroll(self, data: bytes) -> list[Fingerprint]:
        return list(fingerprint_asset(decode(data, self._limits).pixels))

    def add(self, asset_key: str, record: Sequence[Fingerprint]) -> None:
        asset_id = uuid.uuid5(uuid.NAMESPACE_URL, f"leaksentinel-bench:{asset_key}")
        self._index.put(asset_id, record)
        self._keys[asset_id] = asset_key
        self._prints.append((asset_key, record))

    def register(self, asset_key: str, data: bytes) -> None:
        self.add(asset_key, self.enroll(data))

    def sight(self, data: bytes) -> SightingPrints:
        """The sighting fingerprints of `data`, remembered for the next call with the same object."""
        if self._memo is None or self._memo[0] is not data:
            self._memo = (data, sighting_prints(decode(data, self._limits)))
        return self._memo[1]

    def search_matches(self, prints: SightingPrints) -> list[tuple[str, AssetMatch]]:
        """find_matches against every registered asset, each match with its asset's key."""
        started = time.perf_counter()
        matches = find_matches(self._index, prints, self._policy)
        self.search_seconds.append(time.perf_counter() - started)
        return [(self._keys[match.asset_id], match) for match in matches]

    def nearest_wrong_local(
        self, prints: SightingPrints, excluded: Collection[str]
    ) -> LocalNearMiss | None:
        """The asset outside `excluded` that the found image's local features came nearest to
        matching (most inliers, then density): the geometric stage's margin for this query.
        Asked with the fewest votes a homography needs, so that pairs far below the rule's
        thresholds are measured too."""
        if prints.local is None:
            return None
        rule = self._policy.features
        nearest: LocalNearMiss | None = None
        for candidate, geometry in verified_candidates(
            self._index, prints.local, rule, min_votes=NEAR_MISS_VOTES
        ):
            key = self._keys[candidate.asset_id]
            if key in excluded:
                continue
            miss = LocalNearMiss(
                key,
                candidate.votes,
                geometry.inliers if geometry else 0,
                geometry.density if geometry else 0.0,
            )
            if nearest is None or (miss.inliers, miss.density) > (nearest.inliers, nearest.density):
                nearest = miss
        return nearest

    def search(self, prints: SightingPrints) -> set[str]:
        return {key for key, _ in self.search_matches(prints)}

    def matches(self, data: bytes) -> list[tuple[str, AssetMatch]]:
        """Every asset `data` is detected as, with the region, variant and distances that matched."""
        return self.search_matches(self.sight(data))

    def query(self, data: bytes) -> set[str]:
        return self.search(self.sight(data))


def make_methods(settings: Settings) -> list[Method]:
    return [
        LeakSentinel(settings),
        HashBaseline("pHash@10", phash_bits, 10),
        HashBaseline("PDQ@31", pdq_bits, 31),
    ]

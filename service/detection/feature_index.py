"""The index of every asset's local descriptors: which assets a found image's keypoints point
at, and through which pairs of points, for geometric verification to confirm or reject."""

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from uuid import UUID

import faiss
import numpy as np

from service.detection.features import DESCRIPTOR_BYTES, LocalFeatures

NEIGHBOURS = 4  # nearest asset descriptors looked up per query descriptor

# faiss parallelises one search over OpenMP threads that spin while they wait for each other;
# when the cores are busy anyway (decode workers, other searches), one search then takes ten
# times as long: 886 against 83 ms a found image at 50 assets, measured on this 2-core machine
# with the receipt benchmark running. Searches run side by side in the match workers instead.
faiss.omp_set_num_threads(1)


@dataclass(frozen=True)
class Candidate:
    """An asset that enough of a found image's descriptors point at, with the point pairs."""

    asset_id: UUID
    votes: int
    asset_points: np.ndarray  # (n, 2) in the asset's picture
    query_points: np.ndarray  # (n, 2) in the found image's picture, row for row


# Up to this many descriptors (about 300 assets) the index is exact, a brute-force scan; past it,
# an inverted file: descriptors are filed under the nearest of `nlist` centroids, and a query
# descriptor is compared only with the lists of its NPROBE nearest centroids. A search then costs
# the centroid lookup plus about NPROBE * LIST_SIZE comparisons per query descriptor. Short lists
# mean many centroids, so the centroids are themselves found through a small inverted file (a
# two-level quantizer) rather than compared one by one. bench/feature_index.py measured, at
# 10,000 assets: lists of 2,048 probed 4 times with every centroid compared, 29 ms a search;
# lists of about 270 probed 4 times, centroids through 256 top lists probed 8 times, 11 ms,
# finding as many copies.
EXACT_MAX_DESCRIPTORS = 200_000
LIST_SIZE = 256  # descriptors per inverted list, on average
NPROBE = 4
TOP_LISTS_PER_ROOT = 1.5  # top-level lists: this times the square root of the centroid count
TOP_PROBE = 8
# The centroids are descriptors drawn at random, not k-means centres: k-means over tens of
# thousands of 256-bit centres takes minutes on every start, and the drawn ones found the same
# copies in the measurement above. They are redrawn once the index has grown this many times
# past the size they were drawn for.
RETRAIN_GROWTH = 4


@dataclass(frozen=True)
class _Snapshot:
    index: faiss.IndexBinary  # ids are rows of `owner` and `point`
    owner: np.ndarray  # row -> position in asset_ids; -1 once its asset is removed or replaced
    point: np.ndarray  # row -> keypoint position within its asset
    asset_ids: tuple[UUID, ...]
    features: dict[UUID, LocalFeatures]
    rows: dict[UUID, np.ndarray]  # asset -> its rows
    trained_for: int  # descriptors the inverted file was trained on; 0 for the exact index

    @property
    def live(self) -> int:
        return int(self.index.ntotal)


def _build(features: dict[UUID, LocalFeatures], seed: int = 0) -> _Snapshot:
    asset_ids = tuple(features)
    kept = [features[a] for a in asset_ids]
    total = sum(len(f) for f in kept)
    descriptors = (
        np.concatenate([f.descriptors for f in kept])
        if kept
        else np.zeros((0, DESCRIPTOR_BYTES), np.uint8)
    )
    index, trained_for = _new_index(descriptors, seed)
    index.add_with_ids(descriptors, np.arange(total, dtype=np.int64))
    owner = np.repeat(np.arange(len(kept), dtype=np.int32), [len(f) for f in kept])
    point = np.concatenate([np.arange(len(f), dtype=np.int32) for f in kept] or [np.zeros(0, int)])
    bounds = np.cumsum([0] + [len(f) for f in kept])
    rows = {a: np.arange(bounds[i], bounds[i + 1]) for i, a in enumerate(asset_ids)}
    return _Snapshot(index, owner, point.astype(np.int32), asset_ids, features, rows, trained_for)


def _new_index(descriptors: np.ndarray, seed: int) -> tuple[faiss.IndexBinary, int]:
    total = len(descriptors)
    if total <= EXACT_MAX_DESCRIPTORS:
        return faiss.IndexBinaryIDMap(faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)), 0
    lists = max(1, total // LIST_SIZE)
    drawn = np.random.default_rng(seed).choice(total, lists, replace=False)
    centroids = np.ascontiguousarray(descriptors[np.sort(drawn)])
    # faiss's k-means (the top level is small enough for it) wants 39 points a centre.
    top_lists = max(1, min(round(TOP_LISTS_PER_ROOT * lists**0.5), lists // 39))
    top = faiss.IndexBinaryIVF(
        faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8), DESCRIPTOR_BYTES * 8, top_lists
    )
    top.nprobe = TOP_PROBE
    top.train(centroids)
    top.add(centroids)
    index = faiss.IndexBinaryIVF(top, DESCRIPTOR_BYTES * 8, lists)  # which keeps `top` alive
    index.train(centroids)  # the quantizer holds its lists' centroids already: nothing to learn
    index.nprobe = NPROBE
    return index, total


def _copy(index: faiss.IndexBinary) -> faiss.IndexBinary:
    # Through faiss's own serialisation: its clone does not copy an id-mapped index.
    # (it keeps an inverted file's nprobe).
    copied: faiss.IndexBinary = faiss.deserialize_index_binary(faiss.serialize_index_binary(index))
    return copied


class FeatureIndex:
    """Searches run against immutable snapshots; each change builds the next one from a copy of
    the current index (a memory copy, no retraining), and a change that would leave the index
    the wrong kind or far past its training size rebuilds it whole."""

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._snapshot = _build({})

    @property
    def asset_count(self) -> int:
        return len(self._snapshot.features)

    @property
    def exact(self) -> bool:
        """Whether searches compare every descriptor (True) or an inverted file's nearest lists."""
        return self._snapshot.trained_for == 0

    def __len__(self) -> int:
        """Descriptors held, over every asset."""
        return self._snapshot.live

    def features_of(self, asset_id: UUID) -> LocalFeatures | None:
        return self._snapshot.features.get(asset_id)

    def replace_all(self, entries: Iterable[tuple[UUID, LocalFeatures]]) -> None:
        features = {asset_id: f for asset_id, f in entries if len(f)}
        with self._write_lock:
            self._snapshot = _build(features)

    def put(self, asset_id: UUID, features: LocalFeatures) -> None:
        with self._write_lock:
            self._snapshot = self._changed(asset_id, features if len(features) else None)

    def remove(self, asset_id: UUID) -> None:
        with self._write_lock:
            if asset_id in self._snapshot.features:
                self._snapshot = self._changed(asset_id, None)

    def _changed(self, asset_id: UUID, features: LocalFeatures | None) -> _Snapshot:
        current = self._snapshot
        everything = dict(current.features)
        everything.pop(asset_id, None)
        if features is not None:
            everything[asset_id] = features
        live = sum(len(f) for f in everything.values())
        dead = len(current.owner) - current.live
        if (
            (current.trained_for == 0) != (live <= EXACT_MAX_DESCRIPTORS)
            or live > RETRAIN_GROWTH * current.trained_for > 0
            or dead > max(live, EXACT_MAX_DESCRIPTORS)
        ):
            return _build(everything)
        index = _copy(current.index)
        owner = current.owner.copy()
        rows = dict(current.rows)
        if (old := rows.pop(asset_id, None)) is not None:
            index.remove_ids(old.astype(np.int64))
            owner[old] = -1
        asset_ids, point = current.asset_ids, current.point
        if features is not None:
            start = len(owner)
            new_rows = np.arange(start, start + len(features))
            index.add_with_ids(features.descriptors, new_rows.astype(np.int64))
            asset_ids = (*asset_ids, asset_id)
            owner = np.concatenate([owner, np.full(len(features), len(asset_ids) - 1, np.int32)])
            point = np.concatenate([point, np.arange(len(features), dtype=np.int32)])
            rows[asset_id] = new_rows
        return replace(
            current,
            index=index,
            owner=owner,
            point=point,
            asset_ids=asset_ids,
            features=everything,
            rows=rows,
        )

    def candidates(
        self, query: LocalFeatures, *, max_distance: int, ratio: float, min_votes: int, top: int
    ) -> list[Candidate]:
        """The `top` assets with at least `min_votes` distinctive matches, most votes first.

        A query descriptor votes for the asset of its nearest neighbour when that neighbour is
        within `max_distance` bits and clearly nearer than the next-nearest descriptor *of the
        same asset* (Lowe's ratio test, asset by asset): so a repeated texture inside one asset
        does not vote, while two registered shots of one product do not cancel each other out."""
        snapshot = self._snapshot
        if not len(query) or not snapshot.live:
            return []
        k = min(NEIGHBOURS, snapshot.live)
        distances, rows = snapshot.index.search(query.descriptors, k)
        # A row of -1 is a neighbour the inverted file did not find; -1 owners are removed rows.
        owners = np.where(rows >= 0, snapshot.owner[np.maximum(rows, 0)], -1)
        distances = np.where(owners >= 0, distances, np.iinfo(np.int32).max)
        best, best_row, owner = distances[:, 0], rows[:, 0], owners[:, 0]
        # The next-nearest neighbour of the same asset among the k found; when there is none,
        # the k-th distance bounds it from below.
        second = distances[:, -1].astype(np.float64)
        if k > 1:
            same = owners[:, 1:] == owner[:, None]
            masked = np.where(same, distances[:, 1:], np.iinfo(np.int32).max)
            second = np.minimum(masked.min(axis=1), second)
        good = (owner >= 0) & (best <= max_distance) & (best < ratio * second)
        voters = np.flatnonzero(good)
        counts = np.bincount(owner[voters], minlength=len(snapshot.asset_ids))
        ranked = [
            int(i) for i in np.argsort(-counts, kind="stable")[:top] if counts[i] >= min_votes
        ]
        found = []
        for ordinal in ranked:
            mine = voters[owner[voters] == ordinal]
            asset_id = snapshot.asset_ids[ordinal]
            points = snapshot.features[asset_id].points
            found.append(
                Candidate(
                    asset_id,
                    int(mine.size),
                    points[snapshot.point[best_row[mine]]],
                    query.points[mine],
                )
            )
        return found

"""The index of every asset's local descriptors: which assets a found image's keypoints point
at, and through which pairs of points, for geometric verification to confirm or reject."""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import faiss
import numpy as np

from service.detection.features import DESCRIPTOR_BYTES, LocalFeatures

NEIGHBOURS = 4  # nearest asset descriptors looked up per query descriptor


@dataclass(frozen=True)
class Candidate:
    """An asset that enough of a found image's descriptors point at, with the point pairs."""

    asset_id: UUID
    votes: int
    asset_points: np.ndarray  # (n, 2) in the asset's picture
    query_points: np.ndarray  # (n, 2) in the found image's picture, row for row


@dataclass(frozen=True)
class _Snapshot:
    index: faiss.IndexBinaryFlat
    owner: np.ndarray  # row -> position in asset_ids
    point: np.ndarray  # row -> keypoint position within its asset
    asset_ids: tuple[UUID, ...]
    features: dict[UUID, LocalFeatures]


def _build(features: dict[UUID, LocalFeatures]) -> _Snapshot:
    index = faiss.IndexBinaryFlat(DESCRIPTOR_BYTES * 8)
    asset_ids = tuple(features)
    kept = [features[a] for a in asset_ids]
    if kept:
        index.add(np.concatenate([f.descriptors for f in kept]))
    owner = np.repeat(np.arange(len(kept), dtype=np.int32), [len(f) for f in kept])
    point = np.concatenate([np.arange(len(f), dtype=np.int32) for f in kept] or [np.zeros(0, int)])
    return _Snapshot(index, owner, point.astype(np.int32), asset_ids, features)


class FeatureIndex:
    """Searches run against immutable snapshots; each change builds the next one.

    A change costs a copy of every descriptor (16 KB per asset): fine for thousands of assets,
    and the place where a segmented or inverted-file index goes when they are many more."""

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._snapshot = _build({})

    @property
    def asset_count(self) -> int:
        return len(self._snapshot.asset_ids)

    def __len__(self) -> int:
        """Descriptors held, over every asset."""
        return int(self._snapshot.index.ntotal)

    def features_of(self, asset_id: UUID) -> LocalFeatures | None:
        return self._snapshot.features.get(asset_id)

    def replace_all(self, entries: Iterable[tuple[UUID, LocalFeatures]]) -> None:
        features = {asset_id: f for asset_id, f in entries if len(f)}
        with self._write_lock:
            self._snapshot = _build(features)

    def put(self, asset_id: UUID, features: LocalFeatures) -> None:
        with self._write_lock:
            current = dict(self._snapshot.features)
            current.pop(asset_id, None)
            if len(features):
                current[asset_id] = features
            self._snapshot = _build(current)

    def remove(self, asset_id: UUID) -> None:
        with self._write_lock:
            if asset_id not in self._snapshot.features:
                return
            current = dict(self._snapshot.features)
            del current[asset_id]
            self._snapshot = _build(current)

    def candidates(
        self, query: LocalFeatures, *, max_distance: int, ratio: float, min_votes: int, top: int
    ) -> list[Candidate]:
        """The `top` assets with at least `min_votes` distinctive matches, most votes first.

        A query descriptor votes for the asset of its nearest neighbour when that neighbour is
        within `max_distance` bits and clearly nearer than the next-nearest descriptor *of the
        same asset* (Lowe's ratio test, asset by asset): so a repeated texture inside one asset
        does not vote, while two registered shots of one product do not cancel each other out."""
        snapshot = self._snapshot
        if not len(query) or not snapshot.index.ntotal:
            return []
        k = min(NEIGHBOURS, int(snapshot.index.ntotal))
        distances, rows = snapshot.index.search(query.descriptors, k)
        best, best_row = distances[:, 0], rows[:, 0]
        owner = snapshot.owner[best_row]
        # The next-nearest neighbour of the same asset among the k found; when there is none,
        # the k-th distance bounds it from below.
        second = distances[:, -1].astype(np.float64)
        if k > 1:
            same = snapshot.owner[rows[:, 1:]] == owner[:, None]
            masked = np.where(same, distances[:, 1:], np.iinfo(np.int32).max)
            second = np.minimum(masked.min(axis=1), second)
        good = (best <= max_distance) & (best < ratio * second)
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

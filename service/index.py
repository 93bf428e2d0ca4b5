"""The in-memory match index: every active asset fingerprint, searched by XOR and popcount."""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from service.fingerprints import Fingerprint


@dataclass(frozen=True)
class Hit:
    asset_id: UUID
    algorithm: str
    variant: str
    distance: int
    size: int


@dataclass(frozen=True)
class _Table:
    """One algorithm's fingerprints as a (rows, words) uint64 matrix. Immutable: a change
    builds a new table, so searches never lock and never see half an update."""

    words: np.ndarray
    owners: tuple[UUID, ...]
    variants: tuple[str, ...]

    @classmethod
    def build(cls, rows: list[tuple[UUID, Fingerprint]]) -> "_Table":
        words = np.stack([np.frombuffer(fp.bits, dtype=np.uint64) for _, fp in rows])
        return cls(words, tuple(a for a, _ in rows), tuple(fp.variant for _, fp in rows))


class MatchIndex:
    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._by_asset: dict[UUID, tuple[Fingerprint, ...]] = {}
        self._tables: dict[str, _Table] = {}

    def __len__(self) -> int:
        return sum(len(table.owners) for table in self._tables.values())

    @property
    def asset_count(self) -> int:
        return len(self._by_asset)

    def replace_all(self, entries: Iterable[tuple[UUID, Fingerprint]]) -> None:
        by_asset: dict[UUID, list[Fingerprint]] = {}
        for asset_id, fingerprint in entries:
            by_asset.setdefault(asset_id, []).append(fingerprint)
        with self._write_lock:
            self._by_asset = {a: tuple(fps) for a, fps in by_asset.items()}
            self._rebuild()

    def put(self, asset_id: UUID, fingerprints: Iterable[Fingerprint]) -> None:
        """Adds an asset, or replaces its fingerprints; matchable as soon as this returns."""
        with self._write_lock:
            self._by_asset = {**self._by_asset, asset_id: tuple(fingerprints)}
            self._rebuild()

    def remove(self, asset_id: UUID) -> None:
        with self._write_lock:
            if asset_id in self._by_asset:
                self._by_asset = {a: f for a, f in self._by_asset.items() if a != asset_id}
                self._rebuild()

    def _rebuild(self) -> None:
        rows: dict[str, list[tuple[UUID, Fingerprint]]] = {}
        for asset_id, fingerprints in self._by_asset.items():
            for fingerprint in fingerprints:
                rows.setdefault(fingerprint.algorithm, []).append((asset_id, fingerprint))
        self._tables = {algorithm: _Table.build(r) for algorithm, r in rows.items()}

    def search(self, query: Fingerprint, max_distance: int) -> list[Hit]:
        table = self._tables.get(query.algorithm)
        if table is None:
            return []
        q = np.frombuffer(query.bits, dtype=np.uint64)
        if q.shape[0] != table.words.shape[1]:
            return []
        distances = np.bitwise_count(table.words ^ q).sum(axis=1, dtype=np.int64)
        return [
            Hit(table.owners[i], query.algorithm, table.variants[i], int(distances[i]), query.size)
            for i in np.flatnonzero(distances <= max_distance)
        ]

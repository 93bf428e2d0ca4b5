"""The in-memory match index: every active asset variant, one row per (asset, variant) with a
bit matrix per algorithm, searched exactly by XOR and popcount."""

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from service.fingerprints import ALGORITHM_BITS, Fingerprint

# Cheapest first: the short hash rules out almost every row before the long one is compared.
SEARCH_ORDER = sorted(ALGORITHM_BITS, key=ALGORITHM_BITS.__getitem__)


@dataclass(frozen=True)
class Hit:
    asset_id: UUID
    variant: str
    distances: dict[str, int]


@dataclass(frozen=True)
class _Table:
    """Immutable: a change builds a new table, so searches never lock or see half an update."""

    owners: tuple[UUID, ...]
    variants: tuple[str, ...]
    bits: dict[str, np.ndarray]  # algorithm -> (rows, words) uint64

    @classmethod
    def build(cls, by_asset: Mapping[UUID, tuple[Fingerprint, ...]]) -> "_Table":
        owners: list[UUID] = []
        variants: list[str] = []
        columns: dict[str, list[np.ndarray]] = {a: [] for a in ALGORITHM_BITS}
        for asset_id, prints in by_asset.items():
            by_variant: dict[str, dict[str, bytes]] = {}
            for fp in prints:
                by_variant.setdefault(fp.variant, {})[fp.algorithm] = fp.bits
            for variant, bits in by_variant.items():
                if set(bits) != set(ALGORITHM_BITS):
                    continue  # a variant is only searchable when every algorithm can agree on it
                owners.append(asset_id)
                variants.append(variant)
                for algorithm in ALGORITHM_BITS:
                    columns[algorithm].append(np.frombuffer(bits[algorithm], dtype=np.uint64))
        matrices = {
            a: np.stack(c) if c else np.zeros((0, ALGORITHM_BITS[a] // 64), dtype=np.uint64)
            for a, c in columns.items()
        }
        return cls(tuple(owners), tuple(variants), matrices)


class MatchIndex:
    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        self._by_asset: dict[UUID, tuple[Fingerprint, ...]] = {}
        self._table = _Table.build({})

    def __len__(self) -> int:
        """Searchable rows: one per (asset, variant)."""
        return len(self._table.owners)

    @property
    def asset_count(self) -> int:
        return len(self._by_asset)

    def replace_all(self, entries: Iterable[tuple[UUID, Fingerprint]]) -> None:
        by_asset: dict[UUID, list[Fingerprint]] = {}
        for asset_id, fingerprint in entries:
            by_asset.setdefault(asset_id, []).append(fingerprint)
        with self._write_lock:
            self._by_asset = {a: tuple(fps) for a, fps in by_asset.items()}
            self._table = _Table.build(self._by_asset)

    def put(self, asset_id: UUID, fingerprints: Iterable[Fingerprint]) -> None:
        """Adds an asset, or replaces its fingerprints; matchable as soon as this returns."""
        with self._write_lock:
            self._by_asset = {**self._by_asset, asset_id: tuple(fingerprints)}
            self._table = _Table.build(self._by_asset)

    def remove(self, asset_id: UUID) -> None:
        with self._write_lock:
            if asset_id in self._by_asset:
                self._by_asset = {a: f for a, f in self._by_asset.items() if a != asset_id}
                self._table = _Table.build(self._by_asset)

    def search(self, query: Mapping[str, bytes], max_distance: Mapping[str, int]) -> list[Hit]:
        """Rows within `max_distance` of `query` on every algorithm at once."""
        table = self._table
        rows = np.arange(len(table.owners))
        distances: dict[str, np.ndarray] = {}
        for algorithm in SEARCH_ORDER:
            q = np.frombuffer(query[algorithm], dtype=np.uint64)
            d = np.bitwise_count(table.bits[algorithm][rows] ^ q).sum(axis=1, dtype=np.int64)
            keep = d <= max_distance[algorithm]
            rows = rows[keep]
            distances = {a: v[keep] for a, v in distances.items()}
            distances[algorithm] = d[keep]
            if rows.size == 0:
                return []
        return [
            Hit(table.owners[r], table.variants[r], {a: int(d[i]) for a, d in distances.items()})
            for i, r in enumerate(rows)
        ]

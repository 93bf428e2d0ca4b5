"""The in-memory match index: every active asset variant, one row per (asset, variant) with a
bit matrix per algorithm, searched exactly by XOR and popcount, changed incrementally; and beside
it the index of the assets' local features (feature_index.py), kept in step with it."""

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from uuid import UUID

import numpy as np

from service.detection.bitscan import scan
from service.detection.feature_index import FeatureIndex
from service.detection.features import LocalFeatures
from service.detection.hashes import ALGORITHM_BITS, Fingerprint, local_features_of

# Cheapest first: the short hash rules out almost every row before the long one is compared.
SEARCH_ORDER = sorted(ALGORITHM_BITS, key=ALGORITHM_BITS.__getitem__)
WORDS = {algorithm: bits // 64 for algorithm, bits in ALGORITHM_BITS.items()}

ALIVE = np.iinfo(np.uint64).max  # the death generation of a row no change has removed yet
MIN_CAPACITY = 1024
# search_many compares a block of queries with every row at once while the index has at most
# MANY_MAX_ROWS rows, in blocks of at most MANY_BLOCK query-row pairs. On a bigger index it
# searches one query at a time: there a call's fixed cost is small beside the scan, and the
# chunked scan keeps its scratch arrays in cache.
MANY_MAX_ROWS = 1 << 15
MANY_BLOCK = 1 << 20
# Removed rows stay in the arrays, and every scan still pays for them, until they outnumber a
# quarter of the live rows; then one O(rows) compaction drops them, amortised over the removals.
COMPACT_DEAD_SHARE = 4
COMPACT_MIN_DEAD = 1024


@dataclass(frozen=True)
class Hit:
    asset_id: UUID
    variant: str
    distances: dict[str, int]


@dataclass(frozen=True)
class _Table:
    """One published state of the index. Searches read whichever table was current when they
    started and never lock: a change only writes rows at or past `size` and death generations
    newer than `generation`, neither of which this table looks at, and then publishes a new
    table. A row is searchable in this table iff it is below `size` and its death generation is
    above `generation`."""

    size: int
    generation: int
    rows: int  # searchable rows
    assets: int
    bits: dict[str, np.ndarray]  # algorithm -> (words, capacity) uint64, one word of every row
    died: np.ndarray  # (capacity,) uint64: the generation whose change removed the row
    owner: np.ndarray  # (capacity,) int32 index into asset_ids
    variant: np.ndarray  # (capacity,) int32 index into variant_names
    asset_ids: list[UUID]  # append-only while shared by tables, so older tables stay valid
    variant_names: list[str]

    @property
    def capacity(self) -> int:
        return len(self.died)


@dataclass(frozen=True)
class _Rows:
    """An asset's searchable variants, ready to be written: validated before anything changes."""

    variants: list[str]
    bits: dict[str, np.ndarray]  # algorithm -> (words, rows) uint64

    @classmethod
    def of(cls, prints: Iterable[Fingerprint]) -> "_Rows":
        by_variant: dict[str, dict[str, bytes]] = {}
        for fp in prints:
            by_variant.setdefault(fp.variant, {})[fp.algorithm] = fp.bits
        # A variant is only searchable when every algorithm can agree on it.
        complete = {v: b for v, b in by_variant.items() if set(b) == set(ALGORITHM_BITS)}
        bits: dict[str, np.ndarray] = {}
        for algorithm, words in WORDS.items():
            joined = b"".join(b[algorithm] for b in complete.values())
            if any(len(b[algorithm]) != words * 8 for b in complete.values()):
                raise ValueError(f"a {algorithm} fingerprint must be {words * 8} bytes")
            bits[algorithm] = np.frombuffer(joined, dtype=np.uint64).reshape(-1, words).T
        return cls(list(complete), bits)


def _empty_table(capacity: int, generation: int) -> _Table:
    return _Table(
        size=0,
        generation=generation,
        rows=0,
        assets=0,
        bits={a: np.zeros((w, capacity), dtype=np.uint64) for a, w in WORDS.items()},
        died=np.full(capacity, ALIVE, dtype=np.uint64),
        owner=np.zeros(capacity, dtype=np.int32),
        variant=np.zeros(capacity, dtype=np.int32),
        asset_ids=[],
        variant_names=[],
    )


def _with_capacity(table: _Table, capacity: int) -> _Table:
    """A table on new arrays of `capacity`, holding `table`'s rows: the old arrays stay as they
    are for searches still reading them."""
    grown = _empty_table(capacity, table.generation)
    n = table.size
    for algorithm, matrix in table.bits.items():
        grown.bits[algorithm][:, :n] = matrix[:, :n]
    grown.died[:n] = table.died[:n]
    grown.owner[:n] = table.owner[:n]
    grown.variant[:n] = table.variant[:n]
    return replace(
        table, bits=grown.bits, died=grown.died, owner=grown.owner, variant=grown.variant
    )


class MatchIndex:
    """Rows are appended into arrays that double when full; removing or replacing an asset marks
    its rows dead with the generation of that change, and dead rows are compacted away in bulk.
    So a change costs about its own rows, and searches run against immutable snapshots."""

    def __init__(self) -> None:
        self._write_lock = threading.Lock()
        # Under the write lock only: asset -> its row range in the current table, and its
        # position in that table's asset_ids.
        self._ranges: dict[UUID, range] = {}
        self._ordinals: dict[UUID, int] = {}
        self._variant_ordinals: dict[str, int] = {}
        self._table = _empty_table(MIN_CAPACITY, 0)
        # Every asset's local features; a change here changes them in the same call.
        self.features = FeatureIndex()

    def __len__(self) -> int:
        """Searchable rows: one per (asset, variant)."""
        return self._table.rows

    @property
    def asset_count(self) -> int:
        return self._table.assets

    def replace_all(self, entries: Iterable[tuple[UUID, Fingerprint]]) -> None:
        by_asset: dict[UUID, list[Fingerprint]] = {}
        local: list[tuple[UUID, LocalFeatures]] = []
        for asset_id, fingerprint in entries:
            prints = by_asset.setdefault(asset_id, [])
            if (found := local_features_of(fingerprint)) is not None:
                local.append((asset_id, found))
            else:
                prints.append(fingerprint)
        prepared = {asset_id: _Rows.of(prints) for asset_id, prints in by_asset.items()}
        total = sum(len(r.variants) for r in prepared.values())
        with self._write_lock:
            generation = self._table.generation + 1
            self._ranges, self._ordinals, self._variant_ordinals = {}, {}, {}
            table = _empty_table(max(MIN_CAPACITY, 2 * total), generation)
            for asset_id, rows in prepared.items():
                table = self._append(table, asset_id, rows)
            self._table = table
            self.features.replace_all(local)

    def put(self, asset_id: UUID, fingerprints: Iterable[Fingerprint]) -> None:
        """Adds an asset, or replaces its fingerprints; matchable as soon as this returns."""
        prints = list(fingerprints)
        local = [f for p in prints if (f := local_features_of(p)) is not None]
        rows = _Rows.of(p for p in prints if p.algorithm in ALGORITHM_BITS)
        with self._write_lock:
            if local:
                self.features.put(asset_id, local[0])
            else:
                self.features.remove(asset_id)
            table = self._table
            old = self._ranges.get(asset_id)
            generation = table.generation + 1
            table = self._append(table, asset_id, rows)
            # Marked after the new rows are written and before either is published, so a search
            # sees the old rows or the new ones, never both or neither.
            if old is not None:
                table.died[old.start : old.stop] = generation
            self._publish(
                table,
                generation,
                rows=table.rows - (len(old) if old is not None else 0),
                assets=table.assets - (old is not None),
            )

    def remove(self, asset_id: UUID) -> None:
        with self._write_lock:
            self.features.remove(asset_id)
            old = self._ranges.pop(asset_id, None)
            if old is None:
                return
            self._ordinals.pop(asset_id)
            table = self._table
            generation = table.generation + 1
            table.died[old.start : old.stop] = generation
            self._publish(table, generation, rows=table.rows - len(old), assets=table.assets - 1)

    def search(self, query: Mapping[str, bytes], max_distance: Mapping[str, int]) -> list[Hit]:
        """Rows within `max_distance` of `query` on every algorithm at once."""
        return self._search(self._table, query, max_distance)

    def _search(
        self, table: _Table, query: Mapping[str, bytes], max_distance: Mapping[str, int]
    ) -> list[Hit]:
        first = SEARCH_ORDER[0]
        words = {a: _query_words(query, a)[None, :] for a in SEARCH_ORDER}
        rows, found = scan(table.bits[first][:, : table.size], words[first][0], max_distance[first])
        asked = np.zeros(rows.size, dtype=np.intp)
        [hits] = _refine(table, 1, asked, rows, found, words, max_distance)
        return hits

    def search_many(
        self, queries: Sequence[Mapping[str, bytes]], max_distance: Mapping[str, int]
    ) -> list[list[Hit]]:
        """`search` for each query, against one snapshot. On a small index, a block of queries
        is compared with every row in a few array operations instead of a few per query: a
        batch of sightings costs about one search, not one per region."""
        table = self._table
        if table.size > MANY_MAX_ROWS:
            return [self._search(table, query, max_distance) for query in queries]
        found: list[list[Hit]] = []
        block = max(1, MANY_BLOCK // max(1, table.size))
        for start in range(0, len(queries), block):
            found += _search_block(table, queries[start : start + block], max_distance)
        return found

    def _append(self, table: _Table, asset_id: UUID, rows: _Rows) -> _Table:
        """Writes `rows` past the end of `table` (growing it onto new arrays if full) and records
        them as `asset_id`'s range; returns the table that holds them, not yet published."""
        count = len(rows.variants)
        if table.size + count > table.capacity:
            table = _with_capacity(table, max(2 * table.capacity, table.size + count))
        start, stop = table.size, table.size + count
        ordinal = self._ordinals.get(asset_id)
        if ordinal is None:
            ordinal = self._ordinals[asset_id] = len(table.asset_ids)
            table.asset_ids.append(asset_id)
        for algorithm, matrix in rows.bits.items():
            table.bits[algorithm][:, start:stop] = matrix
        table.died[start:stop] = ALIVE
        table.owner[start:stop] = ordinal
        table.variant[start:stop] = [self._variant_ordinal(table, v) for v in rows.variants]
        self._ranges[asset_id] = range(start, stop)
        return replace(table, size=stop, rows=table.rows + count, assets=table.assets + 1)

    def _variant_ordinal(self, table: _Table, variant: str) -> int:
        ordinal = self._variant_ordinals.get(variant)
        if ordinal is None:
            ordinal = self._variant_ordinals[variant] = len(table.variant_names)
            table.variant_names.append(variant)
        return ordinal

    def _publish(self, table: _Table, generation: int, *, rows: int, assets: int) -> None:
        table = replace(table, generation=generation, rows=rows, assets=assets)
        dead = table.size - rows
        if dead >= COMPACT_MIN_DEAD and dead * COMPACT_DEAD_SHARE > rows:
            table = self._compacted(table)
        self._table = table

    def _compacted(self, table: _Table) -> _Table:
        """The live rows of `table` on new arrays, in their order, so each asset's rows stay one
        range; assets are renumbered so the removed ones are forgotten."""
        live = table.died[: table.size] == ALIVE
        kept = np.flatnonzero(live)
        new_row = np.cumsum(live) - 1  # a live row's position among the live rows
        compact = _empty_table(max(MIN_CAPACITY, 2 * kept.size), table.generation)
        for algorithm, matrix in table.bits.items():
            for word in range(matrix.shape[0]):  # one word at a time: far faster than 2-D take
                np.take(matrix[word], kept, out=compact.bits[algorithm][word, : kept.size])
        new_owner = np.full(len(table.asset_ids), -1, dtype=np.int32)
        for asset_id, ordinal in self._ordinals.items():
            new_owner[ordinal] = len(compact.asset_ids)
            compact.asset_ids.append(asset_id)
        self._ordinals = {a: i for i, a in enumerate(compact.asset_ids)}
        compact.owner[: kept.size] = new_owner[table.owner[kept]]
        compact.variant[: kept.size] = table.variant[kept]
        self._ranges = {
            asset_id: range(int(new_row[r.start]), int(new_row[r.start]) + len(r))
            if r
            else range(0)
            for asset_id, r in self._ranges.items()
        }
        return replace(
            table,
            size=int(kept.size),
            bits=compact.bits,
            died=compact.died,
            owner=compact.owner,
            variant=compact.variant,
            asset_ids=compact.asset_ids,
        )


def _search_block(
    table: _Table, queries: Sequence[Mapping[str, bytes]], max_distance: Mapping[str, int]
) -> list[list[Hit]]:
    """The first algorithm for every (query, row) pair at once, then `_refine`."""
    first = SEARCH_ORDER[0]
    n = table.size
    words = {a: np.stack([_query_words(q, a) for q in queries]) for a in SEARCH_ORDER}
    matrix = table.bits[first][:, :n]
    distance = np.zeros((len(queries), n), dtype=np.uint16)
    for word in range(WORDS[first]):
        distance += np.bitwise_count(matrix[word][None, :] ^ words[first][:, word, None])
    asked, rows = np.nonzero(distance <= max_distance[first])
    found = distance[asked, rows].astype(np.int64)
    return _refine(table, len(queries), asked, rows, found, words, max_distance)


def _refine(
    table: _Table,
    queries: int,
    asked: np.ndarray,
    rows: np.ndarray,
    found: np.ndarray,
    words: Mapping[str, np.ndarray],
    max_distance: Mapping[str, int],
) -> list[list[Hit]]:
    """Each query's hits, from the rows within the first algorithm's limit of query `asked[i]`
    at distance `found[i]`: the live ones, then within every further algorithm's limit too.
    `words[algorithm]` holds one row of query words per query."""
    first, *others = SEARCH_ORDER
    live = table.died[rows] > table.generation
    asked, rows, distances = asked[live], rows[live], {first: found[live]}
    for algorithm in others:
        differing = np.bitwise_count(table.bits[algorithm][:, rows] ^ words[algorithm][asked].T)
        total = differing.sum(axis=0, dtype=np.int64)
        keep = total <= max_distance[algorithm]
        asked, rows = asked[keep], rows[keep]
        distances = {a: v[keep] for a, v in distances.items()}
        distances[algorithm] = total[keep]
    hits: list[list[Hit]] = [[] for _ in range(queries)]
    owners, variants = table.owner[rows], table.variant[rows]
    for i in range(rows.size):
        hits[asked[i]].append(
            Hit(
                table.asset_ids[owners[i]],
                table.variant_names[variants[i]],
                {a: int(d[i]) for a, d in distances.items()},
            )
        )
    return hits


def _query_words(query: Mapping[str, bytes], algorithm: str) -> np.ndarray:
    words = np.frombuffer(query[algorithm], dtype=np.uint64)
    if words.size != WORDS[algorithm]:
        raise ValueError(f"a {algorithm} query must be {WORDS[algorithm] * 8} bytes")
    return words

"""Exact Hamming scans over packed bit matrices: the rows within a distance of one query, reading
for most rows only as many words as that distance needs to rule them out."""

import math

import numpy as np

# A scan works on this many rows at a time so that its scratch arrays stay in the core's cache
# instead of being allocated (and page-faulted) at the size of the whole index on every query.
SCAN_CHUNK = 1 << 17


def full_words(words: int, limit: int) -> int:
    """How many leading words a scan reads for every row; the rest are read only for the rows
    still within `limit`. Unrelated fingerprints differ in about half their bits, so after k
    words their partial distance is near 32k with a spread of 4 sqrt(k): once that clears the
    limit by two spreads, under ~2% of the rows are left, and gathering their remaining words
    costs less than streaming those words for every row (for PDQ at 64: three words of four)."""
    for k in range(1, words):
        if 32 * k - limit >= 8 * math.sqrt(k):
            return k
    return words


def scan(matrix: np.ndarray, query: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `matrix` (words, rows) within `limit` bits of `query` (words,), in order, and
    their distances. Exact: a row is left out only once its partial distance exceeds `limit`."""
    words, n = matrix.shape
    streamed = full_words(words, limit)
    # A partial distance of up to three words fits in a byte, and byte arrays are the fastest.
    partial_type = np.uint8 if 64 * streamed <= 255 else np.uint16
    chunk = max(1, min(SCAN_CHUNK, n))
    xor = np.empty(chunk, dtype=np.uint64)
    count = np.empty(chunk, dtype=np.uint8)
    partial = count if streamed == 1 else np.empty(chunk, dtype=partial_type)
    found_rows: list[np.ndarray] = []
    found_distances: list[np.ndarray] = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        x, c, d = xor[: stop - start], count[: stop - start], partial[: stop - start]
        for word in range(streamed):
            np.bitwise_xor(matrix[word, start:stop], query[word], out=x)
            np.bitwise_count(x, out=c if word else d)
            if word:
                np.add(d, c, out=d)
        rows = np.flatnonzero(d <= limit)
        if rows.size:
            found_distances.append(d[rows].astype(np.int64))
            found_rows.append(rows + start)
    if not found_rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rows, distances = np.concatenate(found_rows), np.concatenate(found_distances)
    if streamed < words:
        rest = np.bitwise_count(matrix[streamed:, rows] ^ query[streamed:, None])
        distances += rest.sum(axis=0, dtype=np.int64)
        keep = distances <= limit
        rows, distances = rows[keep], distances[keep]
    return rows, distances

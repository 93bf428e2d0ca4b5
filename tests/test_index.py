"""The match index and the matching rule, without a database."""

import random
import sys
import threading
from uuid import UUID, uuid4

import pytest

from service.detection import index as index_module
from service.detection.hashes import Fingerprint, SightingPrints
from service.detection.index import MatchIndex
from service.detection.matching import MatchPolicy, find_matches, score

POLICY = MatchPolicy({"pdq": 80, "phash": 16})
LIMITS = {"pdq": 80, "phash": 16}


def pair(pdq: int, phash: int, variant: str = "original") -> list[Fingerprint]:
    return [
        Fingerprint("pdq", variant, pdq.to_bytes(32, "big")),
        Fingerprint("phash", variant, phash.to_bytes(8, "big")),
    ]


def query(pdq: int, phash: int) -> dict[str, bytes]:
    return {"pdq": pdq.to_bytes(32, "big"), "phash": phash.to_bytes(8, "big")}


def bits(n: int) -> int:
    """A value with its n lowest bits set: n bits away from 0."""
    return (1 << n) - 1


def test_added_asset_is_found_at_once_and_removed_asset_is_not() -> None:
    index, asset = MatchIndex(), uuid4()
    index.put(asset, pair(0, 0))
    [hit] = index.search(query(bits(3), bits(1)), LIMITS)
    assert (hit.asset_id, hit.distances) == (asset, {"pdq": 3, "phash": 1})
    index.remove(asset)
    assert index.search(query(0, 0), LIMITS) == []
    assert len(index) == 0


def test_both_algorithms_must_agree_on_the_same_variant() -> None:
    index, asset = MatchIndex(), uuid4()
    index.put(asset, pair(0, 0))
    assert index.search(query(bits(80), bits(16)), LIMITS)
    assert not index.search(query(0, bits(17)), LIMITS)  # pHash alone is off
    assert not index.search(query(bits(81), 0), LIMITS)  # PDQ alone is off


def test_agreement_across_different_variants_is_not_a_match() -> None:
    index = MatchIndex()
    # PDQ agrees with one variant and pHash with another: no single pair agrees on both.
    index.put(uuid4(), [*pair(0, bits(40), "original"), *pair(bits(200), 0, "flip")])
    assert index.search(query(0, 0), LIMITS) == []


def test_variant_missing_an_algorithm_is_not_searchable() -> None:
    index = MatchIndex()
    index.put(uuid4(), [Fingerprint("pdq", "original", bytes(32))])
    assert len(index) == 0


def test_best_pair_per_asset_is_kept_with_its_variant_and_region() -> None:
    index, near, far = MatchIndex(), uuid4(), uuid4()
    index.put(near, [*pair(bits(5), 0, "original"), *pair(0, 0, "flip")])
    index.put(far, pair(bits(30), bits(4)))
    prints = SightingPrints((*pair(0, 0, "original"), *pair(bits(70), bits(10), "region:a")))
    matches = find_matches(index, prints, POLICY)
    assert [m.asset_id for m in matches] == [near, far]
    assert (matches[0].variant, matches[0].region, matches[0].score) == ("flip", "original", 1.0)


def test_score_is_mean_similarity() -> None:
    assert score({"pdq": 0, "phash": 0}) == 1.0
    assert score({"pdq": 128, "phash": 32}) == 0.5


def test_replace_all_swaps_the_whole_content() -> None:
    index, old, new = MatchIndex(), uuid4(), uuid4()
    index.put(old, pair(5, 5))
    index.replace_all([(new, fp) for fp in pair(5, 5)])
    assert {h.asset_id for h in index.search(query(5, 5), LIMITS)} == {new}
    assert (index.asset_count, len(index)) == (1, 1)


def test_variant_without_every_algorithm_still_counts_its_asset() -> None:
    index = MatchIndex()
    index.put(uuid4(), [Fingerprint("pdq", "original", bytes(32))])
    assert (index.asset_count, len(index)) == (1, 0)


def test_pdq_distance_is_exact_at_the_limit_wherever_the_differing_bits_lie() -> None:
    # At the service's thresholds a PDQ scan reads the last word only for rows still in reach
    # after the first three: a row whose differing bits lie in that word must still count them.
    index, limits = MatchIndex(), {"pdq": 64, "phash": 18}
    last_word, first_and_last = uuid4(), uuid4()
    index.put(last_word, pair(bits(64), 0))
    index.put(first_and_last, pair((bits(60) << 192) | bits(5), 0))
    assert [(h.asset_id, h.distances["pdq"]) for h in index.search(query(0, 0), limits)] == [
        (last_word, 64)
    ]
    index.put(last_word, pair(bits(65), 0))
    assert index.search(query(0, 0), limits) == []


def random_prints(rng: random.Random, variants: int) -> list[Fingerprint]:
    return [
        fp
        for v in range(variants)
        for fp in pair(rng.getrandbits(256), rng.getrandbits(64), f"v{v}")
    ]


def near(fp: Fingerprint, rng: random.Random, flips: int) -> bytes:
    value = int.from_bytes(fp.bits, "big")
    for bit in rng.sample(range(fp.size), flips):
        value ^= 1 << bit
    return value.to_bytes(len(fp.bits), "big")


def results(index: MatchIndex, queries: list[dict[str, bytes]]) -> list[set[tuple[object, ...]]]:
    return [
        {
            (h.asset_id, h.variant, tuple(sorted(h.distances.items())))
            for h in index.search(q, LIMITS)
        }
        for q in queries
    ]


def test_puts_and_removes_in_mixed_order_search_like_a_freshly_built_index() -> None:
    # Enough rows that the arrays grow several times and removals trigger compactions.
    rng = random.Random(4)
    index = MatchIndex()
    live: dict[UUID, list[Fingerprint]] = {}
    assets = [uuid4() for _ in range(400)]

    def check() -> None:
        fresh = MatchIndex()
        fresh.replace_all((a, fp) for a, prints in live.items() for fp in prints)
        sample = [fp for prints in live.values() for fp in prints[:2]]
        queries = [
            {f.algorithm: near(f, rng, 3) for f in sample[i : i + 2]}
            for i in range(0, min(len(sample), 200), 2)
        ] + [query(rng.getrandbits(256), rng.getrandbits(64)) for _ in range(20)]
        assert results(index, queries) == results(fresh, queries)
        assert (len(index), index.asset_count) == (len(fresh), len(live))

    for _ in range(3):
        for asset in rng.sample(assets, 300):
            if asset in live and rng.random() < 0.6:
                index.remove(asset)
                del live[asset]
            else:  # a new asset, or new prints for one already there
                live[asset] = random_prints(rng, rng.randint(0, 12))
                index.put(asset, live[asset])
        check()
    for asset in list(live)[: len(live) * 9 // 10]:
        index.remove(asset)
        del live[asset]
    check()


@pytest.mark.parametrize(
    ("max_rows", "block"),
    [(index_module.MANY_MAX_ROWS, index_module.MANY_BLOCK), (1 << 15, 5_000), (100, 1)],
    ids=["as-shipped", "small-blocks", "large-index-path"],
)
def test_many_queries_at_once_find_what_one_at_a_time_finds(
    monkeypatch: pytest.MonkeyPatch, max_rows: int, block: int
) -> None:
    monkeypatch.setattr(index_module, "MANY_MAX_ROWS", max_rows)
    monkeypatch.setattr(index_module, "MANY_BLOCK", block)
    rng = random.Random(7)
    index = MatchIndex()
    live = {uuid4(): random_prints(rng, rng.randint(1, 8)) for _ in range(150)}
    for asset, prints in live.items():
        index.put(asset, prints)
    for asset in list(live)[:40]:  # dead rows a search must skip
        index.remove(asset)
    sample = [fp for prints in live.values() for fp in prints]
    queries = [
        # 0-20 flips: within, at and past the limits of both algorithms.
        {f.algorithm: near(f, rng, rng.randint(0, 20)) for f in sample[i : i + 2]}
        for i in range(0, len(sample), 2)
    ] + [query(rng.getrandbits(256), rng.getrandbits(64)) for _ in range(30)]

    one_at_a_time = [index.search(q, LIMITS) for q in queries]
    assert index.search_many(queries, LIMITS) == one_at_a_time
    assert sum(map(len, one_at_a_time)) > len(queries) // 4  # the comparison saw hits


def test_putting_an_asset_again_replaces_all_its_prints() -> None:
    index, asset = MatchIndex(), uuid4()
    index.put(asset, [*pair(0, 0, "original"), *pair(bits(200), bits(40), "flip")])
    index.put(asset, pair(bits(100), bits(30), "rot90"))
    assert index.search(query(0, 0), LIMITS) == []
    assert index.search(query(bits(200), bits(40)), LIMITS) == []
    [hit] = index.search(query(bits(100), bits(30)), LIMITS)
    assert (hit.asset_id, hit.variant) == (asset, "rot90")
    assert (index.asset_count, len(index)) == (1, 1)


def test_removing_an_unknown_or_already_removed_asset_changes_nothing() -> None:
    index, kept, gone = MatchIndex(), uuid4(), uuid4()
    index.put(kept, pair(0, 0))
    index.put(gone, pair(bits(100), bits(30)))
    index.remove(gone)
    index.remove(gone)
    index.remove(uuid4())
    assert [h.asset_id for h in index.search(query(0, 0), LIMITS)] == [kept]
    assert (index.asset_count, len(index)) == (1, 1)


def test_concurrent_searches_see_each_change_whole_and_no_row_after_its_remove() -> None:
    # One asset flips between two variants with the same bits: a search must find exactly one
    # of them, never both or neither. Other assets come and go (growing and compacting the
    # arrays); once remove() has returned, no search that starts later may find that asset.
    index, flipping = MatchIndex(), uuid4()
    target = query(0, 0)
    index.put(flipping, pair(0, 0, "a"))
    removed: set[UUID] = set()
    done = threading.Event()
    failures: list[str] = []

    def search() -> None:
        while not done.is_set():
            gone = set(removed)
            try:
                hits = index.search(target, LIMITS)
            except Exception as error:
                failures.append(repr(error))
                return
            mine = [h.variant for h in hits if h.asset_id == flipping]
            if len(mine) != 1:
                failures.append(f"flipping asset seen as {mine}")
            if seen := {h.asset_id for h in hits} & gone:
                failures.append(f"removed assets found: {seen}")

    searchers = [threading.Thread(target=search) for _ in range(4)]
    # Switch threads as often as the interpreter allows, so searches land inside changes.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    for thread in searchers:
        thread.start()
    rng = random.Random(7)
    try:
        for step in range(600):
            index.put(flipping, pair(0, 0, "b" if step % 2 else "a"))
            others = [uuid4() for _ in range(3)]
            for other in others:  # within reach of the target query, so a stale row would show
                index.put(other, [*pair(bits(rng.randint(0, 9)), 0, "x"), *random_prints(rng, 5)])
            for other in others[:2]:
                index.remove(other)
                removed.add(other)
    finally:
        done.set()
        sys.setswitchinterval(switch_interval)
        for thread in searchers:
            thread.join()
    assert failures == []

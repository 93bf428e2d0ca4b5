"""The match index and the matching rule, without a database."""

from uuid import uuid4

from service.fingerprints import Fingerprint, SightingPrints
from service.index import MatchIndex
from service.matching import MatchPolicy, find_matches

POLICY = MatchPolicy({"pdq": 31, "phash": 10})


def fp(algorithm: str, value: int, variant: str = "original") -> Fingerprint:
    size = {"pdq": 32, "phash": 8}[algorithm]
    return Fingerprint(algorithm, variant, value.to_bytes(size, "big"))


def test_added_asset_is_found_at_once_and_removed_asset_is_not() -> None:
    index, asset = MatchIndex(), uuid4()
    index.put(asset, [fp("phash", 0b1011)])
    [hit] = index.search(fp("phash", 0b1001), max_distance=10)
    assert (hit.asset_id, hit.distance) == (asset, 1)
    index.remove(asset)
    assert index.search(fp("phash", 0b1001), max_distance=10) == []
    assert len(index) == 0


def test_search_honours_the_threshold_exactly() -> None:
    index, asset = MatchIndex(), uuid4()
    index.put(asset, [fp("phash", 0)])
    assert index.search(fp("phash", (1 << 10) - 1), max_distance=10)  # 10 bits differ
    assert not index.search(fp("phash", (1 << 11) - 1), max_distance=10)  # 11 bits differ


def test_algorithms_never_compare_across() -> None:
    index = MatchIndex()
    index.put(uuid4(), [fp("pdq", 0)])
    assert index.search(fp("phash", 0), max_distance=64) == []


def test_best_pair_per_asset_is_kept_with_its_variant() -> None:
    index, near, far = MatchIndex(), uuid4(), uuid4()
    index.put(near, [fp("phash", 0b1, "original"), fp("phash", 0b0, "flip")])
    index.put(far, [fp("phash", 0b111)])
    matches = find_matches(index, SightingPrints((fp("phash", 0),)), POLICY)
    assert [m.asset_id for m in matches] == [near, far]
    assert (matches[0].variant, matches[0].distance, matches[0].score) == ("flip", 0, 1.0)


def test_replace_all_swaps_the_whole_content() -> None:
    index, old, new = MatchIndex(), uuid4(), uuid4()
    index.put(old, [fp("pdq", 5)])
    index.replace_all([(new, fp("pdq", 5)), (new, fp("phash", 5))])
    assert {h.asset_id for h in index.search(fp("pdq", 5), 0)} == {new}
    assert (index.asset_count, len(index)) == (1, 2)

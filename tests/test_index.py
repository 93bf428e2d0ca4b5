"""The match index and the matching rule, without a database."""

from uuid import uuid4

from service.fingerprints import Fingerprint, SightingPrints
from service.index import MatchIndex
from service.matching import MatchPolicy, find_matches, score

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

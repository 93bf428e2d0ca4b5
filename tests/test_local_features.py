"""The geometric stage: local features as values, their text form, and matches that the global
hashes miss (crops anywhere, rotations, dark pictures), each placed in the found image."""

import uuid

import numpy as np
import pytest
from PIL import Image

from service.detection import feature_index, features
from service.detection.decode import ImageLimits, decode
from service.detection.errors import InvalidFingerprint
from service.detection.feature_index import Candidate
from service.detection.features import LocalFeatures
from service.detection.hashes import fingerprint_asset, fingerprint_sighting, local_features_of
from service.detection.index import MatchIndex
from service.detection.matching import LOCAL_VARIANT, AssetMatch, find_matches
from service.detection.verify import Geometry, verify
from service.settings import Settings
from testing.images import encode, photo

LIMITS = ImageLimits(max_bytes=50_000_000, max_pixels=50_000_000)
SIZE = (1280, 960)
Registered = tuple[MatchIndex, dict[uuid.UUID, int]]


def _local(image: Image.Image) -> LocalFeatures:
    decoded = decode(encode(image), LIMITS)
    found = fingerprint_sighting(decoded.pixels, decoded.width, decoded.height).local
    assert found is not None
    return found


@pytest.fixture(scope="module")
def index() -> Registered:
    """Twelve registered photos, keyed by their seed."""
    index, seeds = MatchIndex(), {}
    for seed in range(1, 13):
        asset_id = uuid.uuid4()
        seeds[asset_id] = seed
        index.put(asset_id, fingerprint_asset(decode(encode(photo(seed, SIZE)), LIMITS).pixels))
    return index, seeds


def _matches(index: Registered, image: Image.Image) -> list[int]:
    return [index[1][m.asset_id] for m in _found(index[0], image)]


def _found(index: MatchIndex, image: Image.Image) -> list[AssetMatch]:
    decoded = decode(encode(image), LIMITS)
    prints = fingerprint_sighting(decoded.pixels, decoded.width, decoded.height)
    return find_matches(index, prints, Settings().match_policy)


def test_text_form_round_trips() -> None:
    found = _local(photo(3, SIZE))
    again = LocalFeatures.from_text(found.to_text())
    assert (again.width, again.height) == (found.width, found.height)
    assert np.array_equal(again.descriptors, found.descriptors)
    assert np.abs(again.points - found.points).max() <= 1 / features.POINT_SCALE


@pytest.mark.parametrize(
    "text",
    ["orb0:AAAA", "orb1:not base64!", "orb1:AAA=", "orb1:" + "A" * 12],
    ids=["other-version", "not-base64", "truncated", "count-mismatch"],
)
def test_malformed_local_features_are_refused(text: str) -> None:
    with pytest.raises(InvalidFingerprint):
        LocalFeatures.from_text(text)


def test_local_features_outside_their_picture_are_refused() -> None:
    found = _local(photo(3, SIZE))
    shrunk = LocalFeatures(10, 10, found.points, found.descriptors)
    with pytest.raises(InvalidFingerprint):
        LocalFeatures.from_text(shrunk.to_text())


def test_asset_keeps_its_local_features_as_a_fingerprint() -> None:
    prints = fingerprint_asset(decode(encode(photo(5, SIZE)), LIMITS).pixels)
    [local] = [f for f in prints if f.algorithm == features.ALGORITHM]
    found = local_features_of(local)
    assert found is not None and len(found) >= 100


def test_half_crop_off_the_grid_is_found_and_placed(index: Registered) -> None:
    crop = photo(3, SIZE).crop((500, 110, 1140, 590))
    [match] = _found(index[0], crop)
    assert index[1][match.asset_id] == 3
    assert match.variant == LOCAL_VARIANT
    # The asset runs past every edge of the crop: the matched region is the whole found image.
    assert match.region_polygon is not None
    assert all(min(x, 1 - x, y, 1 - y) < 0.02 for x, y in match.region_polygon)


def test_rotated_copy_is_found(index: Registered) -> None:
    assert _matches(index, photo(4, SIZE).rotate(15, expand=True)) == [4]


def test_copy_pasted_small_into_another_picture_is_placed_where_it_lies(index: Registered) -> None:
    host = photo(50, SIZE)
    host.paste(photo(6, SIZE).resize((640, 480)), (600, 400))
    [match] = [m for m in _found(index[0], host) if index[1][m.asset_id] == 6]
    assert match.region_polygon is not None
    xs = [x for x, _ in match.region_polygon]
    ys = [y for _, y in match.region_polygon]
    assert min(xs) == pytest.approx(600 / 1280, abs=0.03)
    assert min(ys) == pytest.approx(400 / 960, abs=0.03)


def _shown_small(found_in_tile: int) -> Geometry | None:
    """30 of an asset's 1,000 keypoints found again in a half-size tile of a 512 x 384 found
    image that holds `found_in_tile` keypoints, and 800 more keypoints elsewhere."""
    rng = np.random.default_rng(5)
    asset = LocalFeatures(
        512,
        384,
        (rng.random((1000, 2)) * (512, 384)).astype(np.float32),
        np.zeros((1000, features.DESCRIPTOR_BYTES), np.uint8),
    )
    tile = (rng.random((found_in_tile, 2)) * (256, 192) + (256, 0)).astype(np.float32)
    elsewhere = (rng.random((800, 2)) * (256, 384)).astype(np.float32)
    points = np.concatenate([tile, elsewhere])
    found = LocalFeatures(
        512, 384, points, np.zeros((len(points), features.DESCRIPTOR_BYTES), np.uint8)
    )
    pairs = asset.points[:30]
    candidate = Candidate(uuid.uuid4(), 30, pairs, pairs / 2 + np.float32((256, 0)))
    return verify(candidate, asset, found)


def test_asset_shown_small_is_judged_by_the_keypoints_its_region_holds() -> None:
    # A collage tile: all 1,000 asset keypoints project into the found image, but the tile
    # holds only 150 of the found image's, so 30 agreeing pairs are a dense agreement.
    geometry = _shown_small(found_in_tile=150)
    assert geometry is not None and geometry.inliers == 30
    assert geometry.density >= Settings().match_policy.features.min_density


def test_few_agreeing_pairs_in_a_region_rich_in_keypoints_stay_sparse() -> None:
    geometry = _shown_small(found_in_tile=1500)
    assert geometry is not None
    assert geometry.density < Settings().match_policy.features.min_density


def test_dark_copy_of_a_photo_is_found(index: Registered) -> None:
    dark = Image.eval(photo(7, SIZE), lambda v: v // 10)
    assert _matches(index, dark) == [7]


def test_unrelated_photos_match_nothing(index: Registered) -> None:
    for seed in range(60, 66):
        assert _matches(index, photo(seed, SIZE)) == []


def test_retired_asset_stops_matching_by_local_features() -> None:
    local_index = MatchIndex()
    asset_id = uuid.uuid4()
    local_index.put(asset_id, fingerprint_asset(decode(encode(photo(8, SIZE)), LIMITS).pixels))
    crop = photo(8, SIZE).crop((100, 300, 900, 900))
    assert [m.asset_id for m in _found(local_index, crop)] == [asset_id]
    local_index.remove(asset_id)
    assert _found(local_index, crop) == []


def test_inverted_file_finds_copies_and_follows_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small limits, so that twelve photos already make the index an inverted file.
    monkeypatch.setattr(feature_index, "EXACT_MAX_DESCRIPTORS", 500)
    monkeypatch.setattr(feature_index, "LIST_SIZE", 64)
    local_index = MatchIndex()
    ids = {seed: uuid.uuid4() for seed in range(20, 32)}
    local_index.replace_all(
        (ids[seed], fp)
        for seed in ids
        for fp in fingerprint_asset(decode(encode(photo(seed, SIZE)), LIMITS).pixels)
    )
    assert not local_index.features.exact
    crop = photo(25, SIZE).crop((300, 200, 1100, 800))
    assert [m.asset_id for m in _found(local_index, crop)] == [ids[25]]

    local_index.remove(ids[25])
    assert _found(local_index, crop) == []
    newcomer = uuid.uuid4()
    local_index.put(newcomer, fingerprint_asset(decode(encode(photo(25, SIZE)), LIMITS).pixels))
    assert not local_index.features.exact
    assert [m.asset_id for m in _found(local_index, crop)] == [newcomer]

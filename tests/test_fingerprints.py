"""The pure hashing pipeline: pinned fingerprints, variants, regions, low information, limits."""

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from service.detection.decode import ImageLimits, decode
from service.detection.hashes import (
    DIHEDRAL,
    Fingerprint,
    fingerprint_asset,
    fingerprint_sighting,
    hamming,
    phash_bits,
)
from service.errors import ImageRejected, InvalidFingerprint
from testing.images import encode, jpeg, photo

LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=10_000_000)


def _asset(data: bytes) -> dict[tuple[str, str], Fingerprint]:
    return {(f.variant, f.algorithm): f for f in fingerprint_asset(decode(data, LIMITS).pixels)}


def _sighting(data: bytes) -> dict[tuple[str, str], Fingerprint]:
    decoded = decode(data, LIMITS)
    prints = fingerprint_sighting(decoded.pixels, decoded.width, decoded.height)
    return {(f.variant, f.algorithm): f for f in prints.fingerprints}


@pytest.mark.parametrize(("seed", "pinned"), [(7, "PINNED_7"), (8, "PINNED_8")])
def test_fingerprints_of_fixed_images_are_pinned(seed: int, pinned: str) -> None:
    # Pinned so that a change to decoding or hashing, which would orphan every registered
    # asset's fingerprints, shows up here first.
    prints = _asset(encode(photo(seed), "PNG"))
    assert {alg: prints["original", alg].hex for alg in ("pdq", "phash")} == PINNED[pinned]


def test_shipped_photo_fingerprints_are_pinned() -> None:
    with open("tests/data/asset.jpg", "rb") as handle:
        prints = _asset(handle.read())
    assert {alg: prints["original", alg].hex for alg in ("pdq", "phash")} == PINNED["asset.jpg"]


def test_phash_is_imagehash_phash_of_the_hashed_square() -> None:
    grey = decode(jpeg(3), LIMITS).pixels
    square = grey.resize((64, 64), Image.Resampling.BOX)
    expected = str(imagehash.phash(square.reduce(2)))
    assert _asset(jpeg(3))["original", "phash"].hex == expected


def test_asset_has_all_eight_flips_and_rotations_and_crops() -> None:
    variants = {variant for variant, _ in _asset(jpeg(4))}
    assert set(DIHEDRAL) <= variants
    assert {
        "crop70-0-0",
        "crop70-50-50",
        "crop85-100-0",
        "crop90-100-100",
        "cut-t10",
        "cut-r20",
        "tilt+4",
        "tilt-4",
    } <= variants


def test_flipped_copy_equals_the_flip_variant() -> None:
    flipped = _sighting(encode(ImageOps.mirror(photo(4)), "PNG"))
    asset = _asset(encode(photo(4), "PNG"))
    assert hamming(flipped["original", "pdq"].bits, asset["flip", "pdq"].bits) <= 16
    assert hamming(flipped["original", "pdq"].bits, asset["original", "pdq"].bits) > 80


def test_framed_copy_yields_a_region_close_to_the_asset() -> None:
    canvas = Image.new("RGB", (900, 760), (245, 245, 245))
    ImageDraw.Draw(canvas).rectangle((0, 0, 900, 60), fill=(29, 161, 242))
    canvas.paste(photo(5), (130, 120))
    prints = _sighting(encode(canvas))
    asset = _asset(jpeg(5))["original", "pdq"].bits
    regions = [v for v, a in prints if v.startswith("region:") and a == "pdq"]
    assert min(hamming(prints[r, "pdq"].bits, asset) for r in regions) <= 40


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (Image.new("RGB", (640, 480), (200, 30, 30)), "near-uniform"),
        (Image.linear_gradient("L").resize((640, 480)), "near-uniform"),
        (photo(1, size=(24, 24)), "tiny"),
    ],
    ids=["flat", "gradient", "tiny"],
)
def test_low_information_images_are_not_searched(image: Image.Image, reason: str) -> None:
    decoded = decode(encode(image, "PNG"), LIMITS)
    prints = fingerprint_sighting(decoded.pixels, decoded.width, decoded.height)
    assert prints.low_information == reason
    assert prints.fingerprints == ()


def test_text_only_image_is_searched_by_local_features_alone() -> None:
    page = Image.new("L", (800, 600), 255)
    draw = ImageDraw.Draw(page)
    for line in range(14):
        draw.text((30, 20 + 40 * line), "Embargoed until launch. Do not share. " * 2, font_size=22)
    decoded = decode(encode(page, "PNG"), LIMITS)
    prints = fingerprint_sighting(decoded.pixels, 800, 600)
    assert prints.fingerprints == ()
    assert prints.low_information is None
    assert prints.local is not None and len(prints.local) > 100


def test_blank_image_is_low_information() -> None:
    decoded = decode(encode(Image.new("L", (800, 600), 40), "PNG"), LIMITS)
    prints = fingerprint_sighting(decoded.pixels, 800, 600)
    assert prints.low_information == "near-uniform"
    assert prints.fingerprints == ()


def test_product_on_white_background_is_not_text() -> None:
    render = Image.new("RGB", (800, 600), "white")
    render.paste(photo(6, size=(360, 300)), (220, 150))
    decoded = decode(encode(render), LIMITS)
    assert fingerprint_sighting(decoded.pixels, 800, 600).low_information is None


def test_hex_round_trip_keeps_bits() -> None:
    for fingerprint in (f for f in _asset(jpeg(4)).values() if f.algorithm != "orb1"):
        again = Fingerprint.from_hex(fingerprint.algorithm, fingerprint.variant, fingerprint.hex)
        assert again == fingerprint
        assert again.size == {"pdq": 256, "phash": 64}[fingerprint.algorithm]


@pytest.mark.parametrize(
    ("algorithm", "hex_bits"),
    [("md5", "00" * 8), ("phash", "00" * 7), ("phash", "zz" * 8), ("pdq", "00" * 8)],
    ids=["unknown-algorithm", "short", "not-hex", "wrong-size"],
)
def test_malformed_fingerprint_is_refused(algorithm: str, hex_bits: str) -> None:
    with pytest.raises(InvalidFingerprint):
        Fingerprint.from_hex(algorithm, "original", hex_bits)


def test_hamming_counts_differing_bits() -> None:
    assert hamming(b"\x00\xff", b"\x00\xff") == 0
    assert hamming(b"\x0f\x00", b"\x00\x01") == 5


def test_jpeg_is_decoded_at_reduced_scale_in_grey() -> None:
    decoded = decode(jpeg(1, size=(1920, 1080)), LIMITS)
    assert (decoded.width, decoded.height) == (1920, 1080)
    assert decoded.pixels.mode == "L"
    # 1/4 scale, the strongest that keeps the long side at 384 or more for local features
    assert decoded.pixels.size == (480, 270)


def test_gif_uses_its_first_frame() -> None:
    frames = [photo(1).convert("P"), photo(2).convert("P")]
    animated = decode(encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), LIMITS)
    first = decode(encode(frames[0], "GIF"), LIMITS)
    assert animated.media_type == "image/gif"
    assert animated.pixels.tobytes() == first.pixels.tobytes()


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(ImageRejected) as refused:
        decode(jpeg(1, size=(400, 300)), ImageLimits(max_bytes=10_000_000, max_pixels=100_000))
    assert refused.value.reason == "too_many_pixels"


PINNED = {
    "PINNED_7": {
        "pdq": "9a4baa698a695db00413cd9e76cc5bb524135dfa769e8ae1aa29ba68ac6a55d2",
        "phash": "e4a52b0bcac13caf",
    },
    "PINNED_8": {
        "pdq": "942efe1b0e1f707381a5fe3c405e97071bf8b087eff8050bfa5a077d30007ac3",
        "phash": "dbe1005f2de80ff0",
    },
    "asset.jpg": {
        "pdq": "9ca591d6ecb21905337b664b6e498cdb98cb330322d0c69d56bd1ce399ef4334",
        "phash": "96967be35e5c0560",
    },
}


def test_phash_bits_equal_imagehash_phash() -> None:
    images = [photo(seed, size=(32, 32)).convert("L") for seed in range(40)]
    images += [
        Image.linear_gradient("L").resize((32, 32)),
        Image.radial_gradient("L").resize((32, 32)),
    ]
    for image in images:
        assert (phash_bits(np.asarray(image)) == imagehash.phash(image).hash).all()

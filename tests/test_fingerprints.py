"""The pure hashing core: known fingerprints, hex round trips, Hamming distance, decode limits."""

import pytest

from service.errors import ImageRejected, InvalidFingerprint
from service.fingerprints import Fingerprint, compute, hamming
from service.imaging import ImageLimits, decode
from tests.images import encode, jpeg, photo

LIMITS = ImageLimits(max_bytes=10_000_000, max_pixels=10_000_000)


def test_fingerprints_of_a_fixed_image_are_pinned() -> None:
    # Pinned so that any change to decoding or hashing, which would orphan every registered
    # asset's fingerprints, shows up here first.
    prints = {f.algorithm: f.hex for f in compute(decode(encode(photo(7), "PNG"), LIMITS).pixels)}
    assert prints == PINNED_PHOTO_7


def test_phash_hex_is_imagehash_format() -> None:
    import imagehash

    pixels = decode(jpeg(3), LIMITS).pixels
    [phash] = [f for f in compute(pixels) if f.algorithm == "phash"]
    assert phash.hex == str(imagehash.phash(pixels))


def test_hex_round_trip_keeps_bits() -> None:
    for fingerprint in compute(decode(jpeg(4), LIMITS).pixels):
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


def test_recompressed_copy_stays_close_and_other_photo_stays_far() -> None:
    original = {f.algorithm: f for f in compute(decode(jpeg(1), LIMITS).pixels)}
    copy = {f.algorithm: f for f in compute(decode(jpeg(1, quality=30), LIMITS).pixels)}
    other = {f.algorithm: f for f in compute(decode(jpeg(2), LIMITS).pixels)}
    assert hamming(original["pdq"].bits, copy["pdq"].bits) <= 31
    assert hamming(original["pdq"].bits, other["pdq"].bits) > 64


def test_jpeg_is_decoded_at_reduced_scale() -> None:
    decoded = decode(jpeg(1, size=(1920, 1080)), LIMITS)
    assert (decoded.width, decoded.height) == (1920, 1080)
    assert max(decoded.pixels.size) <= 512


def test_gif_uses_its_first_frame() -> None:
    frames = [photo(1).convert("P"), photo(2).convert("P")]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    decoded = decode(data, LIMITS)
    assert decoded.media_type == "image/gif"
    first = {f.algorithm: f for f in compute(decode(encode(frames[0], "GIF"), LIMITS).pixels)}
    got = {f.algorithm: f for f in compute(decoded.pixels)}
    assert got == first


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(ImageRejected) as refused:
        decode(jpeg(1, size=(400, 300)), ImageLimits(max_bytes=10_000_000, max_pixels=100_000))
    assert refused.value.reason == "too_many_pixels"


PINNED_PHOTO_7 = {
    "pdq": "9a4baa69aa6955300453cd3e76ed53b504135dfa749e8ae1aa29bae8ac6a55d2",
    "phash": "e4a52b0bcac13caf",
}

"""Fingerprints as plain values, and the pure pipeline that computes them from one decode.

Every region that is fingerprinted (the whole image, a crop, a region found in a screenshot) is
first reduced to a HASH_SIDE x HASH_SIDE grey square, once; PDQ and pHash are both computed from
that square, so the two algorithms describe exactly the same pixels and can be required to agree.
Both hashes use luma only, so working in grey loses nothing and makes colour shifts harmless."""

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image

from service.detection import features, regions
from service.detection.decode import DRAFT_SIDE
from service.detection.errors import InvalidFingerprint
from service.detection.features import LocalFeatures

# Bits per algorithm. A match needs every algorithm here to agree on one region and variant.
ALGORITHM_BITS = {"pdq": 256, "phash": 64}
ORIGINAL = "original"
# An asset's local features travel and are stored as one more fingerprint: this variant, with the
# features' versioned algorithm name and their binary form as the bits.
LOCAL = "local"
HASH_SIDE = 64  # PDQ reduces any input to 64x64 before its DCT; pHash needs 32x32
# PDQ's quality is its gradient energy, 0-100; its authors treat hashes under 50 as unreliable.
MIN_QUALITY = 50
MIN_SIDE_PIXELS = 32  # smaller originals carry too little to tell one picture from another
TEXT_SHARE = 0.6  # an image this dominated by one tone ...
TEXT_STROKE_SHARE = 0.5  # ... whose other pixels are mostly thin strokes, is text, not a picture

# The eight flips and right-angle rotations: name -> (quarter turns, mirrored first).
DIHEDRAL = {
    ORIGINAL: (0, False),
    "rot90": (1, False),
    "rot180": (2, False),
    "rot270": (3, False),
    "flip": (0, True),
    "flip-rot90": (1, True),
    "flip-rot180": (2, True),
    "flip-rot270": (3, True),
}
# Asset crops: a leak cropped to between 70% and 100% of each side, anywhere, still lies within
# a few percent of one of these windows: (scale, anchor steps across the slack). Names give the
# scale and the anchor as shares of the slack, e.g. "crop70-25-100" (a quarter in, at the bottom).
CROP_GRID = ((0.9, 3), (0.85, 3), (0.8, 3), (0.75, 3), (0.7, 5))
# Cuts: the whole width or height less one edge band, as left by a caption bar or a frame that
# region finding trimmed a little too far or not far enough. "cut-t10": top tenth removed.
CUTS = (0.1, 0.2)
# Small rotations, as a phone photo of a screen or a print has them: the asset turned by these
# angles (degrees, anticlockwise) and cut to the largest centred rectangle of its own shape.
TILTS = (-4.0, 4.0)


@dataclass(frozen=True, slots=True)
class Fingerprint:
    algorithm: str
    variant: str
    bits: bytes

    @property
    def size(self) -> int:
        return len(self.bits) * 8

    @property
    def hex(self) -> str:
        return self.bits.hex()

    @classmethod
    def from_hex(cls, algorithm: str, variant: str, hex_bits: str) -> "Fingerprint":
        size = ALGORITHM_BITS.get(algorithm)
        if size is None:
            known = ", ".join(sorted(ALGORITHM_BITS))
            raise InvalidFingerprint(f"unknown algorithm {algorithm!r}; known: {known}")
        if not variant or len(variant) > 40:
            raise InvalidFingerprint("a fingerprint's variant must have 1 to 40 characters")
        try:
            bits = bytes.fromhex(hex_bits)
        except ValueError as exc:
            raise InvalidFingerprint(f"{algorithm} fingerprint is not hexadecimal") from exc
        if len(bits) * 8 != size:
            raise InvalidFingerprint(
                f"{algorithm} fingerprint must be {size} bits ({size // 4} hex digits)"
            )
        return cls(algorithm, variant, bits)


def local_fingerprint(found: LocalFeatures) -> Fingerprint:
    return Fingerprint(features.ALGORITHM, LOCAL, found.to_bytes())


def local_features_of(fingerprint: Fingerprint) -> LocalFeatures | None:
    """The local features a stored fingerprint carries, or None if it is a hash."""
    if fingerprint.algorithm != features.ALGORITHM:
        return None
    return LocalFeatures.from_bytes(fingerprint.bits)


@dataclass(frozen=True)
class SightingPrints:
    """What a found image is searched with: one fingerprint per algorithm for each region, its
    local features, and why, if so, the image carries too little information to be matched."""

    fingerprints: tuple[Fingerprint, ...]
    low_information: str | None = None
    local: LocalFeatures | None = None


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _pack(bit_vector: np.ndarray) -> bytes:
    return bytes(np.packbits(np.asarray(bit_vector, dtype=np.uint8).ravel()))


def hash_picture(grey: Image.Image) -> Image.Image:
    """The picture the global hashes read: the decode's working picture halved while its short
    side stays at DRAFT_SIDE or more. Local features need the finer picture for corners a few
    pixels apart; the hashes' 64x64 squares, of regions down to a quarter of each side, do not,
    and every box resize behind them costs in proportion to the pixels (half the hashing time
    of a 1080p found image)."""
    factor = 1
    while min(grey.size) >= 2 * factor * DRAFT_SIDE:
        factor *= 2
    return grey.reduce(factor) if factor > 1 else grey


def _square(grey: Image.Image, box: regions.Box | None = None) -> np.ndarray:
    reduced = grey.resize((HASH_SIDE, HASH_SIDE), Image.Resampling.BOX, box=box)
    return np.asarray(reduced)


# imagehash.phash: the 8x8 lowest frequencies of the unnormalised DCT-II of a 32x32 grey
# thumbnail (scipy.fftpack.dct along both axes), each compared with their median. As two small
# matrix products it gives the same bits (tests compare it with imagehash.phash) in a sixth of
# the time, which matters on the ingestion path where it runs for every region.
_DCT_ROWS = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)


def phash_bits(grey32: np.ndarray) -> np.ndarray:
    """imagehash.phash of a 32x32 grey image, as an 8x8 boolean array."""
    # Rounded, so that a coefficient that is zero in exact arithmetic ties with a zero median
    # as it does in scipy, instead of landing a rounding error above it.
    low = (_DCT_ROWS @ grey32.astype(np.float64) @ _DCT_ROWS.T).round(6)
    middle = low.flatten()
    middle.partition((31, 32))
    result: np.ndarray = low > (middle[31] + middle[32]) / 2
    return result


def _hash(square: np.ndarray, variant: str) -> tuple[list[Fingerprint], int]:
    """Both algorithms over one HASH_SIDE grey square, and PDQ's quality for it."""
    # PDQ takes RGB and reduces it to luma; three equal planes give it back the grey exactly.
    pdq_bits, quality = pdqhash.compute(square[:, :, None].repeat(3, axis=2))
    # Image.reduce(2) exactly, (the sum of each 2x2 block + 2) >> 2, without a trip through Pillow.
    pairs = np.add(square[:, 0::2], square[:, 1::2], dtype=np.uint16)
    grey32 = (pairs[0::2] + pairs[1::2] + 2) >> 2
    prints = [
        Fingerprint("pdq", variant, _pack(pdq_bits)),
        Fingerprint("phash", variant, _pack(phash_bits(grey32))),
    ]
    return prints, int(quality)


def _dihedral(square: np.ndarray, turns: int, mirrored: bool) -> np.ndarray:
    return np.rot90(square[:, ::-1] if mirrored else square, k=-turns)


def _crop_box(width: int, height: int, scale: float, ax: float, ay: float) -> regions.Box:
    w, h = round(width * scale), round(height * scale)
    left, top = round((width - w) * ax), round((height - h) * ay)
    return left, top, left + w, top + h


def _looks_like_text(square: np.ndarray) -> bool:
    """One tone dominates and the rest is thin strokes: a screenshot of text, not a picture."""
    grey = square // 32
    tone = int(np.bincount(grey.ravel()).argmax())
    # Text sits on paper or on a dark screen: the dominant tone is one of the extremes.
    if tone not in (0, 7):
        return False
    dominant = grey == tone
    others = ~dominant
    if np.count_nonzero(dominant) / dominant.size < TEXT_SHARE or not np.count_nonzero(others):
        return False
    # A stroke pixel touches the background on some side; the inside of an object does not.
    touching = np.zeros_like(others)
    touching[1:, :] |= dominant[:-1, :]
    touching[:-1, :] |= dominant[1:, :]
    touching[:, 1:] |= dominant[:, :-1]
    touching[:, :-1] |= dominant[:, 1:]
    return bool((touching & others).sum() / others.sum() >= TEXT_STROKE_SHARE)


def fingerprint_asset(grey: Image.Image) -> list[Fingerprint]:
    """Every fingerprint registered for an asset: its eight flips and rotations, its crops and
    its tilts, and its local features. Variants too flat to be told apart (a crop of clear sky)
    are left out, and so are local features too few to verify a match.

    The same rules as a found image's: a dark or star-field photo that is too flat for the hashes
    keeps its keypoints, so it is registered and its copies are searched by them."""
    prints: list[Fingerprint] = []
    for name, square in _asset_squares(hash_picture(grey)):
        hashed, quality = _hash(square, name)
        if quality >= MIN_QUALITY:
            prints += hashed
    local = features.extract(grey)
    if len(local) >= features.MIN_KEYPOINTS:
        prints.append(local_fingerprint(local))
    return prints


def _asset_squares(grey: Image.Image) -> Iterator[tuple[str, np.ndarray]]:
    whole = _square(grey)
    for name, (turns, mirrored) in DIHEDRAL.items():
        yield name, _dihedral(whole, turns, mirrored)
    for name, box in _asset_windows(grey.width, grey.height):
        yield name, _square(grey, box)
    for degrees in TILTS:
        yield f"tilt{degrees:+g}", _tilted(grey, degrees)


def _tilted(grey: Image.Image, degrees: float) -> np.ndarray:
    """`grey` turned by `degrees`, cut to the largest centred rectangle of the same shape that
    holds no fill, as a square."""
    w, h = grey.size
    theta = math.radians(abs(degrees))
    keep = min(
        w / (w * math.cos(theta) + h * math.sin(theta)),
        h / (w * math.sin(theta) + h * math.cos(theta)),
    )
    turned = grey.rotate(degrees, resample=Image.Resampling.BICUBIC)
    return _square(turned, _crop_box(w, h, keep, 0.5, 0.5))


def _asset_windows(width: int, height: int) -> list[tuple[str, regions.Box]]:
    windows = []
    for scale, steps in CROP_GRID:
        anchors = [i / (steps - 1) for i in range(steps)]
        for ay in anchors:
            for ax in anchors:
                name = f"crop{round(scale * 100)}-{round(ax * 100)}-{round(ay * 100)}"
                windows.append((name, _crop_box(width, height, scale, ax, ay)))
    for cut in CUTS:
        dx, dy = round(width * cut), round(height * cut)
        percent = round(cut * 100)
        windows += [
            (f"cut-t{percent}", (0, dy, width, height)),
            (f"cut-b{percent}", (0, 0, width, height - dy)),
            (f"cut-l{percent}", (dx, 0, width, height)),
            (f"cut-r{percent}", (0, 0, width - dx, height)),
        ]
    return windows


def region_label(box: regions.Box, width: int, height: int) -> str:
    """A region as shares of the image's width and height, e.g. `region:0.100,0.250,0.900,1.000`."""
    return "region:" + ",".join(
        f"{v / s:.3f}" for v, s in zip(box, (width, height, width, height), strict=True)
    )


def fingerprint_sighting(grey: Image.Image, width: int, height: int) -> SightingPrints:
    """Every fingerprint a found image is searched with: the whole image, the picture found inside
    a frame (screenshot, caption, letterbox), rectangles pasted into it, and its local features.

    An image too small, flat or text-like for the hashes is searched by its local features alone
    (a night shot, a star field, a render on black); only one that has too few of those either
    is not searched at all, with the hashes' reason."""
    if min(width, height) < MIN_SIDE_PIXELS:
        return SightingPrints((), "tiny")
    local = features.extract(grey)
    if len(local) < features.MIN_KEYPOINTS:
        local = features.empty(local.width, local.height)
    grey = hash_picture(grey)
    whole = _square(grey)
    prints, quality = _hash(whole, ORIGINAL)
    reason = (
        "near-uniform"
        if quality < MIN_QUALITY
        else "text-only"
        if _looks_like_text(whole)
        else None
    )
    if reason is not None:
        return SightingPrints((), None if len(local) else reason, local)
    for box in (p.box for p in regions.propose(grey)):
        label = region_label(box, grey.width, grey.height)
        hashed, quality = _hash(_square(grey, box), label)
        if quality >= MIN_QUALITY:
            prints += hashed
    return SightingPrints(tuple(prints), None, local)

"""Fingerprints as plain values, and the pure code that computes and compares them."""

from dataclasses import dataclass

import imagehash
import numpy as np
import pdqhash
from PIL import Image

from service.errors import InvalidFingerprint

# Bits per algorithm. Adding an algorithm means adding it here and in `compute`.
ALGORITHM_BITS = {"pdq": 256, "phash": 64}
ORIGINAL = "original"


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


def hamming(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _pack(bit_vector: np.ndarray) -> bytes:
    return bytes(np.packbits(np.asarray(bit_vector, dtype=np.uint8).ravel()))


@dataclass(frozen=True)
class SightingPrints:
    """What a found image is searched with: its fingerprints, and whether it carries too little
    information to match on its own."""

    fingerprints: tuple[Fingerprint, ...]
    low_information: bool = False


def fingerprint_asset(pixels: Image.Image) -> list[Fingerprint]:
    """Every fingerprint registered for an asset."""
    return compute(pixels)


def fingerprint_sighting(pixels: Image.Image) -> SightingPrints:
    """Every fingerprint a found image is searched with."""
    return SightingPrints(tuple(compute(pixels)))


def compute(pixels: Image.Image) -> list[Fingerprint]:
    """Every fingerprint of one decoded RGB image. The hex of `phash` equals `str(imagehash.phash)`."""
    phash = imagehash.phash(pixels)
    pdq_bits, _quality = pdqhash.compute(np.asarray(pixels))
    return [
        Fingerprint("pdq", ORIGINAL, _pack(pdq_bits)),
        Fingerprint("phash", ORIGINAL, _pack(phash.hash)),
    ]

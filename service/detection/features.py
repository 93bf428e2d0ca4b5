"""Local features as plain values: the ORB keypoints and descriptors of one grey picture, and
their versioned text form, so that a hash-only client sends exactly what the server computes.

Global hashes describe a whole picture, so a copy that keeps only part of it, turned or seen at
an angle, falls outside every registered window. Keypoints describe small patches that survive
those edits; geometric verification (verify.py) then asks whether enough of them agree on one
projection of the asset into the found image."""

import base64
import binascii
import struct
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from service.detection.errors import InvalidFingerprint

ALGORITHM = "orb1"  # the payload's version: change it whenever the extraction changes
DESCRIPTOR_BYTES = 32  # ORB's 256-bit binary descriptor
MAX_FEATURES = 1000
# ORB's FAST corner threshold; OpenCV's default of 20 finds few corners in dark or soft
# pictures (night shots, renders on black), 10 still ignores sensor noise after the stretch.
FAST_THRESHOLD = 10
POINT_SCALE = 64  # points travel as 1/64-pixel fixed point: finer than any RANSAC tolerance
MAX_SIDE = 1024  # a payload's picture is at most this large (the server extracts at 512)
# Fewer keypoints than this cannot pass verification under any accepted setting (the smallest
# allowed `feature_min_inliers`), so a picture with fewer has no local features worth searching.
MIN_KEYPOINTS = 8
_HEADER = struct.Struct("<HHH")  # width, height, point count
_POINT_BYTES = 4  # two uint16 coordinates
# The longest text form: the version, its colon and the base64 of the largest payload.
MAX_TEXT_LENGTH = len(ALGORITHM) + 1 + 4 * -(-(_HEADER.size + MAX_FEATURES * 36) // 3)


@dataclass(frozen=True, eq=False)
class LocalFeatures:
    """Keypoints of a `width` x `height` picture: `points` (n, 2) float32 pixel positions and
    `descriptors` (n, 32) uint8, row for row."""

    width: int
    height: int
    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LocalFeatures):
            return NotImplemented
        return (
            (self.width, self.height) == (other.width, other.height)
            and np.array_equal(self.points, other.points)
            and np.array_equal(self.descriptors, other.descriptors)
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, and mutable arrays inside

    def to_bytes(self) -> bytes:
        """The size, the fixed-point points and the descriptors: what is stored for an asset."""
        fixed = np.round(self.points * POINT_SCALE).astype("<u2")
        return (
            _HEADER.pack(self.width, self.height, len(self))
            + fixed.tobytes()
            + np.ascontiguousarray(self.descriptors, dtype=np.uint8).tobytes()
        )

    def to_text(self) -> str:
        """`orb1:` and the base64 of `to_bytes`: what a hash-only client sends."""
        return f"{ALGORITHM}:{base64.b64encode(self.to_bytes()).decode('ascii')}"

    @classmethod
    def from_text(cls, text: str) -> "LocalFeatures":
        """The inverse of `to_text`; raises InvalidFingerprint on anything it would not make."""
        version, _, encoded = text.partition(":")
        if version != ALGORITHM:
            raise InvalidFingerprint(f"local features must be in the {ALGORITHM!r} format")
        try:
            body = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidFingerprint("local features are not valid base64") from exc
        return cls.from_bytes(body)

    @classmethod
    def from_bytes(cls, body: bytes) -> "LocalFeatures":
        """The inverse of `to_bytes`; raises InvalidFingerprint on anything it would not make."""
        if len(body) < _HEADER.size:
            raise InvalidFingerprint("local features are truncated")
        width, height, count = _HEADER.unpack_from(body)
        if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
            raise InvalidFingerprint(
                f"local features' picture must be 1 to {MAX_SIDE} pixels a side"
            )
        if count > MAX_FEATURES:
            raise InvalidFingerprint(f"at most {MAX_FEATURES} local features are accepted")
        if len(body) != _HEADER.size + count * (_POINT_BYTES + DESCRIPTOR_BYTES):
            raise InvalidFingerprint("local features' length does not match their count")
        start = _HEADER.size + count * _POINT_BYTES
        points = np.frombuffer(body, "<u2", count * 2, _HEADER.size).reshape(count, 2)
        points = points.astype(np.float32) / POINT_SCALE
        if count and (points[:, 0].max() > width or points[:, 1].max() > height):
            raise InvalidFingerprint("a local feature lies outside its picture")
        descriptors = np.frombuffer(body, np.uint8, count * DESCRIPTOR_BYTES, start)
        return cls(width, height, points, descriptors.reshape(count, DESCRIPTOR_BYTES).copy())


def empty(width: int, height: int) -> LocalFeatures:
    return LocalFeatures(
        width,
        height,
        np.zeros((0, 2), np.float32),
        np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
    )


def extract(grey: Image.Image) -> LocalFeatures:
    """ORB on `grey` (the decode's working picture, at most 512 pixels a side), after stretching
    its tones to the full range so that a dark or washed-out picture yields corners too."""
    pixels = np.asarray(grey.convert("L") if grey.mode != "L" else grey)
    width, height = grey.size
    if min(width, height) < 2 * _ORB_EDGE:
        return empty(width, height)
    stretched = cv2.normalize(pixels, None, 0, 255, cv2.NORM_MINMAX)
    keypoints, descriptors = _orb().detectAndCompute(stretched, None)
    if descriptors is None or not keypoints:
        return empty(width, height)
    points = np.asarray(cv2.KeyPoint.convert(keypoints), np.float32).reshape(-1, 2)
    return LocalFeatures(width, height, points, np.ascontiguousarray(descriptors, np.uint8))


_ORB_EDGE = 31  # ORB's border and patch size: no keypoint lies closer to an edge


def _orb() -> cv2.ORB:
    # Made per call: an ORB object is cheap and not safe to share between threads.
    return cv2.ORB.create(
        nfeatures=MAX_FEATURES,
        fastThreshold=FAST_THRESHOLD,
        edgeThreshold=_ORB_EDGE,
        patchSize=_ORB_EDGE,
    )

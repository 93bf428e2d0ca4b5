"""Geometric verification: whether an asset's keypoints and a found image's agree on one
projection of the asset into the found image, and which quadrilateral of it the asset covers."""

from dataclasses import dataclass

import cv2
import numpy as np

from service.detection.feature_index import Candidate
from service.detection.features import LocalFeatures

Polygon = tuple[tuple[float, float], ...]  # corners as shares of the found image's width, height

RANSAC_PIXELS = 5.0  # reprojection tolerance, in pixels of the 512-pixel working pictures
RANSAC_ITERATIONS = 2000
# The projected asset must keep a plausible shape: a leak is the asset seen at an angle, never
# folded, a sliver, or stretched past what a photo of a screen or a print can do to it.
MAX_SIDE_RATIO = 4.0  # between opposite sides of the projected quadrilateral
MIN_AREA_SHARE = 0.005  # of the found image: smaller than this is not a picture of the asset
MAX_SCALE = 20.0  # area of the projection over the asset's own, either way


@dataclass(frozen=True)
class Geometry:
    """What verification found for one candidate asset."""

    inliers: int
    # Inliers over the keypoints that could have agreed: those of the asset that the projection
    # puts inside the found image, or those of the found image inside the projected asset,
    # whichever are fewer. A true copy keeps a good share of them; a chance agreement (a shared
    # logo, a repeated texture) explains a few points of a region that holds many. The fewer
    # side bounds what can agree: an asset shown small (a collage tile, an embed) brings all its
    # keypoints into a patch of the found image that holds few of the found image's own.
    density: float
    polygon: Polygon


def verify(candidate: Candidate, asset: LocalFeatures, found: LocalFeatures) -> Geometry | None:
    """The homography that most point pairs agree on (RANSAC), if it is a plausible view of the
    asset; None when there is none."""
    if len(candidate.asset_points) < 4:
        return None
    homography, mask = cv2.findHomography(
        candidate.asset_points,
        candidate.query_points,
        cv2.RANSAC,
        RANSAC_PIXELS,
        maxIters=RANSAC_ITERATIONS,
        confidence=0.995,
    )
    if homography is None or mask is None:
        return None
    corners = np.array(
        [[0, 0], [asset.width, 0], [asset.width, asset.height], [0, asset.height]], np.float32
    )
    quad = cv2.perspectiveTransform(corners[None], homography)[0]
    if not _plausible(quad, asset, found):
        return None
    inliers = int(mask.sum())
    projected = cv2.perspectiveTransform(asset.points[None].astype(np.float32), homography)[0]
    inside = (
        (projected[:, 0] >= 0)
        & (projected[:, 0] < found.width)
        & (projected[:, 1] >= 0)
        & (projected[:, 1] < found.height)
    )
    covered = int(_inside_convex(quad, found.points).sum())
    density = inliers / max(min(int(inside.sum()), covered), inliers, 1)
    return Geometry(inliers, round(density, 4), _shares(quad, found))


def _plausible(quad: np.ndarray, asset: LocalFeatures, found: LocalFeatures) -> bool:
    if not np.isfinite(quad).all():
        return False
    edges = np.roll(quad, -1, axis=0) - quad
    following = np.roll(edges, -1, axis=0)
    turns = edges[:, 0] * following[:, 1] - edges[:, 1] * following[:, 0]
    if not ((turns > 0).all() or (turns < 0).all()):
        return False  # folded or self-crossing: no camera sees a picture that way
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    if lengths.min() <= 0:
        return False
    for a, b in ((0, 2), (1, 3)):
        if max(lengths[a], lengths[b]) > MAX_SIDE_RATIO * min(lengths[a], lengths[b]):
            return False
    area = _area(quad)
    scale = area / (asset.width * asset.height)
    if not (1 / MAX_SCALE <= scale <= MAX_SCALE):
        return False
    return area >= MIN_AREA_SHARE * found.width * found.height


def _inside_convex(quad: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which points lie in the convex quadrilateral (edges included): on the same side of
    every edge. `_plausible` has made sure the quadrilateral is convex."""
    start = quad.astype(np.float64)
    edges = np.roll(start, -1, axis=0) - start
    offsets = points[:, None, :].astype(np.float64) - start[None]
    sides = edges[None, :, 0] * offsets[..., 1] - edges[None, :, 1] * offsets[..., 0]
    return np.asarray((sides >= 0).all(axis=1) | (sides <= 0).all(axis=1))


def _area(quad: np.ndarray) -> float:
    """The shoelace formula."""
    x, y = quad[:, 0], quad[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def _shares(quad: np.ndarray, found: LocalFeatures) -> Polygon:
    """The projected corners as shares of the found image, held inside it: where the asset runs
    past the found image's edge (a crop), the match ends at that edge."""
    return tuple(
        (
            round(min(max(float(x) / found.width, 0.0), 1.0), 4),
            round(min(max(float(y) / found.height, 0.0), 1.0), 4),
        )
        for x, y in quad
    )

"""Where an asset may sit inside a found image: the frame trimmed off a screenshot, caption or
letterbox, and rectangles bounded by long straight edges (a picture pasted into a picture).

Pure functions over a small grayscale copy; boxes come back in the caller's pixel coordinates."""

from dataclasses import dataclass

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom

ANALYSIS_SIDE = 256  # region finding works on a copy no larger: cheap, and edges survive
FLAT_SHARE = 0.6  # a row or column this dominated by one tone is frame, not picture
BAND_SHARE = 0.25  # ... and so is one, further in, still this much in the outermost row's tone
EDGE_STEP = 24  # grey-level jump that counts as an edge pixel
MIN_SIDE = 0.25  # a proposed region keeps at least this share of each side
MAX_SIDE = 0.97  # ... and is visibly smaller than the whole image on some side
MIN_EDGE_COVER = 0.55  # share of a rectangle's outline that must lie on edge pixels
CANDIDATE_LINES = 8  # strongest vertical and horizontal lines considered per image
MAX_RECTANGLES = 3
BAND_SHARES = (0.14, 0.17)  # usual caption bar heights, as shares of the captioned image
SPLIT_COVER = 0.8  # a straight line across this share of the image splits it (caption, split view)


@dataclass(frozen=True)
class Proposal:
    box: Box
    kind: str  # "frame" (flat surround trimmed), "split" (line across) or "edges" (rectangle)


def _trim(levels: np.ndarray) -> tuple[int, int]:
    """First and one-past-last row of `levels` (quantised grey) that is picture, not frame.
    A frame row is dominated by one tone (FLAT_SHARE), or still largely (BAND_SHARE) the tone of
    the outermost row: a caption bar's rows stay mostly background between its letters."""
    rows = levels.shape[0]
    keyed = levels + 16 * np.arange(rows, dtype=np.intp)[:, None]
    counts = np.bincount(keyed.ravel(), minlength=16 * rows).reshape(rows, 16) / levels.shape[1]
    flat = counts.max(axis=1) >= FLAT_SHARE

    def frame_rows(order: np.ndarray) -> int:
        if order.size == 0 or not flat[order[0]]:
            return 0
        tone = int(counts[order[0]].argmax())
        banded = flat[order] | (counts[order, tone] >= BAND_SHARE)
        picture = np.flatnonzero(~banded)
        return int(picture[0]) if picture.size else int(order.size)

    top = frame_rows(np.arange(rows))
    bottom = rows - frame_rows(np.arange(rows)[::-1])
    return (top, bottom) if top < bottom else (0, rows)


def frame_box(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """Trims flat bands (borders, letterboxing, caption bars, a page or app frame) from every edge.
    Rows go first, then columns within the kept rows, then rows again within the kept columns."""
    levels = (grey // 16).astype(np.intp)
    top, bottom, left, right = 0, grey.shape[0], 0, grey.shape[1]
    for _ in range(2):
        before = (top, bottom, left, right)
        t, b = _trim(levels[top:bottom, left:right])
        top, bottom = top + t, top + b
        lft, rgt = _trim(levels[top:bottom, left:right].T)
        left, right = left + lft, left + rgt
        if (top, bottom, left, right) == before:
            break
    if bottom - top < 2 or right - left < 2:
        return None
    return left, top, right, bottom


def _peaks(profile: np.ndarray, count: int) -> list[int]:
    """Positions of the strongest values, at least three apart (one edge is often two pixels)."""
    chosen: list[int] = []
    # Neighbours of a peak are all that can be skipped, so a few times `count` suffice.
    top = min(profile.size, 5 * count)
    strongest = np.argpartition(profile, profile.size - top)[profile.size - top :]
    for position in strongest[np.argsort(profile[strongest])[::-1]]:
        if profile[position] <= 0 or len(chosen) == count:
            break
        if all(abs(int(position) - c) >= 3 for c in chosen):
            chosen.append(int(position))
    return chosen


@dataclass(frozen=True)
class Edges:
    """Edge pixels of a grey image. vertical[y, x]: a jump between columns x and x+1;
    horizontal[y, x]: between rows y and y+1."""

    vertical: np.ndarray
    horizontal: np.ndarray

    @classmethod
    def of(cls, grey: np.ndarray) -> "Edges":
        g = grey.astype(np.int16)
        return cls(np.abs(np.diff(g, axis=1)) >= EDGE_STEP, np.abs(np.diff(g, axis=0)) >= EDGE_STEP)


def edge_boxes(edges: Edges) -> list[tuple[float, Box]]:
    """Rectangles whose four sides run along straight edges: a photo pasted into a page, a collage
    or another photo. Returns (share of the outline on edge pixels, box), best first."""
    height, width = edges.horizontal.shape[0] + 1, edges.vertical.shape[1] + 1
    cols = np.array(sorted(_peaks(edges.vertical.sum(axis=0), CANDIDATE_LINES)), dtype=np.intp)
    rows = np.array(sorted(_peaks(edges.horizontal.sum(axis=1), CANDIDATE_LINES)), dtype=np.intp)
    if cols.size < 2 or rows.size < 2:
        return []
    xs, ys = cols + 1, rows + 1  # the boundary sits after the edge's first pixel
    # Edge counts along any stretch of a candidate line, from cumulative sums along it.
    v_cum = np.vstack([np.zeros((1, cols.size), np.int32), np.cumsum(edges.vertical[:, cols], 0)])
    h_cum = np.hstack([np.zeros((rows.size, 1), np.int32), np.cumsum(edges.horizontal[rows], 1)])
    # side_v[i, j, k]: edge pixels on column xs[i] from row ys[j] to ys[k]; side_h alike.
    side_v = v_cum[ys, :].T[:, None, :] - v_cum[ys, :].T[:, :, None]
    side_h = h_cum[:, xs][:, None, :] - h_cum[:, xs][:, :, None]
    i, right, j, bottom = np.ix_(range(xs.size), range(xs.size), range(ys.size), range(ys.size))
    on_edges = (
        side_v[i, j, bottom]
        + side_v[right, j, bottom]
        + side_h[j, i, right]
        + side_h[bottom, i, right]
    )
    widths = (xs[None, :] - xs[:, None])[:, :, None, None]
    heights = (ys[None, :] - ys[:, None])[None, None, :, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        cover = on_edges / (2 * widths + 2 * heights)
    valid = (
        (widths >= MIN_SIDE * width)
        & (heights >= MIN_SIDE * height)
        & ~((widths > MAX_SIDE * width) & (heights > MAX_SIDE * height))
        & (cover >= MIN_EDGE_COVER)
    )
    found = [
        (float(cover[a, b, c, d]), (int(xs[a]), int(ys[c]), int(xs[b]), int(ys[d])))
        for a, b, c, d in zip(*np.nonzero(valid), strict=True)
    ]
    found.sort(key=lambda item: (-item[0], item[1]))
    return found[:MAX_RECTANGLES]


def split_boxes(edges: Edges) -> list[Box]:
    """The two parts on either side of a straight line running across the whole image: a caption
    bar or a second picture above, below or beside the first."""
    height, width = edges.horizontal.shape[0] + 1, edges.vertical.shape[1] + 1
    boxes: list[Box] = []
    row_cover = edges.horizontal.mean(axis=1)
    for y in _peaks(np.where(row_cover >= SPLIT_COVER, row_cover, 0), 2):
        boxes += [(0, 0, width, y + 1), (0, y + 1, width, height)]
    col_cover = edges.vertical.mean(axis=0)
    for x in _peaks(np.where(col_cover >= SPLIT_COVER, col_cover, 0), 2):
        boxes += [(0, 0, x + 1, height), (x + 1, 0, width, height)]
    return boxes


def band_boxes(frame: Box | None, rows: int, cols: int) -> list[Box]:
    """Where a caption bar was seen at the top or bottom, the picture without a bar of the usual
    heights: trimming stops early when the caption's letters fill its rows, or runs on into a
    picture whose edge has the bar's tone (snow under a white bar)."""
    if frame is None:
        return []
    _, top, _, bottom = frame
    boxes: list[Box] = []
    for share in BAND_SHARES:
        cut = round(rows * share)
        if top > 0 and abs(cut - top) > 2:
            boxes.append((0, cut, cols, rows))
        if bottom < rows and abs(rows - cut - bottom) > 2:
            boxes.append((0, 0, cols, rows - cut))
    return boxes


def propose(pixels: Image.Image) -> list[Proposal]:
    """Regions of `pixels` (grey) worth fingerprinting on their own, whole image excluded."""
    scale = ANALYSIS_SIDE / max(pixels.size)
    small = pixels.convert("L")  # a no-op for the grey images the pipeline passes
    if scale < 1:
        small = small.resize(
            (max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale))),
            Image.Resampling.BILINEAR,
        )
    grey = np.asarray(small)
    sx, sy = pixels.width / grey.shape[1], pixels.height / grey.shape[0]

    def to_pixels(box: Box) -> Box:
        return (round(box[0] * sx), round(box[1] * sy), round(box[2] * sx), round(box[3] * sy))

    rows, cols = int(grey.shape[0]), int(grey.shape[1])

    def worth_it(box: Box) -> bool:
        w, h = box[2] - box[0], box[3] - box[1]
        big_enough = w >= MIN_SIDE * cols and h >= MIN_SIDE * rows
        smaller = w <= MAX_SIDE * cols or h <= MAX_SIDE * rows
        return big_enough and smaller

    proposals: list[Proposal] = []
    frame = frame_box(grey)
    if frame is not None and worth_it(frame):
        proposals.append(Proposal(to_pixels(frame), "frame"))
    found = [(box, "band") for box in band_boxes(frame, rows, cols)]
    edges = Edges.of(grey)
    found += [(box, "split") for box in split_boxes(edges)]
    found += [(box, "edges") for _cover, box in edge_boxes(edges)]
    for box, kind in found:
        if worth_it(box) and all(to_pixels(box) != p.box for p in proposals):
            proposals.append(Proposal(to_pixels(box), kind))
    return proposals

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
    if rows == 0:
        return 0, rows
    # Most images have no frame at all: when neither outermost row is flat, nothing is trimmed,
    # and the histogram of every row is not worth making.
    outermost = max(max(np.bincount(line).tolist()) for line in (levels[0], levels[-1]))
    if outermost / levels.shape[1] < FLAT_SHARE:
        return 0, rows
    keyed = levels + 16 * np.arange(rows, dtype=np.intp)[:, None]
    counts = np.bincount(keyed.ravel(), minlength=16 * rows).reshape(rows, 16) / levels.shape[1]
    flat = counts.max(axis=1) >= FLAT_SHARE

    def frame_rows(order: np.ndarray) -> int:
        if not flat[order[0]]:
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
    levels = grey >> 4
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
    taken: set[int] = set()  # the chosen positions and their neighbours within two
    # Neighbours of a peak are all that can be skipped, so a few times `count` suffice.
    top = min(profile.size, 5 * count)
    strongest = profile.argpartition(profile.size - top)[profile.size - top :]
    order = strongest[profile[strongest].argsort()[::-1]]
    for position, value in zip(order.tolist(), profile[order].tolist(), strict=True):
        if value <= 0 or len(chosen) == count:
            break
        if position not in taken:
            chosen.append(position)
            taken.update(range(position - 2, position + 3))
    return chosen


@dataclass(frozen=True)
class Edges:
    """Edge pixels of a grey image. vertical[y, x]: a jump between columns x and x+1;
    horizontal[y, x]: between rows y and y+1. Also how many lie on each column of `vertical`
    and on each row of `horizontal`, which both line finders start from."""

    vertical: np.ndarray
    horizontal: np.ndarray
    column_counts: np.ndarray
    row_counts: np.ndarray

    @classmethod
    def of(cls, grey: np.ndarray) -> "Edges":
        # |a - b| as max - min, which stays within bytes.
        vertical = np.maximum(grey[:, 1:], grey[:, :-1]) - np.minimum(grey[:, 1:], grey[:, :-1])
        horizontal = np.maximum(grey[1:], grey[:-1]) - np.minimum(grey[1:], grey[:-1])
        vertical, horizontal = vertical >= EDGE_STEP, horizontal >= EDGE_STEP
        # Summed as bytes, which is quicker than as booleans; kept in the platform's integer so
        # that ties between equal counts sort as they always have.
        column_counts = np.add.reduce(vertical.view(np.uint8), axis=0, dtype=np.int32)
        row_counts = np.add.reduce(horizontal.view(np.uint8), axis=1, dtype=np.int32)
        return cls(vertical, horizontal, column_counts.astype(np.intp), row_counts.astype(np.intp))


def _pairs(lines: list[int], least: float) -> list[tuple[int, int]]:
    """Index pairs (i, j), i < j, of sorted `lines` at least `least` apart: the only ones that can
    be opposite sides of a rectangle big enough to propose."""
    return [(i, j) for j in range(len(lines)) for i in range(j) if lines[j] - lines[i] >= least]


def edge_boxes(edges: Edges) -> list[tuple[float, Box]]:
    """Rectangles whose four sides run along straight edges: a photo pasted into a page, a collage
    or another photo. Returns (share of the outline on edge pixels, box), best first."""
    height, width = edges.horizontal.shape[0] + 1, edges.vertical.shape[1] + 1
    cols = np.array(sorted(_peaks(edges.column_counts, CANDIDATE_LINES)), dtype=np.intp)
    rows = np.array(sorted(_peaks(edges.row_counts, CANDIDATE_LINES)), dtype=np.intp)
    if cols.size < 2 or rows.size < 2:
        return []
    xs, ys = (cols + 1).tolist(), (rows + 1).tolist()  # the boundary sits after the edge
    x_pairs, y_pairs = _pairs(xs, MIN_SIDE * width), _pairs(ys, MIN_SIDE * height)
    if not x_pairs or not y_pairs:
        return []
    left, right = np.array(x_pairs).T
    top, bottom = np.array(y_pairs).T
    # Edge counts before each candidate line's crossing with the others, from cumulative sums
    # along it: at_ys[j, i], edge pixels on column xs[i] above row ys[j]; at_xs[j, i], on row
    # ys[j] left of column xs[i].
    at_ys = edges.vertical[:, cols].cumsum(axis=0)[rows]
    at_xs = edges.horizontal[rows].cumsum(axis=1)[:, cols]
    down = at_ys[bottom] - at_ys[top]  # [q, i]: on column xs[i] between the rows of pair q
    across = at_xs[:, right] - at_xs[:, left]  # [j, p]: on row ys[j] between the columns of p
    # Rectangle (q, p): rows top[q] to bottom[q], columns left[p] to right[p].
    on_edges = down[:, left] + down[:, right] + across[top] + across[bottom]
    widths = np.array([xs[b] - xs[a] for a, b in x_pairs])
    heights = np.array([ys[d] - ys[c] for c, d in y_pairs])
    cover = on_edges / (2 * widths[None, :] + 2 * heights[:, None])
    whole = (widths > MAX_SIDE * width)[None, :] & (heights > MAX_SIDE * height)[:, None]
    found = [
        (float(cover[q, p]), (xs[left[p]], ys[top[q]], xs[right[p]], ys[bottom[q]]))
        for q, p in zip(*((cover >= MIN_EDGE_COVER) & ~whole).nonzero(), strict=True)
    ]
    found.sort(key=lambda item: (-item[0], item[1]))
    return found[:MAX_RECTANGLES]


def split_boxes(edges: Edges) -> list[Box]:
    """The two parts on either side of a straight line running across the whole image: a caption
    bar or a second picture above, below or beside the first."""
    height, width = edges.horizontal.shape[0] + 1, edges.vertical.shape[1] + 1
    boxes: list[Box] = []
    row_cover = edges.row_counts / width
    across = row_cover >= SPLIT_COVER
    if np.count_nonzero(across):
        for y in _peaks(np.where(across, row_cover, 0), 2):
            boxes += [(0, 0, width, y + 1), (0, y + 1, width, height)]
    col_cover = edges.column_counts / height
    across = col_cover >= SPLIT_COVER
    if np.count_nonzero(across):
        for x in _peaks(np.where(across, col_cover, 0), 2):
            boxes += [(0, 0, x + 1, height), (x + 1, 0, width, height)]
    return boxes


def _caption_tone(line: np.ndarray) -> bool:
    """Whether a row is mostly white or black, as a caption bar's background is."""
    tone = int(np.bincount(line >> 4, minlength=16).argmax())
    return tone in (0, 15)


def band_boxes(frame: Box | None, grey: np.ndarray) -> list[Box]:
    """Where a caption bar was seen at the top or bottom, the picture without a bar of the usual
    heights: trimming stops early when the caption's letters fill its rows, or runs on into a
    picture whose edge has the bar's tone (snow under a white bar). A flat band of another tone
    (a blue sky) is no caption bar: the trimmed frame alone is tried there."""
    if frame is None:
        return []
    rows, cols = grey.shape
    _, top, _, bottom = frame
    captioned_top = top > 0 and _caption_tone(grey[0])
    captioned_bottom = bottom < rows and _caption_tone(grey[-1])
    boxes: list[Box] = []
    for share in BAND_SHARES:
        cut = round(rows * share)
        if captioned_top and abs(cut - top) > 2:
            boxes.append((0, cut, cols, rows))
        if captioned_bottom and abs(rows - cut - bottom) > 2:
            boxes.append((0, 0, cols, rows - cut))
    return boxes


def propose(pixels: Image.Image) -> list[Proposal]:
    """Regions of `pixels` (grey) worth fingerprinting on their own, whole image excluded."""
    scale = ANALYSIS_SIDE / max(pixels.size)
    small = pixels if pixels.mode == "L" else pixels.convert("L")
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
    found = [(box, "band") for box in band_boxes(frame, grey)]
    edges = Edges.of(grey)
    found += [(box, "split") for box in split_boxes(edges)]
    found += [(box, "edges") for _cover, box in edge_boxes(edges)]
    for box, kind in found:
        if worth_it(box) and all(to_pixels(box) != p.box for p in proposals):
            proposals.append(Proposal(to_pixels(box), kind))
    return proposals

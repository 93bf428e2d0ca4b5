"""The report's sections measured once for every seed: speed, and the copies with their sheet."""

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from bench.copies import COPIES, TRANSFORMS, make_copies
from bench.imaging import full_decode, load_font
from bench.measured import Run
from bench.report import table, workers
from bench.transforms import ORIGINAL, describe


def report_speed(run: Run) -> dict[str, Any]:
    speeds, names, results = run.speeds, run.method_names, run.results
    baseline, sighting = speeds["baseline"], speeds["sighting"]
    print(
        f"\n## Speed: the {len(speeds['images'])} largest bench photos (pixel area), each "
        f"{speeds['frame']}; median of {speeds['loops']} runs per image and pipeline, "
        "interleaved, in one process\n"
    )
    short = speeds["short"]
    header = ["image", "source", "bytes", f"{short[baseline]} ms", f"{short[sighting]} ms", "ratio"]
    others = [p for p in speeds["pipelines"] if p not in (baseline, sighting)]
    rows = [
        [
            image["image"],
            image["source_size"],
            f"{image['bytes']:,}",
            f"{image['ms'][baseline]:.1f}",
            f"{image['ms'][sighting]:.1f}",
            f"{image['ms'][baseline] / image['ms'][sighting]:.2f}x",
            *(f"{image['ms'][p]:.1f}" for p in others),
            image["sighting_fingerprints"],
            f"{image['search_ms']:.3f}",
        ]
        for image in speeds["images"]
    ]
    extra = [f"{short[p]} ms" for p in others] + ["sighting fingerprints", "find_matches ms"]
    print(table(header + extra, rows))
    print()
    rows = [
        [
            p,
            f"{s['images_per_second']:.1f}",
            f"{s['mean_ms']:.1f}",
            f"{s['aggregate_ratio']:.2f}x",
            f"{s['median_ratio']:.2f}x",
        ]
        for p, s in speeds["pipelines"].items()
    ]
    header = ["pipeline", "images / s (all images)", "ms / image (mean)"]
    print(table([*header, "speed vs baseline (aggregate)", "median per-image ratio"], rows))
    print(
        f"\nA ratio is {short[baseline]}'s time over the other pipeline's on the same image; "
        "images / s is the number of images over the sum of their median times. "
        + "; ".join(f"{label}: {p}" for p, label in short.items())
        + ".  "
    )
    print(
        f"find_matches against the index of all {speeds['index_assets']} assets "
        f"({speeds['index_fingerprints']:,} fingerprints), median over the images: "
        f"{speeds['search_ms']:.3f} ms (one process).  "
    )
    out: dict[str, Any] = {"speed": speeds}
    searches = np.asarray([s for r in results for s in r.search_seconds]) * 1000
    if searches.size:
        out["search_in_run_ms"] = {
            "queries": int(searches.size),
            "mean": float(searches.mean()),
            "p95": float(np.percentile(searches, 95)),
            "max": float(searches.max()),
        }
        print(
            f"find_matches over the run's {searches.size:,} queries ({workers(run)} busy): mean {searches.mean():.3f} ms, p95 {np.percentile(searches, 95):.3f} ms, "
            f"max {searches.max():.3f} ms.  "
        )
    queries = max(1, len(results) * len(COPIES))
    out["query_ms"] = {m: sum(r.method_seconds[m] for r in results) / queries * 1000 for m in names}
    out["enrol_ms"] = {m: s * 1000 for m, s in run.enrol_seconds.items()}
    transform_ms = sum(r.transform_seconds for r in results) / max(1, len(results)) * 1000
    print(
        f"Time per query in the run (decode + fingerprint + search, {workers(run)} busy), and "
        "per asset enrolment: "
        + ", ".join(
            f"{m} {out['query_ms'][m]:.1f} ms (enrolment {out['enrol_ms'][m]:.1f} ms)"
            for m in names
        )
        + f"; making the {len(TRANSFORMS)} copies of one photo {transform_ms:.0f} ms."
    )
    return out


def report_transforms() -> dict[str, Any]:
    described = {ORIGINAL: "The photo's file itself, unchanged."}
    described |= {name: describe(fn) for name, fn in TRANSFORMS.items()}
    print("\n## The copies\n")
    print(table(["copy", "how it is made"], described.items()))
    return {"transforms": described}


def _shown(data: bytes) -> Image.Image:
    """A copy as RGB for the sheet; a 16-bit file is scaled to 8 bits (full_decode, like the
    baselines, clips it to white)."""
    with Image.open(io.BytesIO(data)) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            wide = np.asarray(image.convert("I"), dtype=np.int64)
            return Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8)).convert("RGB")
    return full_decode(data)


def example_sheet(seed: int, photos: Sequence[tuple[str, Path, Path]], out: Path) -> None:
    """Every copy (drawn from `seed`) of a few photos (key, file, unrelated host photo), decoded
    from the bytes a query sees, one block per photo (shown no larger than a cell; smaller copies stay smaller)."""
    cell, label_h, title_h, columns, gap = 240, 20, 30, 7, 8
    rows = math.ceil(len(COPIES) / columns)
    block_h = title_h + rows * (cell + label_h + gap)
    sheet = Image.new("RGB", (columns * (cell + gap), len(photos) * block_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font, title_font = load_font(14), load_font(20)
    for p, (key, path, host_path) in enumerate(photos):
        top = p * block_h
        draw.text((4, top + 4), key, font=title_font, fill=(0, 0, 0))
        data = path.read_bytes()
        copies = make_copies(
            seed, key, data, full_decode(data), full_decode(host_path.read_bytes())
        )
        for i, (name, copy) in enumerate(zip(COPIES, copies, strict=True)):
            thumb = _shown(copy)
            thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
            x = (i % columns) * (cell + gap) + gap // 2
            y = top + title_h + (i // columns) * (cell + label_h + gap)
            draw.text((x, y + 2), name, font=font, fill=(0, 0, 0))
            draw.rectangle(
                (x, y + label_h, x + cell - 1, y + label_h + cell - 1), fill=(225, 225, 225)
            )
            offset = (x + (cell - thumb.width) // 2, y + label_h + (cell - thumb.height) // 2)
            sheet.paste(thumb, offset)
    sheet.save(out)

"""CPU per found image, one process: the service's sighting pipeline (decode and every sighting
fingerprint) or the naive `Image.open` + `imagehash.phash` loop, over one 1080p JPEG made from
the largest benchmark photograph, for `farm-bench --vs` to time whole processes side by side.

    farm-bench -n 7 -- .venv/bin/python -m bench.sighting_cpu service \\
        --vs '.venv/bin/python -m bench.sighting_cpu naive'

Run the same command in a checkout of an earlier commit (the module only uses entry points that
both have) to compare the pipeline before and after a change.
"""

import argparse
import io
import time
from pathlib import Path

import imagehash
from PIL import Image, ImageOps

from service.detection.decode import ImageLimits, decode
from service.detection.hashes import fingerprint_sighting

LIMITS = ImageLimits(max_bytes=100_000_000, max_pixels=100_000_000)


def _largest_as_1080p(root: Path) -> bytes:
    photos = [p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    largest = max(sorted(photos), key=lambda p: (lambda s: s[0] * s[1])(Image.open(p).size))
    picture = ImageOps.fit(
        Image.open(largest).convert("RGB"), (1920, 1080), Image.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pipeline", choices=("service", "naive"))
    parser.add_argument("--loops", type=int, default=40)
    parser.add_argument("--images", type=Path, default=Path("../shared/bench-images"))
    args = parser.parse_args()
    data = _largest_as_1080p(args.images)
    started = time.process_time()
    for _ in range(args.loops):
        if args.pipeline == "service":
            image = decode(data, LIMITS)
            fingerprint_sighting(image.pixels, image.width, image.height)
        else:
            imagehash.phash(Image.open(io.BytesIO(data)))
    per_image = (time.process_time() - started) / max(1, args.loops)
    print(f"{args.pipeline}: {1000 * per_image:.2f} ms CPU per image, loop only")


if __name__ == "__main__":
    main()

"""What the ingestion benchmarks send: the photos, their 1080p frames, and each request body."""

import csv
import itertools
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from bench.imaging import jpeg_bytes
from bench.speed import SPEED_FRAME, SPEED_QUALITY
from service.ingest.sightings import fingerprint_locally
from service.settings import Settings

BOUNDARY = "leaksentinel-bench-" + "7" * 20


def pick_photos(
    images: Path, count: int, assets: int, leaking: int, seed: int
) -> tuple[list[Path], list[Path]]:
    """(found images, asset photos): `leaking` of the assets are among the found images."""
    with (images / "manifest.csv").open(newline="") as handle:
        files = [images / row["file"] for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(files)
    found = files[:count]
    others = files[count : count + assets - leaking]
    if len(found) < count or len(others) < assets - leaking:
        raise SystemExit(f"{images} has only {len(files)} photos")
    return found, found[:leaking] + others


def frame_1080p(path: Path) -> bytes:
    """The speed recipe of bench/speed.py: fitted to 1920x1080, Lanczos, JPEG q90."""
    with Image.open(path) as image:
        frame = ImageOps.fit(image.convert("RGB"), SPEED_FRAME, Image.Resampling.LANCZOS)
    return jpeg_bytes(frame, SPEED_QUALITY)


def hash_only_fields(data: bytes) -> bytes:
    """The JSON members of one hash-only item besides its page URL, computed once per image."""
    local = fingerprint_locally(data, Settings(_env_file=None).image_limits)  # type: ignore[call-arg]
    prints = [
        {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
        for f in local.prints.fingerprints
    ]
    return json.dumps({"sha256": local.sha256, "fingerprints": prints})[1:-1].encode()


def with_comment(data: bytes, n: int) -> list[bytes | memoryview]:
    """The JPEG with a COM segment naming `n` right after SOI: new bytes, hence a new SHA-256
    and a new evidence blob, and the same pixels. As chunks, so the file is not copied twice."""
    tag = b"leaksentinel-bench %020d" % n
    return [data[:2], b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag, memoryview(data)[2:]]


# ---------------------------------------------------------------------------------------------
# Request bodies, encoded by hand: httpx's multipart encoder would copy and scan every file on
# every request, and the client shares the server's two cores


def _field(name: str, value: str) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
    ).encode()


def _file_head(name: str, filename: str) -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
        f'name="{name}"; filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()


MULTIPART = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
JSON = {"Content-Type": "application/json"}
CLOSE = f"--{BOUNDARY}--\r\n".encode()


def page_url(n: int) -> str:
    # Spread over many domains, as a crawl is; n is unique in the run, so no page repeats.
    return f"https://news{n % 97}.bench.example/story/{n}"


@dataclass
class Workload:
    """Per scenario: how to build one request body, and what a request carries."""

    uploads: list[bytes]
    hash_items: list[bytes]
    batch: int
    hash_batch: int
    counter: Iterator[int] = field(default_factory=itertools.count)

    def single(self) -> tuple[str, bytes, dict[str, str], int]:
        n = next(self.counter)
        parts = [
            _field("page_url", page_url(n)),
            _file_head("file", "found.jpg"),
            *with_comment(self.uploads[n % len(self.uploads)], n),
            b"\r\n",
            CLOSE,
        ]
        return "/v1/sightings", b"".join(parts), MULTIPART, 1

    def batch_upload(self) -> tuple[str, bytes, dict[str, str], int]:
        numbers = [next(self.counter) for _ in range(self.batch)]
        manifest = [{"filename": f"{n}.jpg", "page_url": page_url(n)} for n in numbers]
        parts: list[bytes | memoryview] = [_field("manifest", json.dumps(manifest))]
        for n in numbers:
            parts += [
                _file_head("files", f"{n}.jpg"),
                *with_comment(self.uploads[n % len(self.uploads)], n),
                b"\r\n",
            ]
        parts.append(CLOSE)
        return "/v1/sightings/batch", b"".join(parts), MULTIPART, self.batch

    def hash_only(self) -> tuple[str, bytes, dict[str, str], int]:
        items = []
        for _ in range(self.hash_batch):
            n = next(self.counter)
            url = page_url(n).encode()
            fields = self.hash_items[n % len(self.hash_items)]
            items.append(b'{"page_url":"' + url + b'",' + fields + b"}")
        body = b'{"items":[' + b",".join(items) + b"]}"
        return "/v1/sightings/fingerprints", body, JSON, self.hash_batch

    def builder(self, scenario: str) -> Callable[[], tuple[str, bytes, dict[str, str], int]]:
        return {"single": self.single, "batch": self.batch_upload, "hash": self.hash_only}[scenario]

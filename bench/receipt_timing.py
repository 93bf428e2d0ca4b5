"""Whether the time to answer a crawler tells it that its picture matched (issue 19, item 2), and
how soon after the receipt a leak is visible to security.

It starts `leaksentinel serve` on a free loopback port with SQLite in a temporary folder and
draws two sets of `--assets` bench photos per seed. Per route (one upload, a batch of four,
hash-only), it sends `--pairs` pairs: a copy of a registered photo and a copy of an unregistered
one, made alike (fitted to one pixel size and saved at one JPEG quality, drawn per pair from the
seed), in an order drawn per pair. The pairs run in two crossed-over halves (`run_seed`): set A
registered, then set B registered and A retired, the same pairs with the roles swapped, so that
what a photo's content costs cancels out and only matching is left to tell the sides apart. Each request is
timed on the client, from send to the whole answer. With `--pause` (ms, after each request) the
server's background work of one request cannot overlap the next; `--pause 0` sends them back to
back. Reported per route: in how many pairs the matching request was the slower, the median of
(matching - other), both medians, and how many of each kind the server matched (proof the
matching kind did match).

Then `--visible` more copies of one asset are uploaded one by one, and after each receipt the
leak is polled as security until it counts the new sighting: receipt to visible.

Photos are drawn from `--images` (manifest.csv), leaving out the class-folder sources whose
photos show the same product twice (bench/objects.py), so "unregistered" means unrelated.
Times are wall clock on this machine (2 cores, shared); run it against another checkout with
PYTHONPATH=<checkout> for a same-run baseline.

    .venv/bin/python -m bench.receipt_timing --seeds 1 2 [--pairs 200] [--pause 30]
"""

import argparse
import csv
import datetime
import io
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from PIL import Image, ImageOps

from bench.objects import CLASS_FOLDER_SOURCES
from service.ingest.intake import fingerprint_locally
from service.settings import Settings
from testing.server import Server, throwaway

DEFAULT_IMAGES = Path(__file__).resolve().parent.parent.parent / "shared" / "bench-images"
BATCH = 4
ROUTES = ("single", "batch", "hash-only")


@dataclass(frozen=True)
class Copy:
    data: bytes
    hash_only: dict[str, Any]  # the hash-only item's members besides page_url, if made


def _photos(images: Path) -> list[Path]:
    with (images / "manifest.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source_repo"] not in CLASS_FOLDER_SOURCES]
    return [images / r["file"] for r in rows]


# A copy's pixel size and JPEG quality: drawn once per pair, the same for both of its copies, so
# that decoding and hashing weigh alike whichever photo each shows.
Shape = tuple[int, int, int]


def _shape(rng: random.Random) -> Shape:
    width = rng.randint(640, 1024)
    return width, round(width * rng.uniform(0.6, 1.0)), rng.randint(70, 92)


def _copy(path: Path, shape: Shape, hashed: bool = False) -> Copy:
    width, height, quality = shape
    with Image.open(path) as image:
        picture = ImageOps.fit(image.convert("RGB"), (width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    data = out.getvalue()
    if not hashed:
        return Copy(data, {})
    local = fingerprint_locally(data, Settings(_env_file=None).image_limits)  # type: ignore[call-arg]
    fields: dict[str, Any] = {
        "sha256": local.sha256,
        "fingerprints": [
            {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
            for f in local.prints.fingerprints
        ],
    }
    if local.prints.local is not None:
        fields["local_features"] = local.prints.local.to_text()
    return Copy(data, fields)


class Crawler:
    """Sends one route's requests, each with a page URL of its own."""

    def __init__(self, http: httpx.Client, tag: str) -> None:
        self.http, self.tag, self.sent = http, tag, 0

    def _page(self) -> str:
        self.sent += 1
        return f"https://bench.example/{self.tag}/{self.sent}"

    def single(self, copies: Sequence[Copy]) -> httpx.Response:
        [copy] = copies
        return self.http.post(
            "/v1/sightings",
            files={"file": ("found.jpg", copy.data, "image/jpeg")},
            data={"page_url": self._page()},
        )

    def batch(self, copies: Sequence[Copy]) -> httpx.Response:
        manifest = [{"filename": f"{i}.jpg", "page_url": self._page()} for i in range(len(copies))]
        return self.http.post(
            "/v1/sightings/batch",
            files=[("files", (f"{i}.jpg", c.data, "image/jpeg")) for i, c in enumerate(copies)],
            data={"manifest": json.dumps(manifest)},
        )

    def hash_only(self, copies: Sequence[Copy]) -> httpx.Response:
        items = [{"page_url": self._page(), **c.hash_only} for c in copies]
        return self.http.post("/v1/sightings/fingerprints", json={"items": items})

    def send(self, route: str, copies: Sequence[Copy]) -> float:
        call: Callable[[Sequence[Copy]], httpx.Response] = {
            "single": self.single,
            "batch": self.batch,
            "hash-only": self.hash_only,
        }[route]
        started = time.perf_counter()
        response = call(copies)
        took = time.perf_counter() - started
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{route}: {response.status_code} {response.text[:300]}")
        return took


def _leaked_sightings(http: httpx.Client) -> int:
    total, cursor = 0, None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = http.get("/v1/leaks", params=params).json()
        total += sum(int(leak["sightings_count"]) for leak in page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return total


def _settle(security: httpx.Client, expected: int, timeout: float = 30.0) -> int:
    """Waits until the leaks count `expected` sightings (or stop growing); returns the count."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        count = _leaked_sightings(security)
        if count >= expected or count == last:
            return count
        last = count
        time.sleep(1.0)
    return _leaked_sightings(security)


# One pair of requests, planned before either half of a seed runs: the photos of each side (as
# indexes into the seed's two photo sets) and the shape of each copy.
Plan = tuple[list[int], list[int], list[Shape]]


def plan(route: str, count: int, photos: int, rng: random.Random) -> list[Plan]:
    size = 1 if route == "single" else BATCH
    return [
        (
            [rng.randrange(photos) for _ in range(size)],
            [rng.randrange(photos) for _ in range(size)],
            [_shape(rng) for _ in range(size)],
        )
        for _ in range(count)
    ]


@dataclass
class Timings:
    """One route's pairs, both halves of a seed together."""

    gaps: list[float]
    matching: list[float]
    other: list[float]
    in_leaks: int = 0
    matching_items: int = 0

    def row(self, route: str) -> dict[str, Any]:
        return {
            "route": route,
            "pairs": len(self.gaps),
            "matching_slower": sum(g > 0 for g in self.gaps) / len(self.gaps),
            "median_gap_ms": 1000 * statistics.median(self.gaps),
            "matching_median_ms": 1000 * statistics.median(self.matching),
            "other_median_ms": 1000 * statistics.median(self.other),
            "sightings_in_leaks": self.in_leaks,
            "matching_items": self.matching_items,
        }


def pairs(
    crawler: Crawler,
    security: httpx.Client,
    route: str,
    planned: Sequence[tuple[list[Path], list[Path], list[Shape]]],
    pause: float,
    rng: random.Random,
    into: Timings,
) -> None:
    """Sends the planned pairs (matching photos, other photos, shapes), each in a drawn order."""
    before = _leaked_sightings(security)
    hashed = route == "hash-only"
    for matching, other, shapes in planned:
        copies = {
            True: [
                _copy(path, shape, hashed) for path, shape in zip(matching, shapes, strict=True)
            ],
            False: [_copy(path, shape, hashed) for path, shape in zip(other, shapes, strict=True)],
        }
        order = [True, False]
        rng.shuffle(order)
        took = {}
        for kind in order:
            took[kind] = crawler.send(route, copies[kind])
            time.sleep(pause)
        into.gaps.append(took[True] - took[False])
        into.matching.append(took[True])
        into.other.append(took[False])
    sent = sum(len(m) for m, _, _ in planned)
    into.in_leaks += _settle(security, before + sent) - before
    into.matching_items += sent


def visibility(
    crawler: Crawler, security: httpx.Client, asset_id: str, make: Callable[[], Copy], count: int
) -> list[float]:
    """Receipt to visible, in seconds, for `count` uploads of copies of one asset."""
    crawler.single([make()])
    deadline = time.monotonic() + 30
    leaks: list[dict[str, Any]] = []
    while not leaks and time.monotonic() < deadline:
        leaks = security.get("/v1/leaks", params={"asset_id": asset_id}).json()["items"]
    if not leaks:
        raise RuntimeError("the first copy opened no leak")
    leak_id = leaks[0]["id"]
    delays = []
    for _ in range(count):
        seen = security.get(f"/v1/leaks/{leak_id}").json()["sightings_count"]
        time.sleep(0.2)  # whatever the poll above set off is done
        crawler.single([make()])
        answered = time.perf_counter()
        while security.get(f"/v1/leaks/{leak_id}").json()["sightings_count"] == seen:
            if time.perf_counter() - answered > 10:
                raise RuntimeError("a copy was not matched within 10 s")
            time.sleep(0.002)
        delays.append(time.perf_counter() - answered)
    return delays


def _register(marketing: httpx.Client, paths: Sequence[Path]) -> list[str]:
    embargo = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
    ids = []
    for path in paths:
        response = marketing.post(
            "/v1/assets",
            files={"file": (path.name, path.read_bytes(), "image/jpeg")},
            data={"name": path.name, "product": "bench", "embargo_until": embargo.isoformat()},
        )
        if response.status_code != 201:
            raise RuntimeError(f"asset {path}: {response.status_code} {response.text[:300]}")
        ids.append(response.json()["id"])
    return ids


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_seed(
    server: Server, keys: dict[str, str], photos: Sequence[Path], seed: int, args: Any
) -> tuple[list[dict[str, Any]], list[float]]:
    """Two halves, crossed over: the first registers set A and pairs copies of A with copies of
    B; the second retires A, registers B and sends the same pairs with the roles swapped. Each
    photo and shape is so on the matching side once and on the other side once, and what its
    content costs to decode, hash and send cancels out of the gaps."""
    rng = random.Random(seed)
    drawn = rng.sample(list(photos), 2 * args.assets)
    sets = (drawn[: args.assets], drawn[args.assets :])
    plans = {route: plan(route, args.pairs // 2, args.assets, rng) for route in ROUTES}
    timings = {route: Timings([], [], []) for route in ROUTES}

    def client(role: str) -> httpx.Client:
        return httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {keys[role]}"}, timeout=120
        )

    with (
        client("marketing") as marketing,
        client("security") as security,
        client("crawler") as http,
    ):
        ids: list[str] = []
        for half in (0, 1):
            for asset_id in ids:
                marketing.patch(f"/v1/assets/{asset_id}", json={"status": "retired"})
            registered, unrelated = sets[half], sets[1 - half]
            ids = _register(marketing, registered)
            for route in ROUTES:
                planned = [
                    (
                        [registered[i] for i in (a if half == 0 else b)],
                        [unrelated[i] for i in (b if half == 0 else a)],
                        shapes,
                    )
                    for a, b, shapes in plans[route]
                ]
                crawler = Crawler(http, f"{seed}/{half}/{route}")
                pairs(crawler, security, route, planned, args.pause / 1000, rng, timings[route])
                print(seed, half, timings[route].row(route), flush=True)
        crawler = Crawler(http, f"{seed}/visible")
        delays = visibility(
            crawler, security, ids[0], lambda: _copy(sets[1][0], _shape(rng)), args.visible
        )
        for asset_id in ids:  # so that the next seed may draw these photos again
            marketing.patch(f"/v1/assets/{asset_id}", json={"status": "retired"})
    return [timings[route].row(route) for route in ROUTES], delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--assets", type=int, default=50)
    parser.add_argument("--pause", type=float, default=30.0, help="ms after each request")
    parser.add_argument("--visible", type=int, default=50)
    args = parser.parse_args()
    photos = _photos(args.images)
    rows: list[tuple[int, dict[str, Any]]] = []
    delays: list[float] = []
    with throwaway() as (server, keys):
        for seed in args.seeds:
            seed_rows, seed_delays = run_seed(server, keys, photos, seed, args)
            rows += [(seed, row) for row in seed_rows]
            delays += seed_delays

    print()
    print(f"pause after each request: {args.pause:g} ms; {args.assets} assets registered per seed")
    print()
    print(
        "| seed | route | pairs | matching slower | median gap ms | matching median ms "
        "| other median ms | sightings in leaks / matching items sent |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed, r in rows:
        print(
            f"| {seed} | {r['route']} | {r['pairs']} | {100 * r['matching_slower']:.0f}% | "
            f"{r['median_gap_ms']:+.2f} | {r['matching_median_ms']:.2f} | "
            f"{r['other_median_ms']:.2f} | {r['sightings_in_leaks']} / {r['matching_items']} |"
        )
    print()
    print(
        f"receipt to leak visible ({len(delays)} uploads): median "
        f"{1000 * statistics.median(delays):.0f} ms, p95 {1000 * _quantile(delays, 0.95):.0f} ms, "
        f"max {1000 * max(delays):.0f} ms"
    )


if __name__ == "__main__":
    main()

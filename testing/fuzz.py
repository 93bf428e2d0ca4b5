"""In-process fuzz of the decode and fingerprint path: mutated images in, only ImageRejected out."""

import argparse
import io
import random
import struct
import sys
import time
import traceback
import warnings
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from service.detection.decode import ImageLimits
from service.errors import ImageRejected
from service.ingest.intake import fingerprint_locally
from service.settings import Settings
from testing.images import photo

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
# What production accepts by default: a mutated header may claim any size up to these.
_defaults = Settings(_env_file=None)  # type: ignore[call-arg]
LIMITS = ImageLimits(_defaults.max_upload_bytes, _defaults.max_image_pixels)
# Values that tend to sit on a parser's boundaries, for header fields.
INTERESTING = (0, 1, 2, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 0x7FFF, 0x8000, 0xFFFF)


def save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def seeds() -> dict[str, bytes]:
    """Valid files of every accepted format and the variants their decoders branch on; small, so
    that most of each case's time goes to the parser rather than to pixels."""
    rgb = photo(7, (160, 120))
    other = photo(11, (96, 128))
    alpha = rgb.convert("RGBA")
    alpha.putalpha(Image.linear_gradient("L").resize(rgb.size))
    frames = [photo(s, (64, 48)).convert("P", palette=Image.Palette.ADAPTIVE) for s in (1, 2, 3)]
    animated = io.BytesIO()
    frames[0].save(animated, "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: decode goes through exif_transpose
    return {
        "asset.jpg": (DATA / "asset.jpg").read_bytes(),
        "leaked-copy.jpg": (DATA / "leaked-copy.jpg").read_bytes(),
        "baseline.jpg": save(rgb, "JPEG", quality=85),
        "progressive-exif.jpg": save(other, "JPEG", quality=70, progressive=True, exif=exif),
        "grey.jpg": save(rgb.convert("L"), "JPEG", quality=90),
        "rgb.png": save(rgb, "PNG"),
        "rgba-interlaced.png": save(alpha, "PNG", interlace=1),
        "palette.png": save(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "grey16.png": save(rgb.convert("I;16"), "PNG"),
        "lossy.webp": save(rgb, "WEBP", quality=80),
        "lossless-alpha.webp": save(alpha, "WEBP", lossless=True),
        "still.gif": save(rgb.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "animated.gif": animated.getvalue(),
    }


# --- mutations: each takes (data, rng) and returns (mutated bytes, what was done) ---


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randrange(len(data))
    return data[:cut], f"truncate to {cut}"


def flip_bits(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    out = bytearray(data)
    # Mostly in the first KiB, where the headers and tables that steer a decoder live.
    span = len(out) if rng.random() < 0.5 else min(len(out), 1024)
    positions = sorted(rng.randrange(span) * 8 + rng.randrange(8) for _ in range(rng.randint(1, 8)))
    for bit in positions:
        out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out), f"flip bits {positions}"


def insert_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(len(data) + 1)
    chunk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return data[:at] + chunk + data[at:], f"insert {chunk.hex()} at {at}"


def delete_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(len(data))
    count = rng.randint(1, 256)
    return data[:at] + data[at + count :], f"delete {count} at {at}"


def duplicate_span(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    start = rng.randrange(len(data))
    end = min(len(data), start + rng.randint(1, 512))
    at = rng.randrange(len(data) + 1)
    return data[:at] + data[start:end] + data[at:], f"copy [{start}:{end}] to {at}"


def _png_chunks(data: bytes) -> Iterator[tuple[int, bytes, int]]:
    """(offset of the length field, type, data length) of each chunk."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        yield pos, data[pos + 4 : pos + 8], length
        pos += 12 + length


def _set_field(data: bytes, rng: random.Random, fields: list[tuple[int, str]]) -> bytearray:
    """Writes an interesting or random value into one (offset, struct format) header field."""
    out = bytearray(data)
    fields = [(o, f) for o, f in fields if o + struct.calcsize(f) <= len(data)]
    if not fields:
        return out
    offset, fmt = rng.choice(fields)
    size = struct.calcsize(fmt)
    limit = 1 << (8 * size)
    value = rng.choice(INTERESTING) % limit if rng.random() < 0.7 else rng.randrange(limit)
    out[offset : offset + size] = struct.pack(fmt, value)
    return out


def corrupt_header(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One field of the format's own header set to a boundary value, past the checksums that
    would otherwise stop the parser before the interesting code."""
    if data.startswith(b"\x89PNG"):
        chunks = [c for c in _png_chunks(data) if c[1] in (b"IHDR", b"PLTE", b"tRNS", b"acTL")]
        chunks = [c for c in chunks if c[0] + 12 + c[2] <= len(data)]
        if not chunks:  # an earlier mutation in the stack broke the chunk list
            return flip_bits(data, rng)
        pos, kind, length = rng.choice(chunks)
        if kind == b"IHDR":  # width, height, depth, colour type, compression, filter, interlace
            fields = [(pos + 8, ">I"), (pos + 12, ">I")] + [(pos + 16 + i, "B") for i in range(5)]
        else:
            fields = [(pos, ">I")] + [(pos + 8 + i, "B") for i in range(min(length, 32))]
        out = _set_field(data, rng, fields)
        # A valid CRC, so that the chunk is read rather than refused by its checksum.
        body = bytes(out[pos + 4 : pos + 8 + length])
        out[pos + 8 + length : pos + 12 + length] = struct.pack(">I", zlib.crc32(body))
        return bytes(out), f"png {kind.decode()} field"
    if data.startswith(b"\xff\xd8"):
        # Markers with a header worth corrupting: frame (SOFn), scan (SOS), tables (DQT, DHT), DRI.
        markers = [i for i in range(2, len(data) - 10) if data[i] == 0xFF and data[i + 1] in
                   (0xC0, 0xC1, 0xC2, 0xC4, 0xDA, 0xDB, 0xDD)]  # fmt: skip
        if not markers:
            return flip_bits(data, rng)
        at = rng.choice(markers)
        fields = [(at + 2, ">H")] + [(at + 4 + i, "B") for i in range(12)]
        fields += [(at + 5, ">H"), (at + 7, ">H")]  # SOF: height and width
        return bytes(_set_field(data, rng, fields)), f"jpeg marker {data[at + 1]:#x} field"
    if data.startswith(b"GIF"):
        # Logical screen (width, height, flags, background) and the first image descriptor.
        descriptor = data.find(b"\x2c", 13)
        fields = [(6, "<H"), (8, "<H"), (10, "B"), (11, "B")]
        if descriptor > 0:
            fields += [(descriptor + 1 + 2 * i, "<H") for i in range(4)] + [(descriptor + 9, "B")]
        return bytes(_set_field(data, rng, fields)), "gif header field"
    if data.startswith(b"RIFF"):
        # RIFF size, first chunk's size, and the frame header (VP8 / VP8L / VP8X dimensions).
        fields = [(4, "<I"), (16, "<I")] + [(20 + i, "B") for i in range(16)]
        fields += [(26, "<H"), (28, "<H")]
        return bytes(_set_field(data, rng, fields)), "webp header field"
    return flip_bits(data, rng)


MUTATIONS: dict[str, Callable[[bytes, random.Random], tuple[bytes, str]]] = {
    "truncate": truncate,
    "bit flips": flip_bits,
    "insert": insert_bytes,
    "delete": delete_bytes,
    "duplicate": duplicate_span,
    "header field": corrupt_header,
}


@dataclass(frozen=True)
class Crash:
    case: int
    seed_file: str
    mutation: str
    error: str
    data: bytes = field(repr=False)


@dataclass
class Report:
    cases: int = 0
    succeeded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    warned: Counter[str] = field(default_factory=Counter)
    crashes: list[Crash] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    seconds: float = 0.0


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One to three stacked mutations; stacking reaches states a single edit cannot."""
    notes = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        kind = rng.choice(list(MUTATIONS))
        if not data:
            break
        data, note = MUTATIONS[kind](data, rng)
        notes.append(note)
    return data, "; ".join(notes)


def check(data: bytes, limits: ImageLimits = LIMITS) -> tuple[str, list[str]]:
    """Runs one input: ("ok" | "rejected:<reason>", warning categories). Anything but
    ImageRejected propagates: that is the crash the fuzz looks for."""
    # As in production: warnings are reported, not raised (pytest raises them), but a
    # decompression bomb warning is a refusal, as service.detection.decode makes it.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)
        try:
            fingerprint_locally(data, limits)
            outcome = "ok"
        except ImageRejected as exc:
            outcome = f"rejected:{exc.reason}"
    return outcome, [w.category.__name__ for w in caught]


def run(cases: int, seed: int = 0, limits: ImageLimits = LIMITS) -> Report:
    """`cases` mutated inputs, round robin over the seed files; case i depends only on (seed, i),
    so any crash replays alone."""
    files = seeds()
    names = sorted(files)
    report = Report()
    started = time.perf_counter()
    for case in range(cases):
        name = names[case % len(names)]
        rng = random.Random(f"{seed}:{case}")
        data, mutation = mutate(files[name], rng)
        case_started = time.perf_counter()
        try:
            outcome, warned = check(data, limits)
        except Exception as exc:  # every other exception is the finding
            detail = "".join(traceback.format_exception_only(exc)).strip()
            report.crashes.append(Crash(case, name, mutation, detail, data))
            outcome, warned = "crash", []
        elapsed = time.perf_counter() - case_started
        if elapsed > report.slowest[0]:
            report.slowest = (elapsed, f"case {case} ({name}: {mutation})")
        report.cases += 1
        report.warned.update(warned)
        if outcome == "ok":
            report.succeeded += 1
        elif outcome.startswith("rejected:"):
            report.rejected[outcome.removeprefix("rejected:")] += 1
    report.seconds = time.perf_counter() - started
    return report


def summary(report: Report) -> str:
    lines = [
        f"cases run: {report.cases}",
        f"decoded and fingerprinted: {report.succeeded}",
        f"rejected (ImageRejected): {sum(report.rejected.values())}",
    ]
    lines += [f"  {reason}: {n}" for reason, n in report.rejected.most_common()]
    lines.append(f"warnings (not raised in production): {dict(report.warned.most_common())}")
    lines.append(f"crashes: {len(report.crashes)}")
    for crash in report.crashes[:20]:
        lines.append(
            f"  case {crash.case} {crash.seed_file} [{crash.mutation[:120]}]: {crash.error}"
        )
    lines.append(f"slowest case: {report.slowest[0] * 1000:.0f} ms, {report.slowest[1][:160]}")
    lines.append(f"time: {report.seconds:.1f} s ({report.cases / report.seconds:.0f} cases/s)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-crashes", type=Path, help="folder to write each crashing input to")
    args = parser.parse_args()
    report = run(args.cases, args.seed)
    print(summary(report))
    if args.save_crashes:
        args.save_crashes.mkdir(parents=True, exist_ok=True)
        for crash in report.crashes:
            (args.save_crashes / f"case{crash.case}-{crash.seed_file}").write_bytes(crash.data)
    return 1 if report.crashes else 0


if __name__ == "__main__":
    sys.exit(main())

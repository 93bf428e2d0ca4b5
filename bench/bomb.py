"""A 30,000 x 30,000 PNG decompression bomb against the decoder: how long the refusal takes and
how much resident memory it costs, beside the file it was given."""

import argparse
import resource
import struct
import time
import zlib

from service.detection.decode import decode
from service.errors import ImageRejected
from service.settings import Settings


def png_bomb(side: int) -> bytes:
    """A real, complete PNG of `side` x `side` black grey pixels: every row is a filter byte and
    zeros, which deflate squeezes about a thousandfold, so the file stays small while its pixels
    would fill side * side bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    squeeze = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(squeeze.compress(row) for _ in range(side)) + squeeze.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    made = time.perf_counter()
    bomb = png_bomb(args.side)
    print(
        f"bomb: {args.side}x{args.side} PNG, {len(bomb):,} bytes, made in "
        f"{time.perf_counter() - made:.1f} s"
    )
    limits = Settings(_env_file=None).image_limits  # type: ignore[call-arg]
    print(f"limits (defaults): {limits.max_bytes:,} bytes, {limits.max_pixels:,} pixels")
    before = rss_mib()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        try:
            decode(bomb, limits)
        except ImageRejected as exc:
            reason = exc.reason
        else:
            raise SystemExit("the bomb was decoded: the limits did not hold")
        times.append(time.perf_counter() - start)
    after = rss_mib()
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"refused as {reason!r} in {max(times) * 1000:.2f} ms at most over {args.runs} runs "
        f"(median {sorted(times)[len(times) // 2] * 1000:.2f} ms)"
    )
    print(
        f"resident memory: {before:.1f} MiB before, {after:.1f} MiB after "
        f"(growth {after - before:+.1f} MiB); peak {peak_before:.1f} -> {peak_after:.1f} MiB"
    )


if __name__ == "__main__":
    main()

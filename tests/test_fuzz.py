"""Mutated and degenerate images through decode and fingerprinting: only ImageRejected escapes."""

import pytest
from PIL import Image

from testing.fuzz import check, run, save, summary
from testing.images import photo

# Bounded for the suite (about 1 s here); `python -m testing.fuzz --cases 10000` is the full run.
SUITE_CASES = 1_500


def test_mutated_images_are_decoded_or_rejected_never_crash() -> None:
    report = run(SUITE_CASES, seed=0)
    assert report.cases == SUITE_CASES
    assert not report.crashes, summary(report)
    # The mutations must reach both sides, or the fuzz proves nothing about either.
    assert report.succeeded > SUITE_CASES // 10, summary(report)
    assert report.rejected["corrupt"] > SUITE_CASES // 10, summary(report)
    assert report.rejected["unsupported_format"] > 0, summary(report)


@pytest.mark.parametrize(
    "size", [(1, 1), (2, 2), (31, 31), (32, 32), (32, 4000), (4000, 32), (60000, 32)]
)
@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "I;16"])
def test_degenerate_shapes_and_modes_are_fingerprinted_or_rejected(
    size: tuple[int, int], mode: str
) -> None:
    image = photo(3).resize(size)
    image = image.convert("L").convert(mode) if mode == "I;16" else image.convert(mode)
    outcome, _ = check(save(image, "PNG"))
    assert outcome == "ok" or outcome.startswith("rejected:")


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_are_fingerprinted_without_error(value: int) -> None:
    # A flat square has no gradient at all: PDQ's quality is 0 and the image is not searched.
    outcome, _ = check(save(Image.new("L", (64, 64), value), "PNG"))
    assert outcome == "ok"

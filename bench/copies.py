"""The copies the driver measures: transforms.py's and transforms_geo.py's tables, targets, maker.

Kept apart from both transform modules so that transforms_geo.py can reuse transforms.py's
helpers without an import cycle.
"""

from PIL import Image

from bench.transforms import ORIGINAL, Transform, transform_rng
from bench.transforms import TARGETS as BASE_TARGETS
from bench.transforms import TRANSFORMS as BASE_TRANSFORMS
from bench.transforms_geo import GEO_TARGETS, GEO_TRANSFORMS

# Issue 3's transforms first, then issue 18's; a name is never reused.
assert not set(BASE_TRANSFORMS) & set(GEO_TRANSFORMS)
TRANSFORMS: dict[str, Transform] = BASE_TRANSFORMS | GEO_TRANSFORMS
# The copies that show the unrelated host photo beside or around the photo (perspective does on
# half its draws): an asset of the host's object is in those pictures too, so matching it is not
# a false leak (bench/objects.py).
SHOWS_HOST = frozenset({"embed 40% in photo", "collage tile", "side-by-side", "perspective 15%"})
assert set(TRANSFORMS) >= SHOWS_HOST
COPIES = (ORIGINAL, *TRANSFORMS)
# LeakSentinel's recall targets: issue 3's "done when", then issue 18's (reported, not asserted).
TARGETS: dict[str, float] = BASE_TARGETS | GEO_TARGETS


def make_copies(
    seed: int, key: str, data: bytes, image: Image.Image, host: Image.Image
) -> list[bytes]:
    """The photo's file itself, then every transform of it (drawn from `seed`), in COPIES order."""
    return [data] + [
        fn(image, transform_rng(seed, key, name), host) for name, fn in TRANSFORMS.items()
    ]

"""Review thumbnails: small re-encoded JPEGs of registered assets and found images, for people."""

import hashlib
import io
from dataclasses import dataclass
from uuid import UUID

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlmodel import Session

from service.detection.decode import ALLOWED_FORMATS, OUT_OF_MEMORY_DETAIL, ImageLimits, on_white
from service.errors import AssetNotFound, ImageRejected, SightingNotFound
from storage.blobs import BlobStore
from storage.repositories import assets as assets_repo
from storage.repositories import sightings as sightings_repo

# Long side of a thumbnail: enough to judge a match by eye, small enough that a confidential
# asset's review copy is no substitute for the picture itself.
REVIEW_SIDE = 320
JPEG_QUALITY = 82


@dataclass(frozen=True)
class Thumbnail:
    jpeg: bytes
    width: int
    height: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.jpeg).hexdigest()


def make_thumbnail(data: bytes, limits: ImageLimits, side: int = REVIEW_SIDE) -> Thumbnail:
    """`data` re-encoded as a baseline JPEG at most `side` pixels on its long side, in colour,
    EXIF orientation applied (as the fingerprints see it, so region shares line up) and every
    piece of metadata dropped. Never the original bytes: whatever a crafted file carries beside
    its pixels does not reach a reviewer's browser."""
    if not data:
        raise ImageRejected("empty", "the image is empty")
    if len(data) > limits.max_bytes:
        raise ImageRejected("too_large", f"the file has {len(data)} bytes")
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageRejected("too_many_pixels", f"the image is {width}x{height} pixels")
            # A JPEG decodes at the smallest DCT scale that still covers the thumbnail.
            image.draft("RGB", (side, side))
            oriented = ImageOps.exif_transpose(image) or image
            rgb = on_white(oriented, "RGB")
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("unsupported_format", "not a JPEG, PNG, WebP or GIF image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from exc
    except MemoryError as exc:
        raise ImageRejected("decode_memory", OUT_OF_MEMORY_DETAIL) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageRejected("corrupt", f"the image could not be decoded: {exc}") from exc
    rgb.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return Thumbnail(out.getvalue(), rgb.width, rgb.height)


def asset_thumbnail(blobs: BlobStore, session: Session, asset_id: UUID) -> bytes | None:
    """The asset's stored review thumbnail, or None when it has none (registered from
    fingerprints, or before thumbnails were kept)."""
    asset = assets_repo.get(session, asset_id)
    if asset is None:
        raise AssetNotFound(f"no asset with id {asset_id}")
    if asset.thumbnail_sha256 is None or not blobs.exists(asset.thumbnail_sha256):
        return None
    return blobs.get(asset.thumbnail_sha256)


def found_image_kept(blobs: BlobStore, sha256: str | None) -> bool:
    """Whether the bytes of a found image are in the blob store (not so for a hash-only one)."""
    return sha256 is not None and blobs.exists(sha256)


def found_image_thumbnail(
    blobs: BlobStore, limits: ImageLimits, session: Session, sighting_id: UUID
) -> bytes | None:
    """A thumbnail of a found image, made from the evidence bytes in the blob store; None for a
    hash-only sighting, whose bytes the service never received."""
    sighting = sightings_repo.get(session, sighting_id)
    if sighting is None:
        raise SightingNotFound(f"no sighting with id {sighting_id}")
    if sighting.submitted_as != "upload" or sighting.sha256 is None:
        return None
    if not blobs.exists(sighting.sha256):
        return None
    return make_thumbnail(blobs.get(sighting.sha256), limits).jpeg

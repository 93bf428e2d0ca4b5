"""Crawler calls the ingestion tests share: batch and hash-only posts, and counting what was stored."""

import json
from typing import Any

import httpx2 as httpx
from sqlmodel import func, select

from service.detection.decode import ImageLimits
from service.ingest import sightings
from service.runtime import Runtime
from storage.models import Sighting
from tests.api_client import Api, auth

LIMITS = ImageLimits(max_bytes=2 * 1024 * 1024, max_pixels=4_000_000)


def stored_sightings(api: Api) -> int:
    runtime: Runtime = api.client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return session.exec(select(func.count()).select_from(Sighting)).one()


def post_batch(
    api: Api,
    manifest: Any,
    files: list[tuple[str, bytes]],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/batch",
        files=[("files", (name, data, "image/jpeg")) for name, data in files],
        data={"manifest": manifest if isinstance(manifest, str) else json.dumps(manifest)},
        headers={**auth(api.crawler), **(headers or {})},
    )


def hash_only_item(image: bytes, page_url: str, **extra: Any) -> dict[str, Any]:
    local = sightings.fingerprint_locally(image, LIMITS)
    prints = [
        {"algorithm": f.algorithm, "variant": f.variant, "hex": f.hex}
        for f in local.prints.fingerprints
    ]
    return {"page_url": page_url, "sha256": local.sha256, "fingerprints": prints, **extra}


def post_hashes(
    api: Api, items: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> httpx.Response:
    return api.client.post(
        "/v1/sightings/fingerprints",
        json={"items": items},
        headers={**auth(api.crawler), **(headers or {})},
    )

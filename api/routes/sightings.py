"""/v1/sightings: found images posted by crawlers, one by one, in batches, or as fingerprints."""

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Response, UploadFile, status
from pydantic import AwareDatetime

from api import uploads
from api.deps import CrawlerActor, IdempotencyKey, RuntimeDep, SessionDep
from api.limits import MAX_JSON_VALUES, json_values_bound
from api.schemas import PROBLEM_RESPONSES, BatchOut, HashOnlyBatch
from service.errors import InvalidInput
from service.ingest import sightings
from service.ingest.receipts import Receipt

router = APIRouter(
    prefix="/v1/sightings",
    tags=["crawler"],
    responses=PROBLEM_RESPONSES,
    route_class=uploads.ReceivingRoute,
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Receipt,
    responses={200: {"model": Receipt, "description": "Already received from this page."}},
)
def submit_sighting(
    file: Annotated[UploadFile, File(description="The image as fetched: JPEG, PNG, WebP or GIF.")],
    page_url: Annotated[str, Form(description="The page the image was found on.")],
    actor: CrawlerActor,
    runtime: RuntimeDep,
    session: SessionDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    image_url: Annotated[str | None, Form()] = None,
    found_at: Annotated[
        AwareDatetime | None, Form(description="Publication time, where the page states it.")
    ] = None,
    account: Annotated[str | None, Form(description="Publishing account or channel.")] = None,
) -> Receipt:
    source = sightings.SightingSource(page_url, image_url, account, found_at)
    receipt = sightings.submit_image(
        runtime, session, actor, source, uploads.content(file), idempotency_key=idempotency_key
    )
    response.status_code = status.HTTP_200_OK if receipt.duplicate else status.HTTP_201_CREATED
    return receipt


@router.post("/batch", response_model=BatchOut)
def submit_batch(
    files: Annotated[list[UploadFile], File(description="The images, each as fetched.")],
    manifest: Annotated[
        str,
        Form(
            description="JSON list, one entry per file: "
            "`{filename, page_url, image_url?, found_at?, account?}`."
        ),
    ],
    actor: CrawlerActor,
    runtime: RuntimeDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> BatchOut:
    entries = _json(manifest)
    files_in = [(f.filename or "", uploads.content(f)) for f in files]
    result = sightings.submit_batch(
        runtime, session, actor, entries, files_in, idempotency_key=idempotency_key
    )
    return BatchOut.of(result)


@router.post("/fingerprints", response_model=BatchOut)
def submit_fingerprints(
    body: HashOnlyBatch,
    actor: CrawlerActor,
    runtime: RuntimeDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> BatchOut:
    items = [item.submission() for item in body.items]
    result = sightings.submit_fingerprints(
        runtime, session, actor, items, idempotency_key=idempotency_key
    )
    return BatchOut.of(result)


def _json(text: str) -> object:
    # Bounded before parsing, as a JSON body is (api/limits.py): the manifest is parsed in the
    # threadpool, but holding the interpreter all the same.
    if json_values_bound(text) > MAX_JSON_VALUES:
        raise InvalidInput(f"the manifest may hold at most {MAX_JSON_VALUES} values")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"the manifest is not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InvalidInput("the manifest is nested too deeply") from exc

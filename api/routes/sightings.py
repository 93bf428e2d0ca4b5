"""/v1/sightings: found images posted by crawlers, one by one, in batches, or as fingerprints."""

import json

from fastapi import APIRouter, Response, status

from api import uploads
from api.deps import BatchForm, CrawlerActor, IdempotencyKey, RuntimeDep, SessionDep, SightingForm
from api.limits import MAX_JSON_VALUES, json_values_bound
from api.schemas import PROBLEM_RESPONSES, BatchOut, BatchUpload, HashOnlyBatch, SightingUpload
from service.errors import InvalidInput
from service.ingest import sightings
from service.ingest.receipts import Receipt

router = APIRouter(
    prefix="/v1/sightings",
    tags=["crawler"],
    responses=PROBLEM_RESPONSES,
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Receipt,
    responses={200: {"model": Receipt, "description": "Already received from this page."}},
    openapi_extra=uploads.openapi_body(SightingUpload),
)
def submit_sighting(
    actor: CrawlerActor,
    # After the key is checked (a stranger's body is never read), which hands its database
    # connection back for the upload (api/deps.py).
    form: SightingForm,
    runtime: RuntimeDep,
    session: SessionDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Receipt:
    receipt = sightings.submit_image(
        runtime, session, actor, form.source(), form.file.path, idempotency_key=idempotency_key
    )
    response.status_code = status.HTTP_200_OK if receipt.duplicate else status.HTTP_201_CREATED
    return receipt


@router.post("/batch", response_model=BatchOut, openapi_extra=uploads.openapi_body(BatchUpload))
def submit_batch(
    actor: CrawlerActor,
    # After the key is checked (a stranger's body is never read), which hands its database
    # connection back for the upload (api/deps.py).
    form: BatchForm,
    runtime: RuntimeDep,
    session: SessionDep,
    idempotency_key: IdempotencyKey = None,
) -> BatchOut:
    entries = _json(form.manifest)
    files_in = [(f.filename, f.path) for f in form.files]
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

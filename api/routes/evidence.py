"""/v1/leaks/{id}/evidence: a leak's evidence bundle as a zip (security)."""

from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from api.deps import RuntimeDep, SecurityActor, SessionDep
from api.downloads import attachment, file_response
from api.schemas import PROBLEM_RESPONSES
from service.evidence import bundles

router = APIRouter(prefix="/v1/leaks", tags=["security"], responses=PROBLEM_RESPONSES)


@router.get(
    "/{leak_id}/evidence",
    response_class=StreamingResponse,
    responses=file_response(
        bundles.ZIP_MEDIA_TYPE,
        "A zip: `manifest.json` (every sighting's chain record, digests and image SHA-256, the "
        "chain head), `summary.txt`, and `images/<sha256>.<ext>` as received. Check it offline "
        "with `leaksentinel verify-bundle FILE`.",
    ),
)
def export_evidence(
    leak_id: UUID, actor: SecurityActor, runtime: RuntimeDep, session: SessionDep
) -> StreamingResponse:
    return attachment(bundles.export_bundle(runtime, session, actor, leak_id))

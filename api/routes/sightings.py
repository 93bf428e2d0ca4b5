"""/v1/sightings: found images posted by crawlers."""

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile, status
from pydantic import AwareDatetime

from api.deps import CrawlerActor, RuntimeDep, SessionDep
from api.schemas import SightingReceipt
from service import sightings

router = APIRouter(prefix="/v1/sightings", tags=["crawler"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SightingReceipt)
def submit_sighting(
    file: Annotated[UploadFile, File(description="The image as fetched: JPEG, PNG, WebP or GIF.")],
    page_url: Annotated[str, Form(description="The page the image was found on.")],
    actor: CrawlerActor,
    runtime: RuntimeDep,
    session: SessionDep,
    image_url: Annotated[str | None, Form()] = None,
    found_at: Annotated[
        AwareDatetime | None, Form(description="Publication time, where the page states it.")
    ] = None,
    account: Annotated[str | None, Form(description="Publishing account or channel.")] = None,
) -> SightingReceipt:
    source = sightings.SightingSource(page_url, image_url, account, found_at)
    sighting = sightings.submit_image(runtime, session, actor, source, file.file.read())
    return SightingReceipt.model_validate(sighting)

"""/v1/assets: registering embargoed assets and managing their embargo (marketing)."""

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, UploadFile, status
from pydantic import AwareDatetime

from api.deps import AssetReader, MarketingActor, RuntimeDep, SessionDep
from api.schemas import PROBLEM_RESPONSES, AssetFromFingerprints, AssetOut, AssetPatch, Page
from service import assets
from service.assets import MAX_TAGS
from service.detection.hashes import Fingerprint

router = APIRouter(prefix="/v1/assets", tags=["marketing"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssetOut)
def register_asset(
    file: Annotated[UploadFile, File(description="JPEG, PNG, WebP or GIF.")],
    name: Annotated[str, Form(min_length=1, max_length=300)],
    product: Annotated[str, Form(min_length=1, max_length=200)],
    embargo_until: Annotated[AwareDatetime, Form(description="ISO 8601 with an offset.")],
    actor: MarketingActor,
    runtime: RuntimeDep,
    session: SessionDep,
    tags: Annotated[list[str] | None, Form(max_length=MAX_TAGS)] = None,
    notes: Annotated[str | None, Form(max_length=10_000)] = None,
) -> AssetOut:
    draft = assets.AssetDraft(name, product, embargo_until, tags or (), notes)
    asset = assets.register_from_image(runtime, session, actor, draft, file.file.read())
    return AssetOut.model_validate(asset)


@router.post("/fingerprints", status_code=status.HTTP_201_CREATED, response_model=AssetOut)
def register_asset_from_fingerprints(
    body: AssetFromFingerprints, actor: MarketingActor, runtime: RuntimeDep, session: SessionDep
) -> AssetOut:
    draft = assets.AssetDraft(body.name, body.product, body.embargo_until, body.tags, body.notes)
    prints = [Fingerprint.from_hex(f.algorithm, f.variant, f.hex) for f in body.fingerprints]
    asset = assets.register_from_fingerprints(
        runtime, session, actor, draft, prints, body.local_features
    )
    return AssetOut.model_validate(asset)


@router.get("", response_model=Page[AssetOut])
def list_assets(
    _: AssetReader,
    session: SessionDep,
    product: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> Page[AssetOut]:
    page = assets.list_assets(session, product=product, status=status, cursor=cursor, limit=limit)
    return Page[AssetOut](
        items=[AssetOut.model_validate(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.get("/{asset_id}", response_model=AssetOut)
def get_asset(asset_id: UUID, _: AssetReader, session: SessionDep) -> AssetOut:
    return AssetOut.model_validate(assets.get_asset(session, asset_id))


@router.patch("/{asset_id}", response_model=AssetOut)
def update_asset(
    asset_id: UUID,
    body: AssetPatch,
    actor: MarketingActor,
    runtime: RuntimeDep,
    session: SessionDep,
) -> AssetOut:
    change = assets.AssetChange(embargo_until=body.embargo_until, retire=body.status == "retired")
    return AssetOut.model_validate(assets.update_asset(runtime, session, actor, asset_id, change))

"""HTTP answers for exports: a service Download streamed as a file attachment."""

from typing import Any

from fastapi.responses import StreamingResponse

from service.desk.exports import Download


def attachment(download: Download) -> StreamingResponse:
    return StreamingResponse(
        download.chunks(),
        media_type=download.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Content-Length": str(download.size),
        },
    )


def file_response(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a route that answers a file instead of JSON."""
    return {200: {"description": description, "content": {media_type: {}}}}

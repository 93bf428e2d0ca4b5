"""Multipart uploads (api/uploads.py): files received into the blob store's incoming files, kept
byte for byte or deleted, and bodies that are not a complete form refused."""

from pathlib import Path

import httpx2 as httpx
import pytest

from service.detection.decode import ImageLimits
from testing.images import jpeg
from tests.api_client import Api, auth
from tests.ingest_calls import post_batch, stored_sightings


def test_batch_body_over_the_batch_limit_is_refused_before_it_is_read(api: Api) -> None:
    limit = api.client.app.state.runtime.settings.max_batch_bytes  # type: ignore[attr-defined]
    response = api.client.post(
        "/v1/sightings/batch",
        content=b"x" * 16,
        headers={
            **auth(api.crawler),
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(limit + 1),
        },
    )
    assert response.status_code == 413, response.text
    assert stored_sightings(api) == 0


def test_uploaded_files_are_kept_byte_for_byte_and_no_incoming_file_outlives_its_request(
    api: Api,
) -> None:
    """Files stream into incoming files of the blob store (api/uploads.py): the kept ones are
    linked into place, the refused ones deleted, and nothing is left in the incoming folder."""
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    good, broken, stray = jpeg(2), jpeg(3)[:400], jpeg(4)
    manifest = [
        {"filename": "good.jpg", "page_url": "https://blog.example.com/a"},
        {"filename": "broken.jpg", "page_url": "https://blog.example.com/b"},
    ]
    response = post_batch(
        api, manifest, [("good.jpg", good), ("broken.jpg", broken), ("stray.jpg", stray)]
    )
    single = api.sighting(jpeg(5))

    assert response.status_code == 200, response.text
    [kept] = [i["receipt"] for i in response.json()["items"] if i["outcome"] == "created"]
    assert blobs.get(kept["sha256"]) == good
    assert blobs.get(single["sha256"]) == jpeg(5)
    assert sorted(p.name for p in blobs.root.rglob("*") if p.is_file()) == sorted(
        [kept["sha256"], single["sha256"]]
    )
    assert not [p for p in blobs.incoming.rglob("*") if p.is_file()]


def test_uploaded_files_reach_the_decode_workers_as_files_not_bytes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoder = api.client.app.state.runtime.decoder  # type: ignore[attr-defined]
    handed: list[object] = []
    through = decoder.fingerprint_found_images

    def spy(files: list[object], limits: ImageLimits) -> object:
        handed.extend(files)
        return through(files, limits)

    monkeypatch.setattr(decoder, "fingerprint_found_images", spy)
    response = post_batch(
        api,
        [{"filename": "a.jpg", "page_url": "https://blog.example.com/a"}],
        [("a.jpg", jpeg(2))],
    )

    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    [file] = handed
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    assert isinstance(file, Path) and file.is_relative_to(blobs.incoming)


def multipart(image: bytes, page_url: str = "https://blog.example.com/a") -> bytes:
    """A single-sighting form written out by hand, as a crawler's HTTP library would send it."""
    return (
        b"--xyz\r\n"
        b'Content-Disposition: form-data; name="page_url"\r\n\r\n'
        + page_url.encode()
        + b"\r\n--xyz\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--xyz--\r\n"
    )


def post_form(api: Api, body: bytes, content_type: str) -> httpx.Response:
    return api.client.post(
        "/v1/sightings", content=body, headers={**auth(api.crawler), "Content-Type": content_type}
    )


def test_a_form_cut_short_is_refused_and_leaves_no_incoming_file(api: Api) -> None:
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    whole = post_form(api, multipart(jpeg(2)), "multipart/form-data; boundary=xyz")
    cut = post_form(api, multipart(jpeg(3))[:-200], "multipart/form-data; boundary=xyz")

    assert whole.status_code == 201, whole.text  # the hand-written form is a good one
    assert cut.status_code == 400, cut.text
    assert cut.json()["type"].endswith(":malformed-form")
    assert stored_sightings(api) == 1
    assert not [p for p in blobs.incoming.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "text/plain"]
)
def test_a_body_that_is_not_a_bounded_form_is_refused(api: Api, content_type: str) -> None:
    response = post_form(api, multipart(jpeg(2)), content_type)

    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith(":malformed-form")
    assert stored_sightings(api) == 0


def test_files_under_names_the_route_does_not_take_are_not_written(api: Api) -> None:
    blobs = api.client.app.state.runtime.blobs  # type: ignore[attr-defined]
    response = api.client.post(
        "/v1/sightings",
        data={"page_url": "https://blog.example.com/a"},
        files=[("file", ("a.jpg", jpeg(2), "image/jpeg")), ("extra", ("b.jpg", jpeg(3)))],
        headers=auth(api.crawler),
    )

    assert response.status_code == 201, response.text
    assert sorted(p.name for p in blobs.root.rglob("*") if p.is_file()) == [
        response.json()["sha256"]
    ]

"""The dashboard's pages through the test client: escaped, links, queue paging, thumbnails."""

import io
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.ui import pages, present
from service import thumbnails
from service.detection.decode import ImageLimits
from service.settings import Settings
from testing.images import encode, jpeg, photo
from tests.api_client import Api, auth
from tests.ui_client import sign_in


@pytest.fixture
def security_client(client: TestClient, api: Api) -> TestClient:
    signed_in = sign_in(client, api.security)
    assert signed_in.status_code == 303, signed_in.text
    return client


def test_pages_are_escaped_and_locked_down(security_client: TestClient, api: Api) -> None:
    api.asset(jpeg(1), name="<b>Front</b> & back")
    api.sighting(jpeg(1), account="</td><script>alert(1)</script>")
    [leak] = api.leaks()
    response = security_client.get(f"/ui/leaks/{leak['id']}")
    assert response.status_code == 200
    assert "&lt;b&gt;Front&lt;/b&gt; &amp; back" in response.text
    assert "<b>Front</b>" not in response.text
    assert "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script>alert" not in response.text
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://news.example.com/a?b=1", "https://news.example.com/a?b=1"),
        ("http://news.example.com/", "http://news.example.com/"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("//news.example.com/", None),
        ("https:///nohost", None),
        (None, None),
    ],
)
def test_only_http_urls_become_links(url: str | None, href: str | None) -> None:
    assert present.safe_href(url) == href


def test_region_and_variant_boxes() -> None:
    assert present.region_box("original") is None
    assert present.region_box("region:0.100,0.250,0.900,1.000") == (0.1, 0.25, 0.9, 1.0)
    assert present.region_box("region:0.5,0.5,0.4,0.9") is None
    assert present.region_box("region:nope") is None
    assert present.variant_box("crop70-0-100") == pytest.approx((0.0, 0.3, 0.7, 1.0))
    assert present.variant_box("cut-t10") == (0.0, 0.1, 1.0, 1.0)
    assert present.variant_box("flip-rot90") is None
    assert present.svg_rect((0.1, 0.2, 0.6, 1.0)) == {
        "x": "10.00",
        "y": "20.00",
        "width": "50.00",
        "height": "80.00",
    }


def test_the_queue_shows_open_leaks_first_across_pages(
    security_client: TestClient, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed in (51, 52, 53, 54, 55):
        api.asset(jpeg(seed), name=f"asset {seed}")
        api.sighting(jpeg(seed))
    by_name = {leak["asset"]["name"]: leak["id"] for leak in api.leaks()}
    for name in ("asset 51", "asset 53"):
        patched = api.client.patch(
            f"/v1/leaks/{by_name[name]}", json={"status": "resolved"}, headers=auth(api.security)
        )
        assert patched.status_code == 200
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)

    seen: list[str] = []
    url: str | None = "/ui/leaks"
    while url:
        response = security_client.get(url)
        assert response.status_code == 200, response.text
        seen += re.findall(r'<span class="badge s-(\w+)">', response.text.split("<tbody>")[1])
        more = re.search(r'href="(/ui/leaks\?[^"]*cursor=[^"]+)"', response.text)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert seen == ["open", "open", "open", "resolved", "resolved"]

    only = security_client.get("/ui/leaks", params={"status": "resolved"})
    assert only.text.count('class="badge s-resolved"') == 2
    assert security_client.get("/ui/leaks", params={"cursor": "9:x"}).status_code == 400
    assert security_client.get("/ui/leaks", params={"status": "nope"}).status_code == 422
    assert security_client.get("/ui/leaks/not-a-uuid").status_code == 404


def test_thumbnails_are_small_reencoded_jpegs(
    security_client: TestClient, api: Api, settings: Settings
) -> None:
    original = encode(photo(7, (1600, 1200)), "WEBP", quality=90)
    asset = api.asset(original)
    receipt = api.sighting(original)
    [leak] = api.leaks()
    sighting_id = api.leak(leak["id"])["sightings"][0]["id"]
    assert receipt["sha256"]

    for url, caching in (
        (f"/ui/assets/{asset['id']}/thumbnail.jpg", "no-store"),
        (f"/ui/sightings/{sighting_id}/thumbnail.jpg", "private, max-age=3600"),
    ):
        response = security_client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == "image/jpeg"
        assert response.headers["cache-control"] == caching
        assert response.content != original
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "JPEG" and image.size == (320, 240)

    # The asset's thumbnail was kept at registration; the original was not.
    blobs = [p.name for p in settings.blob_path.rglob("*") if p.is_file()]
    assert receipt["sha256"] in blobs  # the found image, as evidence
    assert len(blobs) == 2


def test_an_asset_from_fingerprints_has_no_thumbnail(security_client: TestClient, api: Api) -> None:
    body = {
        "name": "hashes only",
        "product": "SU7",
        "embargo_until": (api.clock() + timedelta(days=3)).isoformat(),
        "fingerprints": [
            {"algorithm": "pdq", "variant": "original", "hex": "0f" * 32},
            {"algorithm": "phash", "variant": "original", "hex": "a5" * 8},
        ],
    }
    created = api.client.post("/v1/assets/fingerprints", json=body, headers=auth(api.marketing))
    assert created.status_code == 201
    assert (
        security_client.get(f"/ui/assets/{created.json()['id']}/thumbnail.jpg").status_code == 404
    )
    assert "registered from fingerprints" in security_client.get("/ui/assets").text


def test_make_thumbnail_drops_metadata_and_applies_orientation() -> None:
    image = photo(3, (400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    exif[0x010F] = "SecretCam"
    data = encode(image, exif=exif.tobytes())
    made = thumbnails.make_thumbnail(data, ImageLimits(10_000_000, 10_000_000))
    result = Image.open(io.BytesIO(made.jpeg))
    assert result.size == (160, 320)
    assert not result.getexif()
    assert b"SecretCam" not in made.jpeg


def test_ui_routes_stay_out_of_the_api_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]

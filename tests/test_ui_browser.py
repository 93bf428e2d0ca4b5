"""The dashboard (/ui) in headless Chromium, driven by Playwright against a real server.

Browser tests need Chromium at LEAKSENTINEL_TEST_CHROMIUM (default /usr/bin/chromium, Debian's
`chromium` package) and the `playwright` package. Without them they are skipped, unless
LEAKSENTINEL_TEST_REQUIRE_BROWSER=1 (as in CI), which makes them fail instead. Screenshots of the
queue and a leak's page are written to tests/artifacts/."""

import contextlib
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
from PIL import Image, ImageDraw

from testing.images import encode, jpeg
from testing.server import Server, settling
from tests.api_client import Api, auth
from tests.browser import Tab, chromium

# Without playwright the `browser` fixture skips the tests (or, in CI, fails them).
with contextlib.suppress(ImportError):
    from playwright.sync_api import Browser, expect

ARTIFACTS = Path(__file__).parent / "artifacts"
DATA = Path(__file__).parent / "data"
ASSET_NAME = "Oat milk carton, hand-held"
HOSTILE_URL = 'https://evil.example.com/<script>window.__pwned=1</script>?q="><img/src=x/onerror=window.__pwned=2>'
HOSTILE_ACCOUNT = "<img src=x onerror=window.__pwned=3>"


def screenshot_of(picture: bytes) -> bytes:
    """`picture` pasted into a page: a forum post with a header, a title and text lines, as a
    leak often arrives. The service finds the picture's region in it."""
    source = Image.open(io.BytesIO(picture)).convert("RGB")
    canvas = Image.new("RGB", (900, 760), (250, 250, 250))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, 900, 70), fill=(30, 40, 60))
    draw.rectangle((40, 100, 860, 130), fill=(200, 200, 200))
    pasted = source.resize((int(source.width * 1.2), int(source.height * 1.2)))
    canvas.paste(pasted, (140, 170))
    for y in range(170 + pasted.height + 30, 740, 28):
        draw.rectangle((140, y, 760, y + 12), fill=(190, 190, 190))
    return encode(canvas, quality=80)


# Browser fixtures


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def server(server_env: dict[str, str], tmp_path: Path) -> Iterator[Server]:
    running = Server(server_env, tmp_path / "server.log")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def remote_api(server: Server, server_env: dict[str, str], bootstrap_key: str) -> Iterator[Api]:
    """The API of the real server, for setting up what the browser then sees."""
    settle = settling(server_env["LEAKSENTINEL_DATABASE_URL"])
    with httpx.Client(
        base_url=server.base_url, timeout=30, event_hooks={"response": [settle]}
    ) as client:
        yield Api(client, bootstrap_key, lambda: datetime.now(UTC))


@pytest.fixture
def tab(browser: "Browser", server: Server) -> Iterator[Tab]:
    opened = Tab(browser, server.base_url)
    yield opened
    opened.close()


def carton_leak(api: Api) -> str:
    """The README's photo registered, and found three times: recompressed on a gossip site
    (first, by its claimed publication time), pasted into a forum post, and on a mirror."""
    asset = api.asset(
        (DATA / "asset.jpg").read_bytes(),
        name=ASSET_NAME,
        product="Carton 2",
        embargo_in=timedelta(days=40),
    )
    leaked = (DATA / "leaked-copy.jpg").read_bytes()
    now = datetime.now(UTC)
    api.sighting(
        leaked,
        page_url="https://gossip.example.com/2025/first-look",
        image_url="https://cdn.gossip.example.com/first-look.jpg",
        found_at=now - timedelta(hours=5),
        account="@scoops",
    )
    api.sighting(
        screenshot_of((DATA / "asset.jpg").read_bytes()),
        page_url="https://forum.example.net/t/carton-2-prototype/881",
        found_at=now - timedelta(hours=3),
    )
    api.sighting(
        leaked,
        page_url="https://mirror.example.org/copy",
        image_url=None,
        found_at=now - timedelta(hours=1),
    )
    [leak] = api.leaks(asset_id=asset["id"])
    return str(leak["id"])


def other_leaks(api: Api) -> None:
    """A few more reports in other states, so that the queue looks like a working day."""
    for seed, name, product, status in (
        (21, "Dashboard close-up", "SU7 Ultra", None),
        (22, "Rear three-quarter, night", "SU7 Ultra", "confirmed"),
        (23, "Spec sheet, page 2", "Pad 7", "false_positive"),
    ):
        asset = api.asset(jpeg(seed), name=name, product=product, embargo_in=timedelta(days=9))
        api.sighting(jpeg(seed, (480, 360), quality=55), page_url=f"https://leaks{seed}.example/p")
        if status:
            [leak] = api.leaks(asset_id=asset["id"])
            patched = api.client.patch(
                f"/v1/leaks/{leak['id']}", json={"status": status}, headers=auth(api.security)
            )
            assert patched.status_code == 200, patched.text


# In the browser


def test_security_signs_in_reviews_a_leak_and_confirms_it(
    tab: Tab, remote_api: Api, server: Server
) -> None:
    leak_id = carton_leak(remote_api)
    other_leaks(remote_api)
    page = tab.page

    tab.sign_in(remote_api.security)
    expect(page).to_have_url(re.compile(r"/ui/leaks$"))
    row = page.locator("table.queue tbody tr", has_text=ASSET_NAME)
    expect(row).to_contain_text("Open")
    expect(row).to_contain_text("gossip.example.com")
    expect(row).to_contain_text("Carton 2")
    # Open leaks first: the first rows are the open ones.
    statuses = page.locator("table.queue tbody tr td:first-child").all_inner_texts()
    assert statuses[:2] == ["Open", "Open"], statuses
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "leak-queue.png", full_page=True)

    row.get_by_role("link", name=ASSET_NAME).click()
    expect(page).to_have_url(re.compile(rf"/ui/leaks/{leak_id}$"))
    assert all(w > 0 for w in tab.images_loaded("img.asset-thumb")), "asset thumbnail"
    found = tab.images_loaded("img.found-thumb")
    assert len(found) == 3 and all(w > 0 for w in found), found
    # The forum post's match is a region of the page, drawn over its thumbnail.
    expect(page.locator(".pair", has_text="forum.example.net").locator("svg.box")).to_have_count(1)
    expect(page.locator(".tl-row .tl-source")).to_have_count(3)
    page.screenshot(path=ARTIFACTS / "leak-detail.png", full_page=True)

    page.fill("textarea[name=note]", "Same shot as the press-preview set.")
    page.click("button[name=status][value=confirmed]")
    expect(page).to_have_url(re.compile(rf"/ui/leaks/{leak_id}\?saved=1$"))
    expect(page.locator(".pagehead h1 .badge")).to_have_text("Confirmed")
    latest = page.locator("ol.history li").first
    expect(latest).to_contain_text("Open")
    expect(latest).to_contain_text("Confirmed")
    expect(latest).to_contain_text("Same shot as the press-preview set.")
    expect(latest).to_contain_text("security-key")
    # Confirmed, the next steps are open and the one taken is gone.
    expect(page.locator("button[name=status][value=takedown_requested]")).to_be_enabled()
    expect(page.locator("button[name=status][value=confirmed]")).to_have_count(0)

    page.fill("input[name=assignee]", "legal")
    page.click("button:has-text('Assign')")
    expect(page.locator("input[name=assignee]")).to_have_value("legal")
    page.screenshot(path=ARTIFACTS / "leak-confirmed.png")

    detail = remote_api.leak(leak_id)
    assert detail["status"] == "confirmed"
    assert detail["assignee"] == "legal"
    assert [h["to_status"] for h in detail["history"]] == ["open", "confirmed", "confirmed"]
    assert detail["history"][1]["note"] == "Same shot as the press-preview set."

    page.click("nav.sections a:has-text('Sources')")
    ranking = page.locator("table.grid tbody tr")
    expect(ranking.first).to_contain_text("gossip.example.com")
    page.screenshot(path=ARTIFACTS / "sources.png", full_page=True)

    page.click("button:has-text('Sign out')")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"/ui/leaks/{leak_id}")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    assert tab.errors == [], tab.errors


def test_a_crawler_key_cannot_sign_in(tab: Tab, remote_api: Api) -> None:
    tab.sign_in(remote_api.crawler)
    expect(tab.page).to_have_url(re.compile(r"/ui/login$"))
    expect(tab.page.locator(".alert")).to_contain_text("Crawler keys cannot sign in")
    tab.page.goto("/ui/leaks")
    expect(tab.page).to_have_url(re.compile(r"/ui/login$"))

    tab.sign_in("lsk_" + "0" * 43)
    expect(tab.page.locator(".alert")).to_contain_text("unknown or revoked")
    ARTIFACTS.mkdir(exist_ok=True)
    tab.page.screenshot(path=ARTIFACTS / "sign-in.png")


def test_a_page_url_with_markup_is_shown_as_text_and_runs_nothing(
    tab: Tab, remote_api: Api
) -> None:
    remote_api.asset(jpeg(31))
    remote_api.sighting(jpeg(31), page_url=HOSTILE_URL, account=HOSTILE_ACCOUNT)
    [leak] = remote_api.leaks()
    page = tab.page
    tab.sign_in(remote_api.security)
    expect(page.locator("table.queue")).to_contain_text(HOSTILE_ACCOUNT)

    page.goto(f"/ui/leaks/{leak['id']}")
    link = page.locator(".pairmeta a.url")
    expect(link).to_have_text(HOSTILE_URL)
    assert link.get_attribute("href") == HOSTILE_URL
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    expect(page.locator("main")).to_contain_text("<script>window.__pwned=1</script>")
    expect(page.locator("main")).to_contain_text(HOSTILE_ACCOUNT)
    assert page.evaluate("window.__pwned") is None
    # The only scripts are the dashboard's own file; no element came from the crawler's text.
    assert page.evaluate("[...document.scripts].map(s => s.src)") == [
        f"{page.url.split('/ui/')[0]}/ui/static/ui.js"
    ]
    assert page.locator("main img[src='x']").count() == 0
    assert tab.dialogs == []


def test_a_triage_post_without_the_csrf_token_is_refused(tab: Tab, remote_api: Api) -> None:
    remote_api.asset(jpeg(41))
    remote_api.sighting(jpeg(41))
    [leak] = remote_api.leaks()
    page = tab.page
    tab.sign_in(remote_api.security)
    page.goto(f"/ui/leaks/{leak['id']}")

    page.eval_on_selector("form.triage input[name=csrf_token]", "input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button[name=status][value=confirmed]")
    assert posted.value.status == 403
    expect(page.locator("h1")).to_have_text("Form refused")

    page.goto(f"/ui/leaks/{leak['id']}")
    page.eval_on_selector("form.triage input[name=csrf_token]", "input => input.value = 'forged'")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.click("button[name=status][value=false_positive]")
    assert posted.value.status == 403
    assert remote_api.leak(str(leak["id"]))["status"] == "open"
    assert len(remote_api.leak(str(leak["id"]))["history"]) == 1


def test_marketing_sees_assets_but_no_leak(tab: Tab, remote_api: Api) -> None:
    leak_id = carton_leak(remote_api)
    hashes_only = remote_api.client.post(
        "/v1/assets/fingerprints",
        json={
            "name": "Spec sheet (hashes only)",
            "product": "Carton 2",
            "embargo_until": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
            "fingerprints": [
                {"algorithm": "pdq", "variant": "original", "hex": "0f" * 32},
                {"algorithm": "phash", "variant": "original", "hex": "a5" * 8},
            ],
        },
        headers=auth(remote_api.marketing),
    )
    assert hashes_only.status_code == 201, hashes_only.text
    page = tab.page
    tab.sign_in(remote_api.marketing)
    expect(page).to_have_url(re.compile(r"/ui/assets$"))
    row = page.locator("table.assets tbody tr", has_text=ASSET_NAME)
    expect(row.locator("time.countdown")).to_contain_text(re.compile(r"^in (39|40)d"))
    expect(row.locator("td.num").first).to_have_text("1")
    assert tab.images_loaded("table.assets img.mini") == [320]
    placeholder = page.locator("table.assets tbody tr", has_text="hashes only")
    expect(placeholder.locator(".placeholder")).to_have_count(1)
    expect(page.locator("nav.sections a")).to_have_text(["Assets"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "assets.png", full_page=True)

    for path in ("/ui/leaks", f"/ui/leaks/{leak_id}", "/ui/sources"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.locator("main")).to_contain_text("A marketing key cannot see this page")
        expect(page.locator("main")).not_to_contain_text("gossip.example.com")
    sighting = remote_api.leak(leak_id)["sightings"][0]["id"]
    response = page.goto(f"/ui/sightings/{sighting}/thumbnail.jpg")
    assert response is not None and response.status == 403

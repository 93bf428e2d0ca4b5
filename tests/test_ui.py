"""The dashboard (/ui): in headless Chromium driven by Playwright against a real `leaksentinel
serve`, and through the test client for what a browser cannot show (cookie flags, tampering,
paging, thumbnails).

Browser tests need Chromium at LEAKSENTINEL_TEST_CHROMIUM (default /usr/bin/chromium, Debian's
`chromium` package) and the `playwright` package. Without them they are skipped, unless
LEAKSENTINEL_TEST_REQUIRE_BROWSER=1 (as in CI), which makes them fail instead. Screenshots of the
queue and a leak's page are written to tests/artifacts/."""

import io
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx2 as httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from api.ui import pages, present
from api.ui.session import COOKIE, UiSession, signer_for
from service import thumbnails
from service.detection.decode import ImageLimits
from service.settings import Settings
from storage.types import utcnow
from testing.images import encode, jpeg, photo
from testing.server import Server, settling
from tests.api_client import Api, SettledClient, auth

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # the skip (or, in CI, the failure) comes from the `browser` fixture
    sync_playwright = None

CHROMIUM = os.environ.get("LEAKSENTINEL_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("LEAKSENTINEL_TEST_REQUIRE_BROWSER") == "1"
# The machine's network is closed: without these Chromium keeps trying to reach Google's
# services, and running as root it needs --no-sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
DATA = Path(__file__).parent / "data"
ASSET_NAME = "Oat milk carton, hand-held"
HOSTILE_URL = 'https://evil.example.com/<script>window.__pwned=1</script>?q="><img/src=x/onerror=window.__pwned=2>'
HOSTILE_ACCOUNT = "<img src=x onerror=window.__pwned=3>"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient | httpx.Client, key: str) -> httpx.Response:
    form = client.get("/ui/login")
    assert form.status_code == 200, form.text
    return client.post(
        "/ui/login",
        data={"api_key": key, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


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
    reason = None
    if sync_playwright is None:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    elif not Path(CHROMIUM).exists():
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"LEAKSENTINEL_TEST_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


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


class Tab:
    """A fresh browser context (no cookies) on the server, recording script errors."""

    def __init__(self, browser: "Browser", base_url: str) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1440, "height": 900}
        )
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        self.page.on("dialog", dismiss)

    def sign_in(self, key: str) -> None:
        self.page.goto("/ui/login")
        self.page.fill("input[name=api_key]", key)
        self.page.click("button[type=submit]:has-text('Sign in')")

    def images_loaded(self, selector: str) -> list[int]:
        """The natural width of every image `selector` finds, once each has loaded."""
        self.page.wait_for_function(
            "s => [...document.querySelectorAll(s)].every(i => i.complete)", arg=selector
        )
        widths: list[int] = self.page.eval_on_selector_all(
            selector, "images => images.map(i => i.naturalWidth)"
        )
        return widths

    def close(self) -> None:
        self.context.close()


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


# Through the test client


@pytest.fixture
def security_client(client: TestClient, api: Api) -> TestClient:
    signed_in = sign_in(client, api.security)
    assert signed_in.status_code == 303, signed_in.text
    return client


UI_ROUTES = {
    # (method, path as registered): who gets the page; everyone else signed in gets 403, and
    # a browser with no session is sent to sign in.
    ("GET", "/ui"): {"marketing", "security", "admin"},
    ("GET", "/ui/leaks"): {"security", "admin"},
    ("GET", "/ui/leaks/{leak_id}"): {"security", "admin"},
    ("POST", "/ui/leaks/{leak_id}"): {"security", "admin"},
    ("GET", "/ui/sources"): {"security", "admin"},
    ("GET", "/ui/assets"): {"marketing", "security", "admin"},
    ("GET", "/ui/assets/{asset_id}/thumbnail.jpg"): {"marketing", "security", "admin"},
    ("GET", "/ui/sightings/{sighting_id}/thumbnail.jpg"): {"security", "admin"},
}
# Open to anyone: the sign-in form, signing in and out, and the stylesheet and script.
PUBLIC_UI_ROUTES = {("GET", "/ui/login"), ("POST", "/ui/login"), ("POST", "/ui/logout")}


def test_every_ui_route_is_in_the_ui_role_table(client: TestClient) -> None:
    registered: set[tuple[str, str]] = set()
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = route.path or ""
        if path.startswith("/ui"):
            methods = route.methods or {type(route.original_route).__name__}
            registered |= {(m, path) for m in methods if m != "HEAD"}
    assert registered == set(UI_ROUTES) | PUBLIC_UI_ROUTES | {("Mount", "/ui/static")}


@pytest.mark.parametrize("caller", ["nobody", "marketing", "security", "admin"])
def test_ui_pages_by_role(client: TestClient, api: Api, caller: str) -> None:
    asset = api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    ids = {
        "leak_id": leak["id"],
        "asset_id": asset["id"],
        "sighting_id": api.leak(leak["id"])["sightings"][0]["id"],
    }
    keys = {"marketing": api.marketing, "security": api.security, "admin": api.admin}
    if caller != "nobody":
        assert sign_in(client, keys[caller]).status_code == 303
    token = csrf_of(client.get("/ui/login").text) if caller == "nobody" else None
    for (method, path), allowed in UI_ROUTES.items():
        url = path.format(**ids)
        if method == "POST":
            token = token or csrf_of(client.get("/ui/assets").text)
            form = {"csrf_token": token, "note": f"checked by {caller}"}
            response = client.post(url, data=form, follow_redirects=False)
        else:
            response = client.get(url, follow_redirects=False)
        if caller == "nobody":
            assert response.status_code == 303, (path, response.text)
            assert response.headers["location"] == "/ui/login"
        elif caller in allowed:
            assert response.status_code in (200, 303), (path, response.text)
        else:
            assert response.status_code == 403, (path, response.text)
            assert "text/html" in response.headers["content-type"]
    notes = [h["note"] for h in api.leak(leak["id"])["history"] if h["note"]]
    assert notes == ([f"checked by {caller}"] if caller in ("security", "admin") else [])


def test_the_session_cookie_is_httponly_strict_and_holds_no_key(
    settings: Settings, api: Api, clock: Any
) -> None:
    from api.app import create_app

    with SettledClient(create_app(settings, clock=clock), base_url="https://testserver") as client:
        response = sign_in(client, api.security)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/leaks"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/ui"):
            assert flag.lower() in cookie.lower(), cookie
        assert api.security not in cookie
        assert client.get("/ui/leaks").status_code == 200


def test_sessions_expire_and_one_secret_serves_every_process(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data")  # type: ignore[call-arg]
    first, second = signer_for(settings, utcnow), signer_for(settings, utcnow)  # two processes
    key_id = uuid4()
    session = first.new(key_id)
    assert second.load(first.dump(session)) == session
    assert second.csrf_token(session) == first.csrf_token(session)
    assert (tmp_path / "data" / "ui-session.key").stat().st_mode & 0o777 == 0o600

    stale = UiSession(
        key_id, session.nonce, session.issued_at - settings.ui_session_hours * 3600 - 1
    )
    assert first.load(first.dump(stale)) is None
    other = Settings(_env_file=None, data_dir=tmp_path / "other")  # type: ignore[call-arg]
    assert signer_for(other, utcnow).load(first.dump(session)) is None
    assert not first.csrf_ok(session, "é")  # not ASCII: refused, not an error


def test_over_plain_http_the_cookie_is_not_secure(client: TestClient, api: Api) -> None:
    cookie = sign_in(client, api.security).headers["set-cookie"]
    assert "secure" not in cookie.lower()


def test_a_tampered_or_missing_session_goes_to_sign_in(client: TestClient, api: Api) -> None:
    sign_in(client, api.security)
    value = client.cookies[COOKIE]
    payload, mac = value.split(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, payload + "." + mac[::-1])
    response = client.get("/ui/leaks", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    client.cookies.clear()
    assert client.get("/ui/leaks", follow_redirects=False).headers["location"] == "/ui/login"


def test_revoking_the_key_ends_its_sessions(client: TestClient, api: Api) -> None:
    created = client.post(
        "/v1/keys", json={"name": "temp", "role": "security"}, headers=auth(api.admin)
    )
    sign_in(client, created.json()["key"])
    assert client.get("/ui/leaks").status_code == 200
    revoked = client.delete(f"/v1/keys/{created.json()['id']}", headers=auth(api.admin))
    assert revoked.status_code == 204
    assert client.get("/ui/leaks", follow_redirects=False).status_code == 303


def test_signing_out_ends_the_session_so_a_copied_cookie_stops_working(
    client: TestClient, api: Api
) -> None:
    sign_in(client, api.security)
    copied = client.cookies[COOKIE]
    token = csrf_of(client.get("/ui/leaks").text)
    signed_out = client.post("/ui/logout", data={"csrf_token": token}, follow_redirects=False)
    assert signed_out.status_code == 303

    client.cookies.clear()
    client.cookies.set(COOKIE, copied)  # as an attacker who copied it earlier would
    response = client.get("/ui/leaks", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
    # Signing in again starts a new session, which works.
    client.cookies.clear()
    sign_in(client, api.security)
    assert client.get("/ui/leaks").status_code == 200


def test_a_post_with_another_sessions_token_is_refused(client: TestClient, api: Api) -> None:
    api.asset(jpeg(1))
    api.sighting(jpeg(1))
    [leak] = api.leaks()
    stale = csrf_of(client.get("/ui/login").text)  # the token of the signed-out session
    sign_in(client, api.security)
    response = client.post(
        f"/ui/leaks/{leak['id']}", data={"status": "confirmed", "csrf_token": stale}
    )
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert api.leak(leak["id"])["status"] == "open"


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

"""Headless Chromium for the dashboard's browser tests, and a tab on it that records errors."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # the skip (or, in CI, the failure) comes from chromium()
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


@contextmanager
def chromium() -> Iterator["Browser"]:
    """Headless Chromium; skips the test where there is none, or fails it under
    LEAKSENTINEL_TEST_REQUIRE_BROWSER=1."""
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

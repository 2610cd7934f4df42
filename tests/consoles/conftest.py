"""Browser tests of the console pages: the real service on a port, Debian's Chromium driven by Playwright.

The service runs in a thread with its own event loop (aiohttp ``AppRunner`` on 127.0.0.1, a free
port) on the tiny fixture county, so the synchronous Playwright API drives the browser from the
test. Chromium is Debian's (``.ci/install-browser``); nothing downloads a browser.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dispatch.service_fixtures import TOKENS, make_config
from tests.live_server import LiveServer

CHROMIUM = Path(os.environ.get("EMS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DESKTOP = {"width": 1600, "height": 900}
PHONE = {"width": 400, "height": 860}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    live = LiveServer(make_config(tmp_path))
    live.start()
    try:
        yield live
    finally:
        live.stop()


# Module scope, not session: while the synchronous Playwright API runs, an event loop runs in this
# thread, and the asyncio tests of the modules after it could not start theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; run .ci/install-browser"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Console:
    """A browser page with what it printed to its console."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        self.failed_requests: list[str] = []
        page.on("console", lambda m: self.errors.append(f"{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.failed_requests.append(f"{r.method} {r.url}: {r.failure}"))

    def shot(self, name: str) -> Path:
        """Save a screenshot under tests/consoles/screenshots/ and return its path."""
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def assert_clean(self) -> None:
        assert self.errors == [], "browser console errors:\n" + "\n".join(self.errors)
        external = [r for r in self.failed_requests if "127.0.0.1" not in r]
        assert external == [], f"requests left the service: {external}"


def open_console(browser: Any, *, viewport: dict[str, int] = DESKTOP, geolocation: dict[str, float] | None = None,
                 lang: str = "zh") -> Console:
    """Open a fresh browser context (its own storage) and page."""
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  geolocation=geolocation,
                                  permissions=["geolocation"] if geolocation else [],
                                  is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    context.add_init_script(f"localStorage.setItem('ems.lang', '{lang}')")
    return Console(context.new_page())


@pytest.fixture
def console(browser: Any, server: LiveServer) -> Iterator[Console]:
    c = open_console(browser)
    try:
        yield c
    finally:
        c.page.context.close()


@pytest.fixture
def phone(browser: Any, server: LiveServer) -> Iterator[Console]:
    c = open_console(browser, viewport=PHONE, geolocation={"longitude": 112.1205, "latitude": 28.0005})
    try:
        yield c
    finally:
        c.page.context.close()


def token(name: str) -> str:
    return TOKENS[name]


def api(server: LiveServer, method: str, path: str, who: str, body: Any = None) -> tuple[int, Any]:
    """Call the service's REST API as ``who`` (a fixture token name); return (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{server.url}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {TOKENS[who]}",
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


__all__ = ["LiveServer", "Console", "open_console", "token", "api", "SCREENSHOTS"]

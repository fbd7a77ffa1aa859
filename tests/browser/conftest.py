"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Every page records the requests it makes; a test fails if any goes to a host other than the
live server (pages must load nothing from third parties). Console messages are kept so tests
can assert there is no Content-Security-Policy violation.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Playwright's sync API runs an asyncio event loop in this thread; Django would otherwise
# refuse ORM calls made from the test body ("You cannot call this from an async context").
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the dev extra installs it
        pytest.skip("browser tests need the playwright Python package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def is_foreign(url: str, base_url: str) -> bool:
    """True when ``url`` goes anywhere but the live server (data: URLs stay in the page)."""
    if url.startswith("data:"):
        return False
    own, other = urlsplit(base_url), urlsplit(url)
    return (other.scheme, other.netloc) != (own.scheme, own.netloc)


@dataclass
class PageLog:
    """What a page did: every request URL and every console message."""

    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def foreign_requests(self, base_url: str) -> list[str]:
        return [url for url in self.requests if is_foreign(url, base_url)]

    def csp_violations(self) -> list[str]:
        return [m for m in self.console if "Content Security Policy" in m or "Content-Security-Policy" in m]


def _page(browser: Any, live_server: Any, *, javascript: bool) -> Iterator[Any]:
    context = browser.new_context(java_script_enabled=javascript, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    log = PageLog()
    page.on("request", lambda request: log.requests.append(request.url))
    page.on("console", lambda message: log.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))

    def only_live_server(route: Any) -> None:
        # Recorded by the "request" listener above; aborted so nothing leaves the machine.
        if is_foreign(route.request.url, live_server.url):
            route.abort()
        else:
            route.continue_()

    context.route("**/*", only_live_server)
    page.log = log
    yield page
    context.close()
    foreign = log.foreign_requests(live_server.url)
    assert not foreign, f"page requested other hosts: {foreign}"


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page with JavaScript disabled: staff pages must work without it."""
    yield from _page(browser, live_server, javascript=False)


@pytest.fixture
def js_page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A page with JavaScript enabled (to catch CSP violations the browser reports)."""
    yield from _page(browser, live_server, javascript=True)

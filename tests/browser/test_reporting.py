"""The reporter zone in chromium with JavaScript disabled (Tor Browser "safest"), served by a
server built with the zone's own URLconf and middleware, as a TNR_ZONE=reporter process is.

Every page records every request it makes: any host but the zone's own fails the test, and so
does any request for a script. Page weights (document + stylesheet, uncompressed) are printed
(pytest -s) and must stay under 100 KB.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from django.urls import clear_url_caches, set_urlconf

from tests.accounts.keyhelpers import set_up_keys
from tests.browser.conftest import PageLog, is_foreign
from tests.reporting.filesamples import jpeg_with_gps
from tnr.accounts import keys
from tnr.cases.actions import seed_mechanisms
from tnr.reporting import actions
from tnr.reporting.models import Intake, Report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXIT_URL = "https://quick-exit.invalid/weather"
WEIGHT_LIMIT = 100 * 1024
WEIGHTS: dict[str, int] = {}


@pytest.fixture
def zone_server(settings: Any, transactional_db: Any) -> Iterator[str]:
    """A live server whose handler is built *after* switching to the reporter zone's settings
    (pytest-django's live_server was built with the staff middleware)."""
    settings.ROOT_URLCONF = settings.REPORTER_URLCONF
    settings.MIDDLEWARE = settings.REPORTER_MIDDLEWARE
    settings.TNR_QUICK_EXIT_URL = EXIT_URL
    clear_url_caches()
    set_urlconf(None)
    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    for connection in shared.values():
        connection.inc_thread_sharing()
    thread = LiveServerThread("127.0.0.1", _StaticFilesHandler, shared, 0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()
    # Request threads are daemons that may still be closing their connection after terminate();
    # the shared in-memory connection therefore stays marked as shared (as pytest-django's own
    # live server leaves it for the session) rather than failing their close.
    clear_url_caches()
    set_urlconf(None)


@pytest.fixture
def recipient(alpha: Any, ada: Any) -> str:
    seed_mechanisms()
    recovery = set_up_keys(alpha, ada)
    Intake.objects.create(organisation=alpha)
    return recovery


class Zone:
    """A JavaScript-less page on the reporter zone that logs requests and weighs pages."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.context = browser.new_context(java_script_enabled=False, base_url=base)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.log = PageLog()
        self.exits: list[str] = []
        self.page.on("request", self._request)
        self.context.route("**/*", self._route)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(EXIT_URL):
            self.log.requests.append(request.url)
        assert request.resource_type != "script", f"a script was requested: {request.url}"

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(EXIT_URL):
            self.exits.append(url)
            route.fulfill(status=200, content_type="text/html", body="<title>Weather</title>Sunny")
        elif is_foreign(url, self.base):
            route.abort()
        else:
            route.continue_()

    def weigh(self, name: str, response: Any) -> None:
        """Weight of the page just loaded: its document and the stylesheet (counted as if not
        cached), the only subresource a zone page has."""
        assert response is not None, name
        assert response.ok, f"{name}: {response.status}"
        css = self.page.request.get(self.base + "/zone.css").body()
        WEIGHTS[name] = len(response.body()) + len(css)
        assert WEIGHTS[name] < WEIGHT_LIMIT, f"{name} weighs {WEIGHTS[name]} bytes"
        styles = [r for r in self.log.requests if not is_foreign(r, self.base) and r.endswith(".css")]
        assert all(r.endswith("/zone.css") for r in styles)

    def go(self, path: str, name: str) -> None:
        response = self.page.goto(path)
        self.check_page()
        self.weigh(name, response)

    def submit(self, selector: str, name: str) -> None:
        with self.page.expect_navigation() as navigation:
            self.page.click(selector)
        self.check_page()
        self.weigh(name, navigation.value)

    def check_page(self) -> None:
        exit_link = self.page.locator("a.quick-exit")
        assert exit_link.is_visible(), f"no visible quick exit on {self.page.url}"
        assert exit_link.get_attribute("href") == EXIT_URL

    def close(self) -> None:
        self.context.close()
        foreign = self.log.foreign_requests(self.base)
        assert not foreign, f"requests to other hosts: {foreign}"


@pytest.fixture
def zone(browser: Any, zone_server: str) -> Iterator[Zone]:
    z = Zone(browser, zone_server)
    yield z
    z.close()


def fill_report(z: Zone, lang: str, photo: bytes | None) -> str:
    """Every step of the report as a person without JavaScript fills it; returns the receipt."""
    p = z.page
    p.check("input[name=tactics][value=intimidation_surveillance]")
    p.check("input[name=tactics][value=coercion_by_proxy]")
    p.fill("textarea[name=narrative]", "A man from the embassy photographed us at the vigil. إنه يراقبنا")
    z.submit("button[name=next]", f"{lang}: report step 2 (when and where)")
    p.check("input[name=precision][value=month]")
    p.fill("input[name=year]", "2025")
    p.fill("input[name=month]", "2")
    p.select_option("select[name=country]", "DE")
    p.select_option("select[name=host_state]", "DE")
    p.select_option("select[name=origin_state]", "IR")
    p.select_option("select[name=perpetrator_states]", ["IR"])
    p.check("input[name=actors][value=state]")
    z.submit("button[name=next]", f"{lang}: report step 3 (who)")
    p.check("input[name=whom][value=relative_home]")
    p.fill("textarea[name=relatives]", "My brother was summoned twice.")
    p.check("input[name=danger][value=not_sure]")
    z.submit("button[name=next]", f"{lang}: report step 4 (evidence)")
    p.check("input[name=kinds][value=photos]")
    z.submit("button[name=next]", f"{lang}: report step 5 (you and consent)")
    p.check("input[name=contact_method][value=none]")
    p.check("input[name=consent_statistics]")
    if photo is not None:
        p.set_input_files("input[name=files]", files=[{"name": "vigil.jpg", "mimeType": "image/jpeg", "buffer": photo}])
    z.submit("button[name=next]", f"{lang}: receipt")
    receipt = p.locator("#receipt").inner_text().strip()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt)
    return receipt


def test_self_assessment_then_full_report_in_english(zone: Zone, recipient: str) -> None:
    p = zone.page
    zone.go("/", "language choice")
    zone.submit("a[hreflang=en]", "en: home")
    zone.submit("a[href='/en/understand/']", "en: self-assessment")
    p.check("input[name=what][value=coercion_by_proxy]")
    p.check("input[name=what][value=spyware_account_compromise]")
    p.check("input[name=whom][value=relative_home]")
    p.select_option("select[name=where_now]", "DE")
    p.select_option("select[name=behind]", "IR")
    p.check("input[name=danger][value=yes]")
    p.check("input[name=needs][value=legal]")
    zone.submit("form[action='/en/understand/'] button[type=submit]", "en: self-assessment result")
    text = p.locator("main").inner_text()
    assert "looks like transnational repression" in text
    assert "Coercion by proxy" in text
    assert "Spyware and account compromise" in text
    assert "emergency number" in text
    assert p.locator("ul.mechanisms li").count() >= 1
    assert Report.objects.count() == 0  # the self-assessment stored nothing

    zone.submit("form[action='/en/report/'] button[type=submit]", "en: report step 1 (what)")
    # the assessment's answers were carried over
    assert p.is_checked("input[name=tactics][value=coercion_by_proxy]")
    receipt = fill_report(zone, "en", jpeg_with_gps())
    body = p.locator("main").inner_text()
    assert "cannot be recovered" in body
    assert "vigil.jpg" in body
    assert "GPS" in body or "location" in body.lower()
    report = Report.objects.get()
    assert report.files.count() == 1
    access = actions.sign_in(receipt)
    # the assessment's two answers plus the one ticked in the report
    assert set(actions.open_as_reporter(access).answers["what"]["tactics"]) == {
        "intimidation_surveillance", "coercion_by_proxy", "spyware_account_compromise"}


def test_report_in_arabic_is_laid_out_right_to_left(zone: Zone, recipient: str, tmp_path: Any) -> None:
    p = zone.page
    zone.go("/ar/report/", "ar: report step 1 (what)")
    assert p.get_attribute("html", "dir") == "rtl"
    assert p.locator("main").evaluate("element => getComputedStyle(element).direction") == "rtl"
    width = p.viewport_size["width"]
    exit_box = p.locator("a.quick-exit").bounding_box()
    heading = p.locator("main h1").bounding_box()
    assert exit_box["x"] + exit_box["width"] > width * 0.6, "quick exit should start on the right"
    assert heading["x"] + heading["width"] > width * 0.6, "heading should be aligned to the right"
    p.screenshot(path=str(tmp_path / "report-ar.png"), full_page=True)
    fill_report(zone, "ar", None)
    assert Report.objects.get().language == "ar"


def test_follow_up_both_ways_and_quick_exit(zone: Zone, recipient: str, alpha: Any, alice: Any) -> None:
    submitted = actions.submit_report(alpha, {"what": {"tactics": ["assault"], "narrative": "Attacked near home"}},
                                      language="en", consent_sharing="organisation", consent_referral=False,
                                      consent_statistics=False)
    actions.reply(alice, submitted.report, "We are sorry. Are you safe now?")
    p = zone.page
    zone.go("/en/follow-up/", "en: follow-up sign-in")
    p.fill("input[name=receipt]", submitted.receipt.replace(" ", ""))
    zone.submit("form[action='/en/follow-up/'] button[type=submit]", "en: follow-up thread")
    assert "We are sorry. Are you safe now?" in p.locator("ol.messages").inner_text()
    p.fill("textarea[name=text]", "Yes, I moved to a friend's flat.")
    zone.submit("form[action='/en/follow-up/report/'] button[type=submit]", "en: follow-up thread after sending")
    assert "sealed and sent" in p.locator("main").inner_text()
    private = keys.private_from_recovery_key(alpha, recipient)
    thread = actions.open_as_staff(alice, Report.objects.get(pk=submitted.report.pk), private)
    assert thread.messages[-1]["text"] == "Yes, I moved to a friend's flat."
    assert thread.messages[-1]["author"] == "reporter"

    # the cookie is the zone's own, HttpOnly and SameSite=Strict
    cookies = {c["name"]: c for c in zone.context.cookies()}
    assert set(cookies) == {"tnr_r"}
    assert cookies["tnr_r"]["httpOnly"]
    assert cookies["tnr_r"]["sameSite"] == "Strict"

    with p.expect_navigation():
        p.click("a.quick-exit")
    assert zone.exits == [EXIT_URL]
    assert p.url == EXIT_URL


def test_wrong_receipt_is_refused_plainly(zone: Zone, recipient: str) -> None:
    p = zone.page
    zone.go("/en/follow-up/", "en: follow-up sign-in")
    p.fill("input[name=receipt]", "1234 5678 9012 3456")
    zone.submit("form[action='/en/follow-up/'] button[type=submit]", "en: wrong receipt")
    assert "does not open a report" in p.locator(".errorlist").inner_text()
    assert zone.context.cookies() == []


def test_print_page_weights() -> None:
    """Runs last in this file: the table the README quotes (pytest -s -m browser)."""
    if not WEIGHTS:
        pytest.skip("no page weighed in this run")
    print("\nreporter zone page weights (document + stylesheet, bytes):")
    for name, size in sorted(WEIGHTS.items()):
        print(f"  {name:<45} {size:>7,}")
    assert max(WEIGHTS.values()) < WEIGHT_LIMIT

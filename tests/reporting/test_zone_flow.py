"""The reporter zone end to end through its own URLconf: assessment, report, receipt,
follow-up. (Browser tests with JavaScript off: tests/browser/test_reporting.py.)"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from tnr.accounts import keys
from tnr.reporting import actions
from tnr.reporting.models import Report

pytestmark = pytest.mark.django_db

NARRATIVE = "Two men from the consulate waited outside my flat in Leipzig. ‮evil‬ <script>alert(1)</script>"


def steps_answers() -> dict[str, dict[str, Any]]:
    return {
        "what": {"tactics": ["intimidation_surveillance", "coercion_by_proxy"], "narrative": NARRATIVE},
        "when": {"precision": "month", "year": "2025", "month": "3", "country": "DE", "city": "Leipzig",
                 "location_type": "residence", "host_state": "DE", "origin_state": "CN",
                 "perpetrator_states": ["CN"], "actors": ["state"]},
        "whom": {"whom": ["me", "relative_home"], "profile": ["journalist"], "danger": "not_sure",
                 "relatives": "My mother was questioned twice.", "needs": ["legal"]},
        "evidence": {"kinds": ["messages", "photos"], "notes": ""},
        "you": {"name": "Canary Name", "contact_method": "signal", "contact": "+49 170 0000000",
                "consent_sharing": "organisation", "consent_statistics": "on"},
    }


def walk_report(client: Client, answers: dict[str, dict[str, Any]], files: Any = None, lang: str = "en") -> Any:
    """Post every step as a browser without JavaScript would, carrying the hidden field."""
    url = f"/{lang}/report/"
    page = client.get(url)
    assert page.status_code == 200
    response = page
    for step, values in answers.items():
        carry = re.search(r'name="carry" value="([^"]*)"', response.content.decode()).group(1)
        carry = carry.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&#x27;", "'")
        data: dict[str, Any] = {"carry": carry, "step": step, "next": "1", **values}
        if step == "you" and files:
            data["files"] = files
        response = client.post(url, data)
        assert response.status_code == 200, response.content.decode()[:3000]
        body = response.content.decode()
        assert "errorlist" not in body, body[body.find("errorlist") - 500 : body.find("errorlist") + 500]
    return response


def receipt_of(response: Any) -> str:
    return re.search(r'<output id="receipt">([0-9 ]+)</output>', response.content.decode()).group(1)


def test_full_report_then_follow_up_both_ways(reporter: Client, recovery: str, alpha: Any, alice: Any) -> None:
    response = walk_report(reporter, steps_answers())
    receipt = receipt_of(response)
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt)
    assert "cannot be recovered" in response.content.decode()
    report = Report.objects.get()
    assert report.organisation == alpha
    assert report.status == "new"
    assert report.consent_statistics
    assert not report.consent_referral
    # nothing readable stored
    assert b"Leipzig" not in bytes(report.sealed_answers)

    # the caseworker opens it with the organisation key and replies
    private = keys.private_from_recovery_key(alpha, recovery)
    thread = actions.open_as_staff(alice, report, private)
    assert thread.answers["what"]["narrative"] == NARRATIVE
    assert thread.answers["you"]["contact"] == "+49 170 0000000"
    actions.reply(alice, report, "Are you safe? Can you send the photos?")

    # the reporter signs in with the receipt only and reads the reply
    follow = reporter.post("/en/follow-up/", {"receipt": receipt})
    assert follow.status_code == 302
    page = reporter.get("/en/follow-up/report/")
    body = page.content.decode()
    assert "Are you safe? Can you send the photos?" in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>" not in body
    # and answers
    sent = reporter.post("/en/follow-up/report/", {"text": "Yes, attached later."})
    assert sent.status_code == 302
    thread = actions.open_as_staff(alice, Report.objects.get(), private)
    assert [m["text"] for m in thread.messages] == ["Are you safe? Can you send the photos?", "Yes, attached later."]
    assert [m["author"] for m in thread.messages] == ["staff", "reporter"]


def test_wrong_receipt_same_message_for_any_wrong_receipt(reporter: Client, recovery: str) -> None:
    walk_report(reporter, steps_answers())
    answers = []
    for text in ("0000 0000 0000 0000", "1234", "abcd efgh"):
        body = reporter.post("/en/follow-up/", {"receipt": text}).content.decode()
        answers.append(re.search(r'class="errorlist"[^>]*><li>([^<]*)</li>', body).group(1))
    assert len(set(answers)) == 1
    assert "tnr_r" not in reporter.cookies or not reporter.cookies["tnr_r"].value


def test_zone_sets_no_cookie_before_follow_up_and_strict_headers(reporter: Client, recovery: str) -> None:
    for url in ("/", "/en/", "/ar/understand/", "/en/report/", "/en/follow-up/"):
        response = reporter.get(url)
        assert response.status_code == 200, url
        assert not response.cookies, url
        csp = response["Content-Security-Policy"]
        assert "unsafe-inline" not in csp
        assert "script-src" not in csp
        assert "default-src 'none'" in csp
        assert response["Referrer-Policy"] == "no-referrer"
        assert response["Cache-Control"] == "no-store"
    assert reporter.get("/en/", secure=True)["Strict-Transport-Security"].startswith("max-age=")
    assert reporter.get("/accounts/login/").status_code == 404  # the staff zone does not exist here


def test_arabic_pages_are_right_to_left(reporter: Client, recovery: str) -> None:
    body = reporter.get("/ar/understand/").content.decode()
    assert '<html lang="ar" dir="rtl">' in body


def test_assessment_creates_nothing_and_names_tactics(reporter: Client, recovery: str) -> None:
    response = reporter.post("/en/understand/", {
        "what": ["coercion_by_proxy", "spyware_account_compromise"], "where_now": "DE", "behind": "CN",
        "danger": "yes", "whom": ["relative_home"],
    })
    body = response.content.decode()
    assert "looks like transnational repression" in body
    assert "Coercion by proxy" in body
    assert "Spyware and account compromise" in body
    assert "emergency number" in body
    assert Report.objects.count() == 0
    assert json.loads(re.search(r'name="carry" value="([^"]*)"', body).group(1).replace("&quot;", '"'))["what"]["tactics"] == [
        "coercion_by_proxy", "spyware_account_compromise"]


def test_cross_site_post_refused(reporter: Client, recovery: str) -> None:
    response = reporter.post("/en/follow-up/", {"receipt": "1"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403


def test_uploads_stay_in_memory_never_in_a_temporary_file(reporter: Client, recovery: str, settings: Any, tmp_path: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.reporting.filesamples import jpeg_with_gps

    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # Django would spool anything bigger to disk
    photo = jpeg_with_gps(width=900, height=700)
    assert len(photo) > 1024
    response = walk_report(reporter, steps_answers(), files=[SimpleUploadedFile("p.jpg", photo, "image/jpeg")])
    assert receipt_of(response)
    assert Report.objects.get().files.count() == 1
    assert list(tmp_path.iterdir()) == []


def test_files_too_large_together_are_refused_with_a_message(reporter: Client, recovery: str, settings: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.TNR_REPORT_MAX_FILES, settings.TNR_REPORT_MAX_FILE_BYTES = 1, 2000
    big = SimpleUploadedFile("notes.txt", b"a" * 2_000_000, "text/plain")
    answers = steps_answers()
    url = "/en/report/"
    response = reporter.get(url)
    for step, values in answers.items():
        carry = re.search(r'name="carry" value="([^"]*)"', response.content.decode()).group(1).replace("&quot;", '"').replace("&amp;", "&")
        data = {"carry": carry, "step": step, "next": "1", **values}
        if step == "you":
            data["files"] = big
        response = reporter.post(url, data)
    assert "too large together" in response.content.decode()
    assert Report.objects.count() == 0

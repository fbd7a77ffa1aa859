"""Hostile input in the reporter zone: stored sealed, shown back harmlessly, or refused clearly.

* Hostile text (script tags, markup that tries to close the page's own elements, attribute
  breakers, right-to-left overrides and isolates left open, zero-width characters, SQL- and
  template-looking strings, entities, combining marks, very long lines, 1 MB of emoji) typed
  into the narrative, relatives, evidence notes, name, contact, city, a message and a file name,
  and a caseworker's reply, is sealed unchanged and shown back on the follow-up page escaped,
  with the same element structure as harmless text, and inside a direction-isolating element.
* NUL characters and text over TNR_REPORT_MAX_TEXT_BYTES are refused with a message next to
  the field; nothing is stored.
* A tampered ``carry`` field gives the "start again" page (status 400), never a 500.
* A request body over Django's limits gives a 4xx, never a 500 (and should explain itself).

Pages are read with ``html.parser`` (not regular expressions), so what a browser would parse
out of an attribute or element is what is compared.
"""

from __future__ import annotations

import json
import re
from html import escape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tnr.accounts import keys
from tnr.reporting import actions
from tnr.reporting.models import Report, ReportFile, ReportMessage

pytestmark = pytest.mark.django_db

# --- hostile text -------------------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
BREAKOUT = "</textarea></bdi></dd></li></ol></main><b>bold</b><!--"
ATTRIBUTE = "\" autofocus onfocus=\"alert(1)' x='"
RLO = "\u202eexe.gpj\u202c then \u202e left open"
RLI = "\u2067isolate left open \u200f"
ZERO_WIDTH = "zero\u200bwidth\u200djoiner\u200c\ufeffbom"
SQL = "'; DROP TABLE reporting_report; --"
TEMPLATE = "{{ settings.SECRET_KEY }} {% debug %} {% csrf_token %} {{ 7|add:42 }}"
ENTITIES = "&lt;script&gt; &amp;amp; &#60;b&#62;"
COMBINING = "Z\u0338\u0321\u031b\u031ba\u0334l\u0337g\u0338o\u0335"
EMOJI = "\U0001f469\U0001f3fd\u200d\U0001f4bb \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f1fa\U0001f1f3"
LONG_LINE = "W" * 100_000

PIECES = [SCRIPT, BREAKOUT, ATTRIBUTE, RLO, RLI, ZERO_WIDTH, SQL, TEMPLATE, ENTITIES, COMBINING, EMOJI]
LONG_TEXT = "\n".join([*PIECES, LONG_LINE])
SHORT_TEXT = " ".join([SCRIPT, RLO, SQL, "{{ x }}"])  # fits name (200) and contact (300)
CITY = "<b>\u202eLeipzig</b>"  # fits city (100)
BIDI_CONTROLS = ("\u202e", "\u2067")
REPLY = "\n".join(["Caseworker:", SCRIPT, RLO, TEMPLATE])

# Harmless text of the same shape, for comparing the pages' element structure.
PLAIN_LONG = "\n".join(["plain words"] * (len(PIECES) + 1))
PLAIN_SHORT = "plain name"


def answers(long: str, short: str, city: str) -> dict[str, dict[str, Any]]:
    return {
        "what": {"tactics": ["coercion_by_proxy"], "narrative": long},
        "when": {"precision": "year", "year": "2024", "country": "DE", "city": city, "host_state": "DE",
                 "origin_state": "CN", "perpetrator_states": ["CN"], "actors": ["state"]},
        "whom": {"whom": ["me", "relative_home"], "relatives": long, "danger": "not_sure"},
        "evidence": {"kinds": ["messages"], "notes": long},
        "you": {"name": short, "contact_method": "email", "contact": short, "consent_sharing": "organisation"},
    }


# --- reading pages ------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """An HTML page as a browser's parser would see it: element sequence, form inputs, and
    every text node with the elements that enclose it."""

    def __init__(self, body: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.tags: list[str] = []
        self.inputs: dict[str, str] = {}
        self.texts: list[tuple[str, list[tuple[str, dict[str, str | None]]]]] = []
        self.feed(body)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        attributes = dict(attrs)
        if tag == "input" and attributes.get("name"):
            self.inputs[str(attributes["name"])] = attributes.get("value") or ""
        if tag not in VOID:
            self.stack.append((tag, attributes))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data: str) -> None:
        self.texts.append((data, list(self.stack)))

    def structure(self) -> list[str]:
        """Elements in order, without <br> (line breaks in the text add them)."""
        return [t for t in self.tags if t != "br"]

    def textarea(self, name: str) -> str:
        for data, stack in self.texts:
            if stack and stack[-1][0] == "textarea" and stack[-1][1].get("name") == name:
                return data[1:] if data.startswith("\n") else data  # the widget's leading newline
        return ""

    def unisolated(self, controls: tuple[str, ...]) -> list[str]:
        """Text nodes holding a bidi control that no enclosing element isolates."""
        bad = []
        for data, stack in self.texts:
            if any(c in data for c in controls) and not any(
                tag in {"bdi", "textarea", "title"} or "dir" in attrs for tag, attrs in stack
            ):
                bad.append(f"{data[:60]!r} inside {[tag for tag, _a in stack]}")
        return bad


def carry_of(response: Any) -> str:
    return Page(response.content.decode()).inputs["carry"]


def walk(client: Client, steps: dict[str, dict[str, Any]], files: Any = None, lang: str = "en") -> list[Any]:
    """Post every step as a browser would, reading the hidden ``carry`` with an HTML parser;
    checks on every page that what was typed comes back exactly in ``carry``."""
    url = f"/{lang}/report/"
    response = client.get(url)
    pages = [response]
    done: dict[str, dict[str, Any]] = {}
    for step, values in steps.items():
        data: dict[str, Any] = {"carry": carry_of(response), "step": step, "next": "1", **values}
        if step == "you" and files:
            data["files"] = files
        response = client.post(url, data)
        body = response.content.decode()
        assert response.status_code == 200, body[:2000]
        assert "errorlist" not in body, body[body.find("errorlist") - 300 : body.find("errorlist") + 600]
        pages.append(response)
        done[step] = values
        if step != "you":
            carried = json.loads(carry_of(response))
            for name, typed in done.items():
                for field, value in typed.items():
                    expected = [v for v in (value if isinstance(value, list) else [value]) if v != ""]
                    assert carried[name][field] == expected, (name, field)
    return pages


def receipt(response: Any) -> str:
    found = re.search(r'<output id="receipt">([0-9 ]+)</output>', response.content.decode())
    assert found, response.content.decode()[:2000]
    return found.group(1)


def report_page(client: Client, steps: dict[str, dict[str, Any]], message: str, reply: str, alpha: Any,
                alice: Any, files: Any = None) -> tuple[Any, Any]:
    """Report, reply as caseworker, answer as reporter; return the follow-up page and receipt page."""
    pages = walk(client, steps, files=files)
    got = receipt(pages[-1])
    report = Report.objects.latest("id")
    actions.reply(alice, report, reply)
    assert client.post("/en/follow-up/", {"receipt": got}).status_code == 302
    sent = client.post("/en/follow-up/report/", {"text": message})
    assert sent.status_code == 302, sent.content.decode()[:2000]
    page = client.get("/en/follow-up/report/")
    assert page.status_code == 200
    return page, pages[-1]


# --- stored and shown harmlessly ----------------------------------------------------------------


def test_hostile_text_is_sealed_unchanged_and_shown_back_harmlessly(
    zone: Any, recovery: str, alpha: Any, alice: Any, settings: Any
) -> None:
    hostile_file = SimpleUploadedFile(f"{SCRIPT}\u202etxt.exe.txt", b"notes\n", content_type="text/plain")
    page, receipt_page = report_page(Client(), answers(LONG_TEXT, SHORT_TEXT, CITY), LONG_TEXT, REPLY,
                                     alpha, alice, files=[hostile_file])
    plain, _receipt = report_page(Client(), answers(PLAIN_LONG, PLAIN_SHORT, "Leipzig"), PLAIN_LONG, "Caseworker: plain",
                                  alpha, alice, files=[SimpleUploadedFile("notes.txt", b"notes\n", content_type="text/plain")])

    # Sealed, and unchanged when opened.
    report = Report.objects.order_by("id").first()
    assert report is not None
    for stored in (bytes(report.sealed_answers), *(bytes(m.sealed_body) for m in report.messages.all())):
        assert SCRIPT.encode() not in stored
        assert LONG_LINE[:50].encode() not in stored
    thread = actions.open_as_staff(alice, report, keys.private_from_recovery_key(alpha, recovery))
    assert thread.answers["what"]["narrative"] == LONG_TEXT
    assert thread.answers["whom"]["relatives"] == LONG_TEXT
    assert thread.answers["evidence"]["notes"] == LONG_TEXT
    assert thread.answers["you"]["name"] == SHORT_TEXT
    assert thread.answers["you"]["contact"] == SHORT_TEXT
    assert thread.answers["when"]["city"] == CITY
    assert [m["text"] for m in thread.messages] == [REPLY, LONG_TEXT]
    assert Report.objects.filter(pk=report.pk).exists()  # the SQL-looking text dropped nothing

    body = page.content.decode()
    parsed = Page(body)
    # Escaped: every piece appears exactly as its escaped form, none as markup.
    assert "<script" not in body
    assert "<img" not in body
    assert "<b>" not in body
    for piece in [*PIECES, SHORT_TEXT, CITY]:
        assert escape(piece) in body, piece[:40]
    assert settings.SECRET_KEY not in body
    assert "&amp;lt;script&amp;gt;" in body  # entities typed are shown as typed, not decoded
    assert LONG_LINE in body
    # No broken markup: the same elements, in the same order, as for harmless text.
    assert parsed.structure() == Page(plain.content.decode()).structure()
    # The text comes back whole from the parsed page (nothing cut off by an unclosed element).
    shown = "".join(data for data, _stack in parsed.texts)
    assert all(piece in shown for piece in [*PIECES, LONG_LINE])
    # Direction isolated: overrides left open cannot reorder the rest of the page.
    assert parsed.unisolated(BIDI_CONTROLS) == []
    assert sum(1 for data, _s in parsed.texts if "\u202e" in data) >= 5  # narrative, relatives, notes, name, message

    # The receipt page shows the file's name without markup or bidi controls.
    receipt_body = receipt_page.content.decode()
    assert "<script" not in receipt_body
    assert escape("<img src=x onerror=alert(1)>") + "txt.exe.txt" in receipt_body  # bidi control removed
    assert Page(receipt_body).unisolated(BIDI_CONTROLS) == []
    assert Page(receipt_body).structure() == Page(_receipt.content.decode()).structure()


def test_hostile_text_goes_back_into_the_form_unchanged(zone: Any, recovery: str) -> None:
    """Going back a step shows the text in its field exactly; the hidden field round-trips it."""
    client = Client()
    steps = answers(LONG_TEXT, SHORT_TEXT, CITY)
    pages = walk(client, {k: steps[k] for k in ("what", "when")})
    back = client.post("/en/report/", {"carry": carry_of(pages[-1]), "step": "whom", "back": "1"})
    assert back.status_code == 200
    parsed = Page(back.content.decode())
    assert parsed.inputs["city"] == CITY
    back = client.post("/en/report/", {"carry": parsed.inputs["carry"], "step": "when", "back": "1", **steps["when"]})
    parsed = Page(back.content.decode())
    assert parsed.textarea("narrative") == LONG_TEXT
    assert "<script" not in back.content.decode()
    assert Report.objects.count() == 0


def test_a_megabyte_of_emoji_is_stored_and_shown(zone: Any, recovery: str, alpha: Any, alice: Any) -> None:
    emoji = "\U0001f600" * 249_990 + "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # 1 MB of UTF-8
    assert 999_000 < len(emoji.encode("utf-8")) <= 1_000_000
    steps = answers(emoji, "name", "Leipzig")
    steps["whom"]["relatives"] = steps["evidence"]["notes"] = ""
    page, _receipt = report_page(Client(), steps, emoji, "reply", alpha, alice)
    body = page.content.decode()
    assert body.count("\U0001f600") == 2 * 249_990  # the narrative and the message, whole
    thread = actions.open_as_staff(alice, Report.objects.get(), keys.private_from_recovery_key(alpha, recovery))
    assert thread.answers["what"]["narrative"] == emoji
    assert thread.messages[-1]["text"] == emoji


def test_long_fields_at_the_limit_pass_every_step(zone: Any, recovery: str, settings: Any) -> None:
    """Three long texts, each just under TNR_REPORT_MAX_TEXT_BYTES, travel in the hidden field
    of every later step; the request stays under DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = int(settings.TNR_REPORT_MAX_TEXT_BYTES)
    line = "An ordinary line of a long account, with \"quotes\" and a newline.\n"
    text = (line * (limit // len(line)))[: limit - 10].strip()
    steps = answers(text, "name", "Leipzig")
    pages = walk(Client(), steps)
    assert receipt(pages[-1])
    assert Report.objects.count() == 1


# --- refused with a clear message, nothing stored -----------------------------------------------


def field_errors(response: Any, field: str) -> str:
    """The error list shown with ``field`` (Django renders it just before the widget)."""
    body = response.content.decode()
    found = re.search(r'<ul class="errorlist"[^>]*id="id_' + field + r'_error"[^>]*>(.*?)</ul>', body, re.S)
    if not found:
        found = re.search(r'<ul class="errorlist"[^>]*>(.*?)</ul>\s*<(?:textarea|input)[^>]*name="' + field + '"', body, re.S)
    assert found, f"no error shown with {field}: " + body[:3000]
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip()


def post_step(client: Client, step: str, carry: dict[str, Any], values: dict[str, Any]) -> Any:
    return client.post("/en/report/", {"carry": json.dumps(carry), "step": step, "next": "1", **values})


def carried(steps: dict[str, dict[str, Any]], *names: str) -> dict[str, dict[str, list[str]]]:
    return {n: {k: v if isinstance(v, list) else [v] for k, v in steps[n].items()} for n in names}


@pytest.mark.parametrize(
    ("step", "field", "before"),
    [("what", "narrative", ()), ("whom", "relatives", ("what", "when")), ("evidence", "notes", ("what", "when", "whom"))],
)
def test_text_over_the_limit_is_refused_at_its_step(zone: Any, recovery: str, settings: Any, step: str,
                                                    field: str, before: tuple[str, ...]) -> None:
    settings.TNR_REPORT_MAX_TEXT_BYTES = 4096
    steps = answers("short", "name", "Leipzig")
    client = Client()
    at_limit = post_step(client, step, carried(steps, *before), {**steps[step], field: "\U0001f600" * 1024})
    assert "errorlist" not in at_limit.content.decode()  # 4,096 bytes: allowed
    over = post_step(client, step, carried(steps, *before), {**steps[step], field: "\U0001f600" * 1024 + "!"})
    assert over.status_code == 200
    assert "too long" in field_errors(over, field)
    assert Report.objects.count() == 0


def test_text_over_the_limit_in_a_tampered_carry_is_refused_at_submission(zone: Any, recovery: str, settings: Any) -> None:
    """Skipping the step's check by editing the hidden field does not get the text stored."""
    settings.TNR_REPORT_MAX_TEXT_BYTES = 4096
    steps = answers("x" * 5000, "name", "Leipzig")
    response = post_step(Client(), "you", carried(steps, "what", "when", "whom", "evidence"), steps["you"])
    assert "too long" in field_errors(response, "narrative")
    assert Report.objects.count() == 0


def test_message_over_the_limit_is_refused(zone: Any, recovery: str, alpha: Any, settings: Any) -> None:
    settings.TNR_REPORT_MAX_TEXT_BYTES = 4096
    client = Client()
    pages = walk(client, answers("short", "name", "Leipzig"))
    client.post("/en/follow-up/", {"receipt": receipt(pages[-1])})
    response = client.post("/en/follow-up/report/", {"text": "y" * 4097})
    assert response.status_code == 200
    assert "too long" in field_errors(response, "text")
    assert ReportMessage.objects.count() == 0
    assert client.post("/en/follow-up/report/", {"text": "y" * 4096}).status_code == 302
    assert ReportMessage.objects.count() == 1


def test_text_limit_message_states_a_small_limit_truthfully(zone: Any, recovery: str, settings: Any) -> None:
    settings.TNR_REPORT_MAX_TEXT_BYTES = 4096
    response = post_step(Client(), "what", {}, {"tactics": ["coercion_by_proxy"], "narrative": "z" * 5000})
    message = field_errors(response, "narrative")
    assert "0.0" not in message
    assert re.search(r"4(\.0|\.1)?\s?(KB|kB|KiB)|4[,.\u00a0\u202f ]?096", message), message


@pytest.mark.parametrize("field", ["narrative", "name", "contact", "text"])
def test_nul_characters_are_refused_with_a_message(zone: Any, recovery: str, field: str) -> None:
    client = Client()
    steps = answers("short", "name", "Leipzig")
    if field == "narrative":
        response = post_step(client, "what", {}, {**steps["what"], "narrative": "before\x00after"})
    elif field == "text":
        pages = walk(client, steps)
        client.post("/en/follow-up/", {"receipt": receipt(pages[-1])})
        response = client.post("/en/follow-up/report/", {"text": "before\x00after"})
        assert ReportMessage.objects.count() == 0
    else:
        response = post_step(client, "you", carried(steps, "what", "when", "whom", "evidence"),
                             {**steps["you"], field: "before\x00after"})
        assert Report.objects.count() == 0
    assert response.status_code == 200
    assert "Null characters are not allowed" in field_errors(response, field)


def test_too_many_files_refused_with_a_message(zone: Any, recovery: str, settings: Any) -> None:
    steps = answers("short", "name", "Leipzig")
    files = [SimpleUploadedFile(f"n{i}.txt", b"notes\n", content_type="text/plain")
             for i in range(int(settings.TNR_REPORT_MAX_FILES) + 1)]
    response = Client().post("/en/report/", {"carry": json.dumps(carried(steps, "what", "when", "whom", "evidence")),
                                             "step": "you", "next": "1", **steps["you"], "files": files})
    assert response.status_code == 200
    assert f"at most {settings.TNR_REPORT_MAX_FILES} files" in response.content.decode()
    assert Report.objects.count() == 0
    assert ReportFile.objects.count() == 0


# --- tampered carry -----------------------------------------------------------------------------

WHEN = answers("", "", "Leipzig")["when"]

TAMPERED = {
    "truncated JSON": '{"what": {"narrative": ["x"]}',
    "single quotes": "{'what': {}}",
    "not JSON": "not json at all",
    "NUL": "\x00",
    "a list": "[]",
    "a number": "1",
    "null": "null",
    "a string": '"what"',
    "NaN": "NaN",
    "unknown step": '{"admin": {"is_staff": ["1"]}}',
    "unknown step (prototype)": '{"__proto__": {}}',
    "step name with a space": '{"what ": {}}',
    "step as a string": '{"what": "x"}',
    "step as a list": '{"what": ["x"]}',
    "step as null": '{"what": null}',
}

TAMPERED_500 = {
    "deeply nested": "[" * 100_000,
    "lone surrogate": '{"what": {"tactics": ["coercion_by_proxy"], "narrative": ["\\ud800"]}}',
}

TAMPERED_LENIENT = {
    "field as a string": '{"what": {"tactics": ["coercion_by_proxy"], "narrative": "x"}}',
    "field items not strings": '{"what": {"tactics": ["coercion_by_proxy"], "narrative": [1, null, {"a": 2}]}}',
}


def start_again(response: Any) -> None:
    body = response.content.decode()
    assert response.status_code == 400, (response.status_code, body[:500])
    assert "Please start again" in body
    assert 'class="quick-exit"' in body
    assert Report.objects.count() == 0


@pytest.mark.parametrize("carry", list(TAMPERED.values()), ids=list(TAMPERED))
def test_tampered_carry_gives_the_start_again_page(zone: Any, recovery: str, carry: str) -> None:
    client = Client(raise_request_exception=False)
    start_again(client.post("/en/report/", {"carry": carry, "step": "when", "next": "1", **WHEN}))
    start_again(client.post("/en/report/", {"carry": carry, "step": "start"}))


@pytest.mark.parametrize(
    "carry",
    [pytest.param(TAMPERED_500["deeply nested"], id="deeply nested"),
     pytest.param(TAMPERED_500["lone surrogate"], id="lone surrogate")],
)
def test_tampered_carry_never_gives_a_server_error(zone: Any, recovery: str, carry: str) -> None:
    client = Client(raise_request_exception=False)
    start_again(client.post("/en/report/", {"carry": carry, "step": "when", "next": "1", **WHEN}))


@pytest.mark.parametrize("carry", list(TAMPERED_LENIENT.values()), ids=list(TAMPERED_LENIENT))
def test_carry_with_wrongly_typed_fields_gives_the_start_again_page(zone: Any, recovery: str, carry: str) -> None:
    client = Client(raise_request_exception=False)
    start_again(client.post("/en/report/", {"carry": carry, "step": "when", "next": "1", **WHEN}))


def test_tampered_carry_on_the_last_step_stores_nothing(zone: Any, recovery: str) -> None:
    steps = answers("short", "name", "Leipzig")
    client = Client(raise_request_exception=False)
    for carry in TAMPERED.values():
        start_again(client.post("/en/report/", {"carry": carry, "step": "you", "next": "1", **steps["you"]}))
    # A carry missing earlier steps is sent back to the first missing step, not stored.
    response = client.post("/en/report/", {"carry": json.dumps(carried(steps, "what")), "step": "you", "next": "1",
                                           **steps["you"]})
    assert response.status_code == 200
    assert "Step 2 of 5" in response.content.decode()
    assert Report.objects.count() == 0


@pytest.mark.parametrize("step", ["", "recipient", "admin", "you\x00", "start "])
def test_unknown_step_gives_the_start_again_page(zone: Any, recovery: str, step: str) -> None:
    start_again(Client(raise_request_exception=False).post("/en/report/", {"carry": "{}", "step": step, "next": "1"}))


# --- oversized request bodies -------------------------------------------------------------------


def oversized(client: Client, url: str, settings: Any) -> Any:
    """A form whose fields together exceed DATA_UPLOAD_MAX_MEMORY_SIZE (8 MB by default)."""
    big = "x" * (int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) + 1024)
    return client.post(url, {"carry": "{}", "step": "what", "next": "1", "narrative": big, "text": big, "receipt": big})


def too_many_fields(client: Client, url: str, settings: Any) -> Any:
    return client.post(url, {"carry": "{}", "step": "what", "tactics": ["coercion_by_proxy"] * (settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)})


def signed_in(alpha: Any) -> Client:
    client = Client(raise_request_exception=False)
    submitted = actions.submit_report(alpha, {"what": {"narrative": "n"}}, language="en", consent_sharing="organisation",
                                      consent_referral=False, consent_statistics=False)
    assert client.post("/en/follow-up/", {"receipt": submitted.receipt}).status_code == 302
    return client


URLS = ["/en/report/", "/en/follow-up/", "/en/follow-up/report/"]


@pytest.mark.parametrize("make", [oversized, too_many_fields], ids=["body over 8 MB", "too many fields"])
@pytest.mark.parametrize("url", URLS)
def test_oversized_request_is_refused_not_a_server_error(zone: Any, recovery: str, alpha: Any, settings: Any,
                                                         url: str, make: Any) -> None:
    client = signed_in(alpha)
    before = Report.objects.count()
    response = make(client, url, settings)
    assert response.status_code in (400, 413)
    assert Report.objects.count() == before
    assert ReportMessage.objects.count() == 0


@pytest.mark.parametrize("url", URLS)
def test_oversized_request_explains_itself(zone: Any, recovery: str, alpha: Any, settings: Any, url: str) -> None:
    response = oversized(signed_in(alpha), url, settings)
    body = response.content.decode()
    assert response.status_code in (400, 413)
    assert re.search(r"too (large|long|big|much)", body, re.I), body[:500]
    assert 'class="quick-exit"' in body

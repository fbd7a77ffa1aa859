"""The reporter zone's translations: complete, compiled, faithful to placeholders, honest about
review, and actually served.

The catalogues live in src/tnr/reporting/locale/<locale>/LC_MESSAGES/ (English is the source:
its msgstr stay empty). ``tnr reporter-messages`` re-extracts and compiles them; when a test
here fails after a wording change, run it, translate what it reports, and run the tests again
(docs/translations.md).
"""

from __future__ import annotations

import html
import importlib
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import polib
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext, to_locale

from tests.reporting.test_zone_flow import receipt_of, steps_answers, walk_report

LOCALE_DIR = Path(settings.BASE_DIR) / "reporting" / "locale"
DOCS = Path(settings.PROJECT_DIR) / "docs" / "translations.md"
DJANGO_LOCALE_DIR = Path(importlib.import_module("django").__file__ or "").parent / "conf" / "locale"
CODES = [code for code, _name in settings.LANGUAGES]
TRANSLATED = [code for code in CODES if code != "en"]
RTL = {"ar", "fa", "ug"}
# Python-format placeholders as Django writes them, blocktranslate's {{ name }} included
# (makemessages turns it into %(name)s), and the escaped percent sign.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[sdifrx%]")
# Direction embeddings, overrides and isolates could make a translation display other text
# than it contains; templates isolate user text with <bdi> instead. (LRM/RLM marks and the
# zero-width joiners that Persian needs are allowed.)
DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")

def po_file(code: str) -> Path:
    return LOCALE_DIR / to_locale(code) / "LC_MESSAGES" / "django.po"


def mo_file(code: str) -> Path:
    return LOCALE_DIR / to_locale(code) / "LC_MESSAGES" / "django.mo"


def messages(entries: Any) -> set[tuple[Any, ...]]:
    """(context, id, translation, plural translations) of every translated message."""
    return {(e.msgctxt, e.msgid, e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in entries if e.msgid}


def ids(po: polib.POFile) -> set[tuple[str | None, str]]:
    return {(e.msgctxt, e.msgid) for e in po if not e.obsolete}


@pytest.fixture(autouse=True)
def _english_afterwards() -> Any:
    # Requests activate their language for the thread; later tests expect the default.
    yield
    translation.activate(settings.LANGUAGE_CODE)


# --- the catalogues -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", CODES)
def test_every_language_has_a_catalogue_and_a_compiled_file(code: str) -> None:
    assert po_file(code).is_file(), f"{po_file(code)} is missing: run `tnr reporter-messages`"
    assert mo_file(code).is_file(), f"{mo_file(code)} is missing: run `tnr reporter-messages --compile-only`"


@pytest.mark.parametrize("code", CODES)
def test_committed_mo_has_the_same_messages_as_its_po(code: str, tmp_path: Path) -> None:
    po = polib.pofile(str(po_file(code)))
    fresh = tmp_path / "fresh.mo"
    po.save_as_mofile(str(fresh))
    committed = polib.mofile(str(mo_file(code)))
    expected = messages(polib.mofile(str(fresh)))
    got = messages(committed)
    assert got == expected, (
        f"{mo_file(code)} is out of date with its .po (run `tnr reporter-messages --compile-only`): "
        f"{len(expected - got)} message(s) differ or are missing, e.g. {sorted(expected - got, key=str)[:3]}"
    )
    # The header reaches the .mo too (a fuzzy header would be left out, and the plural rule with it).
    assert committed.metadata.get("Language") == to_locale(code)
    assert committed.metadata.get("Plural-Forms")


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_source_string_is_translated(code: str) -> None:
    source = polib.pofile(str(po_file("en")))
    po = polib.pofile(str(po_file(code)))
    assert ids(po) == ids(source), (
        f"{po_file(code)} and the English catalogue differ: run `tnr reporter-messages` "
        f"(missing: {sorted(ids(source) - ids(po), key=str)[:3]}; extra: {sorted(ids(po) - ids(source), key=str)[:3]})"
    )
    empty = [e.msgid for e in po if not e.obsolete and not e.translated() and "fuzzy" not in e.flags]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    assert not empty, f"{po_file(code)}: {len(empty)} untranslated, e.g. {empty[:3]}"
    assert not fuzzy, f"{po_file(code)}: {len(fuzzy)} fuzzy (check, then remove the flag), e.g. {fuzzy[:3]}"
    assert not po.obsolete_entries(), f"{po_file(code)}: obsolete entries left: run `tnr reporter-messages`"


def test_english_catalogue_is_the_source_with_empty_translations() -> None:
    po = polib.pofile(str(po_file("en")))
    assert len(po) > 300  # the zone's wording, not an empty file
    assert not [e.msgid for e in po if e.msgstr], "English is shown as written in the code"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext (xgettext) is not installed")
def test_catalogues_cover_every_string_marked_in_the_sources() -> None:
    command = importlib.import_module("tnr.reporting.management.commands.reporter-messages")
    fresh = command.extracted_keys()
    have = ids(polib.pofile(str(po_file("en"))))
    assert fresh - have == set(), f"strings not yet extracted (run `tnr reporter-messages`): {sorted(fresh - have, key=str)[:5]}"
    assert have - fresh == set(), f"strings no longer in the sources (run `tnr reporter-messages`): {sorted(have - fresh, key=str)[:5]}"
    # The caseworkers' inbox is English-only and stays out of the reporters' catalogues.
    assert not any("staff" in path for e in polib.pofile(str(po_file("en"))) for path, _line in e.occurrences)


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_every_placeholder(code: str) -> None:
    wrong = []
    for entry in polib.pofile(str(po_file(code))):
        if entry.obsolete or not entry.msgstr:
            continue
        if Counter(PLACEHOLDER.findall(entry.msgid)) != Counter(PLACEHOLDER.findall(entry.msgstr)):
            wrong.append((entry.msgid, entry.msgstr))
        if "{{" in entry.msgstr or "}}" in entry.msgstr or "{%" in entry.msgstr:
            wrong.append((entry.msgid, entry.msgstr))
        if DIRECTION_CONTROLS.search(entry.msgstr):
            wrong.append((entry.msgid, "direction control character in: " + entry.msgstr))
    assert not wrong, f"{po_file(code)}: placeholders changed in {len(wrong)} message(s), e.g. {wrong[:2]}"


def test_placeholder_check_sees_a_dropped_or_renamed_placeholder() -> None:
    msgid = "Only %(name)s can read it (%(count)d)."
    assert Counter(PLACEHOLDER.findall(msgid)) == Counter(["%(name)s", "%(count)d"])
    assert Counter(PLACEHOLDER.findall("Nur %(nom)s (%(count)d).")) != Counter(PLACEHOLDER.findall(msgid))


@pytest.mark.parametrize("code", TRANSLATED)
def test_header_says_whether_a_native_speaker_reviewed_it(code: str) -> None:
    po = polib.pofile(str(po_file(code)))
    reviewed = po.metadata.get("X-Reviewed-By-Native-Speaker", "").strip().lower()
    assert reviewed in {"yes", "no"}, f"{po_file(code)}: X-Reviewed-By-Native-Speaker must be yes or no"
    if reviewed == "no":
        assert "NOT REVIEWED BY A NATIVE SPEAKER" in po.header
    assert po.metadata["Language"] == to_locale(code)
    assert not po.metadata_is_fuzzy


@pytest.mark.parametrize("code", CODES)
def test_plural_rule_is_the_one_django_uses(code: str) -> None:
    # Django merges every app's catalogue with its own; the same rule keeps plurals right.
    ours = polib.pofile(str(po_file(code))).metadata["Plural-Forms"]
    django_po = DJANGO_LOCALE_DIR / to_locale(code) / "LC_MESSAGES" / "django.po"
    assert ours == polib.pofile(str(django_po)).metadata["Plural-Forms"]


def test_docs_list_every_language_with_its_review_status_and_size() -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("<!-- status table", 1)[-1].split("<!-- end of status table -->", 1)[0]
    rows = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[1] in CODES:
            rows[cells[1]] = cells
    assert set(rows) == set(CODES), f"{DOCS}: status table rows {sorted(rows)} (run `tnr reporter-messages`)"
    for code in CODES:
        po = polib.pofile(str(po_file(code)))
        _name, _code, _path, strings, translated, fuzzy, reviewed = rows[code]
        assert int(strings) == len([e for e in po if not e.obsolete]), f"{DOCS}: string count of {code}"
        if code == "en":
            assert reviewed == "source"
        else:
            assert int(translated) == len(po.translated_entries())
            assert int(fuzzy) == len(po.fuzzy_entries())
            assert reviewed == po.metadata["X-Reviewed-By-Native-Speaker"]
    for must in ("tnr reporter-messages", "test_translations.py", "receipt", "Quick exit", "danger"):
        assert must in text, f"{DOCS} should mention {must!r}"


# --- the pages, as the reporter zone serves them ------------------------------------------------


def _page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return html.unescape(response.content.decode())


def _in(code: str, msgid: str, **values: Any) -> str:
    with translation.override(code):
        text = gettext(msgid)
    return text % values if values else text


def _assert_language(body: str, code: str) -> None:
    direction = "rtl" if code in RTL else "ltr"
    assert re.search(rf'<html lang="{re.escape(code)}" dir="{direction}">', body), body[:200]
    quick_exit = re.search(r'<a class="quick-exit"[^>]*>([^<]+)</a>', body)
    assert quick_exit is not None
    assert quick_exit.group(1) == _in(code, "Quick exit")
    if code != "en":
        assert quick_exit.group(1) != "Quick exit"
        assert "Quick exit" not in body  # neither the label nor the footer's explanation


@pytest.mark.django_db
@pytest.mark.parametrize("code", CODES)
def test_home_self_assessment_and_first_step_are_served_translated(
    code: str, reporter: Client, recovery: str
) -> None:
    home = _page(reporter, f"/{code}/")
    _assert_language(home, code)
    for msgid in ("Safe reporting of transnational repression", "Start the questions", "Follow up with my receipt"):
        assert _in(code, msgid) in home, (code, msgid)

    assess = _page(reporter, f"/{code}/understand/")
    _assert_language(assess, code)
    for msgid in ("Nothing you answer here is saved. Every question is optional.", "Are you in danger now?",
                  "Yes, I am in danger now", "Someone tried to kill me or someone close to me, or did kill them"):
        assert _in(code, msgid) in assess, (code, msgid)

    first = _page(reporter, f"/{code}/report/")
    _assert_language(first, code)
    english = _page(reporter, "/en/report/")
    steps = int(re.search(r"Step 1 of (\d+)", english).group(1))  # type: ignore[union-attr]
    assert _in(code, "Step %(number)s of %(total)s", number=1, total=steps) in first
    for msgid in ("What happened", "In your own words, what happened?", "Next",
                  "Nothing is saved until you send the report on the last page. If you close this page, what you wrote is gone."):
        assert _in(code, msgid) in first, (code, msgid)
    if code != "en":
        for english in ("What happened", "Next", "Step 1 of"):
            assert english not in first, (code, english)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["ar", "fa", "ug", "zh-hans"])
def test_danger_guidance_is_served_translated(code: str, reporter: Client, recovery: str) -> None:
    response = reporter.post(f"/{code}/understand/", {"what": ["coercion_by_proxy"], "danger": "yes",
                                                     "where_now": "DE", "behind": "CN"})
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    _assert_language(body, code)
    assert _in(code, "You said you are in danger now.") in body
    emergency = ("If you are in immediate danger, call the local emergency number now (112 in most of Europe, "
                 "911 in North America, 999 in the United Kingdom) and go to a safe place where other people are around.")
    assert _in(code, emergency) in body
    assert _in(code, "Coercion by proxy") in body
    assert "immediate danger" not in body


@pytest.mark.django_db
@pytest.mark.parametrize("code", TRANSLATED)
def test_receipt_page_is_served_translated(code: str, reporter: Client, recovery: str) -> None:
    response = walk_report(reporter, steps_answers(), lang=code)
    body = html.unescape(response.content.decode())
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", receipt_of(response))
    _assert_language(body, code)
    for msgid in ("Your report was sealed and sent", "Write these 16 digits down now, or copy them somewhere safe."):
        assert _in(code, msgid) in body, (code, msgid)
    assert "cannot be recovered" not in body


# --- lists and labelled values: no English punctuation or word order glued in by the code ------

# What each language puts between list items (tnr.reporting.templatetags.zone_i18n): the plain
# separator, and the one for items that contain commas themselves.
LIST_SEPARATOR = {"en": ", ", "ar": "، ", "fa": "، ", "ug": "، ", "ru": ", ", "tr": ", ", "zh-hans": "、"}
ITEM_SEPARATOR = {"en": "; ", "ar": "؛ ", "fa": "؛ ", "ug": "؛ ", "ru": "; ", "tr": "; ", "zh-hans": "；"}
ZONE_TEMPLATES = Path(settings.BASE_DIR) / "reporting" / "templates" / "reporting" / "zone"


def test_separator_tables_cover_every_language() -> None:
    assert set(LIST_SEPARATOR) == set(ITEM_SEPARATOR) == set(CODES)


@pytest.mark.parametrize("code", CODES)
def test_lists_are_joined_with_the_languages_own_separator(code: str) -> None:
    from tnr.reporting.templatetags.zone_i18n import join_items, join_list, list_separator

    with translation.override(code):
        assert list_separator() == LIST_SEPARATOR[code]
        assert list_separator("semicolon") == ITEM_SEPARATOR[code]
        assert join_items(["a", "b", "c"]) == LIST_SEPARATOR[code].join("abc")
        assert join_items(["a, b", "c"], "semicolon") == "a, b" + ITEM_SEPARATOR[code] + "c"
        # The filter escapes every item (and the separator), as Django's |join does.
        assert join_list(["<b>", "&"]) == "&lt;b&gt;" + html.escape(LIST_SEPARATOR[code]) + "&amp;"
        assert join_list("one item") == "one item"
        assert join_list(None) == ""


def test_unknown_separator_kind_is_refused_by_name() -> None:
    from tnr.reporting.templatetags.zone_i18n import list_separator

    with pytest.raises(ValueError, match=r"'colon'.*comma, semicolon"):
        list_separator("colon")


def test_wrap_lets_a_translator_place_an_element_and_escapes_its_content() -> None:
    from django.template import Context, Template, TemplateSyntaxError

    page = Template('{% load i18n zone_i18n %}{% wrap "strong" value class="status" as status %}'
                    '{% blocktranslate %}Status: {{ status }}{% endblocktranslate %}')
    with translation.override("zh-hans"):
        rendered = page.render(Context({"value": "<i>New</i>"}))
    assert rendered == _in("zh-hans", "Status: %(status)s", status='<strong class="status">&lt;i&gt;New&lt;/i&gt;</strong>')
    assert rendered.startswith("状态：<strong")
    with pytest.raises(TemplateSyntaxError, match="not an element name"):
        Template('{% load zone_i18n %}{% wrap "script src=x" "v" %}').render(Context())


def test_no_label_is_glued_to_its_value_in_english_order() -> None:
    # A msgid like "Status:" followed by a value in the template fixes the English order;
    # such labels are blocktranslate sentences with a placeholder instead.
    english = polib.pofile(str(po_file("en")))
    labels = [e.msgid for e in english if e.msgid.rstrip().endswith(":")]
    assert not labels, f"labels to be followed by a value (use a placeholder instead): {labels}"
    joined = [p.name for p in ZONE_TEMPLATES.glob("*.html") if "|join:" in p.read_text(encoding="utf-8")]
    assert not joined, f"templates joining lists with fixed punctuation (use |join_list): {joined}"


def _photo_report(client: Client, code: str) -> tuple[Any, tuple[str, ...]]:
    """A report with a photo carrying GPS and camera data, in ``code``; with the labels of what
    was removed from it, in that language, as the file check gives them to the page."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.reporting.filesamples import jpeg_with_gps
    from tnr.reporting.files import check_upload

    photo = jpeg_with_gps()
    with translation.override(code):
        removed = check_upload("p.jpg", photo, max_bytes=settings.TNR_REPORT_MAX_FILE_BYTES).stripped
    assert len(removed) >= 2, "the sample photo should lose at least two kinds of data"
    answers = steps_answers()
    answers["when"]["ongoing"] = "on"
    response = walk_report(client, answers, files=[SimpleUploadedFile("p.jpg", photo, "image/jpeg")], lang=code)
    return response, removed


def _items(body: str, start: str, end: str) -> str:
    match = re.search(re.escape(start) + r"(.*?)" + re.escape(end), body, re.S)
    assert match is not None, f"{start!r} … {end!r} not on the page"
    return match.group(1).strip()


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["ar", "zh-hans", "en"])
def test_receipt_and_thread_list_removed_data_with_the_languages_separator(
    code: str, reporter: Client, recovery: str
) -> None:
    response, removed = _photo_report(reporter, code)
    body = html.unescape(response.content.decode())
    listed = LIST_SEPARATOR[code].join(removed)
    # The receipt page: one sentence per file, the file name isolated, the list in the language.
    line = _items(body, "<h2>" + _in(code, "Your files") + "</h2>\n<ul><li>", "</li></ul>")
    assert line == _in(code, "%(name)s: removed from the working copy: %(removed)s", name="<bdi>p.jpg</bdi>", removed=listed)
    if code != "en":
        assert ", " not in line, line  # no English comma between the items

    assert reporter.post(f"/{code}/follow-up/", {"receipt": receipt_of(response)}).status_code == 302
    thread = _page(reporter, f"/{code}/follow-up/report/")
    _assert_language(thread, code)
    files = _items(thread, "<h3>" + _in(code, "Files") + "</h3>", "</ul>")
    assert _in(code, "Removed from the working copy: %(removed)s", removed=listed) in files
    status = '<strong class="status">' + _in(code, "New") + "</strong>"
    assert "<p>" + _in(code, "Status: %(status)s", status=status) + "</p>" in thread


@pytest.mark.django_db
def test_arabic_summary_separates_answers_with_the_arabic_semicolon(reporter: Client, recovery: str) -> None:
    response, _removed = _photo_report(reporter, "ar")
    reporter.post("/ar/follow-up/", {"receipt": receipt_of(response)})
    thread = _page(reporter, "/ar/follow-up/report/")
    what = _items(thread, "<dt>" + _in("ar", "What happened") + "</dt><dd><bdi>", "</bdi></dd>")
    assert what == "؛ ".join([_in("ar", "Physical intimidation and surveillance"), _in("ar", "Coercion by proxy")])
    # Labels containing commas stay one item each.
    evidence = _items(thread, "<dt>" + _in("ar", "Evidence") + "</dt><dd><bdi>", "</bdi></dd>")
    assert evidence.split("؛ ") == [_in("ar", "Messages, emails or call logs"), _in("ar", "Photos, videos or recordings")]


def test_summary_dates_and_contact_read_in_the_language() -> None:
    from tnr.reporting.assessment import describe_answers

    answers = {"when": {"precision": "month", "year": 2025, "month": 3, "ongoing": True},
               "you": {"contact_method": "signal", "contact": "+49 170 0000000"}}
    with translation.override("zh-hans"):
        assert describe_answers(answers) == [("时间", "2025年3月（仍在持续）"), ("联系方式", "Signal：+49 170 0000000")]
    with translation.override("en"):
        assert describe_answers(answers) == [("When", "March 2025 (still going on)"), ("Contact", "Signal: +49 170 0000000")]
        day = {"when": {"precision": "day", "year": 2024, "month": 11, "day": 5}}
        assert describe_answers(day) == [("When", "Nov. 5, 2024")]
        # Stored values that make no date are shown as they are, not dropped.
        assert describe_answers({"when": {"precision": "day", "year": 2025, "month": 2, "day": 30}}) == [("When", "2025-2-30")]
        assert describe_answers({"you": {"contact_method": "none"}}) == [
            ("Contact", "Do not contact me: I will come back with my receipt")]


@pytest.mark.django_db
def test_arabic_self_assessment_names_the_help_and_the_safe_contact_as_sentences(reporter: Client, recovery: str) -> None:
    from tnr.cases.actions import seed_mechanisms

    seed_mechanisms()
    response = reporter.post("/ar/understand/", {"what": ["spyware_account_compromise"], "where_now": "DE", "behind": "CN",
                                                "needs": ["legal", "digital_security", "psychosocial"]})
    body = html.unescape(response.content.decode())
    needs = {_in("ar", label) for label in ("Legal help", "Help with phone, computer and account security",
                                             "Someone to talk to (psychological support)", "Physical safety")}
    prefix = _in("ar", "Helps with: %(needs)s", needs="")
    lists = [m.group(1).split("؛ ") for m in re.finditer(re.escape("<br>" + prefix) + r"([^\n<]+)", body)]
    assert lists, "no mechanism says what it helps with"
    assert max(len(items) for items in lists) >= 2
    assert all(set(items) <= needs for items in lists), lists
    contact = _in("ar", "How to reach them safely: %(contact)s", contact="<bdi>")
    assert f'<span class="contact">{contact}' in body

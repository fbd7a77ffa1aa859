"""``tnr reporter-messages``: re-extract, merge and compile the reporter zone's translations.

One command after any change to the zone's wording:

* extracts every marked string of the reporting app (its ``*.py`` files and the zone's
  templates; files and folders with "staff" in their name are the caseworkers' English-only
  inbox and are left out) with Django's ``makemessages``, merging into the catalogue of each
  language in ``settings.LANGUAGES`` (new strings arrive empty, changed ones as "fuzzy" with
  the old translation as a starting point, removed ones are dropped);
* keeps every catalogue's header honest: language, plural rule, and whether a native speaker
  has reviewed it (``X-Reviewed-By-Native-Speaker``, "no" until a reviewer sets "yes");
* compiles the ``.mo`` files (``compilemessages`` when GNU gettext is installed, polib
  otherwise) — both are committed, so a machine without gettext still serves translations;
* rewrites the status table of docs/translations.md.

``--check`` changes nothing: it extracts into a temporary folder and says what is missing,
untranslated, fuzzy or not compiled (exit status 1 if anything is).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polib
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import to_locale

APP_DIR = Path(__file__).resolve().parents[2]
LOCALE_DIR = APP_DIR / "locale"
SOURCE_LANGUAGE = "en"
# Relative to APP_DIR, in makemessages' --ignore syntax (matched against names and paths).
IGNORE = ["*staff*", "migrations", "management", "static", "locale", "__pycache__"]
REVIEW_FIELD = "X-Reviewed-By-Native-Speaker"
NOT_REVIEWED_NOTE = (
    "NOT REVIEWED BY A NATIVE SPEAKER. This translation is a first draft written by a "
    "non-native author (an AI language model) so that people can use the reporter zone in "
    "their language from the first release. Please review it before relying on it: see "
    "docs/translations.md (start with the receipt page, quick exit and danger guidance)."
)
# Plural rules as in Django's own catalogues, so that Django merges ours with its own.
PLURAL_FORMS = {
    "en": "nplurals=2; plural=(n != 1);",
    "ar": "nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : "
          "n%100>=11 && n%100<=99 ? 4 : 5;",
    "fa": "nplurals=2; plural=(n > 1);",
    "ru": "nplurals=4; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<12 || "
          "n%100>14) ? 1 : n%10==0 || (n%10>=5 && n%10<=9) || (n%100>=11 && n%100<=14)? 2 : 3);",
    "tr": "nplurals=2; plural=(n > 1);",
    "zh_Hans": "nplurals=1; plural=0;",
    "ug": "nplurals=2; plural=(n != 1);",
}
# Header fields that change on every extraction without any message changing; ignored when
# deciding whether a catalogue changed, so that re-running the command leaves git clean.
VOLATILE_FIELDS = {"POT-Creation-Date", "PO-Revision-Date"}
DOCS_START = "<!-- status table: written by `tnr reporter-messages`, do not edit by hand -->"
DOCS_END = "<!-- end of status table -->"


def locales() -> list[str]:
    """Catalogue folder names (Django locale names) of settings.LANGUAGES, English first."""
    return [to_locale(code) for code, _name in settings.LANGUAGES]


def po_path(locale: str, base: Path = LOCALE_DIR) -> Path:
    return base / locale / "LC_MESSAGES" / "django.po"


def mo_path(locale: str, base: Path = LOCALE_DIR) -> Path:
    return base / locale / "LC_MESSAGES" / "django.mo"


def docs_path() -> Path:
    return Path(settings.PROJECT_DIR) / "docs" / "translations.md"


Key = tuple[str | None, str]


def key(entry: polib.POEntry | polib.MOEntry) -> Key:
    return (entry.msgctxt or None, entry.msgid)


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    # makemessages and compilemessages work on the "locale" folder of the current directory;
    # that is how Django extracts one app alone.
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _require(program: str, why: str) -> None:
    if shutil.which(program) is None:
        raise CommandError(f"{program} not found: {why} needs GNU gettext (Debian/Ubuntu: apt install gettext).")


def extract(app_dir: Path, locale_names: list[str], *, verbosity: int = 0) -> None:
    """Run makemessages in ``app_dir`` for the given locales (merging into app_dir/locale)."""
    _require("xgettext", "extracting strings")
    (app_dir / "locale").mkdir(exist_ok=True)
    with _cwd(app_dir):
        call_command(
            "makemessages", locale=locale_names, domain="django", extensions=["html", "txt", "py"],
            ignore_patterns=IGNORE, no_obsolete=True, add_location="file", verbosity=verbosity,
        )


def extracted_keys() -> set[Key]:
    """The message ids the zone's sources mark today, extracted into a temporary copy."""
    with tempfile.TemporaryDirectory(prefix="tnr-messages-") as tmp:
        copy = Path(tmp) / "reporting"
        shutil.copytree(APP_DIR, copy, ignore=shutil.ignore_patterns("locale", "__pycache__", "*.pyc"))
        extract(copy, [SOURCE_LANGUAGE])
        return {key(e) for e in polib.pofile(str(po_path(SOURCE_LANGUAGE, copy / "locale")))}


def _signature(po: polib.POFile) -> tuple[Any, ...]:
    meta = tuple(sorted((k, v) for k, v in po.metadata.items() if k not in VOLATILE_FIELDS))
    entries = tuple(
        (e.msgctxt, e.msgid, e.msgid_plural, e.msgstr, tuple(sorted(e.msgstr_plural.items())),
         tuple(e.flags), tuple(e.occurrences), " ".join((e.comment or "").split()), e.tcomment, e.previous_msgid)
        for e in po
    )
    return po.header, meta, entries


def fix_header(po: polib.POFile, locale: str) -> None:
    """Language, plural rule, charset and review status, whatever makemessages left there."""
    # makemessages marks a new catalogue's header fuzzy, and msgfmt then leaves the header
    # (with the plural rule) out of the .mo.
    po.metadata_is_fuzzy = []
    po.metadata["Project-Id-Version"] = "TNR Observatory reporter zone"
    po.metadata["Language"] = locale
    po.metadata["MIME-Version"] = "1.0"
    po.metadata["Content-Type"] = "text/plain; charset=UTF-8"
    po.metadata["Content-Transfer-Encoding"] = "8bit"
    if locale in PLURAL_FORMS:
        po.metadata["Plural-Forms"] = PLURAL_FORMS[locale]
    for placeholder in ("Last-Translator", "Language-Team"):
        if "FULL NAME" in po.metadata.get(placeholder, "") or "LANGUAGE" in po.metadata.get(placeholder, ""):
            po.metadata[placeholder] = ""
    if locale == SOURCE_LANGUAGE:
        po.header = "\n".join(textwrap.wrap(
            "Reporter zone of TNR Observatory: the English source strings. The msgstr are empty on "
            "purpose (English is shown as written in the code); copy this file to start a new "
            "language, and add the language to settings.LANGUAGES.", 90))
        po.metadata.pop(REVIEW_FIELD, None)
        return
    # A reviewer sets "yes" (and rewrites the note); the command never undoes that.
    reviewed = po.metadata.setdefault(REVIEW_FIELD, "no").strip().lower() == "yes"
    if not reviewed:
        po.header = "\n".join([f"Reporter zone of TNR Observatory: {locale}.", *textwrap.wrap(NOT_REVIEWED_NOTE, 90, break_on_hyphens=False)])


def tidy(locale: str, before: str | None) -> bool:
    """Fix the header of a freshly merged catalogue; put back the old text if nothing that
    matters changed. Returns whether the catalogue changed."""
    path = po_path(locale)
    po = polib.pofile(str(path), wrapwidth=100)
    fix_header(po, locale)
    if before is not None and _signature(polib.pofile(before)) == _signature(po):
        path.write_text(before, encoding="utf-8")
        return False
    po.save(str(path))
    return True


def compile_catalogues(locale_names: list[str], *, verbosity: int = 0) -> str:
    """Compile .po to .mo: with msgfmt (which also checks placeholders) when it exists."""
    if shutil.which("msgfmt") is not None:
        with _cwd(APP_DIR):
            call_command("compilemessages", locale=locale_names, verbosity=verbosity)
        return "msgfmt"
    for locale in locale_names:
        polib.pofile(str(po_path(locale))).save_as_mofile(str(mo_path(locale)))
    return "polib"


@dataclass
class Status:
    locale: str
    strings: int
    translated: int
    fuzzy: int
    reviewed: str


def status(locale: str) -> Status:
    po = polib.pofile(str(po_path(locale)))
    live = [e for e in po if not e.obsolete]
    if locale == SOURCE_LANGUAGE:
        return Status(locale, len(live), len(live), 0, "source")
    return Status(
        locale, len(live), len(po.translated_entries()), len(po.fuzzy_entries()),
        po.metadata.get(REVIEW_FIELD, "no").strip().lower() or "no",
    )


def status_table() -> str:
    names = {to_locale(code): name for code, name in settings.LANGUAGES}
    codes = {to_locale(code): code for code, _name in settings.LANGUAGES}
    rows = [
        DOCS_START,
        "| language | code | catalogue | strings | translated | fuzzy | reviewed by a native speaker |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for locale in locales():
        s = status(locale)
        where = f"`src/tnr/reporting/locale/{locale}/LC_MESSAGES/django.po`"
        rows.append(f"| {names[locale]} | {codes[locale]} | {where} | {s.strings} | {s.translated} | {s.fuzzy} | {s.reviewed} |")
    rows.append(DOCS_END)
    return "\n".join(rows)


def with_status_table(text: str) -> str:
    pattern = re.compile(re.escape(DOCS_START) + r".*?" + re.escape(DOCS_END), re.DOTALL)
    if not pattern.search(text):
        raise CommandError(f"{docs_path()}: the markers of the status table are missing ({DOCS_START!r} ... {DOCS_END!r}).")
    return pattern.sub(lambda _m: status_table(), text)


def problems(fresh: set[Key] | None) -> list[str]:
    """What keeps the catalogues from covering the sources, in words a translator can act on."""
    found: list[str] = []
    missing: dict[Key, list[str]] = {}
    stale: dict[Key, list[str]] = {}
    for locale in locales():
        path = po_path(locale)
        if not path.exists():
            found.append(f"{path}: missing")
            continue
        po = polib.pofile(str(path))
        have = {key(e) for e in po if not e.obsolete}
        if fresh is not None:
            for k in fresh - have:
                missing.setdefault(k, []).append(locale)
            for k in have - fresh:
                stale.setdefault(k, []).append(locale)
        if locale != SOURCE_LANGUAGE:
            found += [f"{path}: fuzzy (check it, then remove the fuzzy flag): {e.msgid!r}" for e in po.fuzzy_entries()]
            found += [f"{path}: untranslated: {e.msgid!r}" for e in po.untranslated_entries()]
        mo = mo_path(locale)
        if not mo.exists():
            found.append(f"{mo}: missing (run tnr reporter-messages --compile-only)")
        elif _messages(polib.mofile(str(mo))) != _messages(po.translated_entries()):
            found.append(f"{mo}: out of date with its .po (run tnr reporter-messages --compile-only)")
    for k, where in sorted(missing.items(), key=str):
        found.append(f"in the sources but not in the catalogues of {', '.join(where)} (run tnr reporter-messages): {k[1]!r}")
    for k, where in sorted(stale.items(), key=str):
        found.append(f"in the catalogues of {', '.join(where)} but no longer in the sources (run tnr reporter-messages): {k[1]!r}")
    docs = docs_path()
    if docs.exists() and with_status_table(docs.read_text(encoding="utf-8")) != docs.read_text(encoding="utf-8"):
        found.append(f"{docs}: status table out of date (run tnr reporter-messages)")
    return found


def _messages(entries: Any) -> set[tuple[Key, str, tuple[tuple[int, str], ...]]]:
    """The translated messages of a catalogue (.po or .mo), header left out, for comparing."""
    return {(key(e), e.msgstr, tuple(sorted(e.msgstr_plural.items()))) for e in entries if e.msgid}


class Command(BaseCommand):
    help = (
        "Re-extract the reporter zone's strings into its catalogues (src/tnr/reporting/locale), "
        "fix their headers, compile them and update docs/translations.md. Needs GNU gettext "
        "(xgettext, msgmerge; msgfmt optional). --compile-only only compiles; --check changes "
        "nothing and lists what is missing, untranslated, fuzzy or not compiled."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if the catalogues are not complete and compiled")
        mode.add_argument("--compile-only", action="store_true", help="only compile the .po files (after editing translations)")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options["verbosity"])
        names = locales()
        if options["check"]:
            fresh = extracted_keys() if shutil.which("xgettext") else None
            if fresh is None:
                self.stderr.write("xgettext not found: not comparing with the sources, only checking the catalogues.")
            found = problems(fresh)
            for line in found:
                self.stdout.write(line)
            if found:
                raise CommandError(f"{len(found)} problem(s) in the reporter zone's translations.")
            self.stdout.write("Reporter zone catalogues: complete, compiled and documented.")
            return
        if not options["compile_only"]:
            before = {n: po_path(n).read_text(encoding="utf-8") if po_path(n).exists() else None for n in names}
            extract(APP_DIR, names, verbosity=max(0, verbosity - 1))
            changed = [n for n in names if tidy(n, before[n])]
            self.stdout.write(f"Extracted: {', '.join(changed) or 'no catalogue'} changed.")
        else:
            for n in names:
                if po_path(n).exists():
                    # Translators' editors may leave the header as they like; keep it right.
                    tidy(n, po_path(n).read_text(encoding="utf-8"))
        tool = compile_catalogues(names, verbosity=max(0, verbosity - 1))
        self.stdout.write(f"Compiled with {tool}.")
        docs = docs_path()
        if docs.exists():
            text = docs.read_text(encoding="utf-8")
            updated = with_status_table(text)
            if updated != text:
                docs.write_text(updated, encoding="utf-8")
                self.stdout.write(f"Updated the status table in {docs}.")
        for s in map(status, names):
            if s.locale != SOURCE_LANGUAGE:
                self.stdout.write(f"{s.locale}: {s.translated}/{s.strings} translated, {s.fuzzy} fuzzy, "
                                  f"reviewed by a native speaker: {s.reviewed}")
        self.stdout.write("Next: translate what is missing or fuzzy, run `tnr reporter-messages --compile-only`, "
                          "then `pytest tests/reporting/test_translations.py`.")

"""The directory's CSV (and seed file) format: one entry per row, codes in cells.

Multi-valued cells hold codes separated by semicolons ("legal; advocacy"); commas are accepted
too. The countries cell is ``worldwide`` or a list of ISO 3166-1 alpha-2 codes; the profiles
cell is ``any`` or a list of target category codes. Every column must be present, so a column
dropped by mistake in a spreadsheet cannot silently blank a field on re-import.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from tnr.cases.choices import ANY_PROFILE, WORLDWIDE
from tnr.cases.languages import split_codes
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import MechanismData, Problems
from tnr.exchange.spec import neutralise_formula

COLUMNS: tuple[str, ...] = (
    "name",
    "kind",
    "needs",
    "countries",
    "profiles",
    "languages",
    "website",
    "safe_contact",
    "notes",
    "last_verified",
    "verification_note",
    "source",
    "active",
)

# Where a problem with a MechanismData field is reported in the file.
COLUMN_OF_FIELD = {"worldwide": "countries", "any_profile": "profiles"}

SEPARATOR = "; "
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


def column_of(field: str) -> str:
    return COLUMN_OF_FIELD.get(field, field)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _codes(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return split_codes(str(value))


def _everyone(value: Any, word: str) -> tuple[bool, list[str]]:
    """(flag, codes) of a countries or profiles cell: ``word`` alone sets the flag."""
    codes = _codes(value)
    flagged = [c for c in codes if c.casefold() == word]
    return bool(flagged), [c for c in codes if c.casefold() != word]


def parse_record(values: Mapping[str, Any]) -> tuple[MechanismData, Problems]:
    """Read one row (cells as text) or seed entry (lists, dates, booleans allowed).

    Only the date and the active flag can be unreadable here; their problems are returned
    together with data using a harmless stand-in, so that ``check_mechanism`` can still report
    every other problem of the row at once.
    """
    problems: Problems = []
    raw_date = values.get("last_verified")
    last_verified: datetime.date | None = None
    if isinstance(raw_date, datetime.date):
        last_verified = raw_date
    elif _text(raw_date).strip():
        text = _text(raw_date).strip()
        try:
            last_verified = datetime.date.fromisoformat(text)
            if len(text) != 10:
                raise ValueError
        except ValueError:
            last_verified = None
            problems.append(("last_verified", f"{text!r} is not a date; write it as YYYY-MM-DD"))

    raw_active = values.get("active")
    active = True
    if isinstance(raw_active, bool):
        active = raw_active
    elif _text(raw_active).strip():
        word = _text(raw_active).strip().lower()
        if word in _TRUE:
            active = True
        elif word in _FALSE:
            active = False
        else:
            problems.append(("active", f"{_text(raw_active)!r} is not true or false"))

    worldwide, countries = _everyone(values.get("countries"), WORLDWIDE)
    any_profile, profiles = _everyone(values.get("profiles"), ANY_PROFILE)
    data = MechanismData(
        name=_text(values.get("name")),
        kind=_text(values.get("kind")),
        needs=tuple(_codes(values.get("needs"))),
        worldwide=worldwide,
        countries=tuple(countries),
        any_profile=any_profile,
        profiles=tuple(profiles),
        languages=tuple(_codes(values.get("languages"))),
        website=_text(values.get("website")),
        safe_contact=_text(values.get("safe_contact")),
        notes=_text(values.get("notes")),
        last_verified=last_verified,
        verification_note=_text(values.get("verification_note")),
        source=_text(values.get("source")),
        active=active,
    ).normalised()
    return data, problems


def format_row(mechanism: ProtectionMechanism) -> list[str]:
    """The CSV cells of ``mechanism``, safe to open in a spreadsheet program.

    Every cell goes through ``neutralise_formula`` (the importer undoes it), so a name or note
    that starts with "=" cannot run as a formula on an administrator's machine.
    """
    data = MechanismData.from_mechanism(mechanism)
    cells = {
        "name": data.name,
        "kind": data.kind,
        "needs": SEPARATOR.join(data.needs),
        "countries": WORLDWIDE if data.worldwide else SEPARATOR.join(data.countries),
        "profiles": ANY_PROFILE if data.any_profile else SEPARATOR.join(data.profiles),
        "languages": SEPARATOR.join(data.languages),
        "website": data.website,
        "safe_contact": data.safe_contact,
        "notes": data.notes,
        "last_verified": data.last_verified.isoformat() if data.last_verified else "",
        "verification_note": data.verification_note,
        "source": data.source,
        "active": "true" if data.active else "false",
    }
    return [neutralise_formula(cells[column]) for column in COLUMNS]

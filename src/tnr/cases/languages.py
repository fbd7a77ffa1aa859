"""ISO 639-1 language codes (two letters), checked against the maintained ``pycountry`` list.

Languages are stored on a mechanism as a JSON list of codes rather than in a table: the list
is short, it is only ever read whole, and pycountry (already the project's source for
countries) stays the single source of truth for which codes exist.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import pycountry

_SEPARATORS = re.compile(r"[;,\s]+")


@functools.cache
def language_names() -> dict[str, str]:
    """{ISO 639-1 code: English name} for every language that has a two-letter code."""
    return {
        lang.alpha_2: lang.name
        for lang in pycountry.languages
        if getattr(lang, "alpha_2", None)
    }


def language_choices() -> list[tuple[str, str]]:
    """(code, "Name (code)") sorted by name, for select menus."""
    return sorted(
        ((code, f"{name} ({code})") for code, name in language_names().items()),
        key=lambda pair: pair[1].casefold(),
    )


def language_name(code: str) -> str:
    return language_names().get(code, code)


def split_codes(text: str) -> list[str]:
    """The codes in ``text``, separated by semicolons, commas or spaces; empty parts dropped."""
    return [part for part in _SEPARATORS.split(text.strip()) if part]


def clean_languages(codes: Iterable[str]) -> tuple[list[str], list[str]]:
    """(valid codes lower-cased and without duplicates in the given order, unknown codes)."""
    known = language_names()
    valid: list[str] = []
    unknown: list[str] = []
    for raw in codes:
        code = raw.strip().lower()
        if not code:
            continue
        if code in known:
            if code not in valid:
                valid.append(code)
        else:
            unknown.append(raw.strip())
    return valid, unknown

"""Lists and labelled values that read right in every language of the reporter zone.

English glues a list together with ", " and puts a value after a label and a colon. Other
languages do neither quite like that: Arabic, Persian and Uyghur separate list items with the
Arabic comma "، ", Chinese with the enumeration comma "、", and a translator may need the value
before the label or in the middle of the sentence. So:

* ``{{ items|join_list }}`` joins with the language's own list separator, which the catalogues
  translate (``pgettext("list separator", ", ")``); ``{{ items|join_list:"semicolon" }}`` uses
  the separator for items that themselves contain commas (``"; "``, Arabic "؛ ", Chinese "；"),
  so that "Help with phone, computer and account security" stays one item.
* ``{% wrap "strong" value class="status" as status %}`` builds an element with the value
  escaped inside, so that a ``{% blocktranslate %}Status: {{ status }}{% endblocktranslate %}``
  can let the translator place it while the markup stays out of the catalogue.

Django has no list formatting of its own; Babel's ``format_list`` knows CLDR's patterns, but
it is not a dependency of this project and CLDR's patterns add "and"/"or", which a list of
checked boxes should not get. A translated separator is enough here and is reviewed with the
rest of the zone's wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import pgettext

register = template.Library()

SEPARATORS = ("comma", "semicolon")


def list_separator(kind: str = "comma") -> str:
    """The active language's separator between list items.

    ``kind="comma"`` for short items without commas of their own (English ", ");
    ``kind="semicolon"`` for items that may contain commas (English "; ")."""
    if kind == "comma":
        # Translators: put between the items of a short list ("GPS location, date taken"),
        # spaces included: Arabic, Persian, Uyghur "، ", Chinese "、" (no space).
        return pgettext("list separator", ", ")
    if kind == "semicolon":
        # Translators: put between list items that contain commas themselves ("Messages,
        # emails or call logs; Photos, videos or recordings"), spaces included: Arabic "؛ ",
        # Chinese "；" (no space).
        return pgettext("list separator between items that may contain commas", "; ")
    raise ValueError(f"list separator: unknown kind {kind!r}; use one of {', '.join(SEPARATORS)}")


def join_items(items: Iterable[Any], kind: str = "comma") -> str:
    """The items (lazy translations included) as text, joined by the language's separator."""
    return list_separator(kind).join(str(item) for item in items)


@register.filter(is_safe=True, needs_autoescape=True)
def join_list(value: Iterable[Any] | None, kind: str = "comma", autoescape: bool = True) -> str:
    """Like Django's ``join``, with the language's separator instead of a fixed one:
    ``{{ labels|join_list }}`` or, for items containing commas, ``{{ labels|join_list:"semicolon" }}``."""
    if value is None:
        return ""
    if isinstance(value, str):  # a string is not a list of its characters
        value = [value]
    if not autoescape:
        return join_items(value, kind or "comma")
    # format_html_join escapes the separator and every item (lazy translations included).
    return format_html_join(list_separator(kind or "comma"), "{}", ((str(item),) for item in value))


@register.simple_tag
def wrap(element: str, value: Any, **attributes: Any) -> SafeString:
    """``<element attr="…">value</element>`` with the value and attributes escaped, for passing
    into ``{% blocktranslate %}`` (use ``as name``): the translator moves ``%(name)s`` in the
    sentence, and the markup, which tests and styles select on, stays in the template."""
    if not element.isascii() or not element.isalpha():
        raise template.TemplateSyntaxError(f"wrap: {element!r} is not an element name")
    attrs = format_html_join("", ' {}="{}"', attributes.items())
    return format_html("<{}{}>{}</{}>", element, attrs, value, element)

"""Forms of the reporter zone: the self-assessment, the report's steps, follow-up.

Country names come from pycountry's own translations (ISO 3166 in dozens of languages,
maintained with the standard), so a Uyghur speaker picks "گېرمانىيە" rather than "Germany".
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext as gettext_module
from typing import Any

import pycountry
from django import forms
from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from tnr.reporting import wording
from tnr.reporting.choices import ContactMethod, Danger, Evidence, Precision, SharingConsent, Whom

# pycountry's catalogue names for our language codes.
_PYCOUNTRY_LANG = {"zh-hans": "zh_CN", "en": "en", "ar": "ar", "fa": "fa", "ru": "ru", "tr": "tr", "ug": "ug"}


@functools.lru_cache(maxsize=16)
def _country_choices(language: str) -> tuple[tuple[str, str], ...]:
    try:
        translation: gettext_module.NullTranslations = gettext_module.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=[_PYCOUNTRY_LANG.get(language, language)]
        )
    except OSError:
        translation = gettext_module.NullTranslations()
    names = [(c.alpha_2, translation.gettext(c.name)) for c in pycountry.countries]
    return tuple(sorted(names, key=lambda pair: pair[1].casefold()))


def country_choices(blank: str | None = None) -> list[tuple[str, str]]:
    choices = list(_country_choices(get_language() or "en"))
    return [("", blank), *choices] if blank is not None else choices


def country_name(code: str) -> str:
    return dict(_country_choices(get_language() or "en")).get(code, code)


@functools.lru_cache(maxsize=64)
def _country_options(language: str, blank: str | None) -> str:
    options = [(code, name) for code, name in _country_choices(language)]
    if blank is not None:
        options.insert(0, ("", blank))
    return "".join(f'<option value="{escape(code)}">{escape(name)}</option>' for code, name in options)


class CountrySelect(forms.SelectMultiple):
    """A select of ~250 countries rendered from one cached string per language.

    Django renders every option through its own template: for the four country selects of
    the "when and where" step that was most of the step's server time, and the reporter zone
    is sized by how many submissions two cores can seal (bench/bench_reporting.py). Codes are
    ISO alpha-2, so marking the chosen ones by exact string replacement is safe."""

    def __init__(self, *, blank: Any = None, multiple: bool = False, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.blank = blank
        self.allow_multiple_selected = multiple

    def format_value(self, value: Any) -> list[str]:
        if value is None or value == "":
            return []
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        if self.allow_multiple_selected:
            return data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        return data.get(name)

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        blank = str(self.blank) if self.blank is not None else None
        html = _country_options(get_language() or "en", blank)
        for chosen in self.format_value(value):
            html = html.replace(f'<option value="{escape(chosen)}">', f'<option value="{escape(chosen)}" selected>', 1)
        attributes = "".join(f' {key}="{escape(val)}"' for key, val in final.items() if val not in (None, False))
        multiple = " multiple" if self.allow_multiple_selected else ""
        return mark_safe(f'<select name="{escape(name)}"{attributes}{multiple}>{html}</select>')  # noqa: S308 - every part escaped above


class CountryField(forms.ChoiceField):
    """A country select whose labels are resolved in the language of the request."""

    def __init__(self, *, blank: Any = None, **kwargs: Any) -> None:
        self._blank = blank
        kwargs.setdefault("widget", CountrySelect(blank=blank))
        super().__init__(choices=self._choices_now, **kwargs)

    def _choices_now(self) -> list[tuple[str, str]]:
        return country_choices(str(self._blank) if self._blank is not None else None)


class CountriesField(forms.MultipleChoiceField):
    def __init__(self, *, size: int = 6, **kwargs: Any) -> None:
        kwargs.setdefault("widget", CountrySelect(multiple=True, attrs={"size": size}))
        super().__init__(choices=country_choices, **kwargs)


def _tactic_choices() -> list[tuple[str, Any]]:
    return [(code, w.question) for code, w in wording.TACTICS.items()]


def _category_choices() -> list[tuple[str, Any]]:
    return list(wording.TARGET_CATEGORIES.items())


def size_text(size: int) -> str:
    """A size in decimal units as phones show them: "2.1 MB", "4.1 KB"."""
    if size >= 1_000_000:
        return _("%(n).1f MB") % {"n": size / 1_000_000}
    return _("%(n).1f KB") % {"n": size / 1_000}


class _FastChoices:
    """Radio buttons and tick boxes built as strings instead of one template per option.

    Same markup as Django's widgets (a div of labelled inputs with ids name_0, name_1...),
    a tenth of the server time; the reporter zone's capacity is measured in sealed
    submissions per second on two cores (bench/bench_reporting.py)."""

    input_type: Any  # "checkbox" or "radio", from the Django widget mixed in below
    choices: Any

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)  # type: ignore[attr-defined]
        base_id = final.pop("id", "") or ""
        chosen = {str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v not in (None, "")}
        parts = [f'<div id="{escape(base_id)}">' if base_id else "<div>"]
        extra = "".join(f' {k}="{escape(v)}"' for k, v in final.items() if v not in (None, False) and k != "required")
        for index, (option_value, option_label) in enumerate(self.choices):
            option_value = "" if option_value is None else str(option_value)
            option_id = f"{base_id}_{index}" if base_id else ""
            checked = " checked" if option_value in chosen else ""
            id_attr = f' id="{escape(option_id)}"' if option_id else ""
            for_attr = f' for="{escape(option_id)}"' if option_id else ""
            parts.append(
                f'<div><label{for_attr}><input type="{self.input_type}" name="{escape(name)}" '
                f'value="{escape(option_value)}"{id_attr}{extra}{checked}> {escape(option_label)}</label></div>'
            )
        parts.append("</div>")
        return mark_safe("".join(parts))  # noqa: S308 - every part escaped above


class TICKS(_FastChoices, forms.CheckboxSelectMultiple):
    pass


class RADIOS(_FastChoices, forms.RadioSelect):
    pass


class TextLimitMixin:
    """Long text fields limited in bytes of UTF-8 (settings.TNR_REPORT_MAX_TEXT_BYTES)."""

    long_text_fields: tuple[str, ...] = ()

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean()  # type: ignore[misc]
        limit = int(settings.TNR_REPORT_MAX_TEXT_BYTES)
        for name in self.long_text_fields:
            value = data.get(name) or ""
            if len(value.encode("utf-8")) > limit:
                self.add_error(  # type: ignore[attr-defined]
                    name,
                    _("This text is too long: at most %(size)s. Shorten it or send the rest as a message later.")
                    % {"size": size_text(limit)},
                )
        return data


# --- self-assessment ----------------------------------------------------------------------------


class AssessmentForm(forms.Form):
    """Nothing from this form is stored: the answers produce one page and are gone."""

    what = forms.MultipleChoiceField(label=_("What has happened? Tick everything that fits."),
                                     choices=_tactic_choices, widget=TICKS, required=False)
    whom = forms.MultipleChoiceField(label=_("Whom did it happen to?"), choices=Whom.choices, widget=TICKS, required=False)
    where_now = CountryField(label=_("Which country are you in now?"), blank=_("Choose a country"), required=False)
    origin = CountryField(label=_("Which country are you from (or your family)?"), blank=_("Choose a country"), required=False)
    behind = CountryField(label=_("Which government do you think is behind it?"),
                          blank=_("I don't know"), required=False)
    danger = forms.ChoiceField(label=_("Are you in danger now?"), choices=Danger.choices, widget=RADIOS, required=False)
    profile = forms.MultipleChoiceField(label=_("Do any of these describe you? (optional)"),
                                        choices=_category_choices, widget=TICKS, required=False)
    needs = forms.MultipleChoiceField(label=_("What help would you need? (optional)"), choices=lambda: list(wording.NEEDS.items()),
                                      widget=TICKS, required=False)


# --- the report, step by step -------------------------------------------------------------------


class RecipientForm(forms.Form):
    organisation = forms.ChoiceField(label=_("Who should receive your report?"), widget=RADIOS)

    def __init__(self, *args: Any, recipients: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(o.slug, o.name) for o in recipients]


class WhatForm(TextLimitMixin, forms.Form):
    long_text_fields = ("narrative",)
    tactics = forms.MultipleChoiceField(label=_("What happened? Tick everything that fits."),
                                        choices=_tactic_choices, widget=TICKS, required=False)
    narrative = forms.CharField(
        label=_("In your own words, what happened?"),
        help_text=_("Write as much or as little as you want, in any language. Leave out names if you prefer."),
        widget=forms.Textarea(attrs={"rows": 10}), required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("tactics") and not (data.get("narrative") or "").strip():
            raise forms.ValidationError(_("Tick at least one box or describe what happened."))
        return data


class WhenWhereForm(forms.Form):
    precision = forms.ChoiceField(label=_("How well do you know when it happened?"), choices=Precision.choices,
                                  widget=RADIOS, initial=Precision.MONTH)
    year = forms.IntegerField(label=_("Year"), min_value=1950, required=True)
    month = forms.IntegerField(label=_("Month (1–12)"), min_value=1, max_value=12, required=False)
    day = forms.IntegerField(label=_("Day (1–31)"), min_value=1, max_value=31, required=False)
    ongoing = forms.BooleanField(label=_("It is still going on"), required=False)
    country = CountryField(label=_("In which country did it happen? (for something online: where you were)"),
                           blank=_("I don't know"), required=False)
    city = forms.CharField(label=_("City or area (optional)"), max_length=100, required=False)
    location_type = forms.ChoiceField(label=_("Where did it happen?"), widget=RADIOS, required=False,
                                      choices=lambda: list(wording.LOCATION_TYPES.items()))
    host_state = CountryField(label=_("Which country do you live in now?"), blank=_("Choose a country"), required=False)
    origin_state = CountryField(label=_("Which country are you from (or your family)?"),
                                blank=_("Choose a country"), required=False)
    perpetrator_states = CountriesField(label=_("Which government or governments do you think are behind it?"),
                                        required=False)
    actors = forms.MultipleChoiceField(label=_("Who did it?"), widget=TICKS, required=False,
                                       choices=lambda: list(wording.ACTOR_GROUPS.items()))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        year, month, day, precision = data.get("year"), data.get("month"), data.get("day"), data.get("precision")
        if year is None:
            return data
        if year > dt.date.today().year:  # noqa: DTZ011 - a calendar year, not a moment
            self.add_error("year", _("This year is in the future."))
            return data
        if precision in (Precision.MONTH, Precision.DAY) and not month:
            self.add_error("month", _("Give the month, or choose “I know only the year”."))
        if precision == Precision.DAY:
            if not day:
                self.add_error("day", _("Give the day, or choose “I know the month”."))
            elif month:
                try:
                    when = dt.date(year, month, day)
                except ValueError:
                    self.add_error("day", _("This day does not exist in that month."))
                else:
                    if when > dt.date.today():  # noqa: DTZ011
                        self.add_error("day", _("This date is in the future."))
        return data


class WhomForm(TextLimitMixin, forms.Form):
    long_text_fields = ("relatives",)
    whom = forms.MultipleChoiceField(label=_("Whom was it aimed at?"), choices=Whom.choices, widget=TICKS, required=False)
    profile = forms.MultipleChoiceField(label=_("Do any of these describe the person targeted? (optional)"),
                                        choices=_category_choices, widget=TICKS, required=False)
    relatives = forms.CharField(
        label=_("If relatives back home were targeted: what happened to them? (optional)"),
        widget=forms.Textarea(attrs={"rows": 4}), required=False,
    )
    danger = forms.ChoiceField(label=_("Are you in danger now?"), choices=Danger.choices, widget=RADIOS, required=False)
    needs = forms.MultipleChoiceField(label=_("What help would you need? (optional)"), choices=lambda: list(wording.NEEDS.items()),
                                      widget=TICKS, required=False)


class EvidenceForm(TextLimitMixin, forms.Form):
    long_text_fields = ("notes",)
    kinds = forms.MultipleChoiceField(label=_("What evidence exists?"), choices=Evidence.choices, widget=TICKS, required=False)
    notes = forms.CharField(label=_("Anything to add about the evidence? (optional)"),
                            widget=forms.Textarea(attrs={"rows": 3}), required=False)


class YouForm(forms.Form):
    """Identity, contact and consent; files come with this last step."""

    name = forms.CharField(label=_("Your name (optional)"), max_length=200, required=False,
                           help_text=_("Leave it empty to stay anonymous."))
    contact_method = forms.ChoiceField(label=_("How may the organisation contact you?"), choices=ContactMethod.choices,
                                       widget=RADIOS, initial=ContactMethod.NONE)
    contact = forms.CharField(label=_("Your number, address or username for that (optional)"),
                              max_length=300, required=False)
    consent_sharing = forms.ChoiceField(label=_("Who may read your report?"), choices=SharingConsent.choices,
                                        widget=RADIOS, initial=SharingConsent.ORGANISATION)
    consent_referral = forms.BooleanField(
        label=_("The organisation may refer me to people who can help (for example legal aid or relocation), after asking me."),
        required=False,
    )
    consent_statistics = forms.BooleanField(
        label=_("What happened may be counted in statistics, without my name or anything that identifies me."),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("contact_method") not in (None, "", ContactMethod.NONE) and not (data.get("contact") or "").strip():
            self.add_error("contact", _("Give the number, address or username, or choose not to be contacted."))
        return data


# --- follow-up ----------------------------------------------------------------------------------


class ReceiptForm(forms.Form):
    # Not required and generously long: an empty or overlong receipt goes through the same
    # derivation and gets the same message as any other wrong receipt.
    receipt = forms.CharField(label=_("Your receipt (16 digits)"), required=False, max_length=1000,
                              widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric",
                                                            "spellcheck": "false", "dir": "ltr"}))


class MessageForm(TextLimitMixin, forms.Form):
    long_text_fields = ("text",)
    text = forms.CharField(label=_("Your message"), widget=forms.Textarea(attrs={"rows": 5}), required=False)

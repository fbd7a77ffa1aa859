"""Forms of the staff triage inbox (English; the staff zone is not translated yet)."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from typing import Any

from django import forms

from tnr.records import choices as rc
from tnr.reporting.choices import ReportStatus
from tnr.reporting.models import Intake
from tnr.taxonomy.models import Country, LocationType, Tactic


class ReplyForm(forms.Form):
    text = forms.CharField(label="Message to the reporter", widget=forms.Textarea(attrs={"rows": 4}))


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=ReportStatus.choices)


class TagsForm(forms.Form):
    tags = forms.CharField(label="Tags (comma-separated)", required=False, max_length=1000)


def _new_external_id() -> str:
    # Random, so the identifier says nothing about the report it came from.
    return f"INC-{secrets.token_hex(4).upper()}"


class DeriveForm(forms.Form):
    """A de-identified incident on the common data model, prefilled from a report."""

    external_id = forms.CharField(max_length=100, initial=_new_external_id)
    title = forms.CharField(max_length=200, help_text="Short and de-identified: no names, no contacts.")
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                              help_text="De-identified: write it anew, do not paste the narrative.")
    start_date = forms.DateField(help_text="YYYY-MM-DD; with month or year precision, the first day.")
    date_precision = forms.ChoiceField(choices=rc.DatePrecision.choices)
    location_country = forms.ModelChoiceField(Country.objects.order_by("name"), required=False)
    city = forms.CharField(max_length=100, required=False)
    location_type = forms.ModelChoiceField(LocationType.objects.all(), required=False)
    origin_state = forms.ModelChoiceField(Country.objects.order_by("name"), required=False)
    host_state = forms.ModelChoiceField(Country.objects.order_by("name"), required=False)
    perpetrator_states = forms.ModelMultipleChoiceField(Country.objects.order_by("name"), required=False)
    tactics = forms.ModelMultipleChoiceField(Tactic.objects.all(), help_text="The act's primary tactic is "
                                             "chosen by the taxonomy's precedence; the others become secondary.")
    confidence = forms.ChoiceField(choices=rc.Confidence.choices, initial=rc.Confidence.POSSIBLE)
    sharing = forms.ChoiceField(choices=rc.Sharing.choices, initial=rc.Sharing.INTERNAL)

    def clean_start_date(self) -> dt.date:
        value: dt.date = self.cleaned_data["start_date"]
        if value > dt.date.today():  # noqa: DTZ011 - a calendar date
            raise forms.ValidationError("This date is in the future.")
        return value


def derive_initial(answers: dict[str, Any]) -> dict[str, Any]:
    """Initial values of the derive form from a report's answers (codes only, never text)."""
    when = answers.get("when", {})
    what = answers.get("what", {})
    precision = when.get("precision") or "year"
    year = when.get("year")
    initial: dict[str, Any] = {"date_precision": precision if precision in rc.DatePrecision.values else "year"}
    if year:
        month = int(when.get("month") or 1) if precision in ("month", "day") else 1
        day = int(when.get("day") or 1) if precision == "day" else 1
        with contextlib.suppress(ValueError):
            initial["start_date"] = dt.date(int(year), month, day)
    for field in ("location_country", "origin_state", "host_state"):
        source = "country" if field == "location_country" else field
        if when.get(source):
            initial[field] = when[source]
    if when.get("location_type"):
        initial["location_type"] = when["location_type"]
    if when.get("perpetrator_states"):
        initial["perpetrator_states"] = when["perpetrator_states"]
    if what.get("tactics"):
        initial["tactics"] = what["tactics"]
    return initial


class IntakeForm(forms.ModelForm):
    class Meta:
        model = Intake
        fields = ["accepting", "description", "retention_days"]
        help_texts = {"retention_days": "Days after a report is closed before it and its files are deleted."}

"""Forms of the directory pages: validate once at the edge, hand clean values to actions."""

from __future__ import annotations

from typing import Any

from django import forms

from tnr.cases.choices import MechanismKind, Need
from tnr.cases.languages import language_choices, split_codes
from tnr.cases.models import NAME_MAX, URL_MAX, ProtectionMechanism
from tnr.cases.rules import TEXT_MAX, MechanismData, Problems
from tnr.taxonomy.models import Country, TargetCategory


def country_choices() -> list[tuple[str, str]]:
    return [(code, f"{name} ({code})") for code, name in Country.objects.values_list("code", "name")]


def profile_choices() -> list[tuple[str, str]]:
    return list(TargetCategory.objects.filter(retired=False).values_list("code", "label"))


class SearchForm(forms.Form):
    """The directory search (GET, every field optional)."""

    country = forms.ChoiceField(
        label="Country", required=False,
        help_text="Where the person is now. Mechanisms serving it specifically come first.",
    )
    need = forms.ChoiceField(label="Need", required=False)
    profile = forms.ChoiceField(label="Profile", required=False)
    language = forms.ChoiceField(
        label="Language", required=False,
        help_text="Entries without recorded languages are listed too, after those that list it.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["country"].choices = [("", "Any country"), *country_choices()]
        fields["need"].choices = [("", "Any need"), *Need.choices]
        fields["profile"].choices = [("", "Any profile"), *profile_choices()]
        fields["language"].choices = [("", "Any language"), *language_choices()]


class MechanismForm(forms.Form):
    """Create or edit one directory entry (administrators)."""

    name = forms.CharField(max_length=NAME_MAX)
    kind = forms.ChoiceField(choices=MechanismKind.choices)
    needs = forms.MultipleChoiceField(
        label="Needs served", choices=Need.choices, widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    worldwide = forms.BooleanField(
        label="Serves people in every country (worldwide)", required=False,
    )
    countries = forms.MultipleChoiceField(
        label="Countries served", required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="Leave empty when it serves every country. Hold Ctrl (or ⌘) to choose several.",
    )
    any_profile = forms.BooleanField(label="Open to anyone at risk (any profile)", required=False)
    profiles = forms.MultipleChoiceField(
        label="Eligible profiles", required=False, widget=forms.CheckboxSelectMultiple,
    )
    languages = forms.CharField(
        label="Languages", required=False, max_length=500,
        help_text="ISO 639-1 codes separated by commas, e.g. “en, fr, ar”. Leave empty if not known.",
    )
    website = forms.CharField(
        label="Website", required=False, max_length=URL_MAX,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
        help_text="The official site, starting with https://.",
    )
    safe_contact = forms.CharField(
        label="How to reach them safely", required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="e.g. “Use the web form on their official site over HTTPS.” No guessed phone numbers or addresses.",
    )
    notes = forms.CharField(required=False, max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 3}))
    last_verified = forms.DateField(
        label="Last verified", required=False, widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day these facts were last checked with the provider (YYYY-MM-DD).",
    )
    verification_note = forms.CharField(
        label="Verification note", required=False, max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How the facts were checked, e.g. “confirmed by e-mail with their team”.",
    )
    source = forms.CharField(
        label="Source", max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the facts of this entry were checked (pages, documents, people).",
    )
    active = forms.BooleanField(label="Active (listed in searches)", required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: dict[str, Any] = self.fields
        fields["countries"].choices = country_choices()
        fields["profiles"].choices = profile_choices()

    @staticmethod
    def initial_from(mechanism: ProtectionMechanism) -> dict[str, Any]:
        data = MechanismData.from_mechanism(mechanism)
        return {
            "name": data.name,
            "kind": data.kind,
            "needs": list(data.needs),
            "worldwide": data.worldwide,
            "countries": list(data.countries),
            "any_profile": data.any_profile,
            "profiles": list(data.profiles),
            "languages": ", ".join(data.languages),
            "website": data.website,
            "safe_contact": data.safe_contact,
            "notes": data.notes,
            "last_verified": data.last_verified,
            "verification_note": data.verification_note,
            "source": data.source,
            "active": data.active,
        }

    def to_data(self) -> MechanismData:
        d = self.cleaned_data
        return MechanismData(
            name=d["name"],
            kind=d["kind"],
            needs=tuple(d["needs"]),
            worldwide=d["worldwide"],
            countries=tuple(d["countries"]),
            any_profile=d["any_profile"],
            profiles=tuple(d["profiles"]),
            languages=tuple(split_codes(d["languages"])),
            website=d["website"],
            safe_contact=d["safe_contact"],
            notes=d["notes"],
            last_verified=d["last_verified"],
            verification_note=d["verification_note"],
            source=d["source"],
            active=d["active"],
        ).normalised()

    def add_problems(self, problems: Problems) -> None:
        """Show an action's rule violations beside the fields they concern."""
        for name, message in problems:
            self.add_error(name if name in self.fields else None, message)


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with the columns of an export. All or nothing: any problem and nothing is imported.",
    )

"""Forms of the linkage pages: they check the shape of the input; actions do the rest."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from tnr.accounts.models import Organisation


class RunForm(forms.Form):
    """Start a linkage run for one of the organisations the user may run it in."""

    organisation = forms.ModelChoiceField(queryset=Organisation.objects.none(), empty_label=None,
                                          to_field_name="slug")  # fmt: skip

    def __init__(self, *args: Any, organisations: QuerySet[Organisation], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["organisation"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = organisations


DECISIONS = {"same": True, "different": False, "clear": None}


class DecisionForm(forms.Form):
    """A caseworker's decision on a pair."""

    decision = forms.ChoiceField(choices=[
        ("same", "Same incident"), ("different", "Different incidents"), ("clear", "Withdraw my decision"),
    ])  # fmt: skip

    def value(self) -> bool | None:
        return DECISIONS[self.cleaned_data["decision"]]


class PairFilterForm(forms.Form):
    """Which pairs of a run to list."""

    SHOW = [("undecided", "Uncertain, not yet decided"), ("uncertain", "All uncertain"),
            ("decided", "Decided"), ("linked", "Linked by the model")]  # fmt: skip
    show = forms.ChoiceField(choices=SHOW, required=False)

    def choice(self) -> str:
        return (self.cleaned_data.get("show") if self.is_valid() else None) or "undecided"

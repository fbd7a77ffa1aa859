"""Forms of the records pages: they check the shape of the input; actions do the rest."""

from __future__ import annotations

from django import forms

from tnr.records.identity import MAX_ALIASES, MAX_CONTACT, MAX_NAME


class IdentityForm(forms.Form):
    """A person's identity, to be sealed. Never logged, never shown back in messages."""

    name = forms.CharField(
        max_length=MAX_NAME, required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    aliases = forms.CharField(
        label="Other names", required=False, max_length=MAX_ALIASES * (MAX_NAME + 1),
        help_text=f"One per line, up to {MAX_ALIASES}: spellings in other scripts, nicknames, former names.",
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"}),
    )
    contact = forms.CharField(
        label="Contact details", required=False, max_length=MAX_CONTACT,
        help_text="How to reach them safely: channel, number or handle, and any precautions.",
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
    )

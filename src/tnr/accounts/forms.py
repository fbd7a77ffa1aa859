"""Forms of the accounts pages: they validate the shape of the input; actions do the rest."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from tnr.accounts.actions import INVITATION_DAYS
from tnr.accounts.models import Role

# One message for a wrong username and a wrong password: no hint whether an account exists.
WRONG_CREDENTIALS = "The username or password is not right. Check both and try again."
WRONG_CODE = (
    "That code is not right. Use the 6-digit code your authenticator app shows now, or one "
    "of your recovery codes."
)


def locked_message(minutes: int) -> str:
    """Shown when a sign-in is locked; the same whether or not the account exists."""
    unit = "minute" if minutes == 1 else "minutes"
    return (
        "Too many failed attempts: signing in to this account is paused. "
        f"Try again in {minutes} {unit}, or ask an administrator of your organisation."
    )


class PasswordStepForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password = forms.CharField(
        max_length=4096, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=40,
        help_text="6 digits from your authenticator app, or a recovery code such as abcde-fghij.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class EnrolForm(forms.Form):
    code = forms.CharField(
        label="Code from the app",
        max_length=12,
        help_text="The 6 digits the app shows for this account now.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CASEWORKER)
    days = forms.TypedChoiceField(
        label="Link valid for",
        choices=[(d, f"{d} day" if d == 1 else f"{d} days") for d in INVITATION_DAYS],
        coerce=int,
        initial=3,
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class NewAccountForm(forms.Form):
    """The invitee's own username and password (Django's password validators apply)."""

    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @ . + - _ only. It does not need to be your name.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        max_length=4096,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        # Case-insensitively unique: the sign-in lock is keyed by the lower-cased name.
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("That username is taken. Choose another.")
        return username

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords are not the same.")
        elif password1:
            user = get_user_model()(username=data.get("username", ""))
            try:
                password_validation.validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data


class RecoverForm(forms.Form):
    """Lost password: the organisation's recovery key, a code, and a new password."""

    username = forms.CharField(
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )
    recovery_key = forms.CharField(
        label="Organisation recovery key",
        max_length=200,
        help_text="The key printed when your organisation's key was set up, e.g. ABCD-EFGH-… "
        "(upper or lower case; spaces and dashes do not matter).",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )
    code = forms.CharField(
        label="Code",
        max_length=40,
        help_text="6 digits from your authenticator app, or one of your recovery codes.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    password1 = forms.CharField(
        label="New password",
        strip=False,
        max_length=4096,
        help_text=password_validation.password_validators_help_text_html(),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="New password again",
        strip=False,
        max_length=4096,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        password1, password2 = data.get("password1"), data.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords are not the same.")
        elif password1:
            # Checked against the typed username only: nothing here may reveal whether the
            # account exists (the action gives one message for every wrong combination).
            user = get_user_model()(username=data.get("username", ""))
            try:
                password_validation.validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return data

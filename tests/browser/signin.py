"""Signing in through the real pages, as a person does: password, then an authenticator code."""

from __future__ import annotations

import re

from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.helpers import next_code
from tests.factories import PASSWORD


def password_step(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    """Both steps for a user who already has a confirmed authenticator."""
    device = TOTPDevice.objects.get(user__username=username, confirmed=True)
    password_step(page, username, password)
    page.wait_for_url(re.compile(r"/accounts/login/code/"))
    page.get_by_label("Code").fill(next_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/incidents/$"))

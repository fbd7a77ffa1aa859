"""Helpers for tests of organisation keys: set-up without pages, sign-in through the pages.

    recovery_key = set_up_keys(alpha, ada)          # ada holds the key; returns the recovery key
    give_copy(alice, alpha, recovery_key)           # alice gets a copy (as a grant would)
    sign_in(client, alice)                          # the real password step, then verified
    request = request_for(client)                   # a request as the next page would see it
    keys.unlock_state(request, alpha)
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user
from django.test import Client, RequestFactory
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.middleware import OTPMiddleware

from tests.accounts.helpers import add_authenticator
from tests.factories import PASSWORD
from tnr.accounts import keys
from tnr.accounts.models import Membership, UserKey


def set_up_keys(organisation: Any, admin: Any, password: str = PASSWORD) -> str:
    """``organisation``'s key, held by ``admin``; returns the printable recovery key."""
    return keys.create_organisation_keys(organisation, admin, password=password)


def give_copy(user: Any, organisation: Any, recovery_key: str, password: str = PASSWORD) -> None:
    """A copy of the organisation key for ``user`` (making their personal key if needed)."""
    if not UserKey.objects.filter(user=user).exists():
        keys.make_user_key(user, password)
    membership = Membership.objects.select_related("user").get(user=user, organisation=organisation)
    keys.seal_copy_for(membership, keys.private_from_recovery_key(organisation, recovery_key), None)


def password_step(client: Client, user: Any, password: str = PASSWORD) -> Any:
    """The sign-in page's password step (which unlocks the keys into the session)."""
    add_authenticator(user)
    response = client.post(reverse("accounts:login"), {"username": user.get_username(), "password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


def sign_in(client: Client, user: Any, password: str = PASSWORD) -> Any:
    """Both steps: the real password step, then the session marked verified by the user's
    authenticator (as the code step does; tests of the code step itself type a code)."""
    response = password_step(client, user, password)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = add_authenticator(user).persistent_id
    session.save()
    return response


def request_for(client: Client, path: str = "/") -> Any:
    """A request carrying ``client``'s session and cookies, with ``request.user`` resolved as
    the middleware would (second factor included)."""
    request = RequestFactory().get(path)
    request.session = client.session
    request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items() if morsel.value}
    request.user = get_user(request)
    OTPMiddleware(lambda r: None)(request)
    return request

"""Every URL of the staff site needs a verified second factor, except a short, reviewed list.

The test walks the whole URLconf, so a view added later is covered without anyone writing a
test for it. A view that must be reachable without signing in (``@public``) or before the
second factor (``@allow_unverified``) has to be added to the lists below, on purpose.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.accounts.helpers import add_authenticator
from tests.factories import PASSWORD
from tnr.accounts.middleware import PUBLIC_ATTR, UNVERIFIED_ATTR

pytestmark = pytest.mark.django_db

PUBLIC = {"accounts:login", "accounts:logout", "accounts:accept-invitation", "accounts:recover"}
UNVERIFIED_OK = {"accounts:verify", "accounts:enrol"}

SAMPLE = {"uuid": str(uuid.uuid4()), "int": "1", "slug": "alpha-watch", "str": "x", "path": "x"}


def walk(patterns, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, object]]:
    """(route, view name, callback) for every non-admin route with a ``path()`` pattern."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns == "admin":
                continue  # the admin is covered separately below
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else (entry.name or str(entry.pattern))
            yield prefix + str(entry.pattern), name, entry.callback


def sample_url(route: str) -> str:
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE[m.group(1) or "str"], route)
    return "/" + route.lstrip("^").rstrip("$")


ROUTES = sorted(walk(get_resolver().url_patterns))


def test_the_walk_finds_the_staff_pages():
    names = {name for _, name, _ in ROUTES}
    assert {"records:incident-list", "records:incident-detail", "accounts:members"} <= names


def test_public_and_unverified_views_are_exactly_the_reviewed_ones():
    public = {name for _, name, view in ROUTES if getattr(view, PUBLIC_ATTR, False)}
    unverified = {name for _, name, view in ROUTES if getattr(view, UNVERIFIED_ATTR, False)}
    assert public == PUBLIC
    assert unverified == UNVERIFIED_OK


@pytest.fixture
def half_signed_in(django_user_model) -> Client:
    """A session past the password step, not the code step."""
    user = django_user_model.objects.create_user("half", password=PASSWORD)
    add_authenticator(user)
    client = Client()
    client.post(reverse("accounts:login"), {"username": "half", "password": PASSWORD})
    return client


@pytest.mark.parametrize(("route", "name", "view"), ROUTES, ids=[name for _, name, _ in ROUTES])
def test_every_route_is_gated(client, half_signed_in, route, name, view):
    if name in PUBLIC:
        return
    url = sample_url(route)
    for method in ("get", "post"):
        anonymous = getattr(client, method)(url)
        assert anonymous.status_code == 302, (method, url)
        assert anonymous.url.startswith(reverse("accounts:login")), (method, url)
        if name in UNVERIFIED_OK:
            continue
        half = getattr(half_signed_in, method)(url)
        assert half.status_code == 302, (method, url)
        assert half.url.startswith(reverse("accounts:verify")), (method, url)


@pytest.mark.parametrize(
    "url", ["/admin/", "/admin/auth/user/", "/admin/accounts/membership/", "/admin/login/"]
)
def test_admin_is_gated(client, half_signed_in, url):
    assert client.get(url).url.startswith(reverse("accounts:login"))
    assert half_signed_in.get(url).url.startswith(reverse(
        "accounts:login" if url == "/admin/login/" else "accounts:verify"
    ))

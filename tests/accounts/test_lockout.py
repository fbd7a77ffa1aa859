"""Brute-force lockout: keyed by account name, same for names that do not exist, counts
passwords and codes alike, doubles, and stores neither usernames nor addresses.
"""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.accounts.helpers import add_authenticator, next_code, wrong_code
from tests.factories import PASSWORD
from tnr.accounts import lockout
from tnr.accounts.forms import WRONG_CODE, WRONG_CREDENTIALS
from tnr.accounts.models import LoginThrottle

pytestmark = pytest.mark.django_db

LOGIN = reverse("accounts:login")
VERIFY = reverse("accounts:verify")
T0 = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)


def fail(name: str, times: int, start: datetime.datetime = T0):
    lock = None
    for i in range(times):
        lock = lockout.record_failure(name, now=start + datetime.timedelta(seconds=i))
    return lock


# --- the counter ---------------------------------------------------------------------------


def test_five_failures_lock_for_fifteen_minutes():
    assert fail("alice", 4) is None
    assert lockout.current_lock("alice", now=T0 + datetime.timedelta(seconds=5)) is None
    lock = lockout.record_failure("alice", now=T0 + datetime.timedelta(seconds=10))
    assert lock is not None
    assert lock.until == T0 + datetime.timedelta(seconds=10, minutes=15)
    assert lockout.current_lock("alice", now=T0 + datetime.timedelta(minutes=10)) == lock
    assert lockout.current_lock("alice", now=T0 + datetime.timedelta(minutes=16)) is None


def test_each_lock_in_a_row_doubles_up_to_a_day():
    start = T0
    lengths = []
    for _ in range(9):
        lock = fail("alice", lockout.MAX_FAILURES, start)
        lengths.append(lock.until - (start + datetime.timedelta(seconds=lockout.MAX_FAILURES - 1)))
        start = lock.until + datetime.timedelta(seconds=1)
    minutes = [int(length.total_seconds() // 60) for length in lengths]
    assert minutes[:5] == [15, 30, 60, 120, 240]
    assert max(minutes) == 24 * 60


def test_attempts_while_locked_are_not_counted_and_do_not_extend():
    lock = fail("alice", 5)
    again = lockout.record_failure("alice", now=T0 + datetime.timedelta(minutes=5))
    assert again == lock
    assert LoginThrottle.objects.get().lockouts == 1


def test_a_quiet_day_forgets_earlier_failures():
    fail("alice", 4)
    later = T0 + lockout.FORGET_AFTER + datetime.timedelta(minutes=1)
    assert lockout.record_failure("alice", now=later) is None
    assert LoginThrottle.objects.get().failures == 1


def test_clear_failures_lifts_the_lock():
    fail("alice", 5, timezone.now())
    assert lockout.current_lock("alice") is not None
    lockout.clear_failures("ALICE")
    assert lockout.current_lock("alice") is None


def test_key_ignores_case_and_surrounding_space_and_hides_the_name():
    assert lockout.throttle_key(" Alice ") == lockout.throttle_key("alice")
    assert lockout.throttle_key("alice") != lockout.throttle_key("alice2")
    fail("alice", 2)
    row = LoginThrottle.objects.get()
    assert "alice" not in row.key
    assert len(row.key) == 64
    field_names = {field.name for field in LoginThrottle._meta.get_fields()}
    assert not field_names & {"ip", "ip_address", "address", "user_agent", "username"}


def test_stale_rows_are_purged():
    fail("guess1", 1)
    later = T0 + lockout.FORGET_AFTER + lockout.MAX_LOCK + datetime.timedelta(minutes=1)
    lockout.record_failure("guess2", now=later)
    assert LoginThrottle.objects.count() == 1


# --- through the sign-in pages -------------------------------------------------------------


def post_password(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def message_of(response) -> str:
    import re

    html = response.content.decode()
    found = re.search(r'<div class="error-summary" role="alert">\s*<p>(.*?)</p>', html, re.S)
    assert found, html
    return found.group(1)


def test_wrong_username_and_wrong_password_look_the_same(client, alice):
    wrong_password = post_password(client, "alice", "not-the-password")
    no_such_user = post_password(client, "nobody-here", "not-the-password")
    assert wrong_password.status_code == no_such_user.status_code == 200
    assert message_of(wrong_password) == message_of(no_such_user) == WRONG_CREDENTIALS


def test_lockout_message_is_the_same_for_real_and_unknown_accounts(client, alice):
    for _ in range(4):
        post_password(client, "alice", "wrong")
        post_password(client, "nobody-here", "wrong")
    real = post_password(client, "alice", "wrong")
    unknown = post_password(client, "nobody-here", "wrong")
    assert "Too many failed attempts" in message_of(real)
    assert message_of(real) == message_of(unknown)
    # while locked, even the right password is refused with the same message
    right = post_password(client, "alice", PASSWORD)
    assert message_of(right) == message_of(unknown)
    assert "_auth_user_id" not in client.session


def test_locked_by_another_spelling_of_the_name(client, alice):
    for _ in range(5):
        post_password(client, "ALICE", "wrong")
    assert "Too many failed attempts" in message_of(post_password(client, "alice", PASSWORD))


def test_wrong_codes_count_and_the_lock_signs_out(client, alice):
    device = add_authenticator(alice)
    for _ in range(3):
        post_password(client, "alice", "wrong")
    assert post_password(client, "alice", PASSWORD).status_code == 302  # right password
    wrong = client.post(VERIFY, {"code": wrong_code(device)})
    assert WRONG_CODE in wrong.content.decode()
    locked = client.post(VERIFY, {"code": wrong_code(device)})
    assert "Too many failed attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session  # the half-signed-in session ended
    # and the password step stays locked
    assert "Too many failed attempts" in message_of(post_password(client, "alice", PASSWORD))


def test_a_correct_password_alone_does_not_reset_the_counter(client, alice):
    add_authenticator(alice)
    for _ in range(4):
        post_password(client, "alice", "wrong")
    post_password(client, "alice", PASSWORD)
    assert LoginThrottle.objects.get().failures == 4


def test_a_complete_sign_in_resets_the_counter(client, alice):
    device = add_authenticator(alice)
    for _ in range(4):
        post_password(client, "alice", "wrong")
    post_password(client, "alice", PASSWORD)
    assert client.post(VERIFY, {"code": next_code(device)}).status_code == 302
    assert not LoginThrottle.objects.exists()


def test_members_page_shows_and_lifts_a_lock(client, ada, alice, alpha):
    from tests.accounts.helpers import login_verified
    from tnr.accounts.models import Membership

    for _ in range(5):
        post_password(client, "alice", "wrong")
    login_verified(client, ada)
    members = reverse("accounts:members", args=[alpha.slug])
    assert "Sign-in locked" in client.get(members).content.decode()
    membership = Membership.objects.get(user=alice)
    client.post(reverse("accounts:unlock-member", args=[alpha.slug, membership.pk]))
    assert lockout.current_lock("alice") is None


def test_no_model_stores_network_addresses_or_user_agents():
    from django.apps import apps
    from django.db import models

    for model in apps.get_models():
        for field in model._meta.get_fields():
            label = f"{model._meta.label}.{field.name}"
            assert not isinstance(field, models.GenericIPAddressField), label
            assert not any(word in field.name.lower() for word in ("ip_addr", "user_agent", "useragent")), label

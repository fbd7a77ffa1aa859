"""Accounts pages: two-step sign-in, second-factor enrolment and recovery codes, the account
page, members and invitations, password change.

Thin: forms check the input, ``tnr.accounts.actions`` does the work, lookups go through
``tnr.accounts.queries``. Which pages need a verified session is decided by
``tnr.accounts.middleware`` (``@public`` and ``@allow_unverified`` mark the exceptions).
Every page is plain HTML forms and works without JavaScript.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from tnr.accounts import actions, keys, lockout, secondfactor
from tnr.accounts.actions import AccountsError, Outcome
from tnr.accounts.forms import (
    WRONG_CODE,
    WRONG_CREDENTIALS,
    CodeForm,
    EnrolForm,
    InviteForm,
    NewAccountForm,
    PasswordStepForm,
    RecoverForm,
    RoleForm,
    locked_message,
)
from tnr.accounts.middleware import allow_unverified, public
from tnr.accounts.models import Invitation, LoginThrottle, OrganisationKey, Role
from tnr.accounts.queries import (
    access_invitation,
    access_membership,
    access_organisation,
    memberships_of,
)
from tnr.accounts.roles import ROLE_PERMISSIONS, Perm


def _next_url(request: HttpRequest) -> str:
    """The page to go to after signing in: ``next`` if it is on this site, else the default."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _minutes(lock: lockout.Lock | None) -> int:
    return lock.minutes_left() if lock is not None else int(lockout.BASE_LOCK.total_seconds() // 60)


# --- signing in -------------------------------------------------------------------------------


@public
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Step one: username and password."""
    next_url = _next_url(request)
    form = PasswordStepForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = actions.sign_in_with_password(
            request, form.cleaned_data["username"], form.cleaned_data["password"]
        )
        if result.outcome is Outcome.OK:
            step = "accounts:verify" if secondfactor.has_any_device(result.user) else "accounts:enrol"
            return HttpResponseRedirect(_with_next(step, next_url))
        if result.outcome is Outcome.LOCKED:
            form.add_error(None, locked_message(_minutes(result.lock)))
        else:
            form.add_error(None, WRONG_CREDENTIALS)
    signed_in = secondfactor.is_verified(request.user)
    context = {"form": form, "next": next_url, "signed_in": signed_in}
    return render(request, "accounts/login.html", context)


@allow_unverified
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    """Step two: a code from the authenticator app, or a recovery code."""
    next_url = _next_url(request)
    if secondfactor.is_verified(request.user):
        return HttpResponseRedirect(next_url)
    if not secondfactor.has_any_device(request.user):
        return HttpResponseRedirect(_with_next("accounts:enrol", next_url))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = actions.verify_second_factor(request, form.cleaned_data["code"])
        if result.outcome is Outcome.OK:
            if not secondfactor.has_authenticator(request.user):
                # Signed in with a recovery code after replacing the authenticator: finish.
                return HttpResponseRedirect(_with_next("accounts:enrol", next_url))
            return HttpResponseRedirect(next_url)
        if result.outcome is Outcome.LOCKED:
            context = {
                "form": PasswordStepForm(),
                "next": next_url,
                "error": locked_message(_minutes(result.lock)),
            }
            return render(request, "accounts/login.html", context)
        form.add_error("code", WRONG_CODE)
    return render(request, "accounts/verify.html", {"form": form, "next": next_url})


@allow_unverified
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, then confirm with a code."""
    user = request.user
    next_url = _next_url(request)
    verified = secondfactor.is_verified(user)
    if not verified and secondfactor.has_any_device(user):
        # With only a password, nobody may add a second factor to an account that has one.
        return HttpResponseRedirect(_with_next("accounts:verify", next_url))
    replacing = verified and request.session.get(actions.REPLACING_AUTHENTICATOR, False)
    if secondfactor.has_authenticator(user) and not replacing:
        return HttpResponseRedirect(reverse("accounts:account"))
    device = actions.begin_enrolment(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = actions.confirm_enrolment(request, device, form.cleaned_data["code"])
        if codes is not None:
            return render(
                request,
                "accounts/recovery_codes_new.html",
                {"codes": codes, "next": next_url, "after_enrolment": True},
            )
        form.add_error(
            "code",
            "That code does not match. Check that the app added this account and that the "
            "phone's clock is right, then enter the code it shows now.",
        )
    return render(request, "accounts/enrol.html", _enrol_context(device, form, next_url))


def _enrol_context(device: TOTPDevice, form: EnrolForm, next_url: str) -> dict[str, Any]:
    return {
        "form": form,
        "next": next_url,
        "qr_svg": secondfactor.qr_svg(
            secondfactor.provisioning_uri(device), title="QR code to add this account to an app"
        ),
        "secret": secondfactor.secret_for_display(device),
        "digits": device.digits,
        "period": device.step,
    }


# --- the signed-in user's own account ---------------------------------------------------------


@require_http_methods(["GET"])
def account_view(request: HttpRequest) -> HttpResponse:
    memberships = list(memberships_of(request.user))
    rows = [
        {
            "membership": m,
            "permissions": [p for p in Perm if p.value in ROLE_PERMISSIONS[m.role]],
            "manages": Perm.MANAGE_MEMBERS in ROLE_PERMISSIONS[m.role],
            "key_status": keys.key_status(request, m.organisation_id),
        }
        for m in memberships
    ]
    context = {
        "rows": rows,
        "codes_left": secondfactor.recovery_codes_left(request.user),
        "has_authenticator": secondfactor.has_authenticator(request.user),
        "code_form": CodeForm(),
    }
    return render(request, "accounts/account.html", context)


@require_http_methods(["GET", "POST"])
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    """How many recovery codes are left; new ones in exchange for a current code."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = actions.regenerate_recovery_codes(request, form.cleaned_data["code"])
        if codes is not None:
            return render(request, "accounts/recovery_codes_new.html", {"codes": codes})
        if not request.user.is_authenticated:  # locked: signed out
            return redirect("accounts:login")
        form.add_error("code", WRONG_CODE)
    context = {"form": form, "codes_left": secondfactor.recovery_codes_left(request.user)}
    return render(request, "accounts/recovery_codes.html", context)


@require_POST
def replace_authenticator_view(request: HttpRequest) -> HttpResponse:
    form = CodeForm(request.POST)
    if form.is_valid() and actions.replace_authenticator(request, form.cleaned_data["code"]):
        messages.info(request, "Add your new authenticator app now.")
        return redirect("accounts:enrol")
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    messages.error(request, f"The authenticator was not replaced. {WRONG_CODE}")
    return redirect("accounts:account")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, through ``actions.change_password`` (key re-wrapping hook)."""

    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:account")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        actions.change_password(
            self.request,
            form.user,
            form.cleaned_data["old_password"],
            form.cleaned_data["new_password1"],
        )
        messages.success(self.request, "Your password has been changed.")
        return HttpResponseRedirect(self.get_success_url())

    def form_invalid(self, form: PasswordChangeForm) -> HttpResponse:
        if "old_password" in form.errors and actions.record_wrong_old_password(self.request):
            return redirect("accounts:login")
        return super().form_invalid(form)


password_change_view = PasswordChangeView.as_view()

logout_view = public(auth_views.LogoutView.as_view())


# --- members and invitations ------------------------------------------------------------------


@require_http_methods(["GET"])
def members_view(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    return render(request, "accounts/members.html", _members_context(request, organisation))


def _members_context(request: HttpRequest, organisation: Any, **extra: Any) -> dict[str, Any]:
    memberships = list(
        organisation.memberships.select_related("user").order_by("user__username")
    )
    user_ids = [m.user_id for m in memberships]
    enrolled = set(
        TOTPDevice.objects.filter(user_id__in=user_ids, confirmed=True).values_list("user_id", flat=True)
    )
    throttles = {lockout.throttle_key(m.user.get_username()): m.user_id for m in memberships}
    locked = {
        throttles[key]
        for key in LoginThrottle.objects.filter(
            key__in=throttles, locked_until__gt=timezone.now()
        ).values_list("key", flat=True)
    }
    key_states = keys.member_key_states(memberships)
    rows = [
        {
            "membership": m,
            "enrolled": m.user_id in enrolled,
            "locked": m.user_id in locked,
            "is_self": m.user_id == request.user.pk,
            "role_form": RoleForm(initial={"role": m.role}, prefix=f"m{m.pk}"),
            "key": key_states[m.pk],
        }
        for m in memberships
    ]
    pending = Invitation.objects.filter(organisation=organisation).pending().select_related("created_by")
    context = {
        "organisation": organisation,
        "rows": rows,
        "invitations": pending,
        "invite_form": InviteForm(),
        "roles": [(role, ROLE_PERMISSIONS[role.value]) for role in Role],
        "perms": list(Perm),
        "my_key_status": keys.key_status(request, organisation),
    }
    context.update(extra)
    return context


@require_POST
def invite_view(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation, token = actions.invite_member(
                request.user, organisation, form.cleaned_data["role"], form.cleaned_data["days"]
            )
        except AccountsError as error:
            form.add_error(None, str(error))
        else:
            link = request.build_absolute_uri(reverse("accounts:accept-invitation", args=[token]))
            return render(
                request,
                "accounts/invitation_created.html",
                {"organisation": organisation, "invitation": invitation, "link": link},
            )
    context = _members_context(request, organisation, invite_form=form)
    return render(request, "accounts/members.html", context, status=400)


@require_POST
def revoke_invitation_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    actions.revoke_invitation(request.user, access_invitation(organisation, pk))
    messages.success(request, "The invitation was withdrawn; its link no longer works.")
    return redirect("accounts:members", slug=organisation.slug)


@require_POST
def change_role_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    membership = access_membership(organisation, pk)
    form = RoleForm(request.POST, prefix=f"m{membership.pk}")
    if not form.is_valid():
        messages.error(request, "Choose one of the roles offered.")
    else:
        try:
            actions.change_role(request.user, membership, form.cleaned_data["role"])
        except AccountsError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, f"{membership.user.get_username()} is now {Role(form.cleaned_data['role']).label}."
            )
    return redirect("accounts:members", slug=organisation.slug)


@require_http_methods(["GET", "POST"])
def remove_member_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    membership = access_membership(organisation, pk)
    if request.method == "POST":
        try:
            actions.remove_member(request.user, membership)
        except AccountsError as error:
            messages.error(request, str(error))
            return redirect("accounts:members", slug=organisation.slug)
        if membership.user_id == request.user.pk:
            return redirect("accounts:login")  # removed themselves: signed out
        messages.success(
            request,
            f"{membership.user.get_username()} was removed from {organisation}; "
            "their sessions have ended.",
        )
        return redirect("accounts:members", slug=organisation.slug)
    return render(
        request, "accounts/member_remove.html", {"organisation": organisation, "membership": membership}
    )


@require_POST
def unlock_member_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    membership = access_membership(organisation, pk)
    actions.unlock_member(request.user, membership)
    messages.success(request, f"Sign-in for {membership.user.get_username()} is unlocked.")
    return redirect("accounts:members", slug=organisation.slug)


@public
@require_http_methods(["GET", "POST"])
def accept_invitation_view(request: HttpRequest, token: str) -> HttpResponse:
    """Join an organisation: create an account, or add the invitation to a signed-in one."""
    invitation = actions.find_invitation(token)
    if invitation is None:
        return render(
            request, "accounts/invitation_invalid.html", {"message": actions.INVALID_INVITATION},
            status=404,
        )
    user = request.user
    signed_in = secondfactor.is_verified(user)
    half_signed_in = user.is_authenticated and not signed_in
    form = NewAccountForm(request.POST or None) if not user.is_authenticated else None
    error = None
    if request.method == "POST" and signed_in:
        try:
            actions.join_with_invitation(user, token)
        except AccountsError as exc:
            error = str(exc)
        else:
            messages.success(request, f"You are now a member of {invitation.organisation}.")
            return redirect("accounts:account")
    elif request.method == "POST" and form is not None and form.is_valid():
        try:
            actions.accept_invitation(
                request, token, form.cleaned_data["username"], form.cleaned_data["password1"]
            )
        except AccountsError as exc:
            form.add_error(None, str(exc))
        else:
            if invitation.role == Role.ADMINISTRATOR and not OrganisationKey.objects.filter(
                organisation_id=invitation.organisation_id
            ).exists():
                # The first administrator: after the second factor, set up the organisation key.
                key_page = reverse("accounts:org-key", args=[invitation.organisation.slug])
                return HttpResponseRedirect(_with_next("accounts:enrol", key_page))
            return redirect("accounts:enrol")
    context = {
        "invitation": invitation,
        "form": form,
        "signed_in": signed_in,
        "half_signed_in": half_signed_in,
        "error": error,
    }
    return render(request, "accounts/accept_invitation.html", context)


# --- organisation keys (tnr.accounts.keys, docs/keys.md) --------------------------------------


@require_http_methods(["GET"])
def org_key_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The organisation key: set it up, see who has access, make a new recovery key."""
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    org_key = OrganisationKey.objects.filter(organisation=organisation).select_related("created_by").first()
    memberships = list(organisation.memberships.select_related("user").order_by("user__username"))
    states = keys.member_key_states(memberships)
    context = {
        "organisation": organisation,
        "org_key": org_key,
        "fingerprint": keys.fingerprint(org_key.public_key) if org_key else "",
        "my_key_status": keys.key_status(request, organisation),
        "granted": [m for m in memberships if states[m.pk].state == "granted"],
        "waiting": [m for m in memberships if states[m.pk].state in {"not_granted", "no_personal_key"}],
    }
    return render(request, "accounts/org_key.html", context)


@require_POST
def org_key_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    try:
        recovery_key = keys.create_organisation_keys(organisation, request.user, request=request)
    except keys.KeysError as error:
        messages.error(request, str(error))
        return redirect("accounts:org-key", slug=organisation.slug)
    return _show_recovery_key(request, organisation, recovery_key, first=True)


@require_POST
def recovery_key_renew_view(request: HttpRequest, slug: str) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    try:
        recovery_key = keys.renew_recovery_key(request, organisation)
    except keys.KeysError as error:
        messages.error(request, str(error))
        return redirect("accounts:org-key", slug=organisation.slug)
    return _show_recovery_key(request, organisation, recovery_key, first=False)


def _show_recovery_key(request: HttpRequest, organisation: Any, recovery_key: str, *, first: bool) -> HttpResponse:
    """The recovery key, shown this once (the page is never cached: no-store for signed-in users)."""
    context = {"organisation": organisation, "recovery_key": recovery_key, "first": first}
    return render(request, "accounts/recovery_key.html", context)


@require_POST
def grant_access_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    organisation = access_organisation(request.user, slug, Perm.MANAGE_MEMBERS)
    membership = access_membership(organisation, pk)
    try:
        keys.grant_access(request, membership)
    except keys.KeysError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request, f"{membership.user.get_username()} can now read sealed data of {organisation} "
            "(from their next sign-in)."
        )
    return redirect("accounts:members", slug=organisation.slug)


@public
@sensitive_post_parameters("recovery_key", "code", "password1", "password2")
@require_http_methods(["GET", "POST"])
def recover_view(request: HttpRequest) -> HttpResponse:
    """Lost password: a member sets a new one with the organisation's recovery key and their
    second factor. Obeys the sign-in lockout."""
    form = RecoverForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        result = keys.recover_account(data["username"], data["recovery_key"], data["code"], data["password1"])
        if result.outcome is keys.RecoveryOutcome.OK:
            messages.success(
                request, "Your new password is set. Sign in with it: your access to sealed data "
                f"of {result.organisation} is restored.",
            )
            return redirect("accounts:login")
        if result.outcome is keys.RecoveryOutcome.LOCKED:
            form.add_error(None, locked_message(_minutes(result.lock)))
        else:
            form.add_error(None, result.message)
    context = {"form": form, "without_key": keys.NO_RECOVERY_WITHOUT_KEY}
    return render(request, "accounts/recover.html", context, status=400 if form.errors else 200)

"""The vocabulary of the permission matrix (tests/test_permission_matrix.py): personas, expected
outcomes, one matrix case per URL, and the world of objects the cases open.

Personas, for objects that belong to Alpha Watch (healthchecks' alice/bob/charlie, widened to
every role, because the answer differs by role):

    ada      administrator of Alpha Watch      the owner of member, key and audit pages
    alice    caseworker of Alpha Watch         the owner of records (change, identities)
    bob      analyst of Alpha Watch            a colleague in a read-only role
    pat      partner of Alpha Watch            a colleague who sees shared records only
    charlie  administrator of Beta Monitor     the outsider, with every permission in his own
                                               organisation, so a refusal is about the
                                               organisation and never about his role
    nomad    signed in, member of nothing
    root     Django superuser, member of nothing (grants nothing on the staff pages)
    anon     not signed in

and, for the Django admin only, ``stan`` and ``stella``: staff users (not superusers) with
every admin *view* permission, administrators of Alpha Watch and Beta Monitor respectively.

Every signed-in persona has signed in through the real password step with a verified second
factor (``tests.accounts.keyhelpers.sign_in``, which, unlike ``login_verified``, also unlocks
the organisation key into ada's session, so the key pages can succeed for their owner). A
session without the second factor is refused everywhere: ``tests/accounts/test_gate.py``
proves that for every route.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice

from tests.accounts.helpers import add_authenticator
from tests.accounts.keyhelpers import set_up_keys, sign_in
from tests.factories import PASSWORD, make_incident, make_org, make_user
from tnr.accounts import actions as account_actions
from tnr.accounts import keys, lockout
from tnr.accounts.models import Membership, Role
from tnr.cases import actions as directory_actions
from tnr.cases.csvformat import COLUMNS
from tnr.cases.rules import MechanismData
from tnr.core import audit
from tnr.core.choices import AuditAction
from tnr.core.models import AuditChain
from tnr.records import choices as c

PERSONAS = ("ada", "alice", "bob", "pat", "charlie", "nomad", "root", "anon")
ADMIN_PERSONAS = ("anon", "ada", "root", "stan", "stella")

# Distinctive strings: a restricted queryset is checked by what a page shows and hides.
ALPHA_INTERNAL = "Alpha internal incident 7Q"
ALPHA_SHARED = "Alpha partner-shared incident 3K"
BETA_INTERNAL = "Beta internal incident 9Z"
ALPHA_AUDIT = "Alpha audit marker 5W"
BETA_AUDIT = "Beta audit marker 2M"
ALPHA_REPORT = "Alpha report narrative 8R"
REPORT_UID = "matrixReport8R"  # fixed, so that list pages can be checked for it
TARGET = "tess"  # the member of Alpha Watch whom the member pages act on
NEW_PASSWORD = "harbour-violet-comet-83"


# --- outcomes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one persona gets from one request.

    ``to`` is the URL name a redirect must lead to (with ``to_args`` from the world), query
    string ignored. ``refused`` outcomes must leave the case's snapshot unchanged;
    ``changes`` outcomes must change it (which also proves the snapshot sees the change).
    ``contains``/``lacks`` check the body of an allowed page (restricted querysets).
    """

    status: int
    to: str | None = None
    to_args: Callable[[World], list[Any]] | None = None
    refused: bool = False
    changes: bool = False
    contains: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()

    def having(self, *, contains: tuple[str, ...] = (), lacks: tuple[str, ...] = ()) -> Outcome:
        return replace(self, contains=contains, lacks=lacks)

    @property
    def changed(self) -> Outcome:
        return replace(self, changes=True)

    def __str__(self) -> str:
        return f"{self.status}→{self.to}" if self.to else str(self.status)


OK = Outcome(200)
BAD = Outcome(400)  # the form is refused for its content (the persona may use the page)
F403 = Outcome(403, refused=True)
N404 = Outcome(404, refused=True)  # also for another organisation's objects: existence not revealed
LOGIN = Outcome(302, "accounts:login", refused=True)
ADMIN_LOGIN = Outcome(302, "admin:login", refused=True)  # the admin's own refusal (then 403)
ADMIN_MISSING = Outcome(302, "admin:index", refused=True)  # "doesn't exist" (not in the queryset)


def done(name: str, args: Callable[[World], list[Any]] | None = None) -> Outcome:
    """A redirect to a success page."""
    return Outcome(302, name, args)


def row(
    ada: Outcome, alice: Outcome, bob: Outcome, pat: Outcome, charlie: Outcome, nomad: Outcome,
    root: Outcome, anon: Outcome = LOGIN,
) -> dict[str, Outcome]:
    """One method's expectations, in the column order of the matrix (every persona, always)."""
    return dict(zip(PERSONAS, (ada, alice, bob, pat, charlie, nomad, root, anon), strict=True))


def same(outcome: Outcome, anon: Outcome = LOGIN) -> dict[str, Outcome]:
    """Every signed-in persona gets ``outcome`` (their own account's pages)."""
    return row(*([outcome] * 7), anon=anon)


# --- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One URL pattern (``url``: its namespaced name, or a literal path for unnamed ones) with
    the objects it is opened with, and per method the outcome for every persona."""

    url: str
    get: Mapping[str, Outcome] | None = None
    post: Mapping[str, Outcome] | None = None
    args: Callable[[World], list[Any]] = lambda w: []
    data: Callable[[World, str], dict[str, Any]] = lambda w, persona: {}
    snapshot: Callable[[World], Any] | None = None  # what a refused POST must leave alone
    prepare: Callable[[World], None] | None = None  # runs inside the test's transaction
    variant: str = ""

    @property
    def id(self) -> str:
        return f"{self.url}[{self.variant}]" if self.variant else self.url

    def methods(self) -> dict[str, Mapping[str, Outcome]]:
        return {m: table for m, table in (("get", self.get), ("post", self.post)) if table is not None}

    def path(self, world: World) -> str:
        return self.url if self.url.startswith("/") else reverse(self.url, args=self.args(world))


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    """Objects every case can open; built once per module, each test rolls its changes back."""

    users: dict[str, Any] = field(default_factory=dict)
    alpha: Any = None
    beta: Any = None
    incident: Any = None  # Alpha Watch, internal, high sensitivity
    shared: Any = None  # Alpha Watch, shared with partners
    beta_incident: Any = None
    person: Any = None  # a target of ``incident``
    target: Any = None  # tess's membership of Alpha Watch
    invitation: Any = None
    token: str = ""
    mechanism: Any = None  # active directory entry
    inactive: Any = None  # deactivated directory entry
    alpha_entry: Any = None  # an audit entry of Alpha Watch
    report: Any = None  # a sealed report to Alpha Watch, with one file
    group: Any = None
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # signed-in sessions


def mechanism_form(name: str) -> dict[str, Any]:
    return {
        "name": name, "kind": "legal_aid", "needs": ["legal"], "countries": ["DE"],
        "profiles": ["journalist"], "languages": "en", "website": "https://example.org/",
        "safe_contact": "Use the form on their website", "notes": "", "last_verified": "2026-01-05",
        "verification_note": "Checked their website", "source": "Their website", "active": "on",
    }


def directory_csv() -> SimpleUploadedFile:
    """A one-row directory import (a fresh file object for every request)."""
    values = {"name": "Matrix Imported Desk", "kind": "legal_aid", "needs": "legal", "countries": "worldwide",
              "profiles": "any", "website": "https://example.org/", "source": "Their website", "active": "true"}  # fmt: skip
    out = io.StringIO()
    out.write(",".join(COLUMNS) + "\n")
    out.write(",".join(values.get(column, "") for column in COLUMNS) + "\n")
    return SimpleUploadedFile("directory.csv", out.getvalue().encode(), content_type="text/csv")


def _mechanism(name: str) -> Any:
    return directory_actions.create_mechanism(
        MechanismData(name=name, kind="legal_aid", needs=("legal",), worldwide=True, any_profile=True,
                      website="https://example.org/", source="Test fixture")
    )


def _report(organisation: Any) -> Any:
    """A report to ``organisation`` with one small text file (only ada holds the key)."""
    import hashlib

    from tnr.reporting import actions as reporting_actions
    from tnr.reporting.files import CheckedFile
    from tnr.reporting.models import Intake

    Intake.objects.create(organisation=organisation)
    text = b"evidence"
    digest = hashlib.sha256(text).hexdigest()
    note = CheckedFile(name="note.txt", media_type="text/plain", size=len(text), sha256=digest,
                       original=text, working=text, working_sha256=digest, stripped=())
    answers = {"what": {"tactics": ["coercion_by_proxy"], "narrative": ALPHA_REPORT},
               "when": {"precision": "year", "year": 2024}}
    report = reporting_actions.submit_report(
        organisation, answers, language="en", consent_sharing="organisation",
        consent_referral=False, consent_statistics=False, files=[note],
    ).report
    report.uid = REPORT_UID
    report.save(update_fields=["uid"])
    return report


def build_world() -> World:
    w = World()
    w.alpha, w.beta = make_org("Alpha Watch"), make_org("Beta Monitor")
    u = w.users
    u["ada"] = make_user("ada", w.alpha, Role.ADMINISTRATOR)
    u["alice"] = make_user("alice", w.alpha, Role.CASEWORKER)
    u["bob"] = make_user("bob", w.alpha, Role.ANALYST)
    u["pat"] = make_user("pat", w.alpha, Role.PARTNER)
    u["charlie"] = make_user("charlie", w.beta, Role.ADMINISTRATOR)
    u["nomad"] = make_user("nomad")
    u["root"] = make_user("root", is_superuser=True, is_staff=True)
    u["stan"] = make_user("stan", w.alpha, Role.ADMINISTRATOR, is_staff=True)
    u["stella"] = make_user("stella", w.beta, Role.ADMINISTRATOR, is_staff=True)
    view_all = Permission.objects.filter(codename__startswith="view_")
    for name in ("stan", "stella"):
        u[name].user_permissions.set(view_all)
    for user in u.values():
        add_authenticator(user)
    StaticDevice.objects.create(user=u["ada"], name="backup", confirmed=True)
    w.group = Group.objects.create(name="helpdesk")

    tess = make_user(TARGET, w.alpha, Role.CASEWORKER)
    w.target = Membership.objects.get(user=tess, organisation=w.alpha)
    set_up_keys(w.alpha, u["ada"])  # Alpha Watch has its key; ada holds a copy
    keys.make_user_key(tess, PASSWORD)  # ready for a grant; no copy of the key yet
    for _ in range(lockout.MAX_FAILURES):
        lockout.record_failure(TARGET)  # locked: something for "unlock" to lift

    w.incident = make_incident(w.alpha, title=ALPHA_INTERNAL, sharing=c.Sharing.INTERNAL,
                               sensitivity=c.Sensitivity.HIGH)  # fmt: skip
    w.shared = make_incident(w.alpha, title=ALPHA_SHARED, sharing=c.Sharing.PARTNERS)
    w.beta_incident = make_incident(w.beta, title=BETA_INTERNAL, sharing=c.Sharing.INTERNAL)
    w.person = w.incident.acts.get().target
    w.invitation, w.token = account_actions.invite_member(u["ada"], w.alpha, Role.ANALYST, 3)
    w.mechanism = _mechanism("Matrix Legal Desk")
    w.inactive = _mechanism("Matrix Closed Desk")
    directory_actions.set_mechanism_active(w.inactive, False)
    w.alpha_entry = audit.record(u["ada"], AuditAction.CHANGE, organisation=w.alpha, summary=ALPHA_AUDIT)
    w.report = _report(w.alpha)
    audit.record(u["charlie"], AuditAction.CHANGE, organisation=w.beta, summary=BETA_AUDIT)
    # Each persona signs in once, through the real password step (which unlocks the
    # organisation keys it may hold into the session) and with a verified second factor;
    # every test then reuses the session (its own changes to it are rolled back).
    for name, user in u.items():
        client = Client()
        sign_in(client, user)
        w.cookies[name] = {key: morsel.value for key, morsel in client.cookies.items()}
    return w


def client_for(world: World, persona: str) -> Client:
    """A client signed in as ``persona`` (no one for ``anon``), second factor verified."""
    client = Client()
    for key, value in world.cookies.get(persona, {}).items():
        client.cookies[key] = value
    return client


def body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# Objects the admin pages are opened with, by model label: every registered model needs one.
ADMIN_OBJECTS: dict[str, Callable[[World], Any]] = {
    "auth.group": lambda w: w.group.pk,
    "auth.user": lambda w: w.users["ada"].pk,
    "otp_totp.totpdevice": lambda w: add_authenticator(w.users["ada"]).pk,
    "otp_static.staticdevice": lambda w: StaticDevice.objects.filter(user=w.users["ada"]).first().pk,
    "core.auditentry": lambda w: w.alpha_entry.pk,
    "core.auditchain": lambda w: AuditChain.objects.get(organisation_id=w.alpha.pk).pk,
    "accounts.organisation": lambda w: w.alpha.pk,
    "accounts.membership": lambda w: w.target.pk,
    "accounts.invitation": lambda w: w.invitation.pk,
    "accounts.loginthrottle": lambda w: lockout.throttle_key(TARGET),
    "taxonomy.tactic": lambda w: w.incident.acts.get().primary_tactic_id,
    "taxonomy.actortype": lambda w: w.incident.acts.get().involvements.get().actor.type_id,
    "taxonomy.targetcategory": lambda w: _first("taxonomy", "TargetCategory"),
    "taxonomy.outcome": lambda w: _first("taxonomy", "Outcome"),
    "taxonomy.locationtype": lambda w: _first("taxonomy", "LocationType"),
    "taxonomy.sourcetype": lambda w: w.incident.sources.get().type_id,
    "taxonomy.country": lambda w: "DE",
    "taxonomy.vocabularyversion": lambda w: _first("taxonomy", "VocabularyVersion"),
    "records.incident": lambda w: w.incident.pk,
    "records.act": lambda w: w.incident.acts.get().pk,
    "records.person": lambda w: w.person.pk,
    "records.actor": lambda w: w.incident.acts.get().involvements.get().actor_id,
    "records.source": lambda w: w.incident.sources.get().pk,
    "cases.protectionmechanism": lambda w: w.mechanism.pk,
}


def _first(app: str, model: str) -> Any:
    return apps.get_model(app, model).objects.order_by("pk").values_list("pk", flat=True)[0]

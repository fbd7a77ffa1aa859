"""Every staff URL, tried as every persona: the permission matrix (issue 3, item 3).

``MATRIX`` holds one or more cases per URL pattern of the project. A case opens the URL with
real objects of Alpha Watch and declares, for each method the view supports, what each
persona gets (personas and outcomes: tests/permission_cases.py). Read a row left to right:

    ada (administrator A) · alice (caseworker A) · bob (analyst A) · pat (partner A) ·
    charlie (administrator B, the outsider) · nomad (member of nothing) · root (superuser) ·
    anon (not signed in)

The tests fail when

* a URL pattern exists that has no case here (a new endpoint must be added, on purpose), or
  a case names a pattern that no longer exists;
* a persona gets anything else than the table says (403 for a member whose role may not,
  404 for an object of another organisation, so that existence is not revealed);
* a refused POST, or any GET, changed anything (each mutating case has a snapshot of what it
  acts on, and the owner's successful POST must change that same snapshot, which proves it
  looks at the right thing);
* a method the case does not declare is accepted (GET or POST: must be 405);
* a registered Django admin model has no entry in ``ADMIN_OBJECTS``.

Signed-in personas all have a verified second factor. That a session past the password step
but *without* the second factor is sent away from every route (and the admin) is proved by
tests/accounts/test_gate.py, which walks the same URLconf; it is not repeated here.

The objects are built, and every persona signed in, once per module (``world``); each test
runs in its own transaction inside, rolled back at its end, so each test is one request.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.db import transaction
from django.urls import get_resolver, reverse

from tests.accounts.helpers import add_authenticator, totp_code
from tests.accounts.test_gate import walk
from tests.factories import PASSWORD
from tests.permission_cases import (
    ADMIN_LOGIN,
    ADMIN_MISSING,
    ADMIN_OBJECTS,
    ADMIN_PERSONAS,
    ALPHA_AUDIT,
    ALPHA_INTERNAL,
    ALPHA_REPORT,
    ALPHA_SHARED,
    BAD,
    BETA_AUDIT,
    BETA_INTERNAL,
    F403,
    LOGIN,
    N404,
    NEW_PASSWORD,
    OK,
    PERSONAS,
    REPORT_UID,
    TARGET,
    Case,
    Outcome,
    World,
    body,
    build_world,
    client_for,
    directory_csv,
    done,
    mechanism_form,
    row,
    same,
)
from tnr.accounts import lockout
from tnr.accounts.models import Invitation, LoginThrottle, MemberKey, Membership, OrganisationKey
from tnr.analytics.models import LinkagePair, LinkageRun, PairDecision
from tnr.cases.models import ProtectionMechanism
from tnr.records.models import Incident, Person
from tnr.reporting.models import Intake, Report, ReportMessage

pytestmark = pytest.mark.django_db


def members_page(w: World) -> list[str]:
    return [w.alpha.slug]


def on_member(w: World) -> list[object]:
    return [w.alpha.slug, w.target.pk]


def beta_slug_alpha_member(w: World) -> list[object]:
    """Charlie's own organisation in the URL, Alpha's member as the object: must be 404."""
    return [w.beta.slug, w.target.pk]


def code_of(w: World, persona: str) -> dict[str, str]:
    """A current code of the persona's own authenticator."""
    return {"code": totp_code(add_authenticator(w.users[persona])) if persona != "anon" else "000000"}


def role_of_target(w: World) -> object:
    return Membership.objects.filter(pk=w.target.pk).values_list("role", flat=True).first()


def target_lock(w: World) -> object:
    return LoginThrottle.objects.filter(key=lockout.throttle_key(TARGET)).values_list("locked_until", flat=True).first()


def target_key(w: World) -> bool:
    return MemberKey.objects.filter(membership_id=w.target.pk).exists()


def invitation_state(w: World) -> object:
    return Invitation.objects.filter(pk=w.invitation.pk).values_list("revoked_at", flat=True).get()


def mechanism_state(w: World) -> object:
    return ProtectionMechanism.objects.filter(pk=w.mechanism.pk).values_list("name", "active").get()


def on_report(w: World) -> list[object]:
    return [w.report.uid]


def report_post() -> dict[str, Outcome]:
    """A change to a report: caseworkers and administrators of its organisation (no key needed,
    since replies are sealed to the report's public key); everybody else never sees it."""
    success = done("reporting_staff:detail", on_report).changed
    return row(success, success, N404, N404, N404, N404, N404)


def drop_alpha_key(w: World) -> None:
    MemberKey.objects.filter(membership__organisation=w.alpha).delete()
    OrganisationKey.objects.filter(organisation=w.alpha).delete()


LINKAGE_RUN = "5e1f0c3a-7d2b-4c1e-9a6f-3b8d2e4f6a10"  # an Alpha linkage run made by ``linkage_run``


def linkage_run(w: World) -> None:
    """An Alpha linkage run with one uncertain pair (the internal and the shared incident)."""
    run = LinkageRun.objects.create(uid=LINKAGE_RUN, organisation=w.alpha, status="done", match_threshold=0.99,
                                    review_threshold=0.8, n_records=2, n_pairs=1, n_uncertain=1)  # fmt: skip
    left, right = sorted((w.incident.pk, w.shared.pk))
    w.linkage_pair = LinkagePair.objects.create(run=run, left_id=left, right_id=right, probability=0.9)


def on_linkage_pair(w: World) -> list[object]:
    return [LINKAGE_RUN, w.linkage_pair.pk]


def latest_linkage_run(w: World) -> list[object]:
    return [LinkageRun.objects.filter(organisation=w.alpha).latest("id").uid]


# Rows read left to right as the columns of the matrix; anon always gets LOGIN unless given.
#                    ada   alice  bob   pat   charlie nomad root
ORG_ADMIN_PAGE = row(OK,   F403,  F403, F403, N404,   N404, N404)
# The directory is the installation's, not an organisation's: any member searches it; any
# organisation's administrator (charlie included) and the superuser maintain it.
DIRECTORY_READ = row(OK,   OK,    OK,   OK,   OK,     F403, OK)
DIRECTORY_EDIT = row(OK,   F403,  F403, F403, OK,     F403, OK)
NOWHERE = row(N404, N404, N404, N404, N404, N404, N404)  # another organisation's slug in the URL


def org_admin_post(success: Outcome) -> dict[str, Outcome]:
    return row(success.changed, F403, F403, F403, N404, N404, N404)


def directory_post(success: Outcome) -> dict[str, Outcome]:
    return row(success.changed, F403, F403, F403, success.changed, F403, success.changed)


MANAGE = done("cases:directory-manage")
MEMBERS = done("accounts:members", members_page)

MATRIX: list[Case] = [
    # --- records ----------------------------------------------------------------------------
    Case("/", get=same(done("records:incident-list")), post=same(done("records:incident-list"))),
    Case(
        "records:incident-list",
        # A restricted queryset: each persona's list shows exactly what they may see.
        get=row(
            OK.having(contains=(ALPHA_INTERNAL, ALPHA_SHARED), lacks=(BETA_INTERNAL,)),
            OK.having(contains=(ALPHA_INTERNAL, ALPHA_SHARED), lacks=(BETA_INTERNAL,)),
            OK.having(contains=(ALPHA_INTERNAL, ALPHA_SHARED), lacks=(BETA_INTERNAL,)),
            OK.having(contains=(ALPHA_SHARED,), lacks=(ALPHA_INTERNAL, BETA_INTERNAL)),
            OK.having(contains=(BETA_INTERNAL,), lacks=(ALPHA_INTERNAL, ALPHA_SHARED)),
            OK.having(lacks=(ALPHA_INTERNAL, ALPHA_SHARED, BETA_INTERNAL)),
            OK.having(lacks=(ALPHA_INTERNAL, ALPHA_SHARED, BETA_INTERNAL)),
        ),
    ),
    Case(
        "records:incident-detail",
        variant="internal",
        args=lambda w: [w.incident.uid],
        get=row(OK.having(contains=(ALPHA_INTERNAL,)), OK, OK, N404, N404, N404, N404),
    ),
    Case(
        "records:incident-detail",
        variant="shared with partners",
        args=lambda w: [w.shared.uid],
        get=row(OK, OK, OK, OK.having(contains=(ALPHA_SHARED,)), N404, N404, N404),
    ),
    Case(
        "records:person-identity",
        args=lambda w: [w.person.pk],
        get=row(OK, OK, F403, N404, N404, N404, N404),
        post=row(
            done("records:person-identity", lambda w: [w.person.pk]).changed,
            done("records:person-identity", lambda w: [w.person.pk]).changed,
            F403, N404, N404, N404, N404,
        ),
        data=lambda w, p: {"name": "Matrix Person", "aliases": "", "contact": ""},
        snapshot=lambda w: bytes(Person.objects.get(pk=w.person.pk).identity_sealed or b""),
    ),
    # --- the signed-in user's own account ------------------------------------------------------
    Case("accounts:account", get=same(OK)),
    Case(
        "accounts:login",
        get=same(OK, anon=OK),
        post=same(OK, anon=OK),  # a wrong password: the form again, with a message
        data=lambda w, p: {"username": p, "password": "not-the-password-1"},
    ),
    Case(
        "accounts:verify",  # already verified: sent on
        get=same(done("records:incident-list")),
        post=same(done("records:incident-list")),
        data=lambda w, p: {"code": "000000"},
    ),
    Case("accounts:enrol", get=same(done("accounts:account")), post=same(done("accounts:account"))),
    Case("accounts:logout", post=same(done("accounts:login"), anon=done("accounts:login"))),
    Case("accounts:recovery-codes", get=same(OK), post=same(OK), data=code_of),
    Case("accounts:replace-authenticator", post=same(done("accounts:enrol")), data=code_of),
    Case(
        "accounts:password-change",
        get=same(OK),
        post=same(done("accounts:account")),
        data=lambda w, p: {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    ),
    Case(
        "accounts:recover",
        get=same(OK, anon=OK),
        post=same(BAD, anon=BAD),
        data=lambda w, p: {"username": p, "recovery_key": "not a key", "code": "000000",
                           "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    ),
    Case(
        "accounts:accept-invitation",
        # The link is the capability: whoever holds it may join (members of Alpha already are).
        args=lambda w: [w.token],
        get=same(OK, anon=OK),
        post=row(OK, OK, OK, OK, done("accounts:account").changed, done("accounts:account").changed,
                 done("accounts:account").changed, anon=done("accounts:enrol").changed),
        data=lambda w, p: {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        snapshot=lambda w: Membership.objects.filter(organisation=w.alpha).count(),
    ),
    # --- members and invitations (administrators of the organisation) ----------------------------
    Case(
        "accounts:members",
        args=members_page,
        get=row(OK.having(contains=(TARGET,)), F403, F403, F403, N404, N404, N404),
    ),
    Case(
        "accounts:invite",
        args=members_page,
        post=org_admin_post(OK),
        data=lambda w, p: {"role": "analyst", "days": "3"},
        snapshot=lambda w: Invitation.objects.filter(organisation=w.alpha).count(),
    ),
    Case(
        "accounts:revoke-invitation",
        args=lambda w: [w.alpha.slug, w.invitation.pk],
        post=org_admin_post(MEMBERS),
        snapshot=invitation_state,
    ),
    Case(
        "accounts:revoke-invitation",
        variant="other organisation's slug",
        args=lambda w: [w.beta.slug, w.invitation.pk],
        post=NOWHERE,
        snapshot=invitation_state,
    ),
    Case(
        "accounts:change-role",
        args=on_member,
        post=org_admin_post(MEMBERS),
        data=lambda w, p: {f"m{w.target.pk}-role": "analyst"},
        snapshot=role_of_target,
    ),
    Case(
        "accounts:change-role",
        variant="other organisation's slug",
        args=beta_slug_alpha_member,
        post=NOWHERE,
        data=lambda w, p: {f"m{w.target.pk}-role": "analyst"},
        snapshot=role_of_target,
    ),
    Case(
        "accounts:remove-member",
        args=on_member,
        get=ORG_ADMIN_PAGE,
        post=org_admin_post(MEMBERS),
        snapshot=lambda w: Membership.objects.filter(pk=w.target.pk).exists(),
    ),
    Case(
        "accounts:remove-member",
        variant="other organisation's slug",
        args=beta_slug_alpha_member,
        get=NOWHERE,
        post=NOWHERE,
        snapshot=lambda w: Membership.objects.filter(pk=w.target.pk).exists(),
    ),
    Case("accounts:unlock-member", args=on_member, post=org_admin_post(MEMBERS), snapshot=target_lock),
    Case(
        "accounts:unlock-member",
        variant="other organisation's slug",
        args=beta_slug_alpha_member,
        post=NOWHERE,
        snapshot=target_lock,
    ),
    Case(
        "accounts:grant-access",
        args=on_member,
        post=org_admin_post(MEMBERS),
        snapshot=target_key,
    ),
    Case(
        "accounts:grant-access",
        variant="other organisation's slug",
        args=beta_slug_alpha_member,
        post=NOWHERE,
        snapshot=target_key,
    ),
    # --- organisation keys ---------------------------------------------------------------------
    Case("accounts:org-key", args=members_page, get=ORG_ADMIN_PAGE),
    Case(
        "accounts:org-key-create",
        args=members_page,
        prepare=drop_alpha_key,  # an organisation that has no key yet
        post=org_admin_post(OK),
        snapshot=lambda w: OrganisationKey.objects.filter(organisation=w.alpha).exists(),
    ),
    Case(
        "accounts:recovery-key-renew",
        args=members_page,
        post=org_admin_post(OK),
        snapshot=lambda w: bytes(OrganisationKey.objects.get(organisation=w.alpha).recovery_wrapped),
    ),
    # --- protection mechanisms directory -------------------------------------------------------
    Case("cases:directory-search", get=DIRECTORY_READ),
    Case("cases:directory-manage", get=DIRECTORY_EDIT),
    Case(
        "cases:mechanism-create",
        get=DIRECTORY_EDIT,
        post=directory_post(MANAGE),
        data=lambda w, p: mechanism_form("Matrix New Desk"),
        snapshot=lambda w: ProtectionMechanism.objects.count(),
    ),
    Case(
        "cases:mechanism-edit",
        args=lambda w: [w.mechanism.pk],
        get=DIRECTORY_EDIT,
        post=directory_post(MANAGE),
        data=lambda w, p: mechanism_form("Matrix Renamed Desk"),
        snapshot=mechanism_state,
    ),
    Case(
        "cases:mechanism-deactivate",
        args=lambda w: [w.mechanism.pk],
        post=directory_post(MANAGE),
        snapshot=mechanism_state,
    ),
    Case(
        "cases:mechanism-reactivate",
        args=lambda w: [w.inactive.pk],
        post=directory_post(MANAGE),
        snapshot=lambda w: ProtectionMechanism.objects.get(pk=w.inactive.pk).active,
    ),
    Case(
        "cases:directory-import",
        get=DIRECTORY_EDIT,
        post=directory_post(MANAGE),
        data=lambda w, p: {"file": directory_csv()},
        snapshot=lambda w: ProtectionMechanism.objects.count(),
    ),
    Case("cases:directory-export", get=DIRECTORY_EDIT),
    # --- audit log (administrators, each of their own organisations only) ----------------------
    Case(
        "audit:list",
        get=row(OK.having(contains=(ALPHA_AUDIT,), lacks=(BETA_AUDIT,)), F403, F403, F403,
                OK.having(contains=(BETA_AUDIT,), lacks=(ALPHA_AUDIT,)), F403, F403),
    ),
    Case(
        "audit:export",
        get=row(OK.having(contains=(ALPHA_AUDIT,), lacks=(BETA_AUDIT,)), F403, F403, F403,
                OK.having(contains=(BETA_AUDIT,), lacks=(ALPHA_AUDIT,)), F403, F403),
    ),
    Case(
        "audit:verify",
        post=row(OK.having(contains=("chain-alpha-watch",), lacks=("chain-beta-monitor",)), F403, F403, F403,
                 OK.having(contains=("chain-beta-monitor",), lacks=("chain-alpha-watch",)), F403, F403),
    ),
    # --- triage inbox (caseworkers and administrators; sealed content needs the key) ----------
    # Only ada holds a copy of Alpha's key, so alice may act on a report but is shown the
    # "sealed" page (403) wherever its content would be opened.
    Case(
        "reporting_staff:inbox",
        get=row(OK.having(contains=(REPORT_UID,)), OK.having(contains=(REPORT_UID,)), OK.having(lacks=(REPORT_UID,)),
                OK.having(lacks=(REPORT_UID,)), OK.having(lacks=(REPORT_UID,)), OK.having(lacks=(REPORT_UID,)),
                OK.having(lacks=(REPORT_UID,))),
    ),
    Case(
        "reporting_staff:detail",
        args=on_report,
        get=row(OK.having(contains=(ALPHA_REPORT,)), F403, N404, N404, N404, N404, N404),
    ),
    Case(
        "reporting_staff:reply",
        args=on_report,
        post=report_post(),
        data=lambda w, p: {"text": "Matrix reply"},
        snapshot=lambda w: ReportMessage.objects.filter(report=w.report).count(),
    ),
    Case(
        "reporting_staff:status",
        args=on_report,
        post=report_post(),
        data=lambda w, p: {"status": "in_triage"},
        snapshot=lambda w: Report.objects.filter(pk=w.report.pk).values_list("status", flat=True).get(),
    ),
    Case(
        "reporting_staff:tags",
        args=on_report,
        post=report_post(),
        data=lambda w, p: {"tags": "matrix"},
        snapshot=lambda w: Report.objects.filter(pk=w.report.pk).values_list("tags", flat=True).get(),
    ),
    Case(
        "reporting_staff:derive",
        args=on_report,
        get=row(OK, F403, N404, N404, N404, N404, N404),
        post=row(Outcome(302, "records:incident-detail", lambda w: [Incident.objects.get(external_id="INC-MATRIX").uid],
                         changes=True), F403, N404, N404, N404, N404, N404),
        data=lambda w, p: {"external_id": "INC-MATRIX", "title": "Derived", "start_date": "2024-01-01",
                           "date_precision": "year", "tactics": ["coercion_by_proxy"], "confidence": "possible",
                           "sharing": "internal"},
        snapshot=lambda w: Incident.objects.filter(organisation=w.alpha).count(),
    ),
    Case(
        "reporting_staff:delete",
        args=on_report,
        post=row(done("reporting_staff:inbox").changed, done("reporting_staff:inbox").changed,
                 N404, N404, N404, N404, N404),
        data=lambda w, p: {"confirm": "yes"},
        snapshot=lambda w: Report.objects.filter(pk=w.report.pk).exists(),
    ),
    Case(
        "reporting_staff:file",
        args=lambda w: [w.report.uid, w.report.files.get().pk, "original"],
        get=row(OK, F403, N404, N404, N404, N404, N404),
    ),
    Case(
        "reporting_staff:intake",
        args=members_page,
        get=ORG_ADMIN_PAGE,
        post=org_admin_post(done("reporting_staff:intake", members_page)),
        data=lambda w, p: {"accepting": "", "description": "", "retention_days": "30"},
        snapshot=lambda w: Intake.objects.filter(organisation=w.alpha).values_list("accepting", "retention_days").get(),
    ),
    # --- record linkage (runs: members who see all records; decisions: caseworkers, administrators)
    Case("analytics:run-list", prepare=linkage_run,
         get=row(*[OK.having(contains=(LINKAGE_RUN,))] * 3, *[OK.having(lacks=(LINKAGE_RUN,))] * 4)),
    Case(
        "analytics:run-create",
        post=row(*[Outcome(302, "analytics:run", latest_linkage_run, changes=True)] * 3, F403, N404, N404, N404),
        data=lambda w, p: {"organisation": w.alpha.slug},
        snapshot=lambda w: LinkageRun.objects.filter(organisation=w.alpha).count(),
    ),
    Case("analytics:run", prepare=linkage_run, args=lambda w: [LINKAGE_RUN],
         get=row(OK.having(contains=(ALPHA_INTERNAL,)), OK, OK, N404, N404, N404, N404)),
    Case("analytics:next-pair", prepare=linkage_run, args=lambda w: [LINKAGE_RUN],
         get=row(*[Outcome(302, "analytics:pair", on_linkage_pair)] * 3, N404, N404, N404, N404)),
    Case(
        "analytics:pair",
        prepare=linkage_run,
        args=on_linkage_pair,
        get=row(OK.having(contains=(ALPHA_INTERNAL, ALPHA_SHARED)), OK, OK, N404, N404, N404, N404),
        post=row(*[done("analytics:next-pair", lambda w: [LINKAGE_RUN]).changed] * 2, F403, N404, N404, N404, N404),
        data=lambda w, p: {"decision": "same"},
        snapshot=lambda w: PairDecision.objects.filter(organisation=w.alpha).count(),
    ),
]


# --- completeness ---------------------------------------------------------------------------------


def url_patterns() -> set[str]:
    """Every route's name (a literal path for unnamed ones), the Django admin aside."""
    return {name or "/" + route for route, name, _ in walk(get_resolver().url_patterns)}


def test_every_url_pattern_is_in_the_matrix_and_nothing_else():
    in_matrix = {case.url for case in MATRIX}
    patterns = url_patterns()
    missing, stale = sorted(patterns - in_matrix), sorted(in_matrix - patterns)
    assert not missing, f"URL patterns missing from MATRIX (add a case for each): {missing}"
    assert not stale, f"MATRIX names URL patterns that no longer exist: {stale}"


def test_every_case_declares_every_persona_for_each_method():
    for case in MATRIX:
        assert case.methods(), case.id
        for method, table in case.methods().items():
            assert tuple(table) == PERSONAS, (case.id, method)


def test_every_registered_admin_model_has_an_object_in_the_matrix():
    registered = {model._meta.label_lower for model in admin.site._registry}
    assert not registered - set(ADMIN_OBJECTS), f"add to ADMIN_OBJECTS: {sorted(registered - set(ADMIN_OBJECTS))}"
    assert not set(ADMIN_OBJECTS) - registered, f"no longer registered: {sorted(set(ADMIN_OBJECTS) - registered)}"


# --- the matrix -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The objects, made once; rolled back when the module is done (each test's own changes
    are rolled back after each test, inside this)."""
    outer = transaction.atomic()
    # Marked as Django's TestCase marks its class-wide transaction (setUpTestData): the
    # actions' durable atomic blocks may run inside it, as they do inside each test's.
    outer._from_testcase = True
    with django_db_blocker.unblock(), outer:
        yield build_world()
        transaction.set_rollback(True)


def assert_outcome(response, expected: Outcome, world: World, where: str) -> None:
    assert response.status_code == expected.status, f"{where}: {response.status_code}, expected {expected}"
    if expected.to is not None:
        target = reverse(expected.to, args=expected.to_args(world) if expected.to_args else [])
        assert response["Location"].split("?")[0] == target, f"{where}: to {response['Location']}"
    if expected.contains or expected.lacks:
        text = body(response)
        for marker in expected.contains:
            assert marker in text, f"{where}: {marker!r} missing"
        for marker in expected.lacks:
            assert marker not in text, f"{where}: {marker!r} shown"


MATRIX_PARAMS = [
    pytest.param(case, method, persona, id=f"{case.id}-{method}-{persona}")
    for case in MATRIX
    for method, table in case.methods().items()
    for persona in table
]


@pytest.mark.parametrize(("case", "method", "persona"), MATRIX_PARAMS)
def test_matrix(world, case: Case, method: str, persona: str):
    expected = case.methods()[method][persona]
    if case.prepare:
        case.prepare(world)
    client = client_for(world, persona)
    before = case.snapshot(world) if case.snapshot else None
    url = case.path(world)
    response = client.post(url, case.data(world, persona)) if method == "post" else client.get(url)
    where = f"{persona} {method.upper()} {url}"
    assert_outcome(response, expected, world, where)
    if case.snapshot:
        after = case.snapshot(world)
        if expected.refused or method == "get":  # a GET (a form, a confirmation) changes nothing
            assert after == before, f"{where}: changed {before!r} → {after!r}"
        if expected.changes:
            assert after != before, f"{where}: allowed, but nothing changed ({before!r})"


@pytest.mark.parametrize("case", [c for c in MATRIX if len(c.methods()) < 2], ids=lambda c: c.id)
def test_undeclared_methods_are_refused(world, case: Case):
    """GET and POST are each either in the matrix or answered 405 (to a signed-in owner)."""
    client = client_for(world, "ada")
    for method in {"get", "post"} - set(case.methods()):
        assert getattr(client, method)(case.path(world)).status_code == 405, (case.id, method)


# --- the Django admin -------------------------------------------------------------------------
#
# The admin is the installation operators' tool. Organisation roles are not staff: whatever
# their role, the admin refuses them (its login page then answers 403 to a verified user; its
# own login form is never used). ada, an organisation administrator, stands for every
# organisation role on the model pages; every persona is tried on the index.
#
# Staff users who are not superusers act through Django model permissions; stan and stella
# hold every *view* permission. Record models and the audit log are further narrowed to the
# staff user's own organisations (tnr.records.admin, tnr.core.admin): stella (Beta) must not
# open Alpha's. The other families are the installation's own data and are not narrowed:
# that includes every organisation's memberships and invitations, so a staff user given those
# view permissions sees who works where (the operator's decision; pinned here on purpose).

ORG_SCOPED = {"records.incident", "records.act", "records.person", "records.actor", "records.source",
              "core.auditentry"}  # fmt: skip
SUPERUSER_ONLY = {"core.auditchain"}


def admin_expectations(label: str, page: str) -> dict[str, Outcome]:
    expected = {"anon": LOGIN, "ada": ADMIN_LOGIN, "root": OK, "stan": OK, "stella": OK}
    if label in SUPERUSER_ONLY:
        expected.update(stan=F403, stella=F403)
    elif label in ORG_SCOPED and page == "change":
        expected.update(stella=ADMIN_MISSING)
    return expected


ADMIN_PARAMS = [
    pytest.param(label, page, persona, id=f"admin:{label}-{page}-{persona}")
    for label in sorted(ADMIN_OBJECTS)
    for page in ("changelist", "change")
    for persona in ADMIN_PERSONAS
]


def admin_url(label: str, page: str, world: World) -> str:
    app, model = label.split(".")
    if page == "changelist":
        return reverse(f"admin:{app}_{model}_changelist")
    return reverse(f"admin:{app}_{model}_change", args=[ADMIN_OBJECTS[label](world)])


@pytest.mark.parametrize(("label", "page", "persona"), ADMIN_PARAMS)
def test_admin_matrix(world, label: str, page: str, persona: str):
    expected = admin_expectations(label, page)[persona]
    client = client_for(world, persona)
    url = admin_url(label, page, world)
    response = client.get(url)
    assert_outcome(response, expected, world, f"{persona} GET {url}")
    if label in ORG_SCOPED and page == "changelist" and response.status_code == 200:
        # The changelist of a scoped family lists Alpha's object to Alpha's staff only.
        listed = {obj.pk for obj in response.context["cl"].result_list}
        assert (ADMIN_OBJECTS[label](world) in listed) == (persona in {"root", "stan"}), persona


@pytest.mark.parametrize("persona", [*PERSONAS, "stan", "stella"])
def test_admin_index(world, persona: str):
    expected = {"anon": LOGIN, "root": OK, "stan": OK, "stella": OK}.get(persona, ADMIN_LOGIN)
    assert_outcome(client_for(world, persona).get(reverse("admin:index")), expected, world, persona)


def test_the_admin_login_page_refuses_verified_members_instead_of_asking_for_a_password(world):
    assert client_for(world, "ada").get(reverse("admin:login")).status_code == 403

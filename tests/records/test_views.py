"""Staff incident pages: access, filters, search, pagination, banners and query counts.

Three personas (healthchecks style): alice owns the records (caseworker in Alpha), bob is her
colleague (analyst in Alpha), charlie is an outsider (caseworker in Beta).
"""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from tests.accounts.helpers import add_authenticator, login_verified, next_code
from tests.factories import PASSWORD, make_incident, make_user
from tnr.accounts.models import Role
from tnr.records import choices as c
from tnr.records.queries import access_incident, incidents_for
from tnr.records.views import PAGE_SIZE, SYNTHETIC_NOTICE, display_date

pytestmark = pytest.mark.django_db

LIST = reverse("records:incident-list")


def detail_url(incident) -> str:
    return reverse("records:incident-detail", args=[incident.uid])


@pytest.fixture
def alice_client(client, alice):
    login_verified(client, alice)
    return client


def listed_titles(response) -> set[str]:
    """Titles of the incidents in the result table of a list page."""
    html = response.content.decode()
    return set(re.findall(r'<a href="/incidents/[0-9a-f-]{36}/">([^<]*)</a>', html))


# --- access -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["list", "detail"])
def test_anonymous_is_sent_to_login(client, alpha, name):
    incident = make_incident(alpha)
    url = LIST if name == "list" else detail_url(incident)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))
    assert "next=" in response.url


def test_login_page_and_sign_in(client, alice):
    device = add_authenticator(alice)
    page = client.get(reverse("accounts:login"))
    assert page.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in page.content
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:verify"))  # second factor next
    response = client.post(response.url, {"code": next_code(device)})
    assert response.status_code == 302
    assert response.url == LIST


def test_wrong_password_shows_message(client, alice):
    response = client.post(reverse("accounts:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"error-summary" in response.content


def test_logout_is_a_post_form(alice_client):
    page = alice_client.get(LIST)
    html = page.content.decode()
    assert re.search(r'<form method="post" action="/accounts/logout/"', html)
    response = alice_client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert alice_client.get(LIST).status_code == 302  # signed out


def test_owner_and_colleague_see_their_incidents(client, alpha, beta, alice, bob):
    make_incident(alpha, title="Alpha case")
    make_incident(beta, title="Beta case")
    for user in (alice, bob):
        login_verified(client, user)
        response = client.get(LIST)
        assert response.status_code == 200
        assert listed_titles(response) == {"Alpha case"}
        assert b"1 incident<" in response.content


def test_outsider_sees_nothing_of_another_organisation(client, alpha, charlie):
    incident = make_incident(alpha, title="Alpha case")
    login_verified(client, charlie)
    assert listed_titles(client.get(LIST)) == set()
    assert client.get(detail_url(incident)).status_code == 404


def test_detail_404_looks_the_same_for_missing_and_foreign(client, alpha, charlie):
    foreign = make_incident(alpha)
    login_verified(client, charlie)
    missing = client.get(reverse("records:incident-detail", args=[uuid.uuid4()]))
    hidden = client.get(detail_url(foreign))
    assert missing.status_code == hidden.status_code == 404
    assert missing.content == hidden.content


def test_user_without_membership_sees_nothing(client, alpha):
    make_incident(alpha)
    loner = make_user("loner")
    login_verified(client, loner)
    response = client.get(LIST)
    assert response.status_code == 200
    assert b"0 incidents" in response.content


def test_superuser_gets_no_records_without_membership(client, alpha, django_user_model):
    """Need-to-know: being a superuser does not open every organisation's records."""
    incident = make_incident(alpha)
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    login_verified(client, root)
    assert client.get(detail_url(incident)).status_code == 404


def test_queries_module(alpha, beta, alice, charlie, bob):
    own = make_incident(alpha)
    make_incident(beta)
    assert list(incidents_for(alice)) == [own]
    assert access_incident(alice, own.uid) == own
    assert access_incident(alice, str(own.uid), "change") == own
    with pytest.raises(Http404):
        access_incident(charlie, own.uid)
    with pytest.raises(Http404):
        access_incident(alice, "not-a-uuid")
    with pytest.raises(PermissionDenied):
        access_incident(bob, own.uid, "change")  # analysts read, they do not edit
    with pytest.raises(ValueError, match="unknown action"):
        access_incident(alice, own.uid, "delete")  # type: ignore[arg-type]


def test_pages_only_answer_get(alice_client):
    assert alice_client.post(LIST).status_code == 405


# --- filters ------------------------------------------------------------------------------


def _two(alpha, field_a: dict, field_b: dict) -> None:
    make_incident(alpha, title="Wanted", **field_a)
    make_incident(alpha, title="Other", **field_b)


FILTER_CASES = [
    pytest.param(
        {"start_date": datetime.date(2021, 6, 1)}, {"start_date": datetime.date(2018, 6, 1)},
        {"year_from": "2020"}, id="year_from",
    ),
    pytest.param(
        {"start_date": datetime.date(2015, 6, 1)}, {"start_date": datetime.date(2019, 6, 1)},
        {"year_to": "2016"}, id="year_to",
    ),
    pytest.param(
        {"start_date": datetime.date(2019, 12, 31)}, {"start_date": datetime.date(2020, 1, 1)},
        {"year_from": "2019", "year_to": "2019"}, id="year_range_edges",
    ),
    pytest.param({"origin": "RU"}, {"origin": "CN"}, {"origin": "RU"}, id="origin"),
    pytest.param({"host": "DE"}, {"host": "NL"}, {"host": "DE"}, id="host"),
    pytest.param(
        {"confidence": c.Confidence.CONFIRMED}, {"confidence": c.Confidence.POSSIBLE},
        {"confidence": "confirmed"}, id="confidence",
    ),
    pytest.param(
        {"primary_tactic": "coercion_by_proxy"}, {"primary_tactic": "killing"},
        {"tactic_group": "proxy"}, id="tactic_group_primary",
    ),
    pytest.param(
        {"primary_tactic": "killing", "secondary_tactics": ["spyware_account_compromise"]},
        {"primary_tactic": "killing"},
        {"tactic_group": "digital"}, id="tactic_group_secondary",
    ),
    pytest.param(
        {"target_categories": ["journalist", "academic"]}, {"target_categories": ["student"]},
        {"target_category": "journalist"}, id="target_category",
    ),
]


@pytest.mark.parametrize(("wanted", "other", "params"), FILTER_CASES)
def test_each_filter_filters(alice_client, alpha, wanted, other, params):
    _two(alpha, wanted, other)
    assert listed_titles(alice_client.get(LIST)) == {"Wanted", "Other"}
    response = alice_client.get(LIST, params)
    assert response.status_code == 200
    assert listed_titles(response) == {"Wanted"}
    assert b"1 incident<" in response.content


def test_filters_combine(alice_client, alpha):
    make_incident(alpha, title="Both", origin="RU", confidence=c.Confidence.CONFIRMED)
    make_incident(alpha, title="Origin only", origin="RU", confidence=c.Confidence.POSSIBLE)
    make_incident(alpha, title="Confidence only", origin="CN", confidence=c.Confidence.CONFIRMED)
    response = alice_client.get(LIST, {"origin": "RU", "confidence": "confirmed"})
    assert listed_titles(response) == {"Both"}


def test_incident_with_many_matching_acts_is_listed_once(alice_client, alpha):
    make_incident(alpha, title="Mass event", acts=4, primary_tactic="coercion_by_proxy",
                  target_categories=["journalist"], pretext="terrorism charge")
    for params in ({"tactic_group": "proxy"}, {"target_category": "journalist"}, {"q": "terrorism"}):
        response = alice_client.get(LIST, params)
        assert b"1 incident<" in response.content, params
        assert response.content.decode().count(">Mass event</a>") == 1


def test_country_menus_list_only_countries_that_occur(alice_client, alpha, beta):
    make_incident(alpha, origin="RU", host="DE")
    make_incident(beta, origin="IR", host="FR")  # another organisation's: not offered
    html = alice_client.get(LIST).content.decode()
    origin_menu = re.search(r'<select name="origin".*?</select>', html, re.S).group(0)
    host_menu = re.search(r'<select name="host".*?</select>', html, re.S).group(0)
    assert 'value="RU"' in origin_menu
    assert 'value="IR"' not in origin_menu
    assert 'value="DE"' not in origin_menu
    assert 'value="DE"' in host_menu
    assert 'value="FR"' not in host_menu


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "query"),
    [
        pytest.param({"title": "Phone threats to sister"}, "threats", id="title"),
        pytest.param({"summary": "Relatives were summoned by police."}, "SUMMONED", id="summary"),
        pytest.param({"city": "Rotterdam"}, "rotterdam", id="city"),
        pytest.param({"pretext": "Extremism charge"}, "extremism", id="pretext"),
        pytest.param({"reference": "Court file 2021/445"}, "2021/445", id="source_reference"),
    ],
)
def test_search_covers_each_field(alice_client, alpha, fields, query):
    make_incident(alpha, **{"title": "Wanted", **fields})
    make_incident(alpha, title="Other")
    response = alice_client.get(LIST, {"q": query})
    assert listed_titles(response) == {fields.get("title", "Wanted")}


def test_search_requires_every_word(alice_client, alpha):
    make_incident(alpha, title="Red notice abuse", city="Warsaw", pretext="terrorism")
    make_incident(alpha, title="Red notice abuse again", city="Berlin")
    assert len(listed_titles(alice_client.get(LIST, {"q": "red notice"}))) == 2
    # words found in different fields (city and act pretext) still match
    assert listed_titles(alice_client.get(LIST, {"q": "warsaw terrorism"})) == {"Red notice abuse"}
    assert listed_titles(alice_client.get(LIST, {"q": "berlin terrorism"})) == set()


def test_search_with_only_punctuation_lists_everything(alice_client, alpha):
    make_incident(alpha, title="One")
    assert listed_titles(alice_client.get(LIST, {"q": "%'\" -- ()"})) == {"One"}


@pytest.mark.parametrize(
    "query", ["o'brien", "a'b\\c", "\\", "a:*b", "&|!()", "x & y | !z", "'';--", "ünïcödé 東京"]
)
def test_search_survives_query_syntax(alice_client, alpha, query):
    make_incident(alpha, title="O'Brien case")
    response = alice_client.get(LIST, {"q": query})
    assert response.status_code == 200
    if query == "o'brien":
        assert listed_titles(response) == {"O&#x27;Brien case"}


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"year_from": "twenty"}, "Enter a whole number"),
        ({"year_to": "1200"}, "greater than or equal to 1900"),
        ({"year_from": "2022", "year_to": "2020"}, "is after"),
        ({"origin": "XX"}, "Select a valid choice"),
        ({"host": "<script>"}, "Select a valid choice"),
        ({"tactic_group": "nonsense"}, "Select a valid choice"),
        ({"target_category": "nonsense"}, "Select a valid choice"),
        ({"confidence": "certain"}, "Select a valid choice"),
        ({"q": "x" * 201}, "at most 200 characters"),
    ],
)
def test_bad_filter_values_get_a_message(alice_client, alpha, params, message):
    make_incident(alpha, title="Kept")
    response = alice_client.get(LIST, params)
    assert response.status_code == 200
    html = response.content.decode()
    assert "error-summary" in html
    assert message in html
    assert listed_titles(response) == set()  # never a list that ignores a filter
    assert "<script>" not in html.split("<main", 1)[1]  # the bad value is escaped
    for described_by in re.findall(r'aria-describedby="([^"]+)"', html):
        for element_id in described_by.split():
            assert f'id="{element_id}"' in html  # screen readers find the message


def test_bad_page_number_falls_back(alice_client, alpha):
    make_incident(alpha, title="Only")
    for page in ("abc", "0", "999"):
        response = alice_client.get(LIST, {"page": page})
        assert response.status_code == 200
        assert listed_titles(response) == {"Only"}


# --- pagination ---------------------------------------------------------------------------


def test_pagination_keeps_filters(alice_client, alpha):
    for day in range(PAGE_SIZE + 3):
        make_incident(alpha, title=f"Russian {day:03d}", origin="RU",
                      start_date=datetime.date(2020, 1, 1) + datetime.timedelta(days=day))
    make_incident(alpha, title="Chinese", origin="CN")
    first = alice_client.get(LIST, {"origin": "RU", "q": "russian"})
    html = first.content.decode()
    assert f"{PAGE_SIZE + 3} incidents" in html
    assert len(listed_titles(first)) == PAGE_SIZE
    next_link = re.search(r'<a href="([^"]+)" rel="next">', html).group(1).replace("&amp;", "&")
    assert "origin=RU" in next_link
    assert "q=russian" in next_link
    assert "page=2" in next_link
    second = alice_client.get(LIST + next_link)
    titles = listed_titles(second)
    assert len(titles) == 3
    assert all(t.startswith("Russian") for t in titles)
    # ordered newest first: the second page holds the three oldest
    assert titles == {"Russian 000", "Russian 001", "Russian 002"}
    assert "Page 2 of 2" in second.content.decode()


# --- display ------------------------------------------------------------------------------


def test_display_date_respects_precision():
    day = datetime.date(2019, 3, 4)
    assert display_date(day, "day") == "2019-03-04"
    assert display_date(day, "month") == "2019-03"
    assert display_date(day, "year") == "2019"
    assert display_date(None, "day") == ""


def test_list_columns(alice_client, alpha):
    make_incident(alpha, title="Shown", origin="RU", host="DE", primary_tactic="killing",
                  start_date=datetime.date(2019, 3, 4), date_precision=c.DatePrecision.MONTH,
                  confidence=c.Confidence.CONFIRMED, sharing=c.Sharing.PARTNERS)
    html = alice_client.get(LIST).content.decode()
    assert ">2019-03<" in html
    assert "2019-03-04" not in html
    assert "Russia" in html
    assert "Germany" in html
    assert "Killing or attempted killing" in html
    assert "Confirmed" in html
    assert c.Sharing.PARTNERS.label in html


def test_detail_shows_the_whole_record(alice_client, alpha):
    incident = make_incident(
        alpha, title="Detailed", summary="Summary text.", origin="RU", host="DE", city="Bonn",
        primary_tactic="coercion_by_proxy", secondary_tactics=["online_threats_smear"],
        target_categories=["journalist"], pretext="foreign agent law",
        reference="Interview 7", host_state_role=c.HostStateRole.COMPLICIT,
        perpetrators=["RU", "BY"], start_date=datetime.date(2021, 5, 1),
        date_precision=c.DatePrecision.YEAR,
    )
    act = incident.acts.get()
    response = alice_client.get(detail_url(incident))
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "Detailed", "Summary text.", "Bonn", "Russia", "Germany", "Belarus",
        c.HostStateRole.COMPLICIT.label, "2021", act.external_id, act.target.external_id,
        act.primary_tactic.label, "foreign agent law", "Interview 7", "Perpetrator",
        act.target.get_host_status_display(), act.target.get_age_group_display(),
    ):
        assert text in html, text
    assert f'<abbr title="{act.primary_tactic.definition[:30]}' in html
    assert "identity sealed" in html
    # year precision: the incident date shows only the year (the source keeps its own date)
    assert '<dd><time datetime="2021">2021</time>' in html


def test_detail_never_shows_sealed_identity(alice_client, alpha):
    incident = make_incident(alpha)
    person = incident.acts.get().target
    person.identity_sealed = b"SEALED-BLOB-MARKER"
    person.save()
    html = alice_client.get(detail_url(incident)).content.decode()
    assert "SEALED-BLOB-MARKER" not in html
    assert "identity_sealed" not in html


# --- banners ------------------------------------------------------------------------------


def test_synthetic_banner(alice_client, alpha):
    real = make_incident(alpha, title="Real")
    fake = make_incident(alpha, title="Fake", synthetic=True)
    assert SYNTHETIC_NOTICE in alice_client.get(LIST).content.decode()
    assert SYNTHETIC_NOTICE in alice_client.get(detail_url(fake)).content.decode()
    assert SYNTHETIC_NOTICE not in alice_client.get(detail_url(real)).content.decode()
    # a list showing only real incidents has no banner
    only_real = alice_client.get(LIST, {"q": "real"}).content.decode()
    assert SYNTHETIC_NOTICE not in only_real


def test_demo_banner_on_every_page(client, alice, alpha, settings):
    incident = make_incident(alpha)
    login = reverse("accounts:login")
    assert "Demonstration site" not in client.get(login).content.decode()
    settings.TNR_DEMO = True
    assert "Demonstration site" in client.get(login).content.decode()
    login_verified(client, alice)
    assert "Demonstration site" in client.get(LIST).content.decode()
    assert "Demonstration site" in client.get(detail_url(incident)).content.decode()


def test_pages_have_no_inline_script_or_style(alice_client, alpha):
    incident = make_incident(alpha)
    for url in (LIST, detail_url(incident), reverse("accounts:login")):
        html = alice_client.get(url).content.decode()
        assert "<script" not in html
        assert "<style" not in html
        assert " style=" not in html
        assert '<html lang="en"' in html
        assert "http://" not in html
        assert "https://" not in html


# --- query counts -------------------------------------------------------------------------


def test_list_query_count_is_bounded(alice_client, alpha, django_assert_max_num_queries):
    for _ in range(PAGE_SIZE + 5):
        make_incident(alpha, acts=2, secondary_tactics=["online_threats_smear"],
                      target_categories=["journalist"])
    # session, user, second-factor device, session generation (tnr.accounts.middleware),
    # tactic groups, count, page, acts of the page, synthetic check, the origin/host/category
    # menus: 12 today, whatever the number of incidents or acts.
    with django_assert_max_num_queries(14):
        response = alice_client.get(LIST, {"tactic_group": "digital", "q": "incident"})
    assert len(listed_titles(response)) == PAGE_SIZE


def test_detail_query_count_is_bounded(alice_client, alpha, django_assert_max_num_queries):
    incident = make_incident(alpha, acts=6, secondary_tactics=["online_threats_smear"],
                             target_categories=["journalist", "academic"])
    # session, user, second-factor device, session generation, incident, then one query per
    # related set (states, acts, secondary tactics, nationalities, categories, involvements,
    # sources): 12 for any number of acts. The sealed-identity section adds 2 per page (the
    # reader's key status, whether they may record identities), the audit entry of a view 4.
    with django_assert_max_num_queries(20):
        response = alice_client.get(detail_url(incident))
    assert response.status_code == 200


# --- admin --------------------------------------------------------------------------------


def test_vocabulary_admin_is_read_only(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", password=PASSWORD)
    login_verified(client, admin_user)
    assert client.get(reverse("admin:taxonomy_tactic_changelist")).status_code == 200
    page = client.get(reverse("admin:taxonomy_tactic_change", args=["killing"]))
    assert page.status_code == 200
    assert b'name="label"' not in page.content  # shown, not editable
    assert client.get(reverse("admin:taxonomy_tactic_add")).status_code == 403
    assert client.post(
        reverse("admin:taxonomy_tactic_change", args=["killing"]), {"label": "x"}
    ).status_code == 403


def test_records_admin_pages_open(client, alpha, django_user_model):
    incident = make_incident(alpha)
    admin_user = django_user_model.objects.create_superuser("root", password=PASSWORD)
    login_verified(client, admin_user)
    for name, args in (
        ("admin:records_incident_changelist", []),
        ("admin:records_incident_change", [incident.pk]),
        ("admin:records_act_change", [incident.acts.get().pk]),
        ("admin:records_person_changelist", []),
        ("admin:accounts_organisation_change", [alpha.pk]),
        ("admin:taxonomy_country_changelist", []),
    ):
        assert client.get(reverse(name, args=args)).status_code == 200, name


def test_records_admin_is_scoped_for_staff_who_are_not_superusers(client, alpha, beta):
    from django.contrib.auth.models import Permission

    make_incident(alpha, title="Alpha admin case")
    make_incident(beta, title="Beta admin case")
    staff = make_user("staffer", alpha, Role.ADMINISTRATOR, is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_incident"))
    login_verified(client, staff)
    html = client.get(reverse("admin:records_incident_changelist")).content.decode()
    assert "Alpha admin case" in html
    assert "Beta admin case" not in html


@pytest.mark.parametrize(("role", "may_change"), [(Role.CASEWORKER, True), (Role.ANALYST, False), (Role.PARTNER, False)])
def test_records_admin_changes_follow_the_role_not_only_django_permissions(client, alpha, role, may_change):
    from django.contrib.auth.models import Permission

    incident = make_incident(alpha, title="Admin role case")
    staff = make_user("staffer2", alpha, role, is_staff=True)
    for codename in ("view_incident", "change_incident", "delete_incident"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    login_verified(client, staff)
    url = reverse("admin:records_incident_change", args=[incident.pk])
    page = client.get(url)
    if role == Role.PARTNER:
        assert page.status_code == 302  # partners do not even see internal records
        return
    html = page.content.decode()
    assert page.status_code == 200
    assert ('name="_save"' in html) is may_change
    delete = client.get(reverse("admin:records_incident_delete", args=[incident.pk]))
    assert (delete.status_code == 200) is may_change

"""Fixtures for the exchange tests: organisations, a rich dataset and file helpers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tnr.accounts.models import Organisation
from tnr.exchange import export, importer, register, writer
from tnr.exchange.flat import FLAT_COLUMN_NAMES
from tnr.records import models as rm

D = dt.date

RTL = "تهديدات عبر الهاتف — עברית"
FORMULA = "=cmd|' /C calc'!A0"


def counts(org: Organisation | None = None) -> dict[str, int]:
    """How many records of each kind exist (in ``org``, or everywhere)."""
    flt = {"organisation": org} if org is not None else {}
    inc = {"incident__organisation": org} if org is not None else {}
    return {
        "incidents": rm.Incident.objects.filter(**flt).count(),
        "persons": rm.Person.objects.filter(**flt).count(),
        "actors": rm.Actor.objects.filter(**flt).count(),
        "acts": rm.Act.objects.filter(**inc).count(),
        "sources": rm.Source.objects.filter(**inc).count(),
        "involvements": rm.Involvement.objects.count(),
        "consents": rm.Consent.objects.count(),
        "relations": rm.PersonRelation.objects.count(),
    }


@pytest.fixture
def org(db: Any) -> Organisation:
    return Organisation.objects.create(name="Alpha Watch", slug="alpha")


@pytest.fixture
def org2(db: Any) -> Organisation:
    return Organisation.objects.create(name="Beta Monitor", slug="beta")


def build_rich_dataset(org: Organisation) -> dict[str, Any]:
    """Several incidents exercising every part of the data model."""
    P = rm.Person.objects.create
    p1 = P(organisation=org, external_id="P-1", sex="female", age_group="30_44", host_status="refugee")
    p1.nationality.set(["CN", "HK"])
    p1.categories.set(["journalist", "human_rights_defender"])
    p2 = P(organisation=org, external_id="P-2", sex="male", age_group="45_64", host_status="citizen")
    p2.nationality.set(["IR"])
    p2.categories.set(["political_opposition"])
    p3 = P(organisation=org, external_id="P-3", sex="unknown", age_group="unknown", host_status="unknown")
    p4 = P(organisation=org, external_id="P-4 ü", sex="other", age_group="18_29", host_status="student")
    p4.categories.set(["student", "lgbti"])
    p5 = P(organisation=org, external_id="P-5", sex="female", age_group="65_plus", host_status="asylum_seeker")
    # a relative who is a target of nothing, reached only through a relation
    relative = P(organisation=org, external_id="P-REL", sex="female", age_group="45_64", host_status="unknown")
    rm.PersonRelation.objects.create(person=p1, related=p2, type="spouse_of")
    rm.PersonRelation.objects.create(person=relative, related=p1, type="relative_of")
    rm.PersonRelation.objects.create(person=p2, related=p3, type="colleague_of")
    rm.Consent.objects.create(person=p1, scope="documentation", obtained=True, obtained_on=D(2021, 5, 1),
                              permitted_sharing="partners")
    rm.Consent.objects.create(person=p1, scope="publication", obtained=True, obtained_on=D(2021, 5, 1),
                              permitted_sharing="public", withdrawn_on=D(2022, 1, 3))
    rm.Consent.objects.create(person=p2, scope="statistics", obtained=False)

    A = rm.Actor.objects.create
    a1 = A(organisation=org, external_id="AC-1", type_id="state_intelligence", state_id="CN", name="Ministry of State Security")
    a2 = A(organisation=org, external_id="AC-2", type_id="host_authority", state_id="TR", name="")
    a3 = A(organisation=org, external_id="AC-3", type_id="international_body", state_id=None, name="Interpol")
    a4 = A(organisation=org, external_id="AC-4", type_id="proxy_online_network", state_id="IR", name=RTL)

    I = rm.Incident.objects.create  # noqa: E741
    i1 = I(organisation=org, external_id="INC-1", title="Abduction attempt, " + RTL,
           summary="Line one.\nLine two, with \"quotes\", commas; and semicolons.\r\nLine three\ttab.",
           start_date=D(2019, 3, 4), end_date=D(2019, 3, 9), date_precision="day",
           location_country_id="TR", admin_area="İstanbul", city="Istanbul", location_type_id="residence",
           origin_state_id="CN", host_state_id="TR", host_state_role="co_opted", mass_event=True,
           confidence="confirmed", independent_sources=3, sensitivity="high", sharing="partners")
    i1.perpetrator_states.set(["CN", "RU"])
    act1 = rm.Act.objects.create(incident=i1, external_id="A1", target=p1, primary_tactic_id="abduction_rendition",
                                 pretext="terrorism charge", outcome_id="escaped")
    act1.secondary_tactics.set(["assault", "intimidation_surveillance"])
    rm.Involvement.objects.create(act=act1, actor=a1, degree="perpetrator")
    rm.Involvement.objects.create(act=act1, actor=a2, degree="co_opted_host_authority")
    act2 = rm.Act.objects.create(incident=i1, external_id="A2", target=p2, primary_tactic_id="detention_on_request",
                                 pretext="red notice", outcome_id="detained")
    rm.Involvement.objects.create(act=act2, actor=a3, degree="facilitator")
    rm.Involvement.objects.create(act=act2, actor=a2, degree="perpetrator")
    rm.Act.objects.create(incident=i1, external_id="A3", target=p3, primary_tactic_id="coercion_by_proxy")
    rm.Source.objects.create(incident=i1, external_id="S1", type_id="testimony", documenting_organisation="Alpha Watch",
                             reference="Interview 12", date=D(2019, 4, 1), reliability="high", connection="first_hand")
    rm.Source.objects.create(incident=i1, external_id="S2", type_id="media", documenting_organisation="",
                             reference="https://example.org/news?id=1&x=2", date=None, reliability="medium",
                             connection="second_hand")
    rm.Source.objects.create(incident=i1, external_id="S3", type_id="ngo", documenting_organisation="Beta, Inc.",
                             reference="Report p. 3", date=D(2020, 1, 1), reliability="unknown", connection="unknown")
    rm.Source.objects.create(incident=i1, external_id="S4", type_id="ngo", documenting_organisation="Beta, Inc.",
                             reference="Report p. 3", date=D(2020, 1, 1), reliability="unknown", connection="unknown")

    i2 = I(organisation=org, external_id="INC-2", title="Threats by phone",
           summary="", start_date=D(2020, 6, 1), end_date=None, date_precision="month",
           location_country_id="DE", location_type_id="online", origin_state_id="IR", host_state_id="DE",
           host_state_role="none", confidence="probable", independent_sources=1, sensitivity="medium",
           sharing="public")
    i2.perpetrator_states.set(["IR"])
    act4 = rm.Act.objects.create(incident=i2, external_id="A1", target=p4, primary_tactic_id="online_threats_smear",
                                 outcome_id="intimidated")
    act4.secondary_tactics.set(["monitoring_infiltration"])
    rm.Involvement.objects.create(act=act4, actor=a4, degree="instigator")
    act5 = rm.Act.objects.create(incident=i2, external_id="A2", target=p1, primary_tactic_id="spyware_account_compromise")
    rm.Involvement.objects.create(act=act5, actor=a1, degree="unknown")

    i3 = I(organisation=org, external_id="INC-3", title=FORMULA, summary="@SUM(A1:A2) -2+3",
           start_date=D(2015, 1, 1), date_precision="year", host_state_role="unknown", confidence="possible",
           sensitivity="low", sharing="internal")
    rm.Act.objects.create(incident=i3, external_id="A1", target=None, primary_tactic_id="document_denial",
                          pretext="+cmd")
    rm.Source.objects.create(incident=i3, external_id="S1", type_id="government", reference="-1")

    i4 = I(organisation=org, external_id="INC-4", title="Asset freeze", start_date=D(2022, 2, 28),
           end_date=D(2022, 2, 28), origin_state_id="BY", host_state_id="LT", confidence="confirmed")
    act7 = rm.Act.objects.create(incident=i4, external_id="X", target=p5, primary_tactic_id="asset_financial_measures",
                                 outcome_id="assets_frozen")
    act7.secondary_tactics.set(["citizenship_travel_ban", "document_denial"])
    rm.Involvement.objects.create(act=act7, actor=a1, degree="perpetrator")
    rm.Involvement.objects.create(act=act7, actor=a3, degree="perpetrator")
    rm.Involvement.objects.create(act=act7, actor=a3, degree="facilitator")
    return {"incidents": 4, "persons": 6, "actors": 4}


@pytest.fixture
def rich(org: Organisation) -> Organisation:
    build_rich_dataset(org)
    return org


def export_json(org: Organisation) -> dict[str, Any]:
    out = io.StringIO()
    export.write_json(rm.Incident.objects.filter(organisation=org), out, organisation=org.name)
    return json.loads(out.getvalue())


def export_csv(org: Organisation) -> str:
    out = io.StringIO()
    export.write_flat_csv(rm.Incident.objects.filter(organisation=org), out)
    return out.getvalue()


def strip_meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in {"exported_at", "organisation"}}


# --- building files ------------------------------------------------------------------------------


def flat_row(**values: Any) -> dict[str, str]:
    """A valid flat row with sensible defaults; keyword arguments override columns."""
    row = {
        "incident_id": "INC-1",
        "title": "Threats by phone",
        "start_date": "2020-01-15",
        "location_country": "NL",
        "origin_state": "CN",
        "host_state": "NL",
        "perpetrator_states": "CN",
        "confidence": "probable",
        "act_id": "A1",
        "target_id": "P-1",
        "primary_tactic": "coercion_by_proxy",
        "target_sex": "female",
        "actor_id": "AC-1",
        "actor_type": "state_police",
        "actor_state": "CN",
        "involvement_degree": "perpetrator",
        "source_id": "S1",
        "source_type": "testimony",
        "source_reference": "Interview notes",
    }
    row.update({k: str(v) for k, v in values.items()})
    return row


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str] | None = None, *, encoding: str = "utf-8") -> Path:
    if columns is None:
        columns = [c for c in FLAT_COLUMN_NAMES if any(c in r for r in rows)] or ["incident_id", "title", "start_date", "primary_tactic"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([r.get(c, "") for c in columns])
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def many_rows(n: int, bad: Callable[[int], dict[str, Any]] | None = None, *, bad_at: set[int] = frozenset()) -> list[dict[str, str]]:  # type: ignore[assignment]
    """``n`` rows, one incident each; rows whose index is in ``bad_at`` get ``bad(i)``'s values."""
    rows = []
    for i in range(n):
        values = {"incident_id": f"INC-{i}", "target_id": f"P-{i}", "source_id": "S1"}
        if bad is not None and i in bad_at:
            values.update(bad(i))
        rows.append(flat_row(**values))
    return rows


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(params=["in memory", "spilled"])
def registers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test twice: once as files of any ordinary size run, once as the tail of a huge one.

    "spilled": every identifier goes to the registers' temporary table at once (a window of
    one key), the Bloom filter is so small that nearly every new key is looked up there (its
    false positives must not turn into problems), every incident is its own batch and the
    writer forgets the database keys of persons and actors after each one.
    """
    if request.param == "spilled":
        monkeypatch.setattr(register, "WINDOW", 1)
        monkeypatch.setattr(register, "BLOOM_BITS", 64)
        monkeypatch.setattr(importer, "BATCH_SIZE", 1)
        monkeypatch.setattr(writer, "PK_CACHE_MAX", 0)
    return str(request.param)


__all__ = [
    "FORMULA", "RTL", "build_rich_dataset", "counts", "export_csv", "export_json", "flat_row",
    "many_rows", "strip_meta", "write_csv",
]

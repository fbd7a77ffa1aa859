"""Record linkage in the app: the adapter, runs, decisions kept and used, the review pages as
owner (alice, caseworker), colleague (bob, analyst) and outsiders (pat, partner of Alpha;
charlie, Beta), and the ``tnr link`` command."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse

from tests.accounts.helpers import login_verified
from tests.factories import make_incident, make_org, make_user
from tnr.accounts.models import Role
from tnr.analytics import actions, queries
from tnr.analytics.models import ClusterMember, LinkagePair, LinkageRun, PairDecision, RunStatus
from tnr.core.models import AuditEntry
from tnr.exchange.importer import import_file
from tnr.methods.linkage import pairwise_scores
from tnr.methods.linkage_settings import default_incident_settings
from tnr.methods.simulate import SimulationConfig, simulate
from tnr.records.models import Incident

pytestmark = pytest.mark.django_db
logging.getLogger("splink").setLevel(logging.ERROR)


# --- one world for the module: Alpha holds four simulated organisations' lists, linked once ---


class World:
    pass


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    outer = transaction.atomic()
    outer._from_testcase = True  # the actions' durable blocks may run inside (as in a TestCase)
    with django_db_blocker.unblock(), outer:
        w = World()
        w.alpha, w.beta = make_org("Alpha Watch"), make_org("Beta Monitor")
        w.ada = make_user("ada", w.alpha, Role.ADMINISTRATOR)
        w.alice = make_user("alice", w.alpha, Role.CASEWORKER)
        w.bob = make_user("bob", w.alpha, Role.ANALYST)
        w.pat = make_user("pat", w.alpha, Role.PARTNER)
        w.charlie = make_user("charlie", w.beta, Role.CASEWORKER)
        # One year of incidents: dense enough for some pairs to be uncertain.
        sim = simulate(SimulationConfig(seed=7, n_incidents=700, years=(2024, 2024)))
        path = tmp_path_factory.mktemp("linkage") / "merged.json"
        path.write_text(json.dumps(sim.merged().to_exchange("merged")), encoding="utf-8")
        import_file(path, w.alpha)
        w.truth = {rid: tid for (_org, rid), tid in sim.links.items()}
        w.run = actions.run_linkage(w.alpha, by=w.alice, settings=default_incident_settings(review_threshold=0.3))
        yield w
        transaction.set_rollback(True)


def client_for(user) -> Client:
    client = Client()
    login_verified(client, user)
    return client


def external_truth(run: LinkageRun, truth: dict[str, str]) -> dict[str, str]:
    """Truth keyed by incident primary key (as the run's clusters are)."""
    ids = dict(Incident.objects.filter(organisation=run.organisation).values_list("external_id", "pk"))
    return {str(ids[rid]): tid for rid, tid in truth.items() if rid in ids}


def clusters_of(run: LinkageRun):
    import pandas as pd

    rows = list(run.members.values_list("incident_id", "cluster"))
    return pd.DataFrame({"unique_id": [str(i) for i, _ in rows], "cluster_id": [str(c) for _, c in rows]})


# --- the adapter and the run ------------------------------------------------------------------


def test_the_adapter_reads_lists_tactics_and_target_profiles(world):
    incident = Incident.objects.filter(organisation=world.alpha).order_by("pk").first()
    records, persons = actions.incident_records(Incident.objects.filter(pk=incident.pk), "fallback")
    record = records[0]
    assert record["id"] == str(incident.pk)
    assert record["sources"][0]["organisation"] == incident.sources.order_by("pk").first().documenting_organisation
    assert [a["primary_tactic"] for a in record["acts"]] == list(incident.acts.order_by("pk").values_list("primary_tactic_id", flat=True))
    target = incident.acts.order_by("pk").first().target
    assert {p["id"]: sorted(p["categories"]) for p in persons}[str(target.pk)] == sorted(target.categories.values_list("code", flat=True))


def test_an_incident_without_source_is_in_the_organisations_own_list(world):
    incident = make_incident(world.beta)
    incident.sources.all().delete()
    records, _ = actions.incident_records(Incident.objects.filter(pk=incident.pk), "Beta Monitor")
    assert records[0]["sources"] == [{"organisation": "Beta Monitor"}]


def test_a_run_links_the_organisations_incidents_close_to_the_truth(world):
    run = world.run
    assert run.status == RunStatus.DONE, run.error
    assert run.n_records == Incident.objects.filter(organisation=world.alpha).count()
    assert ClusterMember.objects.filter(run=run).count() == run.n_records
    assert run.n_clusters == run.members.values("cluster").distinct().count()
    scores = pairwise_scores(clusters_of(run), external_truth(run, world.truth))
    assert scores["recall"] >= 0.95, scores
    assert scores["precision"] >= 0.9, scores


def test_a_run_stores_its_pairs_ordered_and_its_settings_and_model(world):
    run = world.run
    assert run.n_pairs == run.pairs.count() > 0
    assert not run.pairs.filter(left_id__gte=models_f("right_id")).exists()
    assert all(p.probability >= run.review_threshold for p in run.pairs.all())
    assert run.settings["format"] == "tnr-linkage-settings"
    assert [c["name"] for c in run.model["comparisons"]] == [c["name"] for c in run.settings["comparisons"]]


def models_f(name: str):
    from django.db.models import F

    return F(name)


def test_a_run_is_audited_without_record_content(world):
    entry = AuditEntry.objects.filter(object_type="analytics.linkagerun", object_id=str(world.run.uid)).get()
    assert entry.action == "create"
    assert entry.actor_id == world.alice.pk
    data = json.loads(entry.data)  # stored as canonical JSON text (it is hashed)
    assert data["records"] == world.run.n_records
    assert set(data) == {"via", "status", "records", "pairs", "uncertain", "clusters", "decisions_applied"}


def test_too_few_incidents_make_a_failed_run_with_the_reason(world):
    lonely = make_org("Lonely Desk")
    make_incident(lonely)
    run = actions.run_linkage(lonely)
    assert run.status == RunStatus.FAILED
    assert "at least 2 incidents; Lonely Desk has 1" in run.error
    assert run.pairs.count() == 0


# --- decisions are kept and used -------------------------------------------------------------------


def same_cluster(run: LinkageRun, a: int, b: int) -> bool:
    clusters = dict(run.members.filter(incident_id__in=[a, b]).values_list("incident_id", "cluster"))
    return clusters[a] == clusters[b]


def test_decisions_override_the_model_in_later_runs(world):
    run = world.run
    linked = run.pairs.filter(probability__gte=run.match_threshold).order_by("-probability").first()
    assert same_cluster(run, linked.left_id, linked.right_id)
    unlinked = (
        Incident.objects.filter(organisation=world.alpha)
        .exclude(pk__in=run.members.filter(cluster=run.members.get(incident_id=linked.left_id).cluster).values("incident_id"))
        .order_by("pk").first()
    )  # fmt: skip
    # A pair for the confirmation, though the model never scored it.
    extra = LinkagePair.objects.create(run=run, left_id=min(linked.left_id, unlinked.pk),
                                       right_id=max(linked.left_id, unlinked.pk), probability=None)  # fmt: skip
    actions.decide_pair(linked, False, by=world.alice)
    actions.decide_pair(extra, True, by=world.alice)

    later = actions.run_linkage(world.alpha, by=world.alice)
    assert later.n_decisions == 2
    assert not same_cluster(later, linked.left_id, linked.right_id)
    assert same_cluster(later, linked.left_id, unlinked.pk)
    assert PairDecision.objects.get(left_id=linked.left_id, right_id=linked.right_id).run == run


def test_a_decision_is_audited_changed_and_withdrawn(world):
    pair = world.run.pairs.order_by("probability").first()
    actions.decide_pair(pair, True, by=world.alice)
    actions.decide_pair(pair, False, by=world.ada)
    decision = PairDecision.objects.get(left_id=pair.left_id, right_id=pair.right_id)
    assert (decision.same, decision.decided_by) == (False, world.ada)
    actions.decide_pair(pair, None, by=world.ada)
    assert not PairDecision.objects.filter(left_id=pair.left_id, right_id=pair.right_id).exists()
    entries = list(AuditEntry.objects.filter(object_type="analytics.pairdecision", object_id=f"{pair.left_id}-{pair.right_id}")
                   .order_by("seq").values_list("action", "data"))  # fmt: skip
    assert [action for action, _ in entries] == ["create", "change", "delete"]
    first = json.loads(entries[0][1])
    assert first["left"] == str(pair.left.uid)
    assert first["same"] is True


def test_decided_pairs_leave_the_review_list(world):
    run = world.run
    before = actions.undecided_uncertain(run).count()
    assert before > 0
    pair = actions.undecided_uncertain(run).first()
    actions.decide_pair(pair, True, by=world.alice)
    assert actions.undecided_uncertain(run).count() == before - 1


# --- permission-checked lookups --------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "view", "decide"), [
    ("ada", True, True), ("alice", True, True), ("bob", True, False),
])  # fmt: skip
def test_members_see_runs_and_caseworkers_decide(world, persona, view, decide):
    user = getattr(world, persona)
    assert queries.access_run(user, world.run.uid, "view") == world.run
    assert queries.may(user, world.alpha, "decide") is decide


@pytest.mark.parametrize("persona", ["pat", "charlie"])
def test_partners_and_outsiders_do_not_find_the_run(world, persona):
    from django.http import Http404

    with pytest.raises(Http404):
        queries.access_run(getattr(world, persona), world.run.uid)
    assert not queries.runs_for(getattr(world, persona)).exists()


# --- the pages, with the test client -----------------------------------------------------------------


def test_the_run_list_shows_the_run_and_the_start_form_to_members(world):
    page = client_for(world.bob).get(reverse("analytics:run-list"))
    assert page.status_code == 200
    assert reverse("analytics:run", args=[world.run.uid]) in page.content.decode()
    assert "Run linkage" in page.content.decode()


@pytest.mark.parametrize("persona", ["pat", "charlie"])
def test_the_run_list_hides_alphas_runs_from_outsiders(world, persona):
    page = client_for(getattr(world, persona)).get(reverse("analytics:run-list"))
    assert page.status_code == 200
    assert str(world.run.uid) not in page.content.decode()
    # charlie may start runs in his own organisation only; pat in none.
    assert re.findall(r'<option value="([^"]+)"', page.content.decode()) == (["beta-monitor"] if persona == "charlie" else [])


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 200), ("pat", 404), ("charlie", 404)])
def test_the_run_page_by_persona(world, persona, status):
    assert client_for(getattr(world, persona)).get(reverse("analytics:run", args=[world.run.uid])).status_code == status


def test_the_run_page_lists_uncertain_pairs_for_review(world):
    html = client_for(world.alice).get(reverse("analytics:run", args=[world.run.uid])).content.decode()
    remaining = actions.undecided_uncertain(world.run).count()
    assert f'<strong id="remaining">{remaining}</strong>' in html
    listed = re.findall(rf'href="/linkage/{world.run.uid}/pairs/(\d+)/"', html)
    assert len(listed) == min(remaining, 50)
    assert {int(pk) for pk in listed} <= set(actions.undecided_uncertain(world.run).values_list("pk", flat=True))


def pair_url(world, pair) -> str:
    return reverse("analytics:pair", args=[world.run.uid, pair.pk])


@pytest.mark.parametrize(("persona", "status"), [("alice", 200), ("bob", 200), ("pat", 404), ("charlie", 404)])
def test_the_pair_page_by_persona(world, persona, status):
    pair = actions.undecided_uncertain(world.run).first()
    assert client_for(getattr(world, persona)).get(pair_url(world, pair)).status_code == status


def test_the_pair_page_shows_both_records_and_the_reasons(world):
    pair = actions.undecided_uncertain(world.run).first()
    html = client_for(world.alice).get(pair_url(world, pair)).content.decode()
    assert pair.left.external_id in html
    assert pair.right.external_id in html
    assert "Why the model scored it so" in html
    assert 'name="decision" value="different"' in html


def test_the_pair_page_audits_views_of_highly_sensitive_incidents(world):
    pair = actions.undecided_uncertain(world.run).first()
    Incident.objects.filter(pk=pair.left_id).update(sensitivity="high")
    before = AuditEntry.objects.filter(action="view", object_id=str(pair.left.uid)).count()
    client_for(world.bob).get(pair_url(world, pair))
    assert AuditEntry.objects.filter(action="view", object_id=str(pair.left.uid)).count() == before + 1


def test_a_caseworker_decides_and_is_sent_to_the_next_pair(world):
    client = client_for(world.alice)
    first, second = list(actions.undecided_uncertain(world.run)[:2])
    response = client.post(pair_url(world, first), {"decision": "different"})
    assert response.status_code == 302
    assert response.url == reverse("analytics:next-pair", args=[world.run.uid])
    assert PairDecision.objects.get(left_id=first.left_id, right_id=first.right_id).same is False
    assert client.get(response.url).url == pair_url(world, second)


def test_an_analyst_may_not_decide(world):
    pair = actions.undecided_uncertain(world.run).first()
    response = client_for(world.bob).post(pair_url(world, pair), {"decision": "same"})
    assert response.status_code == 403
    assert not PairDecision.objects.filter(left_id=pair.left_id, right_id=pair.right_id).exists()


@pytest.mark.parametrize("persona", ["pat", "charlie"])
def test_outsiders_may_not_decide(world, persona):
    pair = actions.undecided_uncertain(world.run).first()
    response = client_for(getattr(world, persona)).post(pair_url(world, pair), {"decision": "same"})
    assert response.status_code == 404
    assert not PairDecision.objects.filter(left_id=pair.left_id, right_id=pair.right_id).exists()


def test_a_decision_without_an_answer_is_refused(world):
    pair = actions.undecided_uncertain(world.run).first()
    response = client_for(world.alice).post(pair_url(world, pair), {"decision": "maybe"})
    assert response.status_code == 400
    assert "Choose one of the answers" in response.content.decode()


def test_a_pair_of_another_run_is_not_found(world):
    other = actions.run_linkage(world.beta)  # failed: Beta has too few incidents, but it is a run
    pair = world.run.pairs.first()
    assert client_for(world.alice).get(reverse("analytics:pair", args=[other.uid, pair.pk])).status_code == 404


@pytest.mark.parametrize(("persona", "status"), [("pat", 403), ("charlie", 404)])
def test_starting_a_run_for_alpha_as_a_partner_or_an_outsider(world, persona, status):
    before = LinkageRun.objects.count()
    response = client_for(getattr(world, persona)).post(reverse("analytics:run-create"), {"organisation": world.alpha.slug})
    assert response.status_code == status
    assert LinkageRun.objects.count() == before


def test_an_analyst_starts_a_run_from_the_page(world):
    before = LinkageRun.objects.filter(organisation=world.alpha).count()
    response = client_for(world.bob).post(reverse("analytics:run-create"), {"organisation": world.alpha.slug})
    run = LinkageRun.objects.filter(organisation=world.alpha).order_by("-id").first()
    assert LinkageRun.objects.filter(organisation=world.alpha).count() == before + 1
    assert response.url == reverse("analytics:run", args=[run.uid])
    assert run.started_by == world.bob


# --- tnr link -----------------------------------------------------------------------------------------


def test_tnr_link_for_an_organisation_stores_a_run(world, tmp_path):
    out = io.StringIO()
    call_command("link", "--organisation", world.alpha.slug, "--format", "json", "--output", str(tmp_path), stdout=out)
    summary = json.loads(out.getvalue())
    run = LinkageRun.objects.get(uid=summary["run"])
    assert summary["records"] == run.n_records
    assert run.started_by is None
    assert (tmp_path / "clusters.csv").read_text().count("\n") == run.n_records + 1
    assert json.loads((tmp_path / "model.json").read_text()) == run.model


def test_tnr_link_names_an_unknown_organisation(world):
    with pytest.raises(CommandError, match="no organisation 'nowhere'"):
        call_command("link", "--organisation", "nowhere")


def test_tnr_link_on_simulated_files_measures_against_the_truth(tmp_path):
    call_command("simulate", "--incidents", "300", "--seed", "3", "--output", str(tmp_path), stdout=io.StringIO())
    out = io.StringIO()
    files = [str(tmp_path / f"{code}.json") for code in ("ORGA", "ORGB", "ORGC", "ORGD")]
    call_command("link", "--exchange", *files, "--truth", str(tmp_path / "truth" / "links.csv"),
                 "--format", "json", "--output", str(tmp_path / "out"), stdout=out)  # fmt: skip
    summary = json.loads(out.getvalue())
    assert summary["lists"] == 4
    assert summary["pairwise_recall"] >= 0.95
    assert summary["pairwise_precision"] >= 0.9
    model = tmp_path / "out" / "model.json"
    again = io.StringIO()
    call_command("link", "--exchange", *files, "--model", str(model), "--format", "json", stdout=again)
    assert json.loads(again.getvalue())["clusters"] == summary["clusters"]


def test_tnr_link_prints_settings_that_it_reads_back(tmp_path):
    out = io.StringIO()
    call_command("link", "--print-config", "--kind", "persons", stdout=out)
    path = tmp_path / "settings.json"
    path.write_text(out.getvalue().replace('"match_threshold": 0.99', '"match_threshold": 1.5'))
    with pytest.raises(CommandError, match=r"settings.json: thresholds: need 0 < review_threshold ≤ match_threshold < 1"):
        call_command("link", "--csv", str(path), "--config", str(path))


def test_tnr_link_reports_bad_csv_rows(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("unique_id,source_dataset,date\nx,ORGA,2020-02-30\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"row 2, column date: '2020-02-30' is not a date"):
        call_command("link", "--csv", str(path))


def test_tnr_link_needs_a_source():
    with pytest.raises(CommandError, match="give --organisation, --csv or --exchange"):
        call_command("link")

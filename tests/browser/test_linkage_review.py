"""Record linkage as a caseworker drives it, in chromium without JavaScript: start a run, review
uncertain pairs side by side, decide, and see the decision applied by the next run."""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.accounts.helpers import add_authenticator
from tests.browser.signin import sign_in
from tests.factories import make_org, make_user
from tnr.accounts.models import Role
from tnr.analytics.models import LinkageRun, PairDecision
from tnr.exchange.importer import import_file
from tnr.methods.simulate import SimulationConfig, simulate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
logging.getLogger("splink").setLevel(logging.ERROR)
RUN_TIMEOUT = 300_000  # ms: a run is computed during the request, on a shared, loaded machine


@pytest.fixture
def coalition(tmp_path):
    """Alpha Watch holds four simulated organisations' lists of one year (dense enough for
    uncertain pairs); bob is an analyst there, charlie a caseworker of Beta."""
    alpha, beta = make_org("Alpha Watch"), make_org("Beta Monitor")
    for username, org, role in (("alice", alpha, Role.CASEWORKER), ("bob", alpha, Role.ANALYST),
                                ("charlie", beta, Role.CASEWORKER)):  # fmt: skip
        add_authenticator(make_user(username, org, role))
    sim = simulate(SimulationConfig(seed=7, n_incidents=700, years=(2024, 2024)))
    path = tmp_path / "merged.json"
    path.write_text(json.dumps(sim.merged().to_exchange("merged")), encoding="utf-8")
    import_file(path, alpha)
    return alpha


def start_run(page) -> None:
    page.goto("/linkage/")
    page.get_by_role("button", name="Run linkage").click(timeout=RUN_TIMEOUT)
    page.wait_for_url(re.compile(r"/linkage/[0-9a-f-]{36}/$"), timeout=RUN_TIMEOUT)


def remaining(page) -> int:
    return int(page.locator("#remaining").inner_text())


def test_a_caseworker_runs_linkage_reviews_a_pair_and_the_next_run_applies_it(page, live_server, coalition, tmp_path):
    sign_in(page, "alice")
    start_run(page)
    assert page.get_by_text("Linkage run done").is_visible()
    assert page.get_by_text("Synthetic demo data").first.is_visible()
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    before = remaining(page)
    assert before > 0
    rows = page.locator(".incident-table tbody tr")
    assert rows.count() == min(before, 50)

    page.get_by_role("link", name="Review the next uncertain pair").click()
    page.wait_for_url(re.compile(r"/pairs/\d+/$"))
    assert page.get_by_role("heading", name="Are these the same incident?").is_visible()
    assert page.get_by_role("heading", name="Why the model scored it so").is_visible()
    assert page.locator(".side-by-side [role=row]").count() >= 10
    page.screenshot(path=str(tmp_path / "pair.png"), full_page=True)
    first_pair = page.url

    page.get_by_label("different incidents").check()
    page.get_by_role("button", name="Save decision and go to the next pair").click()
    page.wait_for_url(re.compile(r"/pairs/\d+/$"))
    assert page.url != first_pair  # on to the next undecided pair
    assert page.get_by_text("are different incidents").is_visible()

    page.goto(first_pair)
    assert "Decided: different incidents by alice" in page.locator("#current-decision").inner_text()
    page.get_by_role("link", name=re.compile("Linkage run of Alpha Watch")).click()
    assert remaining(page) == before - 1
    decision = PairDecision.objects.get()
    assert decision.same is False

    start_run(page)  # the next run applies the decision
    latest = LinkageRun.objects.latest("id")
    assert latest.n_decisions == 1
    clusters = dict(latest.members.filter(incident_id__in=[decision.left_id, decision.right_id]).values_list("incident_id", "cluster"))
    assert clusters[decision.left_id] != clusters[decision.right_id]
    assert page.locator(".counts").get_by_text("decisions applied").is_visible()


def test_an_analyst_reviews_but_cannot_decide(page, live_server, coalition):
    sign_in(page, "bob")
    start_run(page)
    assert page.get_by_role("link", name="Review the next uncertain pair").count() == 0
    page.locator(".incident-table tbody a").first.click()
    page.wait_for_url(re.compile(r"/pairs/\d+/$"))
    assert page.get_by_text("Your role may view pairs but not decide on them").is_visible()
    assert page.get_by_role("button", name=re.compile("Save decision")).count() == 0


def test_an_outsider_finds_neither_the_run_nor_its_pairs(page, live_server, coalition, browser):
    sign_in(page, "alice")
    start_run(page)
    run_url = page.url
    pair_url = page.locator(".incident-table tbody a").first.get_attribute("href")
    page.context.clear_cookies()
    sign_in(page, "charlie")
    page.goto("/linkage/")
    assert page.get_by_text("No linkage run yet.").is_visible()
    for url in (run_url, pair_url):
        response = page.goto(url)
        assert response.status == 404

"""The synthetic-data simulator: calibration, exchange format, coherence, noise and hidden truth."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import subprocess
import sys

import pycountry
import pytest
import yaml

from tnr.methods import simulate as sim
from tnr.methods.simulate import (
    DEFAULT_ORGANISATIONS,
    Dataset,
    OrganisationProfile,
    SimulationConfig,
    incident_tactic,
    iter_incidents,
    simulate,
)

pytestmark = []

INCIDENT_KEYS = [
    "id",
    "title",
    "summary",
    "start_date",
    "end_date",
    "date_precision",
    "location_country",
    "admin_area",
    "city",
    "location_type",
    "origin_state",
    "perpetrator_states",
    "host_state",
    "host_state_role",
    "mass_event",
    "confidence",
    "independent_sources",
    "sensitivity",
    "sharing",
    "acts",
    "sources",
]
ACT_KEYS = [
    "id",
    "target",
    "primary_tactic",
    "secondary_tactics",
    "pretext",
    "outcome",
    "involvements",
]
SOURCE_KEYS = ["id", "type", "organisation", "reference", "date", "reliability", "connection"]
PERSON_KEYS = ["id", "sex", "age_group", "nationality", "host_status", "categories", "relations"]
ACTOR_KEYS = ["id", "type", "state", "name"]


@pytest.fixture(scope="module")
def run() -> sim.Simulation:
    """A default-organisation run, shared by the structural tests."""
    return simulate(SimulationConfig(seed=11, n_incidents=2000))


def everything(s: sim.Simulation) -> str:
    return json.dumps(
        {
            "truth": s.truth.to_exchange("TRUTH"),
            "documented": {code: ds.to_exchange(code) for code, ds in s.documented.items()},
            "links": sorted(s.links.items()),
            "person_links": sorted(s.person_links.items()),
            "n_undocumented": s.n_undocumented,
            "histories": s.capture_histories(),
        },
        sort_keys=True,
    )


def all_datasets(s: sim.Simulation) -> list[tuple[str, Dataset]]:
    return [("T", s.truth), *s.documented.items()]


def valid_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_output_and_another_seed_does_not() -> None:
    config = SimulationConfig(seed=7, n_incidents=200)
    first = everything(simulate(config))
    assert everything(simulate(config)) == first
    assert everything(simulate(dataclasses.replace(config, seed=8))) != first


def test_streaming_gives_the_same_records_as_simulate() -> None:
    config = SimulationConfig(seed=3, n_incidents=200)
    whole = simulate(config)
    truth, orgs = [], collections.defaultdict(list)
    for item in iter_incidents(config):
        truth.append(item.truth.incident)
        for code, record in item.documented.items():
            orgs[code].append(record.incident)
    assert json.dumps(truth) == json.dumps(whole.truth.incidents)
    for code, ds in whole.documented.items():
        assert json.dumps(orgs[code]) == json.dumps(ds.incidents)


def test_an_organisation_s_records_do_not_depend_on_the_other_organisations() -> None:
    orga, orgb = DEFAULT_ORGANISATIONS[:2]
    both = simulate(SimulationConfig(seed=4, n_incidents=300, organisations=(orga, orgb)))
    alone = simulate(SimulationConfig(seed=4, n_incidents=300, organisations=(orga,)))
    # The truth is the same, except how many organisations documented each incident.
    strip = [{**i, "independent_sources": None} for i in both.truth.incidents]
    assert json.dumps(strip) == json.dumps(
        [{**i, "independent_sources": None} for i in alone.truth.incidents]
    )
    assert json.dumps(both.documented["ORGA"].to_exchange("ORGA")) == json.dumps(
        alone.documented["ORGA"].to_exchange("ORGA")
    )


# --- calibration ---------------------------------------------------------------------------


def test_calibration_file_holds_the_published_figures_with_sources() -> None:
    raw = yaml.safe_load(sim.CALIBRATION_PATH.read_text(encoding="utf-8"))
    for block in (
        "totals",
        "origins",
        "years",
        "physical_tactics",
        "non_physical_tactics",
        "tactic_visibility",
        "hosts",
        "persons",
        "actors",
        "cities",
    ):
        assert raw[block]["source"], block
    assert raw["totals"]["incidents"] == 1219
    assert sum(raw["years"]["weights"].values()) == 1219
    assert raw["years"]["weights"][2024] == 160
    cal = sim.load_calibration()
    assert len(cal.origin_weights) == 48
    assert sum(cal.origin_weights[o] for o in cal.top_ten) == pytest.approx(0.80)
    assert cal.origin_weights["CN"] == pytest.approx(0.22)
    assert len(set(cal.host_universe)) == 103
    assert all(valid_country(c) for c in [*cal.origin_weights, *cal.host_universe, *cal.cities])


def test_published_shares_are_recovered_at_n_20000() -> None:
    # Truth only (no organisations) keeps this fast; not a fixture, so the large heap does not
    # outlive the test and slow down the garbage collector in the others.
    incidents = simulate(
        SimulationConfig(seed=5, n_incidents=20_000, organisations=())
    ).truth.incidents
    n = len(incidents)
    origins = collections.Counter(i["origin_state"] for i in incidents)
    assert origins["CN"] / n == pytest.approx(0.22, abs=0.02)
    top_ten = [o for o, _ in origins.most_common(10)]
    assert sum(origins[o] for o in top_ten) / n == pytest.approx(0.80, abs=0.03)
    assert set(top_ten) == set(sim.load_calibration().top_ten)
    assert len(origins) <= 48
    assert len({i["host_state"] for i in incidents}) <= 103

    tactics = collections.Counter(incident_tactic(i) for i in incidents)
    physical = sum(c for t, c in tactics.items() if t in sim.PHYSICAL_TACTICS)
    assert tactics["detention_on_request"] / physical == pytest.approx(510 / 1219, abs=0.02)
    assert tactics["unlawful_deportation"] / physical == pytest.approx(241 / 1219, abs=0.02)
    assert physical / n == pytest.approx(0.60, abs=0.02)  # the rest is non-physical TNR
    assert all(t in tactics for t in sim.TACTICS)

    in_2024 = sum(i["start_date"].startswith("2024") for i in incidents)
    assert in_2024 / n == pytest.approx(160 / 1219, abs=0.01)
    years = collections.Counter(i["start_date"][:4] for i in incidents)
    assert years["2014"] < years["2019"] < years["2024"]
    assert sum(i["mass_event"] for i in incidents) / n == pytest.approx(0.03, abs=0.01)


def test_physical_only_and_custom_tactic_mix() -> None:
    physical = simulate(
        SimulationConfig(seed=1, n_incidents=400, include_non_physical=False, organisations=())
    )
    assert all(incident_tactic(i) in sim.PHYSICAL_TACTICS for i in physical.truth.incidents)
    digital = simulate(
        SimulationConfig(
            seed=1,
            n_incidents=100,
            organisations=(),
            tactic_mix={"spyware_account_compromise": 1.0},
        )
    )
    for incident in digital.truth.incidents:
        assert incident_tactic(incident) == "spyware_account_compromise"
        assert incident["location_type"] == "online"
        assert incident["location_country"] == incident["host_state"]


# --- exchange format and codes -------------------------------------------------------------


def test_exchange_document(run: sim.Simulation) -> None:
    doc = run.documented["ORGA"].to_exchange("ORGA")
    assert list(doc) == [
        "format",
        "version",
        "synthetic",
        "organisation",
        "incidents",
        "persons",
        "actors",
    ]
    assert (doc["format"], doc["version"], doc["synthetic"], doc["organisation"]) == (
        "tnr-exchange",
        "1.0",
        True,
        "ORGA",
    )
    assert run.truth.synthetic
    assert all(ds.synthetic for ds in run.documented.values())
    part = {**doc, "incidents": doc["incidents"][:50]}
    back = Dataset.from_exchange(json.loads(json.dumps(part)))
    assert json.dumps(back.to_exchange("ORGA")) == json.dumps(part)


def test_every_field_uses_a_known_code(run: sim.Simulation) -> None:
    for name, ds in all_datasets(run):
        for incident in ds.incidents:
            assert list(incident) == INCIDENT_KEYS
            assert incident["date_precision"] in sim.DATE_PRECISIONS
            assert incident["location_type"] in sim.LOCATION_TYPES
            assert incident["host_state_role"] in sim.HOST_STATE_ROLES
            assert incident["confidence"] in sim.CONFIDENCE_LEVELS
            assert incident["sensitivity"] in sim.SENSITIVITY_LEVELS
            assert incident["sharing"] in sim.SHARING_LEVELS
            assert isinstance(incident["independent_sources"], int)
            assert incident["independent_sources"] >= 0
            assert isinstance(incident["mass_event"], bool)
            countries = [
                incident["location_country"],
                incident["origin_state"],
                incident["host_state"],
                *incident["perpetrator_states"],
            ]
            assert all(valid_country(c) for c in countries), countries
            assert incident["origin_state"] in incident["perpetrator_states"]
            assert incident["host_state"] != incident["origin_state"]
            assert incident["title"]
            assert incident["summary"]
            assert len(incident["title"]) <= 120
            for act in incident["acts"]:
                assert list(act) == ACT_KEYS
                assert act["primary_tactic"] in sim.TACTICS
                assert set(act["secondary_tactics"]) <= set(sim.TACTICS)
                assert act["outcome"] in sim.OUTCOMES
                for inv in act["involvements"]:
                    assert list(inv) == ["actor", "degree"]
                    assert inv["degree"] in sim.INVOLVEMENT_DEGREES
            for source in incident["sources"]:
                assert list(source) == SOURCE_KEYS
                assert source["type"] in sim.SOURCE_TYPES
                assert source["reliability"] in sim.RELIABILITY_LEVELS
                assert source["connection"] in sim.CONNECTIONS
        for person in ds.persons:
            assert list(person) == PERSON_KEYS
            assert person["sex"] in sim.SEXES
            assert person["age_group"] in sim.AGE_GROUPS
            assert person["host_status"] in sim.HOST_STATUSES
            assert person["categories"]
            assert set(person["categories"]) <= set(sim.TARGET_CATEGORIES)
            assert person["nationality"]
            assert all(valid_country(c) for c in person["nationality"])
            assert all(r["type"] in sim.RELATION_TYPES for r in person["relations"])
        for actor in ds.actors:
            assert list(actor) == ACTOR_KEYS
            assert actor["type"] in sim.ACTOR_TYPES
            assert actor["state"] is None or valid_country(actor["state"])
            assert actor["name"].endswith("(synthetic)"), name


def test_codes_agree_with_the_shared_vocabularies_when_present() -> None:
    # Optional cross-check: the simulator must not depend on tnr.taxonomy, but while both
    # exist its codes must be valid there (vocabularies may hold more codes than it uses).
    vocab = pytest.importorskip("tnr.taxonomy.vocab")
    mine = {
        "tactic": sim.TACTICS,
        "target_category": sim.TARGET_CATEGORIES,
        "actor_type": sim.ACTOR_TYPES,
        "outcome": sim.OUTCOMES,
        "location_type": sim.LOCATION_TYPES,
        "source_type": sim.SOURCE_TYPES,
    }
    for name, codes in mine.items():
        assert set(codes) <= set(vocab.load_vocabulary(name).codes), name
    tactics = vocab.load_vocabulary("tactic")
    assert sorted(sim.TACTICS, key=lambda c: tactics.get(c).precedence) == list(sim.TACTICS)
    assert {t.code for t in tactics if t.physical} == set(sim.PHYSICAL_TACTICS)


def test_dates_are_iso_ordered_and_match_their_precision(run: sim.Simulation) -> None:
    for _, ds in all_datasets(run):
        for incident in ds.incidents:
            start = dt.date.fromisoformat(incident["start_date"])
            if incident["end_date"] is not None:
                assert dt.date.fromisoformat(incident["end_date"]) >= start
            if incident["date_precision"] == "month":
                assert start.day == 1
            elif incident["date_precision"] == "year":
                assert (start.month, start.day) == (1, 1)
            for source in incident["sources"]:
                assert dt.date.fromisoformat(source["date"]) >= start


def test_ids_are_unique_and_every_reference_resolves(run: sim.Simulation) -> None:
    merged = run.merged()
    for prefix, ds in [*all_datasets(run), ("", merged)]:
        person_ids = [p["id"] for p in ds.persons]
        actor_ids = [a["id"] for a in ds.actors]
        incident_ids = [i["id"] for i in ds.incidents]
        for ids in (person_ids, actor_ids, incident_ids):
            assert len(ids) == len(set(ids))
            assert all(i.startswith(f"{prefix}-") for i in ids) or prefix == ""
        persons, actors = set(person_ids), set(actor_ids)
        for person in ds.persons:
            assert all(
                r["person"] in persons and r["person"] != person["id"] for r in person["relations"]
            )
        for incident in ds.incidents:
            for k, act in enumerate(incident["acts"], start=1):
                assert act["id"] == f"{incident['id']}-A{k}"
                assert act["target"] in persons
                assert all(inv["actor"] in actors for inv in act["involvements"])
    assert len(merged.incidents) == sum(len(ds.incidents) for ds in run.documented.values())


# --- coherence -----------------------------------------------------------------------------


def test_tactics_outcomes_locations_and_host_roles_are_coherent(run: sim.Simulation) -> None:
    for _, ds in all_datasets(run):
        actor_type = {a["id"]: a["type"] for a in ds.actors}
        for incident in ds.incidents:
            acts = incident["acts"]
            for act in acts:
                tactics = [act["primary_tactic"], *act["secondary_tactics"]]
                assert sim.primary_tactic(tactics) == act["primary_tactic"]
                assert len(set(tactics)) == len(tactics)
                assert act["outcome"] in sim.OUTCOMES_BY_TACTIC[act["primary_tactic"]]
                host_degrees = {
                    inv["degree"]
                    for inv in act["involvements"]
                    if actor_type[inv["actor"]] == "host_authority"
                }
                assert host_degrees <= {"co_opted_host_authority"}
                if act["primary_tactic"] in sim.CO_OPTED_HOST_TACTICS:
                    assert incident["host_state_role"] in ("co_opted", "complicit")
                    assert host_degrees == {"co_opted_host_authority"}
            main = incident_tactic(incident)
            if incident["host_state_role"] in ("co_opted", "complicit"):
                assert any(
                    actor_type[inv["actor"]] == "host_authority"
                    for act in acts
                    for inv in act["involvements"]
                )
            if main in sim.DIGITAL_TACTICS:
                assert incident["location_type"] == "online"
            if incident["location_type"] == "online" or main != "coercion_by_proxy":
                assert incident["location_country"] == incident["host_state"]
            else:
                assert incident["location_country"] in (
                    incident["host_state"],
                    incident["origin_state"],
                )
            if "T" in incident["id"][:1]:
                assert incident["mass_event"] == (len(acts) >= 3)
            if incident["mass_event"]:
                assert len(acts) >= 3


def test_relatives_back_home_are_targeted_by_proxy(run: sim.Simulation) -> None:
    persons = {p["id"]: p for p in run.truth.persons}
    relative_acts = in_origin = 0
    for incident in run.truth.incidents:
        for act in incident["acts"]:
            target = persons[act["target"]]
            if (
                act["primary_tactic"] == "coercion_by_proxy"
                and "relative_of_target" in target["categories"]
            ):
                relative_acts += 1
                exile = persons[target["relations"][0]["person"]]
                assert "relative_of_target" not in exile["categories"]
        in_origin += incident["location_country"] == incident["origin_state"]
    assert relative_acts > 10
    assert in_origin > 5


# --- organisations, noise and the hidden truth -----------------------------------------------


def test_each_organisation_documents_about_its_coverage_with_correlated_capture(
    run: sim.Simulation,
) -> None:
    n = run.config.n_incidents
    seen = {org.code: set() for org in run.config.organisations}
    for (code, _rid), tid in run.links.items():
        seen[code].add(tid)
    for org in run.config.organisations:
        assert len(run.documented[org.code].incidents) == len(seen[org.code])
        assert len(seen[org.code]) / n == pytest.approx(org.coverage, abs=0.05), org.code
    # Shared visibility: two organisations overlap more than independent lists would.
    a, d = seen["ORGA"], seen["ORGD"]
    assert len(a & d) / n > 1.1 * (len(a) / n) * (len(d) / n)
    # The China-focused organisation over-represents China.
    china = sum(1 for i in run.documented["ORGB"].incidents if i["origin_state"] == "CN")
    assert china / len(run.documented["ORGB"].incidents) > 0.35


def test_accounting_of_documented_and_undocumented_incidents(run: sim.Simulation) -> None:
    truth_ids = {i["id"] for i in run.truth.incidents}
    assert len(truth_ids) == run.config.n_incidents
    documented = set(run.links.values())
    assert documented <= truth_ids
    assert run.n_undocumented + len(documented) == run.config.n_incidents
    assert run.n_documented == len(documented)
    histories = run.capture_histories()
    assert sum(count for _, count in histories) == len(documented)
    assert all(len(h) == 4 and any(h) for h, _ in histories)
    for position, code in enumerate(run.organisations):
        assert sum(c for h, c in histories if h[position]) == len(run.documented[code].incidents)
    truth_independent = {i["id"]: i["independent_sources"] for i in run.truth.incidents}
    assert sum(truth_independent.values()) == len(run.links)


def test_links_map_every_record_and_person_to_the_truth(run: sim.Simulation) -> None:
    truth = {i["id"]: i for i in run.truth.incidents}
    truth_persons = {p["id"]: p for p in run.truth.persons}
    for code, ds in run.documented.items():
        for incident in ds.incidents:
            true = truth[run.links[(code, incident["id"])]]
            assert incident["origin_state"] == true["origin_state"]
            assert incident["host_state"] == true["host_state"]
        for person in ds.persons:
            true_person = truth_persons[run.person_links[(code, person["id"])]]
            assert person["nationality"] == true_person["nationality"]
    assert len(run.links) == sum(len(ds.incidents) for ds in run.documented.values())
    assert len(run.person_links) == sum(len(ds.persons) for ds in run.documented.values())


def test_truth_never_leaks_into_organisation_records(run: sim.Simulation) -> None:
    for code, ds in run.documented.items():
        text = json.dumps(ds.to_exchange(code))
        assert '"T-' not in text
        assert "-T-" not in text
        for incident in ds.incidents:
            assert incident["sources"]
            assert all(s["organisation"] == code for s in incident["sources"])
            assert incident["id"].startswith(f"{code}-")


def test_organisation_copies_carry_noise(run: sim.Simulation) -> None:
    truth = {i["id"]: i for i in run.truth.incidents}
    truth_persons = {p["id"]: p for p in run.truth.persons}
    noise = collections.Counter()
    for code, ds in run.documented.items():
        for incident in ds.incidents:
            true = truth[run.links[(code, incident["id"])]]
            if incident["city"] and incident["city"] != true["city"]:
                noise["typo"] += 1
            if (
                incident["date_precision"] == true["date_precision"]
                and incident["start_date"] != true["start_date"]
            ):
                noise["shift"] += 1
            if incident["date_precision"] != true["date_precision"]:
                noise["precision"] += 1
            if incident_tactic(incident) != incident_tactic(true):
                noise["tactic"] += 1
            if incident["confidence"] != true["confidence"]:
                noise["confidence"] += 1
        for person in ds.persons:
            true_person = truth_persons[run.person_links[(code, person["id"])]]
            if person["age_group"] == "unknown" != true_person["age_group"]:
                noise["age"] += 1
    for kind in ("typo", "shift", "precision", "tactic", "confidence", "age"):
        assert noise[kind] > 0, kind


def test_repeat_targets_keep_one_id_within_an_organisation(run: sim.Simulation) -> None:
    targeted = collections.Counter(a["target"] for i in run.truth.incidents for a in i["acts"])
    assert any(n > 1 for n in targeted.values())
    for ds in run.documented.values():
        persons = {p["id"] for p in ds.persons}
        referenced = {a["target"] for i in ds.incidents for a in i["acts"]}
        assert referenced <= persons


# --- configuration and isolation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: OrganisationProfile(code="ORGA", name="x", coverage=0.0), "coverage"),
        (lambda: OrganisationProfile(code="orga", name="x", coverage=0.3), "upper-case"),
        (
            lambda: OrganisationProfile(
                code="ORGA", name="x", coverage=0.3, tactic_bias={"nope": 1.0}
            ),
            "tactic_bias",
        ),
        (
            lambda: OrganisationProfile(code="ORGA", name="x", coverage=0.3, focus_origins=("XX",)),
            "ISO 3166",
        ),
        (lambda: SimulationConfig(seed=-1), "seed"),
        (lambda: SimulationConfig(tactic_mix={"nope": 1.0}), "tactic_mix"),
        (lambda: SimulationConfig(organisations=(DEFAULT_ORGANISATIONS[0],) * 2), "unique"),
    ],
)
def test_bad_configuration_is_refused(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_default_organisations_differ() -> None:
    coverages = [o.coverage for o in DEFAULT_ORGANISATIONS]
    assert len(DEFAULT_ORGANISATIONS) == 4
    assert min(coverages) == 0.25
    assert max(coverages) == 0.60
    assert (
        len({(o.focus_origins, o.typo_rate, o.date_noise_days) for o in DEFAULT_ORGANISATIONS}) == 4
    )


def test_importing_the_simulator_does_not_import_django() -> None:
    code = (
        "import sys, tnr.methods.simulate\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'django'"
        " or (m.startswith('tnr.') and not m.startswith('tnr.methods'))]\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

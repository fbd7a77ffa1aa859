"""Record linkage on Splink (tnr.methods.linkage): frames, settings, training without labels,
clusters, caseworkers' decisions, and recovery of the simulator's hidden truth."""

from __future__ import annotations

import datetime as dt
import json
import logging
import random

import pandas as pd
import pytest

from tnr.methods.linkage import (
    Decision,
    FrameError,
    cluster_pairs,
    date_interval,
    incident_frame,
    link,
    pairwise_scores,
    person_frame,
    read_frame_csv,
    truth_pairs,
)
from tnr.methods.linkage_settings import (
    ComparisonSpec,
    LinkageSettings,
    SettingsError,
    default_incident_settings,
    default_person_settings,
)
from tnr.methods.simulate import SimulationConfig, simulate

logging.getLogger("splink").setLevel(logging.ERROR)


def days(iso: str) -> int:
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


# --- dates with their precision ---------------------------------------------------------------


def test_a_date_known_to_the_month_covers_the_whole_month():
    assert date_interval("2019-03-01", "month") == (days("2019-03-01"), days("2019-03-31"))


def test_a_date_known_to_the_month_of_a_leap_february_ends_on_the_29th():
    assert date_interval("2020-02-01", "month")[1] == days("2020-02-29")


def test_a_date_known_to_the_year_covers_the_year():
    assert date_interval("2019-01-01", "year") == (days("2019-01-01"), days("2019-12-31"))


def test_a_day_is_a_one_day_interval():
    assert date_interval("2019-03-12", "day") == (days("2019-03-12"), days("2019-03-12"))


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="decade"):
        date_interval("2019-03-12", "decade")


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [default_incident_settings, default_person_settings])
def test_settings_round_trip_through_json(make):
    settings = make()
    assert LinkageSettings.from_json(settings.to_json()) == settings


def test_settings_round_trip_gives_the_same_splink_model():
    settings = default_incident_settings(match_threshold=0.95)
    again = LinkageSettings.from_json(settings.to_json())
    from splink.internals.settings_creator import SettingsCreator

    def rendered(s: LinkageSettings) -> dict:
        creator: SettingsCreator = s.splink_settings()
        return creator.get_settings("duckdb").as_dict()

    assert rendered(again) == rendered(settings)


def test_settings_json_is_plain_data():
    data = json.loads(default_incident_settings().to_json())
    assert data["format"] == "tnr-linkage-settings"
    assert data["comparisons"][0] == {"name": "date", "kind": "date_interval", "columns": ["date"],
                                      "term_frequency": False, "options": {"day_gaps": [3, 14, 60]}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "cats"}, "kind: 'cats'"),
        ({"link_type": "link_all"}, "link_type"),
        ({"review_threshold": 0.99, "match_threshold": 0.9}, "review_threshold ≤ match_threshold"),
        ({"deterministic_recall": 0}, "deterministic_recall"),
        ({"training_rules": (("origin_state", "date_lo"),)}, "no session trains date"),
        ({"blocking_rules": ()}, "blocking_rules: at least one rule"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(change, message):
    with pytest.raises(SettingsError, match=message):
        default_incident_settings(**change)


def test_an_unknown_comparison_option_is_named():
    with pytest.raises(SettingsError, match=r"comparisons\[0\] \(date\): unknown option 'days'"):
        default_incident_settings(comparisons=(ComparisonSpec("date", "date_interval", ("date",), options={"days": 3}),))


def test_unknown_keys_in_a_settings_file_are_named():
    data = default_incident_settings().to_dict() | {"treshold": 0.5}
    with pytest.raises(SettingsError, match=r"unknown setting.*treshold"):
        LinkageSettings.from_dict(data)


def test_malformed_json_settings_give_line_and_column():
    with pytest.raises(SettingsError, match="line 1, column"):
        LinkageSettings.from_json("{not json")


def test_comparisons_and_rules_whose_columns_are_missing_are_left_out():
    settings = default_person_settings()
    frame_columns = [c for c in settings.input_columns if c != "full_name"] + ["unique_id", "source_dataset"]
    used = settings.for_columns(frame_columns)
    assert "name" not in [c.name for c in used.comparisons]
    assert ("full_name",) not in used.blocking_rules + used.training_rules
    with pytest.raises(SettingsError, match="blocking_rules: every rule needs columns the data lack"):
        settings.for_columns([c for c in frame_columns if c != "origin_state"])
    with pytest.raises(SettingsError, match=r"deterministic_rules: rule .* needs column\(s\) \['sex'\]"):
        settings.for_columns([c for c in frame_columns if c != "sex"])


# --- frames -----------------------------------------------------------------------------------


def incident(uid: str, org: str, *, start="2021-05-10", precision="day", city="Berlin", tactic="assault",
             origin="TR", host="DE", categories=("journalist",)) -> tuple[dict, dict]:  # fmt: skip
    person = {"id": f"{uid}-P", "categories": list(categories)}
    record = {
        "id": uid, "start_date": start, "date_precision": precision, "location_country": host, "city": city,
        "location_type": "public_place", "origin_state": origin, "host_state": host, "host_state_role": "none",
        "acts": [{"primary_tactic": tactic, "secondary_tactics": [], "target": person["id"]}],
        "sources": [{"organisation": org}],
    }  # fmt: skip
    return record, person


def test_incident_frame_normalises_codes_places_and_tactics():
    record, person = incident("A-1", "ORGA", city="  Düsseldorf ", precision="month", start="2021-05-01")
    record["acts"].append({"primary_tactic": "killing", "secondary_tactics": ["assault"], "target": None})
    row = incident_frame([record], [person]).iloc[0]
    assert row["city"] == "dusseldorf"
    assert row["tactic"] == "killing"  # the highest-precedence primary tactic
    assert row["tactics"] == ["assault", "killing"]
    assert row["tactic_family"] == "direct"
    assert (row["date_lo"], row["date_hi"]) == (days("2021-05-01"), days("2021-05-31"))
    assert row["source_dataset"] == "ORGA"
    assert row["n_targets"] == 2


def test_unknown_values_are_missing_not_equal():
    record, person = incident("A-1", "ORGA")
    record["host_state_role"] = "unknown"
    assert incident_frame([record], [person]).iloc[0]["host_state_role"] is None


def test_an_incident_without_a_list_is_refused_by_id():
    record, person = incident("A-9", "ORGA")
    record["sources"] = []
    with pytest.raises(FrameError, match="incident A-9: no documenting organisation"):
        incident_frame([record], [person])


def test_duplicate_ids_are_refused():
    records = [incident("A-1", "ORGA")[0], incident("A-1", "ORGB")[0]]
    with pytest.raises(FrameError, match="'A-1' is used by more than one record"):
        link(incident_frame(records))


def test_person_frame_takes_context_from_the_first_incident_and_names_when_given():
    record, person = incident("A-1", "ORGA", city="Paris", host="FR")
    person |= {"sex": "female", "age_group": "30_44", "nationality": ["TR"], "host_status": "refugee"}
    with_names = person_frame([person], [record], names={person["id"]: "Ayşe  Yılmaz"})
    assert with_names.iloc[0]["full_name"] == "ayse yılmaz"
    assert with_names.iloc[0]["city"] == "paris"
    assert "full_name" not in person_frame([person], [record]).columns


def test_csv_frames_report_every_problem_with_row_and_column(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(
        "unique_id,source_dataset,date,date_precision,origin_state,n_targets\n"
        "a1,ORGA,2021-05-03,day,TR,1\n"
        "a1,ORGB,2021-13-03,day,TR,x\n"
        "a3,,2021-05-03,week,TR,1\n",
        encoding="utf-8",
    )
    with pytest.raises(FrameError) as error:
        read_frame_csv(path)
    message = str(error.value)
    assert "row 3, column n_targets: 'x' is not a whole number" in message
    assert "row 3, column date: '2021-13-03' is not a date (YYYY-MM-DD)" in message
    assert "row 3, column unique_id: 'a1' already used on row 2" in message
    assert "row 4, column source_dataset: empty" in message
    assert "row 4, column date_precision: 'week' is not one of day, month, year" in message


def test_csv_frames_refuse_unknown_columns(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text("unique_id,source_dataset,name\nx,y,z\n", encoding="utf-8")
    with pytest.raises(FrameError, match=r"unknown column\(s\) \['name'\]"):
        read_frame_csv(path)


def test_csv_frame_reads_lists_and_dates(tmp_path):
    path = tmp_path / "records.csv"
    path.write_text(
        "unique_id,source_dataset,date,date_precision,tactic,target_categories\n"
        "a1,ORGA,2021-05-01,month,assault,journalist|academic\n",
        encoding="utf-8",
    )
    row = read_frame_csv(path).iloc[0]
    assert row["target_categories"] == ["academic", "journalist"]
    assert row["date_hi"] == days("2021-05-31")
    assert row["tactic_family"] == "direct"


# --- clusters and decisions (no model needed) ---------------------------------------------------


def pairs_of(*rows: tuple[str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["unique_id_l", "unique_id_r", "match_probability"])


def groups(clusters: pd.DataFrame) -> set[frozenset[str]]:
    return {frozenset(g) for _, g in clusters.groupby("cluster_id")["unique_id"]}


def test_pairs_above_the_threshold_are_clustered_transitively():
    clusters = cluster_pairs("ABCD", pairs_of(("A", "B", 0.999), ("B", "C", 0.995), ("C", "D", 0.5)), 0.99)
    assert groups(clusters) == {frozenset("ABC"), frozenset("D")}


def test_a_rejected_pair_is_split_even_through_a_third_record():
    decisions = [Decision("C", "A", same=False)]
    clusters = cluster_pairs("ABC", pairs_of(("A", "B", 0.999), ("B", "C", 0.995)), 0.99, decisions)
    # The weaker link (B–C) gives way: A and B stay together.
    assert groups(clusters) == {frozenset("AB"), frozenset("C")}


def test_a_confirmed_pair_is_linked_whatever_its_probability():
    clusters = cluster_pairs("ABC", pairs_of(("A", "B", 0.1)), 0.99, [Decision("A", "B", same=True)])
    assert groups(clusters) == {frozenset("AB"), frozenset("C")}


def test_a_rejected_direct_pair_is_unlinked():
    clusters = cluster_pairs("AB", pairs_of(("A", "B", 0.9999)), 0.99, [Decision("B", "A", same=False)])
    assert groups(clusters) == {frozenset("A"), frozenset("B")}


def test_pairwise_scores_count_pairs_within_clusters():
    clusters = pd.DataFrame({"unique_id": list("ABCD"), "cluster_id": ["1", "1", "1", "2"]})
    scores = pairwise_scores(clusters, {"A": "x", "B": "x", "C": "y", "D": "y"})
    assert (scores["predicted_pairs"], scores["true_pairs"], scores["correct_pairs"]) == (3, 2, 1)
    assert scores["precision"] == pytest.approx(1 / 3)
    assert scores["recall"] == pytest.approx(1 / 2)


def test_truth_pairs_lists_each_pair_once():
    assert truth_pairs({"b": "x", "a": "x", "c": "x", "d": "y"}) == {("a", "b"), ("a", "c"), ("b", "c")}


# --- trained on the simulator ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated():
    sim = simulate(SimulationConfig(seed=11, n_incidents=2500))
    incidents = [i for ds in sim.documented.values() for i in ds.incidents]
    persons = [p for ds in sim.documented.values() for p in ds.persons]
    frame = incident_frame(incidents, persons)
    truth = {rid: tid for (_org, rid), tid in sim.links.items()}
    return sim, frame, truth


@pytest.fixture(scope="module")
def linked(simulated):
    _sim, frame, _truth = simulated
    return link(frame)


def test_linkage_recovers_the_simulators_hidden_incidents(simulated, linked):
    _sim, frame, truth = simulated
    scores = pairwise_scores(linked.clusters, truth)
    # Measured 0.984 and 0.999 for this seed; the margins absorb library changes, not regressions.
    assert scores["precision"] >= 0.93, scores
    assert scores["recall"] >= 0.97, scores
    assert linked.n_records == len(frame)
    assert set(linked.clusters["unique_id"]) == set(frame["unique_id"])


def test_clusters_are_far_better_than_linking_on_the_exact_fields():
    """Baseline: records equal on origin, host, start date and main tactic are the same incident."""
    sim = simulate(SimulationConfig(seed=11, n_incidents=2500))
    incidents = [i for ds in sim.documented.values() for i in ds.incidents]
    frame = incident_frame(incidents, [p for ds in sim.documented.values() for p in ds.persons])
    key = frame[["origin_state", "host_state", "date_lo", "tactic"]].astype(str).agg("|".join, axis=1)
    exact = pd.DataFrame({"unique_id": frame["unique_id"], "cluster_id": key})
    truth = {rid: tid for (_org, rid), tid in sim.links.items()}
    assert pairwise_scores(exact, truth)["recall"] < 0.85


def test_no_pair_from_one_list_is_linked_on_the_simulator(linked):
    # The simulator's lists hold no duplicates: the model learns that a shared list counts against.
    labels = linked.level_labels()["same_list"]
    assert labels[1][0] == "same"
    assert labels[1][1] < -3  # being in the same list weighs against a match


def test_a_date_known_only_to_the_month_is_not_penalised_against_a_day_inside_it(linked):
    labels = linked.level_labels()["date"]
    by_label = dict(labels.values())
    assert by_label["consistent, known to the month"] > 0
    assert by_label["consistent, known to the month"] > by_label["within 60 days"]
    assert by_label["consistent, known to the month"] > by_label["more than 60 days apart"]

    month, p1 = incident("M-1", "ORGA", start="2021-05-01", precision="month")
    inside, p2 = incident("D-1", "ORGB", start="2021-05-17")
    outside, p3 = incident("D-2", "ORGC", start="2021-07-20")
    frame = incident_frame([month, inside, outside], [p1, p2, p3])
    settings = linked.settings
    low = LinkageSettings.from_dict(settings.to_dict() | {"review_threshold": 0.0001, "match_threshold": 0.5})
    scored = link(frame, low, model=linked.model).pairs.set_index(["unique_id_l", "unique_id_r"])
    date_level = {g: label for g, (label, _w) in labels.items()}
    assert date_level[scored.loc[("D-1", "M-1"), "gamma_date"]] == "consistent, known to the month"
    assert scored.loc[("D-1", "M-1"), "match_probability"] > 0.5
    if ("D-2", "M-1") in scored.index:  # not kept at all when it scores below the threshold
        assert scored.loc[("D-2", "M-1"), "match_probability"] < scored.loc[("D-1", "M-1"), "match_probability"]


def test_a_trained_model_scores_again_without_training_and_gives_the_same_pairs(simulated, linked):
    _sim, frame, _truth = simulated
    json_model = json.loads(json.dumps(linked.model))
    again = link(frame, linked.settings, model=json_model)
    assert again.timings.keys() == {"predict", "cluster"}
    merged = linked.pairs.merge(again.pairs, on=["unique_id_l", "unique_id_r"], suffixes=("", "_again"))
    assert len(merged) == len(linked.pairs) == len(again.pairs)
    assert (merged["match_probability"] - merged["match_probability_again"]).abs().max() < 1e-9
    assert groups(again.clusters) == groups(linked.clusters)


def test_a_model_for_other_comparisons_is_refused(simulated, linked):
    _sim, frame, _truth = simulated
    model = json.loads(json.dumps(linked.model))
    model["comparisons"] = model["comparisons"][1:]
    with pytest.raises(SettingsError, match="model: trained for comparisons"):
        link(frame, linked.settings, model=model)


def test_decisions_override_the_model_in_the_clusters(simulated, linked):
    _sim, frame, _truth = simulated
    clusters = dict(zip(linked.clusters["unique_id"], linked.clusters["cluster_id"], strict=True))
    linked_pair = linked.pairs[linked.pairs["match_probability"] >= linked.settings.match_threshold].iloc[0]
    a, b = linked_pair["unique_id_l"], linked_pair["unique_id_r"]
    assert clusters[a] == clusters[b]
    apart = [u for u in frame["unique_id"] if clusters[u] != clusters[a]][:1][0]

    decisions = [Decision(a, b, same=False), Decision(a, apart, same=True)]
    again = link(frame, linked.settings, model=linked.model, decisions=decisions)
    after = dict(zip(again.clusters["unique_id"], again.clusters["cluster_id"], strict=True))
    assert after[a] != after[b]
    assert after[a] == after[apart]
    decided = again.pairs.set_index(["unique_id_l", "unique_id_r"])["decision"]
    assert decided[tuple(sorted((a, apart)))] is True  # kept although the model never scored it
    assert not again.uncertain()["decision"].notna().any()  # decided pairs leave the review list


def test_a_decision_on_an_unknown_record_is_refused(simulated, linked):
    _sim, frame, _truth = simulated
    with pytest.raises(FrameError, match="'nope'"):
        link(frame, linked.settings, model=linked.model, decisions=[Decision("nope", frame["unique_id"][0], True)])


def test_uncertain_pairs_lie_between_the_thresholds(linked):
    uncertain = linked.uncertain()
    assert len(uncertain) > 0
    s = linked.settings
    assert uncertain["match_probability"].between(s.review_threshold, s.match_threshold, inclusive="left").all()


def test_a_single_list_is_deduplicated():
    records = [incident("A-1", "ORGA")[0], incident("A-2", "ORGA", city="Bonn")[0],
               incident("A-3", "ORGA", start="2020-01-02")[0]]  # fmt: skip
    frame = incident_frame(records)
    with pytest.raises(FrameError, match="link_only needs records from at least two lists"):
        link(frame, default_incident_settings(link_type="link_only"))


def test_persons_are_linked_across_lists_with_names_when_recorded():
    """Persons from the simulator, with made-up names (a letter lost in some of one list's):
    names lift what profile and context alone reach."""
    sim = simulate(SimulationConfig(seed=5, n_incidents=1500))
    incidents = [i for ds in sim.documented.values() for i in ds.incidents]
    # Relatives who were never targeted have no incident to name their list: given here.
    persons = [p | {"source_dataset": org} for org, ds in sim.documented.items() for p in ds.persons]
    truth = {pid: tid for (_org, pid), tid in sim.person_links.items()}
    syllables = ["a", "ba", "ka", "di", "el", "fa", "gu", "ha", "il", "ja", "ko", "li", "ma", "na", "or",
                 "ra", "sa", "ta", "ul", "za"]  # fmt: skip
    names = {}
    for (org, pid), tid in sim.person_links.items():
        pick = random.Random(tid).choice
        name = " ".join("".join(pick(syllables) for _ in range(3)) for _ in range(2))
        if org == "ORGD" and pick([True, False, False, False]):
            name = name[:2] + name[3:]  # a letter lost
        names[pid] = name
    frame = person_frame(persons, incidents, names=names)
    with_names = pairwise_scores(link(frame).clusters, truth)
    without = pairwise_scores(link(frame.drop(columns=["full_name"])).clusters, truth)
    # Measured: with names P 0.58 R 0.99, without P 0.49 R 0.91. What stays wrong are people
    # targeted together in one incident, who share every context field (docs/linkage.md).
    assert with_names["recall"] >= 0.95, with_names
    assert with_names["recall"] > without["recall"]
    assert with_names["precision"] > without["precision"]

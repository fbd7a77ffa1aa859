"""The vocabulary data files and their pure-Python loader (no database, no Django).

The data checks read the YAML files twice: through the loader, and raw with PyYAML, so that a
bug in the loader's validation cannot hide a bad file.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tnr.taxonomy import vocab

REQUIRED_CODES: dict[str, list[str]] = {
    "tactic": [
        "killing",
        "abduction_rendition",
        "assault",
        "intimidation_surveillance",
        "detention_on_request",
        "unlawful_deportation",
        "legal_process_abuse",
        "document_denial",
        "citizenship_travel_ban",
        "coercion_by_proxy",
        "spyware_account_compromise",
        "online_threats_smear",
        "monitoring_infiltration",
        "asset_financial_measures",
    ],
    "target_category": [
        "journalist",
        "human_rights_defender",
        "trade_unionist",
        "political_opposition",
        "religious_minority",
        "ethnic_minority",
        "former_insider",
        "academic",
        "relative_of_target",
        "lgbti",
        "student",
        "activist",
        "other",
    ],
    "actor_type": [
        "state_intelligence",
        "state_police",
        "state_consular",
        "state_judiciary",
        "state_military",
        "state_other",
        "proxy_criminal",
        "proxy_coerced_relative",
        "proxy_front_organisation",
        "proxy_online_network",
        "host_authority",
        "company_platform",
        "company_bank",
        "company_spyware_vendor",
        "company_airline",
        "international_body",
        "unknown",
    ],
    "outcome": [
        "killed",
        "injured",
        "abducted",
        "disappeared",
        "detained",
        "deported",
        "extradited",
        "extradition_refused",
        "released",
        "escaped",
        "device_compromised",
        "account_compromised",
        "assets_frozen",
        "document_denied",
        "family_harmed",
        "intimidated",
        "ongoing",
        "no_harm",
        "unknown",
    ],
    "location_type": [
        "residence",
        "public_place",
        "consulate_embassy",
        "airport_border",
        "detention_facility",
        "online",
        "workplace",
        "other",
        "unknown",
    ],
    "source_type": [
        "testimony",
        "ngo",
        "media",
        "court",
        "government",
        "un",
        "social_media",
        "other",
    ],
}

TACTIC_GROUPS = {
    "direct": ["killing", "abduction_rendition", "assault", "intimidation_surveillance"],
    "co_opted_host": ["detention_on_request", "unlawful_deportation", "legal_process_abuse"],
    "mobility": ["document_denial", "citizenship_travel_ban"],
    "proxy": ["coercion_by_proxy"],
    "digital": ["spyware_account_compromise", "online_threats_smear", "monitoring_infiltration"],
    "economic": ["asset_financial_measures"],
}
ACTOR_GROUPS = {"state", "proxy", "host", "private", "international", "unknown"}
TACTIC_SCHEMES = ("ohchr_sdg16101", "freedom_house", "huridocs", "acled")
FREEDOM_HOUSE = {
    "killing": "assassination",
    "abduction_rendition": "rendition",
    "assault": "assault",
    "intimidation_surveillance": "physical_intimidation",
    "detention_on_request": "detention",
    "unlawful_deportation": "unlawful_deportation",
}
FH_NULL_NOTE = "not counted by Freedom House physical-incident data"
VICTIM_GROUPS = {
    "journalist": "journalists_media",
    "human_rights_defender": "human_rights_defenders",
    "trade_unionist": "trade_unionists",
}
CODE_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def raw(filename: str) -> Any:
    return yaml.safe_load((vocab.DATA_DIR / filename).read_text(encoding="utf-8"))


RAW_SCHEMES = raw(vocab.SCHEMES_FILE)["schemes"]
ALL_TERMS = [
    pytest.param(name, term, id=f"{name}:{term['code']}")
    for name, filename in vocab.VOCABULARY_FILES.items()
    for term in raw(filename)["terms"]
]
TACTIC_TERMS = [p for p in ALL_TERMS if p.values[0] == "tactic"]


def scheme_codes(scheme: str) -> set[str]:
    return {c["code"] for c in RAW_SCHEMES[scheme]["categories"]}


# --------------------------------------------------------------------------- the data files


def test_every_vocabulary_loads_with_its_declared_name_and_version():
    loaded = vocab.load_all()
    assert list(loaded) == list(vocab.VOCABULARY_FILES)
    for name, filename in vocab.VOCABULARY_FILES.items():
        data = raw(filename)
        assert data["vocabulary"] == name
        assert isinstance(data["version"], int)
        assert data["version"] >= 1
        assert loaded[name].version == data["version"]
        assert loaded[name].title
        assert loaded[name].description
        assert loaded[name].ref == f"{name}@{data['version']}"


def test_no_stray_data_files():
    expected = {
        *vocab.VOCABULARY_FILES.values(),
        vocab.SCHEMES_FILE,
        vocab.FIELD_CROSSWALKS_FILE,
    }
    assert {p.name for p in vocab.DATA_DIR.glob("*.y*ml")} == expected


@pytest.mark.parametrize("name", list(REQUIRED_CODES))
def test_required_codes_are_present(name):
    codes = vocab.load_vocabulary(name).codes
    missing = [c for c in REQUIRED_CODES[name] if c not in codes]
    assert not missing, f"{name} lacks required codes {missing}"


@pytest.mark.parametrize("filename", list(vocab.VOCABULARY_FILES.values()))
def test_codes_are_well_formed_and_unique(filename):
    codes = [t["code"] for t in raw(filename)["terms"]]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert CODE_RE.match(code), code
        assert len(code) <= 40, code


@pytest.mark.parametrize("filename", list(vocab.VOCABULARY_FILES.values()))
def test_labels_are_unique(filename):
    labels = [t["label"] for t in raw(filename)["terms"]]
    assert len(labels) == len(set(labels))


@pytest.mark.parametrize(("name", "term"), ALL_TERMS)
def test_every_term_has_a_definition_and_an_example(name, term):
    assert isinstance(term.get("definition"), str)
    assert len(term["definition"].split()) >= 4
    assert isinstance(term.get("examples"), list)
    assert term["examples"]
    assert all(isinstance(e, str) and e.strip() for e in term["examples"])


@pytest.mark.parametrize(("name", "term"), ALL_TERMS)
def test_every_null_crosswalk_is_explained(name, term):
    notes = term.get("crosswalk_notes") or {}
    for scheme, value in (term.get("crosswalks") or {}).items():
        assert scheme in RAW_SCHEMES, scheme
        if value is None:
            assert notes.get(scheme, "").strip(), f"{term['code']}: null {scheme} without a note"
    assert set(notes) <= set(term.get("crosswalks") or {})


@pytest.mark.parametrize(("name", "term"), ALL_TERMS)
def test_ohchr_and_freedom_house_values_exist_in_the_schemes(name, term):
    crosswalks = term.get("crosswalks") or {}
    for scheme in ("ohchr_sdg16101", "ohchr_sdg16101_victim_group", "freedom_house"):
        value = crosswalks.get(scheme)
        if value is not None:
            assert value in scheme_codes(scheme), f"{term['code']}: {scheme}={value!r}"


def test_scheme_categories_are_the_published_ones():
    assert scheme_codes("ohchr_sdg16101") == {
        "killing",
        "enforced_disappearance",
        "torture",
        "arbitrary_detention",
        "kidnapping",
        "other_harmful_acts",
    }
    assert scheme_codes("ohchr_sdg16101_victim_group") == set(VICTIM_GROUPS.values())
    assert scheme_codes("freedom_house") == set(FREEDOM_HOUSE.values())
    for name, scheme in vocab.load_schemes().items():
        assert scheme.citation, name
        assert scheme.title, name
        assert scheme.publisher, name
        assert all(c.definition for c in scheme.categories), name


# --------------------------------------------------------------------------- tactics


def test_tactic_precedence_matches_the_design_order():
    tactics = vocab.load_vocabulary("tactic")
    by_precedence = sorted(tactics.terms, key=lambda t: t.precedence or 0)
    assert [t.code for t in by_precedence] == REQUIRED_CODES["tactic"]
    assert [t.precedence for t in by_precedence] == list(range(1, 15))
    assert tactics.codes == tuple(REQUIRED_CODES["tactic"]), "file order should follow precedence"


def test_tactic_groups():
    tactics = vocab.load_vocabulary("tactic")
    assert [g.code for g in tactics.groups] == list(TACTIC_GROUPS)
    for group, codes in TACTIC_GROUPS.items():
        assert [t.code for t in tactics.terms if t.group == group] == codes
        assert tactics.group(group).label
        assert tactics.group(group).definition


@pytest.mark.parametrize(("name", "term"), TACTIC_TERMS)
def test_every_tactic_has_every_crosswalk(name, term):
    crosswalks = term["crosswalks"]
    for scheme in TACTIC_SCHEMES:
        assert scheme in crosswalks, f"{term['code']} lacks {scheme}"
    acled = crosswalks["acled"]
    if acled is not None:
        acled_types = {c["label"]: c["sub_types"] for c in RAW_SCHEMES["acled"]["categories"]}
        assert acled["sub_event_type"] in acled_types[acled["event_type"]]


def test_physical_tactics_are_exactly_the_freedom_house_categories():
    tactics = vocab.load_vocabulary("tactic")
    for term in tactics.terms:
        assert isinstance(term.extra["physical"], bool)
        assert term.physical is term.extra["physical"]
        fh = term.crosswalks["freedom_house"]
        if term.code in FREEDOM_HOUSE:
            assert term.physical is True
            assert fh == FREEDOM_HOUSE[term.code]
        else:
            assert term.physical is False
            assert fh is None
            assert term.crosswalk_notes["freedom_house"].startswith(FH_NULL_NOTE)


def test_tactic_ohchr_anchors():
    assert vocab.crosswalk("tactic", "killing", "ohchr_sdg16101") == "killing"
    assert vocab.crosswalk("tactic", "abduction_rendition", "ohchr_sdg16101") == (
        "enforced_disappearance"
    )
    assert vocab.crosswalk("tactic", "detention_on_request", "ohchr_sdg16101") == (
        "arbitrary_detention"
    )
    assert vocab.crosswalk("tactic", "killing", "acled") == {
        "event_type": "Violence against civilians",
        "sub_event_type": "Attack",
    }


@pytest.mark.parametrize(
    ("codes", "primary"),
    [
        (["online_threats_smear", "assault"], "assault"),
        (["assault", "online_threats_smear"], "assault"),
        (["asset_financial_measures"], "asset_financial_measures"),
        (["coercion_by_proxy", "killing", "document_denial", "killing"], "killing"),
        (iter(["legal_process_abuse", "detention_on_request"]), "detention_on_request"),
        (REQUIRED_CODES["tactic"][::-1], "killing"),
    ],
)
def test_tactic_by_precedence(codes, primary):
    assert vocab.tactic_by_precedence(codes) == primary


def test_tactic_by_precedence_refuses_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        vocab.tactic_by_precedence([])
    with pytest.raises(KeyError, match="kiling"):
        vocab.tactic_by_precedence(["assault", "kiling"])


# --------------------------------------------------------------------------- other vocabularies


def test_target_category_victim_groups():
    categories = vocab.load_vocabulary("target_category")
    for term in categories.terms:
        expected = VICTIM_GROUPS.get(term.code)
        assert term.crosswalks["ohchr_sdg16101_victim_group"] == expected, term.code
        assert "huridocs" in term.crosswalks


def test_actor_types_have_groups_and_acled_and_huridocs():
    actors = vocab.load_vocabulary("actor_type")
    assert {g.code for g in actors.groups} == ACTOR_GROUPS
    actor_labels = {a["label"] for a in RAW_SCHEMES["acled"]["actor_types"]}
    for term in actors.terms:
        assert term.group in ACTOR_GROUPS
        assert term.code.split("_")[0] in {"state", "proxy", "host", "company"} or (
            term.code in {"international_body", "unknown"}
        )
        assert {"acled", "huridocs"} <= set(term.crosswalks)
        if term.crosswalks["acled"] is not None:
            assert term.crosswalks["acled"] in actor_labels
    assert actors.get("host_authority").crosswalks["acled"] == "State forces"


def test_source_types_have_huridocs():
    for term in vocab.load_vocabulary("source_type").terms:
        assert "huridocs" in term.crosswalks


def test_only_tactics_and_actor_types_have_groups_and_only_tactics_precedence():
    for name, vocabulary in vocab.load_all().items():
        assert bool(vocabulary.groups) == (name in {"tactic", "actor_type"})
        assert all((t.precedence is not None) == (name == "tactic") for t in vocabulary.terms)


# --------------------------------------------------------------------------- field crosswalks


def test_field_crosswalks_point_at_real_fields():
    rows = vocab.load_field_crosswalks()
    esf = {f["code"] for f in RAW_SCHEMES["huridocs"]["fields"]}
    acled = {f["code"] for f in RAW_SCHEMES["acled"]["fields"]}
    for row in rows:
        assert set(row.huridocs) <= esf, row
        assert set(row.acled) <= acled, row
        assert row.note or (row.huridocs and row.acled), row
        assert row.vocabulary is None or row.vocabulary in vocab.VOCABULARY_FILES
    fields = {(r.entity, r.field) for r in rows}
    for needed in [
        ("incident", "start_date"),
        ("incident", "location_country"),
        ("incident", "origin_state"),
        ("act", "primary_tactic"),
        ("act", "outcome"),
        ("involvement", "degree"),
        ("actor", "type"),
        ("person", "categories"),
        ("source", "type"),
    ]:
        assert needed in fields
    tactic_row = next(r for r in rows if (r.entity, r.field) == ("act", "primary_tactic"))
    assert tactic_row.vocabulary == "tactic"
    assert tactic_row.huridocs == ("2109",)
    assert tactic_row.acled == ("event_type", "sub_event_type")


# --------------------------------------------------------------------------- loader API


def test_vocabulary_api():
    tactics = vocab.load_vocabulary("tactic")
    assert tactics is vocab.load_vocabulary("tactic"), "loads are cached"
    assert "killing" in tactics
    assert "nope" not in tactics
    assert 3 not in tactics
    assert len(tactics) == len(list(tactics)) == len(tactics.codes)
    assert tactics.get("killing").label == "Killing or attempted killing"
    assert tactics.choices()[0] == ("killing", "Killing or attempted killing")
    term = tactics.get("spyware_account_compromise")
    assert term.group == "digital"
    assert term.precedence == 11
    assert term.physical is False
    assert isinstance(term.examples, tuple)
    with pytest.raises(KeyError, match="tactic vocabulary"):
        tactics.get("nope")
    with pytest.raises(KeyError):
        tactics.group("nope")
    with pytest.raises(KeyError, match="unknown vocabulary"):
        vocab.load_vocabulary("tactics")
    assert hash(term) == hash(tactics.get("spyware_account_compromise"))


def test_crosswalk_helper():
    outcomes = vocab.load_vocabulary("outcome")
    assert vocab.crosswalk("tactic", "legal_process_abuse", "freedom_house") is None
    assert vocab.crosswalk(outcomes, "injured", "huridocs") is None  # not mapped
    assert "Dead" in vocab.crosswalk(outcomes, "killed", "huridocs")
    with pytest.raises(KeyError, match="no crosswalk"):
        vocab.crosswalk("tactic", "killing", "freedomhouse")
    with pytest.raises(KeyError, match="not a code"):
        vocab.crosswalk("tactic", "murder", "acled")


def test_loader_does_not_import_django(tmp_path):
    src = Path(vocab.__file__).resolve().parents[2]
    code = (
        "import sys\n"
        "import tnr.taxonomy.vocab as v\n"
        "v.load_all(); v.load_schemes(); v.load_field_crosswalks()\n"
        "bad = sorted(m for m in sys.modules if m == 'django' or m.startswith('django.'))\n"
        "assert not bad, bad\n"
    )
    env = {**os.environ, "PYTHONPATH": str(src)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- malformed files


def _tactic_term(code: str, precedence: int, physical: bool, fh: str | None) -> dict[str, Any]:
    term: dict[str, Any] = {
        "code": code,
        "label": code.replace("_", " ").title(),
        "group": "direct",
        "precedence": precedence,
        "physical": physical,
        "definition": f"A definition of {code} in plain words.",
        "examples": [f"An example of {code}."],
        "crosswalks": {
            "ohchr_sdg16101": "other_harmful_acts",
            "freedom_house": fh,
            "huridocs": "MT 05 Methods of Violence: Beating",
            "acled": {"event_type": "Violence against civilians", "sub_event_type": "Attack"},
        },
    }
    if fh is None:
        term["crosswalk_notes"] = {"freedom_house": FH_NULL_NOTE}
    return term


def _tactic_doc() -> dict[str, Any]:
    return {
        "vocabulary": "tactic",
        "version": 1,
        "title": "Tactics",
        "description": "A small test vocabulary.",
        "groups": [{"code": "direct", "label": "Direct", "definition": "Direct attacks."}],
        "terms": [
            _tactic_term("killing", 1, True, "assassination"),
            _tactic_term("assault", 2, True, "assault"),
            _tactic_term("smear", 3, False, None),
        ],
    }


def _write(tmp_path: Path, doc: Any, name: str = "tactics_broken.yaml") -> Path:
    path = tmp_path / name
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _set(index: int, key: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        doc["terms"][index][key] = value

    return change


def _drop(index: int, key: str):
    def change(doc: dict[str, Any]) -> None:
        del doc["terms"][index][key]

    return change


def _crosswalk(index: int, scheme: str, value: Any):
    def change(doc: dict[str, Any]) -> None:
        doc["terms"][index]["crosswalks"][scheme] = value

    return change


def _drop_crosswalk(index: int, scheme: str):
    def change(doc: dict[str, Any]) -> None:
        del doc["terms"][index]["crosswalks"][scheme]

    return change


BROKEN_TERMS = [
    pytest.param(_drop(1, "definition"), "assault", "'definition'", id="missing-definition"),
    pytest.param(_set(1, "definition", "  "), "assault", "'definition'", id="empty-definition"),
    pytest.param(_set(2, "code", "killing"), "killing", "duplicate", id="duplicate-code"),
    pytest.param(_set(1, "code", "Assault"), "Assault", "bad code", id="uppercase-code"),
    pytest.param(_set(1, "code", "physical-assault"), "physical-assault", "bad code", id="hyphen"),
    pytest.param(_set(1, "code", "a" * 41), "a" * 41, "at most 40", id="code-too-long"),
    pytest.param(_set(1, "group", "indirect"), "assault", "unknown group", id="unknown-group"),
    pytest.param(_drop(1, "group"), "assault", "unknown group", id="missing-group"),
    pytest.param(_set(1, "examples", []), "assault", "example", id="no-examples"),
    pytest.param(_drop(1, "examples"), "assault", "example", id="missing-examples"),
    pytest.param(_set(1, "defintion", "typo"), "assault", "unknown key", id="misspelt-key"),
    pytest.param(_drop(0, "physical"), "killing", "'physical'", id="missing-physical"),
    pytest.param(_set(0, "physical", "yes"), "killing", "'physical'", id="physical-not-bool"),
    pytest.param(_set(2, "physical", True), "smear", "Freedom House", id="physical-without-fh"),
    pytest.param(_drop_crosswalk(0, "ohchr_sdg16101"), "killing", "ohchr_sdg16101", id="no-ohchr"),
    pytest.param(_drop_crosswalk(0, "freedom_house"), "killing", "freedom_house", id="no-fh"),
    pytest.param(_drop_crosswalk(0, "huridocs"), "killing", "huridocs", id="no-huridocs"),
    pytest.param(_drop_crosswalk(0, "acled"), "killing", "acled", id="no-acled"),
    pytest.param(_crosswalk(1, "huridocs", None), "assault", "crosswalk_notes", id="null-no-note"),
    pytest.param(_crosswalk(0, "ohchr_sdg16101", "murder"), "killing", "murder", id="bad-ohchr"),
    pytest.param(_crosswalk(0, "freedom_house", "murder"), "killing", "murder", id="bad-fh"),
    pytest.param(
        _crosswalk(0, "acled", {"event_type": "Violence against civilians", "sub_event_type": "X"}),
        "killing",
        "sub_event_type",
        id="bad-acled-sub-type",
    ),
    pytest.param(_crosswalk(0, "acled", "State forces"), "killing", "acled", id="acled-shape"),
    pytest.param(_crosswalk(0, "unesco", "x"), "killing", "unknown scheme", id="unknown-scheme"),
    pytest.param(
        _set(0, "crosswalk_notes", {"interpol": "x"}), "killing", "interpol", id="orphan-note"
    ),
    pytest.param(_drop(1, "precedence"), "assault", "precedence", id="missing-precedence"),
    pytest.param(_set(1, "precedence", 0), "assault", "precedence", id="zero-precedence"),
    pytest.param(_set(2, "precedence", 4), "smear", "precedence", id="precedence-gap"),
    pytest.param(_set(2, "precedence", 2), "smear", "precedence 2", id="precedence-twice"),
    pytest.param(_set(1, "examples", ["ok", " "]), "assault", "example", id="blank-example"),
    pytest.param(_set(1, "crosswalks", "x"), "assault", "'crosswalks'", id="crosswalks-not-map"),
    pytest.param(
        _set(1, "crosswalk_notes", {"huridocs": " "}), "assault", "huridocs", id="blank-note"
    ),
    pytest.param(
        _crosswalk(1, "huridocs", {"term": "x"}), "assault", "text or null", id="huridocs-shape"
    ),
    pytest.param(
        _crosswalk(1, "acled", {"event_type": "Bombings", "sub_event_type": "Attack"}),
        "assault",
        "unknown event_type",
        id="bad-acled-event-type",
    ),
    pytest.param(
        _crosswalk(
            1,
            "acled",
            {"event_type": "Violence against civilians", "sub_event_type": "Attack", "dead": 1},
        ),
        "assault",
        "only event_type",
        id="acled-extra-key",
    ),
]


def test_the_test_document_is_valid(tmp_path):
    tactics = vocab.load_vocabulary_file(_write(tmp_path, _tactic_doc()))
    assert tactics.codes == ("killing", "assault", "smear")


@pytest.mark.parametrize(("change", "code", "fragment"), BROKEN_TERMS)
def test_malformed_term_is_refused_naming_file_and_term(tmp_path, change, code, fragment):
    doc = copy.deepcopy(_tactic_doc())
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(vocab.VocabularyError) as error:
        vocab.load_vocabulary_file(path)
    message = str(error.value)
    assert path.name in message
    assert f"term {code!r}" in message
    assert fragment in message


def _one_term_doc(name: str, term: dict[str, Any]) -> dict[str, Any]:
    base = {"code": "x", "label": "X", "definition": "A plain definition.", "examples": ["e"]}
    return {
        "vocabulary": name,
        "version": 1,
        "title": "Test",
        "description": "Test.",
        "terms": [{**base, **term}],
    }


def _actor_doc(acled: Any) -> dict[str, Any]:
    doc = _one_term_doc(
        "actor_type", {"group": "unknown", "crosswalks": {"acled": acled, "huridocs": "x"}}
    )
    doc["groups"] = [{"code": "unknown", "label": "Unknown", "definition": "Not known."}]
    return doc


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        (_actor_doc("Police"), "unknown actor type 'Police'"),
        (_actor_doc({"event_type": "Battles"}), "expected an ACLED actor type"),
        (_one_term_doc("location_type", {"crosswalks": {"acled": 5}}), "mapping or an actor"),
        (_one_term_doc("outcome", {"group": "x"}), "has group 'x' but the file defines no groups"),
    ],
)
def test_vocabulary_specific_rules(tmp_path, doc, fragment):
    path = _write(tmp_path, doc, "one.yaml")
    with pytest.raises(vocab.VocabularyError, match=r"^one\.yaml: term 'x': ") as error:
        vocab.load_vocabulary_file(path)
    assert fragment in str(error.value)


def test_term_that_is_not_a_mapping_or_has_no_code_is_named_by_position(tmp_path):
    doc = _tactic_doc()
    doc["terms"][1] = "assault"
    with pytest.raises(vocab.VocabularyError, match=r"tactics_broken\.yaml: term #2 must be"):
        vocab.load_vocabulary_file(_write(tmp_path, doc))
    doc = _tactic_doc()
    del doc["terms"][1]["code"]
    with pytest.raises(vocab.VocabularyError, match=r"tactics_broken\.yaml: term #2: 'code'"):
        vocab.load_vocabulary_file(_write(tmp_path, doc))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.update(vocabulary="tactics"), "'vocabulary'"),
        (lambda d: d.update(version="1"), "'version'"),
        (lambda d: d.update(version=0), "'version'"),
        (lambda d: d.update(title=""), "'title'"),
        (lambda d: d.update(terms=[]), "'terms'"),
        (lambda d: d.update(extra_key=1), "unknown top-level"),
        (lambda d: d["groups"].append(dict(d["groups"][0])), "duplicate group"),
        (lambda d: d["groups"][0].pop("definition"), "group 'direct'"),
        (lambda d: d.update(groups="direct"), "'groups' must be a list"),
        (lambda d: d.update(groups=["direct"]), "group #1 must be a mapping"),
        (lambda d: d["groups"][0].update(colour="red"), "unknown key(s) colour"),
        (lambda d: d["groups"][0].pop("code"), "group #1: 'code' is missing"),
    ],
)
def test_malformed_file_header_is_refused_naming_the_file(tmp_path, change, fragment):
    doc = copy.deepcopy(_tactic_doc())
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(vocab.VocabularyError, match=re.escape(fragment)) as error:
        vocab.load_vocabulary_file(path)
    assert str(error.value).startswith(path.name)


def test_file_that_is_not_a_mapping_is_refused(tmp_path):
    with pytest.raises(vocab.VocabularyError, match="expected a mapping at the top level"):
        vocab.load_vocabulary_file(_write(tmp_path, "- killing\n- assault\n"))


def test_file_for_another_vocabulary_is_refused(tmp_path):
    path = _write(tmp_path, _tactic_doc())
    with pytest.raises(vocab.VocabularyError, match="expected 'outcome'"):
        vocab.load_vocabulary_file(path, name="outcome")


def test_invalid_yaml_is_refused_naming_the_file(tmp_path):
    path = _write(tmp_path, "vocabulary: tactic\nterms: [unclosed\n")
    with pytest.raises(vocab.VocabularyError, match=r"^tactics_broken\.yaml: not valid YAML"):
        vocab.load_vocabulary_file(path)


def test_python_tags_are_never_executed(tmp_path):
    path = _write(tmp_path, "vocabulary: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(vocab.VocabularyError, match="not valid YAML"):
        vocab.load_vocabulary_file(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(vocab.VocabularyError, match=r"nothing\.yaml: cannot read"):
        vocab.load_vocabulary_file(tmp_path / "nothing.yaml")


def test_malformed_schemes_file_is_refused(tmp_path):
    doc = copy.deepcopy(raw(vocab.SCHEMES_FILE))
    doc["schemes"]["freedom_house"]["categories"].append(
        dict(doc["schemes"]["freedom_house"]["categories"][0])
    )
    path = _write(tmp_path, doc, "schemes.yaml")
    with pytest.raises(vocab.VocabularyError, match=r"schemes\.yaml: scheme 'freedom_house'.*dup"):
        vocab.load_schemes_file(path)

    doc = copy.deepcopy(raw(vocab.SCHEMES_FILE))
    del doc["schemes"]["acled"]["citation"]
    with pytest.raises(vocab.VocabularyError, match="'citation'"):
        vocab.load_schemes_file(_write(tmp_path, doc, "schemes.yaml"))


def _schemes_change(change):
    def apply(doc: dict[str, Any]) -> None:
        change(doc["schemes"])

    return apply


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.clear(), "'schemes' mapping"),
        (_schemes_change(lambda s: s.update(extra="text")), "scheme 'extra': must be a mapping"),
        (_schemes_change(lambda s: s["freedom_house"].pop("categories")), "needs 'categories'"),
        (_schemes_change(lambda s: s.pop("acled")), "scheme 'acled' is missing"),
        (
            _schemes_change(lambda s: s["freedom_house"].update(categories="assault")),
            "'category' must be a list",
        ),
        (
            _schemes_change(lambda s: s["freedom_house"]["categories"].append("rendition")),
            "category #7 must be a mapping",
        ),
        (
            _schemes_change(lambda s: s["acled"]["actor_types"][0].pop("code")),
            "actor type #1: 'code' is missing",
        ),
        (
            _schemes_change(lambda s: s["acled"]["categories"][0].update(sub_types="Armed clash")),
            "'sub_types' must be a list",
        ),
        (
            _schemes_change(lambda s: s["freedom_house"]["categories"][0].update(code="Murder")),
            "bad code 'Murder'",
        ),
    ],
)
def test_malformed_schemes_file_is_refused_naming_the_file(tmp_path, change, fragment):
    doc = copy.deepcopy(raw(vocab.SCHEMES_FILE))
    change(doc)
    path = _write(tmp_path, doc, "schemes.yaml")
    with pytest.raises(vocab.VocabularyError, match=r"^schemes\.yaml: ") as error:
        vocab.load_schemes_file(path)
    assert fragment in str(error.value)


def test_crosswalk_values_are_checked_against_the_given_schemes(tmp_path):
    doc = copy.deepcopy(raw(vocab.SCHEMES_FILE))
    doc["schemes"]["freedom_house"]["categories"] = [
        c for c in doc["schemes"]["freedom_house"]["categories"] if c["code"] != "assault"
    ]
    schemes = vocab.load_schemes_file(_write(tmp_path, doc, "schemes.yaml"))
    with pytest.raises(vocab.VocabularyError, match=r"term 'assault': crosswalk freedom_house"):
        vocab.load_vocabulary_file(_write(tmp_path, _tactic_doc()), schemes=schemes)


def test_malformed_field_crosswalk_is_refused(tmp_path):
    doc = copy.deepcopy(raw(vocab.FIELD_CROSSWALKS_FILE))
    doc["entities"]["act"][0]["huridocs"] = ["9999"]
    field = doc["entities"]["act"][0]["field"]
    path = _write(tmp_path, doc, "fields.yaml")
    with pytest.raises(
        vocab.VocabularyError, match=rf"fields\.yaml: act\.{field}: huridocs .*9999"
    ):
        vocab.load_field_crosswalks_file(path)

    doc = copy.deepcopy(raw(vocab.FIELD_CROSSWALKS_FILE))
    doc["entities"]["incident"].append({"field": "mood", "huridocs": [], "acled": []})
    with pytest.raises(vocab.VocabularyError, match=r"incident\.mood: .*'note'"):
        vocab.load_field_crosswalks_file(_write(tmp_path, doc, "fields.yaml"))


def _entities_change(change):
    def apply(doc: dict[str, Any]) -> None:
        change(doc["entities"])

    return apply


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d.pop("entities"), "'entities' mapping"),
        (_entities_change(lambda e: e.update(act="primary_tactic")), "must be a list of fields"),
        (_entities_change(lambda e: e["act"].append("outcome")), "act field #"),
        (_entities_change(lambda e: e["act"].append(dict(e["act"][0]))), "duplicate field"),
        (_entities_change(lambda e: e["act"][0].update(esf=["2109"])), "unknown key(s) esf"),
        (_entities_change(lambda e: e["act"][0].update(acled="notes")), "'acled' must be a list"),
        (
            _entities_change(lambda e: e["act"][0].update(vocabulary="tactics")),
            "unknown vocabulary 'tactics'",
        ),
    ],
)
def test_malformed_field_crosswalk_file_is_refused_naming_the_file(tmp_path, change, fragment):
    doc = copy.deepcopy(raw(vocab.FIELD_CROSSWALKS_FILE))
    change(doc)
    path = _write(tmp_path, doc, "fields.yaml")
    with pytest.raises(vocab.VocabularyError, match=r"^fields\.yaml: ") as error:
        vocab.load_field_crosswalks_file(path)
    assert fragment in str(error.value)

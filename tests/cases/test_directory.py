"""find_mechanisms: filters and ranking, as the staff search and the self-assessment use it."""

from __future__ import annotations

import pytest

from tests.cases.helpers import make_mechanism
from tnr.cases import actions
from tnr.cases.directory import UnknownCode, find_mechanisms

pytestmark = pytest.mark.django_db


def names(matches) -> list[str]:
    return [m.mechanism.name for m in matches]


def test_no_conditions_lists_every_active_entry_by_name():
    make_mechanism("Bravo")
    make_mechanism("alpha")
    gone = make_mechanism("Charlie")
    actions.set_mechanism_active(gone, False)
    assert names(find_mechanisms(country=None, needs=[], profile=[], language=None)) == ["alpha", "Bravo"]


def test_country_specific_before_worldwide_and_other_countries_left_out():
    make_mechanism("Worldwide fund", worldwide=True)
    make_mechanism("German desk", countries=["DE"])
    make_mechanism("French desk", countries=["FR"])
    make_mechanism("Both desk", countries=["FR", "DE"])
    matches = find_mechanisms(country="DE", needs=[], profile=[], language=None)
    assert names(matches) == ["Both desk", "German desk", "Worldwide fund"]
    assert [m.country_specific for m in matches] == [True, True, False]


def test_country_code_is_case_insensitive():
    make_mechanism("German desk", countries=["DE"])
    assert names(find_mechanisms(country="de", needs=[], profile=[], language=None)) == ["German desk"]


def test_more_needs_matched_first_and_unmatched_needs_left_out():
    make_mechanism("One", needs=["legal"])
    make_mechanism("Two", needs=["legal", "relocation", "advocacy"])
    make_mechanism("None", needs=["psychosocial"])
    matches = find_mechanisms(country=None, needs=["relocation", "legal"], profile=[], language=None)
    assert names(matches) == ["Two", "One"]
    assert matches[0].needs_matched == ("relocation", "legal")
    assert matches[0].needs_matched_labels == ["Relocation", "Legal help"]


def test_exact_country_outranks_more_needs():
    make_mechanism("Worldwide, both needs", worldwide=True, needs=["legal", "relocation"])
    make_mechanism("Local, one need", countries=["NL"], needs=["legal"])
    matches = find_mechanisms(country="NL", needs=["legal", "relocation"], profile=[], language=None)
    assert names(matches) == ["Local, one need", "Worldwide, both needs"]


def test_language_listed_first_then_unrecorded_and_others_left_out():
    make_mechanism("Arabic", languages=["ar", "en"])
    make_mechanism("Unrecorded", languages=[])
    make_mechanism("French only", languages=["fr"])
    matches = find_mechanisms(country=None, needs=[], profile=[], language="AR")
    assert names(matches) == ["Arabic", "Unrecorded"]
    assert [m.language_listed for m in matches] == [True, False]


def test_profile_specific_first_then_any_profile_and_others_left_out():
    make_mechanism("Journalists", profiles=["journalist"])
    make_mechanism("Anyone", any_profile=True)
    make_mechanism("Scholars", profiles=["academic"])
    matches = find_mechanisms(country=None, needs=[], profile=["journalist"], language=None)
    assert names(matches) == ["Journalists", "Anyone"]
    several = find_mechanisms(country=None, needs=[], profile=["academic", "journalist"], language=None)
    assert names(several) == ["Journalists", "Scholars", "Anyone"]


def test_all_conditions_together():
    make_mechanism("Fits all, local", countries=["TR"], needs=["legal", "visa"], profiles=["journalist"],
                   languages=["tr"])
    make_mechanism("Fits all, worldwide", worldwide=True, needs=["legal", "visa"], any_profile=True)
    make_mechanism("Wrong profile", countries=["TR"], needs=["legal"], profiles=["academic"])
    make_mechanism("Wrong language", countries=["TR"], needs=["legal"], languages=["fa"])
    make_mechanism("Wrong need", countries=["TR"], needs=["psychosocial"])
    make_mechanism("Wrong country", countries=["GR"], needs=["legal"])
    matches = find_mechanisms(country="TR", needs=["legal", "visa"], profile=["journalist"], language="tr")
    assert names(matches) == ["Fits all, local", "Fits all, worldwide"]


def test_inactive_entries_are_never_found():
    entry = make_mechanism("Closed programme", countries=["DE"])
    actions.set_mechanism_active(entry, False)
    assert find_mechanisms(country="DE", needs=["legal"], profile=[], language=None) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"country": "ZZ"},
        {"needs": ["money"]},
        {"profile": ["astronaut"]},
        {"language": "xx"},
    ],
)
def test_unknown_codes_are_refused_not_silently_ignored(kwargs):
    with pytest.raises(UnknownCode):
        find_mechanisms(**{"country": None, "needs": [], "profile": [], "language": None, **kwargs})


def test_usable_without_a_user_and_in_few_queries(django_assert_max_num_queries):
    for i in range(20):
        make_mechanism(f"Entry {i:02d}", countries=["DE", "FR"], profiles=["journalist", "academic"])
    # no request, no user: what the anonymous self-assessment does
    with django_assert_max_num_queries(8):
        matches = find_mechanisms(country="DE", needs=["legal"], profile=["journalist"], language="en")
        for match in matches:
            [c.name for c in match.mechanism.countries.all()]
            [p.label for p in match.mechanism.profiles.all()]
    assert len(matches) == 20

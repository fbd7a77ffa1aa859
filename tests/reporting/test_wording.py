"""Every code a reporter can meet has plain, translatable wording: a code added to the taxonomy
or the directory cannot silently vanish from the reporter zone's forms."""

from __future__ import annotations

from tnr.cases.choices import MechanismKind, Need
from tnr.reporting import wording
from tnr.taxonomy.vocab import load_vocabulary


def test_every_tactic_has_a_question_a_name_and_an_explanation() -> None:
    assert set(wording.TACTICS) == set(load_vocabulary("tactic").codes)
    for entry in wording.TACTICS.values():
        assert str(entry.question)
        assert str(entry.name)
        assert len(str(entry.explanation)) > 40


def test_target_categories_location_types_and_actor_groups_are_covered() -> None:
    assert set(wording.TARGET_CATEGORIES) == set(load_vocabulary("target_category").codes)
    assert set(wording.LOCATION_TYPES) == set(load_vocabulary("location_type").codes)
    actor_groups = {group.code for group in load_vocabulary("actor_type").groups}
    assert set(wording.ACTOR_GROUPS) == actor_groups


def test_directory_needs_and_kinds_are_covered() -> None:
    assert set(wording.NEEDS) == set(Need.values)
    assert set(wording.MECHANISM_KINDS) == set(MechanismKind.values)

"""The whole-file registers: exact like a dict, bounded in memory unlike one."""

from __future__ import annotations

import enum
import random
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tnr.exchange import register as register_module
from tnr.exchange.importer import ImportFailed, import_file, validate_file
from tnr.exchange.register import Register
from tnr.records import models as rm

from .conftest import counts, flat_row, write_csv


class Mark(enum.Enum):
    MISSING = "missing"


def _keys(n: int, seed: int, tag: str = "#") -> list[str]:
    """``n`` distinct keys; keys with another ``tag`` are never among them."""
    rng = random.Random(seed)
    alphabet = "abcXYZ-_0123456789é€ت"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) + f"{tag}{i}" for i in range(n)]


@pytest.mark.parametrize(("window", "bloom_bits"), [(1, 64), (7, 64), (50, 1 << 16), (10_000, 1 << 24)])
def test_register_answers_like_a_dict(window: int, bloom_bits: int) -> None:
    keys = _keys(3000, seed=window)
    values: list[Any] = [None, ("female", Mark.MISSING, ["CN", "HK"]), {"id": "X", "name": "n"}, 7, "text"]
    reference: dict[str, tuple[int, Any]] = {}
    with Register(window=window, bloom_bits=bloom_bits) as reg:
        for row, key in enumerate(keys, 2):
            assert reg.get(key) is None
            reg.add(key, row, values[row % len(values)])
            reference[key] = (row, values[row % len(values)])
            # look back at a key seen long ago now and then, as a person named again would be
            if row % 97 == 0:
                old = keys[row // 3]
                assert reg.get(old) == reference[old]
        for key in reversed(keys):
            assert reg.get(key) == reference[key]
        for key in _keys(3000, seed=window, tag="~"):
            assert reg.get(key) is None
        if window < len(keys):
            assert reg.spilled > 0, "the test should have gone through the table on disk"


def test_sentinels_come_back_from_disk_as_themselves() -> None:
    with Register(window=1, bloom_bits=64) as reg:
        reg.add("P-1", 2, ("female", Mark.MISSING))
        reg.add("P-2", 3, None)
        reg.add("P-3", 4, None)
        assert reg.spilled >= 1
        found = reg.get("P-1")
        assert found is not None
        assert found[1][1] is Mark.MISSING


def test_the_filter_spares_new_keys_a_query() -> None:
    with Register(window=100) as reg:
        for row, key in enumerate(_keys(5000, seed=1), 2):
            reg.add(key, row)
        assert reg.spilled >= 4800
        for key in _keys(5000, seed=2, tag="~"):
            assert reg.get(key) is None
        # a 2 MiB filter holding 5,000 keys lets through about one new key in a million
        assert reg.lookups <= 2
        before = reg.lookups
        old = _keys(5000, seed=1)[10]
        assert reg.get(old) == (12, None)
        assert reg.lookups == before + 1
        # a key that came back is kept near: the next rows that name it cost no query
        assert reg.get(old) == (12, None)
        assert reg.lookups == before + 1


def test_a_tiny_filter_still_gives_exact_answers() -> None:
    with Register(window=10, bloom_bits=64) as reg:
        for row, key in enumerate(_keys(2000, seed=3), 2):
            reg.add(key, row)
        absent = _keys(500, seed=4, tag="~")
        assert all(reg.get(key) is None for key in absent)
        assert reg.lookups > 400, "a 64-bit filter full of keys cannot rule anything out"


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="window"):
        Register(window=0)
    with pytest.raises(ValueError, match="power of two"):
        Register(bloom_bits=1000)


def test_close_forgets() -> None:
    reg = Register(window=2, bloom_bits=64)
    for row, key in enumerate("abcdef", 2):
        reg.add(key, row)
    reg.close()
    assert reg.get("a") is None
    reg.close()  # twice is fine


# --- in the importer: files longer than the window -----------------------------------------------

FAR = 25_000  # incidents: more than two windows of the register and than the writer's key map


def _long_file(tmp_path: Path, tail: list[dict[str, str]]) -> Path:
    """FAR incidents of one row each (persons P-0..., one actor), then ``tail``."""
    rows = [flat_row(incident_id=f"INC-{i}", target_id=f"P-{i}", source_id="S1") for i in range(FAR)]
    return write_csv(tmp_path / "long.csv", rows + tail)


@pytest.mark.django_db
def test_problems_far_apart_are_found_with_their_rows(org: Any, tmp_path: Path) -> None:
    assert register_module.WINDOW * 2 < FAR
    end = FAR + 2  # the first row of the tail
    path = _long_file(tmp_path, [
        flat_row(incident_id="INC-0", target_id="P-X"),  # the id of row 2 again
        flat_row(incident_id="LATE-1", target_id="P-1", target_sex="male"),  # P-1 was female on row 3
        flat_row(incident_id="LATE-2", target_id="P-NEW", actor_state="RU"),  # AC-1 was CN on row 2
    ])
    report = validate_file(path)
    assert [(p.line, p.column) for p in report.problems] == [
        (end, "incident_id"), (end + 1, "target_sex"), (end + 2, "actor_state"),
    ]
    assert "duplicate incident id 'INC-0': already used on row 2" in report.problems[0].message
    assert "person 'P-1' is described differently on row 3 ('female' there, 'male' here)" in report.problems[1].message
    assert "actor 'AC-1' is described differently on row 2 ('CN' there, 'RU' here)" in report.problems[2].message
    before = counts()
    with pytest.raises(ImportFailed, match="3 problems, nothing imported"):
        import_file(path, org)
    assert counts() == before


@pytest.mark.django_db
def test_a_person_named_again_far_away_is_the_same_person(org: Any, tmp_path: Path) -> None:
    path = _long_file(tmp_path, [flat_row(incident_id="LATE-1", target_id="P-2")])
    report = import_file(path, org)
    assert report.counts["incidents"] == FAR + 1
    assert report.counts["persons"] == FAR
    person = rm.Person.objects.get(organisation=org, external_id="P-2")
    assert sorted(rm.Act.objects.filter(target=person).values_list("incident__external_id", flat=True)) == ["INC-2", "LATE-1"]


def _peak_validating(path: Path) -> int:
    tracemalloc.start()
    try:
        report = validate_file(path)
        assert report.ok, report.summary()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_files_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the rows, about the same peak: nothing is kept per row beyond the window."""
    monkeypatch.setattr(register_module, "WINDOW", 500)
    small, large = 2_000, 8_000

    def file(n: int) -> Path:
        rows = [flat_row(incident_id=f"INC-{i}", target_id=f"P-{i}", source_id="S1") for i in range(n)]
        return write_csv(tmp_path / f"f{n}.csv", rows)

    _peak_validating(file(small))  # warm up: vocabularies and compiled parsers are loaded once
    grown = _peak_validating(file(large)) - _peak_validating(file(small))
    # a dict of every incident id and person (as before) grew by about 1.6 MB over these 6,000 rows
    assert grown < 300_000, f"peak grew by {grown:,} bytes for {large - small:,} more rows"

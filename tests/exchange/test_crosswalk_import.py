"""The CPJ dataset through the crosswalk mapping into the database, end to end via the CLI."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories import make_org
from tnr.records.models import Incident, Person

MAPPING = Path(__file__).resolve().parents[2] / "src/tnr/exchange/mappings/cpj_journalists_killed.yaml"


@pytest.fixture
def cpj_csv(shared_data: Path) -> Path:
    path = shared_data / "cpj-journalists-killed" / "cpj_journalists_killed_1992_2025.csv"
    if not path.exists():
        pytest.skip("CPJ data file not present")
    return path


@pytest.mark.django_db
def test_cpj_import_counts_and_khashoggi(cpj_csv: Path) -> None:
    org = make_org("CPJ crosswalk")
    out = StringIO()
    call_command("import", str(cpj_csv), organisation=org.slug, mapping=str(MAPPING), quiet=True, stdout=out)
    text = out.getvalue()
    # 2,479 rows: 1,772 import; the mapping leaves out 707 (see docs/crosswalk-mapping.md)
    assert "imported: 1,772 rows" in text
    assert "707 rows (691 out of scope, 11 unparseable date, 5 unplaceable location)" in text
    assert Incident.objects.filter(organisation=org).count() == 1772
    # Khashoggi: filed by CPJ under Saudi Arabia, killed in the consulate in Istanbul
    consulate = Incident.objects.get(organisation=org, city="Istanbul", location_type_id="consulate_embassy")
    assert (consulate.location_country_id, consulate.origin_state_id, consulate.host_state_id) == ("TR", "SA", "TR")
    assert list(consulate.perpetrator_states.values_list("code", flat=True)) == ["SA"]
    # no victim name is imported anywhere: persons are pseudonyms
    assert not Person.objects.filter(organisation=org, external_id__icontains="khashoggi").exists()
    assert not Incident.objects.filter(organisation=org, title__icontains="khashoggi").exists()


@pytest.mark.django_db
def test_cpj_validate_lists_flagged_rows(cpj_csv: Path) -> None:
    out = StringIO()
    call_command("validate", str(cpj_csv), mapping=str(MAPPING), list_flagged=True, quiet=True, stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("row ")]
    assert len(lines) == 707
    assert any("out of scope" in line for line in lines)


@pytest.mark.django_db
def test_mapping_against_the_wrong_file_is_refused(tmp_path: Path) -> None:
    org = make_org("Wrong file")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="entry_date"):
        call_command("import", str(other), organisation=org.slug, mapping=str(MAPPING), quiet=True)
    assert not Incident.objects.filter(organisation=org).exists()

"""Every change to the directory, and every export, is in the installation's audit chain."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from tests.cases.helpers import make_mechanism
from tnr.cases import actions
from tnr.cases.csvformat import COLUMNS
from tnr.cases.models import ProtectionMechanism
from tnr.cases.rules import MechanismData
from tnr.core import audit
from tnr.core.models import AuditEntry
from tnr.exchange.importer import ImportFailed

pytestmark = pytest.mark.django_db

TYPE = "cases.protectionmechanism"


def entries(action: str | None = None) -> list[AuditEntry]:
    found = AuditEntry.objects.filter(object_type=TYPE).order_by("seq")
    return list(found.filter(action=action) if action else found)


def test_create_change_and_deactivate_are_recorded_without_entry_text(alice_client, alice):
    response = alice_client.post(reverse("cases:mechanism-create"), {
        "name": "Secret-looking Name", "kind": "legal_aid", "needs": ["legal"], "worldwide": "on",
        "any_profile": "on", "source": "Typed source text", "active": "on",
    })
    assert response.status_code == 302
    entry = ProtectionMechanism.objects.get()
    created = entries("create")
    assert [(e.object_id, e.actor_id, e.organisation_id) for e in created] == [(str(entry.pk), alice.pk, None)]
    assert created[0].details == {"via": "web"}

    data = MechanismData.from_mechanism(entry)
    actions.update_mechanism(entry, MechanismData(**{**data.__dict__, "notes": "new", "countries": (),
                                                     "worldwide": True}), by=alice)
    changed = entries("change")
    assert changed[-1].details == {"via": "code", "fields": ["notes"]}

    alice_client.post(reverse("cases:mechanism-deactivate", args=[entry.pk]))
    assert entries("change")[-1].details == {"fields": ["active"], "active": False}

    for e in entries():
        assert "Secret-looking" not in e.summary + e.data
        assert "Typed source" not in e.summary + e.data
    assert audit.verify_chain(None).ok


def test_import_records_each_entry_and_a_failed_import_records_nothing(tmp_path):
    make_mechanism("Existing")
    path = tmp_path / "d.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        base = ["legal_aid", "legal", "worldwide", "any", "", "https://example.org/", "", "", "", "", "src", "true"]
        w.writerow(["Existing", *base])
        w.writerow(["Fresh", *base])
    before = len(entries())
    actions.import_mechanisms(path, via="cli_import")
    new = entries()[before:]
    assert sorted((e.action, e.details["via"]) for e in new) == [("change", "cli_import"), ("create", "cli_import")]

    with open(path, "a", encoding="utf-8", newline="") as f:
        csv.writer(f).writerow(["Broken", "charity", *base[1:]])
    count = len(entries())
    with pytest.raises(ImportFailed):
        actions.import_mechanisms(path)
    assert len(entries()) == count


def test_exports_are_recorded(alice_client, alice):
    make_mechanism("One")
    alice_client.get(reverse("cases:directory-export"))
    actions.export_mechanisms(io.StringIO(), via="cli")
    exports = entries("export")
    assert [(e.actor_id, e.details) for e in exports] == [
        (alice.pk, {"rows": 1, "via": "web"}),
        (None, {"rows": 1, "via": "cli"}),
    ]

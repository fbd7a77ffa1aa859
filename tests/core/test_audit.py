"""The tamper-evident audit log: recording, append-only guards, detection, CLI, pages.

Tampering is done the way an attacker with database access would: raw SQL, after dropping
the triggers that refuse it (``remove_append_only_guards``), which the test transaction's
rollback (and a finaliser) puts back.

Personas (healthchecks style): Alpha Watch has ada (administrator) and alice (caseworker);
Beta Monitor has bea (administrator), the outsider.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import threading
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, connections, transaction
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.accounts.helpers import login_verified
from tests.factories import make_incident, make_org, make_user
from tnr.accounts.models import Role
from tnr.cli import main as tnr_main
from tnr.core import audit, audithash
from tnr.core.audithash import GENESIS, Anchor, ChainVerifier
from tnr.core.choices import AuditAction
from tnr.core.models import (
    AppendOnlyError,
    AuditChain,
    AuditEntry,
    install_append_only_guards,
    remove_append_only_guards,
)
from tnr.records import choices as c

ENTRY = AuditEntry._meta.db_table
CHAIN = AuditChain._meta.db_table
LIST = reverse("audit:list")
EXPORT = reverse("audit:export")
VERIFY = reverse("audit:verify")


def append(org, n: int, actor=None, **fields) -> list[AuditEntry]:
    fields.setdefault("object_type", "records.incident")
    return [
        audit.record(actor, fields.pop("action", AuditAction.VIEW), organisation=org, object_id=f"obj-{i}", **fields)
        for i in range(1, n + 1)
    ]


@pytest.fixture
def tamper():
    """Run raw SQL with the append-only triggers out of the way, as a database owner could."""

    def run(sql: str, params: list | tuple = ()) -> None:
        remove_append_only_guards(connection)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
        finally:
            install_append_only_guards(connection)

    return run


def rewrite(org, seq: int, **changes) -> None:
    """Change entry ``seq`` and recompute every hash from there on: a consistent forgery."""
    entries = list(AuditEntry.objects.filter(organisation=org).order_by("seq"))
    prev = entries[seq - 2].hash if seq > 1 else GENESIS
    remove_append_only_guards(connection)
    try:
        with connection.cursor() as cursor:
            for entry in entries[seq - 1:]:
                for name, value in (changes if entry.seq == seq else {}).items():
                    setattr(entry, name, value)
                entry.prev_hash = prev
                entry.hash = entry.compute_hash()
                cursor.execute(
                    f"UPDATE {ENTRY} SET object_id = %s, prev_hash = %s, hash = %s WHERE id = %s",
                    [entry.object_id, entry.prev_hash, entry.hash, entry.pk],
                )
                prev = entry.hash
            cursor.execute(f"UPDATE {CHAIN} SET head_hash = %s WHERE organisation_id = %s", [prev, org.pk])
    finally:
        install_append_only_guards(connection)


def problems(report) -> list[tuple[int | None, str]]:
    return [(p.seq, p.kind) for p in report.problems]


# --- the canonical form ----------------------------------------------------------------------

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
ids = st.none() | st.integers(min_value=1, max_value=2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(min_value=1, max_value=2**63 - 1), org=ids, actor=ids, strings=st.lists(texts, min_size=7, max_size=7))
def test_fast_hash_is_the_documented_hash(seq, org, actor, strings):
    """Verification's fast path builds exactly the bytes of the documented json.dumps form."""
    aname, action, otype, oid, summary, data, prev = strings
    fields = (seq, "2025-01-31T09:15:02.000123Z", org, actor, aname, action, otype, oid, summary, data, prev)
    expected = audithash.entry_hash(*fields)
    assert audithash._fast_hash(*fields) == expected
    # ... and so does the verifier's inlined copy: a chain of one entry with that hash is intact
    verifier = ChainVerifier("t", partial=True)
    verifier.feed([(*fields, expected)])
    assert verifier.report.ok, verifier.report.summary()


def test_documented_payload_example():
    """The worked example in docs/audit.md: any implementation must give this hash."""
    payload = audithash.payload(
        1, "2025-01-31T09:15:02.000123Z", 7, 42, "ada", "view", "records.incident",
        "3f0c9a52-1c1e-4bde-9a51-7d1e0e4f2b6a", "", "{}", GENESIS,
    )
    assert payload == (
        b'[1,1,"2025-01-31T09:15:02.000123Z",7,42,"ada","view","records.incident",'
        b'"3f0c9a52-1c1e-4bde-9a51-7d1e0e4f2b6a","","{}","' + GENESIS.encode() + b'"]'
    )
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    assert audithash.entry_hash(
        1, "2025-01-31T09:15:02.000123Z", 7, 42, "ada", "view", "records.incident",
        "3f0c9a52-1c1e-4bde-9a51-7d1e0e4f2b6a", "", "{}", GENESIS,
    ) in doc


def test_wrong_types_are_reported_not_crashed_on():
    ok = (1, "2025-01-31T09:15:02.000123Z", None, None, "", "view", "", "", "", "{}", GENESIS)
    good = audithash.entry_hash(*ok)
    # The text "null" where the number (or NULL) belongs must not hash like NULL.
    for bad in [(1, *ok[1:2], "null", *ok[3:]), (True, *ok[1:]), (1, None, *ok[2:])]:
        verifier = ChainVerifier("t")
        verifier.feed([(*bad, good)])
        assert not verifier.report.ok


def test_canonical_time_and_data():
    when = dt.datetime(2025, 1, 31, 10, 15, 2, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert audithash.canonical_time(when) == "2025-01-31T09:15:02.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        audithash.canonical_time(when.replace(tzinfo=None))
    assert audithash.canonical_data({"b": [1, 2], "a": "é"}) == '{"a":"\\u00e9","b":[1,2]}'
    with pytest.raises(TypeError):
        audithash.canonical_data(["not", "a", "mapping"])  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "12", "12:abc", "x:" + "a" * 64, "0:" + "a" * 64, "3:" + "g" * 64])
def test_bad_anchors_are_refused(text):
    with pytest.raises(ValueError, match="not an anchor"):
        Anchor.parse(text)


def test_anchor_round_trip():
    anchor = Anchor.parse(" 12:" + "AB" * 32 + " ")
    assert anchor == Anchor(12, "ab" * 32)
    assert Anchor.parse(str(anchor)) == anchor


def _chain(n: int) -> list[tuple]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        fields = (seq, f"2025-01-01T00:00:{seq % 60:02d}.000000Z", 1, None, "", "view", "t", str(seq), "", "{}", prev)
        prev = audithash.entry_hash(*fields)
        rows.append((*fields, prev))
    return rows


@pytest.mark.parametrize("cuts", [[], [5], [1], [3, 7], [5, 5], [9]])
@pytest.mark.parametrize("damage", ["none", "edit", "drop", "drop_at_seam", "relink_at_seam"])
def test_slices_joined_report_what_one_pass_reports(cuts, damage):
    """Parallel verification (slices joined in order) finds exactly what one pass finds."""
    rows = _chain(10)
    if damage == "edit":
        rows[4] = (*rows[4][:7], "forged", *rows[4][8:])
    elif damage == "drop":
        del rows[2]
    elif damage == "drop_at_seam" and cuts:
        del rows[cuts[0]]
    elif damage == "relink_at_seam" and cuts and cuts[0] < len(rows):
        seam = rows[cuts[0]]
        fields = (*seam[:10], "f" * 64)
        rows[cuts[0]] = (*fields, audithash.entry_hash(*fields))
    whole = ChainVerifier("t")
    whole.feed(rows)
    joined = ChainVerifier("t")
    bounds = [0, *cuts, len(rows)]
    for lo, hi in itertools.pairwise(bounds):
        part = ChainVerifier("slice", partial=True)
        part.feed(rows[lo:hi])
        joined.join(part)
    assert problems(joined.finish((10, rows[-1][-1]))) == problems(whole.finish((10, rows[-1][-1])))
    assert joined.report.entries == whole.report.entries
    assert (joined.report.last_seq, joined.report.last_hash) == (whole.report.last_seq, whole.report.last_hash)


# --- recording -------------------------------------------------------------------------------


def test_record_chains_entries_per_organisation(alpha, beta, ada):
    a1, a2 = append(alpha, 2, ada)
    (b1,) = append(beta, 1)
    installation = audit.record(None, AuditAction.LOGIN)
    assert (a1.seq, a2.seq, b1.seq, installation.seq) == (1, 2, 1, 1)
    assert a1.prev_hash == GENESIS
    assert a2.prev_hash == a1.hash
    assert b1.prev_hash == GENESIS
    assert (a1.actor_id, a1.actor_username, b1.actor_id, b1.actor_username) == (ada.pk, "ada", None, "")
    assert installation.organisation_id is None
    assert AuditChain.objects.get(organisation=alpha).length == 2
    assert AuditChain.objects.get(organisation=alpha).head_hash == a2.hash
    report = audit.verify()
    assert report.ok, report.summary()
    assert report.entries == 4
    assert [c.chain for c in report.chains] == ["installation", "organisation alpha-watch", "organisation beta-monitor"]


def test_record_takes_type_id_and_organisation_from_the_object(alpha, alice):
    incident = make_incident(alpha)
    entry = audit.record(alice, "change", incident, data={"fields": ["title"]})
    assert (entry.object_type, entry.object_id, entry.organisation_id) == ("records.incident", str(incident.uid), alpha.pk)
    assert entry.details == {"fields": ["title"]}
    assert entry.data == '{"fields":["title"]}'
    # anything that has no uid is named by its primary key; an organisation is its own
    org_entry = audit.record(alice, "change", alpha)
    assert (org_entry.object_type, org_entry.object_id, org_entry.organisation_id) == ("accounts.organisation", str(alpha.pk), alpha.pk)


def test_record_refuses_bad_input(alpha):
    with pytest.raises(ValueError, match="teleport"):
        audit.record(None, "teleport", organisation=alpha)
    with pytest.raises(ValueError, match="summary"):
        audit.record(None, "view", organisation=alpha, summary="x" * 201)
    with pytest.raises(TypeError):
        audit.record(None, "view", organisation=alpha, data={"when": dt.date.today()})
    assert not AuditEntry.objects.exists()


def test_anonymous_actor_is_recorded_as_nobody(alpha, client):
    from django.contrib.auth.models import AnonymousUser

    entry = audit.record(AnonymousUser(), "login_failed", organisation=alpha)
    assert (entry.actor_id, entry.actor_username) == (None, "")


def test_a_rolled_back_change_leaves_no_entry(alpha):
    append(alpha, 1)
    def change_that_fails() -> None:
        with transaction.atomic():
            audit.record(None, "change", organisation=alpha)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert AuditEntry.objects.filter(organisation=alpha).count() == 1
    assert AuditChain.objects.get(organisation=alpha).length == 1
    assert audit.verify(alpha).ok


# --- append-only: model and database ---------------------------------------------------------


def test_model_refuses_change_and_delete(alpha):
    (entry,) = append(alpha, 1)
    entry.summary = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(summary="x")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AppendOnlyError, match="record"):
        AuditEntry.objects.create(organisation=alpha, seq=2, created_at=entry.created_at, action="view",
                                  prev_hash=entry.hash, hash="0" * 64)  # fmt: skip


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {ENTRY} SET summary = 'rewritten'",
        f"DELETE FROM {ENTRY} WHERE seq = 2",
        f"UPDATE {CHAIN} SET length = 1",
        f"UPDATE {CHAIN} SET head_hash = '{'0' * 64}'",
        f"DELETE FROM {CHAIN}",
        # an entry can only be inserted as its chain's next one
        f"INSERT INTO {ENTRY} (organisation_id, seq, created_at, actor_username, action, object_type, "
        f"object_id, summary, data, prev_hash, hash) SELECT organisation_id, 7, created_at, '', 'view', '', '', "
        f"'', '{{}}', hash, hash FROM {ENTRY} WHERE seq = 3",
    ],
)
def test_database_refuses_rewriting_history(alpha, sql):
    append(alpha, 3)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert audit.verify(alpha).ok


# --- detection -------------------------------------------------------------------------------


def test_an_edited_entry_is_reported_with_its_seq(alpha, tamper):
    append(alpha, 5)
    tamper(f"UPDATE {ENTRY} SET object_id = 'someone-else' WHERE organisation_id = %s AND seq = 3", [alpha.pk])
    report = audit.verify(alpha)
    assert not report.ok
    assert problems(report.chains[0]) == [(3, "edited")]
    assert "entry 3 was altered" in report.summary()


@pytest.mark.parametrize("column", ["created_at", "actor_id", "actor_username", "action", "summary", "data", "prev_hash"])
def test_every_column_is_covered_by_the_hash(alpha, ada, tamper, column):
    append(alpha, 3, ada)
    value = {
        "created_at": connection.ops.adapt_datetimefield_value(dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
        "actor_id": 999, "actor_username": "nobody", "action": "export", "summary": "x",
        "data": '{"a":1}', "prev_hash": "f" * 64,
    }[column]
    tamper(f"UPDATE {ENTRY} SET {column} = %s WHERE organisation_id = %s AND seq = 2", [value, alpha.pk])
    assert problems(audit.verify(alpha).chains[0])[0] == (2, "edited")


def test_a_rewritten_entry_breaks_the_link_to_the_next(alpha, tamper):
    entries = append(alpha, 4)
    forged = entries[1]
    forged.object_id = "forged"
    forged.hash = forged.compute_hash()  # the attacker recomputes its hash, not the rest
    tamper(f"UPDATE {ENTRY} SET object_id = %s, hash = %s WHERE id = %s", [forged.object_id, forged.hash, forged.pk])
    kinds = problems(audit.verify(alpha).chains[0])
    assert kinds[0] == (3, "broken_link")


def test_a_deleted_entry_is_reported(alpha, tamper):
    append(alpha, 6)
    tamper(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq IN (3, 4)", [alpha.pk])
    report = audit.verify(alpha).chains[0]
    assert problems(report) == [(3, "missing")]
    assert "entries 3 to 4 missing" in report.summary()


def test_swapped_entries_are_reported(alpha, tamper):
    append(alpha, 5)
    for old, new in [(2, 1000), (4, 2), (1000, 4)]:
        tamper(f"UPDATE {ENTRY} SET seq = %s WHERE organisation_id = %s AND seq = %s", [new, alpha.pk, old])
    # Each moved entry no longer matches its hash (its seq is hashed); the entries after each
    # no longer link to what now precedes them.
    assert problems(audit.verify(alpha).chains[0]) == [(2, "edited"), (3, "broken_link"), (4, "edited"), (5, "broken_link")]


def test_a_cut_tail_is_found_by_the_head(alpha, tamper):
    append(alpha, 5)
    tamper(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq >= 4", [alpha.pk])
    assert problems(audit.verify(alpha).chains[0]) == [(4, "truncated")]


def test_a_cut_tail_with_the_head_moved_back_needs_an_anchor(alpha, tamper):
    entries = append(alpha, 5)
    anchor = Anchor(5, entries[4].hash)
    tamper(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq >= 4", [alpha.pk])
    tamper(f"UPDATE {CHAIN} SET length = 3, head_hash = %s WHERE organisation_id = %s", [entries[2].hash, alpha.pk])
    assert audit.verify(alpha).ok  # consistent as far as the database alone can tell
    report = audit.verify(alpha, anchors=[anchor])
    assert problems(report.chains[0]) == [(5, "truncated")]
    assert audit.verify(alpha, anchors=[Anchor(3, entries[2].hash)]).ok


def test_a_wholesale_rewrite_needs_an_anchor(alpha):
    entries = append(alpha, 5)
    anchor = Anchor(4, entries[3].hash)
    rewrite(alpha, 2, object_id="forged")
    assert audit.verify(alpha).ok
    report = audit.verify(alpha, anchors=[anchor])
    assert problems(report.chains[0]) == [(4, "anchor_mismatch")]
    assert "rewritten after the anchor" in report.summary()


def test_all_problems_are_listed_not_only_the_first(alpha, tamper):
    append(alpha, 8)
    tamper(f"UPDATE {ENTRY} SET summary = 'x' WHERE organisation_id = %s AND seq IN (2, 7)", [alpha.pk])
    tamper(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq = 5", [alpha.pk])
    report = audit.verify(alpha).chains[0]
    assert problems(report) == [(2, "edited"), (5, "missing"), (7, "edited")]
    assert report.problem_count == 3


def test_verification_reads_in_batches_and_other_chains_stay_intact(alpha, beta, tamper):
    append(alpha, 7)
    append(beta, 3)
    tamper(f"UPDATE {ENTRY} SET summary = 'x' WHERE organisation_id = %s AND seq = 6", [alpha.pk])
    report = audit.verify(batch=2)
    by_chain = {c.chain: problems(c) for c in report.chains}
    assert by_chain == {"organisation alpha-watch": [(6, "edited")], "organisation beta-monitor": []}


def test_a_deleted_chain_head_is_reported(alpha, tamper):
    append(alpha, 2)
    tamper(f"DELETE FROM {CHAIN} WHERE organisation_id = %s", [alpha.pk])
    report = audit.verify()
    assert not report.ok
    assert "chain head is missing" in report.summary()


def test_entries_with_a_forged_seq_are_not_skipped(alpha, tamper):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's column types and CHECK constraints rule out a non-numeric seq")
    append(alpha, 2)
    tamper(f"UPDATE {ENTRY} SET seq = 'one' WHERE organisation_id = %s AND seq = 1", [alpha.pk])
    report = audit.verify(alpha).chains[0]
    assert problems(report) == [(1, "missing"), (None, "edited")]  # entry 1 gone from the chain...
    assert "1 entry has a seq that is not a number" in report.summary()  # ...and found


def test_an_altered_timestamp_without_fraction_still_verifies_when_untouched(alpha):
    """SQLite stores a whole second without its fraction; the canonical form must not care."""
    entry = append(alpha, 1)[0]
    remove_append_only_guards(connection)
    try:
        whole = entry.created_at.replace(microsecond=0)
        entry.created_at = whole
        entry.hash = entry.compute_hash()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ENTRY} SET created_at = %s, hash = %s WHERE id = %s",
                [connection.ops.adapt_datetimefield_value(whole), entry.hash, entry.pk],
            )
            cursor.execute(f"UPDATE {CHAIN} SET head_hash = %s WHERE organisation_id = %s", [entry.hash, alpha.pk])
    finally:
        install_append_only_guards(connection)
    assert audit.verify(alpha).ok, audit.verify(alpha).summary()


# --- command line ----------------------------------------------------------------------------


def run_cli(*args: str) -> int:
    """Run ``tnr ARGS`` in-process, as from a shell; return its exit status.

    A command run this way closes the database connections when it ends, which would end the
    test's transaction on PostgreSQL: that one step is skipped.
    """
    close_all = connections.close_all
    connections.close_all = lambda: None  # type: ignore[method-assign]
    try:
        tnr_main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        connections.close_all = close_all  # type: ignore[method-assign]
    return 0


def test_cli_verify_exit_codes(alpha, tamper, capsys):
    append(alpha, 3)
    assert run_cli("audit", "verify") == 0
    assert "organisation alpha-watch: OK, 3 entries" in capsys.readouterr().out
    tamper(f"UPDATE {ENTRY} SET summary = 'x' WHERE organisation_id = %s AND seq = 2", [alpha.pk])
    assert run_cli("audit", "verify", "--organisation", "alpha-watch") == 1
    err = capsys.readouterr().err
    assert "entry 2 was altered" in err
    assert "tampered with (first bad entry: 2)" in err


def test_cli_anchor_then_verify_with_it(alpha, capsys):
    entries = append(alpha, 3)
    assert run_cli("audit", "anchor", "--organisation", "alpha-watch") == 0
    out = capsys.readouterr().out
    command = f"tnr audit verify --organisation alpha-watch --anchor 3:{entries[2].hash}"
    assert command in out
    assert run_cli(*command.split()[1:]) == 0
    assert "1 anchor(s) matched" in capsys.readouterr().out
    assert run_cli("audit", "verify", "--organisation", "alpha-watch", "--anchor", f"4:{entries[2].hash}") == 1
    assert "log ends at entry 3" in capsys.readouterr().err


def test_cli_refuses_bad_arguments(alpha):
    with pytest.raises(CommandError, match="not an anchor"):
        call_command("audit", "verify", "--organisation", "alpha-watch", "--anchor", "abc")
    with pytest.raises(CommandError, match="belongs to one chain"):
        call_command("audit", "verify", "--anchor", "1:" + "a" * 64)
    with pytest.raises(CommandError, match="no organisation 'nope'"):
        call_command("audit", "verify", "--organisation", "nope")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_and_verify_the_exported_file(alpha, ada, tmp_path, fmt, capsys):
    ada.username = "=HYPERLINK(1)"  # a formula in a spreadsheet; must survive export intact
    ada.save()
    append(alpha, 4, ada, summary="+1", data={"fields": ["title"], "note": "é\n\"'"})
    path = tmp_path / f"alpha.{fmt}"
    call_command("audit", "export", "--organisation", "alpha-watch", "--format", fmt, "--output", str(path))
    if fmt == "csv":
        rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
        assert rows[0]["actor_username"] == "'=HYPERLINK(1)"  # neutralised for spreadsheets
    assert run_cli("audit", "verify", "--file", str(path)) == 0
    assert "OK, 4 entries" in capsys.readouterr().out
    # the export itself is recorded, as the chain's next entry
    last = AuditEntry.objects.filter(organisation=alpha).order_by("-seq")[0]
    assert (last.seq, last.action, last.details["entries"]) == (5, "export", 4)

    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("obj-3", "obj-9"), encoding="utf-8")
    assert run_cli("audit", "verify", "--file", str(path)) == 1
    assert "entry 3 was altered" in capsys.readouterr().err
    lines = text.splitlines(keepends=True)
    path.write_text("".join(lines[:-1]), encoding="utf-8")  # the last entry cut off
    assert run_cli("audit", "verify", "--file", str(path)) == 0
    assert run_cli("audit", "verify", "--file", str(path), "--anchor", f"4:{AuditEntry.objects.get(organisation=alpha, seq=4).hash}") == 1


def test_the_stand_alone_verifier_in_the_docs_works(alpha, ada, tmp_path):
    """docs/audit.md's verifier (standard library only) agrees with the application."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text(encoding="utf-8")
    code = doc.split("### A stand-alone verifier", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {"__name__": "docs"}
    exec(compile(code, "docs/audit.md", "exec"), namespace)
    entries = append(alpha, 3, ada, data={"note": "ünïcode"})
    path = tmp_path / "alpha.jsonl"
    call_command("audit", "export", "--organisation", "alpha-watch", "--output", str(path), stderr=io.StringIO())
    assert namespace["verify"](str(path), f"3:{entries[2].hash}") == []
    path.write_text(path.read_text(encoding="utf-8").replace("obj-2", "obj-7"), encoding="utf-8")
    assert namespace["verify"](str(path)) == ["entry 2: altered"]


def test_verify_of_an_unreadable_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 1: not JSON"):
        call_command("audit", "verify", "--file", str(bad))
    (tmp_path / "y.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(CommandError, match="columns missing"):
        call_command("audit", "verify", "--file", str(tmp_path / "y.csv"))
    with pytest.raises(CommandError, match="No such file"):
        call_command("audit", "verify", "--file", str(tmp_path / "missing.jsonl"))


# --- where the application records -----------------------------------------------------------


def test_viewing_a_high_sensitivity_incident_is_recorded(client, alpha, alice):
    login_verified(client, alice)
    high = make_incident(alpha, sensitivity=c.Sensitivity.HIGH)
    low = make_incident(alpha, sensitivity=c.Sensitivity.LOW)
    assert client.get(reverse("records:incident-detail", args=[high.uid])).status_code == 200
    assert client.get(reverse("records:incident-detail", args=[low.uid])).status_code == 200
    views = list(AuditEntry.objects.filter(action="view"))
    assert [(e.object_type, e.object_id, e.actor_id, e.organisation_id) for e in views] == [
        ("records.incident", str(high.uid), alice.pk, alpha.pk)
    ]


def test_exchange_import_and_export_are_recorded_once_each(alpha, beta, tmp_path):
    make_incident(beta)
    make_incident(beta)
    exported = tmp_path / "beta.json"
    call_command("export", "--organisation", "beta-monitor", "--output", str(exported), stderr=io.StringIO())
    call_command("import", str(exported), "--organisation", "alpha-watch", "--quiet", stdout=io.StringIO())
    call_command("export", "--organisation", "alpha-watch", "--format", "csv", "--output", str(tmp_path / "a.csv"), stderr=io.StringIO())
    (beta_export,) = AuditEntry.objects.filter(organisation=beta)
    assert (beta_export.action, beta_export.details["counts"]["incidents"], beta_export.details["format"]) == ("export", 2, "json")
    imported, alpha_export = AuditEntry.objects.filter(organisation=alpha).order_by("seq")
    assert (imported.action, imported.object_type, imported.details["counts"]["incidents"]) == ("create", "records.incident", 2)
    assert (alpha_export.action, alpha_export.details["format"]) == ("export", "csv")
    assert alpha_export.details["counts"]["rows"] > 0
    assert audit.verify().ok


def test_a_failed_import_records_nothing(alpha, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"incidents": [{"id": "x"}]}), encoding="utf-8")
    with pytest.raises(CommandError):
        call_command("import", str(bad), "--organisation", "alpha-watch", "--quiet")
    assert not AuditEntry.objects.exists()


# --- the staff page --------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for url in (LIST, EXPORT):
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("accounts:login") in response.url
    assert client.post(VERIFY).status_code == 302


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ANALYST, Role.PARTNER])
def test_members_who_are_not_administrators_are_refused(client, alpha, role):
    append(alpha, 1)
    login_verified(client, make_user("member", alpha, role))
    assert client.get(LIST).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert client.post(VERIFY).status_code == 403


def test_administrators_see_only_their_organisations_entries(client, alpha, beta, ada, bea):
    append(alpha, 2, ada, summary="alpha-only")
    append(beta, 1, bea, summary="beta-only")
    audit.record(None, AuditAction.LOGIN, summary="installation-only")
    login_verified(client, ada)
    html = client.get(LIST).content.decode()
    assert "alpha-only" in html
    assert "beta-only" not in html
    assert "installation-only" not in html
    login_verified(client, bea)
    html = client.get(LIST).content.decode()
    assert "beta-only" in html
    assert "alpha-only" not in html
    # asking for another organisation by name is an invalid filter, not a way in
    response = client.get(LIST, {"organisation": "alpha-watch"})
    assert "alpha-only" not in response.content.decode()
    assert "Some filters could not be used" in response.content.decode()


def test_list_filters(client, alpha, ada, alice):
    append(alpha, 3, ada, action=AuditAction.VIEW)
    audit.record(alice, AuditAction.EXPORT, organisation=alpha, object_type="records.incident", object_id="exp-1")
    login_verified(client, ada)

    def listed(**params) -> int:
        return client.get(LIST, params).context["total"]

    assert listed() == 4
    assert listed(action="export") == 1
    assert listed(actor="ADA") == 3
    assert listed(object_id="exp-1") == 1
    assert listed(object_type="records.incident") == 4
    today = dt.datetime.now(dt.UTC).date()
    assert listed(date_from=today.isoformat(), date_to=today.isoformat()) == 4
    assert listed(date_to=(today - dt.timedelta(days=1)).isoformat()) == 0
    response = client.get(LIST, {"date_from": today.isoformat(), "date_to": "2000-01-01"})
    assert response.context["total"] == 0
    assert "The start date is after the end date." in response.content.decode()


def test_list_paginates_newest_first(client, alpha, ada):
    from tnr.core.views_audit import PAGE_SIZE

    append(alpha, PAGE_SIZE + 3, ada)
    login_verified(client, ada)
    first = client.get(LIST).context["rows"]
    assert len(first) == PAGE_SIZE
    assert first[0][0].seq == PAGE_SIZE + 3
    assert len(client.get(LIST, {"page": 2}).context["rows"]) == 3


def test_list_flags_an_altered_entry(client, alpha, ada, tamper):
    append(alpha, 3, ada)
    tamper(f"UPDATE {ENTRY} SET summary = 'hidden' WHERE organisation_id = %s AND seq = 2", [alpha.pk])
    login_verified(client, ada)
    response = client.get(LIST)
    assert response.context["altered"] == 1
    assert "no longer matches its hash" in response.content.decode()


def test_csv_export_from_the_page_verifies_and_is_recorded(client, alpha, ada, tmp_path, capsys):
    append(alpha, 3, ada)
    login_verified(client, ada)
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4"]  # the export's own entry is the 4th
    assert rows[-1]["action"] == "export"
    path = tmp_path / "page.csv"
    path.write_text(body, encoding="utf-8")
    assert run_cli("audit", "verify", "--file", str(path)) == 0
    filtered = client.get(EXPORT, {"action": "view"})
    assert len(list(csv.DictReader(io.StringIO(b"".join(filtered.streaming_content).decode())))) == 3


def test_verify_page_reports_intact_and_tampered(client, alpha, ada, tamper):
    append(alpha, 3, ada)
    login_verified(client, ada)
    html = client.post(VERIFY).content.decode()
    assert "The audit log is intact" in html
    tamper(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq = 2", [alpha.pk])
    html = client.post(VERIFY).content.decode()
    assert "has been tampered with" in html
    assert "entry 2 missing" in html
    assert client.get(VERIFY).status_code == 405


# --- admin -----------------------------------------------------------------------------------


def test_admin_is_read_only(client, alpha, django_user_model):
    (entry,) = append(alpha, 1)
    root = django_user_model.objects.create_superuser("root", password="lantern-orbit-quarry-57")
    login_verified(client, root)
    assert client.get(reverse("admin:core_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:core_auditentry_change", args=[entry.pk])).status_code == 200
    assert client.get(reverse("admin:core_auditentry_add")).status_code == 403
    assert client.post(reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.count() == 1


def test_audited_model_admin_records_with_field_names(alpha, ada, rf):
    from django.contrib.admin import site
    from django.forms import modelform_factory

    from tnr.core.admin import AuditedModelAdmin
    from tnr.records.models import Incident

    incident = make_incident(alpha, title="Before")
    model_admin = AuditedModelAdmin(Incident, site)
    request = rf.post("/")
    request.user = ada
    form = modelform_factory(Incident, fields=["title", "city"])({"title": "After", "city": ""}, instance=incident)
    assert form.is_valid()
    with transaction.atomic():
        model_admin.save_model(request, form.save(commit=False), form, change=True)
    model_admin.delete_queryset(request, Incident.objects.none())
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.object_id, entry.details, entry.organisation_id) == ("change", str(incident.uid), {"fields": ["title"]}, alpha.pk)


# --- concurrency and flush (real transactions) -----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_never_fork_the_chain():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite serialises writers itself (BEGIN IMMEDIATE); its in-memory test database cannot be shared by threads")
    org = make_org("Concurrent Watch")
    threads, per_thread = 4, 25
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    audit.record(None, AuditAction.VIEW, organisation=org, object_id=str(i))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    seqs = list(AuditEntry.objects.filter(organisation=org).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, threads * per_thread + 1))
    report = audit.verify(org)
    assert report.ok, report.summary()


@pytest.mark.django_db(transaction=True)
def test_parallel_verification_in_worker_processes(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("worker processes cannot share the in-memory SQLite test database")
    monkeypatch.setattr(audit, "PARALLEL_MIN_ENTRIES", 10)
    org = make_org("Parallel Watch")
    append(org, 40)
    report = audit.verify_chain(org, jobs=3)
    assert report.ok, report.summary()
    assert report.entries == 40
    remove_append_only_guards(connection)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ENTRY} WHERE organisation_id = %s AND seq IN (14, 27)", [org.pk])
            cursor.execute(f"UPDATE {ENTRY} SET summary = 'x' WHERE organisation_id = %s AND seq = 30", [org.pk])
    finally:
        install_append_only_guards(connection)
    report = audit.verify_chain(org, jobs=3)
    assert problems(report) == [(14, "missing"), (27, "missing"), (30, "edited")]


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_log_and_keeps_it_guarded():
    org = make_org("Flushed Watch")
    append(org, 2)
    call_command("flush", "--no-input", verbosity=0)
    assert not AuditEntry.objects.exists()
    org = make_org("Flushed Watch")
    append(org, 1)
    with pytest.raises(IntegrityError, match="append-only"), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ENTRY}")

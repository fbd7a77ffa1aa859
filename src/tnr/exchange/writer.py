"""Batch writer for validated incident bundles.

Bundles arrive already checked (codes, types, dates). The writer resolves identifiers to
database rows, refuses identifiers that already exist in the organisation, and inserts in
batches in foreign-key order. It runs inside the importer's transaction, so a problem found
late still leaves nothing behind.

Rows are inserted with multi-row ``INSERT ... RETURNING`` statements built from the models'
metadata (tables, columns, defaults) rather than through ``bulk_create``: the values are
already checked, and building a model instance per row cost more than the database's own
work. The database still enforces every foreign key, CHECK and UNIQUE constraint.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from django.db import connection, models
from django.utils import timezone

from tnr.accounts.models import Organisation
from tnr.records import models as rm

if TYPE_CHECKING:
    from tnr.exchange.importer import ImportReport

M2M_INCIDENT_STATES = rm.Incident.perpetrator_states.through
M2M_ACT_TACTICS = rm.Act.secondary_tactics.through
M2M_PERSON_NATIONALITY = rm.Person.nationality.through
M2M_PERSON_CATEGORIES = rm.Person.categories.through

INCIDENT_FIELDS = (
    "title", "summary", "start_date", "end_date", "date_precision", "admin_area", "city",
    "host_state_role", "mass_event", "confidence", "independent_sources", "sensitivity", "sharing",
)
INCIDENT_CODES = {"location_country": "location_country_id", "location_type": "location_type_id",
                  "origin_state": "origin_state_id", "host_state": "host_state_id"}
# Database keys of persons and actors remembered between batches. Beyond this many the map
# is emptied at the next batch, and a person named again later is looked up in the database
# (where the import has already written it): memory stays flat however long the file.
PK_CACHE_MAX = 20_000
# Rows per multi-row INSERT (SQLite; PostgreSQL gets COPY): beyond a few hundred a larger
# statement saves nothing measurable and costs memory (see Table._insert).
ROWS_PER_INSERT = 256


def _max_params() -> int:
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        try:
            import sqlite3

            return int(connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
        except (AttributeError, TypeError):  # pragma: no cover - Python < 3.11
            return 999
    return int(connection.features.max_query_params or 65535)


def _concrete(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    f = model._meta.get_field(name)
    assert isinstance(f, models.Field), f"{model.__name__}.{name} is not a concrete field"
    return f


def _pk_column(model: type[models.Model]) -> str:
    pk = model._meta.pk
    assert pk is not None
    assert pk.column is not None
    return str(pk.column)


class Table:
    """Fast inserts into one model's table: ``insert(rows)`` with one tuple per row."""

    def __init__(self, model: type[models.Model], fields: Sequence[str], *, prepared: Sequence[str] = ()) -> None:
        """``prepared``: fields whose values the caller gives already adapted for the database."""
        qn = connection.ops.quote_name
        meta = model._meta
        self.fields = [_concrete(model, name) for name in fields]
        self.table = qn(meta.db_table)
        self.table_name = meta.db_table
        self.pk_name = _pk_column(model)
        self.columns = ", ".join(qn(str(f.column)) for f in self.fields)
        self.pk = qn(self.pk_name)
        self.adapters: list[Callable[[Any], Any] | None] = [
            None if name in prepared else self._adapter(f) for name, f in zip(fields, self.fields, strict=True)
        ]
        self.width = len(self.fields)
        self.row_sql = "(" + ", ".join(["%s"] * self.width) + ")"

    @staticmethod
    def _adapter(f: models.Field[Any, Any]) -> Callable[[Any], Any] | None:
        if isinstance(f, models.DateTimeField):
            return connection.ops.adapt_datetimefield_value
        if isinstance(f, models.DateField):
            return connection.ops.adapt_datefield_value
        if isinstance(f, models.UUIDField):
            uuid_field = f

            def adapt_uuid(value: Any) -> Any:
                return uuid_field.get_db_prep_value(value, connection)

            return adapt_uuid
        return None

    def _prepare(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        adapters = [(i, a) for i, a in enumerate(self.adapters) if a is not None]
        flat: list[Any] = []
        if not adapters:
            for row in rows:
                flat.extend(row)
            return flat
        for row in rows:
            values = list(row)
            for i, adapt in adapters:
                if values[i] is not None:
                    values[i] = adapt(values[i])
            flat.extend(values)
        return flat

    def insert(self, rows: list[tuple[Any, ...]], *, returning: bool = True) -> list[int]:
        """Insert ``rows``; return their primary keys in the same order when ``returning``.

        This goes to the driver's own cursor: Django's cursor wrapper adds nothing here but,
        with DEBUG on, the cost of logging statements of thousands of parameters. PostgreSQL
        gets ``COPY`` (several times faster than INSERT), with the keys taken beforehand from
        the table's own sequence; SQLite gets multi-row ``INSERT ... RETURNING``.
        """
        if not rows:
            return []
        connection.ensure_connection()
        with connection.wrap_database_errors:
            cursor = connection.connection.cursor()
            try:
                if connection.vendor == "postgresql" and hasattr(cursor, "copy"):
                    return self._copy(cursor, rows, returning=returning)
                return self._insert(cursor, rows, returning=returning)
            finally:
                cursor.close()

    def _insert(self, cursor: Any, rows: list[tuple[Any, ...]], *, returning: bool) -> list[int]:
        ids: list[int] = []
        # Statements of a power-of-two number of rows, at most ROWS_PER_INSERT: a batch's tail
        # of 737 rows goes as 512 + 128 + 64 + 32 + 1. The driver keeps prepared statements (an
        # INSERT of 1,000 rows of 20 columns holds 1.7 MB); with arbitrary sizes its cache
        # filled with a different statement per batch tail and memory grew over an import.
        most = 1 << (max(1, min(ROWS_PER_INSERT, _max_params() // self.width)).bit_length() - 1)
        mark = "?" if connection.vendor == "sqlite" else "%s"
        row_sql = self.row_sql.replace("%s", mark)
        start = 0
        while start < len(rows):
            size = min(most, 1 << ((len(rows) - start).bit_length() - 1))
            chunk = rows[start : start + size]
            start += size
            # names come from the models, quoted; the values are parameters
            sql = f"INSERT INTO {self.table} ({self.columns}) VALUES " + ", ".join([row_sql] * size)  # noqa: S608
            if returning:
                sql += f" RETURNING {self.pk}"
            cursor.execute(sql, self._prepare(chunk))
            if returning:
                ids.extend(r[0] for r in cursor.fetchall())
        if returning and len(ids) != len(rows):  # pragma: no cover - a database that cannot
            raise RuntimeError(f"inserted {len(rows)} rows into {self.table} but got {len(ids)} ids")
        return ids

    def _copy(self, cursor: Any, rows: list[tuple[Any, ...]], *, returning: bool) -> list[int]:
        ids: list[int] = []
        columns = self.columns
        if returning:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [self.table_name, self.pk_name, len(rows)],
            )
            ids = [r[0] for r in cursor.fetchall()]
            columns = f"{self.pk}, {columns}"
        values = self._prepare(rows)
        width = self.width
        with cursor.copy(f"COPY {self.table} ({columns}) FROM STDIN") as copy:
            for n in range(len(rows)):
                row = values[n * width : (n + 1) * width]
                copy.write_row([ids[n], *row] if returning else row)
        return ids


class Writer:
    def __init__(self, organisation: Organisation, report: ImportReport, *, synthetic: bool = False) -> None:
        self.organisation = organisation
        self.report = report
        self.synthetic = synthetic
        self.person_pk: dict[str, int] = {}
        self.actor_pk: dict[str, int] = {}
        self.new_persons: dict[str, dict[str, Any]] = {}
        self.new_actors: dict[str, dict[str, Any]] = {}
        self.bundles: list[dict[str, Any]] = []
        self.relations: list[tuple[str, str, str]] = []
        self.counts = {"incidents": 0, "acts": 0, "sources": 0, "persons": 0, "actors": 0}
        self._tables: dict[str, Table] = {}
        self.defaults = {name: _concrete(rm.Incident, name).get_default() for name in INCIDENT_FIELDS}

    def table(self, key: str, model: type[models.Model], fields: Sequence[str], *, prepared: Sequence[str] = ()) -> Table:
        t = self._tables.get(key)
        if t is None:
            t = self._tables[key] = Table(model, fields, prepared=prepared)
        return t

    @property
    def pending(self) -> int:
        return len(self.bundles)

    def add(self, bundle: dict[str, Any]) -> None:
        for person in bundle.get("persons", ()):
            if person["id"] not in self.person_pk and person["id"] not in self.new_persons:
                self.new_persons[person["id"]] = person
        for actor in bundle.get("actors", ()):
            if actor["id"] not in self.actor_pk and actor["id"] not in self.new_actors:
                self.new_actors[actor["id"]] = actor
        if bundle.get("incident") is not None:
            self.bundles.append(bundle)

    def _existing(self, model: type[rm.Incident | rm.Person | rm.Actor], ids: list[str]) -> dict[str, int]:
        """Which of ``ids`` the organisation already has, with their primary keys."""
        found: dict[str, int] = {}
        if not ids:
            return found
        qn = connection.ops.quote_name
        mark = "?" if connection.vendor == "sqlite" else "%s"
        # names come from the models, quoted; the values are parameters
        pk, table = qn(_pk_column(model)), qn(model._meta.db_table)
        head = f"SELECT {qn('external_id')}, {pk} FROM {table} WHERE {qn('organisation_id')} = {mark} AND {qn('external_id')} IN "  # noqa: S608
        connection.ensure_connection()
        with connection.wrap_database_errors:
            cursor = connection.connection.cursor()
            try:
                for i in range(0, len(ids), 500):
                    chunk = ids[i : i + 500]
                    cursor.execute(head + "(" + ", ".join([mark] * len(chunk)) + ")", [self.organisation.pk, *chunk])
                    found.update(cursor.fetchall())
            finally:
                cursor.close()
        return found

    def _flush_persons(self) -> None:
        if not self.new_persons:
            return
        # A person already in the database is reused: the same pseudonym is the same person.
        existing = self._existing(rm.Person, list(self.new_persons))
        self.person_pk.update(existing)
        todo = [p for pid, p in self.new_persons.items() if pid not in existing]
        org = self.organisation.pk
        pks = self.table("person", rm.Person, ("organisation", "external_id", "sex", "age_group", "host_status")).insert(
            [(org, p["id"], p.get("sex", "unknown"), p.get("age_group", "unknown"), p.get("host_status", "unknown"))
             for p in todo]
        )
        nat: list[tuple[Any, ...]] = []
        cat: list[tuple[Any, ...]] = []
        consents: list[tuple[Any, ...]] = []
        for p, pk in zip(todo, pks, strict=True):
            self.person_pk[p["id"]] = pk
            nat += [(pk, c) for c in p.get("nationality", ())]
            cat += [(pk, c) for c in p.get("categories", ())]
            for r in p.get("relations", ()):
                self.relations.append((p["id"], r["person"], r["type"]))
            for c in p.get("consents", ()):
                consents.append((pk, c["scope"], c.get("obtained", False), c.get("obtained_on"),
                                 c.get("permitted_sharing", "internal"), c.get("withdrawn_on")))
        self.table("nat", M2M_PERSON_NATIONALITY, ("person", "country")).insert(nat, returning=False)
        self.table("cat", M2M_PERSON_CATEGORIES, ("person", "targetcategory")).insert(cat, returning=False)
        self.table("consent", rm.Consent, ("person", "scope", "obtained", "obtained_on", "permitted_sharing",
                                           "withdrawn_on")).insert(consents, returning=False)
        self.counts["persons"] += len(todo)
        self.new_persons = {}

    def _flush_actors(self) -> None:
        if not self.new_actors:
            return
        existing = self._existing(rm.Actor, list(self.new_actors))
        self.actor_pk.update(existing)
        todo = [a for aid, a in self.new_actors.items() if aid not in existing]
        org = self.organisation.pk
        pks = self.table("actor", rm.Actor, ("organisation", "external_id", "type", "state", "name")).insert(
            [(org, a["id"], a["type"], a.get("state"), a.get("name", "")) for a in todo]
        )
        for a, pk in zip(todo, pks, strict=True):
            self.actor_pk[a["id"]] = pk
        self.counts["actors"] += len(todo)
        self.new_actors = {}

    def flush(self, *, final: bool = False) -> None:
        """Write what is pending; once the report has a problem, only look for more problems."""
        bundles, self.bundles = self.bundles, []
        self._check_existing(bundles)
        if not self.report.ok:
            self.new_persons, self.new_actors, self.relations = {}, {}, []
            return
        if len(self.person_pk) > PK_CACHE_MAX:
            self.person_pk = {}
        if len(self.actor_pk) > PK_CACHE_MAX:
            self.actor_pk = {}
        self._flush_persons()
        self._flush_actors()
        if bundles:
            self._flush_incidents(bundles)
        if final and self.relations:
            self._recall(rm.Person, self.person_pk, {p for a, b, _kind in self.relations for p in (a, b)})
            rels = []
            for a, b, kind in self.relations:
                rels.append(rm.PersonRelation(person_id=self.person_pk[a], related_id=self.person_pk[b], type=kind))
            rm.PersonRelation.objects.bulk_create(rels, ignore_conflicts=True)
            self.relations = []

    def _recall(self, model: type[rm.Person | rm.Actor], cache: dict[str, int], ids: set[str]) -> None:
        """Put the database keys of ``ids`` that ``cache`` forgot back into it.

        Every id was written by this import (or existed before it) in an earlier batch.
        """
        missing = [i for i in ids if i not in cache]
        if missing:
            cache.update(self._existing(model, missing))

    def _check_existing(self, bundles: list[dict[str, Any]]) -> None:
        """Refuse incidents whose ids the organisation already has (a file imported twice)."""
        if not bundles:
            return
        where = {b["incident"]["id"]: b.get("where", (None, "incident_id")) for b in bundles}
        for external_id in self._existing(rm.Incident, list(where)):
            line, column = where[external_id]
            self.report.add(line, column, f"incident {external_id!r} already exists in {self.organisation}")

    def _flush_incidents(self, bundles: list[dict[str, Any]]) -> None:
        org = self.organisation.pk
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        uid = rm.Incident._meta.get_field("uid")
        sqlite = connection.vendor == "sqlite"
        synthetic = self.synthetic
        fields = [(k, self.defaults[k]) for k in INCIDENT_FIELDS] + [(k, None) for k in INCIDENT_CODES]
        rows = []
        for b in bundles:
            inc = b["incident"]
            get = inc.get
            rows.append(
                (org, uuid.uuid4().hex if sqlite else uid.get_db_prep_value(uuid.uuid4(), connection), inc["id"],
                 synthetic, now, now, *[get(k, d) for k, d in fields])
            )
        incident_pks = self.table(
            "incident", rm.Incident,
            ("organisation", "uid", "external_id", "synthetic", "created_at", "updated_at", *INCIDENT_FIELDS,
             *INCIDENT_CODES),
            prepared=("uid", "created_at", "updated_at"),
        ).insert(rows)
        states: list[tuple[Any, ...]] = []
        acts: list[tuple[Any, ...]] = []
        act_bundles: list[dict[str, Any]] = []
        sources: list[tuple[Any, ...]] = []
        person_pk = self.person_pk
        self._recall(rm.Person, person_pk, {a["target"] for b in bundles for a in b["acts"] if a.get("target")})
        for b, pk in zip(bundles, incident_pks, strict=True):
            states += [(pk, c) for c in b["incident"].get("perpetrator_states", ())]
            for act in b["acts"]:
                target = act.get("target")
                acts.append((pk, act["id"], person_pk[target] if target else None, act["primary_tactic"],
                             act.get("pretext", ""), act.get("outcome")))
                act_bundles.append(act)
            for src in b["sources"]:
                sources.append((pk, src["id"], src["type"], src.get("organisation", ""), src.get("reference", ""),
                                src.get("date"), src.get("reliability", "unknown"), src.get("connection", "unknown")))
        self.table("states", M2M_INCIDENT_STATES, ("incident", "country")).insert(states, returning=False)
        act_pks = self.table("act", rm.Act, ("incident", "external_id", "target", "primary_tactic", "pretext",
                                             "outcome")).insert(acts)
        tactics: list[tuple[Any, ...]] = []
        involvements: list[tuple[Any, ...]] = []
        actor_pk = self.actor_pk
        self._recall(rm.Actor, actor_pk, {inv["actor"] for act in act_bundles for inv in act.get("involvements", ())})
        for act, pk in zip(act_bundles, act_pks, strict=True):
            tactics += [(pk, t) for t in act.get("secondary_tactics", ())]
            seen = set()
            for inv in act.get("involvements", ()):
                key = (inv["actor"], inv.get("degree", "unknown"))
                if key in seen:
                    continue
                seen.add(key)
                involvements.append((pk, actor_pk[key[0]], key[1]))
        self.table("tactics", M2M_ACT_TACTICS, ("act", "tactic")).insert(tactics, returning=False)
        self.table("involvement", rm.Involvement, ("act", "actor", "degree")).insert(involvements, returning=False)
        self.table("source", rm.Source, ("incident", "external_id", "type", "documenting_organisation", "reference",
                                         "date", "reliability", "connection")).insert(sources, returning=False)
        self.counts["incidents"] += len(incident_pks)
        self.counts["acts"] += len(act_pks)
        self.counts["sources"] += len(sources)

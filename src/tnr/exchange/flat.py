"""The flat template: one row per act, the shape outside organisations fill in.

Columns are derived from ``spec``: incident fields keep their names (``id`` becomes
``incident_id``); act, target person, actor, involvement and source fields get a prefix.
Several rows with the same ``incident_id`` (contiguous) form one incident with several acts.
Rows that repeat an ``act_id`` within an incident describe the same act and may add an actor
or a source to it; a row without ``act_id`` is an act of its own (numbered A1, A2, ...).
Persons (``target_id``) and actors (``actor_id``) are identified by their ids across the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from tnr.exchange import spec as s
from tnr.exchange.spec import FieldSpec


@dataclass(frozen=True)
class FlatColumn:
    name: str
    part: str  # incident | act | target | actor | involvement | source
    field: FieldSpec
    required: bool = False


def _columns() -> tuple[FlatColumn, ...]:
    cols: list[FlatColumn] = []
    for f in s.INCIDENT.fields:
        cols.append(FlatColumn("incident_id" if f.name == "id" else f.name, "incident", f, f.required))
    for f in s.ACT.fields:
        name = {"id": "act_id", "target": "target_id"}.get(f.name, f.name)
        cols.append(FlatColumn(name, "act", f, f.name == "primary_tactic"))
    for f in s.PERSON.fields:
        if f.name != "id":
            cols.append(FlatColumn(f"target_{f.name}", "target", f))
    for f in s.ACTOR.fields:
        cols.append(FlatColumn(f"actor_{f.name}", "actor", f))
    cols.append(FlatColumn("involvement_degree", "involvement", s.INVOLVEMENT.field("degree")))
    for f in s.SOURCE.fields:
        cols.append(FlatColumn(f"source_{f.name}", "source", f))
    return tuple(cols)


FLAT_COLUMNS = _columns()
FLAT_COLUMN_NAMES = tuple(c.name for c in FLAT_COLUMNS)
BY_NAME = {c.name: c for c in FLAT_COLUMNS}
REQUIRED_COLUMNS = tuple(c.name for c in FLAT_COLUMNS if c.required)

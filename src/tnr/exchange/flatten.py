"""Exchange documents (nested dicts) to flat template rows, without the database.

Used by ``tnr simulate --format csv`` and by anything that needs the flat form of records
that are not (yet) in the database.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from tnr.exchange import spec as s
from tnr.exchange.flat import FLAT_COLUMN_NAMES


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return s.LIST_SEPARATOR.join(str(v) for v in value)
    if isinstance(value, int):
        return str(value)
    return s.neutralise_formula(str(value))


def flatten_incident(
    incident: Mapping[str, Any],
    persons: Mapping[str, Mapping[str, Any]],
    actors: Mapping[str, Mapping[str, Any]],
) -> Iterator[dict[str, Any]]:
    """One row per act × involvement; extra sources go on rows repeating the last act.

    Rows repeating an act id describe the same act, which the importer merges, so every actor
    and source survives the round trip. An incident needs at least one act in this form.
    """
    base = {("incident_id" if k == "id" else k): v for k, v in incident.items() if k not in {"acts", "sources"}}
    act_rows: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = []
    for act in incident.get("acts", []):
        act_rows += [(act, inv) for inv in (act.get("involvements") or [None])]
    sources = incident.get("sources", [])
    for i in range(max(len(act_rows), len(sources), 1)):
        row = dict(base)
        if act_rows:
            act, inv = act_rows[min(i, len(act_rows) - 1)]
            row.update(
                act_id=act.get("id"), target_id=act.get("target"), primary_tactic=act.get("primary_tactic"),
                secondary_tactics=act.get("secondary_tactics", []), pretext=act.get("pretext", ""),
                outcome=act.get("outcome"),
            )
            person = persons.get(act.get("target") or "")
            if person:
                row.update({f"target_{k}": v for k, v in person.items() if k not in {"id", "relations", "consents"}})
            if inv is not None:
                actor = actors.get(inv["actor"], {"id": inv["actor"]})
                row.update({f"actor_{k}": v for k, v in actor.items()})
                row["involvement_degree"] = inv.get("degree")
        if i < len(sources):
            row.update({f"source_{k}": v for k, v in sources[i].items()})
        yield row


def write_flat(
    out: IO[str],
    incidents: Iterable[Mapping[str, Any]],
    persons: Iterable[Mapping[str, Any]],
    actors: Iterable[Mapping[str, Any]],
    *,
    header: bool = True,
) -> int:
    by_person = {p["id"]: p for p in persons}
    by_actor = {a["id"]: a for a in actors}
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow(FLAT_COLUMN_NAMES)
    n = 0
    for incident in incidents:
        for row in flatten_incident(incident, by_person, by_actor):
            writer.writerow([cell(row.get(c)) for c in FLAT_COLUMN_NAMES])
            n += 1
    return n

"""Adapter from the crosswalk engine (``crosswalk.py``, Django-free) to the importer.

A mapped outside file becomes a stream of flat rows for the ordinary flat pipeline, so it gets
the same validation and the same all-or-nothing import. Rows the mapping flags out (out of
scope, unplaceable) are not errors: they are counted by reason on the report, and listed by
``tnr validate --mapping`` so a curator can review them.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tnr.exchange import crosswalk
from tnr.exchange.flat import FLAT_COLUMN_NAMES
from tnr.exchange.readers import FileProblem

if TYPE_CHECKING:
    from tnr.exchange.importer import ImportReport


def mapped_rows(
    path: Path, mapping_path: Path, report: ImportReport, progress: Callable[[int], None] | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    try:
        mapping = crosswalk.load_mapping(mapping_path)
    except crosswalk.MappingError as exc:
        raise FileProblem(f"mapping {mapping_path.name}: {exc}") from None
    stack = contextlib.ExitStack()
    try:
        header, source = stack.enter_context(crosswalk.open_source(mapping, path))
    except UnicodeDecodeError as exc:
        stack.close()
        raise FileProblem(f"not {mapping.encoding} text ({exc.reason}) as the mapping expects", 1) from None
    missing = crosswalk.check_columns(mapping, header)
    if missing:
        stack.close()
        raise FileProblem("; ".join(missing), 1)
    flagged: Counter[str] = Counter()
    report.flagged = flagged

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        with stack:
            try:
                for mapped in crosswalk.apply_mapping(mapping, source):
                    if progress:
                        progress(1)
                    if mapped.row is None:
                        for flag in mapped.flags[:1]:
                            flagged[crosswalk.flag_category(flag)] += 1
                        report.flag_details.append((mapped.line, mapped.flags))
                        continue
                    yield mapped.line, mapped.row
            except UnicodeDecodeError as exc:
                raise FileProblem(f"not {mapping.encoding} text ({exc.reason})") from None

    return list(FLAT_COLUMN_NAMES), rows()

"""Streaming readers for CSV, XLSX and JSON exchange files, with clear errors.

Every reader yields ``(line_number, {column: text})`` and raises ``FileProblem`` (with the line
where it happened) for problems that stop reading: wrong encoding, truncated archives, broken
quoting. Files are never loaded whole, except JSON documents (bounded by the upload limit).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

# A field above this many characters is refused by the csv module itself; it is far above any
# model limit, so the per-column length check still gives the precise message.
CSV_FIELD_LIMIT = 1_000_000
csv.field_size_limit(CSV_FIELD_LIMIT)


class FileProblem(Exception):
    def __init__(self, message: str, line: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


class CountingReader(io.RawIOBase):
    """A binary file that reports how many bytes were read, for progress bars."""

    def __init__(self, raw: BinaryIO, progress: Callable[[int], None] | None) -> None:
        self.raw = raw
        self.progress = progress
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        if self.progress and n:
            self.progress(n)
        return n


def check_size(path: Path) -> None:
    size = path.stat().st_size
    limit = settings.TNR_MAX_IMPORT_BYTES
    if size > limit:
        raise FileProblem(f"file is {size:,} bytes; the limit is {limit:,} (TNR_MAX_IMPORT_BYTES)")
    if size == 0:
        raise FileProblem("file is empty")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt"}:
        return "csv"
    if suffix in {".xlsx", ".xlsm"}:
        return "xlsx"
    if suffix == ".json":
        return "json"
    raise FileProblem(f"unknown file type {suffix!r}: expected .csv, .xlsx or .json")


def read_csv(path: Path, progress: Callable[[int], None] | None = None) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    raw = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    counting = CountingReader(raw, progress)
    text = io.TextIOWrapper(io.BufferedReader(counting, 1 << 20), encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raw.close()
        raise FileProblem("file has no header row") from None
    except UnicodeDecodeError as exc:
        raw.close()
        raise FileProblem(f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8", 1) from None
    except csv.Error as exc:
        raw.close()
        raise FileProblem(f"unreadable CSV: {exc}", 1) from None
    header = [h.strip() for h in header]

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        width = len(header)
        try:
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except UnicodeDecodeError as exc:
                    raise FileProblem(
                        f"not UTF-8 text ({exc.reason}); save the file as UTF-8", reader.line_num + 1
                    ) from None
                except csv.Error as exc:
                    raise FileProblem(f"unreadable CSV: {exc}", reader.line_num) from None
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if len(cells) != width:
                    raise FileProblem(
                        f"row has {len(cells)} cells but the header has {width}", reader.line_num
                    )
                yield reader.line_num, dict(zip(header, cells, strict=True))
        finally:
            raw.close()

    return header, rows()


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_xlsx(path: Path, progress: Callable[[int], None] | None = None) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, EOFError) as exc:
        raise FileProblem(f"not a readable XLSX workbook (truncated or damaged: {exc})") from None
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    try:
        first = next(it)
    except StopIteration:
        wb.close()
        raise FileProblem("the first sheet is empty") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        wb.close()
        raise FileProblem(f"damaged XLSX workbook: {exc}", 1) from None
    header = [_cell_text(v).strip() for v in first]
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        line = 1
        try:
            for values in it:
                line += 1
                cells = [_cell_text(v) for v in values[: len(header)]]
                if not any(c.strip() for c in cells):
                    continue
                cells += [""] * (len(header) - len(cells))
                if progress:
                    progress(1)
                yield line, dict(zip(header, cells, strict=True))
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise FileProblem(f"damaged XLSX workbook: {exc}", line) from None
        finally:
            wb.close()

    return header, rows()


def read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise FileProblem(f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None

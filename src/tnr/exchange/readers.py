"""Streaming readers for CSV, XLSX and JSON exchange files, with clear errors.

``read_csv`` and ``read_xlsx`` return the header and an iterator of ``(row, {column: text})``.
Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is
row 2, and a CSV record whose quoted cells span several lines is still one row.

Problems that stop reading (an unreadable header, a damaged workbook, a broken quote) raise
``FileProblem`` with the row where they happened. Problems confined to one row (bytes that are
not UTF-8, a row with more or fewer cells than the header) go to the ``problem`` callback and
reading goes on, so a file's problems are all reported at once; without a callback they raise
``FileProblem`` too. Files are never loaded whole, except JSON documents (bounded by the
upload limit).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

# A field above this many characters is refused by the csv module itself; it is far above any
# model limit, so the per-column length check still gives the precise message.
CSV_FIELD_LIMIT = 1_000_000
csv.field_size_limit(CSV_FIELD_LIMIT)

UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
SAVE_AS_UTF8 = "save the file as UTF-8 (in Excel: 'CSV UTF-8')"

ProblemCallback = Callable[[int | None, str | None, str], None]
Rows = Iterator[tuple[int, Any]]  # (row, {column: text}) or (row, [text, ...])


class FileProblem(Exception):
    def __init__(self, message: str, line: int | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


def _raise_problem(line: int | None, column: str | None, message: str) -> None:
    raise FileProblem(message, line, column)


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
        raise FileProblem(f"file is too large: {size:,} bytes; the limit is {limit:,} (TNR_MAX_IMPORT_BYTES)")
    if size == 0:
        raise FileProblem("file is empty (0 bytes)")


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt"}:
        return "csv"
    if suffix in {".xlsx", ".xlsm"}:
        return "xlsx"
    if suffix == ".json":
        return "json"
    raise FileProblem(f"unknown file type {suffix!r}: expected .csv, .xlsx or .json")


def _encoding_message(raw: bytes, start: int) -> str:
    """Why ``raw`` (one line) is not UTF-8, with a hint at the encoding it probably is."""
    bad = raw[start : start + 1].hex().upper()
    hint = ""
    try:
        raw.decode("cp1252")
        hint = "; it looks like Windows-1252/Latin-1 text"
    except UnicodeDecodeError:
        pass
    return f"not UTF-8 text (byte 0x{bad} cannot be read{hint}); {SAVE_AS_UTF8}"


def _check_start(first: bytes) -> None:
    if first.startswith(UTF16_BOMS):
        raise FileProblem(f"file is UTF-16 (or UTF-32) text, not UTF-8; {SAVE_AS_UTF8}", 1)
    if b"\x00" in first:
        raise FileProblem(f"the header row contains NUL bytes: a binary file or UTF-16 text; {SAVE_AS_UTF8}", 1)


def _is_utf8(path: Path) -> bool:
    """Whether the whole file is UTF-8 (a quick pass in C, before the real reading)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_csv(
    path: Path,
    progress: Callable[[int], None] | None = None,
    problem: ProblemCallback | None = None,
    *,
    as_lists: bool = False,
) -> tuple[list[str], Rows]:
    """The header and the data rows of a CSV file (dicts by column, or lists of cells)."""
    report = problem or _raise_problem
    with open(path, "rb") as f:
        _check_start(f.read(4096).split(b"\n", 1)[0])
    raw = open(path, "rb")  # noqa: SIM115 - closed by the generator below
    binary = io.BufferedReader(CountingReader(raw, progress), 1 << 20)
    # physical lines whose bytes are not UTF-8: (line number, bytes, error)
    bad: list[tuple[int, bytes, UnicodeDecodeError]] = []

    def lines() -> Iterator[str]:
        """Lines decoded one by one, so a bad byte is reported on its own row."""
        for n, chunk in enumerate(binary, 1):
            if n == 1 and chunk.startswith(UTF8_BOM):
                chunk = chunk[3:]
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad.append((n, chunk, exc))
                text = chunk.decode("utf-8", "replace")
            yield text

    if _is_utf8(path):
        text_io = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        text_io._CHUNK_SIZE = 1 << 16  # type: ignore[attr-defined]  # decode 64 KiB at a time, not 8
        reader = csv.reader(text_io)
    else:
        reader = csv.reader(lines())
    try:
        header = next(reader)
    except StopIteration:
        raw.close()
        raise FileProblem("file has no header row") from None
    except csv.Error as exc:
        raw.close()
        raise FileProblem(f"unreadable CSV header: {exc}", 1) from None
    if bad and bad[0][0] <= reader.line_num:
        raw.close()
        _n, chunk, error = bad[0]
        raise FileProblem(f"header row: {_encoding_message(chunk, error.start)}", 1)
    header = [h.strip() for h in header]
    while header and not header[-1]:
        header.pop()  # trailing empty header cells (a spreadsheet's ",,,") are not columns
    if not header:
        raw.close()
        raise FileProblem("the header row is empty: the first row must name the columns", 1)

    def rows() -> Rows:
        width = len(header)
        row = 1
        last_line = reader.line_num
        try:
            for cells in reader:
                row += 1
                first_line, last_line = last_line + 1, reader.line_num
                if bad:
                    damaged = [b for b in bad if b[0] <= last_line]
                    if damaged:
                        del bad[: len(damaged)]
                        message = _encoding_message(damaged[0][1], damaged[0][2].start)
                        columns: list[str | None] = [
                            header[i] if i < width else f"(cell {i + 1})" for i, c in enumerate(cells) if "\ufffd" in c
                        ]
                        for column in columns or [None]:
                            report(row, column, message)
                        continue
                if len(cells) != width:
                    if not cells or (len(cells) == 1 and not cells[0].strip()):
                        continue  # a blank line
                    if len(cells) > width and not any(c.strip() for c in cells[width:]):
                        cells = cells[:width]
                    else:
                        where = f" (lines {first_line}-{last_line} of the file)" if last_line > first_line else ""
                        column = header[width - 1] if len(cells) > width else header[len(cells)]
                        report(row, column, f"row has {len(cells)} cells but the header has {width}{where}; "
                                            "check for stray commas or unclosed quotes")
                        continue
                if not cells[0] and not any(c.strip() for c in cells):
                    continue  # a row of empty cells, as spreadsheets write them
                yield row, (cells if as_lists else dict(zip(header, cells, strict=True)))
        except csv.Error as exc:
            # only the reader raises csv.Error: the row after the last one read
            raise FileProblem(
                f"unreadable CSV from this row on ({exc}); probably a quote (\") that is never closed",
                row + 1,
            ) from None
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


def _damaged(exc: BaseException) -> str:
    return f"not a readable XLSX workbook: the file is truncated or damaged ({type(exc).__name__}: {exc})"


def read_xlsx(
    path: Path,
    progress: Callable[[int], None] | None = None,
    problem: ProblemCallback | None = None,
    *,
    as_lists: bool = False,
) -> tuple[list[str], Rows]:
    """The header and the data rows of the first sheet (dicts by column, or lists of cells)."""
    from openpyxl import load_workbook

    report = problem or _raise_problem
    # openpyxl raises many kinds of errors for damaged archives (zipfile, zlib, XML, KeyError…)
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise FileProblem(_damaged(exc)) from None
    try:
        if not wb.worksheets:
            raise FileProblem("the workbook has no worksheet")
        ws = wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        first = next(it)
    except StopIteration:
        wb.close()
        raise FileProblem("the first sheet is empty") from None
    except FileProblem:
        wb.close()
        raise
    except Exception as exc:
        wb.close()
        raise FileProblem(_damaged(exc), 1) from None
    header = [_cell_text(v).strip() for v in first]
    while header and not header[-1]:
        header.pop()
    if not header:
        wb.close()
        raise FileProblem("the header row is empty: the first row must name the columns", 1)

    def rows() -> Rows:
        line = 1
        width = len(header)
        try:
            for values in it:
                line += 1
                if len(values) > width and any(not (v is None or (isinstance(v, str) and not v.strip())) for v in values[width:]):
                    report(line, f"(cell {width + 1})", f"row has values beyond the last column of the header ({width} columns)")
                    continue
                cells = [_cell_text(v) for v in values[:width]]
                if not any(c.strip() for c in cells):
                    continue
                cells += [""] * (width - len(cells))
                if progress:
                    progress(1)
                yield line, (cells if as_lists else dict(zip(header, cells, strict=True)))
        except FileProblem:
            raise
        except Exception as exc:
            raise FileProblem(_damaged(exc), line) from None
        finally:
            wb.close()

    return header, rows()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_json(path: Path) -> Any:
    data = path.read_bytes()
    if data.startswith(UTF16_BOMS) or (len(data) > 1 and b"\x00" in data[:4]):
        raise FileProblem(f"file is UTF-16 (or UTF-32) text, not UTF-8; {SAVE_AS_UTF8}", 1)
    if data.startswith(UTF8_BOM):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line_end = data.find(b"\n", exc.start)
        raw_line = data[line_start : line_end if line_end >= 0 else len(data)]
        line = data.count(b"\n", 0, exc.start) + 1
        raise FileProblem(_encoding_message(raw_line, exc.start - line_start), line) from None
    del data
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise FileProblem(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})", exc.lineno) from None
    except ValueError as exc:
        raise FileProblem(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise FileProblem("not valid JSON: nested too deeply") from None

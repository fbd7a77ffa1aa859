"""Identifiers seen in one file, remembered exactly in bounded memory.

A flat file's checks span the whole file: an incident id used twice, even 200,000 rows apart,
is an error; a person or actor described on row 10 must be described the same way on row
150,000. Keeping every identifier in a dict made memory grow by about 200 bytes per row, so a
file ten times larger needed ten times the memory for these checks. A ``Register`` keeps the
newest keys in memory and moves older ones to a table in a private temporary SQLite file:

* the newest keys live in two dicts of at most ``window`` keys each (the current and the
  previous generation), so a key that comes back soon — a person on the next row, an actor
  on every row — costs one dict lookup, as before;
* when the current generation is full, the previous one is written to the table (a few
  multi-row INSERTs in one transaction) and dropped;
* a Bloom filter in front of the table (a fixed 2 MiB bit array, made at the first spill)
  answers "never seen" for nearly every new key without a query; only keys it cannot rule
  out (a key that does come back, or a rare false positive) are looked up, and the answer is
  exact.

Memory is therefore bounded by the window, the filter and SQLite's own page cache, whatever
the file's length; the result is the same as with one big dict (the tests check both). The
temporary database is SQLite's "private temporary on-disk database" (an empty file name):
it is created with owner-only permissions, unlinked at once, and gone when closed.

No maintained library offers an exact, bounded set with a value per key (Bloom filter
packages are approximate and are not dependencies of this project), hence this module.
"""

from __future__ import annotations

import functools
import pickle
import sqlite3
from typing import Any

# Keys per generation kept in memory. Two generations are kept, so at most 2 * WINDOW keys.
WINDOW = 4096
# Bits in the Bloom filter: 2 MiB, two probes per key. The share of new keys it cannot rule
# out (each costs a query) is about 1 in 2,000 at 200,000 keys on disk, 1 in 80 at a million
# and 1 in 5 at 5 million; past that the register stays exact and bounded, only slower.
# Tests shrink it (a power of two, at most 2**24: a probe is a 24-bit slice of the hash).
BLOOM_BITS = 1 << 24
_SHIFT = 24
# SQLite's page cache for the table, in KiB (negative: KiB rather than pages).
CACHE_KIB = 2048
# Rows per INSERT: a power of two, and 3 parameters a row stay within any SQLite's limit (999).
_PER_STATEMENT = 256


@functools.cache
def _insert(rows: int) -> str:
    # OR IGNORE: a key looked up from the table and kept in memory again is written again
    return "INSERT OR IGNORE INTO seen VALUES " + ", ".join(["(?, ?, ?)"] * rows)  # noqa: S608 - only placeholders


class Register:
    """Keys (identifiers) with the row that introduced each and a value, exact and bounded.

    ``get(key)`` returns ``(row, value)`` for a key added before, else None; ``add`` adds a
    key that ``get`` did not find. Values must be picklable (they go to disk when old); an
    object that must come back as itself (a sentinel) must pickle by reference, e.g. an
    ``Enum`` member.
    """

    def __init__(self, *, window: int | None = None, bloom_bits: int | None = None) -> None:
        """``window`` and ``bloom_bits`` default to the module's ``WINDOW`` and ``BLOOM_BITS``."""
        window = WINDOW if window is None else window
        bloom_bits = BLOOM_BITS if bloom_bits is None else bloom_bits
        if window < 1:
            raise ValueError("window must be at least 1")
        if not 64 <= bloom_bits <= 1 << _SHIFT or bloom_bits & (bloom_bits - 1):
            raise ValueError("bloom_bits must be a power of two from 64 to 2**24")
        self.window = window
        self.bloom_bits = bloom_bits
        self._mask = bloom_bits - 1
        self.current: dict[str, tuple[int, Any]] = {}
        self.previous: dict[str, tuple[int, Any]] = {}
        self.spilled = 0  # keys written to the table (a key that came back may be counted twice)
        self.lookups = 0  # queries made because the filter could not rule a key out
        self._db: sqlite3.Connection | None = None
        self._bits: bytearray | None = None

    def get(self, key: str) -> tuple[int, Any] | None:
        """``(row, value)`` of ``key`` if it was added, else None."""
        hit = self.current.get(key)
        if hit is not None:
            return hit
        hit = self.previous.get(key)
        bits = self._bits
        if hit is not None or bits is None:
            return hit
        # the filter's two probes are two 24-bit slices of the key's hash (str hashes are
        # cached by Python and salted per process, which suits a filter that lives in one)
        h, mask = hash(key), self._mask
        p = h & mask
        if not bits[p >> 3] >> (p & 7) & 1:
            return None
        p = (h >> _SHIFT) & mask
        if not bits[p >> 3] >> (p & 7) & 1:
            return None
        return self._lookup(key)

    def add(self, key: str, row: int, value: Any = None) -> None:
        """Remember ``key``, introduced on ``row`` with ``value`` (``get`` found nothing)."""
        current = self.current
        current[key] = (row, value)
        if len(current) >= self.window:
            self._rotate()

    def _rotate(self) -> None:
        if self.previous:
            self._spill(self.previous)
        self.previous = self.current
        self.current = {}

    def close(self) -> None:
        """Drop the temporary database (also done when the register is garbage collected)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self.current, self.previous, self._bits = {}, {}, None

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the table on disk --------------------------------------------------------------------

    def _table(self) -> sqlite3.Connection:
        if self._db is None:
            # "" = a private temporary on-disk database; no journal and no syncing: it lives
            # and dies with this register, so there is nothing to recover after a crash
            db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER NOT NULL, value BLOB) WITHOUT ROWID")
            self._db = db
            self._bits = bytearray(self.bloom_bits // 8)
        return self._db

    def _spill(self, entries: dict[str, tuple[int, Any]]) -> None:
        db = self._table()
        dumps, protocol = pickle.dumps, pickle.HIGHEST_PROTOCOL
        values = [
            x for key, (row, value) in entries.items()
            for x in (key, row, None if value is None else dumps(value, protocol))
        ]
        # One transaction per spill (in autocommit mode every row would be its own), and many
        # rows per statement: a fifth less work per key than executemany, which steps (and
        # releases the GIL) once per row. Statements have power-of-two sizes (a tail of 96 rows
        # goes as 64 + 32) so the connection's statement cache holds at most nine of them.
        db.execute("BEGIN")
        start, rows = 0, len(values) // 3
        while start < rows:
            size = min(_PER_STATEMENT, 1 << ((rows - start).bit_length() - 1))
            db.execute(_insert(size), values[start * 3 : (start + size) * 3])
            start += size
        db.execute("COMMIT")
        bits, mask = self._bits, self._mask
        assert bits is not None
        for key in entries:  # the same probes as ``get``
            h = hash(key)
            p = h & mask
            bits[p >> 3] |= 1 << (p & 7)
            p = (h >> _SHIFT) & mask
            bits[p >> 3] |= 1 << (p & 7)
        self.spilled += len(entries)

    def _lookup(self, key: str) -> tuple[int, Any] | None:
        self.lookups += 1
        found = self._table().execute("SELECT row, value FROM seen WHERE key = ?", (key,)).fetchone()
        if found is None:
            return None
        row, blob = found
        # the bytes were pickled by this process into its own unlinked temporary file
        hit = (row, None if blob is None else pickle.loads(blob))  # noqa: S301
        # a key that came back once tends to come back again (a person's next row): keep it near
        self.current[key] = hit
        if len(self.current) >= self.window:
            self._rotate()
        return hit

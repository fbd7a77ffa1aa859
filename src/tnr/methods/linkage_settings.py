"""Declarative record-linkage settings for TNR records, and their translation into Splink.

A ``LinkageSettings`` says *what* to compare and how to train, in plain data that round-trips
to JSON (``to_json``/``from_json``), so an analyst can keep a linkage's settings beside its
results, edit them, and run the very same settings on DuckDB or on Spark. ``splink_settings``
turns them into Splink's own ``SettingsCreator`` for a given backend dialect.

Comparisons are named by kind (``ComparisonSpec.kind``) rather than written as SQL, for two
reasons: every kind below is built from Splink's comparison-level library or from plain
arithmetic that Splink translates to each dialect (so the Spark run compares exactly what the
DuckDB run compares), and a typo in a settings file is caught here with a message naming the
comparison, not deep inside a generated SQL statement.

Kinds (the columns are those of ``tnr.methods.linkage.INCIDENT_COLUMNS`` / ``PERSON_COLUMNS``):

``date_interval``  a date known to a precision, given as the interval of days it may lie in
                   (``<col>_lo``/``<col>_hi``, days since 1970-01-01). Two dates whose
                   intervals overlap are *consistent*: an incident known only to March 2019
                   is never counted against one dated 12 March 2019. Levels: same day (both
                   known to the day), consistent, then gaps of at most each ``day_gaps``.
``location``       country, then city (Jaro-Winkler, for misspellings) within the country.
``origin_host``    origin state and host state together (origin alone is a weaker level).
``tactic``         main tactic equal; any tactic shared; same tactic family; else.
``exact``          one column, equal or not (optionally with term-frequency adjustment).
``array``          two lists sharing at least one element (target categories, nationality).
``count``          equal counts; both at least ``at_least`` (e.g. two mass events); else.
``name``           a name: equal, then Jaro-Winkler at each of ``similarities``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

SETTINGS_FORMAT = "tnr-linkage-settings"
SETTINGS_VERSION = 1

KINDS = ("incidents", "persons")
LINK_TYPES = ("link_only", "link_and_dedupe", "dedupe_only")
COMPARISON_KINDS = ("date_interval", "location", "origin_host", "tactic", "exact", "array", "count", "name")
BACKENDS = ("duckdb", "spark")
# Splink reads every condition below in DuckDB's dialect and translates it for Spark (sqlglot).
BASE_DIALECT = "duckdb"


class SettingsError(ValueError):
    """Linkage settings that cannot be used; the message names the setting and the problem."""


@dataclass(frozen=True)
class ComparisonSpec:
    """One comparison between two records: a name, a kind, the columns it reads, options."""

    name: str
    kind: str
    columns: tuple[str, ...]
    term_frequency: bool = False
    # Options by kind: day_gaps (date_interval), similarities (location, name), at_least (count).
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Lists from JSON and tuples from code are the same settings: keep one spelling.
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "options", {
            k: tuple(v) if isinstance(v, list | tuple) else v for k, v in dict(self.options).items()
        })

    def check(self, where: str) -> None:
        if not self.name.isidentifier():
            raise SettingsError(f"{where}: name {self.name!r} must be a plain identifier (letters, digits, _)")
        if self.kind not in COMPARISON_KINDS:
            raise SettingsError(f"{where} ({self.name}): unknown kind {self.kind!r}; kinds are {', '.join(COMPARISON_KINDS)}")
        needed = {"date_interval": 1, "location": 2, "origin_host": 2, "tactic": 3, "exact": 1,
                  "array": 1, "count": 1, "name": 1}[self.kind]  # fmt: skip
        if len(self.columns) != needed:
            raise SettingsError(f"{where} ({self.name}): kind {self.kind} reads {needed} column(s), got {list(self.columns)}")
        for key, value in self.options.items():
            if key == "day_gaps":
                if not value or any(not isinstance(d, int) or d < 1 for d in value) or list(value) != sorted(set(value)):
                    raise SettingsError(f"{where} ({self.name}): day_gaps must be increasing whole days ≥ 1, got {value!r}")
            elif key == "similarities":
                if not value or any(not 0 < float(s) < 1 for s in value) or list(value) != sorted(set(value), reverse=True):
                    raise SettingsError(f"{where} ({self.name}): similarities must be decreasing numbers between 0 and 1, got {value!r}")
            elif key == "fixed_m":
                if any(not 0 < float(m) < 1 for m in value) or abs(sum(value) - 1) > 1e-6:
                    raise SettingsError(f"{where} ({self.name}): fixed_m must be probabilities in (0, 1) adding up to 1, got {value!r}")
            elif key == "at_least":
                if not isinstance(value, int) or value < 2:
                    raise SettingsError(f"{where} ({self.name}): at_least must be a whole number ≥ 2, got {value!r}")
            else:
                raise SettingsError(f"{where} ({self.name}): unknown option {key!r}")

    @property
    def input_columns(self) -> tuple[str, ...]:
        """The frame columns this comparison reads (a date column is stored as its interval)."""
        if self.kind == "date_interval":
            return (f"{self.columns[0]}_lo", f"{self.columns[0]}_hi", f"{self.columns[0]}_precision")
        return self.columns


@dataclass(frozen=True)
class LinkageSettings:
    """Everything a linkage run needs besides the data. Plain data; round-trips to JSON.

    ``blocking_rules``: each rule is a list of columns that must be equal for a pair to be
    scored; a pair is scored when any rule admits it. ``training_rules``: the blocking rule of
    each expectation-maximisation session that estimates the m probabilities (a session does
    not train the comparisons that read its own columns, so together they must cover every
    comparison). ``deterministic_rules`` with their assumed ``deterministic_recall`` estimate
    the prior probability that two records match. u probabilities come from
    ``u_max_pairs`` random pairs (seeded). No labels are used anywhere.

    Pairs with a match probability at or above ``match_threshold`` join a cluster; pairs from
    ``review_threshold`` up to it are uncertain and go to a caseworker.
    """

    kind: str
    comparisons: tuple[ComparisonSpec, ...]
    blocking_rules: tuple[tuple[str, ...], ...]
    training_rules: tuple[tuple[str, ...], ...]
    deterministic_rules: tuple[tuple[str, ...], ...]
    deterministic_recall: float = 0.6
    link_type: str = "link_and_dedupe"
    u_max_pairs: int = 2_000_000
    seed: int = 1
    match_threshold: float = 0.99
    review_threshold: float = 0.8
    em_max_iterations: int = 25

    def __post_init__(self) -> None:
        self.check()

    # --- checking ----------------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``SettingsError`` naming the first setting that cannot be used."""
        if self.kind not in KINDS:
            raise SettingsError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.link_type not in LINK_TYPES:
            raise SettingsError(f"link_type: {self.link_type!r} is not one of {', '.join(LINK_TYPES)}")
        if not self.comparisons:
            raise SettingsError("comparisons: at least one comparison is needed")
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise SettingsError(f"comparisons: names must be unique, got {names}")
        for i, comparison in enumerate(self.comparisons):
            comparison.check(f"comparisons[{i}]")
        for label, rules in (("blocking_rules", self.blocking_rules), ("training_rules", self.training_rules),
                             ("deterministic_rules", self.deterministic_rules)):  # fmt: skip
            if not rules:
                raise SettingsError(f"{label}: at least one rule is needed")
            for j, rule in enumerate(rules):
                if not rule or any(not isinstance(col, str) or not col.isidentifier() for col in rule):
                    raise SettingsError(f"{label}[{j}]: a rule is a non-empty list of column names, got {list(rule)!r}")
        if not 0 < self.deterministic_recall <= 1:
            raise SettingsError(f"deterministic_recall: must be in (0, 1], got {self.deterministic_recall!r}")
        if not 0 < self.review_threshold <= self.match_threshold < 1:
            raise SettingsError(
                "thresholds: need 0 < review_threshold ≤ match_threshold < 1, got "
                f"review {self.review_threshold!r} and match {self.match_threshold!r}"
            )
        if self.u_max_pairs < 1000:
            raise SettingsError(f"u_max_pairs: at least 1,000 random pairs, got {self.u_max_pairs!r}")
        if self.em_max_iterations < 1:
            raise SettingsError(f"em_max_iterations: at least 1, got {self.em_max_iterations!r}")
        trained = self._untrained_comparisons()
        if trained:
            raise SettingsError(
                f"training_rules: no session trains {', '.join(trained)} (each session skips the "
                "comparisons that read its own columns); add a rule on other columns"
            )

    def _untrained_comparisons(self) -> list[str]:
        missing = []
        for comparison in self.comparisons:
            reads = set(comparison.input_columns)
            if all(reads & set(rule) for rule in self.training_rules):
                missing.append(comparison.name)
        return missing

    # --- columns -----------------------------------------------------------------------------

    @property
    def input_columns(self) -> tuple[str, ...]:
        """Every frame column the comparisons and rules read (ids aside), in a stable order."""
        seen: dict[str, None] = {}
        for comparison in self.comparisons:
            seen.update(dict.fromkeys(comparison.input_columns))
        for rules in (self.blocking_rules, self.training_rules, self.deterministic_rules):
            for rule in rules:
                seen.update(dict.fromkeys(rule))
        return tuple(seen)

    def for_columns(self, available: Iterable[str]) -> LinkageSettings:
        """These settings for data that have only the ``available`` columns: comparisons and
        blocking or training rules on missing columns (e.g. names, when none was recorded)
        are left out; ``LinkageResult.settings`` shows what was used. Deterministic rules
        must find their columns, and something must remain of each list."""
        have = set(available)
        kept = tuple(c for c in self.comparisons if set(c.input_columns) <= have)
        if not kept:
            raise SettingsError("comparisons: the data have none of the columns any comparison reads")
        blocking = tuple(rule for rule in self.blocking_rules if set(rule) <= have)
        training = tuple(rule for rule in self.training_rules if set(rule) <= have)
        for label, before, after in (("blocking_rules", self.blocking_rules, blocking),
                                     ("training_rules", self.training_rules, training)):  # fmt: skip
            if not after:
                raise SettingsError(f"{label}: every rule needs columns the data lack ({[list(r) for r in before]})")
        for rule in self.deterministic_rules:
            missing = [col for col in rule if col not in have]
            if missing:
                raise SettingsError(f"deterministic_rules: rule {list(rule)} needs column(s) {missing} that the data lack")
        if (kept, blocking, training) == (self.comparisons, self.blocking_rules, self.training_rules):
            return self
        return replace(self, comparisons=kept, blocking_rules=blocking, training_rules=training)

    # --- JSON --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["comparisons"] = [
            {**asdict(c), "columns": list(c.columns),
             "options": {k: list(v) if isinstance(v, tuple) else v for k, v in c.options.items()}}
            for c in self.comparisons
        ]
        for key in ("blocking_rules", "training_rules", "deterministic_rules"):
            data[key] = [list(rule) for rule in getattr(self, key)]
        return {"format": SETTINGS_FORMAT, "version": SETTINGS_VERSION, **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinkageSettings:
        """Settings from ``to_dict`` output; unknown or missing keys are named in the error."""
        if not isinstance(data, Mapping):
            raise SettingsError("settings must be a JSON object")
        if data.get("format") != SETTINGS_FORMAT:
            raise SettingsError(f"format: expected {SETTINGS_FORMAT!r}, got {data.get('format')!r}")
        if data.get("version") != SETTINGS_VERSION:
            raise SettingsError(f"version: this program reads version {SETTINGS_VERSION}, got {data.get('version')!r}")
        body = {k: v for k, v in data.items() if k not in ("format", "version")}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        try:
            comparisons = tuple(
                ComparisonSpec(
                    name=c["name"], kind=c["kind"], columns=tuple(c["columns"]),
                    term_frequency=bool(c.get("term_frequency", False)), options=dict(c.get("options", {})),
                )
                for c in body.pop("comparisons")
            )
            for key in ("blocking_rules", "training_rules", "deterministic_rules"):
                body[key] = tuple(tuple(rule) for rule in body[key])
        except KeyError as missing:
            raise SettingsError(f"missing setting {missing}") from None
        except TypeError as error:
            raise SettingsError(f"malformed settings: {error}") from None
        try:
            return cls(comparisons=comparisons, **body)
        except TypeError as error:
            raise SettingsError(f"malformed settings: {error}") from None

    @classmethod
    def from_json(cls, text: str) -> LinkageSettings:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise SettingsError(f"settings are not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}") from None
        return cls.from_dict(data)

    # --- Splink ------------------------------------------------------------------------------

    def splink_settings(self, link_type: str | None = None) -> Any:
        """Splink's ``SettingsCreator`` for these settings (dialect-neutral: Splink renders
        it for whichever backend the linker runs on)."""
        from splink import SettingsCreator, block_on

        return SettingsCreator(
            link_type=link_type or self.link_type,  # type: ignore[arg-type]  # checked in check()
            unique_id_column_name="unique_id",
            source_dataset_column_name="source_dataset",
            comparisons=[splink_comparison(c) for c in self.comparisons],
            blocking_rules_to_generate_predictions=[block_on(*rule) for rule in self.blocking_rules],
            retain_matching_columns=True,
            retain_intermediate_calculation_columns=False,
            max_iterations=self.em_max_iterations,
            em_convergence=0.001,
        )


# --- comparisons ------------------------------------------------------------------------------


def _named(level: Any, label: str) -> Any:
    """A level with a label a caseworker reads on the review page."""
    return level.configure(label_for_charts=label)


def _level(sql: str, label: str) -> Any:
    from splink import comparison_level_library as cll

    return cll.CustomLevel(sql, label_for_charts=label, base_dialect_str=BASE_DIALECT)


def splink_comparison(spec: ComparisonSpec) -> Any:
    """The Splink comparison for one ``ComparisonSpec``; with the ``fixed_m`` option, its m
    probabilities (one per level, null level aside) are set and kept out of training."""
    comparison = _splink_comparison(spec)
    fixed = spec.options.get("fixed_m")
    if fixed is not None:
        levels = [level for level in comparison.create_comparison_levels() if not getattr(level, "is_null_level", False)]
        if len(levels) != len(fixed):
            raise SettingsError(f"comparison {spec.name}: fixed_m has {len(fixed)} values for {len(levels)} levels")
        for level, m in zip(levels, fixed, strict=True):
            level.configure(m_probability=float(m), fix_m_probability=True)
    return comparison


def _splink_comparison(spec: ComparisonSpec) -> Any:
    from splink import comparison_level_library as cll
    from splink import comparison_library as cl

    kind, cols, opts = spec.kind, spec.columns, spec.options
    if kind == "date_interval":
        lo, hi, precision = (f"{cols[0]}_lo", f"{cols[0]}_hi", f"{cols[0]}_precision")
        # The gap in days between the two intervals; 0 or less when they overlap.
        gap = f"(greatest({lo}_l, {lo}_r) - least({hi}_l, {hi}_r))"
        levels = [
            cll.NullLevel(lo),
            _level(f"{precision}_l = 'day' AND {precision}_r = 'day' AND {lo}_l = {lo}_r", "same day"),
            # Consistent dates weigh by how precise they are: two dates known to the month
            # that agree say much more than two that agree only on the year.
            _level(f"{gap} <= 0 AND greatest({hi}_l - {lo}_l, {hi}_r - {lo}_r) <= 31",
                   "consistent, known to the month"),
            _level(f"{gap} <= 0", "consistent, known to the year"),
        ]
        levels += [_level(f"{gap} <= {days}", f"within {days} days") for days in opts.get("day_gaps", (3, 14, 60))]
        levels.append(_named(cll.ElseLevel(), f"more than {max(opts.get('day_gaps', (3, 14, 60)))} days apart"))
        return cl.CustomComparison(comparison_levels=levels, output_column_name=spec.name,
                                   comparison_description=f"{cols[0]} with its precision")
    if kind == "location":
        country, city = cols
        sims = opts.get("similarities", (0.9,))
        same_country = f"{country}_l = {country}_r"
        # The same city name is taken as the same place (a name shared by two countries is
        # rare): written as a plain exact match so that Splink can weight it by how common
        # the city is (a shared "London" says less than a shared small town).
        levels = [cll.NullLevel(country), _named(cll.ExactMatchLevel(city, term_frequency_adjustments=spec.term_frequency), "same city")]
        levels += [
            _named(cll.And(_level(same_country, "same country"), cll.JaroWinklerLevel(city, s)), f"same country, similar city name (Jaro-Winkler ≥ {s})") for s in sims
        ]
        levels += [
            _level(f"{same_country} AND ({city}_l IS NULL OR {city}_r IS NULL)", "same country, city unknown"),
            _level(same_country, "same country, other city"),
            _named(cll.ElseLevel(), "other country"),
        ]
        return cl.CustomComparison(comparison_levels=levels, output_column_name=spec.name,
                                   comparison_description="country and city")
    if kind == "origin_host":
        origin, host = cols
        return cl.CustomComparison(
            comparison_levels=[
                cll.NullLevel(origin),
                _level(f"{origin}_l = {origin}_r AND {host}_l = {host}_r", "same origin and host state"),
                _level(f"{origin}_l = {origin}_r", "same origin state"),
                _named(cll.ElseLevel(), "other origin state"),
            ],
            output_column_name=spec.name, comparison_description="origin and host state",
        )
    if kind == "tactic":
        main, every, family = cols
        return cl.CustomComparison(
            comparison_levels=[
                cll.NullLevel(main),
                _named(cll.ExactMatchLevel(main, term_frequency_adjustments=spec.term_frequency), "same main tactic"),
                _named(cll.ArrayIntersectLevel(every, 1), "a tactic in common"),
                _level(f"{family}_l = {family}_r", "same tactic family"),
                _named(cll.ElseLevel(), "other tactic family"),
            ],
            output_column_name=spec.name, comparison_description="tactics",
        )
    if kind == "exact":
        return cl.CustomComparison(
            comparison_levels=[
                cll.NullLevel(cols[0]),
                _named(cll.ExactMatchLevel(cols[0], term_frequency_adjustments=spec.term_frequency), "same"),
                _named(cll.ElseLevel(), "different"),
            ],
            output_column_name=spec.name, comparison_description=f"{cols[0]} equal",
        )
    if kind == "array":
        return cl.CustomComparison(
            comparison_levels=[cll.NullLevel(cols[0]), _named(cll.ArrayIntersectLevel(cols[0], 1), "at least one in common"), _named(cll.ElseLevel(), "nothing in common")],
            output_column_name=spec.name, comparison_description=f"{cols[0]} share an element",
        )
    if kind == "count":
        col, at_least = cols[0], int(opts.get("at_least", 3))
        return cl.CustomComparison(
            comparison_levels=[
                cll.NullLevel(col),
                _named(cll.ExactMatchLevel(col), "same number"),
                _level(f"{col}_l >= {at_least} AND {col}_r >= {at_least}", f"both at least {at_least}"),
                _named(cll.ElseLevel(), "different numbers"),
            ],
            output_column_name=spec.name, comparison_description=f"{col} counts",
        )
    if kind == "name":
        col = cols[0]
        levels = [cll.NullLevel(col), _named(cll.ExactMatchLevel(col, term_frequency_adjustments=spec.term_frequency), "same name")]
        levels += [_named(cll.JaroWinklerLevel(col, s), f"similar name (Jaro-Winkler ≥ {s})") for s in opts.get("similarities", (0.92, 0.8))]
        levels.append(_named(cll.ElseLevel(), "different names"))
        return cl.CustomComparison(comparison_levels=levels, output_column_name=spec.name,
                                   comparison_description=f"{col} (Jaro-Winkler)")
    raise SettingsError(f"unknown comparison kind {kind!r}")  # pragma: no cover - check() catches it


# --- defaults ---------------------------------------------------------------------------------


def _rules(*rules: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(rule) for rule in rules)


def default_incident_settings(**changes: Any) -> LinkageSettings:
    """Settings for finding the same incident in several organisations' lists.

    Blocking keeps pairs from the same origin state that share the host state and roughly
    the month (``date_bucket``: 30-day windows), or the host state, main tactic and year (for
    dates recorded only to the month or year, or shifted across a window's edge), or the
    city and year. Tested on the simulator's noisy lists (tests/methods/test_linkage.py).
    """
    settings = LinkageSettings(
        kind="incidents",
        comparisons=(
            ComparisonSpec("date", "date_interval", ("date",), options={"day_gaps": (3, 14, 60)}),
            ComparisonSpec("place", "location", ("country", "city"), term_frequency=True,
                           options={"similarities": (0.88,)}),
            ComparisonSpec("location_type", "exact", ("location_type",)),
            ComparisonSpec("states", "origin_host", ("origin_state", "host_state")),
            ComparisonSpec("host_state_role", "exact", ("host_state_role",)),
            ComparisonSpec("tactic", "tactic", ("tactic", "tactics", "tactic_family"), term_frequency=True),
            ComparisonSpec("target_profile", "array", ("target_categories",)),
            ComparisonSpec("targets", "count", ("n_targets",), options={"at_least": 3}),
            ComparisonSpec("same_list", "exact", ("source_dataset",)),
        ),
        blocking_rules=_rules(
            ("origin_state", "host_state", "date_bucket"),
            ("origin_state", "host_state", "tactic", "year"),
            ("origin_state", "city", "year"),
        ),
        # Each session's blocked pairs must hold many true matches for EM to find them: the
        # same day and origin; the same day and city; the same place, tactic, kind of place
        # and target profile in any year (this one learns the date). EM still finds dates
        # months apart too common among matches (docs/linkage.md, "Limits"): the date is the
        # one strong field of an incident, and no blocking rule apart from it is pure enough.
        training_rules=_rules(
            ("origin_state", "date_lo"),
            ("date_lo", "city"),
            ("origin_state", "host_state", "city", "tactic", "location_type", "target_categories"),
        ),
        deterministic_rules=_rules(("origin_state", "host_state", "date_lo", "tactic", "city")),
        deterministic_recall=0.5,
    )
    return replace(settings, **changes) if changes else settings


def default_person_settings(**changes: Any) -> LinkageSettings:
    """Settings for finding the same person in several lists: names when recorded (they are
    dropped by ``for_columns`` when the data have none), the profile, and the context of the
    person's first known incident (states, city, date)."""
    settings = LinkageSettings(
        kind="persons",
        comparisons=(
            # EM cannot tell the same person from two people targeted in one incident (they
            # share every context field), so the name's m are set, not trained: recorded names
            # agree exactly for most people, are misspelt for some (Jaro-Winkler ≥ 0.92 or
            # ≥ 0.8), and rarely differ (another transliteration, another name in use).
            ComparisonSpec("name", "name", ("full_name",), term_frequency=True,
                           options={"similarities": (0.92, 0.8), "fixed_m": (0.85, 0.08, 0.04, 0.03)}),
            ComparisonSpec("birth_year", "exact", ("birth_year",)),
            ComparisonSpec("sex", "exact", ("sex",)),
            ComparisonSpec("age_group", "exact", ("age_group",)),
            ComparisonSpec("nationality", "array", ("nationality",)),
            ComparisonSpec("host_status", "exact", ("host_status",)),
            ComparisonSpec("profile", "array", ("categories",)),
            ComparisonSpec("states", "origin_host", ("origin_state", "host_state")),
            ComparisonSpec("place", "location", ("country", "city"), options={"similarities": (0.88,)}),
            ComparisonSpec("date", "date_interval", ("date",), options={"day_gaps": (3, 14, 60)}),
            ComparisonSpec("same_list", "exact", ("source_dataset",)),
        ),
        blocking_rules=_rules(
            ("origin_state", "host_state", "date_bucket"),
            ("origin_state", "host_state", "sex", "age_group", "year"),
            ("full_name",),
        ),
        # With names, the first session (same name) trains everything else on pairs that are
        # mostly the same person; without them, pairs of one day and origin mix co-targets
        # of one incident with the same person, and precision suffers (docs/linkage.md).
        training_rules=_rules(
            ("full_name",),
            ("origin_state", "date_lo"),
            ("host_state", "sex", "age_group"),
            ("date_lo", "city"),
        ),
        deterministic_rules=_rules(("origin_state", "host_state", "date_lo", "sex", "age_group")),
        deterministic_recall=0.5,
    )
    return replace(settings, **changes) if changes else settings


def default_settings(kind: str, **changes: Any) -> LinkageSettings:
    if kind == "incidents":
        return default_incident_settings(**changes)
    if kind == "persons":
        return default_person_settings(**changes)
    raise SettingsError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")

"""Attacks on a release: a linkage attack against an external registry, and the three WP29 tests.

**Linkage** (Sweeney 2002's voter-list attack; El Emam 2013's "journalist" scenario): the attacker holds
a registry with identities and some quasi-identifiers, generalises it the way the release is (the
hierarchies are published), and joins on the QIs. For each released record the attacker picks one of
the ``M`` registry entries that match; the expected share of correct picks is Σ [true person ∈ matches]/M
over records, and a record *uniquely and correctly* matched is a certain re-identification. When every
released person is in the registry, every class of size ≥ k has M ≥ k matches, so the rate is ≤ 1/k.

**WP29 (Opinion 05/2014 on anonymisation techniques)**: singling out, linkability and inference. The
``anonymeter`` package (Giomi et al. 2023, "A unified framework for quantifying privacy risk in synthetic
data", PoPETs) implements them for *synthetic* data against an original and a control set; it pins
``numpy<1.27`` (Veil runs on numpy 2) and its nearest-neighbour attacks target synthetic records, so Veil
implements the same three scores, with the same statistics (attack success rate vs. a control or
baseline attacker, risk = (main − control)/(1 − control), Wilson score intervals), over the generalised
release:

- *singling out*: each released record's QI values form a predicate; success when it matches exactly one
  registry person; control = the same predicates against registry people not in the release.
- *linkability*: the attacker knows a target's QIs split into two halves from two sources and links each
  half to the release; success = probability that both halves pick the same released record,
  ``|M_A∩M_B|/(|M_A|·|M_B|)``; control = targets not in the release.
- *inference*: the attacker guesses a target's secret attribute as the most frequent value among released
  records matching the target's QIs; baseline = always guessing the overall most frequent value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from veil.errors import VeilError
from veil.risk.hierarchy import Hierarchy, label_column

Z95 = 1.959963984540054


class LinkageError(VeilError):
    """The registry cannot be used (missing columns, no identity column)."""


@dataclass(frozen=True)
class LinkageResult:
    """One linkage attack. ``correct_unique``/``expected_rate`` need the truth column; without it only
    what an attacker would *claim* is known (``unique_matches``). ``registry`` is its row count (M
    counts people, see :func:`distinct_people`)."""

    records: int
    registry: int
    qis: tuple[str, ...]
    matched: int
    unique_matches: int
    correct_unique: int | None
    expected_rate: float | None
    max_rate: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AttackScore:
    """An attack's success rate against its reference attacker, and the residual risk with a 95% CI."""

    name: str
    attacks: int
    success_rate: float
    reference_rate: float
    reference: str
    risk: float
    ci: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
DICOM_DATE = r"^\d{8}$"
DATE_FORMATS = "ISO YYYY-MM-DD (2020-01-05) or DICOM YYYYMMDD (20200105)"


def prepare_registry(registry: pl.DataFrame, release: pl.DataFrame, qis: Sequence[str]) -> pl.DataFrame:
    """Cast the registry's QI columns to the release's types (CSV dates and numbers arrive as text or
    integers). A value that cannot be read is a :class:`LinkageError`, never a silent null or a guess:
    a null never matches, so a misread column would quietly understate the linkage risk."""
    missing = [q for q in qis if q not in registry.columns]
    if missing:
        raise LinkageError(f"registry lacks quasi-identifier column(s) {', '.join(missing)}; give the registry "
                           "columns named like the release table, or fewer --qi")
    return registry.with_columns([as_release_type(registry.get_column(q), release.schema[q]) for q in qis])


def as_release_type(values: pl.Series, dtype: pl.DataType) -> pl.Series:
    """``values`` as ``dtype``; raises :class:`LinkageError` naming the column and its first unreadable value.

    Red-team case: ``cast(strict=False)`` turned what it could not read into nulls, and read an integer
    ``20200105`` as days since 1970; a float ``45.5`` cast to an integer age would be truncated.
    """
    if values.dtype == dtype:
        return values
    if dtype == pl.Date:
        return parse_dates(values)
    text = values.dtype in (pl.Utf8, pl.Categorical)
    src = values.cast(pl.Utf8).str.strip_chars().replace("", None) if text else values
    out = src.cast(dtype, strict=False)
    bad = src.is_not_null() & out.is_null()
    if dtype.is_integer() and src.dtype.is_float():
        bad = bad | (src != src.floor()).fill_null(False)  # 45.5 is no whole number
    _reject(values, bad, f"a {_kind(dtype)}")
    return out.alias(values.name)


def _kind(dtype: pl.DataType) -> str:
    return "whole number" if dtype.is_integer() else "number" if dtype.is_numeric() else f"{dtype} value"


def parse_dates(values: pl.Series) -> pl.Series:
    """Registry dates read with explicit formats only: ISO ``YYYY-MM-DD`` and DICOM ``YYYYMMDD`` (DA,
    PS3.5 §6.2), as text or as the integer a CSV reader makes of the latter.

    ``01/02/2020`` is 1 February or 2 January depending on the country; guessing (as ``str.to_date``
    does) silently mislinks a whole registry (red-team case: 20 of 60 matched instead of 49), so it is
    an error instead, as is an impossible date such as ``2020-02-30``.
    """
    if values.dtype == pl.Datetime or values.dtype == pl.Date:
        return values.cast(pl.Date)
    if not (values.dtype.is_integer() or values.dtype in (pl.Utf8, pl.Categorical)):
        _reject(values, values.is_not_null(), f"a date in {DATE_FORMATS}")
    text = values.cast(pl.Utf8).str.strip_chars().replace("", None)
    v = pl.col(values.name)
    parsed = pl.DataFrame([text]).select(
        pl.when(v.str.contains(ISO_DATE)).then(v.str.to_date("%Y-%m-%d", strict=False))
        .when(v.str.contains(DICOM_DATE)).then(v.str.to_date("%Y%m%d", strict=False))
        .otherwise(None)).to_series()
    _reject(values, text.is_not_null() & parsed.is_null(), f"a date in {DATE_FORMATS}",
            "day/month orders such as 01/02/2020 are ambiguous: convert the column")
    return parsed.alias(values.name)


def _reject(values: pl.Series, bad: pl.Series, expected: str, hint: str = "convert the column") -> None:
    """Raise naming the column, the first value that is not ``expected`` and how many there are."""
    n = int(bad.sum())
    if n:
        raise LinkageError(f"registry column {values.name!r}: {values.filter(bad)[0]!r} is not {expected} "
                           f"({n} such value(s)); {hint}")


def generalise_frame(df: pl.DataFrame, hierarchies: Mapping[str, Hierarchy], levels: Mapping[str, int],
                     rare: Mapping[str, frozenset[str]] | None = None) -> pl.DataFrame:
    """Every QI in ``levels`` replaced by its label (level 0 included, so both sides compare as text)."""
    return df.with_columns([label_column(df.get_column(a), hierarchies[a], lv, (rare or {}).get(a, frozenset()))
                            for a, lv in levels.items()])


def distinct_people(registry: pl.DataFrame, qis: Sequence[str], identity: Sequence[str]) -> pl.DataFrame:
    """``registry`` with each person listed once per combination of QI values.

    A registry merged from two source lists names the same person twice; counting rows then doubles M
    (and the population's F) and halves the risk (red-team case: rate 0.5 instead of 1.0, no certain
    match instead of 20). A person is told apart by the ``identity`` columns. Rows whose identity is
    null, and every row when ``identity`` is empty, count as one person each: nothing tells a repeat
    from a namesake with the same QIs there, so a registry without an identity column that repeats
    people still understates the risk.
    """
    ids = [c for c in identity if c in registry.columns and c not in qis]
    if not ids:
        return registry
    known = pl.any_horizontal(pl.col(ids).is_not_null())
    listed = registry.filter(known).unique(subset=[*ids, *qis], keep="first", maintain_order=True)
    return pl.concat([listed, registry.filter(~known)])


def simulate(release: pl.DataFrame, registry: pl.DataFrame, qis: Sequence[str], *,
             truth: str | None = None) -> LinkageResult:
    """Join ``release`` and ``registry`` (already in the same representation) on ``qis``.

    ``truth`` names a column present in both tables that says who each record really is (a custodian's
    key, or the test's ground truth); with it, correctness is scored and M counts distinct people
    (:func:`distinct_people`); without it, every registry row is a person.
    """
    qis = list(qis)
    if truth and truth not in registry.columns:
        raise LinkageError(f"registry has no truth column {truth!r}")
    people = distinct_people(registry, qis, [truth] if truth else [])
    counts = people.group_by(qis).len("_M")
    rel = release.select([*qis, *([truth] if truth else [])]).join(counts, on=qis, how="left", nulls_equal=True)
    big_m = rel.get_column("_M").fill_null(0)
    n = release.height
    matched = int((big_m > 0).sum())
    unique = int((big_m == 1).sum())
    max_rate = float(1 / big_m.filter(big_m > 0).min()) if matched else 0.0  # type: ignore[operator]
    correct_unique = expected = None
    if truth:
        hits = people.select([*qis, truth]).unique().with_columns(pl.lit(1).alias("_hit"))
        scored = rel.join(hits, on=[*qis, truth], how="left", nulls_equal=True).with_columns(
            pl.col("_hit").fill_null(0))
        hit = scored.get_column("_hit")
        mm = scored.get_column("_M").fill_null(0)
        correct_unique = int(((hit == 1) & (mm == 1)).sum())
        expected = float((hit / mm.clip(lower_bound=1)).sum() / n) if n else 0.0
    return LinkageResult(n, registry.height, tuple(qis), matched, unique, correct_unique, expected, max_rate)


# --- WP29 scores -----------------------------------------------------------------------------------


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score estimate and half-width of a success rate (as anonymeter's ``success_rate``)."""
    if n <= 0:
        return 0.0, 0.0
    z2 = z * z
    denom = n + z2
    rate = (successes + 0.5 * z2) / denom
    err = (z / denom) * math.sqrt(max(successes * (n - successes) / n, 0.0) + 0.25 * z2)
    return rate, err


def _score(name: str, main_sum: float, n_main: int, ref_sum: float, n_ref: int, reference: str) -> AttackScore:
    m_rate, m_err = wilson(main_sum, n_main)
    r_rate, r_err = wilson(ref_sum, n_ref)
    if r_rate >= 1:
        risk, err = 0.0, 0.0
    else:
        risk = (m_rate - r_rate) / (1 - r_rate)
        d_main = 1 / (1 - r_rate)
        d_ref = (m_rate - 1) / (1 - r_rate) ** 2
        err = math.sqrt((m_err * d_main) ** 2 + (r_err * d_ref) ** 2)
    clip = min(max(risk, 0.0), 1.0)
    ci = (min(max(risk - err, 0.0), 1.0), min(max(risk + err, 0.0), 1.0))
    raw_main = main_sum / n_main if n_main else 0.0
    raw_ref = ref_sum / n_ref if n_ref else 0.0
    return AttackScore(name, n_main, raw_main, raw_ref, reference, clip, ci)


def _split(registry: pl.DataFrame, release: pl.DataFrame, qis: list[str],
           truth: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Registry people in the release and not in it, each listed once (a repeat is no second target)."""
    registry = distinct_people(registry, qis, [truth])
    members = release.select(truth).unique()
    inside = registry.join(members, on=truth, how="semi")
    outside = registry.join(members, on=truth, how="anti")
    return inside, outside


def singling_out(release: pl.DataFrame, registry: pl.DataFrame, qis: Sequence[str], truth: str) -> AttackScore:
    """Predicates from released records that isolate exactly one registry person, against a control set."""
    qis = list(qis)
    inside, outside = _split(registry, release, qis, truth)
    preds = release.select(qis)
    main = preds.join(inside.group_by(qis).len("_c"), on=qis, how="left", nulls_equal=True)
    ctrl = preds.join(outside.group_by(qis).len("_c"), on=qis, how="left", nulls_equal=True)
    ms = float((main.get_column("_c").fill_null(0) == 1).sum())
    cs = float((ctrl.get_column("_c").fill_null(0) == 1).sum())
    n = preds.height
    if outside.height == 0:
        return _score("singling out", ms, n, 0.0, n, "none (registry holds only released people)")
    return _score("singling out", ms, n, cs, n, "control")


def linkability(release: pl.DataFrame, registry: pl.DataFrame, qis: Sequence[str], truth: str,
                split: tuple[Sequence[str], Sequence[str]] | None = None) -> AttackScore:
    """Probability that two halves of a target's QIs link to the same released record."""
    qis = list(qis)
    if len(qis) < 2:
        raise LinkageError("linkability needs at least two quasi-identifiers")
    a, b = (list(split[0]), list(split[1])) if split else (qis[: len(qis) // 2], qis[len(qis) // 2:])
    inside, outside = _split(registry, release, qis, truth)

    def rate(targets: pl.DataFrame) -> tuple[float, int]:
        if targets.height == 0:
            return 0.0, 0
        t = targets.select(qis)
        for cols, name in ((a, "_a"), (b, "_b"), (qis, "_ab")):
            t = t.join(release.group_by(cols).len(name), on=cols, how="left", nulls_equal=True)
        t = t.with_columns(pl.col("_a", "_b", "_ab").fill_null(0))
        p = (t.get_column("_ab") / (t.get_column("_a") * t.get_column("_b")).clip(lower_bound=1))
        return float(p.sum()), targets.height

    ms, mn = rate(inside)
    cs, cn = rate(outside)
    if cn == 0:
        return _score("linkability", ms, mn, 0.0, max(mn, 1), "none (registry holds only released people)")
    return _score("linkability", ms, mn, cs, cn, "control")


def inference(release: pl.DataFrame, registry: pl.DataFrame, qis: Sequence[str], secret: str,
              truth: str) -> AttackScore:
    """Guess a member's ``secret`` as the commonest value among released records matching their QIs."""
    qis = list(qis)
    if secret not in release.columns:
        raise LinkageError(f"release has no column {secret!r} to infer")
    inside, _ = _split(registry, release, qis, truth)
    modes = (release.group_by([*qis, secret]).len("_n").sort(["_n", secret], descending=[True, False])
             .group_by(qis, maintain_order=True).first().select([*qis, pl.col(secret).alias("_guess")]))
    overall = release.get_column(secret).drop_nulls().mode().sort()
    fallback = overall[0] if overall.len() else None
    actual = release.select([truth, pl.col(secret).alias("_true")]).unique(subset=[truth], keep="first")
    t = inside.select([truth, *qis]).join(actual, on=truth).join(modes, on=qis, how="left", nulls_equal=True)
    guess = t.get_column("_guess").fill_null(fallback)
    true = t.get_column("_true")
    ms = float((guess == true).fill_null(False).sum())
    bs = float((true == fallback).fill_null(False).sum())
    return _score("inference", ms, t.height, bs, t.height, "baseline (overall mode)")

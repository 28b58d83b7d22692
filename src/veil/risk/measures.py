"""Re-identification and attribute-disclosure measures over one equivalence-class table.

Everything here starts from the same object, :class:`Classes` — which records share all quasi-identifier
values (Sweeney 2002, "k-anonymity: a model for protecting privacy") — and answers one question per
function, in ARX's vocabulary (Prasser & Kohlmayer, "Putting statistical disclosure control into
practice: the ARX data anonymization tool", 2015):

- identity disclosure: k, the class-size distribution, sample uniques; prosecutor, journalist and
  marketer risk (El Emam & Dankar 2008, "Protecting privacy using k-anonymity", JAMIA 15(5); El Emam,
  "Guide to the De-Identification of Personal Health Information", 2013); population uniqueness from
  the sample alone (Pitman: Hoshino 2001; Zayatz 1991), as in ARX's ``risk`` package;
- attribute disclosure: distinct, entropy and recursive-(c,l) diversity (Machanavajjhala et al. 2007,
  "ℓ-diversity: privacy beyond k-anonymity", TKDD 1(1)); t-closeness with the Earth Mover's Distance
  under equal and ordered ground distance (Li, Li & Venkatasubramanian 2007, ICDE).

Thresholds follow accepted practice (El Emam 2013; the EMA policy 0070 and Health Canada guidance):
maximum risk 0.09 (k ≥ 11) for public release, 0.2 (k ≥ 5) for controlled sharing. A risk is compared
with a threshold as its k-equivalent (:func:`k_for_risk`): published thresholds are 1/k rounded (0.09
for 1/11 ≈ 0.0909, 0.33 for 1/3), so k = 11 meets 0.09 as El Emam intends, and no risk more than 2%
above a threshold meets it.

All computations are vectorised: one grouping (see :mod:`veil.risk._kernels`) and ``bincount``s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from veil.risk._kernels import bincount, codes_of, group_ids, representatives

PUBLIC_MAX_RISK = 0.09
CONTROLLED_MAX_RISK = 0.2
TIERS: Mapping[str, float] = {"public": PUBLIC_MAX_RISK, "controlled": CONTROLLED_MAX_RISK}


#: The smallest maximum risk a threshold may be: 1/k for a class of a billion (5e-324 overflowed).
MIN_RISK = 1e-9
#: How far above a threshold a class's risk may be and still meet it: the rounding of thresholds as
#: published (1/11 ≈ 0.0909 is "0.09", 1.0101 times it; 1/3 is "0.33").
_ROUNDING = 1.02


def k_for_risk(max_risk: float) -> int:
    """The class size a maximum risk stands for: ``round(1/t)`` when its risk is within the rounding of
    published thresholds (El Emam: 0.09 ⇔ 11, 0.2 ⇔ 5, 0.33 ⇔ 3; 1/k ⇔ k), else ``ceil(1/t)`` (0.4 ⇔ 3,
    0.7 ⇔ 2). Plain ``round`` let a risk of 1.0 meet 0.7 and 0.5 meet 0.4 (red team)."""
    if not MIN_RISK <= max_risk <= 1:
        raise ValueError(f"a risk threshold must be in [{MIN_RISK:g}, 1], got {max_risk}")
    near = max(1, round(1 / max_risk))
    if 1 / near <= max_risk * _ROUNDING + 1e-12:
        return near
    return max(1, math.ceil(1 / max_risk - 1e-9))


def meets(risk: float, threshold: float) -> bool:
    """``risk`` ≤ ``threshold``, a class's risk up to the rounding of published thresholds (see the module
    docstring): for a risk 1/k the same as k ≥ :func:`k_for_risk`. An average risk is held to the threshold
    itself, not to a smaller k-equivalent (0.6 meets 0.7)."""
    return risk <= max(threshold, 1 / k_for_risk(threshold)) + 1e-12


# --- equivalence classes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Classes:
    """Equivalence classes of a table over ``qis``: ``ids[row]`` is the row's class, ``sizes[class]``."""

    qis: tuple[str, ...]
    ids: np.ndarray
    sizes: np.ndarray

    @property
    def n(self) -> int:
        return int(self.ids.shape[0])

    @property
    def count(self) -> int:
        return int(self.sizes.shape[0])

    @property
    def k(self) -> int:
        """Smallest class size (k-anonymity; 0 for an empty table)."""
        return int(self.sizes.min()) if self.sizes.size else 0

    def size_histogram(self) -> dict[int, int]:
        """{class size: number of classes of that size}: ARX's risk histogram, the input of Pitman/Zayatz."""
        vals, cnt = np.unique(self.sizes, return_counts=True)
        return {int(v): int(c) for v, c in zip(vals, cnt, strict=True)}

    def record_sizes(self) -> np.ndarray:
        """Size of each record's class (the prosecutor risk of a record is its inverse)."""
        return self.sizes[self.ids]


def equivalence_classes(df: pl.DataFrame, qis: Sequence[str]) -> Classes:
    """Group rows on all ``qis`` (nulls are a value of their own). An empty QI list is one class."""
    if not qis:
        ids = np.zeros(df.height, dtype=np.int64)
        return Classes((), ids, np.array([df.height] if df.height else [], dtype=np.int64))
    missing = [q for q in qis if q not in df.columns]
    if missing:
        raise KeyError(f"quasi-identifier column(s) not in the table: {', '.join(missing)}")
    cols, cards = zip(*(codes_of(df.get_column(q)) for q in qis), strict=True)
    ids, j = group_ids(list(cols), list(cards))
    return Classes(tuple(qis), ids, bincount(ids, j))


# --- sensitive values per class --------------------------------------------------------------------


@dataclass(frozen=True)
class ClassValues:
    """(class, sensitive value, records) triples: the histogram of a sensitive attribute in each class.

    ``value`` codes are ranks of the sensitive values in ascending order (the order used by the ordered
    distance); ``overall`` is the share of each value in the whole table.
    """

    cls: np.ndarray
    value: np.ndarray
    count: np.ndarray
    sizes: np.ndarray
    overall: np.ndarray

    @property
    def n_values(self) -> int:
        return int(self.overall.shape[0])


def class_values(class_ids: np.ndarray, n_classes: int, values: np.ndarray, n_values: int,
                 weights: np.ndarray | None = None, unknown: int | None = None) -> ClassValues:
    """Build :class:`ClassValues` from per-row class ids and value codes (optionally row weights).

    Rows whose code is ``unknown`` (no sensitive value: a key the sensitive CSV does not list) are left
    out: a missing value is not one more value. Counted as one, 15 patients missing from a CSV that gave
    the other 15 the same diagnosis made ℓ = 2 (red team). A class with no known value has size 0 here
    and discloses nothing (:func:`known_classes`).
    """
    w = np.ones(class_ids.shape[0], dtype=np.int64) if weights is None else weights
    if unknown is not None:  # the last code (codes_of): out of the rows and of the ordered domain
        if unknown != n_values - 1:
            raise ValueError(f"the unknown code must be the last one ({n_values - 1}), got {unknown}")
        known = values != unknown
        class_ids, values, w = class_ids[known], values[known], w[known]
        n_values -= 1  # the ordered distance divides by the values there are (review: t halved)
    pair, n_pairs = group_ids([class_ids, values], [max(n_classes, 1), max(n_values, 1)])
    rep = representatives(pair, n_pairs)
    count = bincount(pair, n_pairs, w)
    cls = class_ids[rep]
    sizes = bincount(cls, n_classes, count)
    overall = bincount(values[rep], n_values, count) / max(int(count.sum()), 1)
    return ClassValues(cls, values[rep], count, sizes, overall)


def sensitive_codes(column: pl.Series) -> tuple[np.ndarray, int, int | None]:
    """(codes, cardinality, the code of a missing value or None) of a sensitive column."""
    codes, card = codes_of(column)
    return codes, card, card - 1 if column.null_count() else None


def sensitive_values(df: pl.DataFrame, classes: Classes, column: str) -> ClassValues:
    """:class:`ClassValues` for one sensitive column of the table ``classes`` was built from."""
    codes, card, unknown = sensitive_codes(df.get_column(column))
    return class_values(classes.ids, classes.count, codes, card, unknown=unknown)


def known_classes(cv: ClassValues) -> np.ndarray:
    """Per class: does any of its records have a known sensitive value? One that has none is neither
    diverse nor close, and discloses nothing: ℓ and t hold there."""
    return cv.sizes > 0


def distinct_l(cv: ClassValues) -> np.ndarray:
    """Distinct sensitive values per class (distinct ℓ-diversity; the table's ℓ is the minimum)."""
    return bincount(cv.cls, cv.sizes.shape[0])


def entropy(cv: ClassValues) -> np.ndarray:
    """Shannon entropy (natural log) of the sensitive values in each class; entropy ℓ is ``exp`` of it.

    Computed as −Σ p log p term by term (not log n − Σ c log c / n) so that equal distributions give
    bit-identical entropies, which matters when ``exp(H)`` is compared with an integer ℓ.
    """
    p = cv.count / cv.sizes[cv.cls]
    return np.bincount(cv.cls, weights=-p * np.log(p), minlength=cv.sizes.shape[0])


def entropy_l(cv: ClassValues) -> np.ndarray:
    """exp(entropy) per class: the class is entropy-ℓ-diverse iff this is ≥ ℓ."""
    return np.exp(entropy(cv))


def sorted_counts(cv: ClassValues) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ordered by class then descending count: (class, count, rank within class from 0)."""
    order = np.lexsort((-cv.count, cv.cls))
    cls = cv.cls[order]
    cnt = cv.count[order]
    starts = np.searchsorted(cls, np.arange(cv.sizes.shape[0]), side="left")
    rank = np.arange(cls.shape[0]) - starts[cls]
    return cls, cnt, rank


def recursive_ratio(cv: ClassValues, ell: int) -> np.ndarray:
    """r₁ / (r_ℓ + … + r_m) per class, counts in descending order (Machanavajjhala et al. 2007, §4.3).

    A class is recursive-(c,ℓ)-diverse iff this ratio is < c; ``inf`` when it has fewer than ℓ values.
    """
    if ell < 1:
        raise ValueError("ℓ must be ≥ 1")
    cls, cnt, rank = sorted_counts(cv)
    nc = cv.sizes.shape[0]
    r1 = np.zeros(nc, dtype=np.float64)
    r1[cls[rank == 0]] = cnt[rank == 0]
    head = np.bincount(cls, weights=np.where(rank < ell - 1, cnt, 0), minlength=nc)
    tail = cv.sizes - head
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tail > 0, r1 / np.where(tail > 0, tail, 1), np.inf)


def emd_equal(cv: ClassValues) -> np.ndarray:
    """EMD to the table's distribution under the equal ground distance: ½ Σ |q − p| (Li et al. 2007)."""
    q = cv.count / cv.sizes[cv.cls]
    p = cv.overall[cv.value]
    # Σ over present values of |q−p|, plus p of every value absent from the class (= 1 − Σ present p).
    nc = cv.sizes.shape[0]
    present = np.bincount(cv.cls, weights=np.abs(q - p) - p, minlength=nc)
    return 0.5 * (present + 1.0)


def emd_ordered(cv: ClassValues) -> np.ndarray:
    """EMD under the ordered distance: Σᵢ |Σ_{j≤i} (q_j − p_j)| / (m − 1) over the m ordered values.

    Vectorised without an m-wide matrix: between two values present in a class the class's cumulative
    share Q is constant while the table's cumulative share P rises, so each run contributes
    Σ |Q − Pᵢ|, split at the crossing found by ``searchsorted`` and summed with prefix sums of P.
    """
    m = cv.n_values
    nc = cv.sizes.shape[0]
    if m <= 1:
        return np.zeros(nc)
    order = np.lexsort((cv.value, cv.cls))
    cls, val = cv.cls[order], cv.value[order]
    q = cv.count[order] / cv.sizes[cls]
    cum_q = np.cumsum(q)
    starts = np.searchsorted(cls, np.arange(nc), side="left")
    class_base = np.concatenate(([0.0], cum_q))[starts]  # cumulative before each class
    big_q = cum_q - class_base[cls]  # class cumulative share after each present value
    big_p = np.cumsum(cv.overall)  # P_i for i = 0..m-1
    prefix = np.concatenate(([0.0], np.cumsum(big_p)))  # prefix[i] = Σ_{j<i} P_j
    # Runs: [0, first value) with Q = 0, then [value_i, next value or m) with Q = big_q.
    is_first = np.ones(cls.shape[0], dtype=np.bool_)
    is_first[1:] = cls[1:] != cls[:-1]
    nxt = np.empty_like(val)
    nxt[:-1] = val[1:]
    nxt[-1] = m
    last = np.ones(cls.shape[0], dtype=np.bool_)
    last[:-1] = cls[1:] != cls[:-1]
    nxt = np.where(last, m, nxt)
    run_cls = np.concatenate((cls[is_first], cls))
    run_a = np.concatenate((np.zeros(int(is_first.sum()), dtype=np.int64), val))
    run_b = np.concatenate((val[is_first], nxt))
    run_q = np.concatenate((np.zeros(int(is_first.sum())), big_q))
    cut = np.clip(np.searchsorted(big_p, run_q, side="left"), run_a, run_b)
    below = run_q * (cut - run_a) - (prefix[cut] - prefix[run_a])  # P_i < Q part
    above = (prefix[run_b] - prefix[cut]) - run_q * (run_b - cut)
    total = np.bincount(run_cls, weights=below + above, minlength=nc)
    return total / (m - 1)


# --- population uniqueness -------------------------------------------------------------------------


def pitman_uniques(histogram: Mapping[int, int], n: int, population: int) -> float:
    """Estimated number of population uniques under the Pitman sampling model (Hoshino 2001).

    θ and α are fitted by maximum likelihood of the Pitman sampling formula on the class-size histogram
    (as ARX's ``ModelPitman``), with Newton–Raphson from Hoshino's moment estimates, damped by step
    halving so the likelihood never decreases and (θ, α) stay in the model's domain (0 < α < 1,
    θ > −α); the estimate is Γ(θ+1)/Γ(θ+α) · N^α, kept within [0, N]. ``nan`` when there is nothing to
    fit (every record unique) or the fit fails.
    """
    f1 = histogram.get(1, 0)
    u = sum(histogram.values())
    if f1 == 0:
        return 0.0
    if n <= 1 or u <= 1 or f1 == n:
        return float("nan")
    iu = np.arange(1, u, dtype=np.float64)
    inn = np.arange(1, n, dtype=np.float64)
    sizes = np.array([s for s in histogram if s > 1], dtype=np.int64)
    mult = np.array([histogram[s] for s in sizes], dtype=np.float64)
    lg = np.vectorize(math.lgamma)

    def loglik(t: float, a: float) -> float:
        if not (0 < a < 1 and t > -a):
            return -math.inf
        return float(np.sum(np.log(t + iu * a)) - np.sum(np.log(t + inn))
                     + np.sum(mult * (lg(sizes - a) - math.lgamma(1 - a))))

    f2 = histogram.get(2, 0) or 1
    c = f1 * (f1 - 1) / f2
    den = 2 * f1 * u + f1 * c - n * c
    t = (n * u * c - f1 * (n - 1) * (2 * u + c)) / den if den else 1.0
    a = (t * (f1 - n) + (n - 1) * f1) / (n * u)
    if not (0 < a < 1 and t > -a):
        t, a = 1.0, 0.5
    cur = loglik(t, a)
    for _ in range(200):
        v = t + iu * a
        o1, o3 = np.sum(1 / v), np.sum(iu / v)
        d1, d5, d3 = np.sum(1 / v**2), np.sum(iu / v**2), np.sum(iu**2 / v**2)
        o2, d2 = np.sum(1 / (t + inn)), np.sum(1 / (t + inn) ** 2)
        o4 = d4 = 0.0
        for s, m in zip(sizes, mult, strict=True):
            j = np.arange(1, s, dtype=np.float64) - a
            o4 += m * np.sum(1 / j)
            d4 += m * np.sum(1 / j**2)
        g = np.array([o1 - o2, o3 - o4])
        h = np.array([[d2 - d1, -d5], [-d5, -d3 - d4]])
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return float("nan")
        if float(np.dot(step, g)) > 0:  # -step is not an ascent direction: follow the gradient instead
            step = -g / (np.linalg.norm(g) or 1.0)
        scale = 1.0
        while scale > 1e-12:
            nt, na = t - scale * step[0], a - scale * step[1]
            new = loglik(nt, na)
            if new >= cur:
                break
            scale /= 2
        else:
            break
        moved = abs(nt - t) + abs(na - a)
        t, a, cur = nt, na, new
        if moved < 1e-10:
            break
    try:
        est = math.exp(math.lgamma(t + 1) - math.lgamma(t + a) + a * math.log(population))
    except (OverflowError, ValueError):
        return float("nan")
    return est if 0 <= est <= population else float("nan")


def zayatz_uniques(histogram: Mapping[int, int], n: int, population: int) -> float:
    """Estimated population uniques, Zayatz 1991 (as ARX's ``ModelZayatz``): sample uniques × the
    probability that a sample unique is a population unique, from hypergeometric draws."""
    f1 = histogram.get(1, 0)
    u = sum(histogram.values())
    if f1 == 0 or u == 0:
        return 0.0

    def p1(size: int) -> float:  # P(exactly one of `size` population members drawn in the sample)
        if size > population:
            return 0.0
        return math.exp(math.log(size) + _lcomb(population - size, n - 1) - _lcomb(population, n))

    denom = sum(cnt / u * p1(s) for s, cnt in histogram.items())
    cond = (f1 / u) * p1(1) / denom if denom > 0 else 0.0
    return f1 * cond * population / n


def _lcomb(a: int, b: int) -> float:
    if b < 0 or b > a:
        return -math.inf
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


# --- the summary -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One measure, the threshold it is held to, and whether it passes (what reports print)."""

    name: str
    value: float
    threshold: float | None
    passed: bool | None
    note: str = ""


@dataclass(frozen=True)
class SensitiveReport:
    attribute: str
    distinct_l: int
    entropy_l: float
    recursive_c: float
    t_equal: float
    t_ordered: float
    values: int


@dataclass(frozen=True)
class RiskReport:
    """Everything ``veil risk`` reports for one table and one set of quasi-identifiers."""

    records: int
    qis: tuple[str, ...]
    classes: int
    k: int
    size_histogram: dict[int, int]
    sample_uniques: int
    prosecutor_max: float
    prosecutor_avg: float
    class_risk_avg: float
    records_at_risk: float
    journalist_max: float | None
    journalist_avg: float | None
    marketer: float
    population_size: int | None
    pitman_uniqueness: float | None
    zayatz_uniqueness: float | None
    sensitive: tuple[SensitiveReport, ...]
    qi_uniqueness: dict[str, float]
    qi_distinction: dict[str, float]
    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(c.passed is not False for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size_histogram"] = {str(k): v for k, v in self.size_histogram.items()}
        d["passed"] = self.passed
        return finite(d)


def finite(x: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None`` (JSON has no NaN/inf)."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    return x


@dataclass(frozen=True)
class Targets:
    """What a release must meet. ``k`` and ``max_risk`` are combined (the stricter wins)."""

    k: int = 11
    max_risk: float | None = None
    ell: float | None = None
    l_kind: str = "distinct"  # distinct | entropy | recursive
    c: float = 3.0
    t: float | None = None
    t_distance: str = "auto"  # auto | equal | ordered

    @property
    def k_effective(self) -> int:
        return max(self.k, k_for_risk(self.max_risk) if self.max_risk else 1)

    @property
    def risk_threshold(self) -> float:
        return self.max_risk if self.max_risk else 1 / max(self.k, 1)


def measure(df: pl.DataFrame, qis: Sequence[str], *, sensitive: Sequence[str] = (),
            population: pl.DataFrame | None = None, population_size: int | None = None,
            targets: Targets | None = None, drivers: bool = False) -> RiskReport:
    """Measure ``df`` over ``qis``: identity risks, diversity/closeness of ``sensitive`` columns.

    ``population`` is a table with the same QI columns, in the same representation (generalise it the
    same way first), holding the population the sample was drawn from: journalist risk counts, for each
    sample class, the population records that match it (never fewer than the sample's own records).
    ``population_size`` (N) enables the Pitman and Zayatz population-uniqueness estimates. ``drivers``
    adds :func:`qi_uniqueness` (one more grouping per QI, so off by default).
    """
    targets = targets or Targets()
    cl = equivalence_classes(df, qis)
    n, j = cl.n, cl.count
    hist = cl.size_histogram()
    rec_sizes = cl.record_sizes() if n else np.zeros(0)
    thr = targets.risk_threshold
    pros_max = 1 / cl.k if n else 0.0
    pros_avg = j / n if n else 0.0
    at_risk = float(np.mean(1 / rec_sizes > 1 / k_for_risk(thr) + 1e-12)) if n else 0.0
    j_max = j_avg = None
    marketer = pros_avg
    if population is not None and n:
        big_f = population_class_sizes(df, population, qis, cl)
        j_max = float(1 / big_f.min())
        j_avg = float(np.sum(cl.sizes / big_f) / n)
        marketer = j_avg
    pit = zay = None
    if population_size and n:
        if population_size < n:
            raise ValueError(f"population size {population_size} is smaller than the sample ({n} records)")
        pit = pitman_uniques(hist, n, population_size) / population_size
        zay = zayatz_uniques(hist, n, population_size) / population_size
    sens = tuple(_sensitive_report(df, cl, s, targets) for s in sensitive)
    qi_u = qi_uniqueness(df, qis) if drivers else {}
    checks = [
        Check("k-anonymity", cl.k, targets.k_effective, cl.k >= targets.k_effective, "smallest class"),
        Check("prosecutor risk (max)", pros_max, thr, meets(pros_max, thr), "1/k"),
        Check("prosecutor risk (avg)", pros_avg, thr, meets(pros_avg, thr), "classes/records (El Emam)"),
        Check("marketer risk", marketer, thr, meets(marketer, thr), "expected share re-identified"),
        Check("sample uniques", hist.get(1, 0) / n if n else 0.0, 0.0 if targets.k_effective > 1 else None,
              hist.get(1, 0) == 0 if targets.k_effective > 1 else None, "records alone in their class"),
    ]
    if j_max is not None:
        checks.append(Check("journalist risk (max)", j_max, thr, meets(j_max, thr), "against the population"))
    if pit is not None and math.isfinite(pit):
        checks.append(Check("population uniqueness (Pitman)", pit, thr, meets(pit, thr), f"N={population_size}"))
    for s in sens:
        if not s.values and (targets.ell is not None or targets.t is not None):
            # no record has a value: nothing to disclose, as the search holds (search.violations)
            checks.append(Check(f"ℓ-diversity / t-closeness [{s.attribute}]", 0, None, True, "no record has a value"))
            continue
        if targets.ell is not None:
            val = {"distinct": s.distinct_l, "entropy": s.entropy_l}.get(targets.l_kind)
            if targets.l_kind == "recursive":
                checks.append(Check(f"recursive (c,ℓ)-diversity [{s.attribute}]", s.recursive_c, targets.c,
                                    s.recursive_c < targets.c, f"ℓ={targets.ell}, need r₁/tail < c"))
            elif val is not None:
                checks.append(Check(f"{targets.l_kind} ℓ-diversity [{s.attribute}]", val, targets.ell,
                                    val >= targets.ell - 1e-9))
        if targets.t is not None:
            tv = s.t_ordered if _ordered(df, s.attribute, targets.t_distance) else s.t_equal
            checks.append(Check(f"t-closeness [{s.attribute}]", tv, targets.t, tv <= targets.t + 1e-12))
    return RiskReport(
        records=n, qis=tuple(qis), classes=j, k=cl.k, size_histogram=hist, sample_uniques=hist.get(1, 0),
        prosecutor_max=pros_max, prosecutor_avg=pros_avg,
        class_risk_avg=float(np.mean(1 / cl.sizes)) if j else 0.0, records_at_risk=at_risk,
        journalist_max=j_max, journalist_avg=j_avg, marketer=marketer, population_size=population_size,
        pitman_uniqueness=pit, zayatz_uniqueness=zay, sensitive=sens, qi_uniqueness=qi_u,
        qi_distinction={q: df.get_column(q).n_unique() / n for q in qis} if drivers and n else {},
        checks=tuple(checks),
    )


def _ordered(df: pl.DataFrame, column: str, distance: str) -> bool:
    if distance == "auto":
        return df.schema[column].is_numeric() or df.schema[column].is_temporal()
    return distance == "ordered"


def _sensitive_report(df: pl.DataFrame, cl: Classes, column: str, targets: Targets) -> SensitiveReport:
    cv = sensitive_values(df, cl, column)
    known = known_classes(cv)
    if not known.any():  # no record has a value: nothing to disclose, nothing to measure
        return SensitiveReport(column, 0, 0.0, 0.0, 0.0, 0.0, 0)
    return SensitiveReport(
        attribute=column, distinct_l=int(distinct_l(cv)[known].min()),
        entropy_l=float(entropy_l(cv)[known].min()),
        recursive_c=float(recursive_ratio(cv, int(targets.ell or 2))[known].max()),
        t_equal=float(emd_equal(cv)[known].max()), t_ordered=float(emd_ordered(cv)[known].max()),
        values=int(np.count_nonzero(cv.overall)),
    )


def population_class_sizes(sample: pl.DataFrame, population: pl.DataFrame, qis: Sequence[str],
                           classes: Classes, identity: Sequence[str] | None = None) -> np.ndarray:
    """F per sample class: population people with the class's QI values, at least the class's size.

    People, not rows (El Emam 2013's F is a count of individuals): a registry naming a person twice
    halved the journalist risk (red-team case: max 0.5 instead of 1.0). ``identity`` names the columns
    that tell people apart, by default the release's key columns (``patient``, ``study``, ``series``)
    the population has, as a ``--registry`` CSV does; see :func:`veil.risk.linkage.distinct_people` for
    rows without one.
    """
    from veil.risk.linkage import distinct_people  # counted as the linkage attack counts M
    from veil.risk.table import KEY_COLUMNS

    missing = [q for q in qis if q not in population.columns]
    if missing:
        raise KeyError(f"population table lacks quasi-identifier column(s): {', '.join(missing)}")
    rep = representatives(classes.ids, classes.count)
    keys = sample.select(list(qis))[rep].with_row_index("_cls")
    people = distinct_people(population, qis, KEY_COLUMNS if identity is None else identity)
    pop = people.select([pl.col(q).cast(sample.schema[q]) for q in qis]).group_by(list(qis)).len("_F")
    joined = keys.join(pop, on=list(qis), how="left", nulls_equal=True).sort("_cls")
    big_f = joined.get_column("_F").fill_null(0).to_numpy().astype(np.int64)
    return np.maximum(big_f, classes.sizes)


def qi_uniqueness(df: pl.DataFrame, qis: Sequence[str]) -> dict[str, float]:
    """Which QIs drive uniqueness: share of sample uniques that stop being unique without each QI.

    A leave-one-out view (cheaper than SUDA's minimal sample uniques, Elliot et al. 2002, and enough to
    say which attribute to generalise first).
    """
    if len(qis) < 1 or df.height == 0:
        return {}
    base = equivalence_classes(df, qis)
    uniq = base.record_sizes() == 1
    total = int(uniq.sum())
    out: dict[str, float] = {}
    for q in qis:
        rest = [x for x in qis if x != q]
        sizes = equivalence_classes(df, rest).record_sizes()
        out[q] = float(np.sum(uniq & (sizes > 1)) / total) if total else 0.0
    return out


def class_table(df: pl.DataFrame, qis: Sequence[str], limit: int = 50) -> pl.DataFrame:
    """The smallest classes with their QI values and sizes (for the report; never row identifiers)."""
    if not qis:
        return pl.DataFrame({"size": [df.height]})
    return df.group_by(list(qis)).len("size").sort("size").head(limit)

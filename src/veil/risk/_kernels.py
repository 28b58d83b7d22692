"""Vectorised grouping kernels shared by measurement and search (numpy + polars, no Python loops over rows).

Grouping is the one operation every measure needs (Sweeney's equivalence classes) and the search repeats
it for hundreds of lattice nodes, so it is tuned here once: columns of small integer codes are packed into
one int64 key (mixed radix) and densified either by an occupancy table (``bincount``-like, O(n) when the
key space is small) or by polars' dense rank (a sort, when it is large). Counting by class is then a
``bincount``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

SMALL_SPACE = 1 << 24
"""Key spaces up to this size are densified with an occupancy table instead of a sort."""
_MAX_SPACE = 1 << 62


def densify(key: np.ndarray, space: int) -> tuple[np.ndarray, int]:
    """Dense ids 0..J-1 for ``key`` values in ``[0, space)``, in ascending key order, and J."""
    if key.size == 0:
        return key.astype(np.int64), 0
    if space <= SMALL_SPACE or space <= 4 * key.size:
        occ = np.zeros(space, dtype=np.bool_)
        occ[key] = True
        remap = np.cumsum(occ, dtype=np.int64) - 1
        return remap[key], int(remap[-1] + 1)
    ids = pl.Series(key, dtype=pl.Int64).rank("dense").to_numpy().astype(np.int64) - 1
    return ids, int(ids.max()) + 1


def group_ids(cols: Sequence[np.ndarray], cards: Sequence[int]) -> tuple[np.ndarray, int]:
    """Dense group id per row for the combination of code columns (``cols[j]`` in ``[0, cards[j])``).

    Ids follow the lexicographic order of the code tuples (first column most significant), so results are
    deterministic. Columns are packed while the key fits in 62 bits, densified, and packing continues.
    """
    if not cols:
        raise ValueError("group_ids needs at least one column")
    n = cols[0].shape[0]
    key = np.zeros(n, dtype=np.int64)
    space = 1
    for col, card in zip(cols, cards, strict=True):
        card = max(int(card), 1)
        if space * card > _MAX_SPACE:
            key, space = densify(key, space)
        if space == 1:
            key = col.astype(np.int64, copy=True)
        else:
            key *= card
            key += col
        space *= card
    return densify(key, space)


def representatives(ids: np.ndarray, n_groups: int) -> np.ndarray:
    """One row index per group (any row: all rows of a group share its codes)."""
    rep = np.empty(n_groups, dtype=np.int64)
    rep[ids] = np.arange(ids.shape[0], dtype=np.int64)
    return rep


def bincount(ids: np.ndarray, n: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount`` with a fixed length; integer weights stay integers."""
    if weights is None:
        return np.bincount(ids, minlength=n).astype(np.int64)
    out = np.bincount(ids, weights=weights, minlength=n)
    return out.astype(np.int64) if np.issubdtype(weights.dtype, np.integer) else out


def codes_of(column: pl.Series) -> tuple[np.ndarray, int]:
    """Integer codes 0..c-1 of a column in ascending value order (nulls last, as one more code) and c.

    The order matters for the ordered distance of t-closeness; grouping itself does not depend on it.
    Strings go through an Enum of their sorted distinct values (a hash lookup, ~10x faster than a rank).
    """
    codes, distinct = factorise(column)
    return codes, len(distinct) + (1 if column.null_count() else 0)


def factorise(column: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """(codes, sorted distinct non-null values); nulls get the code ``len(distinct)``."""
    distinct = column.drop_nulls().unique().sort()
    if column.dtype in (pl.Utf8, pl.Categorical) or isinstance(column.dtype, pl.Enum):
        phys = column.cast(pl.Utf8).cast(pl.Enum(distinct.cast(pl.Utf8))).to_physical()
        codes = phys.fill_null(len(distinct)).to_numpy().astype(np.int64)
    else:
        ranks = column.rank("dense")  # 1-based, nulls stay null
        codes = ranks.fill_null(len(distinct) + 1).to_numpy().astype(np.int64) - 1
    return codes, distinct

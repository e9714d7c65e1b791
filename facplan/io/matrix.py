"""Precomputed origin–destination tables (``network: {matrix: od.csv, …}``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from facplan._errors import InputError
from facplan.io.vector import numeric_field, require_fields

__all__ = ["read_od_matrix"]


def read_od_matrix(
    spec: Any, cell_ids: np.ndarray, dest_ids: np.ndarray
) -> tuple[sp.csr_matrix, dict]:
    """Read a long-format walking-distance table into destinations × cells.

    Parameters
    ----------
    spec
        The scenario's ``network`` entry: ``matrix`` (CSV or Parquet), ``origin_field``
        (cell ids), ``destination_field`` (facility and candidate ids), ``cost_field``
        (walking metres).
    cell_ids, dest_ids
        Ids of the cells (columns) and of facilities then candidates (rows).

    Returns
    -------
    table : scipy.sparse.csr_matrix
        (len(dest_ids), len(cell_ids)) metres; the shortest of repeated pairs; explicit
        zeros are entries.
    info : dict
        ``missing_destinations`` (row positions with no pair), ``unknown_pairs`` (rows of
        the table whose ids match no cell or destination, ignored).

    Raises
    ------
    InputError
        Unreadable file, missing fields, non-numeric, negative or NaN costs.
    """
    path = spec.matrix
    where = str(path)
    try:
        df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(
            path, dtype={spec.origin_field: str, spec.destination_field: str}
        )
    except Exception as exc:
        raise InputError(f"cannot read the origin-destination table ({exc})", file=where) from None
    if len(df) == 0:
        raise InputError("the origin-destination table has no rows", file=where)
    require_fields(
        df,
        {"network.origin_field": spec.origin_field,
         "network.destination_field": spec.destination_field,
         "network.cost_field": spec.cost_field},
        where,
    )
    cost = numeric_field(df, spec.cost_field, where)
    o = df[spec.origin_field].astype(str).to_numpy()
    d = df[spec.destination_field].astype(str).to_numpy()
    row_of = pd.Series(np.arange(len(dest_ids)), index=pd.Index(dest_ids.astype(str)))
    # the pieces of a cell split by communities share its id: a pair reaches them all
    pieces = pd.DataFrame({"o": cell_ids.astype(str), "col": np.arange(len(cell_ids))})
    pairs = pd.DataFrame({"o": o, "pair": np.arange(len(o))}).merge(pieces, on="o", how="left")
    at = pairs["pair"].to_numpy()
    cols = pairs["col"].to_numpy(dtype=float)
    rows = row_of.reindex(d[at]).to_numpy()
    ok = ~np.isnan(cols) & ~np.isnan(rows)
    unknown = len(o) - len(np.unique(at[ok]))
    rows, cols, cost = rows[ok].astype(np.int64), cols[ok].astype(np.int64), cost[at[ok]]
    # shortest of repeated pairs
    order = np.lexsort((cost, cols, rows))
    rows, cols, cost = rows[order], cols[order], cost[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, cost = rows[first], cols[first], cost[first]
    shape = (len(dest_ids), len(cell_ids))
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    indptr = np.cumsum(indptr)
    table = sp.csr_matrix((cost, cols, indptr), shape=shape)
    missing = np.flatnonzero(np.diff(indptr) == 0)
    return table, {"missing_destinations": missing, "unknown_pairs": int(unknown)}

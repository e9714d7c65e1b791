"""Levels above the community: the parent unit of each community (its 街道, say) and the
population-weighted roll-up of the per-community table to that level (``parents.csv``).

DESIGN, *Levels above the community*: ``communities.parent_field`` (and
``parent_name_field``) name the parent of each community; every per-community table then
has a parent-level roll-up beside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from facplan._errors import InputError

__all__ = ["PARENT_COLUMNS", "parent_columns", "parent_table", "with_parents"]

#: Columns the communities table gains when the scenario names a ``parent_field``.
PARENT_COLUMNS = ("parent_id", "parent_name")


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def parent_columns(gdf: pd.DataFrame, spec: Any, where: str) -> dict[str, np.ndarray]:
    """``parent_id`` and ``parent_name`` of every community, read from the fields named
    by ``spec.parent_field`` and ``spec.parent_name_field`` (the id when no name field).

    Raises
    ------
    InputError
        When a community has no parent id (naming the field and rows).
    """
    raw = gdf[spec.parent_field]
    ids = np.array(["" if pd.isna(v) else _text(v) for v in raw], dtype=object)
    blank = ids == ""
    if blank.any():
        raise InputError(
            f"{int(blank.sum())} communities have no parent id",
            file=where, field=spec.parent_field, rows=(np.flatnonzero(blank) + 1).tolist(),
        )
    if spec.parent_name_field is not None:
        names = np.array(
            ["" if pd.isna(v) else _text(v) for v in gdf[spec.parent_name_field]], dtype=object
        )
        names = np.where(names == "", ids, names).astype(object)
    else:
        names = ids.copy()
    return {"parent_id": ids, "parent_name": names}


def parent_table(
    communities: pd.DataFrame,
    kind_tiers: Iterable[tuple[str, str]],
    targets: dict[str, float],
) -> pd.DataFrame:
    """Roll the per-community table up to the parent level.

    Parameters
    ----------
    communities
        The communities table of a run with ``parent_id``, ``parent_name``,
        ``population`` and ``coverage_<kind>_<tier>[_after]`` columns.
    kind_tiers
        The ``(kind, tier)`` pairs of the run.
    targets
        ``{"<kind>/<tier>": target_coverage}``.

    Returns
    -------
    pandas.DataFrame
        One row per parent, sorted by ``parent_id``: ``parent_id``, ``parent_name``,
        ``communities`` (count), ``population`` (sum), ``coverage_<key>`` and
        ``coverage_<key>_after`` (covered people ÷ people of the parent, i.e. the
        community shares weighted by population; NaN for a parent without people),
        ``meeting_target_<key>`` (communities with people at or above the target) and
        ``gaps`` (per kind/tier below full coverage: the share covered and how many
        communities miss the target).
    """
    kind_tiers = list(kind_tiers)
    df = pd.DataFrame({
        "parent_id": communities["parent_id"].astype(str).to_numpy(),
        "parent_name": communities["parent_name"].astype(str).to_numpy(),
        "population": communities["population"].to_numpy(dtype=float),
    })
    pop = df["population"].to_numpy()
    has_people = pop > 0
    keys = [f"{k}_{t}" for k, t in kind_tiers]
    for key in keys:
        for suffix in ("", "_after"):
            share = communities[f"coverage_{key}{suffix}"].to_numpy(dtype=float)
            df[f"_cov_{key}{suffix}"] = np.where(has_people, np.nan_to_num(share) * pop, 0.0)
    for (kind, tier), key in zip(kind_tiers, keys, strict=True):
        share = communities[f"coverage_{key}_after"].to_numpy(dtype=float)
        target = targets[f"{kind}/{tier}"]
        df[f"_meet_{key}"] = (has_people & (np.nan_to_num(share, nan=-1.0) >= target - 1e-12))
        df[f"_with_{key}"] = has_people
    g = df.groupby("parent_id", sort=True)
    out = pd.DataFrame({
        "parent_id": list(g.groups),
        "parent_name": g["parent_name"].first().to_numpy(),
        "communities": g.size().to_numpy(),
        "population": g["population"].sum().to_numpy(),
    })
    people = out["population"].to_numpy()
    sums = g.sum(numeric_only=True)
    for key in keys:
        for suffix in ("", "_after"):
            cov = sums[f"_cov_{key}{suffix}"].to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"coverage_{key}{suffix}"] = np.where(
                    people > 0, cov / np.where(people > 0, people, 1.0), np.nan
                )
        out[f"meeting_target_{key}"] = sums[f"_meet_{key}"].to_numpy().astype(int)
    gaps = []
    for r in range(len(out)):
        items = []
        for (kind, tier), key in zip(kind_tiers, keys, strict=True):
            c = out[f"coverage_{key}_after"].iloc[r]
            with_people = int(sums[f"_with_{key}"].iloc[r])
            below = with_people - int(out[f"meeting_target_{key}"].iloc[r])
            if people[r] > 0 and c < 1.0 - 1e-9:
                text = f"{kind}/{tier} {c:.0%} covered"
                if below:
                    text += (f" ({below} of {with_people} communities below "
                             f"{targets[f'{kind}/{tier}']:.0%})")
                items.append(text)
        gaps.append("; ".join(items))
    out["gaps"] = gaps
    return out


def with_parents(table: pd.DataFrame, communities: pd.DataFrame) -> pd.DataFrame:
    """``table`` (one row per community, in the order of ``communities``) with the
    ``parent_id`` and ``parent_name`` of ``communities`` inserted after ``name``; unchanged
    when the communities have no parents."""
    if "parent_id" not in communities:
        return table
    out = table.copy()
    at = list(out.columns).index("name") + 1
    for i, col in enumerate(PARENT_COLUMNS):
        out.insert(at + i, col, communities[col].to_numpy())
    return out

"""Entrances of features (gates of compounds and parks, or buildings): reading them and
matching each to the feature it belongs to."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facplan._errors import InputError
from facplan.entry import EntryPoints
from facplan.io.points import read_csv_points
from facplan.io.postgis import read_source, source_name
from facplan.io.vector import require_fields

__all__ = ["read_entrances", "match_owners", "site_entries", "cell_entries"]


def _text_id(v: object) -> str:
    """An id as the readers write it (a whole float without its ``.0``)."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_entrances(spec: Any, *, key: str) -> gpd.GeoDataFrame:
    """Read an ``entrances`` entry.

    Parameters
    ----------
    spec
        The :class:`~facplan.scenario.EntrancesSpec`.
    key
        Its scenario key, e.g. ``facilities.0.entrances``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``owner`` (str id of the feature it belongs to), ``_row`` (row in the file, from
        1), point geometry (polygons such as buildings become their
        ``representative_point()``), in EPSG:4326.

    Raises
    ------
    InputError
        Missing file or ``owner_field``, entrances without an owner id, lines.
    """
    where = source_name(spec)
    if spec.postgis is None and spec.path.suffix.lower() in (".csv", ".txt"):
        gdf = read_csv_points(spec, key=key)
    else:
        gdf, where = read_source(spec, key=key)
    require_fields(gdf, {f"{key}.owner_field": spec.owner_field}, where)
    owner = gdf[spec.owner_field]
    missing = np.asarray(owner.isna())
    if missing.any():
        raise InputError(
            f"{int(missing.sum())} entrances have no owner id",
            file=where, field=spec.owner_field, rows=(np.flatnonzero(missing) + 1).tolist(),
        )
    geom = gdf.geometry.values
    kind = shapely.get_type_id(geom)
    lines = np.flatnonzero((kind == 1) | (kind == 2) | (kind == 5))
    if len(lines):
        raise InputError(
            f"{len(lines)} entrances are lines; give points (gates) or polygons (buildings)",
            file=where, field="geometry", rows=(lines + 1).tolist(),
        )
    out = gpd.GeoDataFrame(
        {"owner": [_text_id(v) for v in owner], "_row": np.arange(1, len(gdf) + 1)},
        geometry=shapely.point_on_surface(geom), crs=gdf.crs,
    )
    if spec.coords != "wgs84":
        from facplan.io.coords import convert_points

        out = convert_points(out, spec.coords, where=where)
    out.attrs["where"] = where
    return out.to_crs(4326)


def match_owners(
    entrances: gpd.GeoDataFrame, ids: np.ndarray, *, field: str, key: str, what: str
) -> np.ndarray:
    """Position in ``ids`` of each entrance's owner.

    Raises
    ------
    InputError
        Entrances whose owner id is not among ``ids``, naming their rows.
    """
    pos = pd.Series(np.arange(len(ids)), index=pd.Index(np.asarray(ids).astype(str)))
    pos = pos[~pos.index.duplicated(keep="first")]
    got = pos.reindex(entrances["owner"].to_numpy()).to_numpy()
    bad = np.flatnonzero(np.isnan(got))
    if len(bad):
        first = entrances["owner"].iloc[bad[0]]
        raise InputError(
            f"{len(bad)} entrances belong to no known {what} (first owner id: {first!r}); "
            f"'{field}' (named by '{key}') must hold ids of the {what}",
            file=entrances.attrs.get("where"), field=field,
            rows=entrances["_row"].to_numpy()[bad].tolist(),
        )
    return got.astype(np.int64)


def _xy(gdf: gpd.GeoDataFrame, crs: Any) -> tuple[np.ndarray, np.ndarray]:
    g = gdf.geometry.to_crs(crs).values
    return shapely.get_x(g), shapely.get_y(g)


def site_entries(
    spec: Any, ids: np.ndarray, *, key: str, crs: Any, offset: int = 0, what: str
) -> EntryPoints:
    """The entrances of one facilities or candidates entry as :class:`EntryPoints`
    (rows counted from ``offset``, the entry's first row in the combined layer)."""
    ent = read_entrances(spec, key=key)
    row = match_owners(ent, ids, field=spec.owner_field, key=f"{key}.owner_field", what=what)
    x, y = _xy(ent, crs)
    order = np.argsort(row, kind="stable")
    return EntryPoints(row[order] + offset, x[order], y[order])


def cell_entries(
    cells: gpd.GeoDataFrame, entrances: gpd.GeoDataFrame, owner_pos: np.ndarray,
    communities: gpd.GeoDataFrame | None, *, crs: Any,
) -> EntryPoints:
    """Entrances of population cells after clipping to communities.

    ``owner_pos`` is each entrance's position in the population layer as read; the
    clipped cells carry that position in ``_owner``. A piece of a split polygon uses the
    entrances of its polygon that fall in its community, or all of them when none does.
    """
    x, y = _xy(entrances, crs)
    if communities is not None and len(entrances):
        from facplan.cells import disjoint_communities

        # an overlap of two fences belongs to the lowest community_id, its gates too
        flat, _ = disjoint_communities(communities[["community_id", "geometry"]])
        pts = gpd.GeoDataFrame(geometry=shapely.points(x, y), crs=crs)
        j = gpd.sjoin(pts, flat, how="left", predicate="intersects")
        # an entrance on a shared border belongs to every community it touches
        pairs = j.dropna(subset=["community_id"])
        in_comm = set(zip(pairs.index.to_numpy(), pairs["community_id"].astype(str), strict=True))
    else:
        in_comm = set()
    by_owner: dict[int, list[int]] = {}
    for e, o in enumerate(owner_pos):
        by_owner.setdefault(int(o), []).append(e)
    rows, ex = [], []
    owners = cells["_owner"].to_numpy()
    cids = cells["community_id"].to_numpy()
    for r, (o, c) in enumerate(zip(owners, cids, strict=True)):
        mine = by_owner.get(int(o))
        if not mine:
            continue
        inside = [e for e in mine if (e, str(c)) in in_comm] if c is not None else []
        for e in inside or mine:
            rows.append(r)
            ex.append(e)
    rows_a = np.asarray(rows, dtype=np.int64)
    ex_a = np.asarray(ex, dtype=np.int64)
    return EntryPoints(rows_a, x[ex_a] if len(ex_a) else np.zeros(0),
                       y[ex_a] if len(ex_a) else np.zeros(0))

"""The study area: population cells clipped to the communities.

DESIGN, *Semantics*: cells are clipped to the communities when they are given (split by
area when they cross a boundary), else all valid cells count.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = [
    "clip_to_communities",
    "cell_points",
    "community_of",
    "disjoint_communities",
    "MIN_PIECE_M2",
]

#: Pieces of a split cell smaller than this (m²) join the cell's largest piece.
MIN_PIECE_M2 = 1.0


def disjoint_communities(comm: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, dict]:
    """Communities made disjoint: each loses what it shares with any community of a
    lower ``community_id``.

    Parameters
    ----------
    comm
        ``community_id``, polygons (projected CRS, metres).

    Returns
    -------
    comm : geopandas.GeoDataFrame
        Sorted by ``community_id``; communities left empty are dropped.
    overlap : dict
        ``pairs`` (number of pairs that share a positive area) and ``area_m2`` (the
        area shared, counted once).
    """
    comm = comm.sort_values("community_id").reset_index(drop=True)
    geom = comm.geometry.values
    a, b = shapely.STRtree(geom).query(geom, predicate="intersects")
    keep = a > b
    a, b = a[keep], b[keep]
    if len(a):
        shared = shapely.area(shapely.intersection(geom[a], geom[b])) > 0
        a, b = a[shared], b[shared]
    if len(a) == 0:
        return comm, {"pairs": 0, "area_m2": 0.0}
    new = geom.copy()
    for i in np.unique(a):
        new[i] = shapely.difference(geom[i], shapely.union_all(geom[b[a == i]]))
    removed = float((shapely.area(geom) - shapely.area(new)).sum())
    out = gpd.GeoDataFrame(comm.drop(columns="geometry"), geometry=new, crs=comm.crs)
    out = out[~shapely.is_empty(new) & (shapely.area(new) > 0)].reset_index(drop=True)
    return out, {"pairs": int(len(a)), "area_m2": removed}


def clip_to_communities(
    cells: gpd.GeoDataFrame, communities: gpd.GeoDataFrame | None
) -> tuple[gpd.GeoDataFrame, dict]:
    """Assign cells to communities, splitting polygons that cross a boundary.

    Parameters
    ----------
    cells
        ``cell_id``, ``population`` (+ optional group columns), points or polygons, in the
        scenario's projected CRS.
    communities
        ``community_id``, ``name``, polygons in the same CRS, or None.

    Returns
    -------
    cells : geopandas.GeoDataFrame
        The same columns plus ``community_id`` (None without communities). A polygon cell
        split across k communities becomes k pieces that keep its ``cell_id`` (they
        differ by ``community_id``), with population and numeric group columns shared by
        area; pieces under :data:`MIN_PIECE_M2` are merged into the cell's largest piece.
        Where communities overlap, the overlap belongs to the lowest ``community_id``, so
        a cell inside the communities' union keeps exactly its population. Points take
        the community that contains them (the lowest community id on a shared border).
        ``attrs["overlap"]`` holds ``pairs`` (overlapping community pairs) and
        ``area_m2`` (the area the overlaps cover, counted once).
    dropped : dict
        ``cells`` and ``population`` outside every community (left out of the study area).
    """
    cells = cells.copy()
    if communities is None:
        cells["community_id"] = None
        return cells.reset_index(drop=True), {"cells": 0, "population": 0.0}
    comm = communities[["community_id", "geometry"]].sort_values("community_id")
    flat, overlap = disjoint_communities(comm)
    geom = cells.geometry.values
    is_poly = np.asarray(shapely.get_type_id(geom) >= 3) & np.asarray(
        shapely.get_type_id(geom) != 4
    )
    extra = [c for c in cells.columns if c not in ("cell_id", "population", "geometry")]
    out_parts = []
    dropped_cells = 0
    dropped_pop = 0.0

    pts = cells[~is_poly]
    if len(pts):
        pos = community_of(pts.geometry, comm)
        outside = pos < 0
        joined = pts.assign(
            community_id=np.where(outside, None, comm["community_id"].to_numpy()[pos])
        )
        dropped_cells += int(outside.sum())
        dropped_pop += float(joined.loc[outside, "population"].sum())
        out_parts.append(joined[~outside])

    polys = cells[is_poly]
    if len(polys):
        area = polys.geometry.area.to_numpy()
        polys = polys.assign(_area=area, _order=np.arange(len(polys)))
        inter = gpd.overlay(polys, flat, how="intersection", keep_geom_type=True)
        inter = _merge_small_pieces(inter[inter.geometry.area > 0].reset_index(drop=True))
        piece = inter.geometry.area.to_numpy()
        order = inter["_order"].to_numpy()
        covered = np.bincount(order, weights=piece, minlength=len(polys))
        cell_area = inter["_area"].to_numpy()
        # a cell inside the communities' union keeps exactly its population
        full = covered[order] >= cell_area * (1 - 1e-9)
        share = np.where(full, piece / covered[order], piece / cell_area)
        inter["population"] = inter["population"].to_numpy() * share
        for col in extra:
            if pd.api.types.is_numeric_dtype(inter[col]):
                inter[col] = inter[col].to_numpy() * share
        inside = inter.groupby("_order")["population"].sum()
        lost = polys.set_index("_order")["population"].sub(inside, fill_value=0.0)
        dropped_pop += float(lost.clip(lower=0).sum())
        dropped_cells += int((~polys["_order"].isin(inter["_order"])).sum())
        inter = inter.sort_values(["_order", "community_id"]).drop(columns=["_order", "_area"])
        out_parts.append(inter)

    out = pd.concat(out_parts, ignore_index=True) if out_parts else cells.iloc[:0]
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=cells.crs)
    cols = ["cell_id", "population", *extra, "community_id", "geometry"]
    out = out[cols].reset_index(drop=True)
    out.attrs["overlap"] = overlap
    return out, {
        "cells": dropped_cells,
        "population": round(dropped_pop, 6),
    }


def _merge_small_pieces(inter: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Pieces under MIN_PIECE_M2 join their cell's largest piece (geometry united)."""
    area = inter.geometry.area.to_numpy()
    order = inter["_order"].to_numpy()
    rank = np.lexsort((-area, order))  # by cell, largest piece first
    largest = np.zeros(len(inter), dtype=bool)
    first = np.ones(len(rank), dtype=bool)
    first[1:] = order[rank][1:] != order[rank][:-1]
    largest[rank[first]] = True
    small = (area < MIN_PIECE_M2) & ~largest
    if not small.any():
        return inter
    host = pd.Series(np.flatnonzero(largest), index=order[largest])
    geom = inter.geometry.values.copy()
    for i in np.flatnonzero(small):
        h = host[order[i]]
        geom[h] = shapely.union(geom[h], geom[i])
    out = inter.copy()
    out[out.geometry.name] = geom
    return out[~small].reset_index(drop=True)


def cell_points(geom: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """x, y where a cell or site enters the network: the point itself, or the polygon's
    ``representative_point()`` (inside the polygon, unlike a centroid of a concave one)."""
    pts = shapely.point_on_surface(geom.values)
    return shapely.get_x(pts), shapely.get_y(pts)


def community_of(geom: gpd.GeoSeries | np.ndarray, communities: gpd.GeoDataFrame) -> np.ndarray:
    """The one point-in-community rule: which community each geometry lies in.

    A point, or a polygon's ``representative_point()`` (as :func:`cell_points`), lies in
    a community when it is inside its polygon or on its boundary; on a border shared by
    several communities it belongs to the one with the lowest ``community_id`` (the rule
    :func:`clip_to_communities` uses for points). Every table and constraint that asks
    "which community is this in" — sites, candidates for one centre per community,
    existing centres — uses this function, so they cannot disagree.

    Parameters
    ----------
    geom
        Points or polygons, in the CRS of ``communities``.
    communities
        ``community_id`` and polygon geometry.

    Returns
    -------
    numpy.ndarray
        int64 position in ``communities`` of each geometry's community; −1 outside all.
    """
    values = geom.values if isinstance(geom, gpd.GeoSeries) else np.asarray(geom, dtype=object)
    out = np.full(len(values), -1, dtype=np.int64)
    if len(values) == 0 or len(communities) == 0:
        return out
    pts = shapely.point_on_surface(values)
    tree = shapely.STRtree(communities.geometry.values)
    i_pt, i_comm = tree.query(pts, predicate="intersects")
    if len(i_pt) == 0:
        return out
    ids = communities["community_id"].to_numpy().astype(str)
    order = np.lexsort((ids[i_comm], i_pt))
    i_pt, i_comm = i_pt[order], i_comm[order]
    first = np.r_[True, i_pt[1:] != i_pt[:-1]]
    out[i_pt[first]] = i_comm[first]
    return out

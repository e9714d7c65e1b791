"""Dasymetric population: people spread over residential buildings, summed on a grid.

Where no population grid is at hand, residents are placed in proportion to residential
floor area:

1. A building is residential when its ``building`` value (lower-cased) is in
   ``residential`` — by default :data:`RESIDENTIAL_BUILDINGS`, which **includes
   ``yes``**: most buildings in OSM are tagged only ``building=yes``, and leaving them
   out would empty whole towns. The price is that untagged sheds, barns and halls
   receive people too; pass a narrower set where the tagging is rich.
2. Floor area = footprint (m², in ``crs``) × storeys, where storeys come from the
   ``levels`` column (see :func:`facplan.io.osm.read_osm_buildings`) or, when that is
   missing, not a number or not positive, ``default_levels``.
3. Residents per building = floor area ÷ ``floor_area_per_person_m2``; or, when a total
   is given, the total shared in proportion to floor area; or, with per-community totals,
   each community's total shared over the floor area of the buildings inside it.
4. Each building's residents go to the ``grid_m`` square holding its representative
   point (:func:`shapely.point_on_surface`). Squares are aligned to multiples of
   ``grid_m`` in ``crs``; rows count south from the northernmost square and columns east
   from the westernmost. With communities, a square holding buildings of several
   communities becomes one cell per community, and every cell's polygon is the square
   cut to its community, so each cell lies in one community and the cells of a community
   add up to its population.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from facplan._errors import InputError
from facplan.cells import community_of
from facplan.io.crs import require_projected
from facplan.io.osm import parse_levels
from facplan.io.vector import check_geometries, require_fields, require_unique_ids

__all__ = [
    "dasymetric_population",
    "RESIDENTIAL_BUILDINGS",
    "FLOOR_AREA_PER_PERSON_M2",
    "DEFAULT_LEVELS",
    "GRID_M",
]

#: ``building`` values counted as homes. ``yes`` (untagged type) is included on purpose;
#: ``farm`` is OSM's farmhouse (a dwelling), unlike ``farm_auxiliary``/``barn``.
RESIDENTIAL_BUILDINGS = frozenset(
    {
        "yes",
        "residential",
        "apartments",
        "house",
        "detached",
        "semidetached_house",
        "terrace",
        "dormitory",
        "bungalow",
        "farm",
    }
)
#: Residential floor area per resident, m² per person (China's urban average is about
#: 35-40 m²; set your own).
FLOOR_AREA_PER_PERSON_M2 = 35.0
#: Storeys assumed when ``levels`` is missing, not a number or not positive.
DEFAULT_LEVELS = 3.0
#: Side of the grid squares, metres.
GRID_M = 100.0


def dasymetric_population(
    buildings: gpd.GeoDataFrame,
    *,
    crs: Any,
    total: float | None = None,
    community_totals: pd.Series | None = None,
    communities: gpd.GeoDataFrame | None = None,
    grid_m: float = GRID_M,
    floor_area_per_person_m2: float = FLOOR_AREA_PER_PERSON_M2,
    default_levels: float = DEFAULT_LEVELS,
    residential: Collection[str] = RESIDENTIAL_BUILDINGS,
    residential_areas: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> gpd.GeoDataFrame:
    """Population cells from residential buildings (method in the module docstring).

    Parameters
    ----------
    buildings
        Polygons with a ``building`` column and optionally ``levels`` (float storeys) or
        OSM's raw ``building:levels``; any CRS (e.g. from
        :func:`facplan.io.osm.read_osm_buildings`, EPSG:4326).
    crs
        Projected CRS (metres) for footprints, the grid and the output.
    total
        People to spread over all residential floor area (inside ``communities`` when
        they are given). Exclusive with ``community_totals``.
    community_totals
        People per community, indexed by ``community_id``; needs ``communities``. Every
        community must have a total (0 is allowed) and every total a community.
    communities
        ``community_id`` + polygons, any CRS. When given, buildings outside every
        community are left out and cells carry a ``community_id``.
    grid_m
        Side of the grid squares, metres.
    floor_area_per_person_m2
        m² of floor per resident, used when no total is given.
    default_levels
        Storeys of a building without a usable ``levels`` value.
    residential
        ``building`` values counted as homes (compared lower-case).
    residential_areas
        Residential land use (``landuse=residential`` polygons, any CRS). Without a total
        (``floor_area_per_person_m2`` alone sets the number of people) an untagged
        ``building=yes`` counts as a home only inside these areas — and not at all
        without them — so that sheds, barns and halls do not become people; with a total,
        ``yes`` counts everywhere (only the shares change). The rule applied is in
        ``attrs["rule"]``.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (``g<row>-<col>``, or ``g<row>-<col>/<community_id>`` for a square
        shared by several communities), ``population`` (float, people), ``community_id``
        (only when ``communities`` are given), polygon geometry in ``crs``. Only cells
        with people, ordered by row, column, community. ``attrs``:
        ``empty_communities`` (ids of communities without any residential building —
        their total, if any, could not be placed: warn about them),
        ``unplaced_population`` (the sum of those totals), ``outside_buildings``
        (residential buildings outside every community), ``buildings`` (residential
        buildings used), ``floor_area_m2`` (their floor area).

    Raises
    ------
    InputError
        Missing ``building`` field; null, invalid or non-polygon geometries; a geographic
        ``crs``; bad parameters; negative, NaN or infinite totals; totals for unknown
        communities or communities without a total; no residential building at all.
    """
    where = "buildings"
    crs = require_projected(crs, "the dasymetric grid")
    for name, value in (
        ("grid_m", grid_m),
        ("floor_area_per_person_m2", floor_area_per_person_m2),
        ("default_levels", default_levels),
    ):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"'{name}' must be a positive number, got {value!r}", field=name)
    if total is not None and community_totals is not None:
        raise InputError("give 'total' or per-community totals, not both", field="total")
    if total is not None and not (np.isfinite(total) and total >= 0):
        raise InputError(f"'total' must be a non-negative number, got {total!r}", field="total")
    if community_totals is not None and communities is None:
        raise InputError(
            "per-community totals need the communities' boundaries", field="community_totals"
        )
    if buildings.crs is None:
        raise InputError("the buildings have no CRS", file=where)
    require_fields(buildings, {"dasymetric.building": "building"}, where)
    check_geometries(buildings, where)
    tid = np.asarray(shapely.get_type_id(buildings.geometry.values))
    not_poly = ~np.isin(tid, (3, 6))
    if not_poly.any():
        raise InputError(
            f"buildings must be polygons (footprints); {int(not_poly.sum())} are not",
            file=where, field="geometry", rows=(np.flatnonzero(not_poly) + 1).tolist(),
        )

    # 1-2: residential buildings and their floor area
    homes = {str(v).strip().lower() for v in residential}
    tag = buildings["building"].astype(object).where(buildings["building"].notna(), "")
    lower = tag.astype(str).str.strip().str.lower()
    is_home = lower.isin(homes).to_numpy()
    absolute = total is None and community_totals is None
    rule = "buildings tagged " + "/".join(sorted(homes))
    if absolute and "yes" in homes:
        untagged = is_home & (lower == "yes").to_numpy()
        inside = np.zeros(len(buildings), dtype=bool)
        if residential_areas is not None and len(residential_areas) and untagged.any():
            areas = shapely.union_all(gpd.GeoSeries(
                residential_areas.geometry if hasattr(residential_areas, "geometry")
                else residential_areas).to_crs(crs).values)
            pts = shapely.point_on_surface(buildings.iloc[np.flatnonzero(untagged)]
                                           .to_crs(crs).geometry.values)
            inside[np.flatnonzero(untagged)] = shapely.contains_xy(
                areas, shapely.get_x(pts), shapely.get_y(pts))
        is_home = is_home & (~untagged | inside)
        rule = ("buildings tagged " + "/".join(sorted(homes - {"yes"})) + ", and "
                "building=yes inside landuse=residential (no total given: "
                f"{floor_area_per_person_m2:g} m² of floor per resident)")
    elif absolute:
        rule += f" ({floor_area_per_person_m2:g} m² of floor per resident)"
    else:
        rule += " (the given total shared by floor area)"
    bld = buildings.iloc[np.flatnonzero(is_home)]
    if "levels" in bld.columns:
        levels = pd.to_numeric(bld["levels"], errors="coerce").to_numpy(dtype=float)
    elif "building:levels" in bld.columns:
        levels = parse_levels(bld["building:levels"])
    else:
        levels = np.full(len(bld), np.nan)
    levels = np.where(np.isfinite(levels) & (levels > 0), levels, default_levels)
    geom = bld.to_crs(crs).geometry.values
    floor = np.asarray(shapely.area(geom)) * levels
    points = shapely.point_on_surface(geom)
    keep = floor > 0
    floor, points = floor[keep], points[keep]
    if len(floor) == 0:
        counts = tag.astype(str).value_counts().head(8)
        seen = ", ".join(f"{k or '(empty)'} ({n})" for k, n in counts.items())
        raise InputError(
            "no residential buildings: no 'building' value is one of "
            f"{', '.join(sorted(homes))} (values present: {seen})",
            file=where, field="building",
        )

    # communities: which community each building is in
    comm_ids: np.ndarray | None = None
    comm_geom: dict[str, shapely.Geometry] = {}
    outside = 0
    all_ids: list[str] = []
    if communities is not None:
        comm = _communities(communities, crs)
        all_ids = comm["community_id"].tolist()
        comm_geom = dict(zip(all_ids, comm.geometry.values, strict=True))
        pos = community_of(points, comm)  # the one point-in-community rule
        comm_ids = np.where(pos >= 0, comm["community_id"].to_numpy(dtype=object)[pos], None)
        inside = np.array([c is not None for c in comm_ids], dtype=bool)
        outside = int((~inside).sum())
        floor, points, comm_ids = floor[inside], points[inside], comm_ids[inside]
        if len(floor) == 0:
            raise InputError(
                f"none of the {outside} residential buildings lies inside the communities; "
                "do the buildings and the boundaries cover the same area?",
                file=where,
            )

    # 3: residents per building
    empty: list[str] = []
    unplaced = 0.0
    if community_totals is not None:
        assert comm_ids is not None
        totals = _check_totals(community_totals, all_ids)
        per_comm = pd.Series(floor).groupby(comm_ids).sum()
        comm_floor = per_comm.reindex(all_ids, fill_value=0.0)
        empty = [c for c in all_ids if comm_floor[c] <= 0]
        unplaced = float(sum(totals[c] for c in empty))
        share = totals.reindex(comm_ids).to_numpy() / comm_floor.reindex(comm_ids).to_numpy()
        pop = floor * share
    elif total is not None:
        denom = floor.sum()
        if denom <= 0 and total > 0:
            raise InputError("no residential building inside the communities", file=where)
        pop = floor * (float(total) / denom) if denom > 0 else np.zeros_like(floor)
        if communities is not None:
            empty = [c for c in all_ids if c not in set(comm_ids.tolist())]  # type: ignore[union-attr]
    else:
        pop = floor / floor_area_per_person_m2
        if communities is not None:
            empty = [c for c in all_ids if c not in set(comm_ids.tolist())]  # type: ignore[union-attr]

    # 4: grid cells
    x, y = shapely.get_x(points), shapely.get_y(points)
    x0 = np.floor(x.min() / grid_m) * grid_m
    y0 = np.ceil(y.max() / grid_m) * grid_m
    col = np.floor((x - x0) / grid_m).astype(np.int64)
    row = np.floor((y0 - y) / grid_m).astype(np.int64)
    row = np.where(row < 0, 0, row)  # a point exactly on the top edge
    df = pd.DataFrame({"row": row, "col": col, "population": pop})
    keys = ["row", "col"]
    if comm_ids is not None:
        df["community_id"] = comm_ids.astype(str)
        keys.append("community_id")
    cells = df.groupby(keys, as_index=False, sort=True)["population"].sum()
    cells = cells[cells["population"].to_numpy() > 0].reset_index(drop=True)

    r, c = cells["row"].to_numpy(), cells["col"].to_numpy()
    left = x0 + c * grid_m
    top = y0 - r * grid_m
    squares = shapely.box(left, top - grid_m, left + grid_m, top)
    ids = np.array([f"g{a}-{b}" for a, b in zip(r, c, strict=True)], dtype=object)
    data: dict[str, Any] = {}
    if comm_ids is not None:
        cid = cells["community_id"].to_numpy(dtype=object)
        shared = cells.groupby(["row", "col"])["row"].transform("size").to_numpy() > 1
        ids = np.where(shared, ids + "/" + cid.astype(str), ids).astype(object)
        squares = _cut(squares, cid, comm_geom)
        data = {"cell_id": ids, "population": cells["population"].to_numpy(dtype=float),
                "community_id": cid}
    else:
        data = {"cell_id": ids, "population": cells["population"].to_numpy(dtype=float)}
    out = gpd.GeoDataFrame(data, geometry=squares, crs=crs)
    out.attrs.update(
        {
            "empty_communities": empty,
            "unplaced_population": unplaced,
            "outside_buildings": outside,
            "buildings": len(floor),
            "floor_area_m2": float(floor.sum()),
            "rule": rule,
        }
    )
    return out


def _communities(communities: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    where = "communities"
    if communities.crs is None:
        raise InputError("the communities have no CRS", file=where)
    require_fields(communities, {"communities.id_field": "community_id"}, where)
    ids = communities["community_id"].astype(str)
    require_unique_ids(ids.to_numpy(dtype=object), what="communities", field="community_id",
                       file=where)
    comm = gpd.GeoDataFrame(
        {"community_id": ids.to_numpy(dtype=object)},
        geometry=communities.to_crs(crs).geometry.values,
        crs=crs,
    )
    return comm.sort_values("community_id", kind="stable").reset_index(drop=True)


def _check_totals(totals: pd.Series, ids: list[str]) -> pd.Series:
    where = "community_totals"
    s = pd.Series(totals)
    s.index = s.index.map(str)
    values = pd.to_numeric(s, errors="coerce")
    bad = ~np.isfinite(values.to_numpy(dtype=float)) | (values.to_numpy(dtype=float) < 0)
    if bad.any():
        raise InputError(
            f"{int(bad.sum())} community totals are not non-negative numbers (first: "
            f"{s[bad].iloc[0]!r})",
            file=where, ids=s.index[bad].tolist(),
        )
    dup = s.index.duplicated(keep=False)
    if dup.any():
        raise InputError(
            "a community has more than one total", file=where, ids=s.index[dup].unique().tolist()
        )
    unknown = [i for i in s.index if i not in set(ids)]
    if unknown:
        raise InputError(
            f"totals for {len(unknown)} communities that are not in the boundaries",
            file=where, ids=unknown,
        )
    missing = [i for i in ids if i not in set(s.index)]
    if missing:
        raise InputError(
            f"{len(missing)} communities have no total (give 0 to leave one empty)",
            file=where, ids=missing,
        )
    return values.astype(float)


def _cut(squares: np.ndarray, cid: np.ndarray, comm_geom: dict[str, shapely.Geometry]) -> np.ndarray:
    """Each square cut to its community (the square itself if the cut has no area)."""
    out = np.empty(len(squares), dtype=object)
    for i, (sq, c) in enumerate(zip(squares, cid, strict=True)):
        piece = shapely.intersection(sq, comm_geom[c])
        if shapely.get_type_id(piece) not in (3, 6):
            parts = [p for p in shapely.get_parts(piece) if shapely.get_type_id(p) == 3]
            piece = shapely.multipolygons(parts) if parts else None
        out[i] = piece if piece is not None and piece.area > 0 else sq
    return out

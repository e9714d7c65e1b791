"""Population cells: vector grids (polygons), points, and CSV points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from facplan._errors import InputError
from facplan.io.postgis import read_source, source_name
from facplan.io.vector import (
    collect_problems,
    ids_from,
    numeric_field,
    require_fields,
)
from facplan.plausible import check_cell_geometries, check_population_total
from facplan.scenario import PopulationSpec

__all__ = ["read_population"]


def read_population(spec: PopulationSpec) -> gpd.GeoDataFrame:
    """Read population cells.

    Parameters
    ----------
    spec
        The scenario's ``population`` entry.

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id`` (str), ``population`` (float, people), one column per group (people),
        geometry (points or polygons) in the file's own CRS (EPSG:4326 for CSV unless
        ``crs`` is given; EPSG:4326 after a GCJ-02/BD-09 conversion).

    Raises
    ------
    InputError
        Missing fields, non-numeric, NaN, infinite or negative population, duplicate ids,
        coordinates out of range.
    """
    where = source_name(spec)
    if spec.postgis is None and spec.path.suffix.lower() in (".csv", ".txt"):
        gdf = _read_csv_points(spec)
    else:
        gdf, where = read_source(spec, key="population")
        require_fields(
            gdf, {"population.field": spec.field, "population.id_field": spec.id_field}, where
        )
    require_fields(gdf, {f"population.groups.{g}": g for g in spec.groups}, where)
    pop, ids, *groups = collect_problems(
        lambda: numeric_field(gdf, spec.field, where),
        lambda: ids_from(gdf, spec.id_field, "population", where),
        *[lambda g=g: numeric_field(gdf, g, where) for g in spec.groups],
    )
    data = {"cell_id": pd.array(ids, dtype=object), "population": pop}
    for g, values in zip(spec.groups, groups, strict=True):
        data[g] = values
        over = data[g] > pop + 1e-9
        if over.any():
            raise InputError(
                f"{int(over.sum())} cells have more people in group '{g}' than in total",
                file=where, field=g, rows=(np.flatnonzero(over) + 1).tolist(),
            )
    out = gpd.GeoDataFrame(data, geometry=gdf.geometry.values, crs=gdf.crs)
    check_cell_geometries(out.geom_type, file=where)
    check_population_total(out["population"], file=where)
    if spec.coords != "wgs84":
        from facplan.io.coords import convert_points

        out = convert_points(out, spec.coords, where=where)
    return out


def _read_csv_points(spec: PopulationSpec) -> gpd.GeoDataFrame:
    where = str(spec.path)
    try:
        # ids are text exactly as written ("0001", "060750479.01"), never numbers
        text = {spec.id_field: str} if spec.id_field else None
        df = pd.read_csv(spec.path, dtype=text, encoding=spec.encoding or "utf-8-sig")
    except Exception as exc:
        raise InputError(f"cannot read this CSV file ({exc})", file=where) from None
    if len(df) == 0:
        raise InputError("the file has no rows", file=where)
    lon, lat = spec.lon or "lon", spec.lat or "lat"
    require_fields(
        df,
        {
            "population.lon": lon,
            "population.lat": lat,
            "population.field": spec.field,
            "population.id_field": spec.id_field,
        },
        where,
    )
    x = numeric_field(df, lon, where, allow_negative=True)
    y = numeric_field(df, lat, where, allow_negative=True)
    crs = spec.crs if spec.crs is not None else "EPSG:4326"
    if str(crs).upper() in ("EPSG:4326", "4326"):
        bad = (np.abs(x) > 180) | (np.abs(y) > 90)
        if bad.any():
            raise InputError(
                f"{int(bad.sum())} points have longitude/latitude out of range; are '{lon}' "
                f"and '{lat}' swapped or not in degrees (set population.crs)?",
                file=where, field=f"{lon}/{lat}", rows=(np.flatnonzero(bad) + 1).tolist(),
            )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=crs)

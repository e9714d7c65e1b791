"""``plan.gpkg``: every layer of a run in one GeoPackage for QGIS/ArcGIS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["write_gpkg", "GPKG_LAYERS", "one_geometry_type"]

#: Layer names in plan.gpkg.
GPKG_LAYERS = ("communities", "cells", "facilities", "sites", "candidates", "catchments",
               "rings")


def _qgis_friendly(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == bool:
            out[col] = out[col].astype("int32")
        elif col == "phase":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int32")
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


#: GDAL settings while plan.gpkg is written: a fixed timestamp (reruns give identical
#: files) and no SQLite journal or fsync per transaction — the file is new, in the run's
#: temporary folder, which is discarded when anything fails, and no other output is
#: synced either; on a busy disk the syncs alone took most of the write.
_GDAL_OPTIONS = {
    "OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z",
    "OGR_SQLITE_SYNCHRONOUS": "OFF",
    "OGR_SQLITE_JOURNAL": "OFF",
}


def write_gpkg(path: Path, result: Result) -> None:
    """Write the run's layers (EPSG:4326) to one GeoPackage with fixed timestamps, so
    reruns give identical files."""
    from pyogrio import get_gdal_config_option, set_gdal_config_options

    before = {k: get_gdal_config_option(k) for k in _GDAL_OPTIONS}
    set_gdal_config_options(_GDAL_OPTIONS)
    try:
        _write_layers(path, result)
    finally:
        # the journal and sync settings go back (None unsets); the date stays, as before
        set_gdal_config_options({k: v for k, v in before.items() if k != "OGR_CURRENT_DATE"})


def _write_layers(path: Path, result: Result) -> None:
    layers = {
        "communities": result.communities,
        "cells": result.demand,
        "facilities": result.facilities,
        "sites": result.sites,
        "candidates": result.candidates,
        "catchments": result.catchments,
        "rings": result.rings,
    }
    for name, gdf in layers.items():
        if gdf is None or len(gdf) == 0:
            continue
        for part, one in one_geometry_type(name, _qgis_friendly(gdf.to_crs(4326))).items():
            one.to_file(path, layer=part, driver="GPKG", geometry_type=_declared(one))


_FAMILY = {"Point": "points", "MultiPoint": "points", "LineString": "lines",
           "MultiLineString": "lines", "Polygon": "polygons", "MultiPolygon": "polygons"}
_MULTI = {"points": "MultiPoint", "lines": "MultiLineString", "polygons": "MultiPolygon"}


def _declared(gdf: gpd.GeoDataFrame) -> str:
    types = set(gdf.geometry.dropna().geom_type)
    return types.pop() if len(types) == 1 else "Unknown"


def one_geometry_type(name: str, gdf: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """The layer as layers of one geometry type each, for ArcGIS (which refuses mixed
    layers) and QGIS (which splits them itself).

    Single and multi parts of one family become the multi type (Polygon + MultiPolygon →
    MultiPolygon). A layer mixing families (points and polygons, say, as OSM sources give)
    is split into ``<name>_points``, ``<name>_lines`` and ``<name>_polygons``; rows without
    geometry stay with the first of them.
    """
    import shapely

    geoms = gdf.geometry
    fam = geoms.geom_type.map(_FAMILY)
    families = sorted(set(fam.dropna()), key=["points", "lines", "polygons"].index)
    if not families:
        return {name: gdf}
    out = {}
    for i, f in enumerate(families):
        rows = (fam == f) | (fam.isna() if i == 0 else False)
        part = gdf[rows.to_numpy()].copy()
        g = part.geometry
        if g.dropna().geom_type.nunique() > 1:
            single = g.geom_type.isin(["Point", "LineString", "Polygon"]).to_numpy()
            arr = g.to_numpy().copy()
            maker = {"points": shapely.multipoints, "lines": shapely.multilinestrings,
                     "polygons": shapely.multipolygons}[f]
            arr[single] = [maker([x]) for x in arr[single]]
            part = part.set_geometry(gpd.GeoSeries(arr, index=part.index, crs=gdf.crs))
        out[name if len(families) == 1 else f"{name}_{f}"] = part
    return out

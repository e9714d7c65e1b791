"""``plan.gpkg``: every layer of a run in one GeoPackage for QGIS/ArcGIS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from facplan.result import Result

__all__ = ["write_gpkg", "GPKG_LAYERS"]

#: Layer names in plan.gpkg.
GPKG_LAYERS = ("communities", "cells", "facilities", "sites", "candidates", "catchments")


def _qgis_friendly(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.copy()
    for col in out.columns:
        if col == out.geometry.name:
            continue
        if out[col].dtype == bool:
            out[col] = out[col].astype("int32")
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
    }
    for name, gdf in layers.items():
        if gdf is None or len(gdf) == 0:
            continue
        _qgis_friendly(gdf.to_crs(4326)).to_file(path, layer=name, driver="GPKG")

"""``plan.gpkg``: every layer of a run in one GeoPackage for QGIS/ArcGIS."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd

if TYPE_CHECKING:
    from facplan.pipeline import Result

__all__ = ["write_gpkg", "GPKG_LAYERS"]

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
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def write_gpkg(path: Path, result: Result) -> None:
    """Write the run's layers (EPSG:4326) to one GeoPackage with fixed timestamps, so
    reruns give identical files."""
    from pyogrio import set_gdal_config_options

    set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    layers = {
        "communities": result.communities,
        "cells": result.demand,
        "facilities": result.facilities,
        "sites": result.sites.drop(columns=["_row"], errors="ignore"),
        "candidates": result.candidates,
        "catchments": result.catchments,
        "rings": result.rings,
    }
    for name, gdf in layers.items():
        if gdf is None or len(gdf) == 0:
            continue
        _qgis_friendly(gdf.to_crs(4326)).to_file(path, layer=name, driver="GPKG")

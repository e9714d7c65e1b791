"""Deterministic GeoJSON, CSV and JSON writers.

Reruns of the same inputs must give byte-identical files, so these writers fix the float
formatting (coordinates to 7 decimals ≈ 1 cm, other floats to 4 decimals), the property
order (the frame's column order) and the feature order (the frame's row order).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

__all__ = ["write_geojson", "write_csv", "write_json", "clean_value"]

COORD_DECIMALS = 7
VALUE_DECIMALS = 4


def clean_value(v: Any, decimals: int = VALUE_DECIMALS) -> Any:
    """A JSON-ready value: numpy scalars to Python, NaN/inf to None, floats rounded."""
    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float):
        if not math.isfinite(v):
            return None
        r = round(v, decimals)
        return 0.0 if r == 0 else r
    if isinstance(v, dict):
        return {str(k): clean_value(x, decimals) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean_value(x, decimals) for x in v]
    if v is pd.NA or v is pd.NaT:
        return None
    return v


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON with rounded floats and a final newline."""
    text = json.dumps(clean_value(data, 6), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def write_geojson(path: Path, gdf: gpd.GeoDataFrame) -> None:
    """Write ``gdf`` as GeoJSON in EPSG:4326 (RFC 7946), deterministically.

    Geometries are serialised in one vectorised GEOS call; properties with fixed float
    rounding, in the frame's column order.
    """
    g = gdf.to_crs(4326) if gdf.crs is not None else gdf
    geoms = shapely.transform(
        g.geometry.values, lambda c: np.round(c, COORD_DECIMALS)
    )
    geo_json = shapely.to_geojson(geoms)
    props = [c for c in g.columns if c != g.geometry.name]
    records = g[props].to_dict(orient="records")
    parts = []
    for rec, gj in zip(records, geo_json, strict=True):
        p = json.dumps({k: clean_value(v) for k, v in rec.items()}, ensure_ascii=False,
                       allow_nan=False, separators=(",", ":"))
        parts.append(
            '{"type":"Feature","properties":' + p + ',"geometry":'
            + ("null" if gj is None else gj) + "}"
        )
    text = '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}\n"
    Path(path).write_text(text, encoding="utf-8")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """Write a table (without geometry) as UTF-8 CSV with a byte-order mark (so Excel on
    Chinese Windows reads the names right) and fixed float formatting."""
    df = pd.DataFrame(df).drop(columns=["geometry"], errors="ignore")
    df.to_csv(path, index=False, float_format=f"%.{VALUE_DECIMALS}f", encoding="utf-8-sig")

"""Deterministic GeoJSON, CSV and JSON writers.

Reruns of the same inputs must give byte-identical files, so these writers fix the float
formatting (coordinates to 7 decimals ≈ 1 cm, other floats to 4 decimals), the property
order (the frame's column order) and the feature order (the frame's row order).
"""

from __future__ import annotations

import functools
import json
import math
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from facplan.escape import csv_safe

__all__ = ["write_geojson", "write_csv", "write_json", "clean_value", "round_values"]

COORD_DECIMALS = 7
VALUE_DECIMALS = 4

_dumps = functools.partial(
    json.dumps, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


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


def round_values(x: Any, decimals: int) -> np.ndarray:
    """Python's ``round(v, decimals)`` of every value, vectorised.

    ``np.round`` scales, rounds and unscales in floating point, so next to a tie it may
    round the other way than Python, which rounds the exact binary value (half to even).
    Here ``rint(v·10^d)`` is used only where the scaled value cannot be on the other side
    of a tie (it is off by at most half an ulp, so any value further than a whole ulp from
    a tie, and below 2^52, is safe); then ``rint(v·10^d) / 10^d`` is the correctly rounded
    quotient, as in Python. The few other values are rounded by Python itself.

    Parameters
    ----------
    x
        Numbers (array-like, cast to float64); NaN and ±inf pass through.
    decimals
        Decimal places, 0 to 15.

    Returns
    -------
    numpy.ndarray
        float64, the shape of ``x``; ``-0.0`` where Python gives ``-0.0``.
    """
    x = np.asarray(x, dtype=float)
    scale = 10.0**decimals
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.abs(x) * scale
        safe = (y < 2.0**52) & (np.abs(y - np.floor(y) - 0.5) > y * 2.0**-52)
        out = np.rint(x * scale) / scale
    for i in np.flatnonzero(np.isfinite(x) & ~safe):
        out.flat[i] = round(float(x.flat[i]), decimals)
    return out


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as indented JSON with rounded floats and a final newline."""
    text = json.dumps(clean_value(data, 6), indent=2, ensure_ascii=False, allow_nan=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def _value_json(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, str):
        return encode_basestring(v)
    return _dumps(clean_value(v))


def _column_json(values: pd.Series) -> list[str]:
    """``json.dumps(clean_value(v))`` of every value of a column (vectorised for numpy
    floats, ints and bools; value by value for anything else)."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else None
    if kind == "f":
        x = values.to_numpy()
        text = list(map(repr, (round_values(x, VALUE_DECIMALS) + 0.0).tolist()))  # no -0.0
        for i in np.flatnonzero(~np.isfinite(x)):
            text[i] = "null"
        return text
    if kind in ("i", "u"):
        return list(map(str, values.tolist()))
    if kind == "b":
        return np.where(values.to_numpy(), "true", "false").tolist()
    objs = values.to_numpy(dtype=object).tolist()
    inferred = pd.api.types.infer_dtype(objs, skipna=False)
    if inferred == "string":  # ids and names: str only (the common case, C speed)
        return list(map(encode_basestring, objs))
    if inferred == "empty" or (inferred == "mixed" and all(v is None for v in objs)):
        return ["null"] * len(objs)
    return [_value_json(v) for v in objs]


def write_geojson(path: Path, gdf: gpd.GeoDataFrame) -> None:
    """Write ``gdf`` as GeoJSON in EPSG:4326 (RFC 7946), deterministically.

    Geometries are serialised in one vectorised GEOS call; properties column by column,
    floats rounded to :data:`VALUE_DECIMALS` (as :func:`clean_value`), in the frame's
    column order.
    """
    g = gdf.to_crs(4326) if gdf.crs is not None else gdf
    geoms = shapely.transform(
        g.geometry.values, lambda c: np.round(c, COORD_DECIMALS)
    )
    geometry = ["null" if s is None else s for s in shapely.to_geojson(geoms).tolist()]
    columns = [(k, v) for k, v in g.items() if k != g.geometry.name]
    # '"name":%s' per property; the key spelled as json.dumps spells dict keys
    keys = [_dumps({k: None})[1:-len(":null}")].replace("%", "%%") + ":%s" for k, _ in columns]
    feature = '{"type":"Feature","properties":{' + ",".join(keys) + '},"geometry":%s}'
    values = [_column_json(v) for _, v in columns]
    features = [feature % row for row in zip(*values, geometry, strict=True)]
    text = '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}\n"
    Path(path).write_text(text, encoding="utf-8")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """Write a table (without geometry) as UTF-8 CSV with a byte-order mark (so Excel on
    Chinese Windows reads the names right) and fixed float formatting."""
    df = csv_safe(pd.DataFrame(df).drop(columns=["geometry"], errors="ignore"))  # no formulas
    df.to_csv(path, index=False, float_format=f"%.{VALUE_DECIMALS}f", encoding="utf-8-sig")

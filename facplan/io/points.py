"""Points from CSV tables of longitude/latitude (POI exports of Baidu, Amap, …)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from facplan._errors import InputError
from facplan.io.vector import numeric_field, require_fields

__all__ = ["read_csv_points", "is_csv"]


def is_csv(spec: Any) -> bool:
    """True when ``spec`` reads a CSV (or .txt) file."""
    path = getattr(spec, "path", None)
    return (getattr(spec, "postgis", None) is None and path is not None
            and path.suffix.lower() in (".csv", ".txt"))


def read_csv_points(spec: Any, *, key: str) -> gpd.GeoDataFrame:
    """Read a CSV of points: ``spec.lon``/``spec.lat`` columns (default ``lon``/``lat``)
    in ``spec.crs`` (default EPSG:4326), text in ``spec.encoding`` (default UTF-8,
    with or without a byte-order mark).

    Raises
    ------
    InputError
        Unreadable file, no rows, missing or non-numeric coordinate columns, longitude
        or latitude out of range (rows from 1).
    """
    where = str(spec.path)
    encoding = getattr(spec, "encoding", None) or "utf-8-sig"
    try:
        df = pd.read_csv(spec.path, encoding=encoding)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"cannot decode this CSV file as {encoding} ({exc.reason} at byte {exc.start}); "
            "set the source's 'encoding' (e.g. encoding: gbk)",
            file=where, field=f"{key}.encoding",
        ) from None
    except Exception as exc:
        raise InputError(f"cannot read this CSV file ({exc})", file=where) from None
    if len(df) == 0:
        raise InputError("the file has no rows", file=where)
    lon = getattr(spec, "lon", None) or "lon"
    lat = getattr(spec, "lat", None) or "lat"
    require_fields(df, {f"{key}.lon": lon, f"{key}.lat": lat}, where)
    x = numeric_field(df, lon, where, allow_negative=True)
    y = numeric_field(df, lat, where, allow_negative=True)
    crs = getattr(spec, "crs", None) or "EPSG:4326"
    if str(crs).upper() in ("EPSG:4326", "4326", "EPSG:4490", "4490"):
        bad = (np.abs(x) > 180) | (np.abs(y) > 90)
        if bad.any():
            raise InputError(
                f"{int(bad.sum())} points have longitude/latitude out of range; are '{lon}' "
                f"and '{lat}' swapped or not in degrees (set '{key}.crs')?",
                file=where, field=f"{lon}/{lat}", rows=(np.flatnonzero(bad) + 1).tolist(),
            )
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(x, y), crs=crs)

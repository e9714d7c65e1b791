"""Choosing and checking the scenario's projected CRS."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
from pyproj import CRS
from pyproj.exceptions import CRSError

from facplan._errors import InputError

__all__ = ["choose_crs", "require_projected", "to_projected", "utm_crs"]


def utm_crs(sample: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """The WGS 84 UTM zone (EPSG:326zz north, 327zz south) of the centre of ``sample``.

    The zone :meth:`geopandas.GeoDataFrame.estimate_utm_crs` finds by querying the PROJ
    database with the centre of the bounds in lon/lat, computed directly from the 6°
    bands (a database query costs about 0.1 s).

    Raises
    ------
    InputError
        ``sample`` has no CRS, or its centre is beyond UTM's 80°S–84°N.
    """
    if sample.crs is None:
        raise InputError("the layer has no CRS, so no UTM zone can be chosen", field="crs")
    minx, miny, maxx, maxy = sample.total_bounds
    src = CRS.from_user_input(sample.crs)
    if not src.is_geographic:
        from pyproj import Transformer

        minx, miny, maxx, maxy = Transformer.from_crs(
            src, "EPSG:4326", always_xy=True
        ).transform_bounds(minx, miny, maxx, maxy)
    lat = (miny + maxy) / 2
    if minx > maxx:  # the bounds cross the antimeridian
        lon = ((minx + maxx + 360) / 2 + 180) % 360 - 180
    else:
        lon = (minx + maxx) / 2
    if not -80 <= lat <= 84:
        raise InputError(
            f"the study area's centre (latitude {lat:.1f}) is outside UTM's 80°S–84°N: "
            "set `crs:` to a projected EPSG code",
            field="crs",
        )
    zone = min(int((lon + 180) // 6), 59) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def choose_crs(setting: int | str, sample: gpd.GeoDataFrame, *, key: str = "crs") -> CRS:
    """The projected CRS the scenario works in.

    Parameters
    ----------
    setting
        ``"auto"`` (the local UTM zone of ``sample``) or an EPSG code.
    sample
        A layer of the study area, in any CRS, used for ``auto``.

    Raises
    ------
    InputError
        Unknown EPSG code, or a geographic CRS (degrees) where metres are needed.
    """
    if setting == "auto":
        return utm_crs(sample)
    try:
        crs = CRS.from_epsg(int(setting))
    except (CRSError, ValueError):
        raise InputError(f"unknown EPSG code {setting!r}", field=key) from None
    if not crs.is_projected:
        utm = utm_crs(sample)
        raise InputError(
            f"EPSG:{setting} ({crs.name}) is geographic (degrees), but distances need metres; "
            f"use a projected CRS such as EPSG:{utm.to_epsg()} ({utm.name}), a CGCS2000 "
            "Gauss-Kruger zone (EPSG:4534-4554), or 'auto'",
            field=key,
        )
    from facplan.io.vector import check_metre_crs

    check_metre_crs(crs, f"EPSG:{setting}", key.removesuffix(".crs") if key != "crs" else "")
    return crs


def to_projected(gdf: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to ``crs`` (no-op when already there)."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs) == crs:
        return gdf
    return gdf.to_crs(crs)


def require_projected(crs: Any, what: str) -> CRS:
    """``crs`` as a projected CRS, or an error saying that ``what`` needs metres."""
    try:
        out = CRS.from_user_input(crs)
    except Exception:
        raise InputError(f"unknown CRS {crs!r}", field="crs") from None
    if not out.is_projected:
        raise InputError(
            f"{what} needs a projected CRS in metres, got {out.name}", field="crs"
        )
    return out

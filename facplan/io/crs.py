"""Choosing and checking the scenario's projected CRS."""

from __future__ import annotations

import geopandas as gpd
from pyproj import CRS
from pyproj.exceptions import CRSError

from facplan._errors import InputError

__all__ = ["choose_crs", "to_projected"]


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
        crs = sample.estimate_utm_crs()
        return CRS.from_user_input(crs)
    try:
        crs = CRS.from_epsg(int(setting))
    except (CRSError, ValueError):
        raise InputError(f"unknown EPSG code {setting!r}", field=key) from None
    if not crs.is_projected:
        utm = sample.estimate_utm_crs()
        raise InputError(
            f"EPSG:{setting} ({crs.name}) is geographic (degrees), but distances need metres; "
            f"use a projected CRS such as EPSG:{utm.to_epsg()} ({utm.name}), a CGCS2000 "
            "Gauss-Kruger zone (EPSG:4534-4554), or 'auto'",
            field=key,
        )
    return crs


def to_projected(gdf: gpd.GeoDataFrame, crs: CRS) -> gpd.GeoDataFrame:
    """Reproject ``gdf`` to ``crs`` (no-op when already there)."""
    if gdf.crs is not None and CRS.from_user_input(gdf.crs) == crs:
        return gdf
    return gdf.to_crs(crs)

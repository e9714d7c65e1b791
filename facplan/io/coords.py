"""Chinese map-service coordinates: GCJ-02 (Amap/高德, Tencent, Google China) and BD-09
(Baidu/百度) to and from WGS84.

GCJ-02 is WGS84 shifted by a published, deterministic nonlinear offset (hundreds of
metres); BD-09 is a further shift of GCJ-02. Points given by Chinese map services must be
converted before they meet OpenStreetMap networks or WGS84/CGCS2000 data, or every site
lands a few hundred metres off.

The forward formulas are the widely used open-source ones (e.g. ``eviltransform``,
``coordtransform``): Krasovsky ellipsoid ``a = 6378245.0 m``, ``ee = 0.00669342162296594323``,
BD-09 constant ``x_pi = π × 3000 / 180``. GCJ-02 → WGS84 has no closed form: it is solved
by fixed-point iteration until the forward transform of the result is within
:data:`INVERSE_TOL_DEG` of the input (≈ 1e-5 m). BD-09 → GCJ-02 starts from Baidu's
published closed-form inverse (good to ≈ 1e-6°) and is refined the same way, so every
round trip closes to better than 1e-9°.

Outside China (the usual ``out_of_china`` box: longitude 73.66–135.05 °E, latitude
3.86–53.55 °N, both open) every function returns the input unchanged, as the map
services there use WGS84. The box is tested on each function's *input* point; it is a
rectangle, not the border (Mongolia, parts of Korea and Japan and most of Southeast Asia
down to 3.86 °N are inside it, Taiwan and Hong Kong too).

All functions take scalars or array-likes of longitudes and latitudes in degrees (any
matching shapes) and return ``(lon, lat)`` as float arrays of that shape (0-d for scalars).
"""

from __future__ import annotations

from typing import Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS

from facplan._errors import InputError

__all__ = [
    "gcj02_to_wgs84",
    "wgs84_to_gcj02",
    "bd09_to_gcj02",
    "gcj02_to_bd09",
    "bd09_to_wgs84",
    "wgs84_to_bd09",
    "out_of_china",
    "convert_points",
    "COORDINATE_SYSTEMS",
    "INVERSE_TOL_DEG",
    "OFFSET_MEDIAN_M",
    "offset_warning",
]

#: A point source whose median snap distance exceeds this (metres) looks shifted.
OFFSET_MEDIAN_M = 100.0

#: Coordinate systems :func:`convert_points` accepts.
COORDINATE_SYSTEMS = ("wgs84", "gcj02", "bd09")
#: Largest error of the iterative GCJ-02 → WGS84 inverse, degrees (≈ 1e-5 m).
INVERSE_TOL_DEG = 1e-10
_MAX_ITER = 50

_A_M = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0
_BD_DX = 0.0065
_BD_DY = 0.006
_CHINA_LON = (73.66, 135.05)
_CHINA_LAT = (3.86, 53.55)

Array = NDArray[np.float64]


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return x.astype(float, copy=True), y.astype(float, copy=True)


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """True where a point (degrees) lies outside the GCJ-02 box (and for NaN)."""
    x, y = _arrays(lon, lat)
    inside = (x > _CHINA_LON[0]) & (x < _CHINA_LON[1]) & (y > _CHINA_LAT[0]) & (y < _CHINA_LAT[1])
    return ~inside


def _delta(lon: Array, lat: Array) -> tuple[Array, Array]:
    """GCJ-02 offset (degrees) at WGS84 ``lon``, ``lat``."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
    dlat += common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
    dlon += common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A_M * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A_M / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _out(x: Array, y: Array) -> tuple[Array, Array]:
    if x.ndim == 0:
        return x[()], y[()]
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84 → GCJ-02 (degrees); unchanged outside China.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(116.404, 39.915)  # central Beijing
    >>> round(float(lon), 8), round(float(lat), 8)
    (116.4102445, 39.91640428)
    """
    x, y = _arrays(lon, lat)
    inside = ~out_of_china(x, y)
    dx, dy = _delta(x[inside], y[inside])
    x[inside] += dx
    y[inside] += dy
    return _out(x, y)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → WGS84 (degrees) by fixed-point iteration; unchanged outside China.

    The result ``w`` satisfies ``|wgs84_to_gcj02(w) − input| < INVERSE_TOL_DEG`` in both
    coordinates (the offset field is smooth and varies slowly, so each step gains about
    five digits; three or four steps suffice).
    """
    gx, gy = _arrays(lon, lat)
    x, y = gx.copy(), gy.copy()
    todo = ~out_of_china(gx, gy)
    tx, ty = gx[todo], gy[todo]
    wx, wy = tx.copy(), ty.copy()
    for _ in range(_MAX_ITER):
        dx, dy = _delta(wx, wy)
        ex = wx + dx - tx
        ey = wy + dy - ty
        wx -= ex
        wy -= ey
        if not len(ex) or max(np.abs(ex).max(), np.abs(ey).max()) < INVERSE_TOL_DEG:
            break
    x[todo], y[todo] = wx, wy
    return _out(x, y)


def _gcj_to_bd(gx: Array, gy: Array) -> tuple[Array, Array]:
    z = np.sqrt(gx * gx + gy * gy) + 0.00002 * np.sin(gy * _X_PI)
    theta = np.arctan2(gy, gx) + 0.000003 * np.cos(gx * _X_PI)
    return z * np.cos(theta) + _BD_DX, z * np.sin(theta) + _BD_DY


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → BD-09 (degrees); unchanged outside China."""
    x, y = _arrays(lon, lat)
    inside = ~out_of_china(x, y)
    x[inside], y[inside] = _gcj_to_bd(x[inside], y[inside])
    return _out(x, y)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 → GCJ-02 (degrees); unchanged outside China.

    Baidu's published inverse is only good to about 1e-6° (0.1 m); it is the starting
    point of a fixed-point iteration that makes :func:`gcj02_to_bd09` of the result equal
    the input within :data:`INVERSE_TOL_DEG`.
    """
    x, y = _arrays(lon, lat)
    inside = ~out_of_china(x, y)
    tx, ty = x[inside], y[inside]
    bx, by = tx - _BD_DX, ty - _BD_DY
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(_MAX_ITER):
        fx, fy = _gcj_to_bd(gx, gy)
        ex, ey = fx - tx, fy - ty
        gx -= ex
        gy -= ey
        if not len(ex) or max(np.abs(ex).max(), np.abs(ey).max()) < INVERSE_TOL_DEG:
            break
    x[inside], y[inside] = gx, gy
    return _out(x, y)


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 → WGS84 (degrees); unchanged outside China."""
    x, y = _arrays(lon, lat)
    inside = ~out_of_china(x, y)
    gx, gy = bd09_to_gcj02(x[inside], y[inside])
    x[inside], y[inside] = gcj02_to_wgs84(gx, gy)
    return _out(x, y)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84 → BD-09 (degrees); unchanged outside China."""
    x, y = _arrays(lon, lat)
    inside = ~out_of_china(x, y)
    gx, gy = wgs84_to_gcj02(x[inside], y[inside])
    x[inside], y[inside] = gcj02_to_bd09(gx, gy)
    return _out(x, y)


_TO_WGS84 = {"gcj02": gcj02_to_wgs84, "bd09": bd09_to_wgs84}


def _wgs84_like(crs: CRS) -> bool:
    """Geographic, Greenwich, degrees, on an ellipsoid within 1 m of WGS84's (WGS84,
    CGCS2000/EPSG:4490, ITRF/ETRS89/NAD83 realisations)."""
    if not crs.is_geographic:
        return False
    ell = crs.ellipsoid
    pm = crs.prime_meridian
    unit = crs.axis_info[0].unit_name if crs.axis_info else "degree"
    return (
        ell is not None
        and abs(ell.semi_major_metre - 6378137.0) < 1.0
        and abs(ell.inverse_flattening - 298.257) < 0.01
        and (pm is None or abs(pm.longitude) < 1e-12)
        and unit.startswith("deg")
    )


def convert_points(
    gdf: gpd.GeoDataFrame,
    coords: Literal["wgs84", "gcj02", "bd09"] | str,
    *,
    where: str | None = None,
) -> gpd.GeoDataFrame:
    """Convert a layer given in map-service coordinates to WGS84 (EPSG:4326).

    Parameters
    ----------
    gdf
        Points (or any geometries: every vertex is shifted) whose longitude/latitude are
        in ``coords``. Its CRS must be geographic on a WGS84-like ellipsoid (EPSG:4326,
        EPSG:4490 CGCS2000, …): GCJ-02 and BD-09 have no EPSG code, so files from Chinese
        map services are usually labelled EPSG:4326 and that is accepted.
    coords
        ``"wgs84"`` (nothing to shift), ``"gcj02"`` (Amap/高德, Tencent, Google China) or
        ``"bd09"`` (Baidu/百度).
    where
        The file or scenario key, for messages.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with the same columns and index, geometries in EPSG:4326 (WGS84).

    Raises
    ------
    InputError
        Unknown ``coords``; no CRS; a projected CRS or one on another ellipsoid (e.g.
        Beijing 1954, Xian 1980 — reproject it to CGCS2000 first); longitude or latitude
        out of range (rows from 1).
    """
    key = str(coords).strip().lower().replace("-", "").replace("_", "")
    aliases = {"wgs84": "wgs84", "gcj02": "gcj02", "gcj": "gcj02", "bd09": "bd09", "bd": "bd09"}
    if key not in aliases:
        raise InputError(
            f"unknown coordinate system {coords!r}; use one of {', '.join(COORDINATE_SYSTEMS)}",
            file=where, field="coords",
        )
    key = aliases[key]
    if gdf.crs is None:
        raise InputError(
            "the layer has no CRS; label it EPSG:4326 (longitude/latitude in degrees)",
            file=where, field="coords",
        )
    crs = CRS.from_user_input(gdf.crs)
    if not _wgs84_like(crs):
        raise InputError(
            f"coords: {key} needs longitude/latitude on the WGS84/CGCS2000 ellipsoid, but the "
            f"layer's CRS is {crs.name}; reproject it to EPSG:4326 or EPSG:4490 first",
            file=where, field="coords",
        )
    out = gdf.copy()
    geom = out.geometry.values
    xy = shapely.get_coordinates(geom)
    if len(xy):
        n_per = shapely.get_num_coordinates(geom)
        row = np.repeat(np.arange(len(geom)), n_per)
        bad = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90) | ~np.isfinite(xy).all(axis=1)
        if bad.any():
            rows = np.unique(row[bad]) + 1
            raise InputError(
                f"{len(rows)} features have longitude/latitude out of range (first: "
                f"{xy[bad][0, 0]:g}, {xy[bad][0, 1]:g}); are the coordinates projected or "
                "swapped?",
                file=where, field="geometry", rows=rows.tolist(),
            )
    if key not in _TO_WGS84:
        return out.to_crs(4326)
    fn = _TO_WGS84[key]

    def shift(c: np.ndarray) -> np.ndarray:
        x, y = fn(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    name = out.geometry.name
    out[name] = gpd.GeoSeries(shapely.transform(geom, shift), index=out.index, crs=out.crs)
    # GCJ-02/BD-09 are offsets from WGS84 itself, whatever label the file carried
    return out.set_crs(4326, allow_override=True)


def offset_warning(
    key: str, x: np.ndarray, y: np.ndarray, snap_m: np.ndarray, *, crs: Any,
    network_xy: tuple[np.ndarray, np.ndarray], coords: str = "wgs84",
) -> str | None:
    """A warning when a point source in China lies systematically off the network.

    Parameters
    ----------
    key
        The source's scenario key (``facilities.0``, ``candidates.0``, ``population``).
    x, y
        (N,) its points in ``crs`` (projected, metres).
    snap_m
        (N,) their connector lengths, metres (NaN: not attached).
    network_xy
        The network's node coordinates in ``crs``: the source counts as covered when
        most of its points lie inside the nodes' bounding box.
    coords
        The source's ``coords`` setting (the warning suggests the other systems).

    Returns
    -------
    str or None
        The message when the median connector exceeds :data:`OFFSET_MEDIAN_M` (unsnapped
        points count as infinitely far), most points are inside the network's extent and
        in China (GCJ-02 box); else None.
    """
    from pyproj import Transformer

    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return None
    nx_, ny_ = network_xy
    if len(nx_) == 0:
        return None
    inside = (x >= nx_.min()) & (x <= nx_.max()) & (y >= ny_.min()) & (y <= ny_.max())
    if inside.mean() < 0.8:
        return None
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    if out_of_china(lon, lat).mean() > 0.5:
        return None
    d = np.where(np.isnan(snap_m), np.inf, snap_m)[inside]
    median = float(np.median(d))
    if not median > OFFSET_MEDIAN_M:
        return None
    shown = "beyond max_snap_m" if np.isinf(median) else f"{median:.0f} m"
    other = [c for c in ("gcj02", "bd09") if c != coords]
    return (
        f"{key}: the median distance from its {int(inside.sum())} points to the walking "
        f"network is {shown}, though the network covers them: points from Chinese map "
        "services are in GCJ-02 (Amap/高德, Tencent) or BD-09 (Baidu/百度), not WGS84, "
        f"and land hundreds of metres off; set `coords: {other[0]}`"
        + (f" or `coords: {other[1]}`" if len(other) > 1 else "")
        + f" on {key} (now coords: {coords})"
    )

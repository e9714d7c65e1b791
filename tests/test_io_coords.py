"""GCJ-02 / BD-09 conversions against published pairs and an independent implementation."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from facplan import InputError
from facplan.io.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_points,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

# -- an independent scalar implementation, written from the published formula -----------
# (wandergis/coordtransform, eviltransform): Krasovsky a, ee; offsets centred at 105E, 35N.

A = 6378245.0
EE = 0.00669342162296594323
XPI = math.pi * 3000.0 / 180.0


def _tlat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _tlng(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def ref_wgs_to_gcj(lng, lat):
    if not (73.66 < lng < 135.05 and 3.86 < lat < 53.55):
        return lng, lat
    dlat = _tlat(lng - 105.0, lat - 35.0)
    dlng = _tlng(lng - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sm = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sm) * math.pi)
    dlng = (dlng * 180.0) / (A / sm * math.cos(rad) * math.pi)
    return lng + dlng, lat + dlat


def ref_gcj_to_bd(lng, lat):
    z = math.sqrt(lng * lng + lat * lat) + 0.00002 * math.sin(lat * XPI)
    t = math.atan2(lat, lng) + 0.000003 * math.cos(lng * XPI)
    return z * math.cos(t) + 0.0065, z * math.sin(t) + 0.006


def ref_bd_to_gcj(lng, lat):
    x, y = lng - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * XPI)
    t = math.atan2(y, x) - 0.000003 * math.cos(x * XPI)
    return z * math.cos(t), z * math.sin(t)


@pytest.fixture(scope="module")
def china_grid():
    """2,000 seeded points across mainland China's populated band (lon 75-134, lat 18-53)."""
    rng = np.random.default_rng(20240601)
    return rng.uniform(75.0, 134.0, 2000), rng.uniform(18.0, 53.0, 2000)


# -- published pairs (wandergis/coordtransform README, input 116.404, 39.915) -----------


def test_published_pairs():
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx(
        (116.41024449916938, 39.91640428150164), abs=1e-12
    )
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx(
        (116.41036949371029, 39.92133699351021), abs=1e-12
    )
    # Baidu's closed-form inverse is good to ~1e-6 deg; ours refines it to exact
    lon, lat = bd09_to_gcj02(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.39762729119315, 39.90865673957631), abs=2e-6)
    assert gcj02_to_bd09(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)
    # the README's GCJ->WGS is the one-step approximation (~5 cm off); ours iterates
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert (lon, lat) == pytest.approx((116.39775550083061, 39.91359571849836), abs=1e-6)
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_matches_independent_implementation(china_grid):
    lon, lat = china_grid
    gx, gy = wgs84_to_gcj02(lon, lat)
    bx, by = gcj02_to_bd09(gx, gy)
    for i in range(0, len(lon), 37):
        assert (gx[i], gy[i]) == pytest.approx(ref_wgs_to_gcj(lon[i], lat[i]), abs=1e-12)
        assert (bx[i], by[i]) == pytest.approx(ref_gcj_to_bd(gx[i], gy[i]), abs=1e-12)
        assert bd09_to_gcj02(bx[i], by[i]) == pytest.approx(
            ref_bd_to_gcj(bx[i], by[i]), abs=2e-6
        )
    # the offset is real: 100-700 m somewhere in China
    shift = np.hypot(gx - lon, gy - lat)
    assert shift.min() > 1e-4 and shift.max() < 1e-2


def test_gcj_round_trip(china_grid):
    lon, lat = china_grid
    wx, wy = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(wx - lon).max() < 1e-7 and np.abs(wy - lat).max() < 1e-7
    # and the inverse solves the forward map (GCJ points as given)
    gx, gy = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.abs(gx - lon).max() < 1e-7 and np.abs(gy - lat).max() < 1e-7


def test_bd_round_trip(china_grid):
    lon, lat = china_grid
    gx, gy = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert np.abs(gx - lon).max() < 1e-7 and np.abs(gy - lat).max() < 1e-7
    wx, wy = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert np.abs(wx - lon).max() < 1e-7 and np.abs(wy - lat).max() < 1e-7
    bx, by = wgs84_to_bd09(*bd09_to_wgs84(lon, lat))
    assert np.abs(bx - lon).max() < 1e-7 and np.abs(by - lat).max() < 1e-7


def test_outside_china_unchanged():
    lon = np.array([24.94, -46.63, 9.52, 135.5, 116.4, 151.2])
    lat = np.array([60.17, -23.55, 47.14, 34.7, 2.0, -33.9])
    assert out_of_china(lon, lat).all()
    for fn in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02, bd09_to_wgs84):
        x, y = fn(lon, lat)
        assert np.array_equal(x, lon) and np.array_equal(y, lat)


def test_shapes_and_scalars():
    x, y = wgs84_to_gcj02(116.404, 39.915)
    assert np.ndim(x) == 0 and isinstance(float(x), float)
    x, y = gcj02_to_wgs84(np.full((2, 3), 116.404), 39.915)  # broadcasting
    assert x.shape == y.shape == (2, 3)
    lon = np.array([116.404])
    wgs84_to_gcj02(lon, np.array([39.915]))
    assert lon[0] == 116.404  # inputs are not modified


# -- convert_points ----------------------------------------------------------------------


def test_convert_points_gcj_and_bd():
    wgs = [(116.404, 39.915), (121.4737, 31.2304), (24.94, 60.17)]
    gcj = [tuple(map(float, wgs84_to_gcj02(*p))) for p in wgs]
    layer = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=[Point(p) for p in gcj],
                             crs=4326, index=[10, 11, 12])
    out = convert_points(layer, "gcj02")
    assert out.crs.to_epsg() == 4326
    assert out.index.tolist() == [10, 11, 12] and out["name"].tolist() == ["a", "b", "c"]
    got = np.column_stack([out.geometry.x, out.geometry.y])
    assert np.abs(got - np.array(wgs)).max() < 1e-7
    assert layer.geometry.iloc[0].x == gcj[0][0]  # the input is untouched

    bd = [tuple(map(float, wgs84_to_bd09(*p))) for p in wgs]
    layer_bd = gpd.GeoDataFrame(geometry=[Point(p) for p in bd], crs="EPSG:4490")
    out = convert_points(layer_bd, "BD-09")
    got = np.column_stack([out.geometry.x, out.geometry.y])
    assert np.abs(got - np.array(wgs)).max() < 1e-7
    assert out.crs.to_epsg() == 4326


def test_convert_lines_vertexwise():
    line = LineString([wgs84_to_gcj02(116.40, 39.90), wgs84_to_gcj02(116.41, 39.92)])
    out = convert_points(gpd.GeoDataFrame(geometry=[line], crs=4326), "gcj02")
    assert np.allclose(np.asarray(out.geometry.iloc[0].coords), [(116.40, 39.90), (116.41, 39.92)],
                       atol=1e-7)


def test_convert_wgs84_is_plain_reprojection():
    layer = gpd.GeoDataFrame(geometry=[Point(116.404, 39.915)], crs="EPSG:4490")
    out = convert_points(layer, "wgs84")
    assert out.crs.to_epsg() == 4326
    assert out.geometry.iloc[0].distance(Point(116.404, 39.915)) < 1e-7


def test_convert_rejects():
    pts = gpd.GeoDataFrame(geometry=[Point(116.404, 39.915)], crs=4326)
    with pytest.raises(InputError, match="unknown coordinate system"):
        convert_points(pts, "amap")
    with pytest.raises(InputError, match="no CRS"):
        convert_points(pts.set_crs(None, allow_override=True), "gcj02")
    with pytest.raises(InputError, match="WGS84/CGCS2000"):
        convert_points(pts.to_crs(32650), "gcj02")
    with pytest.raises(InputError, match="WGS84/CGCS2000"):
        convert_points(pts.set_crs(4214, allow_override=True), "gcj02")  # Beijing 1954
    bad = gpd.GeoDataFrame(geometry=[Point(116.4, 39.9), Point(39.9, 116.4)], crs=4326)
    with pytest.raises(InputError, match="out of range") as err:
        convert_points(bad, "gcj02", where="sites.csv")
    assert err.value.rows == [2] and err.value.file == "sites.csv"

"""k-means candidates on the Porto Alegre census hexagons (IPEA, via r5r)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from facplan import InputError
from facplan.io.generate import kmeans_candidates

from .conftest import shared_file

UTM22S = 32722


@pytest.fixture(scope="module")
def hexes():
    df = pd.read_csv(shared_file("porto_alegre", "poa_hexgrid.csv"))
    gdf = gpd.GeoDataFrame(
        {"cell_id": df["id"].astype(str), "population": df["population"].astype(float)},
        geometry=gpd.points_from_xy(df["lon"], df["lat"]),
        crs=4326,
    )
    return gdf.to_crs(UTM22S)


def test_columns_and_order(hexes):
    sites = kmeans_candidates(hexes, 12, seed=3)
    assert list(sites.columns) == ["site_id", "kind", "tier", "cost", "area_m2", "source",
                                   "population", "geometry"]
    assert sites["site_id"].tolist() == [f"kmeans-{i}" for i in range(12)]
    assert (sites["kind"] == "sports_park").all() and (sites["tier"] == "").all()
    assert (sites["cost"] == 0).all() and sites["area_m2"].isna().all()
    assert (sites["source"] == "kmeans").all()
    assert sites.crs.to_epsg() == 4326
    xy = sites.to_crs(UTM22S).geometry
    key = list(zip(xy.x.round(6), xy.y.round(6), strict=True))
    assert key == sorted(key)  # sorted by x, then y
    assert sites["population"].sum() == pytest.approx(hexes["population"].sum())
    other = kmeans_candidates(hexes, 3, kind="neighbourhood_centre")
    assert (other["kind"] == "neighbourhood_centre").all()


def test_deterministic(hexes):
    a = kmeans_candidates(hexes, 10, seed=7)
    b = kmeans_candidates(hexes, 10, seed=7)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert (a.geometry.x.to_numpy() == b.geometry.x.to_numpy()).all()
    assert (a.geometry.y.to_numpy() == b.geometry.y.to_numpy()).all()


def test_weighted_centroid_property(hexes):
    sites = kmeans_candidates(hexes, 15, seed=0)
    centres = sites.to_crs(UTM22S).geometry
    cx, cy = centres.x.to_numpy(), centres.y.to_numpy()
    cells = hexes[hexes["population"] > 0]
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    w = cells["population"].to_numpy()
    # assign each cell to its nearest centre, independently of scikit-learn
    d2 = (x[:, None] - cx[None, :]) ** 2 + (y[:, None] - cy[None, :]) ** 2
    label = d2.argmin(axis=1)
    for k in range(len(sites)):
        m = label == k
        assert m.any()
        assert np.average(x[m], weights=w[m]) == pytest.approx(cx[k], abs=1e-4)  # metres
        assert np.average(y[m], weights=w[m]) == pytest.approx(cy[k], abs=1e-4)
        assert w[m].sum() == pytest.approx(sites["population"].iloc[k])


def test_weights_pull_centres():
    # two far clusters; a heavy cell drags its cluster's centre towards itself
    pts = [Point(0, 0), Point(100, 0), Point(10_000, 0), Point(10_100, 0)]
    cells = gpd.GeoDataFrame({"population": [1.0, 9.0, 1.0, 1.0]}, geometry=pts, crs=UTM22S)
    sites = kmeans_candidates(cells, 2).to_crs(UTM22S)
    assert sites.geometry.x.tolist() == pytest.approx([90.0, 10_050.0])


def test_polygons_and_zero_population():
    cells = gpd.GeoDataFrame(
        {"population": [4.0, 0.0, 4.0]},
        geometry=[box(0, 0, 10, 10), box(500, 500, 510, 510), box(20, 0, 30, 10)],
        crs=UTM22S,
    )
    sites = kmeans_candidates(cells, 1).to_crs(UTM22S)
    assert sites.geometry.x.iloc[0] == pytest.approx(15.0)
    assert sites.geometry.y.iloc[0] == pytest.approx(5.0)
    with pytest.raises(InputError, match="only 2 distinct"):
        kmeans_candidates(cells, 3)


def test_errors(hexes):
    with pytest.raises(InputError, match="only"):
        kmeans_candidates(hexes.iloc[:5], 6)
    with pytest.raises(InputError, match="≥ 1"):
        kmeans_candidates(hexes, 0)
    with pytest.raises(InputError, match="projected"):
        kmeans_candidates(hexes.to_crs(4326), 3)
    bad = hexes.iloc[:5].copy()
    bad.loc[bad.index[2], "population"] = -3
    with pytest.raises(InputError, match="negative") as err:
        kmeans_candidates(bad, 2)
    assert err.value.rows == [3]

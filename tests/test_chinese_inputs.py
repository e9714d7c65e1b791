"""Inputs as a Chinese district gives them (DESIGN, *Coordinates and encodings*): POI CSVs
in BD-09/GCJ-02, GBK Shapefiles without .cpg, multi-layer GeoPackages, CRSs in feet,
facility kinds with no standard."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import facplan
from facplan._errors import InputError
from facplan.io.coords import wgs84_to_bd09, wgs84_to_gcj02
from facplan.scenario import scenario_from_dict
from facplan.validate import validate_inputs

CRS = "EPSG:32650"
X0, Y0 = 650_000.0, 3_830_000.0  # Luoyang, inside the GCJ-02 box
STEP = 1000.0
N = 6


def _sparse_city(folder):
    """A 6 × 6 street grid with 1 km blocks (sparse enough that a point shifted by a
    map service's offset lands far from every street), residents on the streets."""
    import osmnx

    g = nx.MultiDiGraph(crs=CRS)
    for i in range(N):
        for j in range(N):
            g.add_node(i * N + j, x=X0 + j * STEP, y=Y0 + i * STEP)
    for i in range(N):
        for j in range(N):
            a = i * N + j
            for b in ([a + 1] if j + 1 < N else []) + ([a + N] if i + 1 < N else []):
                g.add_edge(a, b, length=STEP)
                g.add_edge(b, a, length=STEP)
    osmnx.save_graphml(g, folder / "walk.graphml")
    rng = np.random.default_rng(11)
    # residents at street points
    k = 60
    along = rng.uniform(0, STEP * (N - 1), k)
    row = rng.integers(0, N, k)
    horiz = rng.uniform(size=k) < 0.5
    px = np.where(horiz, X0 + along, X0 + row * STEP)
    py = np.where(horiz, Y0 + row * STEP, Y0 + along)
    cells = gpd.GeoDataFrame({"cid": [f"c{i}" for i in range(k)],
                              "population": rng.integers(1, 50, k)},
                             geometry=gpd.points_from_xy(px, py), crs=CRS)
    cells.to_file(folder / "cells.gpkg")
    # POIs on streets in the south-west half (their shifted copies stay inside the grid)
    m = 14
    fx = X0 + STEP * rng.integers(0, 3, m) + rng.uniform(60, 340, m)
    fy = Y0 + STEP * rng.integers(0, 3, m)
    wgs = gpd.GeoSeries(gpd.points_from_xy(fx, fy), crs=CRS).to_crs(4326)
    return wgs.x.to_numpy(), wgs.y.to_numpy()


def _scenario(**facility):
    return {
        "name": "luoyang", "crs": 32650, "snap": "edge", "min_component_nodes": 1,
        "population": {"path": "cells.gpkg", "id_field": "cid"},
        "network": {"graphml": "walk.graphml"},
        "facilities": [{"id_field": "poi_id", "kind": "clinic", "tier": "all", **facility}],
        "standards": {"clinic": {"all": {"walk_m": 500}}},
        "map": {"tiles": "none"},
    }


def _write_pois(folder, lon, lat):
    ids = [f"poi{i}" for i in range(len(lon))]
    gpd.GeoDataFrame({"poi_id": ids}, geometry=gpd.points_from_xy(lon, lat), crs=4326).to_file(
        folder / "pois.geojson", driver="GeoJSON")
    blon, blat = wgs84_to_bd09(lon, lat)
    pd.DataFrame({"poi_id": ids, "名称": ["社区卫生服务站"] * len(ids), "lng": blon,
                  "lat": blat}).to_csv(folder / "pois_bd09.csv", index=False)
    glon, glat = wgs84_to_gcj02(lon, lat)
    pd.DataFrame({"poi_id": ids, "lon": glon, "lat": glat}).to_csv(
        folder / "pois_gcj02.csv", index=False)


def test_bd09_and_gcj02_csv_equal_wgs84_file(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    _write_pois(tmp_path, lon, lat)
    ref = facplan.run(scenario_from_dict(_scenario(path="pois.geojson"), base_dir=tmp_path))
    bd = facplan.run(scenario_from_dict(
        _scenario(path="pois_bd09.csv", lon="lng", lat="lat", coords="bd09"), base_dir=tmp_path))
    gcj = facplan.run(scenario_from_dict(
        _scenario(path="pois_gcj02.csv", coords="gcj02"), base_dir=tmp_path))
    want = ref.demand["dist_clinic_all"].to_numpy()
    assert np.isfinite(want).all()
    for res in (bd, gcj):
        np.testing.assert_allclose(res.demand["dist_clinic_all"].to_numpy(), want, atol=1e-3)
        assert not any("GCJ-02" in w for w in res.summary["warnings"])


def test_systematic_offset_warns_naming_coords(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    _write_pois(tmp_path, lon, lat)
    res = facplan.run(scenario_from_dict(
        _scenario(path="pois_bd09.csv", lon="lng", lat="lat"), base_dir=tmp_path))
    w = [x for x in res.summary["warnings"] if "GCJ-02" in x]
    assert len(w) == 1
    assert w[0].startswith("facilities.0: the median distance from its 14 points")
    assert "BD-09" in w[0] and "coords: gcj02" in w[0] and "coords: bd09" in w[0]
    # the median really is large: compare with an independent brute-force snap
    pts = gpd.GeoSeries(gpd.points_from_xy(*wgs84_to_bd09(lon, lat)), crs=4326).to_crs(CRS)
    gx = (pts.x.to_numpy() - X0) % STEP
    gy = (pts.y.to_numpy() - Y0) % STEP
    d = np.minimum.reduce([gx, STEP - gx, gy, STEP - gy])
    assert np.median(d) > 100


def _gbk_communities(folder, *, cpg: bool = False):
    names = ["中央路310号院", "花园小区"]
    gdf = gpd.GeoDataFrame({"sqdm": ["A", "B"], "sqmc": names},
                           geometry=[box(X0 - 200, Y0 - 200, X0 + 2500, Y0 + 5200),
                                     box(X0 + 2500, Y0 - 200, X0 + 5200, Y0 + 5200)],
                           crs=CRS)
    gdf.to_file(folder / "comm.shp", encoding="gbk")
    if not cpg:
        (folder / "comm.cpg").unlink()
    return names


def test_gbk_shapefile_without_cpg(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    _write_pois(tmp_path, lon, lat)
    names = _gbk_communities(tmp_path)
    data = _scenario(path="pois.geojson")
    data["communities"] = {"path": "comm.shp", "id_field": "sqdm", "name_field": "sqmc"}
    raw = gpd.read_file(tmp_path / "comm.shp")  # what GDAL makes of it
    assert raw["sqmc"].tolist()[0] == "ÖÐÑëÂ·310ºÅÔº"
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert res.communities["name"].tolist() == names
    w = [x for x in res.summary["warnings"] if "GBK" in x]
    assert len(w) == 1 and "`encoding: gbk`" in w[0] and "read it as GBK" in w[0]
    assert "communities.encoding" in w[0]
    data["communities"]["encoding"] = "gbk"
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert res.communities["name"].tolist() == names
    assert not any("GBK" in x for x in res.summary["warnings"])


def test_latin_names_are_not_mistaken_for_gbk(tmp_path):
    from facplan.io.vector import gbk_as_latin1

    assert gbk_as_latin1("ÖÐÑëÂ·310ºÅÔº") == "中央路310号院"
    for name in ("Mühleholz", "Schaan", "Hôtel-Dieu", "Ærøskøbing", "中央路"):
        assert gbk_as_latin1(name) is None


def test_unknown_encoding_is_a_scenario_error(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    _write_pois(tmp_path, lon, lat)
    with pytest.raises(InputError, match="facilities.0.encoding"):
        scenario_from_dict(_scenario(path="pois.geojson", encoding="gbkk"), base_dir=tmp_path)


def test_geopackage_with_several_layers_needs_layer(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    pois = gpd.GeoDataFrame({"poi_id": ["a", "b"]},
                            geometry=gpd.points_from_xy(lon[:2], lat[:2]), crs=4326)
    pois.to_file(tmp_path / "many.gpkg", layer="clinics")
    pois.to_file(tmp_path / "many.gpkg", layer="schools")
    data = _scenario(path="many.gpkg")
    with pytest.raises(InputError) as err:
        facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    msg = str(err.value)
    assert "2 layers (clinics, schools)" in msg and "facilities.0.layer" in msg
    assert any("clinics, schools" in p for p in validate_inputs(
        scenario_from_dict(data, base_dir=tmp_path)))
    data["facilities"][0]["layer"] = "schools"
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert sorted(res.facilities["facility_id"]) == ["a", "b"]


def test_projected_crs_in_feet_is_an_error(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    feet = gpd.GeoDataFrame({"poi_id": ["a"]}, geometry=[Point(6.5e6, 1.8e6)], crs=2229)
    feet.to_file(tmp_path / "feet.gpkg")
    with pytest.raises(InputError, match="US survey foot"):
        facplan.run(scenario_from_dict(_scenario(path="feet.gpkg"), base_dir=tmp_path))
    data = _scenario(path="feet.gpkg")
    data["crs"] = 2229
    with pytest.raises(InputError, match="not metres"):
        facplan.run(scenario_from_dict(data, base_dir=tmp_path))


def test_kind_without_standard_is_an_error(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    gpd.GeoDataFrame({"poi_id": ["a", "b", "c"], "kind": ["clinic", "sports park", "clinic"]},
                     geometry=gpd.points_from_xy(lon[:3], lat[:3]), crs=4326).to_file(
        tmp_path / "kinds.geojson", driver="GeoJSON")
    data = _scenario(path="kinds.geojson")
    data["facilities"][0].pop("kind")
    data["facilities"][0]["kind_field"] = "kind"
    with pytest.raises(InputError) as err:
        facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert "'sports park'" in str(err.value) and "sports_park" in str(err.value)
    assert "clinic" in str(err.value) and err.value.rows == [2]
    with pytest.raises(InputError, match="unknown kind 'sports park'.*known: .*sports_park"):
        scenario_from_dict(_scenario(path="kinds.geojson", kind="sports park"),
                           base_dir=tmp_path)


def test_validate_finds_every_problem(tmp_path):
    lon, lat = _sparse_city(tmp_path)
    pois = gpd.GeoDataFrame({"poi_id": ["a", "b"]},
                            geometry=gpd.points_from_xy(lon[:2], lat[:2]), crs=4326)
    pois.to_file(tmp_path / "many.gpkg", layer="clinics")
    pois.to_file(tmp_path / "many.gpkg", layer="schools")
    gpd.GeoDataFrame({"poi_id": ["a"]}, geometry=[Point(6.5e6, 1.8e6)], crs=2229).to_file(
        tmp_path / "feet.gpkg")
    gpd.GeoDataFrame({"poi_id": ["k"], "kind": ["sports park"]},
                     geometry=gpd.points_from_xy(lon[:1], lat[:1]), crs=4326).to_file(
        tmp_path / "kinds.geojson", driver="GeoJSON")
    data = _scenario(path="many.gpkg")
    data["facilities"] += [
        {"path": "feet.gpkg", "id_field": "poi_id", "kind": "clinic", "tier": "all"},
        {"path": "kinds.geojson", "id_field": "poi_id", "kind_field": "kind"},
    ]
    problems = validate_inputs(scenario_from_dict(data, base_dir=tmp_path))
    text = "\n".join(problems)
    assert len(problems) == 3, text
    assert "clinics, schools" in text and "US survey foot" in text and "'sports park'" in text


def test_validate_command_shows_the_gbk_warning(tmp_path):
    import os
    import subprocess
    import sys

    from facplan.testing import write_scenario

    lon, lat = _sparse_city(tmp_path)
    _write_pois(tmp_path, lon, lat)
    _gbk_communities(tmp_path)
    data = _scenario(path="pois.geojson")
    data["communities"] = {"path": "comm.shp", "id_field": "sqdm", "name_field": "sqmc"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "300"}
    r = subprocess.run([sys.executable, "-m", "facplan.cli", "validate",
                        str(write_scenario(tmp_path, data))],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "encoding: gbk" in r.stderr


def test_entrances_from_a_gcj02_csv(tmp_path):
    """Park gates given as an Amap (GCJ-02) CSV give the distances of the same gates
    given as a projected GeoPackage."""
    from tests.test_entrances import _district

    data, xy, edges, parks, gates, cells, cgates = _district(tmp_path)
    ref = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    w = gates.to_crs(4326)
    glon, glat = wgs84_to_gcj02(w.geometry.x.to_numpy(), w.geometry.y.to_numpy())
    pd.DataFrame({"park_id": gates["park_id"], "lng": glon, "lat": glat}).to_csv(
        tmp_path / "gates.csv", index=False)
    data["facilities"][0]["entrances"] = {"path": "gates.csv", "owner_field": "park_id",
                                          "lon": "lng", "lat": "lat", "coords": "gcj02"}
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    np.testing.assert_allclose(res.demand["dist_park_all"], ref.demand["dist_park_all"],
                               atol=1e-3)

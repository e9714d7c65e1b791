"""The embedded Helsinki demo data (facplan.demo)."""

from __future__ import annotations

import re
import shutil
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from facplan import demo

pyrosm = pytest.importorskip("pyrosm")

UTM = 32635
COLUMNS = {
    "communities": ["community_id", "name", "note"],
    "population": ["cell_id", "population"],
    "facilities": ["facility_id", "name", "kind", "tier", "area_m2"],
    "candidates": ["site_id", "kind", "tier", "area_m2", "cost", "source"],
}
ID_COLUMN = {
    "communities": "community_id",
    "population": "cell_id",
    "facilities": "facility_id",
    "candidates": "site_id",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    paths = demo.build_demo_data(out)
    seconds = time.perf_counter() - start
    print(f"\nbuild_demo_data: {seconds:.2f} s")
    layers = {k: gpd.read_file(p) for k, p in paths.items() if p.suffix == ".geojson"}
    return {"paths": paths, "layers": layers, "seconds": seconds, "dir": out}


def test_every_file_exists(built: dict) -> None:
    paths = built["paths"]
    assert set(paths) == set(demo.DEMO_FILES)
    for name, path in paths.items():
        assert path.is_file() and path.name == demo.DEMO_FILES[name]
    src = Path(pyrosm.get_data("helsinki_pbf"))
    assert paths["network"].read_bytes() == src.read_bytes()


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_columns_crs_and_ids(built: dict, name: str) -> None:
    gdf = built["layers"][name]
    assert list(gdf.columns) == [*COLUMNS[name], "geometry"]
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    ids = gdf[ID_COLUMN[name]]
    assert all(isinstance(v, str) and v for v in ids)
    assert ids.is_unique
    assert list(ids) == sorted(ids), "rows are sorted by id"
    assert gdf.geometry.is_valid.all() and not gdf.geometry.is_empty.any()


def test_id_formats(built: dict) -> None:
    layers = built["layers"]
    assert all(re.fullmatch(r"c\d{2}", v) for v in layers["communities"]["community_id"])
    assert all(re.fullmatch(r"g\d{4}-\d{4}", v) for v in layers["population"]["cell_id"])
    assert all(
        re.fullmatch(r"osm-(node|way|relation)-\d+", v)
        for v in layers["facilities"]["facility_id"]
    )
    assert all(
        re.fullmatch(r"cand-(node|way|relation)-\d+", v)
        for v in layers["candidates"]["site_id"]
    )


def test_build_is_fast(built: dict) -> None:
    assert built["seconds"] < 30, f"build took {built['seconds']:.1f} s"


# ---------------------------------------------------------------- population


def _independent_total() -> float:
    """Residents by the documented rule, computed here without facplan.demo helpers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
        buildings = osm.get_buildings().to_crs(UTM)
        landuse = osm.get_landuse().to_crs(UTM)
    homes = landuse[landuse["landuse"] == "residential"]
    tag = buildings["building"].astype(object).fillna("")
    points = gpd.GeoDataFrame(geometry=buildings.representative_point(), crs=UTM)
    in_res = gpd.sjoin(points, homes[["geometry"]], predicate="intersects").index.unique()
    yes_in_res = (tag == "yes") & buildings.index.isin(in_res)
    residential = tag.isin(
        ["residential", "apartments", "house", "detached", "terrace", "semidetached_house",
         "dormitory"]
    ) | yes_in_res
    res = buildings[residential.to_numpy()]
    levels = []
    for raw in res["building:levels"].astype(object):
        try:
            v = float(raw)
        except (TypeError, ValueError):
            v = float("nan")
        levels.append(v if np.isfinite(v) and v > 0 else 4.0)
    return float((res.geometry.area * np.array(levels)).sum() / 35.0)


def test_population_matches_building_estimate(built: dict) -> None:
    cells = built["layers"]["population"]
    assert (cells["population"] > 0).all()
    assert np.allclose(cells["population"], cells["population"].round(1))
    expected = _independent_total()
    total = float(cells["population"].sum())
    print(f"\npopulation: {len(cells)} cells, {total:.1f} people (buildings: {expected:.1f})")
    assert total == pytest.approx(expected, rel=0.005)
    assert demo.FLOOR_AREA_PER_PERSON_M2 == 35.0 and demo.DEFAULT_LEVELS == 4.0


def test_cells_are_100m_squares_on_one_grid(built: dict) -> None:
    cells = built["layers"]["population"].to_crs(UTM)
    assert np.allclose(cells.area, 100.0 * 100.0, rtol=1e-3)
    bounds = cells.bounds
    rows = cells["cell_id"].str.slice(1, 5).astype(int)
    cols = cells["cell_id"].str.slice(6, 10).astype(int)
    # rows count south and columns east: one step is 100 m
    assert np.allclose(bounds["minx"] - 100.0 * cols, (bounds["minx"] - 100.0 * cols).iloc[0],
                       atol=0.05)
    assert np.allclose(bounds["maxy"] + 100.0 * rows, (bounds["maxy"] + 100.0 * rows).iloc[0],
                       atol=0.05)


# ---------------------------------------------------------------- communities


def test_communities_cover_every_cell(built: dict) -> None:
    comm = built["layers"]["communities"].to_crs(UTM)
    cells = built["layers"]["population"].to_crs(UTM)
    assert len(comm) >= demo.MIN_COMMUNITIES
    assert comm["name"].str.len().gt(0).all()
    assert comm["note"].str.startswith("approximate").all()
    union = comm.union_all()
    inside = cells.centroid.within(union)
    assert inside.all(), f"{(~inside).sum()} cell centroids outside the communities"
    area_share = cells.intersection(union).area.sum() / cells.area.sum()
    assert area_share > 0.9999  # only 7-decimal coordinate rounding at the edge
    # communities do not overlap (a Voronoi partition)
    overlap = sum(
        a.intersection(b).area
        for i, a in enumerate(comm.geometry) for b in comm.geometry.iloc[i + 1:]
    )
    assert overlap < 1.0


def test_kmeans_fallback_when_few_place_nodes() -> None:
    rng = np.random.default_rng(1)
    pts = gpd.GeoDataFrame(
        {"population": np.ones(200)},
        geometry=shapely.points(rng.uniform(0, 2000, (200, 2))),
        crs=UTM,
    )
    names, xy, from_places = demo._community_seeds(None, pts, pts.crs)
    again = demo._community_seeds(None, pts, pts.crs)
    assert not from_places
    assert names == [f"Area {i}" for i in range(1, demo.FALLBACK_COMMUNITIES + 1)]
    assert xy.shape == (demo.FALLBACK_COMMUNITIES, 2)
    np.testing.assert_array_equal(xy, again[1])


# ---------------------------------------------------------------- facilities


def test_facility_tiers_follow_area(built: dict) -> None:
    fac = built["layers"]["facilities"]
    assert set(fac["kind"]) <= {"sports_park", "neighbourhood_centre"}
    assert set(fac["tier"]) <= {"district", "community", "compound", "all"}
    for _, row in fac.iterrows():
        if row["kind"] == "neighbourhood_centre":
            assert row["tier"] == "all"
            continue
        a = row["area_m2"]
        expected = "district" if a >= 3150 else "community" if a >= 1310 else "compound"
        assert row["tier"] == expected, row["facility_id"]
    points = fac.geom_type == "Point"
    assert (fac.loc[points, "area_m2"] == 0).all()
    assert set(fac.geom_type) <= {"Point", "Polygon", "MultiPolygon"}
    area = fac.loc[~points].to_crs(UTM).area
    assert np.allclose(area, fac.loc[~points, "area_m2"], rtol=1e-3, atol=0.5)


def test_facilities_merged_by_address(built: dict) -> None:
    fac = built["layers"]["facilities"]
    centres = fac[fac["kind"] == "neighbourhood_centre"]
    # Luckan and LillaLuckan are two OSM nodes at Simonkatu 8: one site
    assert "LillaLuckan; Luckan" in set(centres["name"])
    assert "Luckan" not in set(centres["name"])


# ---------------------------------------------------------------- candidates


def test_candidates(built: dict) -> None:
    cand = built["layers"]["candidates"]
    print("\ncandidates per source:", cand.groupby("source").size().to_dict())
    assert 50 <= len(cand) <= 400
    assert set(cand["source"]) <= {"land", "parking", "building"}
    assert (cand["tier"] == "").all()
    assert (cand["area_m2"] >= demo.MIN_CANDIDATE_M2).all()
    assert set(cand.geom_type) <= {"Polygon", "MultiPolygon"}
    land = cand["source"] != "building"
    assert (cand.loc[land, "kind"] == "sports_park").all()
    assert (cand.loc[~land, "kind"] == "neighbourhood_centre").all()
    np.testing.assert_allclose(
        cand.loc[land, "cost"], (cand.loc[land, "area_m2"] * 1500 + 2e6).round(), atol=1.0
    )
    np.testing.assert_allclose(
        cand.loc[~land, "cost"], (cand.loc[~land, "area_m2"] * 3000).round(), atol=1.0
    )
    footprint = cand.loc[~land].to_crs(UTM).area
    assert (footprint >= demo.LARGE_BUILDING_MIN_M2 - 1).all()
    assert (cand.loc[~land, "area_m2"] >= footprint - 1).all()  # floor area ≥ footprint


# ---------------------------------------------------------------- determinism, scenario


def test_second_build_is_byte_identical(built: dict, tmp_path: Path) -> None:
    again = demo.build_demo_data(tmp_path / "again")
    for name, path in built["paths"].items():
        assert again[name].read_bytes() == path.read_bytes(), name


def test_demo_scenario_loads_with_the_data(built: dict, tmp_path: Path) -> None:
    from facplan.io import read_candidates, read_communities, read_facilities, read_population
    from facplan.scenario import load_scenario

    scenario_file = demo.demo_scenario_path()
    assert scenario_file == demo.DEMO_SCENARIO and scenario_file.is_file()
    (tmp_path / "scenarios").mkdir()
    shutil.copy(scenario_file, tmp_path / "scenarios" / "demo.yaml")
    shutil.copytree(built["dir"], tmp_path / "data" / "demo")
    sc = load_scenario(tmp_path / "scenarios" / "demo.yaml")
    assert sc.name == "helsinki-demo"
    standards = sc.resolved_standards()
    assert len(read_communities(sc.communities)) >= 4
    assert pd.Series(read_population(sc.population)["population"]).gt(0).all()
    fac = read_facilities(sc.facilities, standards)
    cand = read_candidates(sc.candidates[0], standards)
    for entry in sc.optimize:
        if entry.sites is None:  # one_per_community: the count is implied
            assert entry.one_per_community
            continue
        assert 1 <= entry.sites <= 5
        fits = (cand["kind"] == entry.kind) & (
            cand["area_m2"] >= standards[entry.kind][entry.tier].min_area_m2
        )
        assert fits.sum() >= entry.sites, (entry.kind, entry.tier)
    assert set(zip(fac["kind"], fac["tier"], strict=True)) >= {
        ("sports_park", "district"), ("neighbourhood_centre", "all")
    }

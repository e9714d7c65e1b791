"""OSM readers on the whole of Liechtenstein (ODbL, © OpenStreetMap contributors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from facplan import InputError
from facplan.io.osm import (
    LARGE_BUILDING_MIN_M2,
    NEW_BUILD_COST_PER_M2,
    NEW_BUILD_FIXED_COST,
    RETROFIT_COST_PER_M2,
    assign_tier,
    open_pbf,
    osm_candidates,
    osm_facilities,
    parse_levels,
    read_osm_admin,
    read_osm_buildings,
    read_osm_features,
    tag_candidates,
)
from facplan.standards import resolve_standards

from .conftest import shared_file

UTM32N = 32632
MUNICIPALITIES = {
    "Vaduz", "Schaan", "Balzers", "Triesen", "Triesenberg", "Eschen", "Mauren", "Gamprin",
    "Ruggell", "Schellenberg", "Planken",
}
SPORTS = {"leisure": ["pitch", "sports_centre"]}


@pytest.fixture(scope="module")
def osm():
    """One parsed extract for the module (pyrosm keeps the parsed nodes)."""
    return open_pbf(shared_file("liechtenstein", "liechtenstein.osm.pbf"))


@pytest.fixture(scope="module")
def sports(osm):
    return read_osm_features(osm, SPORTS, source="facilities0")


# -- boundaries ---------------------------------------------------------------------------


def test_admin_level_8_municipalities(osm):
    comm = read_osm_admin(osm, 8)
    assert list(comm.columns) == ["community_id", "name", "geometry"]
    assert MUNICIPALITIES <= set(comm["name"])
    assert set(comm["name"]) - MUNICIPALITIES <= {"Fläsch"}  # the Swiss neighbour, partly in
    assert comm["community_id"].is_unique
    assert comm["community_id"].str.fullmatch(r"osm-relation-\d+").all()
    assert comm.crs.to_epsg() == 4326
    assert comm.geometry.is_valid.all()
    assert set(comm.geom_type) <= {"Polygon", "MultiPolygon"}
    # municipalities tile the country: no overlap between two of them beyond slivers
    m = comm[comm["name"].isin(MUNICIPALITIES)].to_crs(UTM32N)
    total = m.geometry.area.sum()
    union = shapely.union_all(m.geometry.values).area
    assert union == pytest.approx(total, rel=1e-3)
    assert 150e6 < union < 170e6  # Liechtenstein is 160 km²


def test_admin_name_tag(osm):
    comm = read_osm_admin(osm, 8, name_tag="wikidata")  # read from pyrosm's tags column
    vaduz = read_osm_admin(osm, 8).set_index("name").loc["Vaduz", "community_id"]
    name = comm.set_index("community_id").loc[vaduz, "name"]
    assert name.startswith("Q")
    # an absent tag falls back to name
    fallback = read_osm_admin(osm, 8, name_tag="name:xx")
    assert MUNICIPALITIES <= set(fallback["name"])


def test_admin_level_absent(osm):
    with pytest.raises(InputError, match="admin_level 5") as err:
        read_osm_admin(osm, 5)
    assert "liechtenstein.osm.pbf" in str(err.value)
    assert "8 (12)" in str(err.value)  # levels present are listed
    assert err.value.field == "admin_level"


def test_missing_extract(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_osm_admin(tmp_path / "none.osm.pbf", 8)


# -- features and facilities -------------------------------------------------------------


def test_features(osm, sports):
    assert list(sports.columns) == ["osm_id", "name", "tag", "source", "geometry"]
    assert len(sports) > 100
    assert set(sports["tag"]) == {"leisure=pitch", "leisure=sports_centre"}
    assert sports["osm_id"].is_unique
    assert (sports["source"] == "facilities0").all()
    assert set(sports.geom_type) <= {"Point", "Polygon", "MultiPolygon"}
    assert sports.attrs["dropped"] >= 1  # an unclosed pitch way
    assert sports.geometry.is_valid.all()
    # fixed order: nodes, ways, relations, each by id
    kind = sports["osm_id"].str.split("-").str[1].map({"node": 0, "way": 1, "relation": 2})
    num = sports["osm_id"].str.split("-").str[2].astype("int64")
    key = list(zip(kind, num, strict=True))
    assert key == sorted(key)
    again = read_osm_features(osm, SPORTS, source="facilities0")
    pd.testing.assert_frame_equal(sports.drop(columns="geometry"), again.drop(columns="geometry"))


def test_features_any_value_and_first_matching_tag(osm):
    both = read_osm_features(
        osm, {"amenity": ["community_centre"], "leisure": True}, source="x"
    )
    assert (both["tag"].str.startswith("leisure=") | (both["tag"] == "amenity=community_centre")).all()
    assert "leisure=swimming_pool" in set(both["tag"])
    assert (both["tag"] == "amenity=community_centre").sum() >= 1
    none = read_osm_features(osm, {"leisure": ["no_such_value"]}, source="x")
    assert len(none) == 0 and list(none.columns) == ["osm_id", "name", "tag", "source", "geometry"]


@pytest.mark.parametrize("tags", [{}, {"leisure": []}, {"leisure": False}, {"leisure": [1]}, []])
def test_features_bad_tags(osm, tags):
    with pytest.raises(InputError, match="osm"):
        read_osm_features(osm, tags, source="x")


def test_facilities_tiers_follow_area(sports):
    standards = resolve_standards()
    fac = osm_facilities(sports, kind="sports_park", tier=None, standards=standards, crs=UTM32N)
    assert list(fac.columns)[:4] == ["facility_id", "kind", "tier", "area_m2"]
    assert fac["facility_id"].tolist() == [f"facilities0-{i}" for i in range(len(sports))]
    assert fac.crs.to_epsg() == 4326
    assert (fac["osm_id"] == sports["osm_id"]).all()
    mins = {t: s.min_area_m2 for t, s in standards["sports_park"].items()}
    is_point = (fac.geom_type == "Point").to_numpy()
    assert fac.loc[is_point, "area_m2"].isna().all()
    assert (fac.loc[is_point, "tier"] == "compound").all()
    poly = fac[~is_point]
    # area measured independently in the same CRS
    expect = sports[~is_point].to_crs(UTM32N).geometry.area.to_numpy()
    assert np.allclose(poly["area_m2"].to_numpy(), expect)
    for area, tier in zip(poly["area_m2"], poly["tier"], strict=True):
        if tier == "district":
            assert area >= mins["district"]
        elif tier == "community":
            assert mins["community"] <= area < mins["district"]
        else:
            assert area < mins["community"]
    assert set(poly["tier"]) == {"district", "community", "compound"}


def test_facilities_fixed_tier_and_errors(sports):
    standards = resolve_standards()
    fac = osm_facilities(sports, kind="sports_park", tier="community", standards=standards,
                         crs=UTM32N)
    assert (fac["tier"] == "community").all()
    nc = osm_facilities(sports.iloc[:3], kind="neighbourhood_centre", tier=None,
                        standards=standards, crs=UTM32N)
    assert (nc["tier"] == "all").all()
    with pytest.raises(InputError, match="unknown kind"):
        osm_facilities(sports, kind="library", tier=None, standards=standards, crs=UTM32N)
    with pytest.raises(InputError, match="no tier 'huge'"):
        osm_facilities(sports, kind="sports_park", tier="huge", standards=standards, crs=UTM32N)
    with pytest.raises(InputError, match="projected"):
        osm_facilities(sports, kind="sports_park", tier=None, standards=standards, crs=4326)
    empty = osm_facilities(sports.iloc[:0], kind="sports_park", tier=None,
                           standards=standards, crs=UTM32N)
    assert len(empty) == 0 and "facility_id" in empty.columns


def test_assign_tier_edges():
    tiers = resolve_standards()["sports_park"]
    area = np.array([0.0, 769.9, 770.0, 1310.0, 3149.9, 3150.0, 1e6, np.nan])
    assert assign_tier(area, tiers).tolist() == [
        "compound", "compound", "compound", "community", "community", "district", "district",
        "compound",
    ]


# -- buildings and candidates ------------------------------------------------------------


def test_buildings(osm):
    b = read_osm_buildings(osm)
    assert list(b.columns) == ["osm_id", "building", "levels", "geometry"]
    assert 15_000 < len(b) < 17_000
    assert set(b.geom_type) <= {"Polygon", "MultiPolygon"}
    assert b.geometry.is_valid.all()
    assert b["osm_id"].is_unique
    assert (b["building"] == "yes").sum() > 10_000
    has = b["levels"].notna()
    assert 300 < has.sum() < 2000 and (b.loc[has, "levels"] >= 0).all()


def test_parse_levels():
    raw = pd.Series(["3", " 2 ", "3.5", "3,5", "3-4", "two", None, np.nan, "-1", "0", "inf"])
    got = parse_levels(raw)
    expect = [3, 2, 3.5, 3.5, np.nan, np.nan, np.nan, np.nan, np.nan, 0, np.nan]
    assert np.array_equal(got, np.array(expect, dtype=float), equal_nan=True)


def test_candidates(osm):
    cand = osm_candidates(osm, crs=UTM32N)
    assert list(cand.columns) == ["site_id", "kind", "tier", "cost", "area_m2", "name",
                                  "source", "geometry"]
    assert cand["site_id"].is_unique
    assert set(cand["kind"]) == {"sports_park", "neighbourhood_centre"}
    assert (cand["tier"] == "").all()
    assert (cand["area_m2"] >= 150).all()
    assert cand.crs.to_epsg() == 4326 and cand.geometry.is_valid.all()
    park = cand[cand["kind"] == "sports_park"]
    assert set(park["source"]) <= {"landuse=grass", "landuse=brownfield", "landuse=greenfield",
                                   "landuse=vacant", "amenity=parking"}
    assert np.allclose(park["cost"], park["area_m2"] * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST)
    assert np.allclose(park["area_m2"], park.to_crs(UTM32N).geometry.area)
    nc = cand[cand["kind"] == "neighbourhood_centre"]
    assert len(nc) > 50
    assert nc["source"].str.startswith("building=").all()
    assert np.allclose(nc["cost"], nc["area_m2"] * RETROFIT_COST_PER_M2)
    # floor area >= footprint >= the large-building threshold
    footprint = nc.to_crs(UTM32N).geometry.area.to_numpy()
    assert (footprint >= LARGE_BUILDING_MIN_M2 - 1e-6).all()
    assert (nc["area_m2"].to_numpy() >= footprint - 1e-6).all()
    bigger = osm_candidates(osm, crs=UTM32N, min_area_m2=5000)
    assert (bigger["area_m2"] >= 5000).all() and len(bigger) < len(cand)
    with pytest.raises(InputError, match="projected"):
        osm_candidates(osm, crs=4326)


# -- candidates from a tag query ------------------------------------------------------------


def _square(x: float, y: float, side_m: float) -> shapely.Polygon:
    return shapely.box(x, y, x + side_m, y + side_m)


def test_tag_candidates_hand_computed():
    """Areas and costs by hand on squares in UTM 32N (exact areas)."""
    import geopandas as gpd

    geoms = [_square(500_000, 5_200_000, 20),    # land: 400 m²
             _square(500_100, 5_200_000, 10),    # land: 100 m² < 150, left out
             shapely.Point(500_200, 5_200_000),  # a point: no site area, left out
             _square(500_300, 5_200_000, 30)]    # a building: 900 m² footprint
    feats = gpd.GeoDataFrame(
        {"osm_id": ["osm-way-1", "osm-way-2", "osm-node-3", "osm-way-4"],
         "name": ["", "", "", "hall"],
         "tag": ["landuse=brownfield", "landuse=brownfield", "landuse=brownfield",
                 "building=warehouse"],
         "source": "candidates0"},
        geometry=geoms, crs=UTM32N,
    ).to_crs(4326)
    cand = tag_candidates(feats, kind="sports_park", tier="community", crs=UTM32N)
    assert list(cand.columns) == ["site_id", "kind", "tier", "cost", "area_m2", "name",
                                  "source", "geometry"]
    assert cand["site_id"].tolist() == ["osm-way-1", "osm-way-4"]
    assert cand["area_m2"].to_numpy() == pytest.approx([400.0, 900.0], rel=1e-6)
    assert cand["cost"].to_numpy() == pytest.approx(
        [400 * NEW_BUILD_COST_PER_M2 + NEW_BUILD_FIXED_COST, 900 * RETROFIT_COST_PER_M2],
        rel=1e-6)
    assert (cand["kind"] == "sports_park").all() and (cand["tier"] == "community").all()
    assert cand["source"].tolist() == ["landuse=brownfield", "building=warehouse"]
    assert cand.attrs == {"points": 1, "small": 1}
    blank = tag_candidates(feats, kind="sports_park", tier=None, crs=UTM32N)
    assert (blank["tier"] == "").all()
    empty = tag_candidates(feats.iloc[:0], kind="sports_park", tier=None, crs=UTM32N)
    assert len(empty) == 0 and list(empty.columns) == list(cand.columns)
    with pytest.raises(InputError, match="projected"):
        tag_candidates(feats, kind="sports_park", tier=None, crs=4326)


def test_tag_candidates_equal_the_open_land_of_osm_true(osm):
    """Asked for the same land use tags, a tag query finds the very sites (ids, areas,
    costs) that `osm: true` finds through pyrosm's land-use layer."""
    tags = {"landuse": ["brownfield", "greenfield", "grass", "vacant"]}
    feats = read_osm_features(osm, tags, source="candidates0")
    mine = tag_candidates(feats, kind="sports_park", tier=None, crs=UTM32N)
    default = osm_candidates(osm, crs=UTM32N)
    land = default[default["source"].str.startswith("landuse=")]
    assert len(land) > 100
    pd.testing.assert_frame_equal(
        mine.drop(columns="geometry").set_index("site_id").sort_index(),
        land.drop(columns="geometry").set_index("site_id").sort_index(),
    )


@pytest.mark.parametrize(
    ("tags", "ways", "unclosed", "relations"),
    # counted on the same file with osmium 4.3.2 (pyosmium), an independent reader
    [({"landuse": True}, 3026, 1, 135), ({"landuse": ["grass"]}, 1373, 1, 35),
     ({"building": True}, 15809, 0, 26)],
)
def test_features_keep_ways_that_belong_to_relations(osm, tags, ways, unclosed, relations):
    """One pyrosm query for ways and relations together returns 2,465 of the 3,026
    landuse ways and 15,808 of the 15,809 building ways; facplan asks for them apart and
    finds every object osmium finds."""
    f = read_osm_features(osm, tags, source="candidates0")
    kind = f["osm_id"].str.split("-").str[1]
    assert f.attrs["dropped"] == unclosed  # an unclosed way is a line, not a site
    assert int((kind == "way").sum()) == ways - unclosed
    assert int((kind == "relation").sum()) == relations


def test_buildings_are_every_building_way_and_relation(osm):
    b = read_osm_buildings(osm)
    kind = b["osm_id"].str.split("-").str[1]
    assert int((kind == "way").sum()) == 15809 and int((kind == "relation").sum()) == 26

"""Dasymetric population on Liechtenstein's buildings and municipalities (OSM, ODbL)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from facplan import InputError
from facplan.cells import clip_to_communities
from facplan.io.dasymetric import dasymetric_population
from facplan.io.osm import open_pbf, read_osm_admin, read_osm_buildings

from .conftest import shared_file

UTM32N = 32632
# Illustrative test totals (round numbers of the order of each municipality's population).
TOTALS = {
    "Vaduz": 5700, "Schaan": 6100, "Balzers": 4700, "Triesen": 5200, "Triesenberg": 2700,
    "Eschen": 4500, "Mauren": 4500, "Gamprin": 1700, "Ruggell": 2400, "Schellenberg": 1100,
    "Planken": 480,
}
HOMES = {"yes", "residential", "apartments", "house", "detached", "semidetached_house",
         "terrace", "dormitory", "bungalow", "farm"}


@pytest.fixture(scope="module")
def osm():
    return open_pbf(shared_file("liechtenstein", "liechtenstein.osm.pbf"))


@pytest.fixture(scope="module")
def buildings(osm):
    return read_osm_buildings(osm)


@pytest.fixture(scope="module")
def municipalities(osm):
    comm = read_osm_admin(osm, 8)
    return comm[comm["name"].isin(TOTALS)].reset_index(drop=True)  # Fläsch is Swiss


@pytest.fixture(scope="module")
def per_community(buildings, municipalities):
    totals = pd.Series(
        {cid: float(TOTALS[name]) for cid, name in
         zip(municipalities["community_id"], municipalities["name"], strict=True)}
    )
    cells = dasymetric_population(
        buildings, crs=UTM32N, community_totals=totals, communities=municipalities
    )
    return cells, totals


def _floor_by_hand(buildings, crs=UTM32N, default_levels=3.0):
    """Residential floor area and representative points, computed independently."""
    res = buildings[buildings["building"].str.lower().isin(HOMES)].to_crs(crs)
    levels = pd.to_numeric(res["levels"], errors="coerce").fillna(default_levels)
    levels = levels.where(levels > 0, default_levels)
    return gpd.GeoDataFrame(
        {"floor": res.geometry.area.to_numpy() * levels.to_numpy()},
        geometry=res.geometry.representative_point().to_numpy(),
        crs=crs,
    )


def test_total_spread(buildings):
    cells = dasymetric_population(buildings, crs=UTM32N, total=40_000)
    assert list(cells.columns) == ["cell_id", "population", "geometry"]
    assert cells["population"].sum() == pytest.approx(40_000, rel=1e-12)
    assert (cells["population"] > 0).all()
    assert cells["cell_id"].is_unique
    assert cells["cell_id"].str.fullmatch(r"g\d+-\d+").all()
    assert cells.crs.to_epsg() == UTM32N
    assert np.allclose(cells.geometry.area, 100.0 * 100.0)
    # squares aligned to the 100 m grid of the CRS, id = row/col from the north-west
    b = cells.geometry.bounds
    assert np.allclose(b["minx"] % 100, 0) and np.allclose(b["maxy"] % 100, 0)
    rc = cells["cell_id"].str[1:].str.split("-", expand=True).astype(int)
    assert np.allclose(b["maxy"].max() - b["maxy"], rc[0] * 100 - rc[0].min() * 100)
    assert cells.attrs["buildings"] > 14_000


def test_floor_area_mode(buildings):
    pts = _floor_by_hand(buildings)
    everywhere = gpd.GeoDataFrame(geometry=[box(9.0, 46.9, 9.8, 47.4)], crs=4326)
    cells = dasymetric_population(buildings, crs=UTM32N, floor_area_per_person_m2=50.0,
                                  residential_areas=everywhere)
    assert cells["population"].sum() == pytest.approx(pts["floor"].sum() / 50.0, rel=1e-9)
    assert cells.attrs["floor_area_m2"] == pytest.approx(pts["floor"].sum(), rel=1e-9)


def test_one_municipality_share(buildings, municipalities):
    cells = dasymetric_population(buildings, crs=UTM32N, total=40_000,
                                  communities=municipalities)
    assert cells["population"].sum() == pytest.approx(40_000, rel=1e-12)
    pts = _floor_by_hand(buildings)
    comm = municipalities.to_crs(UTM32N)
    joined = gpd.sjoin(pts, comm, predicate="within")
    inside = joined["floor"].sum()
    vaduz = comm.loc[comm["name"] == "Vaduz", "community_id"].iloc[0]
    expect = 40_000 * joined.loc[joined["community_id"] == vaduz, "floor"].sum() / inside
    got = cells.loc[cells["community_id"] == vaduz, "population"].sum()
    assert got == pytest.approx(expect, rel=1e-9)
    assert cells.attrs["outside_buildings"] == len(pts) - len(joined)


def test_per_community_totals(per_community, municipalities):
    cells, totals = per_community
    assert list(cells.columns) == ["cell_id", "population", "community_id", "geometry"]
    sums = cells.groupby("community_id")["population"].sum()
    assert set(sums.index) == set(totals.index)  # every municipality gets people
    for cid, t in totals.items():
        assert sums[cid] == pytest.approx(t, rel=1e-9)
    assert cells.attrs["empty_communities"] == []
    assert cells.attrs["unplaced_population"] == 0.0
    assert cells["cell_id"].is_unique
    # shared squares get a per-community id
    shared = cells["cell_id"].str.contains("/")
    assert shared.any()
    assert (cells.loc[shared, "cell_id"].str.split("/").str[1]
            == cells.loc[shared, "community_id"]).all()


def test_cells_stay_in_their_community(per_community, municipalities):
    cells, totals = per_community
    comm = municipalities.to_crs(UTM32N)
    geom = dict(zip(comm["community_id"], comm.geometry.values, strict=True))
    for cid, g in zip(cells["community_id"], cells.geometry.values, strict=True):
        assert shapely.area(shapely.difference(g, geom[cid])) < 1e-3
    # so clipping to the communities later keeps every community's total
    clipped, dropped = clip_to_communities(cells.drop(columns="community_id"), comm)
    again = clipped.groupby("community_id")["population"].sum()
    for cid, t in totals.items():
        assert again[cid] == pytest.approx(t, rel=1e-6)
    assert dropped["population"] < 1e-6 * totals.sum()


def test_one_cell_by_hand(per_community, buildings, municipalities):
    cells, totals = per_community
    pts = _floor_by_hand(buildings)
    comm = municipalities.to_crs(UTM32N)
    joined = gpd.sjoin(pts, comm, predicate="within")
    schaan = comm.loc[comm["name"] == "Schaan", "community_id"].iloc[0]
    mine = joined[joined["community_id"] == schaan]
    cell = cells[cells["community_id"] == schaan].sort_values("population").iloc[-1]
    in_cell = mine[mine.geometry.intersects(cell.geometry)]
    expect = totals[schaan] * in_cell["floor"].sum() / mine["floor"].sum()
    assert cell["population"] == pytest.approx(expect, rel=1e-9)


def test_community_without_homes(buildings, municipalities):
    far = gpd.GeoDataFrame(
        {"community_id": ["zz-empty"], "name": ["nowhere"]},
        geometry=[gpd.GeoSeries([Point(9.40, 47.05)], crs=4326).to_crs(UTM32N)
                  .buffer(200).to_crs(4326).iloc[0]],
        crs=4326,
    )
    comm = pd.concat([municipalities, far], ignore_index=True)
    totals = pd.Series(1000.0, index=comm["community_id"])
    cells = dasymetric_population(buildings, crs=UTM32N, community_totals=totals,
                                  communities=comm)
    assert cells.attrs["empty_communities"] == ["zz-empty"]
    assert cells.attrs["unplaced_population"] == 1000.0
    assert cells["population"].sum() == pytest.approx(1000.0 * len(municipalities))


def test_per_municipality_table(per_community, municipalities):
    cells, totals = per_community
    names = dict(zip(municipalities["community_id"], municipalities["name"], strict=True))
    table = cells.groupby("community_id")["population"].agg(cells="size", population="sum")
    table.index = table.index.map(names).rename("name")
    assert sorted(table.index) == sorted(TOTALS)
    assert (table["cells"] > 0).all()
    assert table["population"].round(6).to_dict() == {k: float(v) for k, v in TOTALS.items()}


# -- errors on small synthetic layers ----------------------------------------------------


def _blocks(tags, crs=UTM32N):
    geom = [box(500_000 + 50 * i, 5_200_000, 500_020 + 50 * i, 5_200_020) for i in range(len(tags))]
    return gpd.GeoDataFrame({"building": tags, "levels": [2.0] * len(tags)}, geometry=geom, crs=crs)


def test_small_layer_numbers():
    b = _blocks(["house", "yes", "garage", None])
    every = gpd.GeoDataFrame(geometry=[b.geometry.union_all().buffer(10)], crs=b.crs)
    cells = dasymetric_population(b, crs=UTM32N, floor_area_per_person_m2=40.0,
                                  residential_areas=every)
    assert cells["population"].sum() == pytest.approx(2 * 400 * 2 / 40.0)
    alone = dasymetric_population(b, crs=UTM32N, floor_area_per_person_m2=40.0)
    assert alone["population"].sum() == pytest.approx(400 * 2 / 40.0)  # yes: no landuse
    narrow = dasymetric_population(b, crs=UTM32N, residential={"house"}, total=10)
    assert narrow["population"].sum() == pytest.approx(10)
    assert narrow.attrs["buildings"] == 1
    b["levels"] = [np.nan, 0.0, 1.0, 1.0]  # missing and 0 storeys → default_levels
    cells = dasymetric_population(b, crs=UTM32N, default_levels=5.0, residential_areas=every)
    assert cells["population"].sum() == pytest.approx(2 * 400 * 5 / 35.0)


def test_errors(municipalities):
    b = _blocks(["house", "house"])
    totals = pd.Series(100.0, index=municipalities["community_id"])
    with pytest.raises(InputError, match="not both"):
        dasymetric_population(b, crs=UTM32N, total=5, community_totals=totals,
                              communities=municipalities)
    with pytest.raises(InputError, match="need the communities"):
        dasymetric_population(b, crs=UTM32N, community_totals=totals)
    with pytest.raises(InputError, match="projected"):
        dasymetric_population(b, crs=4326, total=5)
    with pytest.raises(InputError, match="'total'"):
        dasymetric_population(b, crs=UTM32N, total=-1)
    with pytest.raises(InputError, match="grid_m"):
        dasymetric_population(b, crs=UTM32N, grid_m=0)
    with pytest.raises(InputError, match="no residential buildings") as err:
        dasymetric_population(_blocks(["garage", "shed"]), crs=UTM32N)
    assert "garage (1)" in str(err.value)
    with pytest.raises(InputError, match="no field 'building'"):
        dasymetric_population(b.rename(columns={"building": "type"}), crs=UTM32N)
    pts = gpd.GeoDataFrame({"building": ["house"]}, geometry=[Point(500_000, 5_200_000)],
                           crs=UTM32N)
    with pytest.raises(InputError, match="polygons") as err:
        dasymetric_population(pts, crs=UTM32N)
    assert err.value.rows == [1]


def test_total_errors(buildings, municipalities):
    ids = municipalities["community_id"].tolist()
    partial = pd.Series(100.0, index=ids[1:])
    with pytest.raises(InputError, match="no total") as err:
        dasymetric_population(buildings, crs=UTM32N, community_totals=partial,
                              communities=municipalities)
    assert err.value.ids == [ids[0]]
    extra = pd.Series(100.0, index=[*ids, "osm-relation-1"])
    with pytest.raises(InputError, match="not in the boundaries") as err:
        dasymetric_population(buildings, crs=UTM32N, community_totals=extra,
                              communities=municipalities)
    assert err.value.ids == ["osm-relation-1"]
    bad = pd.Series(100.0, index=ids)
    bad.iloc[2] = np.nan
    with pytest.raises(InputError, match="non-negative") as err:
        dasymetric_population(buildings, crs=UTM32N, community_totals=bad,
                              communities=municipalities)
    assert err.value.ids == [ids[2]]


def test_no_building_inside_communities(buildings):
    far = gpd.GeoDataFrame({"community_id": ["x"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(InputError, match="inside the communities"):
        dasymetric_population(buildings, crs=UTM32N, total=10, communities=far)


def test_without_total_yes_counts_only_in_residential_land(osm, buildings):
    """Without a total, building=yes is a home only inside landuse=residential
    (Liechtenstein's 204,776 'people' for a country of about 39,000 came from counting
    every building=yes). Reference: the landuse polygons and the test by hand."""
    import osmium

    from facplan.io.osm import read_osm_residential_areas

    areas = read_osm_residential_areas(osm)
    assert len(areas) > 10
    # independent count of landuse=residential ways (pyosmium)
    n = {"ways": 0}

    class H(osmium.SimpleHandler):
        def way(self, w):
            n["ways"] += w.tags.get("landuse") == "residential"

    H().apply_file(str(shared_file("liechtenstein", "liechtenstein.osm.pbf")))
    assert len(areas) >= 0.9 * n["ways"]
    cells = dasymetric_population(buildings, crs=UTM32N, floor_area_per_person_m2=50.0,
                                  residential_areas=areas)
    pts = _floor_by_hand(buildings)
    tag = buildings["building"].str.lower().to_numpy()
    res = buildings[np.isin(tag, list(HOMES))]
    is_yes = (res["building"].str.lower() == "yes").to_numpy()
    land = shapely.union_all(areas.to_crs(UTM32N).geometry.values)
    on = res.to_crs(UTM32N).geometry.representative_point().to_numpy()
    inside = shapely.contains_xy(land, shapely.get_x(on), shapely.get_y(on))
    expect = pts["floor"].to_numpy()[~is_yes | inside].sum() / 50.0
    assert cells["population"].sum() == pytest.approx(expect, rel=1e-9)
    assert "building=yes inside landuse=residential" in cells.attrs["rule"]
    everything = pts["floor"].sum() / 50.0
    assert cells["population"].sum() < 0.8 * everything  # 129k instead of 185k here

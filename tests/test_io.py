"""Readers: each bad input is an InputError naming the file, field and rows."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon

from facplan import InputError
from facplan.io import choose_crs, read_communities, read_facilities, read_population
from facplan.scenario import CommunitiesSpec, FacilitySource, PopulationSpec
from facplan.standards import resolve_standards
from facplan.testing import GRID_CRS


def _pop_file(tmp_path, values, name="pop.gpkg", crs=GRID_CRS):
    gdf = gpd.GeoDataFrame(
        {"cid": [f"c{i}" for i in range(len(values))], "people": values},
        geometry=[Point(385000 + 10 * i, 6672000) for i in range(len(values))],
        crs=crs,
    )
    path = tmp_path / name
    gdf.to_file(path)
    return path


def test_population_columns(tmp_path):
    p = _pop_file(tmp_path, [1.0, 2.5])
    gdf = read_population(PopulationSpec(path=p, field="people", id_field="cid"))
    assert list(gdf.columns) == ["cell_id", "population", "geometry"]
    assert gdf["cell_id"].tolist() == ["c0", "c1"]
    assert gdf["population"].tolist() == [1.0, 2.5]


def test_default_ids(tmp_path):
    p = _pop_file(tmp_path, [1.0, 2.0, 3.0])
    gdf = read_population(PopulationSpec(path=p, field="people"))
    assert gdf["cell_id"].tolist() == ["population-0", "population-1", "population-2"]


@pytest.mark.parametrize(
    "values, words",
    [
        ([1.0, -2.0, 3.0, -1.0], "2 values are negative"),
        ([1.0, np.nan, 3.0], "missing"),
        ([1.0, np.inf], "infinite"),
    ],
)
def test_bad_population_values_name_rows(tmp_path, values, words):
    p = _pop_file(tmp_path, values)
    with pytest.raises(InputError) as exc:
        read_population(PopulationSpec(path=p, field="people"))
    msg = str(exc.value)
    assert words in msg and "pop.gpkg" in msg and "'people'" in msg
    bad = [i + 1 for i, v in enumerate(values) if not (np.isfinite(v) and v >= 0)]
    assert exc.value.rows == bad


def test_missing_field_lists_fields(tmp_path):
    p = _pop_file(tmp_path, [1.0])
    with pytest.raises(InputError, match=r"no field 'pop' .*fields in the file: cid, people"):
        read_population(PopulationSpec(path=p, field="pop"))


def test_duplicate_ids(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"cid": ["a", "b", "a"], "people": [1, 2, 3]},
        geometry=[Point(0, 0), Point(1, 1), Point(2, 2)], crs=GRID_CRS,
    )
    gdf.to_file(tmp_path / "d.gpkg")
    with pytest.raises(InputError, match="duplicate ids") as exc:
        read_population(PopulationSpec(path=tmp_path / "d.gpkg", field="people", id_field="cid"))
    assert exc.value.rows == [1, 3]


def test_empty_layer(tmp_path):
    gdf = gpd.GeoDataFrame({"people": []}, geometry=[], crs=GRID_CRS)
    gdf.to_file(tmp_path / "e.gpkg")
    with pytest.raises(InputError, match="empty"):
        read_population(PopulationSpec(path=tmp_path / "e.gpkg", field="people"))


def test_no_crs(tmp_path):
    gdf = gpd.GeoDataFrame({"people": [1]}, geometry=[Point(0, 0)])
    gdf.to_file(tmp_path / "n.geojson", driver="GeoJSON")
    # GeoJSON implies EPSG:4326; a shapefile without .prj has no CRS
    gdf.to_file(tmp_path / "n.shp")
    (tmp_path / "n.prj").unlink(missing_ok=True)
    with pytest.raises(InputError, match="no CRS"):
        read_population(PopulationSpec(path=tmp_path / "n.shp", field="people"))


def test_invalid_geometry(tmp_path):
    bow = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    gdf = gpd.GeoDataFrame(
        {"community_id": ["a", "b"], "name": ["A", "B"]},
        geometry=[Polygon([(0, 0), (1, 0), (1, 1)]), bow], crs=GRID_CRS,
    )
    gdf.to_file(tmp_path / "c.gpkg")
    with pytest.raises(InputError, match="invalid geometries.*Self-intersection") as exc:
        read_communities(CommunitiesSpec(path=tmp_path / "c.gpkg", id_field="community_id"))
    assert exc.value.rows == [2]


def test_csv_points_swapped(tmp_path):
    pd.DataFrame({"lon": [60.17, 60.2], "lat": [124.9, 24.95], "population": [1, 2]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    with pytest.raises(InputError, match="swapped") as exc:
        read_population(PopulationSpec(path=tmp_path / "p.csv"))
    assert exc.value.rows == [1]


def test_csv_points(tmp_path):
    pd.DataFrame({"x": [24.9, 24.95], "y": [60.17, 60.2], "pop": [1, 2], "id": [7, 8]}).to_csv(
        tmp_path / "p.csv", index=False
    )
    gdf = read_population(
        PopulationSpec(path=tmp_path / "p.csv", lon="x", lat="y", field="pop", id_field="id")
    )
    assert gdf.crs.to_epsg() == 4326
    assert gdf["cell_id"].tolist() == ["7", "8"]
    assert gdf.geometry.x.tolist() == [24.9, 24.95]


def test_facility_unknown_tier(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"tier": ["district", "huge"]}, geometry=[Point(0, 0), Point(1, 1)], crs=GRID_CRS
    )
    gdf.to_file(tmp_path / "f.gpkg")
    src = FacilitySource(path=tmp_path / "f.gpkg", kind="sports_park", tier_field="tier")
    with pytest.raises(InputError, match="tier 'huge'") as exc:
        read_facilities([src], resolve_standards())
    assert exc.value.rows == [2]


def test_geographic_crs_rejected():
    sample = gpd.GeoDataFrame(geometry=[Point(24.9, 60.2)], crs=4326)
    with pytest.raises(InputError, match=r"geographic.*EPSG:32635"):
        choose_crs(4490, sample)
    assert choose_crs("auto", sample).to_epsg() == 32635
    assert choose_crs(4547, sample).is_projected  # CGCS2000 3-degree GK zone


def test_csv_points_in_gcj02_are_converted(tmp_path):
    from facplan.io.coords import gcj02_to_wgs84, wgs84_to_gcj02

    lon, lat = np.array([112.454, 112.40]), np.array([34.619, 34.66])  # Luoyang
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.hypot(glon - lon, glat - lat).min() > 1e-4  # the offset is real (~hundreds of m)
    pd.DataFrame({"lon": glon, "lat": glat, "population": [1, 2]}).to_csv(tmp_path / "p.csv", index=False)
    gdf = read_population(PopulationSpec(path=tmp_path / "p.csv", coords="gcj02"))
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    np.testing.assert_allclose(gdf.geometry.x, wlon, atol=1e-9)
    np.testing.assert_allclose(gdf.geometry.x, lon, atol=1e-6)
    np.testing.assert_allclose(gdf.geometry.y, lat, atol=1e-6)


def test_utm_crs_equals_geopandas_database_query():
    """utm_crs computes the zone geopandas' estimate_utm_crs finds in the PROJ database,
    for centres all over the world (off the zone edges), lon/lat or projected input, and
    across the antimeridian."""
    from facplan.io.crs import utm_crs

    rng = np.random.default_rng(3)
    lons = rng.uniform(-179.5, 179.5, 60)
    lats = rng.uniform(-79.5, 83.5, 60)
    lons[(lons + 180) % 6 < 0.01] += 0.05  # centres off the zone edges
    for lon, lat in zip(lons, lats, strict=True):
        pts = gpd.GeoDataFrame(
            geometry=[Point(lon - 0.02, lat - 0.01), Point(lon + 0.02, lat + 0.01)], crs=4326
        )
        assert utm_crs(pts) == pts.estimate_utm_crs(), (lon, lat)
    city = gpd.GeoDataFrame(geometry=[Point(112.45, 34.62), Point(112.6, 34.7)], crs=4326)
    assert utm_crs(city.to_crs(4547)) == city.to_crs(4547).estimate_utm_crs()  # Luoyang
    fiji = gpd.GeoDataFrame(geometry=[Point(179.9, -17.0), Point(-179.7, -16.9)], crs=4326)
    fiji_m = fiji.to_crs(3460)  # Fiji 1986 / Fiji Map Grid: the bounds cross 180°
    assert utm_crs(fiji_m) == fiji_m.estimate_utm_crs()
    with pytest.raises(InputError, match="outside UTM"):
        utm_crs(gpd.GeoDataFrame(geometry=[Point(10, 88)], crs=4326))

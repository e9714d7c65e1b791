"""plan.gpkg as QGIS and ArcGIS want it: ``phase`` an integer field, one geometry type per
layer (single and multi parts promoted, mixed families split), read without warnings."""

from __future__ import annotations

import warnings

import geopandas as gpd
import pyogrio
from shapely.geometry import MultiPolygon, box

import facplan
from facplan.outputs.gpkg import one_geometry_type
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS, node_xy


def test_phase_is_an_integer_and_each_layer_has_one_type(city):
    folder, data = city
    # one polygon facility beside the point one: the facilities layer mixes families
    fac = gpd.read_file(folder / "facilities.gpkg")
    x, y = node_xy(7, 7)
    extra = gpd.GeoDataFrame({"fid_": ["f2"], "kind": ["sports_park"], "tier": ["compound"],
                              "area_m2": [900.0]}, geometry=[box(x - 20, y - 20, x, y)],
                             crs=GRID_CRS)
    gpd.GeoDataFrame(pd_concat([fac, extra]), crs=GRID_CRS).to_file(folder / "facilities.gpkg")
    data["optimize"][0].pop("sites")
    data["optimize"][0]["phases"] = [{"year": 2026, "sites": 1}, {"year": 2027, "sites": 1}]
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    out = res.write(folder / "out")
    gpkg = out / "plan.gpkg"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = {name: kind for name, kind in pyogrio.list_layers(gpkg)}
    assert "facilities" not in layers
    assert layers["facilities_points"] == "Point"
    assert layers["facilities_polygons"] == "Polygon"
    for name, kind in layers.items():
        assert kind not in (None, "Unknown", "Geometry"), (name, kind)
    info = pyogrio.read_info(gpkg, layer="sites")
    types = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert types["phase"] == "int32"
    sites = gpd.read_file(gpkg, layer="sites")
    assert sorted(sites["phase"].tolist()) == [2026, 2027]


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_single_and_multi_parts_are_promoted():
    a, b = box(0, 0, 1, 1), MultiPolygon([box(2, 2, 3, 3), box(4, 4, 5, 5)])
    parts = one_geometry_type("x", gpd.GeoDataFrame({"v": [1, 2]}, geometry=[a, b], crs=3857))
    assert list(parts) == ["x"]
    assert set(parts["x"].geom_type) == {"MultiPolygon"}
    assert parts["x"].geometry.iloc[0].equals(a)

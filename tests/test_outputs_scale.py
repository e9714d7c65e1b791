"""The writers' fast paths give what the plain per-value encoding gives."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point, box

from facplan.outputs.geojson import clean_value, write_geojson
from facplan.outputs.map import _hexagons

TEXT = ["a", 'quote " and \\ back', "控制\x01\n\t", "东区 West", "", "%s %d"]


def test_string_columns_encode_like_json_dumps(tmp_path):
    n = len(TEXT)
    frame = gpd.GeoDataFrame(
        {
            "s": pd.Series(TEXT, dtype=object),
            "s_str": pd.Series(TEXT, dtype="string"),
            "none": [None] * n,
            "mixed": ["x", None, "y", None, "z", None],
            "mixed_num": ["x", 1, 2.123456789, None, np.nan, True],
        },
        geometry=[Point(i, i) for i in range(n)],
        crs=4326,
    )
    path = tmp_path / "x.geojson"
    write_geojson(path, frame)
    text = path.read_text(encoding="utf-8")
    props = [f["properties"] for f in json.loads(text)["features"]]
    for col in frame.columns.drop("geometry"):
        got = [p[col] for p in props]
        want = [clean_value(None if v is pd.NA else v) for v in frame[col].tolist()]
        assert got == want, col
    # byte for byte what json.dumps writes for each value (ensure_ascii off)
    for v in TEXT:
        assert json.dumps(v, ensure_ascii=False) in text


def test_hexagons_of_polygons_use_their_representative_points():
    """Aggregated polygon cells land in the hexagon of their representative point: the
    map of polygons equals the map of those points."""
    rng = np.random.default_rng(4)
    x0, y0 = 24.9, 60.15
    cx = x0 + rng.uniform(0, 0.05, 400)
    cy = y0 + rng.uniform(0, 0.03, 400)
    polys = [box(a - 2e-4, b - 1e-4, a + 2e-4, b + 1e-4) for a, b in zip(cx, cy, strict=True)]
    pop = rng.integers(1, 100, 400).astype(float)
    dist = rng.uniform(0, 1500, 400)
    base = {"cell_id": [f"c{i}" for i in range(400)], "population": pop,
            "community_id": [None] * 400, "dist_sports_park_community": dist}
    poly = gpd.GeoDataFrame(base, geometry=polys, crs=4326)
    pts = gpd.GeoDataFrame(base, geometry=poly.geometry.representative_point(), crs=4326)
    def hexagons(demand):
        return _hexagons(demand, ["dist_sports_park_community"],
                         {"dist_sports_park_community": 500.0}, 50)

    a, b = hexagons(poly), hexagons(pts)
    assert np.array_equal(a.pop("_inv"), b.pop("_inv"))  # each cell's hexagon (what-if)
    assert a == b
    # every cell and person is in exactly one hexagon, at most max_cells of them
    assert 0 < len(a["g"]) <= 50
    assert sum(a["n"]) == 400 and abs(sum(a["pop"]) - pop.sum()) < 1e-6

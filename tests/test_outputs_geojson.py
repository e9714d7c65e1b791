"""The GeoJSON writer serialises properties column by column; its bytes must be exactly
those of the plain way: one ``json.dumps`` per row of :func:`clean_value` values.

The references here are written out longhand (Python's ``round``, ``to_dict``,
``json.dumps``) so that a slip in the vectorised code shows as a byte difference.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from facplan.outputs.geojson import clean_value, round_values, write_geojson

FAST = settings(max_examples=300, deadline=None, database=None)

#: Floats where a careless rounding or formatting goes wrong.
AWKWARD = [
    0.0, -0.0, 1e-05, -1e-05, 0.00005, -0.00005, 0.00015, 0.00025, 1.00005, 2.675, 2.6745,
    0.1 + 0.2, 100.0, -100.0, 1012.27049999, 123456789.12345678, 99999999999.99995,
    1e11, 1e15, 1e16, 1e20, -3.5e22, 1.7976931348623157e308, 5e-324, 2.0**52 + 0.5,
    2.0**53 + 1, 12.34565, 0.03125, 1 / 3, -2 / 3, math.pi * 1e6, math.nan, math.inf,
    -math.inf,
]


def reference_geojson(gdf: gpd.GeoDataFrame) -> str:
    """The writer's output the plain way: a ``json.dumps`` per row (the previous code)."""
    g = gdf.to_crs(4326) if gdf.crs is not None else gdf
    geoms = shapely.transform(g.geometry.values, lambda c: np.round(c, 7))
    geo_json = shapely.to_geojson(geoms)
    props = [c for c in g.columns if c != g.geometry.name]
    parts = []
    for rec, gj in zip(g[props].to_dict(orient="records"), geo_json, strict=True):
        p = json.dumps({k: clean_value(v) for k, v in rec.items()}, ensure_ascii=False,
                       allow_nan=False, separators=(",", ":"))
        parts.append('{"type":"Feature","properties":' + p + ',"geometry":'
                     + ("null" if gj is None else gj) + "}")
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}\n"


def written(gdf: gpd.GeoDataFrame) -> str:
    """What :func:`write_geojson` writes for ``gdf``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.geojson"
        write_geojson(path, gdf)
        return path.read_bytes().decode("utf-8")


def _mixed_frame(n_random: int = 3000) -> gpd.GeoDataFrame:
    """Every column type a run's frames can have, awkward values first, then random ones."""
    rng = np.random.default_rng(7)
    magnitude = 10.0 ** rng.uniform(-9, 14, n_random)
    rand = rng.choice([-1.0, 1.0], n_random) * magnitude
    ties = (np.arange(n_random) - n_random / 2 + 0.5) / 1e4  # binary neighbours of ties
    floats = np.array(AWKWARD + list(rand))
    n = len(floats)
    objects = [None, [1.5, math.nan, {"a": np.float64(2.123456)}], {"k": (1, None)},
               np.int64(3), np.float32(0.1), "文本", pd.NA, True, 7]
    strings = ["东社区 East", None, 'quote " and \\ back', "tab\tnew\nline \u2028 ☃ 🚀", ""]
    geoms = [Point(x, y) for x, y in zip(rng.uniform(-1e6, 1e6, n), rng.uniform(-1e6, 1e6, n),
                                           strict=True)]
    geoms[1] = None
    geoms[2] = Polygon([(0, 0), (1000, 0), (1000, 1000), (0, 0)])
    return gpd.GeoDataFrame(
        {
            "cell_id": pd.array([f"c{i}" for i in range(n)], dtype="str"),
            "人口": floats,
            "ties": np.resize(ties, n),
            "share%": np.resize(np.array(AWKWARD[:-3]), n) * 1e-3,
            "f32": rng.normal(0, 1e3, n).astype("float32"),
            "count": rng.integers(-(2**62), 2**62, n),
            "u64": np.full(n, 2**64 - 1, dtype="uint64"),
            "flag": rng.integers(0, 2, n).astype(bool),
            "name": pd.array([strings[i % len(strings)] for i in range(n)], dtype="str"),
            "obj": pd.Series([objects[i % len(objects)] for i in range(n)], dtype=object),
            "none": pd.Series([None] * n, dtype=object),
            "Int64": pd.array([None if i % 3 == 0 else i for i in range(n)], dtype="Int64"),
            "Float64": pd.array([None if i % 4 == 0 else i / 7 for i in range(n)],
                                dtype="Float64"),
            "boolean": pd.array([None if i % 5 == 0 else bool(i % 2) for i in range(n)],
                                dtype="boolean"),
            "category": pd.Categorical([["a", "b", None][i % 3] for i in range(n)]),
            '"q"': np.arange(n, dtype=float) / 8,
        },
        geometry=geoms,
        crs=3857,
    )


def test_bytes_equal_the_per_row_serialisation():
    gdf = _mixed_frame()
    assert written(gdf) == reference_geojson(gdf)


def test_reruns_are_byte_identical():
    gdf = _mixed_frame(200)
    first = written(gdf)
    assert written(gdf) == first


def test_awkward_values_are_spelled_like_python():
    values = [2.675, -0.0, -0.00004, 1e-05, 0.00015, 0.00025, 100.0, 1e20, 1e16, math.nan,
              -math.inf, 123.45678, 7.0]
    expected = ["2.675", "0.0", "0.0", "0.0", "0.0001", "0.0003", "100.0", "1e+20", "1e+16",
                "null", "null", "123.4568", "7.0"]
    gdf = gpd.GeoDataFrame({"v": values, "i": range(len(values))},
                           geometry=[Point(0, 0)] * len(values), crs=4326)
    features = json.loads(written(gdf))["features"]
    assert [f["properties"]["i"] for f in features] == list(range(len(values)))
    text = written(gdf)
    for i, want in enumerate(expected):
        assert f'"properties":{{"v":{want},"i":{i}}}' in text


def test_text_is_kept_unescaped_and_keys_in_column_order():
    gdf = gpd.GeoDataFrame(
        {"名称": ["东社区", None], "b": [True, False], "a": [1, 2]},
        geometry=[Point(121.5, 31.2), None], crs=4326,
    )
    text = written(gdf)
    assert '"properties":{"名称":"东社区","b":true,"a":1}' in text
    assert '"properties":{"名称":null,"b":false,"a":2},"geometry":null' in text
    assert text == reference_geojson(gdf)


@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_property_less_frames(n):
    gdf = gpd.GeoDataFrame(geometry=[Point(1, 2)] * n, crs=4326)
    assert written(gdf) == reference_geojson(gdf)
    with_props = gpd.GeoDataFrame({"x": [1.5] * n}, geometry=[Point(1, 2)] * n, crs=None)
    assert written(with_props) == reference_geojson(with_props)


def test_unserialisable_values_still_fail(tmp_path):
    gdf = gpd.GeoDataFrame({"when": pd.to_datetime(["2024-01-01"])}, geometry=[Point(0, 0)],
                           crs=4326)
    with pytest.raises(TypeError):
        write_geojson(tmp_path / "x.geojson", gdf)


# --------------------------------------------------------------------------- rounding


def _same_floats(a: np.ndarray, b: list[float]) -> bool:
    """Equal values, equal signs of zero, NaN where NaN."""
    b = np.array(b, dtype=float)
    nan = np.isnan(a)
    return bool((nan == np.isnan(b)).all() and (a[~nan] == b[~nan]).all()
                and (np.signbit(a[~nan]) == np.signbit(b[~nan])).all())


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, 4, 6, 7, 10])
def test_round_values_is_pythons_round(decimals):
    rng = np.random.default_rng(decimals)
    x = np.concatenate([
        AWKWARD,
        rng.choice([-1, 1], 20000) * 10.0 ** rng.uniform(-12, 17, 20000),
        (np.arange(-5000, 5000) + 0.5) / 10.0**decimals,  # next to ties, both sides
        np.arange(-5000, 5000) / 10.0**decimals + 10.0 ** -(decimals + 1) / 2,
    ])
    assert _same_floats(round_values(x, decimals), [round(v, decimals) for v in x.tolist()])


@FAST
@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 9))
def test_round_values_property(v, decimals):
    assert _same_floats(round_values(np.array([v]), decimals), [round(v, decimals)])


@FAST
@given(st.lists(st.one_of(st.floats(), st.integers(-(2**70), 2**70), st.none(), st.booleans(),
                          st.text(st.characters(blacklist_categories=["Cs"]))), max_size=6))
def test_any_object_column_equals_the_reference(values):
    gdf = gpd.GeoDataFrame({"v": pd.Series(values, dtype=object)},
                           geometry=[Point(0, 0)] * len(values), crs=4326)
    assert written(gdf) == reference_geojson(gdf)


@FAST
@given(st.lists(st.floats(width=64), min_size=1, max_size=8))
def test_any_float_column_equals_the_reference(values):
    gdf = gpd.GeoDataFrame({"v": np.array(values, dtype=float), "i": np.arange(len(values))},
                           geometry=[Point(0, 0)] * len(values), crs=4326)
    assert written(gdf) == reference_geojson(gdf)

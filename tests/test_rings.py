"""rings.geojson and the rings layer of plan.gpkg: nested 5 ⊂ 10 ⊂ 15 and in agreement with
the walking distances of the cells inside them (grid city: Manhattan distance by hand)."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Point

import facplan
from facplan.rings import ring_tolerance_m
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS, node_xy

N = 8


@pytest.mark.parametrize("speed", [1.0, 0.5])
def test_rings_nest_and_agree_with_cell_distances(city, speed):
    folder, data = city
    data["walk_speed_m_s"] = speed
    data["optimize"][0]["sites"] = 2
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    out = res.write(folder / "out")
    rings = gpd.read_file(out / "rings.geojson").to_crs(GRID_CRS)
    layer = gpd.read_file(out / "plan.gpkg", layer="rings").to_crs(GRID_CRS)
    assert len(layer) == len(rings) == 6  # existing and planned, 3 rings each
    assert set(rings.geom_type) == {"MultiPolygon"} and set(layer.geom_type) == {"MultiPolygon"}
    assert sorted(rings.columns) == sorted(["kind", "tier", "state", "minutes", "walk_m",
                                            "geometry"])
    sel = res.summary["optimize"][0]["selected"]
    places = {"existing": [(0, 0)],
              "planned": [tuple(int(v) for v in s[1:].split("_")) for s in sel]}
    for state, sources in places.items():
        mine = rings[(rings["state"] == state) & (rings["kind"] == "sports_park")
                     & (rings["tier"] == "compound")].set_index("minutes")
        assert sorted(mine.index) == [5, 10, 15]
        for small, big in ((5, 10), (10, 15)):
            g_small, g_big = mine.loc[small, "geometry"], mine.loc[big, "geometry"]
            # nested: exactly in the run, within the 1e-6° rounding of the file
            assert shapely.difference(g_small, g_big.buffer(0.2)).is_empty
            exact = res.rings[(res.rings["state"] == state)].set_index("minutes")
            assert exact.loc[small, "geometry"].within(exact.loc[big, "geometry"])
            assert g_big.area > g_small.area
        for minutes in (5, 10, 15):
            limit = minutes * 60 * speed
            assert mine.loc[minutes, "walk_m"] == pytest.approx(limit)
            geom = mine.loc[minutes, "geometry"]
            for i in range(N):
                for j in range(N):
                    d = min(100.0 * (abs(i - a) + abs(j - b)) for a, b in sources)
                    inside = geom.buffer(1e-6).contains(Point(*node_xy(i, j)))
                    if d <= limit:
                        assert inside, (state, minutes, i, j, d)
                    if inside:
                        assert d <= limit + ring_tolerance_m(), (state, minutes, i, j, d)


def test_rings_area_follows_the_streets(city):
    """A 5-minute ring of one facility at a grid corner covers the streets within 300 m:
    an L-shaped fan of edges, far less than the 300 m disc."""
    folder, data = city
    data["optimize"] = []
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    r5 = res.rings.set_index("minutes").loc[5, "geometry"]
    x0, y0 = node_xy(0, 0)
    # every street point within 300 m of the corner along the grid is inside ...
    for dx, dy in [(300, 0), (0, 300), (100, 200), (200, 100), (150, 100)]:
        assert r5.buffer(1e-6).contains(Point(x0 + dx, y0 + dy))
    # ... and the centre of a block beyond reach (350 m away) is not
    assert not r5.contains(Point(x0 + 250, y0 + 150))
    assert list(res.rings["state"].unique()) == ["existing"]


def test_rings_are_a_switchable_map_layer(city):
    from tests.browser import chromium, missing_browser

    if (why := missing_browser()) is not None:
        pytest.skip(why)
    import time

    folder, data = city
    data["map"]["lang"] = "zh"
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    page = res.write(folder / "out") / "map.html"
    count = "return document.querySelectorAll('.leaflet-overlay-pane path').length"
    with chromium() as d:
        d.get(page.as_uri())
        deadline = time.monotonic() + 30
        while not d.execute_script(count) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []
        before = d.execute_script(count)
        labels = d.execute_script(
            "return Array.from(document.querySelectorAll("
            "'.leaflet-control-layers-overlays label')).map(function (l) {"
            " return [l.textContent.trim(), l.querySelector('input').checked]; })")
        ring = [lab for lab in labels if "5/10/15分钟步行范围" in lab[0]]
        assert len(ring) == 1 and ring[0][1] is False  # listed, off on opening
        d.execute_script(
            "var ls = document.querySelectorAll('.leaflet-control-layers-overlays label');"
            "for (var i = 0; i < ls.length; i++) if (ls[i].textContent.indexOf('分钟步行') >= 0)"
            " ls[i].querySelector('input').click();")
        assert d.execute_script(count) == before + len(res.rings) == before + 6
        assert [e for e in d.get_log("browser") if e["level"] == "SEVERE"] == []

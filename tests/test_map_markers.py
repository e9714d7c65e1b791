"""500+ sites: markers shrink when zoomed out, so they do not hide the cells (#19)."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from facplan.outputs.map import (
    MANY_MARKERS,
    MARKER_FULL_ZOOM,
    MARKER_MIN_SCALE,
    build_map,
    write_map,
)
from tests.browser import chromium, missing_browser
from tests.test_map import DX, DY, X0, Y0, make_layers

_skip = missing_browser()

_MAP = """
for (var k in window) { try { if (window[k] instanceof L.Map) return k; } catch (e) {} }
return null;
"""


def _layers(n_sites: int) -> dict:
    layers = make_layers()
    rng = np.random.default_rng(1)
    x = X0 + rng.uniform(0, 10 * DX, n_sites)
    y = Y0 + rng.uniform(0, 5 * DY, n_sites)
    layers["sites"] = gpd.GeoDataFrame(
        {"site_id": [f"s{i}" for i in range(n_sites)], "kind": ["sports_park"] * n_sites,
         "tier": ["compound"] * n_sites, "rank": np.arange(1, n_sites + 1),
         "marginal_population": np.full(n_sites, 10.0), "cost": np.full(n_sites, 1.0)},
        geometry=[Point(a, b) for a, b in zip(x, y, strict=True)], crs=4326,
    )
    layers["catchments"] = None
    return layers


def _marker_width(driver) -> float:
    return driver.execute_script(
        "var s = document.querySelector('.leaflet-marker-icon.fp-site svg');"
        "return s ? s.getBoundingClientRect().width : -1;")


@pytest.mark.browser
@pytest.mark.skipif(_skip is not None, reason=_skip or "")
@pytest.mark.parametrize("n_sites", [MANY_MARKERS, 4])
def test_many_markers_shrink_when_zoomed_out(tmp_path, n_sites):
    path = tmp_path / "map.html"
    write_map(path, build_map(**_layers(n_sites), tiles="none", title="markers"))
    with chromium() as driver:
        driver.get(path.as_uri())
        deadline = time.monotonic() + 20
        while _marker_width(driver) < 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        name = driver.execute_script(_MAP)
        assert name is not None
        widths = {}
        for zoom in (MARKER_FULL_ZOOM - 3, MARKER_FULL_ZOOM + 1):
            # until the map is at that zoom (the page's own first fit may come later)
            deadline = time.monotonic() + 10
            while driver.execute_script(f"return window[{name!r}].getZoom()") != zoom:
                assert time.monotonic() < deadline, "the map did not zoom"
                driver.execute_script(f"window[{name!r}].setZoom({zoom}, {{animate: false}});")
                time.sleep(0.2)
            widths[zoom] = _marker_width(driver)
        full = widths[MARKER_FULL_ZOOM + 1]
        assert full > 0
        if n_sites >= MANY_MARKERS:
            # by hand: scale = max(min_scale, 2 ** ((zoom - full_zoom) / 2))
            expect = max(MARKER_MIN_SCALE, 2 ** (-3 / 2))
            assert widths[MARKER_FULL_ZOOM - 3] == pytest.approx(full * expect, rel=0.05)
        else:
            assert widths[MARKER_FULL_ZOOM - 3] == pytest.approx(full, rel=1e-6)

"""The map on an intranet: sports-park tiers by their own names; the streets drawn from the
walking network when tiles cannot load or with ``tiles: none``."""

from __future__ import annotations

from facplan.outputs.map import tier_label


def test_sports_park_tiers_have_their_own_names():
    assert [tier_label(t, "zh").split(" ")[0] for t in ("district", "community", "compound")] == [
        "片区级", "社区级", "小区级"]
    assert tier_label("community", "en") == "Community 社区级"
    assert tier_label("all", "zh") == "全部 All"


import time  # noqa: E402

import pytest  # noqa: E402

import facplan  # noqa: E402
from facplan.scenario import scenario_from_dict  # noqa: E402
from tests.browser import chromium, missing_browser  # noqa: E402

_STATE_JS = """
var base = Array.from(document.querySelectorAll('.leaflet-control-layers-base label'))
  .map(function (l) { return [l.textContent.trim(), l.querySelector('input').checked]; });
return {base: base, tiles: document.querySelectorAll('.leaflet-tile-pane img').length,
        streets: document.querySelectorAll('.leaflet-fpStreets-pane path').length};
"""


def test_streets_layer_is_the_network_without_connectors(city):
    folder, data = city
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    lines = res.streets.geometry.iloc[0]
    # the 8×8 grid of 100 m blocks: 2 · 8 · 700 m of street, no cell connectors
    assert lines.length == pytest.approx(2 * 8 * 700.0, abs=1e-6)


@pytest.mark.skipif(missing_browser() is not None, reason=missing_browser() or "")
@pytest.mark.parametrize("tiles", ["none", "osm"])
def test_streets_base_layer_offline(city, tiles):
    folder, data = city
    data["map"]["tiles"] = tiles
    page = facplan.run(scenario_from_dict(data, base_dir=folder)).write(folder / "out") / "map.html"
    with chromium() as d:
        d.get_log("browser")
        d.get(page.as_uri())
        deadline = time.monotonic() + 30
        state = d.execute_script(_STATE_JS)
        while time.monotonic() < deadline:
            state = d.execute_script(_STATE_JS)
            on = [b for b in state["base"] if b[1]]
            if state["streets"] and on and "Streets (from the network)" in on[0][0]:
                break
            time.sleep(0.1)
        names = [b[0] for b in state["base"]]
        assert any("Streets (from the network)" in n for n in names), names
        on = [b[0] for b in state["base"] if b[1]]
        assert len(on) == 1 and "Streets (from the network)" in on[0], state
        assert state["streets"] == 1  # one MultiLineString path, in its own pane
        logs = d.get_log("browser")
        # the tiles' failures are network events; the page's own code logs no error
        assert [e for e in logs if e["level"] == "SEVERE" and e.get("source") != "network"] == []
        if tiles == "none":
            assert [e for e in logs if e["level"] == "SEVERE"] == []

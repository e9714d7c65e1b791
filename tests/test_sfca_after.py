"""``sfca_<kind>_<tier>_after``: the 2SFCA supply per resident with the chosen sites,
beside the existing ``sfca_<kind>_<tier>``. Reference: the definition computed by hand
on the grid city (walking = Manhattan distance)."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city

N = 5
R = 300.0


def _m(a, b):
    return 100.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1]))


def _sfca(cells: dict, supply: dict) -> dict:
    ratio = {}
    for s, area in supply.items():
        people = sum(p for c, p in cells.items() if _m(c, s) <= R)
        ratio[s] = area / people if people > 0 else 0.0
    return {c: sum(r for s, r in ratio.items() if _m(c, s) <= R) for c in cells}


def test_sfca_after_counts_the_new_sites(tmp_path):
    data = grid_city(tmp_path, n=N)
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    pop = gpd.read_file(tmp_path / "population.gpkg")
    cells = {tuple(int(v) for v in c[1:].split("_")): p
             for c, p in zip(pop["cell_id"], pop["population"], strict=True)}
    chosen = [tuple(int(v) for v in s[1:].split("_"))
              for s in res.summary["optimize"][0]["selected"]]
    assert chosen
    before = _sfca(cells, {(0, 0): 1000.0})
    after = _sfca(cells, {(0, 0): 1000.0, **{s: 5000.0 for s in chosen}})
    d = res.demand.set_index("cell_id")
    for c in cells:
        cid = f"p{c[0]}_{c[1]}"
        assert d.loc[cid, "sfca_sports_park_compound"] == pytest.approx(before[c])
        assert d.loc[cid, "sfca_sports_park_compound_after"] == pytest.approx(after[c])
    w = np.array([cells[c] for c in cells])
    mean_after = float(np.average([after[c] for c in cells], weights=w))
    a = res.summary["access"]["sports_park/compound"]["after"]
    assert a["sfca_mean_m2"] == pytest.approx(mean_after)
    out = res.write(tmp_path / "out")
    props = json.loads((out / "demand.geojson").read_text())["features"][0]["properties"]
    assert "sfca_sports_park_compound_after" in props

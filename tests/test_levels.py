"""Levels above the community: ``parent_field`` → ``parents.csv``, checked on the grid city
against covered people counted by hand from Manhattan distances."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import GRID_CRS, node_xy

N = 8
X0, Y0 = node_xy(0, 0)
MID = 350.0  # between grid columns/rows 3 and 4


def quadrant(i: int, j: int) -> str:
    """The community of grid node (row i, column j)."""
    return ("s" if i * 100.0 < MID else "n") + ("w" if j * 100.0 < MID else "e")


#: community → (parent id, parent name): one 街道 of one community, one of three
PARENTS = {"sw": ("J1", "一街道"), "nw": ("J2", "二街道"), "ne": ("J2", "二街道"),
           "se": ("J2", "二街道")}


def write_quadrants(folder, data, *, with_names=True) -> None:
    boxes = {
        "sw": box(X0 - 50, Y0 - 50, X0 + MID, Y0 + MID),
        "nw": box(X0 - 50, Y0 + MID, X0 + MID, Y0 + N * 100),
        "se": box(X0 + MID, Y0 - 50, X0 + N * 100, Y0 + MID),
        "ne": box(X0 + MID, Y0 + MID, X0 + N * 100, Y0 + N * 100),
    }
    ids = sorted(boxes)
    gpd.GeoDataFrame(
        {"cid": ids, "name": [f"社区{c}" for c in ids],
         "street": [PARENTS[c][0] for c in ids], "street_name": [PARENTS[c][1] for c in ids]},
        geometry=[boxes[c] for c in ids], crs=GRID_CRS,
    ).to_file(folder / "communities.gpkg")
    data["communities"]["parent_field"] = "street"
    if with_names:
        data["communities"]["parent_name_field"] = "street_name"
    data["optimize"][0]["sites"] = 1


def _hand_distances(res) -> dict[tuple[int, int], tuple[float, float]]:
    sel = res.summary["optimize"][0]["selected"]
    chosen = [tuple(int(v) for v in s[1:].split("_")) for s in sel]

    def d(i, j, sites):
        return min(100.0 * (abs(i - a) + abs(j - b)) for a, b in sites)

    return {(i, j): (d(i, j, [(0, 0)]), d(i, j, [(0, 0), *chosen]))
            for i in range(N) for j in range(N)}


def test_parents_csv_rolls_up_by_population(city):
    folder, data = city
    write_quadrants(folder, data)
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    res.write(folder / "out")
    pop = res.demand.set_index("cell_id")["population"]
    dist = _hand_distances(res)
    parents = pd.read_csv(folder / "out" / "parents.csv", dtype={"parent_id": str})
    parents = parents.set_index("parent_id")
    assert list(parents.index) == ["J1", "J2"]
    assert parents.loc["J2", "parent_name"] == "二街道"
    assert parents.loc["J1", "communities"] == 1 and parents.loc["J2", "communities"] == 3
    for pid in ("J1", "J2"):
        cells = [(i, j) for i in range(N) for j in range(N) if PARENTS[quadrant(i, j)][0] == pid]
        people = sum(pop[f"p{i}_{j}"] for i, j in cells)
        before = sum(pop[f"p{i}_{j}"] for i, j in cells if dist[(i, j)][0] <= 300) / people
        after = sum(pop[f"p{i}_{j}"] for i, j in cells if dist[(i, j)][1] <= 300) / people
        row = parents.loc[pid]
        exact = res.parents.set_index("parent_id").loc[pid]
        assert row["population"] == pytest.approx(people)
        assert exact["coverage_sports_park_compound"] == pytest.approx(before, rel=1e-9)
        assert exact["coverage_sports_park_compound_after"] == pytest.approx(after, rel=1e-9)
        # the CSV holds 4 decimals
        assert row["coverage_sports_park_compound"] == pytest.approx(before, abs=5e-5)
        assert row["coverage_sports_park_compound_after"] == pytest.approx(after, abs=5e-5)
        meets = 0
        for c in [c for c, p in PARENTS.items() if p[0] == pid]:
            cc = [(i, j) for i, j in cells if quadrant(i, j) == c]
            share = (sum(pop[f"p{i}_{j}"] for i, j in cc if dist[(i, j)][1] <= 300)
                     / sum(pop[f"p{i}_{j}"] for i, j in cc))
            meets += share >= 0.85
        assert row["meeting_target_sports_park_compound"] == meets
    comm = pd.read_csv(folder / "out" / "communities.csv").set_index("community_id")
    assert comm.loc["se", "parent_id"] == "J2" and comm.loc["sw", "parent_name"] == "一街道"
    # a parent without a name field is named by its id
    data["communities"].pop("parent_name_field")
    res2 = facplan.run(scenario_from_dict(data, base_dir=folder))
    assert list(res2.parents["parent_name"]) == ["J1", "J2"]


def test_parent_field_errors(city):
    folder, data = city
    write_quadrants(folder, data)
    data["communities"]["parent_field"] = "nope"
    with pytest.raises(facplan.InputError, match="nope"):
        facplan.run(scenario_from_dict(data, base_dir=folder))
    g = gpd.read_file(folder / "communities.gpkg")
    g.loc[2, "street"] = None
    g.to_file(folder / "communities.gpkg")
    data["communities"]["parent_field"] = "street"
    with pytest.raises(facplan.InputError, match="no parent id") as e:
        facplan.run(scenario_from_dict(data, base_dir=folder))
    assert e.value.rows == [3]
    bad = dict(data["communities"])
    bad.pop("parent_field")
    with pytest.raises(facplan.InputError, match="parent_name_field"):
        scenario_from_dict({**data, "communities": bad}, base_dir=folder)


def test_no_parents_without_parent_field(city):
    folder, data = city
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    res.write(folder / "out")
    assert res.parents is None and not (folder / "out" / "parents.csv").exists()
    assert "parent_id" not in res.communities


def test_report_md_has_the_parent_section(city):
    folder, data = city
    write_quadrants(folder, data)
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    res.write(folder / "out")
    text = (folder / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Parent units" in text
    j2 = res.parents.set_index("parent_id").loc["J2"]
    assert f"| 二街道 (J2) | 3 | {j2['population']:,.0f} |" in text

"""Capacitated entries report what can be served: ``served_after``, ``assignment.csv``
(cell → site → people) and coverage figures from the served numbers (the defect: 17.2%
"covered" after while 4 × 600 = 2,400 people could be served). References: brute force
over the site pairs, each pair's service by a linear program (scipy.optimize.linprog)."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city

N = 5
CAP = 60.0
R = 300.0


def _m(a, b):
    return 100.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1]))


def _served(w: dict, sites: list, uncovered: set) -> float:
    """Most people the sites serve (capacity CAP each) among cells not covered before."""
    cells = [c for c in w if c in uncovered and any(_m(c, s) <= R for s in sites)]
    pairs = [(i, j) for i, c in enumerate(cells) for j, s in enumerate(sites) if _m(c, s) <= R]
    if not pairs:
        return 0.0
    n = len(pairs)
    a, b = [], []
    for i in range(len(cells)):  # a cell's people are served at most once
        a.append([1.0 if p[0] == i else 0.0 for p in pairs])
        b.append(w[cells[i]])
    for j in range(len(sites)):
        a.append([1.0 if p[1] == j else 0.0 for p in pairs])
        b.append(CAP)
    res = linprog(-np.ones(n), A_ub=np.array(a), b_ub=np.array(b), bounds=(0, None))
    return float(-res.fun)


def test_capacitated_entry_reports_service(tmp_path):
    data = grid_city(tmp_path, n=N)
    data["standards"] = {"sports_park": {"compound": {"capacity": CAP}}}
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp",
                         "sites": 2, "capacitated": True}]
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    pop = gpd.read_file(tmp_path / "population.gpkg")
    w = {tuple(int(v) for v in c[1:].split("_")): p
         for c, p in zip(pop["cell_id"], pop["population"], strict=True)}
    cands = [(i, j) for i in range(N) for j in range(N) if (i + j) % 2 == 1]
    uncovered = {c for c in w if _m(c, (0, 0)) > R}
    before = sum(p for c, p in w.items() if c not in uncovered)
    best = max(_served(w, list(pair), uncovered) for pair in itertools.combinations(cands, 2))
    o = res.summary["optimize"][0]
    assert o["served"] == pytest.approx(best, rel=1e-6)
    assert o["served_after"] == pytest.approx(before + best, rel=1e-6)
    chosen = [tuple(int(v) for v in s[1:].split("_")) for s in o["selected"]]
    assert _served(w, chosen, uncovered) == pytest.approx(best, rel=1e-6)
    # coverage after = served, not "within walking distance"
    a = res.summary["access"]["sports_park/compound"]["after"]
    total = sum(w.values())
    assert a["covered_population"] == pytest.approx(before + best, rel=1e-6)
    assert a["coverage"] == pytest.approx((before + best) / total, rel=1e-6)
    assert a["within_reach_population"] >= a["covered_population"] - 1e-6
    # assignment.csv: who is served where
    out = res.write(tmp_path / "out")
    asg = pd.read_csv(out / "assignment.csv", dtype={"cell_id": str, "site_id": str})
    assert list(asg.columns[:3]) == ["cell_id", "site_id", "people"]
    assert asg["people"].sum() == pytest.approx(best, rel=1e-6)
    assert (asg.groupby("site_id")["people"].sum() <= CAP + 1e-6).all()
    for cid, people in asg.groupby("cell_id")["people"].sum().items():
        c = tuple(int(v) for v in cid[1:].split("_"))
        assert c in uncovered and people <= w[c] + 1e-6
    for cid, sid in zip(asg["cell_id"], asg["site_id"], strict=True):
        c = tuple(int(v) for v in cid[1:].split("_"))
        s = tuple(int(v) for v in sid[1:].split("_"))
        assert _m(c, s) <= R


def test_community_coverage_after_is_served(tmp_path):
    data = grid_city(tmp_path, n=N)
    data["standards"] = {"sports_park": {"compound": {"capacity": CAP}}}
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp",
                         "sites": 2, "capacitated": True}]
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    out = res.write(tmp_path / "out")
    asg = pd.read_csv(out / "assignment.csv", dtype={"cell_id": str, "site_id": str})
    pop = gpd.read_file(tmp_path / "population.gpkg")
    comm = res.communities.set_index("community_id")
    assert "within_reach_sports_park_compound_after" in pd.read_csv(out / "communities.csv")
    half = (N - 1) / 2  # grid_city: west = columns left of the middle
    for cid in ("west", "east"):
        cells = [c for c in pop["cell_id"]
                 if (int(c[1:].split("_")[1]) < half) == (cid == "west")]
        people = pop.set_index("cell_id").loc[cells, "population"]
        covered_before = sum(p for c, p in people.items()
                             if _m(tuple(int(v) for v in c[1:].split("_")), (0, 0)) <= R)
        served = asg[asg["cell_id"].isin(cells)]["people"].sum()
        assert comm.loc[cid, "coverage_sports_park_compound_after"] == pytest.approx(
            (covered_before + served) / people.sum(), rel=1e-6)
        assert comm.loc[cid, "within_reach_sports_park_compound_after"] >= \
            comm.loc[cid, "coverage_sports_park_compound_after"] - 1e-9

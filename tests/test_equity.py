"""Equity figures in summary.json (gini, communities_meeting_target) and "only the kinds
the scenario uses", checked on the grid city against hand computation (walking distance
on the grid = Manhattan distance)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import facplan
from facplan.equity import gini
from facplan.scenario import scenario_from_dict
from facplan.testing import node_xy

N = 8
HALF_X = node_xy(0, 0)[0] + (N - 1) * 100.0 / 2


def _brute_gini(x: list[float], w: list[float]) -> float:
    """Σ_i Σ_j w_i w_j |x_i − x_j| / (2 W² μ), every ordered pair spelled out."""
    total = sum(w)
    mean = sum(a * b for a, b in zip(x, w, strict=True)) / total
    pairs = sum(wi * wj * abs(xi - xj)
                for (xi, wi), (xj, wj) in itertools.product(zip(x, w, strict=True), repeat=2))
    return pairs / (2 * total * total * mean)


def test_gini_small_cases_by_hand():
    # two people, one at 0 m and one at 100 m: G = 2·1·1·100 / (2·4·50) = 0.5
    assert gini(np.array([0.0, 100.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    # everyone at the same distance: 0
    assert gini(np.array([300.0, 300.0, 300.0]), np.array([5.0, 1.0, 2.0])) == 0.0
    # unreachable (NaN) and empty cells are left out
    assert gini(np.array([0.0, np.nan, 100.0, 5000.0]), np.array([1.0, 9.0, 1.0, 0.0])) == (
        pytest.approx(0.5)
    )
    assert gini(np.array([np.nan]), np.array([3.0])) is None
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2000, 40).astype(float)
    x[:5] = x[5]  # ties
    w = rng.integers(1, 50, 40).astype(float)
    assert gini(x, w) == pytest.approx(_brute_gini(list(x), list(w)), rel=1e-12)


def _run(folder, data):
    return facplan.run(scenario_from_dict(data, base_dir=folder))


def _after_distances(res) -> dict[str, float]:
    """Manhattan distance of each cell to the facility at (0, 0) or a chosen site."""
    sel = res.summary["optimize"][0]["selected"]
    sites = [(0, 0)] + [tuple(int(v) for v in s[1:].split("_")) for s in sel]
    return {
        f"p{i}_{j}": min(100.0 * (abs(i - a) + abs(j - b)) for a, b in sites)
        for i in range(N) for j in range(N)
    }


def test_summary_gini_and_communities_meeting_target(city):
    folder, data = city
    data["standards"] = {"sports_park": {"compound": {"target_coverage": 0.3}}}
    res = _run(folder, data)
    a = res.summary["access"]["sports_park/compound"]
    dist = _after_distances(res)
    pop = res.demand.set_index("cell_id")["population"].to_dict()
    ids = sorted(dist)
    assert a["gini"] == pytest.approx(_brute_gini([dist[c] for c in ids], [pop[c] for c in ids]),
                                      rel=1e-9)
    assert 0 < a["gini"] < 1
    # per community covered share after, from the hand distances
    x0 = node_xy(0, 0)[0]
    share = {}
    for side in ("west", "east"):
        cells = [f"p{i}_{j}" for i in range(N) for j in range(N)
                 if (x0 + j * 100.0 < HALF_X) == (side == "west")]
        cov = sum(pop[c] for c in cells if dist[c] <= 300)
        share[side] = cov / sum(pop[c] for c in cells)
    assert a["target_coverage"] == 0.3
    assert a["communities_with_people"] == 2
    assert a["communities_meeting_target"] == sum(v >= 0.3 for v in share.values())
    # the default target is 0.85: on this grid no half is 85 % covered by 3 parks
    res85 = _run(folder, {k: v for k, v in data.items() if k != "standards"})
    a85 = res85.summary["access"]["sports_park/compound"]
    assert a85["target_coverage"] == 0.85
    assert a85["communities_meeting_target"] == sum(v >= 0.85 for v in share.values())
    # one target that both halves meet and one that none does: the count follows
    lo = min(share.values()) - 1e-6
    data["standards"]["sports_park"]["compound"]["target_coverage"] = lo
    assert _run(folder, data).summary["access"]["sports_park/compound"][
        "communities_meeting_target"] == 2


def test_target_coverage_must_be_a_fraction(city):
    folder, data = city
    data["standards"] = {"sports_park": {"compound": {"target_coverage": 1.5}}}
    with pytest.raises(facplan.InputError, match="target_coverage"):
        scenario_from_dict(data, base_dir=folder)


def test_parks_only_study_names_no_centre(city):
    folder, data = city
    res = _run(folder, data)
    res.write(folder / "out")
    table = pd.read_csv(folder / "out" / "communities.csv")
    assert not table["gaps"].fillna("").str.contains("centre").any()
    assert "centre" not in (folder / "out" / "report.md").read_text(encoding="utf-8")
    assert set(res.summary["access"]) == {"sports_park/compound"}
    assert not [c for c in table.columns if "neighbourhood" in c]

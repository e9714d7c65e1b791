"""Every optimize model through the scenario, against brute force on the grid city
(points on grid nodes: walking distance = Manhattan distance)."""

import itertools

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import box

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city, node_xy

N = 5


@pytest.fixture
def small(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    w = {tuple(int(v) for v in cid[1:].split("_")): p
         for cid, p in zip(pop["cell_id"], pop["population"], strict=True)}
    cands = [(i, j) for i in range(N) for j in range(N) if (i + j) % 2 == 1]
    return tmp_path, data, w, cands


def _m(a, b):
    return 100.0 * (abs(a[0] - b[0]) + abs(a[1] - b[1]))


def _covered(w, sites, r):
    return sum(p for c, p in w.items() if any(_m(c, s) <= r + 1e-9 for s in sites))


def _sid(s):
    return tuple(int(v) for v in s[1:].split("_"))


def _run(folder, data):
    return facplan.run(scenario_from_dict(data, base_dir=folder))


def test_lscp_fewest_sites(small):
    folder, data, w, cands = small
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "lscp"}]
    res = _run(folder, data)
    o = res.summary["optimize"][0]
    existing = [(0, 0)]
    target = [c for c in w if any(_m(c, s) <= 300 for s in cands + existing)]
    best = None
    for k in range(0, len(cands) + 1):
        for sub in itertools.combinations(cands, k):
            if all(any(_m(c, s) <= 300 for s in list(sub) + existing) for c in target):
                best = k
                break
        if best is not None:
            break
    assert o["objective"] == best == len(o["selected"])
    chosen = [_sid(s) for s in o["selected"]]
    assert all(any(_m(c, s) <= 300 for s in chosen + existing) for c in target)
    assert o["uncoverable_cells"] == len(w) - len(target)


def test_pmedian_matches_brute_force(small):
    folder, data, w, cands = small
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "pmedian", "sites": 2}]
    res = _run(folder, data)
    o = res.summary["optimize"][0]

    def cost(sites):
        return sum(p * min(_m(c, s) for s in sites + [(0, 0)]) for c, p in w.items())

    best = min(cost(list(pair)) for pair in itertools.combinations(cands, 2))
    assert o["objective"] == pytest.approx(best)
    assert cost([_sid(s) for s in o["selected"]]) == pytest.approx(best)
    assert o["objective_before"] == pytest.approx(cost([]))
    assert o["gap"] <= 1e-6


def test_shared_budget_one_location_one_tier(small):
    folder, data, w, cands = small
    data["optimize"] = [
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "budget": 2.0,
         "budget_group": "parks"},
        {"kind": "sports_park", "tier": "community", "model": "mclp", "budget": 2.0,
         "budget_group": "parks"},
    ]
    res = _run(folder, data)
    by = {o["tier"]: o for o in res.summary["optimize"]}
    base_c = _covered(w, [(0, 0)], 300)  # existing compound site; no community site
    best = 0.0
    options = [(c, t) for c in cands for t in ("compound", "community")]
    for k in (0, 1, 2):
        for sub in itertools.combinations(options, k):
            if len({c for c, _ in sub}) < k:
                continue  # a location serves one tier
            comp = [c for c, t in sub if t == "compound"]
            comm = [c for c, t in sub if t == "community"]
            gain = (_covered(w, [(0, 0), *comp], 300) - base_c) + _covered(w, comm, 500)
            best = max(best, gain)
    total = by["compound"]["objective"] + by["community"]["objective"]
    assert total == pytest.approx(best)
    chosen = by["compound"]["selected"] + by["community"]["selected"]
    assert len(chosen) == len(set(chosen)) <= 2
    assert by["compound"]["budget_group"] == "parks"


def test_phases_are_stagewise_optimal(small):
    folder, data, w, cands = small
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp",
                         "phases": [{"year": 2026, "sites": 1}, {"year": 2027, "sites": 1}]}]
    res = _run(folder, data)
    o = res.summary["optimize"][0]
    p1, p2 = o["phases"]
    best1 = max(_covered(w, [(0, 0), c], 300) for c in cands)
    assert p1["covered_after"] == pytest.approx(best1)
    first = _sid(p1["selected"][0])
    best2 = max(_covered(w, [(0, 0), first, c], 300) for c in cands if c != first)
    assert p2["covered_after"] == pytest.approx(best2)
    sites = res.sites.set_index("site_id")
    assert sites.loc[p1["selected"][0], "phase"] == 2026
    assert sites.loc[p2["selected"][0], "phase"] == 2027


def test_exclusion_zone_removes_candidates(small):
    folder, data, w, cands = small
    x, y = node_xy(2, 1)
    gpd.GeoDataFrame({"zone": ["遗址保护区 heritage"]}, geometry=[box(x - 150, y - 150, x + 150, y + 150)],
                     crs="EPSG:32635").to_file(folder / "heritage.gpkg")
    data["exclusions"] = [{"path": "heritage.gpkg", "name_field": "zone"}]
    res = _run(folder, data)
    c = res.candidates.set_index("site_id")
    inside = [s for s in c.index if abs(_sid(s)[0] - 2) + abs(_sid(s)[1] - 1) <= 1 and
              max(abs(_sid(s)[0] - 2), abs(_sid(s)[1] - 1)) <= 1]
    assert inside
    for s in inside:
        assert c.loc[s, "excluded"] == "exclusion zone: 遗址保护区 heritage"
        assert not c.loc[s, "chosen"]
    allowed = [s for s in cands if f"s{s[0]}_{s[1]}" not in inside]
    best = max(_covered(w, [(0, 0), a, b], 300) for a, b in itertools.combinations(allowed, 2))
    assert res.summary["optimize"][0]["covered_after"] == pytest.approx(best)


def test_capacitated_sites_serve_at_most_capacity(small):
    folder, data, w, cands = small
    data["standards"] = {"sports_park": {"compound": {"capacity": 60}}}
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2,
                         "capacitated": True}]
    res = _run(folder, data)
    o = res.summary["optimize"][0]
    assert o["served"] <= 2 * 60 + 1e-6
    assert o["objective"] == pytest.approx(o["served"])


def test_weights_count_the_elderly_double(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    pop["age_65_plus"] = np.floor(pop["population"] / 3)
    pop.to_file(tmp_path / "population.gpkg")
    data["population"]["groups"] = ["age_65_plus"]
    data["weights"] = {"age_65_plus": 2.0}
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    w = {tuple(int(v) for v in c[1:].split("_")): p + e
         for c, p, e in zip(pop["cell_id"], pop["population"], pop["age_65_plus"], strict=True)}
    cands = [(i, j) for i in range(N) for j in range(N) if (i + j) % 2 == 1]
    base = _covered(w, [(0, 0)], 300)
    best = max(_covered(w, [(0, 0), a, b], 300) - base for a, b in itertools.combinations(cands, 2))
    assert res.summary["optimize"][0]["objective"] == pytest.approx(best)
    g = res.summary["access"]["sports_park/compound"]["groups"]["age_65_plus"]
    assert g["population"] == pytest.approx(pop["age_65_plus"].sum())


def test_group_with_slower_walking_speed_gets_its_own_threshold(tmp_path):
    data = grid_city(tmp_path, n=N)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    pop["age_65_plus"] = pop["population"]  # everyone, to compare the two thresholds
    pop.to_file(tmp_path / "population.gpkg")
    data["population"]["groups"] = {"age_65_plus": {"walk_speed_m_s": 0.5}}
    data["standards"] = {"sports_park": {"compound": {"walk_min": 5}}}  # 300 m at 1 m/s
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    a = res.summary["access"]["sports_park/compound"]
    g = a["groups"]["age_65_plus"]
    assert a["threshold_m"] == pytest.approx(300.0) and g["threshold_m"] == pytest.approx(150.0)
    w = {tuple(int(v) for v in c[1:].split("_")): p
         for c, p in zip(pop["cell_id"], pop["population"], strict=True)}
    assert g["covered_population"] == pytest.approx(_covered(w, [(0, 0)], 150))
    assert a["covered_population"] == pytest.approx(_covered(w, [(0, 0)], 300))


def test_a_model_error_names_the_scenario_file_and_entry(small):
    """A model's complaint about its own parameter (here: forced sites that do not fit in
    `sites`) names the scenario file and the optimize entry, as the CLI prints it."""
    from facplan import InputError, load_scenario
    from facplan.testing import write_scenario

    folder, data, w, cands = small
    ids = [f"s{i}_{j}" for i, j in cands[:2]]
    data["optimize"] = [
        {"kind": "sports_park", "tier": "compound", "model": "lscp"},
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 1,
         "force": ids},
    ]
    path = write_scenario(folder, data)
    with pytest.raises(InputError) as info:
        facplan.run(load_scenario(path))
    assert info.value.field == "optimize.1.force"
    assert info.value.file == str(path.resolve())
    assert str(info.value) == (f"{path.resolve()}, field 'optimize.1.force': MCLP: 2 forced "
                               "sites but sites=1")


def test_an_unknown_forced_id_names_the_scenario_file(small):
    from facplan import InputError, load_scenario
    from facplan.testing import write_scenario

    folder, data, w, cands = small
    data["optimize"] = [{"kind": "sports_park", "tier": "compound", "model": "mclp",
                         "sites": 1, "force": ["nope"]}]
    path = write_scenario(folder, data)
    with pytest.raises(InputError, match=r"field 'optimize\.0\.force': no candidate with id "
                       r"'nope'") as info:
        facplan.run(load_scenario(path))
    assert info.value.file == str(path.resolve())

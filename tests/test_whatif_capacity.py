"""The what-if panel leaves capacitated kind/tiers out: their coverage after the plan is
the people served within capacities (#15), which a toggle cannot recompute on its own."""

from __future__ import annotations

import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city


def test_capacitated_entries_are_left_out_of_the_panel(tmp_path):
    data = grid_city(tmp_path)
    data["optimize"] = [
        {"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2,
         "capacitated": True},
        {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 1},
    ]
    data["standards"] = {"sports_park": {"compound": {"capacity": 50}}}
    res = facplan.run(scenario_from_dict(data, base_dir=tmp_path))
    w = res.whatif
    assert w is not None
    assert "sports_park/compound" not in w.keys and "sports_park/compound" not in w.open_keys
    assert w.open_keys == ["sports_park/community"]
    assert all(k == "sports_park/community" for _, k in w.plan) and len(w.plan) == 1
    # the run's served figure differs from the within-reach one the panel would show
    a = res.summary["access"]["sports_park/compound"]["after"]
    assert a.get("capacitated") and a["within_reach_population"] >= a["covered_population"]

    only = dict(data, optimize=data["optimize"][:1])
    assert facplan.run(scenario_from_dict(only, base_dir=tmp_path)).whatif is None

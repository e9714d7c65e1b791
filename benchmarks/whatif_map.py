"""Size and load time of map.html with the what-if panel (issue #20).

Runs the demo, the Liechtenstein scenario of ``tests/test_pipeline_inputs.py`` and the Porto
benchmark case (``benchmarks/make_inputs.py --case porto``, when its inputs exist), with the
panel on (the default limit) and off (``map.max_whatif_pairs: 0``), and opens each page in
Debian's headless chromium (``tests/browser.py``): the load time is the page's own
``loadEventEnd − navigationStart`` (median of 3), of which the what-if panel's start
(``facplanWhatIf.initMs``, last load), and the toggle time: one ``facplanWhatIf.toggle``
and its undo (the first toggle recolours every cell, the undo only the site's cells).

Usage::

    PYTHONPATH=. python benchmarks/whatif_map.py [--out /tmp/whatif-bench]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import facplan  # noqa: E402
from facplan.scenario import scenario_from_dict  # noqa: E402
from tests.browser import chromium  # noqa: E402


def _demo(out: Path) -> tuple[dict, Path]:
    from facplan.demo import build_demo_data, demo_scenario_path

    build_demo_data(out / "data" / "demo")
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(demo_scenario_path().read_text(encoding="utf-8"))
    data["map"] = {"tiles": "none"}
    return data, out / "scenarios"


def _liechtenstein(out: Path) -> tuple[dict, Path]:
    pbf = ROOT.parent / "shared" / "data" / "liechtenstein" / "liechtenstein.osm.pbf"
    data = {
        "name": "liechtenstein",
        "communities": {"osm_admin_level": 8},
        "population": {"dasymetric": {"buildings": "osm", "total": 40000}},
        "network": {"pbf": str(pbf)},
        "facilities": [
            {"osm": {"leisure": ["pitch", "sports_centre", "stadium", "track"]},
             "kind": "sports_park"},
            {"osm": {"amenity": ["community_centre"]}, "kind": "neighbourhood_centre",
             "tier": "all"},
        ],
        "candidates": {"osm": True},
        "optimize": [
            {"kind": "sports_park", "tier": "community", "model": "mclp", "sites": 5},
            {"kind": "neighbourhood_centre", "model": "mclp", "one_per_community": True},
        ],
        "map": {"tiles": "none"},
    }
    out.mkdir(parents=True, exist_ok=True)
    return data, out


def _porto(out: Path) -> tuple[dict, Path] | None:
    """The Porto benchmark case of ``make_inputs.py`` (run it first: ``--case porto``)."""
    folder = ROOT / "benchmarks" / "out" / "porto"
    if not (folder / "scenario.yaml").is_file():
        print("no Porto inputs: run benchmarks/make_inputs.py --case porto", file=sys.stderr)
        return None
    data = yaml.safe_load((folder / "scenario.yaml").read_text(encoding="utf-8"))
    data["map"] = {**data.get("map", {}), "tiles": "none"}
    return data, folder


def _measure(driver, page: Path) -> dict:
    loads = []
    for _ in range(3):
        driver.get(page.as_uri())
        loads.append(driver.execute_script(
            "var t = performance.timing; return t.loadEventEnd - t.navigationStart;"))
    toggle_ms = driver.execute_script(
        "var W = window.facplanWhatIf; if (!W || !W.enabled) return null;"
        "var id = W.open()[0], k = W.keyOf(id), t0 = performance.now();"
        "W.toggle(id, k); W.toggle(id, k); return (performance.now() - t0) / 2;")
    init_ms = driver.execute_script(
        "var W = window.facplanWhatIf; return W && W.enabled ? W.initMs : null;")
    return {"load_ms": statistics.median(loads), "whatif_init_ms": init_ms,
            "toggle_ms": toggle_ms}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("/tmp/whatif-bench"))
    args = ap.parse_args()
    rows = []
    with chromium() as driver:
        for name, make in (("demo", _demo), ("liechtenstein", _liechtenstein),
                           ("porto", _porto)):
            made = make(args.out / name)
            if made is None:
                continue
            data, folder = made
            for label, limit in (("on", None), ("off", 0)):
                d = copy.deepcopy(data)
                if limit is not None:
                    d["map"]["max_whatif_pairs"] = limit
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    res = facplan.run(scenario_from_dict(d, base_dir=folder))
                    run_s = time.perf_counter() - t0
                    out = res.write(args.out / name / f"out-{label}", force=True)
                page = out / "map.html"
                m = _measure(driver, page)
                w = res.whatif
                rows.append({
                    "case": name, "panel": label, "cells": len(res.demand),
                    "sites": 0 if w is None else len(w.sites),
                    "pairs": 0 if w is None else w.pairs,
                    "whatif_s": res.summary["timings"].get("what-if"),
                    "run_s": round(run_s, 2),
                    "map_bytes": page.stat().st_size, **m,
                })
                print(rows[-1], flush=True)


if __name__ == "__main__":
    main()

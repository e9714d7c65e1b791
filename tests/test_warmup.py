"""`python -m facplan.warmup` fills numba's cache with the signatures a run asks for, so
that a first run after install compiles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The kernels a run calls directly (helpers such as _push are inlined into them).
KERNELS = ["facplan.distances._nearest_kernel", "facplan.distances._bounded_kernel",
           "facplan.snapping._register", "facplan.snapping._query",
           "facplan.snapping._labels_kernel", "facplan.io.pbf._blob_index",
           "facplan.io.pbf._parse_block"]

RUN_GRID_CITY = """
import json, sys, warnings
warnings.simplefilter("ignore")
import facplan
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city
from facplan.warmup import kernel_dispatchers
data = grid_city(sys.argv[1])
data["snap"] = "edge"
facplan.run(scenario_from_dict(data, base_dir=sys.argv[1]))
print(json.dumps({k: int(sum(d.stats.cache_misses.values()))
                  for k, d in kernel_dispatchers().items()}))
"""


def _python(args, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=900, check=True)
    return done.stdout


def _warm(cache: Path) -> dict:
    out = _python(["-c", "import json; from facplan.warmup import warm_kernels; "
                         "print(json.dumps(warm_kernels()))"], cache)
    return json.loads(out.strip().splitlines()[-1])["kernels"]


def test_warmup_fills_the_cache_for_a_real_run(tmp_path):
    cache = tmp_path / "numba"
    first = _warm(cache)
    assert all(first[k]["misses"] >= 1 for k in KERNELS)  # an empty cache: compiled
    second = _warm(cache)
    assert all(second[k]["misses"] == 0 and second[k]["hits"] >= 1 for k in KERNELS)
    # a pipeline run in a new process (edge snapping) finds every signature in the cache
    misses = json.loads(_python(["-c", RUN_GRID_CITY, str(tmp_path / "city")], cache)
                        .strip().splitlines()[-1])
    assert misses and all(v == 0 for v in misses.values()), misses

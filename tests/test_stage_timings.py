"""summary.json's `timings`: each stage names what it times, with its peak memory."""

from __future__ import annotations

import json

import numpy as np
import pytest

import facplan
from facplan.memory import peak_rss_mb, reset_peak_rss
from facplan.scenario import scenario_from_dict

STAGES = ["read inputs", "read network", "attach", "access", "optimize", "what-if",
          "access after", "tables"]


def test_stages_and_their_peak_memory_reach_summary_json(city, tmp_path):
    folder, data = city
    data["snap"] = "edge"
    res = facplan.run(scenario_from_dict(data, base_dir=folder))
    timings = res.summary["timings"]
    assert [k for k in timings if k != "peak_memory_mb"] == STAGES  # in the order they ran
    assert all(isinstance(timings[k], float) and timings[k] >= 0 for k in STAGES)
    res.write(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())["timings"]
    assert list(written) == [*STAGES, "peak_memory_mb", "write"]
    assert written["write"] > 0
    peaks = written["peak_memory_mb"]
    assert list(peaks) == [*STAGES, "write"]
    # a Python process with numpy, geopandas and numba loaded: tens of MB at least, and
    # no stage above what this process ever held
    assert all(20 < v <= peak_rss_mb() + 1e6 for v in peaks.values())


def test_peak_memory_is_per_stage():
    """The mark is reset at each stage: a stage that holds 400 MB shows it, the next
    stage (which holds nothing new) does not."""
    if not reset_peak_rss():
        pytest.skip("this system cannot reset the peak-memory mark")
    base = peak_rss_mb()  # just reset: the resident memory now
    big = np.ones(50_000_000)  # 400 MB, touched
    big_peak = peak_rss_mb()
    del big
    reset_peak_rss()
    after = peak_rss_mb()
    assert big_peak - base >= 0.95 * 400e6 / 2**20
    assert after < big_peak - 300

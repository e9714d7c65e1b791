"""report: {pdf: true} without a browser: validate says so, and run stops before any
work with exit 2 and writes nothing (validate = run)."""

from __future__ import annotations

import os
import subprocess
import sys

from facplan.testing import grid_city, write_scenario


def _cli(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "FACPLAN_CHROMIUM"}
    env["PATH"] = str(tmp_path / "no-browser-here")  # nothing to find on the PATH
    return subprocess.run([sys.executable, "-m", "facplan.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_missing_browser_is_found_before_the_work(tmp_path):
    data = grid_city(tmp_path)
    data["report"] = {"pdf": True}
    path = write_scenario(tmp_path, data)
    v = _cli(["validate", str(path)], tmp_path)
    assert v.returncode == 2 and "report.pdf needs a Chromium-family browser" in v.stderr
    out = tmp_path / "out"
    r = _cli(["run", str(path), "--out", str(out)], tmp_path)
    assert r.returncode == 2 and "report.pdf needs a Chromium-family browser" in r.stderr
    assert "read inputs" not in r.stderr and not out.exists()
    # the same scenario without the PDF is valid
    data["report"] = {"pdf": False}
    ok = _cli(["validate", str(write_scenario(tmp_path, data, "ok.yaml"))], tmp_path)
    assert ok.returncode == 0, ok.stderr

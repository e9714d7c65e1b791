"""Inputs that cannot be right give one message (exit 2), never a traceback or a figure
that looks right: NaN node coordinates, GraphML lengths in kilometres, LineStrings as
population cells, a population total that overflows or is 0, infinite thresholds, snap
distances and speeds, a scenario name with a line break; ``map.tianditu_key`` reads only
``$FACPLAN_TIANDITU_KEY``; ``facplan demo`` runs from a read-only install."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString

import facplan
from facplan import FacplanWarning, InputError
from facplan.testing import grid_city, grid_graph, write_scenario

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    full = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-m", "facplan.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=900, env=full, cwd=cwd)


@pytest.fixture
def city(tmp_path) -> tuple[Path, dict]:
    return tmp_path, grid_city(tmp_path)


def _run(folder: Path, data: dict):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        return facplan.run(facplan.load_scenario(write_scenario(folder, data)))


# --------------------------------------------------------------------------- GraphML


def _save_graph(folder: Path, g) -> None:
    import osmnx as ox

    ox.save_graphml(g, folder / "walk.graphml")


def test_graphml_node_with_nan_x_is_one_message(city):
    folder, data = city
    g = grid_graph(8)
    g.nodes[5]["x"] = float("nan")
    _save_graph(folder, g)
    path = write_scenario(folder, data)
    for command in ("validate", "run"):
        args = [command, path] + (["--out", folder / "out"] if command == "run" else [])
        r = _cli(*args)
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr
        assert "walk.graphml" in r.stderr and "NaN or infinite coordinate" in r.stderr
        assert "row 5" in r.stderr  # the node id
    assert not (folder / "out").exists()


def test_graphml_lengths_in_kilometres_are_refused(city):
    folder, data = city
    g = grid_graph(8)  # 100 m spacing: every straight line is 100 m
    for _, _, d in g.edges(data=True):
        d["length"] = d["length"] / 1000.0
    _save_graph(folder, g)
    with pytest.raises(InputError, match=r"walk.graphml, field 'length'.*shorter than half "
                       r"the straight line.*= 0\.001\d*\).*kilometres.*must be in metres"):
        _run(folder, data)


def test_graphml_in_metres_with_a_few_short_edges_is_accepted(city):
    """A few edges shorter than their chord (bad data, not another unit) do not trip it."""
    folder, data = city
    g = grid_graph(8)
    for k, (_, _, d) in enumerate(g.edges(data=True)):
        if k < 10:
            d["length"] = 1.0
    _save_graph(folder, g)
    assert _run(folder, data).summary["population_total"] > 0


# --------------------------------------------------------------------------- population


def test_linestring_population_cells_are_refused(city):
    folder, data = city
    pop = gpd.read_file(folder / "population.gpkg")
    pt = pop.geometry.iloc[3]
    pop.loc[[3, 7], "geometry"] = [LineString([(pt.x, pt.y), (pt.x + 50, pt.y)])] * 2
    pop.to_file(folder / "population.gpkg")
    with pytest.raises(InputError, match=r"population.gpkg, field 'geometry', rows 4, 8: "
                       r"2 population cells are LineString geometries"):
        _run(folder, data)


def test_population_total_that_overflows_is_refused(city):
    folder, data = city
    pop = gpd.read_file(folder / "population.gpkg")
    pop.loc[[0, 1], "population"] = 1.5e308  # each finite, the sum is not
    pop.to_file(folder / "population.gpkg")
    path = write_scenario(folder, data)
    r = _cli("run", path, "--out", folder / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "population.gpkg, field 'population'" in r.stderr and "adds up" in r.stderr


def test_population_total_of_zero_is_refused(city):
    folder, data = city
    pop = gpd.read_file(folder / "population.gpkg")
    pop["population"] = 0.0
    pop.to_file(folder / "population.gpkg")
    with pytest.raises(InputError, match="total population of the study area is 0"):
        _run(folder, data)


# --------------------------------------------------------------------------- scenario


@pytest.mark.parametrize(("change", "key"), [
    ({"walk_speed_m_s": ".inf"}, "walk_speed_m_s"),
    ({"max_snap_m": ".inf"}, "max_snap_m"),
    ({"standards": {"sports_park": {"compound": {"walk_m": ".inf"}}}},
     "standards.sports_park.compound.walk_m"),
    ({"standards": {"sports_park": {"compound": {"walk_min": ".nan"}}}},
     "standards.sports_park.compound.walk_min"),
])
def test_infinite_values_are_refused(city, change, key):
    folder, data = city
    import yaml

    text = yaml.safe_dump({**data, **change}, sort_keys=False).replace("'.inf'", ".inf")
    text = text.replace("'.nan'", ".nan")
    path = folder / "inf.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"key '{key}': Input should be a finite number"):
        facplan.load_scenario(path)


def test_scenario_name_with_a_line_break_is_one_message(city):
    folder, data = city
    path = write_scenario(folder, dict(data, name="plan\nB"))
    r = _cli("run", path, "--out", folder / "out")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "key 'name'" in r.stderr and "one line" in r.stderr and "U+000A" in r.stderr
    assert not (folder / "out").exists()


# --------------------------------------------------------------------------- tianditu


def test_tianditu_key_reads_no_other_environment_variable(city):
    folder, data = city
    d = copy.deepcopy(data)
    d["map"] = {"tiles": "tianditu", "tianditu_key": "$HOME"}
    with pytest.raises(InputError, match=r"only as '\$FACPLAN_TIANDITU_KEY'"):
        facplan.load_scenario(write_scenario(folder, d))


def test_tianditu_key_from_the_documented_variable(city, monkeypatch):
    folder, data = city
    d = copy.deepcopy(data)
    d["map"] = {"tiles": "tianditu", "tianditu_key": "$FACPLAN_TIANDITU_KEY"}
    monkeypatch.delenv("FACPLAN_TIANDITU_KEY", raising=False)
    res = _run(folder, d)
    with pytest.raises(InputError, match="FACPLAN_TIANDITU_KEY, but that environment variable "
                       "is not set"):
        res.write(folder / "out")
    assert not (folder / "out").exists()
    monkeypatch.setenv("FACPLAN_TIANDITU_KEY", "k3y-from-env")
    res.write(folder / "out")
    assert "tk=k3y-from-env" in (folder / "out" / "map.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- demo


def test_demo_runs_from_a_read_only_install(tmp_path):
    """The package and its scenarios on a read-only disk (a tmpfs remounted ro): the
    demo builds its inputs in the cache folder and runs."""
    install = tmp_path / "install"
    install.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(install)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr!r}")
    try:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "facplan", install / "facplan", ignore=ignore)
        shutil.copytree(ROOT / "scenarios", install / "scenarios", ignore=ignore)
        subprocess.run(["mount", "-o", "remount,ro", str(install)], check=True)
        cache = tmp_path / "cache"
        env = {"PYTHONPATH": str(install), "FACPLAN_CACHE_DIR": str(cache),
               "PYTHONDONTWRITEBYTECODE": "1"}
        full = dict(os.environ, **env)
        r = subprocess.run(
            [sys.executable, "-m", "facplan.cli", "demo", "--out", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=900, env=full, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "out" / "map.html").is_file()
        assert (cache / "demo" / "data" / "demo" / "population.geojson").is_file()
        assert not (install / "data").exists()
    finally:
        subprocess.run(["umount", "-l", str(install)], check=True)

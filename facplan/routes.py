"""Walking distances between sites and cells, from a network or from a given table.

Two interchangeable sources, with the same two questions:

- :class:`GraphRoutes` — the walking graph with every cell and site attached as a leaf
  node (:func:`facplan.network.attach_points`); searches run in :mod:`facplan.distances`.
- :class:`MatrixRoutes` — a precomputed origin–destination table (``network: {matrix:
  …}``, e.g. from r5py, ORS or ArcGIS): destinations (facilities, candidates) × cells;
  a pair missing from the table is unreachable.

A *site* is an integer handle: a graph node, or a row of the table (−1 = unreachable).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from facplan import distances
from facplan.keys import COVER_EPS_M
from facplan.network import Graph

__all__ = ["COVER_EPS_M", "GraphRoutes", "MatrixRoutes"]



@dataclass
class GraphRoutes:
    """Network distances on an augmented graph.

    Attributes
    ----------
    graph
        The graph with cells and sites attached as leaf nodes.
    cell_nodes
        Leaf node of every cell (−1 = not snapped).
    """

    graph: Graph
    cell_nodes: np.ndarray

    def nearest(self, sites: np.ndarray) -> np.ndarray:
        """Distance in metres from every cell to its nearest site (NaN = none reachable).

        One multi-source search over the whole graph, never one search per cell.
        """
        sites = np.asarray(sites, dtype=np.int64)
        sites = np.unique(sites[sites >= 0])
        out = np.full(len(self.cell_nodes), np.nan)
        if len(sites) == 0:
            return out
        g = self.graph
        dist, _ = distances.nearest_source(g.indptr, g.indices, g.length_m, sites)
        ok = self.cell_nodes >= 0
        d = dist[self.cell_nodes[ok]]
        d[np.isinf(d)] = np.nan
        out[ok] = d
        return out

    def matrix(self, sites: np.ndarray, cutoff_m: float) -> sp.csr_matrix:
        """Sites × cells distances within ``cutoff_m`` (+1e-6 m) as a sparse matrix.

        Unreachable sites get empty rows, unsnapped cells empty columns. Explicit zero
        distances are entries (never call ``eliminate_zeros``).
        """
        sites = np.asarray(sites, dtype=np.int64)
        cells = self.cell_nodes
        s_ok = np.flatnonzero(sites >= 0)
        c_ok = np.flatnonzero(cells >= 0)
        shape = (len(sites), len(cells))
        if len(s_ok) == 0 or len(c_ok) == 0:
            return sp.csr_matrix(shape)
        g = self.graph
        m = distances.bounded_matrix(
            g.indptr, g.indices, g.length_m, sites[s_ok], cells[c_ok], cutoff_m + COVER_EPS_M
        ).tocoo()
        out = sp.csr_matrix((m.data, (s_ok[m.row], c_ok[m.col])), shape=shape)
        out.sort_indices()
        return out


@dataclass
class MatrixRoutes:
    """Distances read from an origin–destination table.

    Attributes
    ----------
    table
        Destinations × cells, metres; an entry (explicit zeros included) is a known
        walking distance, a missing entry is unreachable.
    """

    table: sp.csr_matrix

    def nearest(self, sites: np.ndarray) -> np.ndarray:
        sites = np.asarray(sites, dtype=np.int64)
        sites = np.unique(sites[sites >= 0])
        n_cells = self.table.shape[1]
        if len(sites) == 0:
            return np.full(n_cells, np.nan)
        sub = self.table[sites].tocoo()
        out = np.full(n_cells, np.inf)
        np.minimum.at(out, sub.col, sub.data)
        out[np.isinf(out)] = np.nan
        return out

    def matrix(self, sites: np.ndarray, cutoff_m: float) -> sp.csr_matrix:
        sites = np.asarray(sites, dtype=np.int64)
        shape = (len(sites), self.table.shape[1])
        ok = np.flatnonzero(sites >= 0)
        if len(ok) == 0:
            return sp.csr_matrix(shape)
        sub = self.table[sites[ok]].tocoo()
        keep = sub.data <= cutoff_m + COVER_EPS_M
        out = sp.csr_matrix(
            (sub.data[keep], (ok[sub.row[keep]], sub.col[keep])), shape=shape
        )
        out.sort_indices()
        return out

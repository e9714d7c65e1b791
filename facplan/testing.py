"""Seeded synthetic inputs for tests and examples.

:func:`grid_city` writes a complete small scenario — a square street grid as osmnx-style
GraphML, population points, communities, facilities and candidates — whose walking
distances can be worked out by hand: on the grid with points placed on nodes, the network
distance between two points is their Manhattan distance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import yaml
from shapely.geometry import Point, box

__all__ = ["GRID_CRS", "grid_city", "write_scenario"]

#: Projected CRS of the synthetic city (UTM 35N, Helsinki).
GRID_CRS = "EPSG:32635"
_X0, _Y0 = 385_000.0, 6_672_000.0


def grid_graph(n: int = 8, spacing_m: float = 100.0) -> nx.MultiDiGraph:
    """An ``n``×``n`` street grid as an osmnx-style MultiDiGraph in :data:`GRID_CRS`."""
    g = nx.MultiDiGraph(crs=GRID_CRS)
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=_X0 + j * spacing_m, y=_Y0 + i * spacing_m)
    for i in range(n):
        for j in range(n):
            a = i * n + j
            for b in ([a + 1] if j + 1 < n else []) + ([a + n] if i + 1 < n else []):
                g.add_edge(a, b, length=spacing_m)
                g.add_edge(b, a, length=spacing_m)
    return g


def node_xy(i: int, j: int, spacing_m: float = 100.0) -> tuple[float, float]:
    """Coordinates of grid node (row ``i``, column ``j``)."""
    return _X0 + j * spacing_m, _Y0 + i * spacing_m


def write_scenario(folder: Path, data: dict[str, Any], name: str = "scenario.yaml") -> Path:
    """Write ``data`` as a YAML scenario into ``folder``; returns its path."""
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def grid_city(folder: Path, *, n: int = 8, seed: int = 0) -> dict[str, Any]:
    """Write a synthetic city into ``folder`` and return its scenario dict.

    Population: one point on every grid node with a seeded random population (1–100).
    Communities: the grid split into a west and an east half (``west``, ``east``).
    Facilities: one compound sports park at node (0, 0). Candidates: a point on every
    other node, kind sports_park, blank tier, cost 1.0 each, area 5000 m².

    The scenario uses ``snap: node`` and ``min_component_nodes: 1``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    g = grid_graph(n)
    import osmnx as ox

    ox.save_graphml(g, folder / "walk.graphml")

    pts, ids, pops = [], [], []
    for i in range(n):
        for j in range(n):
            pts.append(Point(*node_xy(i, j)))
            ids.append(f"p{i}_{j}")
            pops.append(float(rng.integers(1, 101)))
    gpd.GeoDataFrame({"cell_id": ids, "population": pops}, geometry=pts, crs=GRID_CRS).to_file(
        folder / "population.gpkg"
    )
    half = _X0 + (n - 1) * 100.0 / 2
    comm = gpd.GeoDataFrame(
        {"cid": ["west", "east"], "name": ["West 西区", "East 东区"]},
        geometry=[
            box(_X0 - 50, _Y0 - 50, half, _Y0 + n * 100),
            box(half, _Y0 - 50, _X0 + n * 100, _Y0 + n * 100),
        ],
        crs=GRID_CRS,
    )
    comm.to_file(folder / "communities.gpkg")
    gpd.GeoDataFrame(
        {"fid_": ["f1"], "kind": ["sports_park"], "tier": ["compound"], "area_m2": [1000.0]},
        geometry=[Point(*node_xy(0, 0))],
        crs=GRID_CRS,
    ).to_file(folder / "facilities.gpkg")
    cands = [(i, j) for i in range(n) for j in range(n) if (i + j) % 2 == 1]
    gpd.GeoDataFrame(
        {
            "site_id": [f"s{i}_{j}" for i, j in cands],
            "kind": ["sports_park"] * len(cands),
            "tier": [""] * len(cands),
            "cost": [1.0] * len(cands),
            "area_m2": [5000.0] * len(cands),
        },
        geometry=[Point(*node_xy(i, j)) for i, j in cands],
        crs=GRID_CRS,
    ).to_file(folder / "candidates.gpkg")
    return {
        "name": "grid-city",
        "crs": 32635,
        "snap": "node",
        "min_component_nodes": 1,
        "communities": {"path": "communities.gpkg", "id_field": "cid", "name_field": "name"},
        "population": {"path": "population.gpkg", "field": "population", "id_field": "cell_id"},
        "network": {"graphml": "walk.graphml"},
        "facilities": [
            {"path": "facilities.gpkg", "id_field": "fid_", "kind_field": "kind",
             "tier_field": "tier", "area_field": "area_m2"}
        ],
        "candidates": {"path": "candidates.gpkg", "id_field": "site_id", "kind_field": "kind",
                       "tier_field": "tier", "cost_field": "cost", "area_field": "area_m2"},
        "optimize": [{"kind": "sports_park", "tier": "compound", "model": "mclp", "sites": 2}],
        "map": {"tiles": "none"},
    }

"""Seeded benchmark inputs: population points, candidate sites, existing parks, scenario.

Cases (written to ``benchmarks/out/<case>/``, gitignored):

- ``porto``: the Porto extract (``../shared/data/porto/porto_portugal.osm.pbf``), 20,000
  population points, 1,000 candidates, 125 existing community sports parks, MCLP with 20
  new sites at the 500 m community threshold. ``snap: node`` so that the networkx/spopt
  anchor (nearest-node snapping, as users do it) computes exactly DESIGN's distances and
  the objectives can be compared for equality.
- ``metro``: the Porto extract tiled 2×2 (``tile_network.py``, ~1.2 M raw walk nodes),
  300,000 population points, 20,000 candidates, 500 existing parks, MCLP with 200 sites,
  ``snap: edge`` (the default for real runs).
- ``megacity``: the extract tiled 4×4 (~4.9 M raw walk nodes), 1,200,000 population
  points, 80,000 candidates, 2,000 existing parks, MCLP with 800 sites, ``snap: edge``.

Points are sampled along the walking edges (pyrosm's walking filter, the one facplan's
reader uses), ``track``/``bridleway`` edges excluded so that people live along streets:
80% follow the city (edges weighted by length × a Gaussian of the distance to Porto's
centre, σ = 5 km), 20% are uniform by length over the whole extract; each is moved off the street by a normal offset (σ = 20 m, at most
60 m) perpendicular to the edge, so every point is within ``max_snap_m`` of the network.
Populations are lognormal (median 40 people, integer ≥ 1). For the metro case the points
are sampled on the source extract and each is put in one of the four tiles at random,
i.e. shifted by that tile's offset, which samples the tiled network the same way.

Usage::

    .venv/bin/python benchmarks/make_inputs.py [--case porto|metro|all] [--seed 7] [--force]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import tile_network  # noqa: E402

OUT = HERE / "out"
PORTO_PBF = tile_network.DEFAULT_SRC
INPUT_VERSION = 2  # bump when the generation changes, to invalidate cached inputs


@dataclass(frozen=True)
class Case:
    name: str
    n_cells: int
    n_candidates: int
    n_parks: int
    sites: int
    threshold_m: float
    snap: str
    tiles: int  # tiles per side of the tiled network; 1 = the extract itself

    @property
    def tiled(self) -> bool:
        return self.tiles > 1


CASES = {
    "porto": Case("porto", 20_000, 1_000, 125, 20, 500.0, "node", 1),
    "metro": Case("metro", 300_000, 20_000, 500, 200, 500.0, "edge", 2),
    "megacity": Case("megacity", 1_200_000, 80_000, 2_000, 800, 500.0, "edge", 4),
}

M_PER_DEG_LAT = tile_network.M_PER_DEG_LAT
CENTRE = (-8.611, 41.148)  # Porto, Avenida dos Aliados (lon, lat)
URBAN_SHARE = 0.8
URBAN_SIGMA_M = 5_000.0


def _edges(pbf: Path):
    """Walking edges of ``pbf`` as (lon_u, lat_u, lon_v, lat_v, length_m, highway)."""
    from pyrosm import OSM

    nodes, edges = OSM(str(pbf)).get_network(network_type="walking", nodes=True)
    ids = nodes["id"].to_numpy(np.int64)
    order = np.argsort(ids)
    sids = ids[order]
    iu = order[np.searchsorted(sids, edges["u"].to_numpy(np.int64))]
    iv = order[np.searchsorted(sids, edges["v"].to_numpy(np.int64))]
    lon = nodes["lon"].to_numpy(float)
    lat = nodes["lat"].to_numpy(float)
    hw = edges["highway"].astype(str).to_numpy()
    return lon[iu], lat[iu], lon[iv], lat[iv], edges["length"].to_numpy(float), hw


def sample_points(edges, n: int, rng: np.random.Generator, *, sigma_m: float = 20.0,
                  max_off_m: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points along the edges, offset perpendicular to them.

    A share ``URBAN_SHARE`` of the points follows the city: edges weighted by length ×
    a Gaussian of the distance to the centre (σ = ``URBAN_SIGMA_M``); the rest is uniform
    by length over the whole network (``track``/``bridleway`` excluded throughout).
    """
    lon_u, lat_u, lon_v, lat_v, length, hw = edges
    base = np.where(np.isin(hw, ["track", "bridleway"]), 0.0, length)
    mid_lon, mid_lat = 0.5 * (lon_u + lon_v), 0.5 * (lat_u + lat_v)
    r2 = (((mid_lon - CENTRE[0]) * 111_320.0 * np.cos(np.radians(CENTRE[1]))) ** 2
          + ((mid_lat - CENTRE[1]) * M_PER_DEG_LAT) ** 2)
    urban = base * np.exp(-0.5 * r2 / URBAN_SIGMA_M**2)
    n_urban = int(round(URBAN_SHARE * n))
    e = np.concatenate([
        rng.choice(len(base), size=n_urban, p=urban / urban.sum()),
        rng.choice(len(base), size=n - n_urban, p=base / base.sum()),
    ])
    rng.shuffle(e)
    t = rng.random(n)
    lon = lon_u[e] + t * (lon_v[e] - lon_u[e])
    lat = lat_u[e] + t * (lat_v[e] - lat_u[e])
    mx = 111_320.0 * np.cos(np.radians(lat))
    dx = (lon_v[e] - lon_u[e]) * mx
    dy = (lat_v[e] - lat_u[e]) * M_PER_DEG_LAT
    norm = np.hypot(dx, dy)
    norm[norm == 0] = 1.0
    off = np.clip(rng.normal(0.0, sigma_m, n), -max_off_m, max_off_m)
    lon = lon + (-dy / norm) * off / mx
    lat = lat + (dx / norm) * off / M_PER_DEG_LAT
    return lon, lat


def _tile_shift(rng: np.random.Generator, n: int, shift: dict, side: int = 2):
    tiles = np.asarray(tile_network.tile_grid(side))
    k = rng.integers(0, len(tiles), size=n)
    return tiles[k, 0] * shift["lon"], tiles[k, 1] * shift["lat"]


def _write_points_geojson(path: Path, lon, lat, props: dict) -> None:
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(props, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    tmp = path.with_name(path.name + ".tmp")
    gdf.to_file(tmp, driver="GeoJSON")
    tmp.replace(path)


def scenario_yaml(case: Case, pbf: Path, out_dir: Path) -> str:
    try:
        net = pbf.relative_to(out_dir)
    except ValueError:
        net = pbf
    return f"""\
# facplan benchmark scenario, generated by benchmarks/make_inputs.py — do not edit.
name: bench-{case.name}
crs: auto
snap: {case.snap}
max_snap_m: 500
min_component_nodes: 50
population: {{path: population.csv, lon: lon, lat: lat, field: population, id_field: id}}
network: {{pbf: {net}}}
facilities:
  - {{path: parks.geojson, id_field: park_id, kind: sports_park, tier: community}}
candidates: {{path: candidates.geojson, id_field: site_id, kind_field: kind, tier_field: tier, cost_field: cost, area_field: area_m2}}
standards: {{sports_park: {{community: {{walk_m: {case.threshold_m:g}}}}}}}
optimize:
  - {{kind: sports_park, tier: community, model: mclp, sites: {case.sites}, method: auto}}
map: {{tiles: none, max_cells: 50000}}
"""


def make_case(name: str, *, seed: int = 7, force: bool = False) -> dict:
    """Generate one case's inputs (cached unless ``force``); return its metadata."""
    import pandas as pd

    case = CASES[name]
    out_dir = OUT / name
    meta_path = out_dir / "meta.json"
    if meta_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        present = all(Path(meta.get(k, "")).is_file() for k in ("pbf", "scenario")) and (
            out_dir / "population.csv").is_file()
        if meta.get("seed") == seed and meta.get("version") == INPUT_VERSION and present:
            return meta
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    shift = None
    if case.tiled:
        tmeta = tile_network.build(
            out=out_dir / f"porto_{case.tiles}x{case.tiles}.osm.pbf", n=case.tiles,
            count=case.tiles <= 2,  # pyrosm cannot hold the megacity in memory here
        )
        pbf = Path(tmeta["pbf"])
        shift = tmeta["shift_deg"]
    else:
        pbf = PORTO_PBF
    edges = _edges(PORTO_PBF)
    rng = np.random.default_rng(seed)

    def sample(n):
        lon, lat = sample_points(edges, n, rng)
        if shift is not None:
            dx, dy = _tile_shift(rng, n, shift, case.tiles)
            lon, lat = lon + dx, lat + dy
        return lon, lat

    lon, lat = sample(case.n_cells)
    pop = np.maximum(1, np.round(rng.lognormal(np.log(40.0), 0.8, case.n_cells))).astype(int)
    pd.DataFrame(
        {"id": [f"c{i}" for i in range(case.n_cells)], "lon": np.round(lon, 7),
         "lat": np.round(lat, 7), "population": pop}
    ).to_csv(out_dir / "population.csv", index=False)

    lon, lat = sample(case.n_candidates)
    _write_points_geojson(
        out_dir / "candidates.geojson", np.round(lon, 7), np.round(lat, 7),
        {
            "site_id": [f"s{i}" for i in range(case.n_candidates)],
            "kind": ["sports_park"] * case.n_candidates,
            "tier": ["community"] * case.n_candidates,
            "cost": np.round(rng.uniform(1e6, 5e6, case.n_candidates), -3),
            "area_m2": np.round(rng.uniform(1500, 6000, case.n_candidates)),
        },
    )
    lon, lat = sample(case.n_parks)
    _write_points_geojson(
        out_dir / "parks.geojson", np.round(lon, 7), np.round(lat, 7),
        {"park_id": [f"p{i}" for i in range(case.n_parks)]},
    )
    (out_dir / "scenario.yaml").write_text(scenario_yaml(case, pbf, out_dir))
    meta = {
        "case": name,
        "version": INPUT_VERSION,
        "seed": seed,
        "pbf": str(pbf),
        "cells": case.n_cells,
        "population_total": int(pop.sum()),
        "candidates": case.n_candidates,
        "parks": case.n_parks,
        "sites": case.sites,
        "threshold_m": case.threshold_m,
        "snap": case.snap,
        "scenario": str(out_dir / "scenario.yaml"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if case.tiled:
        meta["walk_nodes"] = tmeta.get("walk_nodes")
        meta["stitches"] = tmeta.get("stitches")
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", choices=["porto", "metro", "megacity", "all"], default="all")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--force", action="store_true", help="regenerate even if cached")
    args = ap.parse_args(argv)
    if not PORTO_PBF.is_file():
        print(f"Porto extract not found: {PORTO_PBF}", file=sys.stderr)
        return 1
    for name in (list(CASES) if args.case == "all" else [args.case]):
        print(json.dumps(make_case(name, seed=args.seed, force=args.force), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

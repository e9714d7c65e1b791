"""Build the metro- and megacity-size benchmark networks: the Porto extract tiled n×n.

Writes an ``.osm.pbf`` that ``facplan run`` (and pyrosm, pandana, …) read like a user's
file:

- every node, way and relation of the source extract is copied n² times (n = 2: metro,
  n = 4: megacity); tile ``(i, j)`` (``i`` = column, ``j`` = row, ``k = n·j + i``) is shifted by ``i·W`` degrees
  of longitude and ``j·H`` degrees of latitude, where ``W``/``H`` are the lon/lat extent
  of the source's walking nodes, so the tiles abut without overlapping;
- ids are renumbered per tile by a fixed offset (``k·10**10`` for nodes, ``k·10**9`` for
  ways, ``k·10**8`` for relations), so tile 0 keeps the original ids and the output stays
  sorted by id as PBF readers expect;
- "stitching" footways (``highway=footway``) join facing border nodes of neighbouring
  tiles: for every node of the main walking component within ``--band-m`` of a tile's
  east (north) edge, the nearest main-component node of the tile to the east (north);
  the shortest such pair per ``--bin-m`` stretch of the seam is kept when it is at most
  ``--max-stitch-m`` long (the Atlantic coast faces the cut east edge, so much of the
  east-west seam stays open: the tiles still connect through its northern part and
  through the north-south seams).

The shift is in degrees, so the northern tiles are ~1% narrower in metres than the
southern ones; the network stays a plain, valid walking network.

Usage::

    .venv/bin/python benchmarks/tile_network.py [--src PBF] [--out PBF] [--n 2] [--force]

Prints the raw walking-node count of the result (pyrosm's walking filter, the one
facplan's reader uses).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_SRC = ROOT.parent / "shared" / "data" / "porto" / "porto_portugal.osm.pbf"
DEFAULT_OUT = HERE / "out" / "metro" / "porto_2x2.osm.pbf"

NODE_STRIDE = 10**10
WAY_STRIDE = 10**9
REL_STRIDE = 10**8


def tile_grid(n: int) -> list[tuple[int, int]]:
    """Tiles ``(i, j)`` of an n×n tiling, in the order k = n·j + i."""
    return [(i, j) for j in range(n) for i in range(n)]


def stitch_way_base(n: int) -> int:
    """First id of the stitching footways: after the ways of all n² tiles."""
    return n * n * WAY_STRIDE + 1


TILES = tile_grid(2)  # the metro tiling: [(0, 0), (1, 0), (0, 1), (1, 1)]
STITCH_WAY_BASE = stitch_way_base(2)

M_PER_DEG_LAT = 110_950.0


def _m_per_deg_lon(lat: float) -> float:
    return 111_320.0 * float(np.cos(np.radians(lat)))


def walk_nodes(src: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walking nodes of ``src`` (pyrosm's walking filter).

    Returns ``(id, lon, lat, main)`` where ``main`` marks nodes of the largest connected
    component of the walking graph.
    """
    import scipy.sparse as sp
    from pyrosm import OSM
    from scipy.sparse.csgraph import connected_components

    nodes, edges = OSM(str(src)).get_network(network_type="walking", nodes=True)
    ids = nodes["id"].to_numpy(dtype=np.int64)
    order = np.argsort(ids)
    sids = ids[order]
    u = order[np.searchsorted(sids, edges["u"].to_numpy(dtype=np.int64))]
    v = order[np.searchsorted(sids, edges["v"].to_numpy(dtype=np.int64))]
    n = len(ids)
    adj = sp.coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n)).tocsr()
    _, labels = connected_components(adj, directed=False)
    on_edge = np.zeros(n, bool)
    on_edge[u] = True
    on_edge[v] = True
    sizes = np.bincount(labels[on_edge])
    main = (labels == np.argmax(sizes)) & on_edge
    return ids, nodes["lon"].to_numpy(float), nodes["lat"].to_numpy(float), main


def plan_stitches(
    lon: np.ndarray,
    lat: np.ndarray,
    ids: np.ndarray,
    *,
    band_m: float,
    bin_m: float,
    max_stitch_m: float,
    n: int = 2,
) -> tuple[float, float, list[tuple[int, int, int, int, float]]]:
    """Tile shift (W, H in degrees) and the stitching footways.

    Returns ``(W, H, stitches)`` with stitches as ``(tile_a, node_a, tile_b, node_b,
    length_m)`` (source-file node ids).
    """
    from scipy.spatial import cKDTree

    x0, x1 = float(lon.min()), float(lon.max())
    y0, y1 = float(lat.min()), float(lat.max())
    w, h = x1 - x0, y1 - y0
    lat0 = 0.5 * (y0 + y1)

    def metres(lo, la, ox, oy):
        # local equirectangular metres around the seam (lengths ≤ a few km)
        return np.column_stack(
            [(lo + ox - x0) * _m_per_deg_lon(lat0 + oy), (la + oy - y0) * M_PER_DEG_LAT]
        )

    tiles = tile_grid(n)
    stitches: list[tuple[int, int, int, int, float]] = []
    for axis in ("east", "north"):
        if axis == "east":
            band = np.flatnonzero((x1 - lon) * _m_per_deg_lon(lat0) <= band_m)
            pairs = [(n * j + i, n * j + i + 1) for j in range(n) for i in range(n - 1)]
        else:
            band = np.flatnonzero((y1 - lat) * M_PER_DEG_LAT <= band_m)
            pairs = [(n * j + i, n * (j + 1) + i) for j in range(n - 1) for i in range(n)]
        for ka, kb in pairs:
            (ia, ja), (ib, jb) = tiles[ka], tiles[kb]
            pa = metres(lon[band], lat[band], ia * w, ja * h)
            pb = metres(lon, lat, ib * w, jb * h)
            tree = cKDTree(pb)
            d, j = tree.query(pa, k=1, distance_upper_bound=max_stitch_m)
            ok = np.isfinite(d)
            along = pa[ok, 1] if axis == "east" else pa[ok, 0]
            bins = np.floor(along / bin_m).astype(np.int64)
            a_idx, b_idx, dd = band[ok], j[ok], d[ok]
            order = np.lexsort((dd, bins))
            first = np.ones(len(order), bool)
            first[1:] = bins[order][1:] != bins[order][:-1]
            seen: set[tuple[int, int]] = set()
            for o in order[first]:
                key = (int(ids[a_idx[o]]), int(ids[b_idx[o]]))
                if key in seen:
                    continue
                seen.add(key)
                stitches.append((ka, key[0], kb, key[1], float(dd[o])))
    return w, h, stitches


def write_tiled(
    src: Path, out: Path, w: float, h: float, stitches: list[tuple[int, int, int, int, float]],
    n: int = 2,
) -> dict:
    """Write the n×n tiled PBF; return counts."""
    import osmium

    tiles = tile_grid(n)
    way_base = stitch_way_base(n)

    tmp = out.with_name(out.name + ".tmp.osm.pbf")
    if tmp.exists():
        tmp.unlink()
    reader = osmium.io.Reader(str(src), osmium.osm.osm_entity_bits.NOTHING)
    box = reader.header().box()
    reader.close()
    header = osmium.io.Header()
    header.set("generator", "facplan benchmarks/tile_network.py")
    bl, tr = box.bottom_left, box.top_right
    header.add_box(
        osmium.osm.Box(osmium.osm.Location(bl.lon, bl.lat),
                       osmium.osm.Location(tr.lon + (n - 1) * w, tr.lat + (n - 1) * h))
    )
    counts = {"nodes": 0, "ways": 0, "relations": 0, "stitches": len(stitches)}
    writer = osmium.SimpleWriter(str(tmp), header=header)
    nb = osmium.osm.osm_entity_bits
    try:
        for k, (i, j) in enumerate(tiles):
            dx, dy = i * w, j * h
            for n in osmium.FileProcessor(str(src), nb.NODE):
                loc = n.location
                writer.add_node(
                    n.replace(id=n.id + k * NODE_STRIDE, location=(loc.lon + dx, loc.lat + dy))
                )
                counts["nodes"] += 1
        for k in range(len(tiles)):
            for wy in osmium.FileProcessor(str(src), nb.WAY):
                refs = [r.ref + k * NODE_STRIDE for r in wy.nodes]
                writer.add_way(wy.replace(id=wy.id + k * WAY_STRIDE, nodes=refs))
                counts["ways"] += 1
        for s, (ka, na, kb, nb_, length) in enumerate(stitches):
            writer.add_way(
                osmium.osm.mutable.Way(
                    id=way_base + s,
                    version=1,
                    nodes=[na + ka * NODE_STRIDE, nb_ + kb * NODE_STRIDE],
                    tags={"highway": "footway", "note": "facplan benchmark tile stitch",
                          "stitch_length_m": f"{length:.1f}"},
                )
            )
            counts["ways"] += 1
        stride = {"n": NODE_STRIDE, "w": WAY_STRIDE, "r": REL_STRIDE}
        for k in range(len(tiles)):
            for rel in osmium.FileProcessor(str(src), nb.RELATION):
                members = [(m.type, m.ref + k * stride[m.type], m.role) for m in rel.members]
                writer.add_relation(rel.replace(id=rel.id + k * REL_STRIDE, members=members))
                counts["relations"] += 1
    finally:
        writer.close()
    tmp.replace(out)
    return counts


def count_walk_nodes(path: Path) -> tuple[int, int]:
    """Raw walking nodes and edges of ``path`` (pyrosm's walking filter)."""
    from pyrosm import OSM

    nodes, edges = OSM(str(path)).get_network(network_type="walking", nodes=True)
    return len(nodes), len(edges)


def build(
    src: Path = DEFAULT_SRC,
    out: Path = DEFAULT_OUT,
    *,
    force: bool = False,
    band_m: float = 300.0,
    bin_m: float = 200.0,
    max_stitch_m: float = 2000.0,
    count: bool = True,
    n: int = 2,
) -> dict:
    """Build the tiled PBF (unless it exists and ``force`` is false); return its metadata."""
    meta_path = out.with_suffix("").with_suffix(".json")
    if out.exists() and meta_path.exists() and not force:
        return json.loads(meta_path.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ids, lon, lat, main = walk_nodes(src)
    w, h, stitches = plan_stitches(
        lon[main], lat[main], ids[main], band_m=band_m, bin_m=bin_m, max_stitch_m=max_stitch_m,
        n=n,
    )
    counts = write_tiled(src, out, w, h, stitches, n=n)
    meta = {
        "source": str(src),
        "pbf": str(out),
        "shift_deg": {"lon": w, "lat": h},
        "tiles": tile_grid(n),
        "source_walk_nodes": int(len(ids)),
        "stitch_lengths_m": {
            "count": len(stitches),
            "mean": float(np.mean([s[4] for s in stitches])) if stitches else 0.0,
            "max": float(np.max([s[4] for s in stitches])) if stitches else 0.0,
        },
        **counts,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if count:
        meta["walk_nodes"], meta["walk_edges"] = count_walk_nodes(out)
    meta_path.write_text(json.dumps(meta, indent=2))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n", type=int, default=2, help="tiles per side (2: metro, 4: megacity)")
    ap.add_argument("--force", action="store_true", help="rebuild even if the output exists")
    ap.add_argument("--band-m", type=float, default=300.0)
    ap.add_argument("--bin-m", type=float, default=200.0)
    ap.add_argument("--max-stitch-m", type=float, default=2000.0)
    args = ap.parse_args(argv)
    if not args.src.is_file():
        print(f"source extract not found: {args.src}", file=sys.stderr)
        return 1
    meta = build(
        args.src, args.out, force=args.force, band_m=args.band_m, bin_m=args.bin_m,
        max_stitch_m=args.max_stitch_m, n=args.n,
    )
    print(json.dumps(meta, indent=2))
    print(f"raw walk nodes: {meta.get('walk_nodes', 'n/a'):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

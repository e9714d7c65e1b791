import dataclasses
import pytest
from .test_online import _fill_cache, _offline, graph_from_polygon, overpass_requests, AREA, CRS, poa, _no_network  # noqa

def test_miss_hits_guard(tmp_path, poa):
    s = _offline(tmp_path)
    _fill_cache(s, poa, place=None)
    for r in overpass_requests(AREA, s):
        r.file.rename(r.file.with_suffix(".bak"))
    with pytest.raises(AssertionError, match="DNS lookup of 'overpass-api.de'"):
        graph_from_polygon(AREA, crs=CRS, settings=dataclasses.replace(s, offline=False))

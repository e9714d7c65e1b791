"""Distance kernels against networkx on seeded random graphs.

The graphs have several components, isolated nodes, zero-length edges, parallel edges and
a self loop. networkx (a MultiGraph, which takes the shortest of parallel edges) is the
independent reference.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from facplan import distances

TOL = 1e-9


def _csr(n: int, u, v, w):
    """CSR arrays with every edge stored both ways (built by hand, not via facplan)."""
    u, v, w = np.asarray(u, np.int64), np.asarray(v, np.int64), np.asarray(w, float)
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    ww = np.concatenate([w, w])
    order = np.argsort(src, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
    return indptr, dst[order].astype(np.int32), ww[order]


def _nx(n: int, u, v, w) -> nx.MultiGraph:
    g = nx.MultiGraph()
    g.add_nodes_from(range(n))
    for a, b, c in zip(u, v, w, strict=True):
        g.add_edge(int(a), int(b), weight=float(c))
    return g


def random_graph(seed: int):
    """~80 nodes: two random components, five isolated nodes, zero-length edges."""
    rng = np.random.default_rng(seed)
    u, v = [], []
    for lo, hi in ((0, 50), (50, 75)):
        nodes = rng.permutation(np.arange(lo, hi))
        for k in range(1, len(nodes)):  # random spanning tree
            u.append(nodes[k])
            v.append(nodes[rng.integers(0, k)])
        for _ in range((hi - lo) // 2):  # extra edges, some parallel
            a, b = rng.integers(lo, hi, 2)
            u.append(a)
            v.append(b)
    u.append(3)  # a self loop
    v.append(3)
    u.append(u[0])  # an explicit parallel edge
    v.append(v[0])
    w = np.round(rng.uniform(0, 10, len(u)), 1)
    w[rng.random(len(u)) < 0.15] = 0.0  # zero-length edges
    n = 80  # 75..79 isolated
    return n, np.array(u), np.array(v), w


SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cutoff", [np.inf, 7.5])
def test_nearest_source_matches_networkx(seed, cutoff):
    n, u, v, w = random_graph(seed)
    assert (w == 0).any()
    g = _nx(n, u, v, w)
    rng = np.random.default_rng(100 + seed)
    sources = rng.choice(n, 4, replace=False)
    dist, origin = distances.nearest_source(*_csr(n, u, v, w), sources, cutoff=cutoff)

    ref = nx.multi_source_dijkstra_path_length(
        g, set(sources.tolist()), cutoff=None if np.isinf(cutoff) else cutoff
    )
    expected = np.full(n, np.inf)
    for node, d in ref.items():
        expected[node] = d
    reached = np.isfinite(expected)
    assert np.array_equal(np.isfinite(dist), reached)
    np.testing.assert_allclose(dist[reached], expected[reached], rtol=0, atol=TOL)
    assert np.all(origin[~reached] == -1)
    # origin is a nearest source: its own distance to the node equals dist
    single = {int(s): nx.single_source_dijkstra_path_length(g, int(s)) for s in sources}
    for node in np.flatnonzero(reached):
        o = origin[node]
        assert 0 <= o < len(sources)
        assert abs(single[int(sources[o])][node] - dist[node]) <= TOL
    assert np.all(dist[sources] == 0) and np.array_equal(origin[sources], np.arange(4))


def test_nearest_source_empty_and_repeated_sources():
    n, u, v, w = random_graph(0)
    csr = _csr(n, u, v, w)
    dist, origin = distances.nearest_source(*csr, np.array([], dtype=np.int64))
    assert np.all(np.isinf(dist)) and np.all(origin == -1) and len(dist) == n
    dist, origin = distances.nearest_source(*csr, np.array([5, 5, 7]))
    assert origin[5] == 0 and origin[7] == 2
    assert origin[77] == -1 and np.isinf(dist[77])  # isolated node


def test_zero_length_edges():
    # 0 -0- 1 -2.5- 2 -0- 3, and 4 alone
    csr = _csr(5, [0, 1, 2], [1, 2, 3], [0.0, 2.5, 0.0])
    dist, origin = distances.nearest_source(*csr, np.array([0]))
    np.testing.assert_array_equal(dist, [0.0, 0.0, 2.5, 2.5, np.inf])
    np.testing.assert_array_equal(origin, [0, 0, 0, 0, -1])
    m = distances.bounded_matrix(*csr, np.array([0, 3]), np.array([1, 0, 3, 4]), 1.0)
    # every entry is a zero distance, and each is an explicit entry
    coo = m.tocoo()
    got = sorted(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), strict=True))
    assert got == [(0, 0, 0.0), (0, 1, 0.0), (1, 2, 0.0)]
    m = distances.bounded_matrix(*csr, np.array([0, 3]), np.array([1, 0, 3, 4]), 2.5)
    np.testing.assert_array_equal(m.toarray(), [[0.0, 0.0, 2.5, 0.0], [2.5, 2.5, 0.0, 0.0]])
    assert m.nnz == 6


def _expected_matrix(g: nx.MultiGraph, sources, targets, cutoff):
    exp = np.full((len(sources), len(targets)), np.nan)
    for i, s in enumerate(sources):
        d = nx.single_source_dijkstra_path_length(g, int(s), cutoff=cutoff + 1e-6)
        for j, t in enumerate(targets):
            if int(t) in d and d[int(t)] <= cutoff + 1e-6:
                exp[i, j] = d[int(t)]
    return exp


def _dense_with_structure(m: sp.csr_matrix) -> np.ndarray:
    """NaN where there is no entry (explicit zeros stay 0)."""
    out = np.full(m.shape, np.nan)
    coo = m.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


def _check_canonical(m: sp.csr_matrix):
    assert m.has_sorted_indices
    for i in range(m.shape[0]):
        row = m.indices[m.indptr[i]:m.indptr[i + 1]]
        assert np.all(np.diff(row) > 0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cutoff", [0.0, 6.0, 25.0, np.inf])
def test_bounded_matrix_matches_networkx(seed, cutoff):
    n, u, v, w = random_graph(seed)
    g = _nx(n, u, v, w)
    rng = np.random.default_rng(200 + seed)
    sources = np.concatenate([rng.choice(n, 9, replace=False), [76]])  # 76 isolated
    sources = np.concatenate([sources, sources[:2]])  # repeated rows
    targets = rng.choice(n, 30, replace=True)  # repeated columns
    targets = np.concatenate([targets, sources[:3]])  # sources are targets: zeros
    m = distances.bounded_matrix(*_csr(n, u, v, w), sources, targets, cutoff)
    assert isinstance(m, sp.csr_matrix) and m.shape == (len(sources), len(targets))
    _check_canonical(m)
    exp = _expected_matrix(g, sources, targets, cutoff)
    got = _dense_with_structure(m)
    assert np.array_equal(np.isnan(got), np.isnan(exp))
    ok = ~np.isnan(exp)
    np.testing.assert_allclose(got[ok], exp[ok], rtol=0, atol=TOL)
    n_zero = int((exp[ok] == 0).sum())
    assert n_zero >= 3 and int((m.data == 0).sum()) == n_zero


def test_bounded_matrix_chunks_and_threads_agree(monkeypatch):
    n, u, v, w = random_graph(1)
    csr = _csr(n, u, v, w)
    sources = np.arange(n)
    targets = np.arange(n)[::-1]
    one = distances.bounded_matrix(*csr, sources, targets, 12.0, n_threads=1)
    monkeypatch.setattr(distances, "_MAX_CHUNK", 3)
    many = distances.bounded_matrix(*csr, sources, targets, 12.0, n_threads=2)
    for m in (one, many):
        _check_canonical(m)
    assert np.array_equal(one.indptr, many.indptr)
    assert np.array_equal(one.indices, many.indices)
    assert np.array_equal(one.data, many.data)
    exp = _expected_matrix(_nx(n, u, v, w), sources, targets, 12.0)
    got = _dense_with_structure(many)
    assert np.array_equal(np.isnan(got), np.isnan(exp))
    np.testing.assert_allclose(got[~np.isnan(exp)], exp[~np.isnan(exp)], rtol=0, atol=TOL)


def test_bounded_matrix_empty_inputs():
    n, u, v, w = random_graph(0)
    csr = _csr(n, u, v, w)
    m = distances.bounded_matrix(*csr, np.array([], np.int64), np.array([1, 2]), 5.0)
    assert m.shape == (0, 2) and m.nnz == 0
    m = distances.bounded_matrix(*csr, np.array([1, 2]), np.array([], np.int64), 5.0)
    assert m.shape == (2, 0) and m.nnz == 0


def test_distances_to():
    n, u, v, w = random_graph(2)
    csr = _csr(n, u, v, w)
    sources, targets = np.array([0, 60]), np.array([5, 61, 78, 5])
    dist, _ = distances.nearest_source(*csr, sources)
    np.testing.assert_array_equal(distances.distances_to(*csr, sources, targets), dist[targets])
    assert np.isinf(distances.distances_to(*csr, sources, targets)[2])


def test_bad_inputs_raise():
    csr = _csr(3, [0, 1], [1, 2], [1.0, 2.0])
    with pytest.raises(ValueError, match="sources"):
        distances.nearest_source(*csr, np.array([3]))
    with pytest.raises(ValueError, match="sources"):
        distances.nearest_source(*csr, np.array([-1]))
    with pytest.raises(ValueError, match="targets"):
        distances.bounded_matrix(*csr, np.array([0]), np.array([9]), 1.0)
    with pytest.raises(ValueError, match="cutoff"):
        distances.bounded_matrix(*csr, np.array([0]), np.array([1]), -1.0)
    with pytest.raises(ValueError, match="cutoff"):
        distances.nearest_source(*csr, np.array([0]), cutoff=np.nan)
    bad = _csr(3, [0, 1], [1, 2], [1.0, -2.0])
    with pytest.raises(ValueError, match="length_m"):
        distances.nearest_source(*bad, np.array([0]))


# --------------------------------------------------------------------------- property


@st.composite
def small_graphs(draw):
    n = draw(st.integers(1, 12))
    node = st.integers(0, n - 1)
    weight = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.5]), st.floats(0, 20))
    edges = draw(st.lists(st.tuples(node, node, weight), max_size=30))
    sources = draw(st.lists(node, min_size=1, max_size=5))
    targets = draw(st.lists(node, max_size=8))
    cutoff = draw(st.one_of(st.just(np.inf), st.floats(0, 30)))
    return n, edges, np.array(sources), np.array(targets, dtype=np.int64), cutoff


@settings(max_examples=80, deadline=None)
@given(small_graphs())
def test_property_matches_networkx(case):
    n, edges, sources, targets, cutoff = case
    u = [e[0] for e in edges]
    v = [e[1] for e in edges]
    w = [e[2] for e in edges]
    csr = _csr(n, u, v, w)
    g = _nx(n, u, v, w)

    exp = _expected_matrix(g, sources, targets, cutoff)
    m = distances.bounded_matrix(*csr, sources, targets, cutoff)
    _check_canonical(m)
    got = _dense_with_structure(m)
    assert np.array_equal(np.isnan(got), np.isnan(exp))
    ok = ~np.isnan(exp)
    np.testing.assert_allclose(got[ok], exp[ok], rtol=0, atol=TOL)

    dist, origin = distances.nearest_source(*csr, sources, cutoff=cutoff)
    ref = nx.multi_source_dijkstra_path_length(
        g, set(sources.tolist()), cutoff=None if np.isinf(cutoff) else cutoff
    )
    expected = np.full(n, np.inf)
    for node, d in ref.items():
        expected[node] = d
    assert np.array_equal(np.isfinite(dist), np.isfinite(expected))
    fin = np.isfinite(expected)
    np.testing.assert_allclose(dist[fin], expected[fin], rtol=0, atol=TOL)
    assert np.array_equal(origin >= 0, fin)


def test_bounded_matrix_cutoff_tolerance():
    # 0 -1.0- 1, 0 -(1 + 5e-7)- 2, 0 -(1 + 2e-6)- 3: ties within 1e-6 m count as covered
    csr = _csr(4, [0, 0, 0], [1, 2, 3], [1.0, 1.0 + 5e-7, 1.0 + 2e-6])
    m = distances.bounded_matrix(*csr, np.array([0]), np.array([1, 2, 3]), 1.0)
    assert m.indices.tolist() == [0, 1]
    assert distances.MATRIX_TOL_M == 1e-6

"""Property tests (hypothesis) against independent references.

- Distances on random graphs — parallel edges, self loops, zero lengths, several
  components — equal networkx (:func:`facplan.distances.nearest_source`,
  :func:`facplan.distances.bounded_matrix`).
- MCLP on random small instances equals a brute force over every set of sites (by
  count, by budget, with a forced site); the heuristic never beats it and its bound
  never falls below it.
- A whole run: coverage never drops when the walking radius or the number of new sites
  grows.
"""

from __future__ import annotations

import itertools
import json
import warnings

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facplan
from facplan import FacplanWarning
from facplan.distances import bounded_matrix, nearest_source
from facplan.optimize import MCLP
from facplan.scenario import scenario_from_dict
from facplan.testing import grid_city

FAST = settings(max_examples=60, deadline=None, database=None)
SLOW = settings(
    max_examples=6, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
EPS = 1e-6

# --------------------------------------------------------------------------- graphs


@st.composite
def graphs(draw, *, integer: bool = False, max_nodes: int = 18):
    """(n_nodes, [(u, v, length_m), ...]) with any structure an OSM extract can have."""
    n = draw(st.integers(1, max_nodes))
    length = (
        st.integers(0, 12).map(float) if integer
        else st.one_of(st.just(0.0), st.floats(0.0, 1000.0, allow_subnormal=False))
    )
    node = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(node, node, length), max_size=3 * n))
    return n, edges


def _csr(n: int, edges: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR arrays with every undirected edge stored both ways (parallel edges kept)."""
    if not edges:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0)
    u, v, w = (np.array(x) for x in zip(*edges, strict=True))
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    wt = np.concatenate([w, w]).astype(float)
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], wt[order]


def _nx(n: int, edges: list) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    for a, b, w in edges:
        if a != b and (not g.has_edge(a, b) or g[a][b]["weight"] > w):
            g.add_edge(a, b, weight=w)
    return g


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


@FAST
@given(g=graphs(), data=st.data())
def test_nearest_source_equals_networkx(g, data):
    n, edges = g
    sources = data.draw(st.lists(st.integers(0, n - 1), max_size=4), label="sources")
    dist, origin = nearest_source(*_csr(n, edges), np.array(sources, dtype=np.int64))
    ref_g = _nx(n, edges)
    ref = nx.multi_source_dijkstra_path_length(ref_g, set(sources)) if sources else {}
    for v in range(n):
        if v not in ref:
            assert dist[v] == np.inf and origin[v] == -1
            continue
        assert _close(dist[v], ref[v]), (v, dist[v], ref[v])
        s = sources[origin[v]]
        assert _close(nx.dijkstra_path_length(ref_g, s, v), dist[v])
    for s in sources:
        assert dist[s] == 0 and origin[s] == sources.index(s)


@FAST
@given(g=graphs(integer=True), data=st.data())
def test_nearest_source_cutoff_equals_networkx(g, data):
    n, edges = g
    sources = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3))
    cutoff = data.draw(st.integers(0, 30), label="cutoff")
    dist, _ = nearest_source(*_csr(n, edges), np.array(sources), cutoff=cutoff)
    ref = nx.multi_source_dijkstra_path_length(_nx(n, edges), set(sources), cutoff=cutoff)
    expected = np.full(n, np.inf)
    for v, d in ref.items():
        expected[v] = d
    np.testing.assert_array_equal(dist, expected)


@FAST
@given(g=graphs(integer=True), data=st.data())
def test_bounded_matrix_equals_networkx(g, data):
    n, edges = g
    node = st.integers(0, n - 1)
    sources = data.draw(st.lists(node, min_size=1, max_size=5), label="sources")
    targets = data.draw(st.lists(node, min_size=1, max_size=8), label="targets")
    cutoff = data.draw(st.integers(0, 30), label="cutoff")
    threads = data.draw(st.sampled_from([1, 2]), label="threads")
    m = bounded_matrix(*_csr(n, edges), np.array(sources), np.array(targets), cutoff,
                       n_threads=threads)
    assert m.shape == (len(sources), len(targets))
    ref_g = _nx(n, edges)
    for i, s in enumerate(sources):
        row = m.indptr[i], m.indptr[i + 1]
        got = dict(zip(m.indices[slice(*row)].tolist(), m.data[slice(*row)].tolist(),
                       strict=True))
        ref = nx.single_source_dijkstra_path_length(ref_g, s, cutoff=cutoff)
        expected = {j: float(ref[t]) for j, t in enumerate(targets) if t in ref}
        assert got == expected, (s, got, expected)  # zero distances are explicit entries


# --------------------------------------------------------------------------- MCLP


@st.composite
def cover_instances(draw):
    """(coverage bool (sites × cells), weights, covered_before) of a small MCLP."""
    n_sites = draw(st.integers(1, 6))
    n_cells = draw(st.integers(1, 8))
    cells = st.lists(st.booleans(), min_size=n_cells, max_size=n_cells)
    cov = np.array(draw(st.lists(cells, min_size=n_sites, max_size=n_sites)), dtype=bool)
    weights = np.array(
        draw(st.lists(st.integers(0, 30), min_size=n_cells, max_size=n_cells)), dtype=float
    )
    before = np.array(draw(cells), dtype=bool)
    return cov, weights, before


def _brute(cov, weights, before, ok) -> float:
    """Newly covered weight of the best site set for which ``ok(set)`` holds."""
    best = 0.0
    new = ~before
    for k in range(cov.shape[0] + 1):
        for subset in itertools.combinations(range(cov.shape[0]), k):
            if not ok(subset):
                continue
            covered = cov[list(subset)].any(axis=0) if subset else np.zeros(len(weights), bool)
            best = max(best, float(weights[covered & new].sum()))
    return best


def _solve(cov, weights, before, *, method="exact", **kw) -> MCLP:
    ids = [f"s{j}" for j in range(cov.shape[0])]
    return MCLP.from_matrix(
        sp.csr_matrix(cov), weights, site_ids=ids, covered_before=before, method=method, **kw
    ).solve()


def _consistent(model: MCLP, weights, before) -> None:
    sel = list(model.selected_)
    assert len(sel) == len(set(sel))
    assert model.covered_before_ == pytest.approx(weights[before].sum())
    assert model.covered_after_ - model.covered_before_ == pytest.approx(model.objective_)
    assert float(np.sum(model.marginal_)) == pytest.approx(model.objective_)
    assert model.bound_ >= model.objective_ - EPS
    assert model.gap_ >= -EPS


@FAST
@given(inst=cover_instances(), data=st.data())
def test_mclp_sites_equals_brute_force(inst, data):
    cov, weights, before = inst
    p = data.draw(st.integers(0, cov.shape[0]), label="sites")
    model = _solve(cov, weights, before, sites=p)
    best = _brute(cov, weights, before, lambda s: len(s) <= p)
    assert model.objective_ == pytest.approx(best)
    assert len(model.selected_) <= p
    _consistent(model, weights, before)
    heuristic = _solve(cov, weights, before, sites=p, method="heuristic")
    assert heuristic.objective_ <= best + EPS <= heuristic.bound_ + 2 * EPS
    _consistent(heuristic, weights, before)


@FAST
@given(inst=cover_instances(), data=st.data())
def test_mclp_budget_equals_brute_force(inst, data):
    cov, weights, before = inst
    n = cov.shape[0]
    cost = np.array(data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), float)
    budget = float(data.draw(st.integers(0, 12), label="budget"))
    model = _solve(cov, weights, before, budget=budget, cost=cost)
    best = _brute(cov, weights, before, lambda s: cost[list(s)].sum() <= budget)
    assert model.objective_ == pytest.approx(best)
    assert cost[list(model.selected_)].sum() <= budget + EPS
    _consistent(model, weights, before)


@FAST
@given(inst=cover_instances(), data=st.data())
def test_mclp_forced_site_equals_brute_force(inst, data):
    cov, weights, before = inst
    n = cov.shape[0]
    forced = data.draw(st.integers(0, n - 1), label="force")
    p = data.draw(st.integers(1, n), label="sites")
    model = _solve(cov, weights, before, sites=p, force=[forced])
    best = _brute(cov, weights, before, lambda s: len(s) <= p and forced in s)
    assert model.objective_ == pytest.approx(best)
    assert forced in list(model.selected_)
    _consistent(model, weights, before)


@FAST
@given(inst=cover_instances(), data=st.data())
def test_mclp_more_reach_never_covers_less(inst, data):
    """A larger radius only adds coverage entries; the optimum cannot drop."""
    cov, weights, before = inst
    extra = np.array(
        data.draw(st.lists(st.booleans(), min_size=cov.size, max_size=cov.size)), bool
    ).reshape(cov.shape)
    p = data.draw(st.integers(0, cov.shape[0]), label="sites")
    small = _solve(cov, weights, before, sites=p)
    large = _solve(cov | extra, weights, before, sites=p)
    assert large.objective_ >= small.objective_ - EPS
    more = _solve(cov, weights, before, sites=min(p + 1, cov.shape[0]))
    assert more.objective_ >= small.objective_ - EPS


# --------------------------------------------------------------------------- whole runs


@pytest.fixture(scope="module")
def cities(tmp_path_factory):
    """seed → (folder, scenario dict) of a grid city, written once per seed."""
    made: dict[int, tuple] = {}

    def get(seed: int):
        if seed not in made:
            folder = tmp_path_factory.mktemp(f"city{seed}")
            made[seed] = folder, grid_city(folder, seed=seed)
        folder, data = made[seed]
        return folder, json.loads(json.dumps(data))

    return get


def _coverage(folder, data, *, walk_m: float, sites: int) -> tuple[float, float]:
    data["standards"] = {"sports_park": {"compound": {"walk_m": walk_m}}}
    data["optimize"][0]["sites"] = sites
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FacplanWarning)
        result = facplan.run(scenario_from_dict(data, base_dir=folder))
    acc = result.summary["access"]["sports_park/compound"]
    assert acc["after"]["coverage"] >= acc["coverage"] - 1e-12
    return acc["coverage"], acc["after"]["coverage"]


@SLOW
@given(
    seed=st.sampled_from([0, 1]),
    radii=st.lists(st.integers(50, 1500), min_size=2, max_size=3, unique=True),
    sites=st.integers(0, 3),
)
def test_run_coverage_never_drops_as_radius_grows(cities, seed, radii, sites):
    folder, data = cities(seed)
    prev = (0.0, 0.0)
    for r in sorted(radii):
        cov = _coverage(folder, json.loads(json.dumps(data)), walk_m=r, sites=sites)
        assert cov[0] >= prev[0] - 1e-12 and cov[1] >= prev[1] - 1e-12, (r, cov, prev)
        prev = cov


@SLOW
@given(
    seed=st.sampled_from([0, 1]),
    walk_m=st.sampled_from([150, 250, 300, 450]),
    counts=st.lists(st.integers(0, 6), min_size=2, max_size=3, unique=True),
)
def test_run_coverage_never_drops_as_sites_grow(cities, seed, walk_m, counts):
    folder, data = cities(seed)
    prev = (0.0, 0.0)
    for p in sorted(counts):
        cov = _coverage(folder, json.loads(json.dumps(data)), walk_m=walk_m, sites=p)
        assert cov[0] == pytest.approx(prev[0]) or prev == (0.0, 0.0)
        assert cov[1] >= prev[1] - 1e-12, (p, cov, prev)
        prev = cov

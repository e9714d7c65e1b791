"""Coverage statistics, 2SFCA and community tables against hand-computed values."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from facplan.access import community_table, coverage_stats, two_step_fca, weighted_quantile


def test_coverage_stats_hand_computed():
    dist = np.array([100.0, 300.0, 300.0 + 1e-7, 301.0, np.nan])
    pop = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    s = coverage_stats(dist, pop, 300.0)
    assert s["covered_population"] == 60.0  # the tie within 1e-6 m counts
    assert s["coverage"] == pytest.approx(60.0 / 150.0)  # unreachable in the denominator
    assert s["unreachable_population"] == 50.0
    assert s["mean_m"] == pytest.approx((1000 + 6000 + 30 * (300 + 1e-7) + 40 * 301) / 100)
    assert s["p50_m"] == pytest.approx(300.0 + 1e-7)  # cum weights 10, 30, 60 ≥ 50
    assert s["p90_m"] == 301.0


def test_weighted_quantile_ignores_nan_and_zero_weight():
    v = np.array([5.0, 1.0, np.nan, 3.0])
    w = np.array([1.0, 1.0, 100.0, 0.0])
    assert weighted_quantile(v, w, 0.5) == 1.0
    assert weighted_quantile(v, w, 0.51) == 5.0
    assert np.isnan(weighted_quantile(np.array([np.nan]), np.array([1.0]), 0.5))


def test_two_step_fca_hand_computed():
    # facility 0 (area 100) reaches cells 0,1; facility 1 (area 60) reaches cells 1,2
    m = sp.csr_matrix(
        (np.array([0.0, 10.0, 5.0, 0.0]), np.array([0, 1, 1, 2]), np.array([0, 2, 4])),
        shape=(2, 4),
    )
    pop = np.array([10.0, 40.0, 10.0, 7.0])
    a = two_step_fca(m, np.array([100.0, 60.0]), pop)
    r0, r1 = 100 / 50, 60 / 50
    np.testing.assert_allclose(a, [r0, r0 + r1, r1, 0.0])


def test_two_step_fca_no_demand_in_reach():
    m = sp.csr_matrix((np.array([1.0]), np.array([0]), np.array([0, 1])), shape=(1, 2))
    np.testing.assert_allclose(two_step_fca(m, np.array([50.0]), np.array([0.0, 5.0])), [0, 0])


def test_community_table():
    comm = pd.DataFrame({"community_id": ["a", "b", "c"], "name": ["A", "B", "C"]})
    t = community_table(
        np.array(["a", "a", "b"]), np.array([10.0, 30.0, 5.0]),
        {"k": np.array([100.0, 600.0, np.nan])}, {"k": 500.0}, comm,
    )
    assert t["population"].tolist() == [40.0, 5.0, 0.0]
    assert t["coverage_k"].iloc[0] == pytest.approx(0.25)
    assert t["coverage_k"].iloc[1] == 0.0
    assert np.isnan(t["coverage_k"].iloc[2])

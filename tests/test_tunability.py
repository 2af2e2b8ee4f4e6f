"""The value of tuning a subset with a budget (analysis.tunability), against exact truth."""

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace, Float

from hpobench.analysis import encode, errors, tunability
from hpobench.analysis.tunability import Geometry, expected_max

D = 5
A = np.array([1.0, 0.6, 0.35, 0.2, 0.1])  # weight of each coordinate's bowl
C = np.array([0.8, 0.2, 0.7, 0.3, 0.9])  # optima
ANCHOR = np.array([0.35, 0.55, 0.4, 0.45, 0.6])  # where the untuned stay: off every optimum


def f(X):
    return -np.sum(A * (X - C) ** 2 / 0.1, 1)


def space():
    return ConfigurationSpace({f"x{i}": Float(f"x{i}", (0.0, 1.0)) for i in range(D)})


def true_value(S, n, draws=200_000, seed=1):
    X = np.tile(ANCHOR, (draws, 1))
    U = np.random.default_rng(seed).uniform(size=(draws, D))
    X[:, list(S)] = U[:, list(S)]
    return expected_max(f(X), n)


def best_subsets(n):
    """Exact truth by enumeration: the best set of each size and the best overall."""
    by_size = {k: max(combinations(range(D), k), key=lambda S: true_value(S, n)) for k in range(D + 1)}
    return by_size, max(by_size.values(), key=lambda S: true_value(S, n))


def encoded(n_configs=500, seed=0):
    cs = space()
    X = np.random.default_rng(seed).uniform(size=(n_configs, D))
    df = pd.DataFrame({**{f"config.x{i}": X[:, i] for i in range(D)}, "f1": f(X), "status": "ok"})
    return encode.encode(df, cs), cs


def test_expected_max_is_the_order_statistic_mean():
    v = np.array([3.0, 1.0, 2.0])
    # max of 2 draws with replacement from {1, 2, 3}: P(3) = 5/9, P(2) = 3/9, P(1) = 1/9
    assert expected_max(v, 2) == pytest.approx((3 * 5 + 2 * 3 + 1) / 9)
    assert expected_max(v, 1) == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    v = rng.normal(size=4000)
    mc = np.mean(rng.choice(v, size=(20000, 7)).max(1))
    assert expected_max(v, 7) == pytest.approx(mc, abs=0.02)


def test_geometry_switches_children_off_where_their_parent_disagrees():
    from ConfigSpace import Categorical, EqualsCondition
    cs = ConfigurationSpace({"opt": Categorical("opt", ["sgd", "adam"]), "beta": Float("beta", (0.8, 0.99))})
    cs.add(EqualsCondition(cs["beta"], cs["opt"], "adam"))
    geo = Geometry.of(cs)
    U = geo.uniform(400, 0)
    X = geo.compose(tunability.unit(cs, {"opt": "sgd"}), U, [0])  # opt drawn, beta at the anchor (inactive)
    active = np.isfinite(X[:, 1])
    assert (X[active, 0] > 0.5).all() and (X[~active, 0] < 0.5).all() and 0.3 < active.mean() < 0.7
    assert np.allclose(X[active, 1], geo.default[1])  # an anchor's inactive hp takes its default


@pytest.mark.slow  # fits 21 boosted surrogates
def test_fewer_trainings_choose_fewer_hyperparameters_near_the_best_subset():
    enc, cs = encoded()
    anchor = {f"x{i}": float(ANCHOR[i]) for i in range(D)}
    sur = tunability.fit_all(enc, 20, 0)
    chosen = {n: tunability.choose(enc, anchor, n, surrogates=sur) for n in (1, 100)}
    assert len(chosen[1].tune) < len(chosen[100].tune)
    for n, ch in chosen.items():
        by_size, best = best_subsets(n)
        S = [int(x[1:]) for x in ch.tune]
        same_size = true_value(by_size[len(S)], n)
        assert true_value(S, n) >= same_size - 0.02 * abs(same_size)  # the best set of its size, nearly
        anchor_value = true_value([], n)  # the rule gives up at most TOLERANCE of the best gain for a smaller set
        gain, best_gain = true_value(S, n) - anchor_value, true_value(best, n) - anchor_value
        assert gain >= (1 - tunability.TOLERANCE - 0.05) * best_gain
        # every coordinate matters here, so at n = 100 tuning all 5 is within the tolerance of the best
        assert true_value(S, n) > true_value(range(D), n) or len(S) == D or n == 100
    assert chosen[1].lower <= chosen[1].gain <= chosen[1].upper or chosen[1].tune == []


def test_max_tune_caps_and_exclude_removes():
    enc, cs = encoded(200)
    anchor = {f"x{i}": float(ANCHOR[i]) for i in range(D)}
    sur = tunability.fit_all(enc, 4, 0)
    ch = tunability.choose(enc, anchor, 100, max_tune=2, exclude=["x0"], surrogates=sur)
    assert len(ch.tune) <= 2 and "x0" not in ch.tune
    assert all("x0" not in s.added for s in ch.steps)


def test_ranges_hold_the_optimum_and_narrow_the_rest():
    enc, cs = encoded(400)
    anchor = {f"x{i}": float(ANCHOR[i]) for i in range(D)}
    sur = tunability.fit_all(enc, 0, 0)[0]
    r = tunability.ranges(sur, cs, anchor, ["x0", "x1"])
    for name, c in (("x0", C[0]), ("x1", C[1])):
        lo, hi = r[name]
        assert lo <= c <= hi and hi - lo < 0.8


def test_a_budget_below_one_training_is_refused():
    enc, cs = encoded(50)
    with pytest.raises(errors.AnalysisError, match="at least 1 training"):
        tunability.choose(enc, {}, 0)


def test_a_tolerance_keeps_the_smallest_set_near_the_paths_best():
    enc, cs = encoded(200)
    anchor = {f"x{i}": float(ANCHOR[i]) for i in range(D)}
    sur = tunability.fit_all(enc, 4, 0)
    got = {t: tunability.choose(enc, anchor, 30, surrogates=sur, tolerance=t) for t in (0.0, 0.1, 0.5)}
    sizes = [len(got[t].tune) for t in (0.0, 0.1, 0.5)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]  # a larger tolerance, a smaller set
    for t, ch in got.items():
        gains = np.array([0.0] + [st.value - ch.anchor_value for st in ch.steps])
        k = int(np.flatnonzero(gains >= (1 - t) * gains.max())[0])  # the smallest set on the path that reaches
        assert len(ch.tune) == sum(len(st.added) for st in ch.steps[:k])
        assert ch.value == pytest.approx(ch.anchor_value + gains[k])
    assert got[0.0].value == pytest.approx(got[0.0].anchor_value + gains.max())  # 0: the largest V


def test_ranges_hold_the_anchor():
    enc, cs = encoded(400)
    anchor = {f"x{i}": float(ANCHOR[i]) for i in range(D)}
    sur = tunability.fit_all(enc, 0, 0)[0]
    far = dict(anchor, x0=0.02)  # far from x0's optimum (0.8): the top quantile alone would leave it out
    lo, hi = tunability.ranges(sur, cs, far, ["x0", "x1"])["x0"]
    assert lo <= 0.02 and C[0] <= hi


def test_the_decision_and_its_figures_read_surrogates_fitted_once():
    from types import SimpleNamespace
    enc, _ = encoded(100)
    imp = SimpleNamespace(extra={"encoded": enc})
    sur = tunability.fitted(imp, 2, 0)
    assert tunability.fitted(imp, 2, 0) is sur and len(sur) == 3
    assert tunability.fitted(imp, 3, 0) is not sur  # another number of resamples is another fit

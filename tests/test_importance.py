"""Importance: fANOVA (exact decomposition, conditional treatment), PED-ANOVA, ablation, bootstrap."""

import numpy as np
import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace
from scipy.stats import kendalltau

import hpobench
from hpobench.analysis import ablation, bootstrap, encode, errors, fanova, importance, ped_anova, sample
from hpobench.analysis.errors import AnalysisError

FULL = {"epochs": 81, "data_fraction": 1.0}


@pytest.fixture(scope="module")
def bench():
    return hpobench.get("synthetic", agreement=1.0, seed=0)


@pytest.fixture(scope="module")
def full_table(bench):
    return sample.table(bench, 400, [FULL], seed=0)


def test_tree_decomposition_is_exact_against_brute_force_integration():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(300, 3))
    y = np.sin(6 * X[:, 0]) + 3 * X[:, 1] * X[:, 2] + (X[:, 0] > 0.5) * X[:, 2]
    part = fanova.fit(X, y, n_trees=2, seed=0, min_samples_leaf=5, max_features=1.0)
    main, pair = fanova.main_effects(part), fanova.pair_effects(part, [(1, 2)])
    G = 64  # the midpoint rule is exact up to the cells that a grid line cuts
    g = (np.arange(G) + 0.5) / G
    P = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    for t in range(2):
        one = fanova.Partition(part.lo[t:t + 1], part.hi[t:t + 1], part.value[t:t + 1])
        f = one.predict(P).reshape(G, G, G)
        assert part.variance[t] == pytest.approx(f.var(), rel=0.03)
        brute = [f.mean(axis=tuple(a for a in range(3) if a != i)).var() for i in range(3)]
        np.testing.assert_allclose(main[t], brute, rtol=0.05, atol=1e-3)
        v12 = f.mean(axis=0).var() - brute[1] - brute[2]
        assert pair[t, 0] == pytest.approx(v12, rel=0.1, abs=2e-3)


def test_conditional_child_gets_the_variance_it_adds_where_active():
    # f = 1[parent = level 0] * cos(2 pi child) + 0.3 * (parent - 1), child active only under level 0.
    rng = np.random.default_rng(0)
    n = 3000
    p = rng.integers(0, 3, n)
    c = rng.uniform(size=n)
    y = np.where(p == 0, np.cos(2 * np.pi * c), 0) + 0.3 * (p - 1)
    X = np.c_[(p + 0.5) / 3, np.where(p == 0, c, np.nan)]
    part = fanova.fit(X, y, n_trees=16, seed=0, regions={1: {0: np.array([[0, 1 / 3]])}}, levels=[3, None])
    share = (fanova.main_effects(part) / part.variance[:, None]).mean(0)
    v_parent, v_child = 0.09 * 2 / 3, 0.5 / 3  # exact: P(active) * Var(cos) = 1/3 * 1/2
    # (the parent's effect also carries the mean of the child's term, which is 0 here)
    np.testing.assert_allclose(share, [v_parent / (v_parent + v_child), v_child / (v_parent + v_child)], atol=0.03)


def test_forest_main_effects_of_one_tree_are_the_tree_decomposition():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(200, 3))
    part = fanova.fit(X, np.sin(6 * X[:, 0]) + X[:, 1] * X[:, 2], n_trees=1, seed=0)
    np.testing.assert_allclose(fanova.forest_main_effects(part), fanova.main_effects(part)[0], rtol=1e-10)
    # Variance of the forest's mean function: quasi-Monte Carlo vs the exact per-tree value.
    assert fanova.forest_variance(part, seed=0) == pytest.approx(part.variance[0], rel=0.02)


@pytest.mark.slow  # integrates the surrogate on grids fine enough for the tolerances (~4 s)
def test_boosted_surrogate_decomposition_is_exact_against_brute_force_integration():
    # Sum of depth-2 trees: main effects, the variance (low-order formula) and a pair effect
    # vs the same function integrated on a midpoint grid.
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(400, 3))
    y = np.sin(6 * X[:, 0]) + 3 * (X[:, 1] - 0.5) * (X[:, 2] - 0.5) + (X[:, 1] - 0.5) ** 2
    part = fanova.fit_boosted(X, y, seed=0)
    assert part.kind == "boost" and part.lo.shape[0] == fanova.BOOST["iterations"] + fanova.BOOST["interactions"]
    G = 64
    g = (np.arange(G) + 0.5) / G
    P = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    f = part.model.predict(P).reshape(G, G, G)
    assert np.ptp(f.reshape(-1)[:500] - part.predict(P[:500])) < 1e-9  # the leaves are the trees' sum (+ a constant)
    assert fanova.low_order_variance(part) == pytest.approx(f.var(), rel=0.02)
    # Marginals by direct evaluation, the other coordinates integrated out (NaN), on fine grids:
    # 400 trees cut at midpoints between data points, finer than a 64-point grid resolves.
    fine = (np.arange(2048) + 0.5) / 2048
    brute = [part.predict(np.where(np.arange(3) == i, fine[:, None], np.nan)).var() for i in range(3)]
    np.testing.assert_allclose(fanova.forest_main_effects(part), brute, rtol=0.01, atol=1e-4)
    g2 = (np.arange(128) + 0.5) / 128
    a12 = part.predict(np.c_[np.full(128 * 128, np.nan), np.repeat(g2, 128), np.tile(g2, 128)])
    assert fanova.pair_effects(fanova.merged(part), [(1, 2)])[0, 0] == pytest.approx(
        a12.var() - brute[1] - brute[2], rel=0.05, abs=1e-3)
    assert fanova.low_order_variance(fanova.fit(X, y, n_trees=2, seed=0)) is None  # deep trees: QMC instead


def test_boosting_runs_on_one_openmp_thread(monkeypatch):
    # sklearn's OpenMP threads spin on cores a grid shares (fanova.surrogate._one_thread).
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_info
    seen, fit, predict = [], HistGradientBoostingRegressor.fit, HistGradientBoostingRegressor.predict

    def omp():  # scikit-learn's own OpenMP runtime (oneDNN's kernels load the system's, which it never uses)
        seen.append({i["num_threads"] for i in threadpool_info()
                     if i["user_api"] == "openmp" and "scikit_learn" in i["filepath"]})
    monkeypatch.setattr(HistGradientBoostingRegressor, "fit", lambda self, *a, **k: omp() or fit(self, *a, **k))
    monkeypatch.setattr(HistGradientBoostingRegressor, "predict", lambda self, X: omp() or predict(self, X))
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(200, 3))
    part = fanova.fit_boosted(X, X[:, 0] + X[:, 1] * X[:, 2], seed=0)
    part.model.predict(X)  # reads the trees' nodes itself: no OpenMP
    assert len(seen) == 3 and all(s == {1} for s in seen), seen  # 2 fits and their residual


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_the_boosted_sum_predicts_bit_for_bit_as_scikit_learn(depth):
    """`_Sum` walks the trees itself, and once for the trees on no varying column: every row, NaN
    anywhere, a constant target (trees that are one leaf) give scikit-learn's numbers exactly."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    rng = np.random.default_rng(depth)
    X = rng.uniform(size=(300, 6))
    X[rng.uniform(size=X.shape) < 0.1] = np.nan
    y = np.sin(6 * np.nan_to_num(X[:, 0])) + np.nan_to_num(X[:, 1] * X[:, 2]) + rng.normal(0, 0.1, 300)
    kw = dict(max_depth=depth, random_state=0)
    first = HistGradientBoostingRegressor(max_iter=60, **kw).fit(X, y)
    models = [first, HistGradientBoostingRegressor(max_iter=30, **kw).fit(X, y - first.predict(X)),
              HistGradientBoostingRegressor(max_iter=5, **kw).fit(X, np.full(300, 0.3))]
    total = fanova.surrogate._Sum(models)
    anchor = np.repeat(rng.uniform(size=(1, 6)), 500, 0)
    for Z in (rng.uniform(size=(500, 6)), anchor, np.where(rng.uniform(size=(500, 6)) < 0.05, np.nan, anchor),
              np.column_stack([anchor[:, :4], rng.uniform(size=(500, 2))]), X):
        assert total.predict(Z).tobytes() == sum(m.predict(Z) for m in models).tobytes()


def test_boosted_shares_recover_a_symmetric_u_shape():
    # The case: a U-shaped main effect with 20% of the variance beside a monotone one.
    rng = np.random.default_rng(5)
    X = rng.uniform(size=(1000, 4))
    y = np.sqrt(0.8 * 12) * (X[:, 0] - 0.5) + np.sqrt(0.2 * 180) * ((X[:, 1] - 0.5) ** 2 - 1 / 12)
    enc = encode.Encoded(list("abcd"), X, y + 0.1 * rng.standard_normal(1000), np.arange(1000).astype(str),
                       ConfigurationSpace({n: (0.0, 1.0) for n in "abcd"}))
    boosted = fanova.fanova(enc, seed=0, pairs=0).value
    np.testing.assert_allclose(boosted, [0.8, 0.2, 0, 0], atol=0.04)
    forest = fanova.fanova(enc, seed=0, pairs=0, surrogate="forest").value  # the forest before: ~half the U
    assert forest[1] < 0.15
    with pytest.raises(AnalysisError, match="surrogate='forest'"):
        fanova.fanova(enc, max_features=1.0)
    with pytest.raises(AnalysisError, match="surrogate='boost'"):
        fanova.fanova(enc, surrogate="forest", iterations=10)
    assert fanova.hierarchy({2: {0: None}}, 4) == [[0, 2], [1], [3]]  # a child with its ancestor, others alone


def test_bias_aware_interval_widens_by_the_bias_bound_and_reaches_zero_for_nulls():
    reps = np.tile(np.array([[0.5, 0.010, 0.2]]), (100, 1)) + np.linspace(-0.01, 0.01, 100)[:, None] * [1, 0.1, 1]
    lo, hi = bootstrap.bias_aware(reps, 0.9, np.array([0.5, 0.010, 0.2]), 0.3, null=np.full(50, 0.02))
    np.testing.assert_allclose(hi, [0.509 + 0.15, 0.0109 + 0.003, 0.209 + 0.06], atol=1e-3)
    np.testing.assert_allclose(lo, [0.491 - 0.15, 0.0, 0.191 - 0.06], atol=1e-3)  # hp 1: not above a null's share


def test_forest_decomposition_removes_the_tree_noise_that_shrinks_per_tree_shares():
    # Additive truth, shares 16/17 and 1/17 of a noiseless variance; x2 does nothing.
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(300, 3))
    y = 4 * X[:, 0] + X[:, 1] + 0.3 * rng.standard_normal(300)
    space = ConfigurationSpace({n: (0.0, 1.0) for n in "abc"})
    enc = encode.Encoded(["a", "b", "c"], X, y, np.arange(300).astype(str), space)
    kw = dict(n_trees=32, seed=0, pairs=0, max_features=1.0, surrogate="forest")
    trees = fanova.fanova(enc, decomposition="trees", **kw).value
    forest = fanova.fanova(enc, decomposition="forest", **kw).value
    truth = np.array([16, 1, 0]) / 17
    assert abs(forest[0] - truth[0]) < abs(trees[0] - truth[0]) and forest[0] > trees[0]
    assert abs(forest.sum() - 1) < abs(trees.sum() - 1)
    np.testing.assert_array_equal(forest, fanova.fanova(enc, decomposition="forest", **kw).value)  # seeded
    with pytest.raises(AnalysisError, match="decomposition"):
        fanova.fanova(enc, decomposition="tree", **kw)


def test_fanova_recovers_the_synthetic_truth_ranking(bench, full_table):
    enc = encode.encode(full_table, bench.config_space)
    s = fanova.fanova(enc, seed=0)
    truth = bench.truth.importance(FULL)
    tv = np.array([truth[n] for n in s.names])
    assert kendalltau(tv, s.value).statistic > 0.6
    assert s.names[int(np.argmax(s.value))] == bench.truth.ranking(FULL)[0]
    assert np.all(s.value >= 0) and s.value.sum() <= 1.0 + 1e-9
    # the designed interaction is the strongest reported pair
    pair = next(iter(bench.truth.interactions(FULL)))
    assert set(max(s.interactions, key=s.interactions.get)) == set(pair)


def test_ped_anova_ranks_the_top_of_the_truth_high(bench, full_table):
    enc = encode.encode(full_table, bench.config_space)
    s = ped_anova.ped_anova(enc)
    top3 = set(bench.truth.ranking(FULL)[:3])
    est_top4 = {s.names[i] for i in np.argsort(-s.value)[:4]}
    assert len(top3 & est_top4) >= 2
    assert np.all(np.isfinite(s.value)) and np.all(s.value >= 0)


def test_ped_anova_inactive_regime_carries_no_importance():
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(400, 2))
    X[X[:, 0] > 0.5, 1] = np.nan  # column 1 only active on half the configurations
    y = -np.abs(X[:, 0] - 0.2)  # column 1 does not matter where it is active
    v = ped_anova.divergences(X, y, [None, None])
    assert v[0] > 20 * v[1]


def test_ablation_walks_from_the_default_to_the_best_configuration(bench, full_table):
    enc = encode.encode(full_table, bench.config_space)
    s = ablation.ablation(enc, n_trees=16)
    path = s.extra["path"]
    assert path[0][0] == "default"
    assert s.extra["gain"] == pytest.approx(path[-1][1] - path[0][1])
    assert s.extra["gain"] > 0  # the best configuration is better than the default
    assert s.extra["target"] == {k: v for k, v in s.extra["target"].items()}
    stepped = [p[0] for p in path[1:]]
    assert len(stepped) == len(set(stepped))
    assert s.value.sum() == pytest.approx(s.extra["gain"])


def test_importance_intervals_and_rank_distribution(bench, full_table):
    imp = importance.importance(full_table, bench.config_space, n_boot=5, seed=0)
    assert imp.replicates.shape == (5, len(imp.names))
    assert imp.extra["ci"] == "bias-aware" and np.isfinite(imp.extra["null_replicates"]).all()
    perc = importance.importance(full_table, bench.config_space, n_boot=5, seed=0, ci="percentile")
    np.testing.assert_array_equal(perc.replicates, imp.replicates)
    assert np.all(perc.lower >= imp.lower) and np.all(perc.upper <= imp.upper + 1e-12)
    with pytest.raises(AnalysisError, match="boosted surrogate only"):
        importance.importance(full_table, bench.config_space, method="ped-anova", n_boot=2, ci="bias-aware")
    assert np.all(imp.lower <= imp.upper) and np.all(imp.lower >= 0)
    rd = imp.rank_distribution()
    np.testing.assert_allclose(rd.sum(0), 1)
    np.testing.assert_allclose(rd.sum(1), 1)
    t = imp.table()
    assert list(t["rank"]) == list(range(1, len(imp.names) + 1))
    assert t.importance.notna().all() and t.lower.notna().all()
    lo, hi = bootstrap.interval(np.arange(11.0)[:, None], 0.8, point=np.array([6.0]), method="basic")
    assert (float(lo[0]), float(hi[0])) == pytest.approx((3.0, 11.0))


# ---------------------------------------------------------------- bad input

def _rows(bench, n=40, seed=0):
    return sample.table(bench, n, [FULL], seed=seed)


def test_single_valued_and_never_active_hyperparameters_get_zero_with_a_note(bench):
    df = _rows(bench)
    df["config.x0"] = 0.25  # one value everywhere
    df["config.branch"] = "right"  # left_x is then never active
    df["config.left_x"] = None
    for method in ("fanova", "ped-anova", "ablation"):
        imp = importance.importance(df, bench.config_space, method=method, n_boot=5)
        i0, il = imp.names.index("x0"), imp.names.index("left_x")
        assert imp.value[i0] == 0 and imp.value[il] == 0, method
        assert "single value" in imp.notes["x0"] and "never active" in imp.notes["left_x"]
        assert np.all(np.isfinite(imp.value)) and np.all(np.isfinite(imp.lower))


def test_constant_metric_gives_zeros_with_a_note(bench):
    df = _rows(bench)
    df["f1"] = 0.5
    for method in ("fanova", "ped-anova", "ablation"):
        imp = importance.importance(df, bench.config_space, method=method, n_boot=3)
        assert np.all(imp.value == 0) and "constant" in imp.notes["*"]


def test_too_few_configurations_raise_a_clear_error(bench):
    df = _rows(bench, n=6)
    with pytest.raises(errors.TooFew, match="fANOVA needs at least 10"):
        importance.importance(df, bench.config_space, method="fanova", n_boot=0)
    with pytest.raises(errors.TooFew, match="ablation needs at least 10"):  # its surrogate's minimum, its name
        importance.importance(df, bench.config_space, method="ablation", n_boot=0)
    with pytest.raises(AnalysisError, match="PED-ANOVA needs"):
        importance.importance(df, bench.config_space, method="ped-anova", n_boot=0)


def test_nan_metric_on_an_ok_trial_is_an_error_and_failed_trials_are_counted(bench):
    df = _rows(bench)
    df.loc[3, "f1"] = np.nan
    with pytest.raises(AnalysisError, match="status 'ok' but a non-finite f1"):
        encode.encode(df, bench.config_space)
    df.loc[3, "status"] = "diverged"
    enc = encode.encode(df, bench.config_space)
    assert enc.dropped == 1 and len(enc.y) == len(df) - 1
    worst = encode.encode(df, bench.config_space, failed="worst")
    assert len(worst.y) == len(df) and worst.y.min() == enc.y.min()


def test_tables_that_do_not_match_the_space_are_rejected(bench):
    df = _rows(bench)
    with pytest.raises(AnalysisError, match="not in the space"):
        encode.encode(df.assign(**{"config.bogus": 1.0}), bench.config_space)
    with pytest.raises(AnalysisError, match="missing from the table"):
        encode.encode(df.drop(columns=["config.x1"]), bench.config_space)
    with pytest.raises(AnalysisError, match="outside the space's range"):
        encode.encode(df.assign(**{"config.x1": 7.0}), bench.config_space)
    with pytest.raises(AnalysisError, match="pick one"):
        importance.importance(pd.concat([df, df.assign(**{"fidelity.epochs": 3})]), bench.config_space)
    with pytest.raises(AnalysisError, match="unknown importance method"):
        importance.importance(df, bench.config_space, method="shap")


def test_fanova_equals_optuna_where_the_definitions_coincide():
    """Uniform floats, same forest: our exact decomposition and Optuna's give the same numbers."""
    import optuna  # a dependency of hpobench (optuna-tpe, --optuna): never skipped
    from ConfigSpace import ConfigurationSpace
    from optuna.distributions import FloatDistribution
    from optuna.importance import FanovaImportanceEvaluator
    rng = np.random.default_rng(0)
    cs = ConfigurationSpace({f"f{i}": (0.0, 1.0) for i in range(4)})
    X = rng.uniform(size=(150, 4))
    y = np.sin(3 * X) @ np.array([1.0, 0.5, 0.2, 0.05]) + X[:, 0] * X[:, 1]
    names = list(cs)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials([optuna.trial.create_trial(params=dict(zip(names, x)), value=float(v),
                                                distributions={k: FloatDistribution(0.0, 1.0) for k in names})
                      for x, v in zip(X.tolist(), y)])
    theirs = FanovaImportanceEvaluator(n_trees=8, max_depth=64, seed=0).evaluate(study)
    enc = encode.Encoded(names, X, y, np.arange(len(y)).astype(str), cs)
    ours = fanova.fanova(enc, n_trees=8, min_samples_leaf=1, max_features=1.0, pairs=0, seed=0,
                         decomposition="trees", surrogate="forest").value  # Hutter et al.'s per-tree rule, as Optuna
    np.testing.assert_allclose(ours, [theirs[k] for k in names], atol=1e-10)

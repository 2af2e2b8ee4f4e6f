"""Tabular benchmarks: exact replay and the random-forest surrogate of recorded trials."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hpobench
from hpobench import spaces
from hpobench.benchmarks import BenchmarkError, tabular

LOW = {"epochs": 1, "data_fraction": 0.05}


def _table(bench, n, seed=0):
    fids = (LOW, bench.full_fidelity)
    return pd.DataFrame([hpobench.trial_row(bench.name, c, bench.fidelity(f), 0, bench.evaluate(c, f),
                                            bench.config_space)
                         for c in spaces.sample(bench.config_space, n, seed=seed) for f in fids])


@pytest.fixture(scope="module")
def live():
    return hpobench.get("synthetic/agree")


@pytest.fixture(scope="module")
def table(live):
    return _table(live, 150)


def test_forest_arrays_predict_like_sklearn():
    from sklearn.ensemble import RandomForestRegressor
    rng = np.random.default_rng(0)
    X, Xt = rng.random((200, 6)), rng.random((40, 6))
    y = X[:, 0] * 2 + np.sin(6 * X[:, 1]) + rng.normal(0, 0.1, 200)
    kw = tabular.FOREST | {"n_estimators": 30}
    ours = tabular.Forest.fit(X, y, 3, **kw).predict(Xt)
    ref = RandomForestRegressor(random_state=3, **kw).fit(X, y).predict(Xt)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-12)


def test_surrogate_ranks_unseen_configurations(live, table):
    sur = tabular.surrogate(table, live)
    assert sur.name == "surrogate/synthetic/agree" and sur.config_space == live.config_space
    unseen = spaces.sample(live.config_space, 60, seed=99, default=False)
    pred = [sur.evaluate(c).f1 for c in unseen]
    true = [r.f1 if r.status == "ok" else 0.0 for r in map(live.evaluate, unseen)]  # as the surrogate learns
    assert stats.spearmanr(pred, true)[0] > 0.6
    r = sur.evaluate(unseen[0], LOW, seed=5)
    assert r.status == "ok" and r.cost == live.cost(LOW) and r.cost_s > 0
    assert sur.evaluate(unseen[0], LOW, seed=6).f1 == r.f1  # the mean: seed-free


def test_holdout_error_is_measured_on_unseen_configurations(live, table):
    h = tabular.holdout(table, live, folds=5)
    assert len(h) == len(table) and h["pred"].between(0, 1).all()
    full = h[h["fidelity.epochs"] == live.full_fidelity["epochs"]]
    assert stats.spearmanr(full["f1"], full["pred"])[0] > 0.6
    with pytest.raises(BenchmarkError, match="at least 5 configurations"):
        tabular.holdout(table.head(4), live)


def test_failed_runs_enter_as_worst(live, table):
    t = table.copy()
    t.loc[t["f1"].idxmax(), ["status", "f1"]] = ["diverged", np.nan]
    y, _ = tabular._targets(t)
    assert y.min() == 0 and np.isfinite(y).all()


def test_replay_returns_recorded_results_only(live, table):
    rep = tabular.replay(table, live)
    row = table.iloc[3]
    cfg = spaces.typed(live.config_space, {k[7:]: v for k, v in row.items() if k.startswith("config.")})
    fid = {k[9:]: row[k] for k in row.index if k.startswith("fidelity.")}
    assert rep.evaluate(cfg, fid).f1 == row["f1"]
    assert len(rep.meta["configs"]) == 151  # the default + 150 sampled
    unseen = spaces.sample(live.config_space, 1, seed=123, default=False)[0]
    with pytest.raises(BenchmarkError, match="was not recorded"):
        rep.evaluate(unseen, fid)


def test_missing_or_incomplete_tables_fail_clearly(tmp_path, live, table):
    with pytest.raises(BenchmarkError, match="no recorded trials at"):
        tabular.read(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(BenchmarkError, match="cannot read"):
        tabular.read(tmp_path / "bad.parquet")
    with pytest.raises(BenchmarkError, match="lack column"):
        tabular.surrogate(table.drop(columns=["cost_s"]), live)
    with pytest.raises(BenchmarkError, match="no recorded trials at"):
        hpobench.get("surrogate/cifar10-cpu", table=str(tmp_path / "nope.parquet"))


def test_typed_restores_integer_and_drops_inactive():
    cs = spaces.resnet()
    v = spaces.typed(cs, {"depth": 20.0, "learning_rate": np.float64(0.1), "adamw_beta1": np.nan, "crop_padding": None})
    assert v == {"depth": 20, "learning_rate": 0.1} and type(v["depth"]) is int


def test_typed_restores_choices_written_as_strings():
    cs = spaces.resnet()  # JSON written with default=str turned numpy choices into strings
    v = spaces.typed(cs, {"aug_crop": "False", "batch_size": "128", "depth": "20", "aug_flip": np.False_})
    assert v == {"aug_crop": False, "batch_size": 128, "depth": 20, "aug_flip": False}
    assert type(v["aug_crop"]) is bool and type(v["batch_size"]) is int and v["aug_flip"] is False

"""The tunability research harnesses and the synthetic family's vectorised truth they rest on."""

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import spaces
from hpobench.benchmarks import synthetic

CHEAP = {"epochs": 20, "data_fraction": 0.125}


@pytest.mark.parametrize("agreement,seed", [(1.0, 0), (0.5, 3), (-1.0, 7)])
def test_noise_free_is_what_the_noise_free_instance_evaluates(agreement, seed):
    clean = hpobench.get("synthetic", agreement=agreement, seed=seed, noise=0.0)
    configs = spaces.sample(clean.config_space, 300, seed + 1)
    table = pd.DataFrame(configs)  # None where a conditional hp is inactive
    for fid in (None, CHEAP):
        got = synthetic.noise_free(clean, table, fid)
        runs = [clean.evaluate(c, fid) for c in configs]
        want = np.array([r.f1 if r.status == "ok" else np.nan for r in runs])
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got).sum() > 0  # the diverged
        assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-12)


def test_the_registered_names_and_make_are_one_instance_and_noise_only_adds():
    a = hpobench.get("synthetic", agreement=0.5, seed=3)
    for other in (hpobench.get("synthetic/partial", seed=3), synthetic.make(0.5, 3)):
        assert np.array_equal(a.truth.v_full, other.truth.v_full)
        assert np.array_equal(a.truth.centers_full, other.truth.centers_full)
    clean = hpobench.get("synthetic", agreement=0.5, seed=3, noise=0.0)
    double = hpobench.get("synthetic", agreement=0.5, seed=3, noise=0.01)
    configs = [c for c in spaces.sample(a.config_space, 200, 4) if a.evaluate(c).status == "ok"]
    f0, f1, f2 = (np.array([b.evaluate(c).f1 for c in configs]) for b in (clean, a, double))
    assert np.allclose(f2 - f0, 2 * (f1 - f0), atol=1e-12)  # the same draw, scaled: noisy = clean + noise
    assert 0.004 < np.std(f1 - f0) < 0.006 and abs(np.mean(f1 - f0)) < 0.001  # sd 0.005 at full fidelity
    assert np.allclose(synthetic.noise_free(clean, pd.DataFrame(configs)), f0, atol=1e-12)


def test_noise_free_takes_typed_arrays_and_refuses_bad_input():
    clean = hpobench.get("synthetic", seed=2, noise=0.0)
    table = pd.DataFrame(spaces.sample(clean.config_space, 100, 0))
    arrays = {k: (table[k].to_numpy(float) if k not in ("cat", "branch") else table[k].to_numpy(str))
              for k in table}
    assert np.allclose(synthetic.noise_free(clean, arrays), synthetic.noise_free(clean, table),
                       equal_nan=True, atol=1e-12)
    with pytest.raises(ValueError, match="lack hyperparameter"):
        synthetic.noise_free(clean, table.drop(columns=["x3"]))
    with pytest.raises(ValueError, match="not one of"):
        synthetic.noise_free(clean, table.assign(cat="z"))
    with pytest.raises(ValueError, match="not a synthetic instance"):
        synthetic.noise_free(hpobench.get("mf/branin"), table)


@pytest.mark.slow  # fits surrogates (~10 CPU-s)
def test_tunability_synthetic_quick_writes_its_files_and_resumes(tmp_path):
    from hpobench.experiments.studies import tunability_synthetic as ts
    ts.main(["--quick", "--out", str(tmp_path)])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert (tmp_path / "summary.md").exists() and (tmp_path / "settings.json").exists()
    assert list(runs["n"]) == list(ts.QUICK.budgets) and runs["check"].max() < 1e-9
    eps = 1e-12  # exhaustive on common draws: the best of a size bounds the chosen, the best overall both
    assert (runs.v_best >= runs.v_same - eps).all() and (runs.v_same >= runs.v_chosen - eps).all()
    assert (runs.v_best >= runs.v_all - eps).all() and (runs.v_best >= runs.f_anchor - eps).all()
    assert "| 10" in (tmp_path / "summary.md").read_text()
    ts.run(ts.QUICK, tmp_path)  # resumes: nothing new
    assert len(pd.read_csv(tmp_path / "runs.csv")) == len(runs)
    with pytest.raises(SystemExit, match="other settings"):
        ts.run(ts.Setup(), tmp_path)


def test_the_truth_of_a_subset_is_what_the_benchmark_evaluates_for_its_draws():
    from hpobench.analysis import tunability
    from hpobench.experiments.studies import tunability_synthetic as ts
    bench, clean = ts.instance(0.5, 3)
    anchor = {"branch": "right", "cat": "b", "lr": 0.003, "n": 7, "x0": 0.2, "x1": 0.9, "x2": 0.5, "x3": 0.4,
              "x4": 0.6, "x5": 0.1, "right_x": 0.3}  # left_x inactive: its default where branch is drawn left
    truth = ts.Truth(clean, anchor, 300, 0)
    for tuned in (["branch", "x3"], ["lr", "cat", "left_x"], list(bench.config_space)):
        m = truth.mask(tuned)
        want = []
        for i in range(300):
            c = dict(anchor, left_x=0.5) | {k: truth.draw[k][i].item() for k in tuned}
            c = {k: v for k, v in c.items() if k != {"left": "right_x", "right": "left_x"}[c["branch"]]}
            r = clean.evaluate(spaces.typed(clean.config_space, c))  # n drawn as 7.0 -> 7
            assert r.status in ("ok", "diverged"), r.error
            want.append(r.f1 if r.status == "ok" else 0.0)
        assert np.allclose(truth.values(m), want, atol=1e-12)
        assert truth.from_anchor(m, 5) == pytest.approx(tunability.expected_max(np.maximum(want, truth.f_anchor), 4))
    assert truth.f_anchor == pytest.approx(clean.evaluate(anchor).f1, abs=1e-12)


def test_scope_ranges_inside_counts_inactive_and_whole_as_inside():
    from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float

    from hpobench.experiments.studies import scope_ranges as sr
    cs = ConfigurationSpace({"lr": Float("lr", (1e-4, 1.0), log=True), "opt": Categorical("opt", ["sgd", "adam"]),
                             "beta": Float("beta", (0.8, 0.99))})
    cs.add(EqualsCondition(cs["beta"], cs["opt"], "adam"))
    t = pd.DataFrame({"config.lr": [0.01, 0.5, 0.02, 0.01], "config.opt": ["adam", "adam", "sgd", "adam"],
                      "config.beta": [0.9, 0.9, None, 0.95]})
    got = sr.inside(cs, t, {"lr": (0.005, 0.1), "opt": ["adam", "sgd"], "beta": (0.85, 0.92)})
    assert got.tolist() == [True, False, True, False]  # row 3: beta inactive counts as inside
    assert sr.inside(cs, t, {"opt": ["sgd"]}).tolist() == [False, False, True, False]
    assert sr.inside(cs, t, {}).all()
    ids = list(range(401))
    assert sr.drawn(ids, 40, 3)[0] == 0 and len(set(sr.drawn(ids, 40, 3))) == 40
    assert sr.drawn(ids, 40, 3) == sr.drawn(ids, 40, 3) != sr.drawn(ids, 40, 4)
    with pytest.raises(ValueError, match="402 configurations asked"):
        sr.drawn(ids, 402, 0)


@pytest.mark.slow  # fits surrogates on study v2 (~20 CPU-s)
def test_scope_ranges_quick_writes_its_files(tmp_path):
    from hpobench.experiments.studies import scope_ranges as sr
    df, cs = sr.load()
    cheap, full = sr.rungs(df)
    got = sr.parse(cs, '{"learning_rate": [0.001, 0.1], "batch_size": [32, 64], "crop_padding": [2, 5], '
                       '"aug_crop": [true]}')
    assert got == {"learning_rate": (0.001, 0.1), "batch_size": [32, 64], "crop_padding": (2, 5), "aug_crop": [True]}
    assert len(cheap) == 9 and full == {"data_fraction": 0.1, "epochs": 8, "resolution": 16}
    sr.main(["--quick", "--out", str(tmp_path)])
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert len(runs) == 2 * 2 and set(runs["rung"]) == {"data_fraction=0.025,epochs=2,resolution=8",
                                                         "data_fraction=0.1,epochs=8,resolution=16"}
    assert runs["coverage"].between(0, 1).all() and runs["chance"].between(0, 1).all()
    assert ((runs["size"] == 0) <= (runs["chance"] == 1)).all()  # nothing tuned narrows nothing
    assert (runs["best_inside"] <= runs["best"]).all()
    text = (tmp_path / "summary.md").read_text()
    assert "(full: reference)" in text and "enrichment" in text and "## Per hyperparameter" in text

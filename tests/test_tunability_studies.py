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

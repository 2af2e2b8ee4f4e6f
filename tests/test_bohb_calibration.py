"""The BOHB calibration harness: Syne Tune's choices on our BOHB, reproducing the recorded rows."""

import numpy as np
import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace, Float

from hpobench.experiments.studies import bohb_calibration as bc
from sources import ROOT

RECORDED = ROOT / "results" / "bohb_peers" / "calibration" / "styblinski4.csv"


def test_last_sampler_fits_each_configurations_highest_budget_only():
    space = ConfigurationSpace({"x": Float("x", (0.0, 1.0)), "y": Float("y", (0.0, 1.0))}, seed=0)
    s = bc.LastSampler(space, 0)  # min_points: d + 1 = 3, so a model from 5 configurations
    configs = [{"x": x, "y": 1 - x} for x in np.linspace(0.1, 0.9, 5)]
    for i, c in enumerate(configs[:4]):
        s.observe(c, 1, loss=float(i))
    assert s.model_budget() is None
    s.observe(configs[0], 3, loss=9.0)  # promoted: its budget-3 result replaces its budget-1 one
    s.observe(configs[0], 1, loss=-1.0)  # a lower budget does not
    assert s.model_budget() is None and len(s.pooled) == 4
    s.observe(configs[4], 1, loss=4.0)
    assert s.model_budget() == bc.POOLED
    s.fit(bc.POOLED)
    assert sorted(s.obs[bc.POOLED][1]) == [1.0, 2.0, 3.0, 4.0, 9.0]


def test_an_unknown_variant_or_function_is_refused_before_any_run(tmp_path, capsys):
    for argv in (["styblinski4", "--variants", "paper", "nope"], ["nofunction"]):
        with pytest.raises(SystemExit):
            bc.main([*argv, "--out", str(tmp_path)])
        assert "invalid choice" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # three BOHB runs on mf/styblinski4 (~3 s)
def test_one_seed_reproduces_the_recorded_calibration_rows(tmp_path):
    bc.main(["styblinski4", "--variants", "paper", "last", "sh-q30-r15", "--seeds", "1", "--out", str(tmp_path)])
    new = pd.read_csv(tmp_path / "styblinski4__paper_last_sh-q30-r15.csv")
    assert sorted(new.optimizer.unique()) == ["v-last", "v-paper", "v-sh-q30-r15"] and set(new.seed) == {100}
    recorded = pd.read_csv(RECORDED)
    both = new.merge(recorded, on=["function", "optimizer", "seed", "fraction"], suffixes=("", "_recorded"))
    assert len(both) == len(new) == 9
    for col in ("budget", "spent", "n_trials", "n_full", "incumbent_trial"):
        assert (both[col] == both[f"{col}_recorded"]).all(), col
    for col in ("observed", "regret"):  # the same trials; the values to rounding (AVX2 and AVX-512 sum differently)
        assert np.allclose(both[col], both[f"{col}_recorded"], rtol=1e-12, atol=0), col

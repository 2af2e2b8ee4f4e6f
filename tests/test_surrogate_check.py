"""Surrogate v2's tests against real trainings, on synthetic runs and a synthetic recorded study."""

import numpy as np
import pandas as pd
import pytest

import hpobench
from hpobench import spaces
from hpobench.experiments.studies import surrogate_check


def _runs(means: dict, seeds=range(8), noise=0.002) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame([{"optimizer": o, "strategy": st, "seed": s, "final_f1": m + noise * rng.standard_normal()}
                         for (o, st), m in means.items() for s in seeds])


LIVE = {("smac", "all"): 0.45, ("smac", "expert"): 0.49, ("smac", "tool"): 0.45, ("none", "one-epoch"): 0.50}


def test_identical_rankings_agree_and_a_flat_surrogate_misses_what_live_decides():
    live = _runs(LIVE)
    same = surrogate_check.order(live, live, n_boot=50)
    assert same["kendall"] == pytest.approx(1.0) and same["seeds"] == 8
    dec = surrogate_check.decisions(live, live)
    assert dec["same"].all() and set(dec.loc[dec.strategy == "expert", "live"]) == {"+"}
    flat = _runs(dict.fromkeys(LIVE, 0.42), noise=0.0)  # predicts every strategy ties
    dec = surrogate_check.decisions(flat, live)
    assert set(dec.loc[dec.strategy == "expert", "surrogate"]) == {"undecided"}
    assert not dec.loc[dec.strategy == "expert", "same"].any()
    reverse = surrogate_check.order(_runs({k: 1 - v for k, v in LIVE.items()}), live, n_boot=50)
    assert reverse["kendall"] < 0 and reverse["upper"] < 0.5


def test_held_out_error_per_fidelity_beside_the_spread_of_f1():
    hold = pd.DataFrame({"fidelity.epochs": [1] * 4 + [2] * 4, "f1": [0.1, 0.2, 0.3, 0.4] * 2,
                         "pred": [0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1]})
    e = surrogate_check.error(hold, n_boot=20).set_index("epochs")
    assert e.loc[1, "rmse"] == 0 and e.loc[1, "spearman"] == pytest.approx(1)
    assert e.loc[2, "spearman"] == pytest.approx(-1)
    assert e.loc[2, "sd"] == pytest.approx(np.std([.1, .2, .3, .4], ddof=1))


@pytest.mark.slow
def test_the_size_curve_refits_on_nested_prefixes_of_the_grid():
    live = hpobench.get("synthetic/agree")
    rows = [hpobench.trial_row(live.name, c, f, 0, live.evaluate(c, f), live.config_space) | {"config_id": i}
            for i, c in enumerate(spaces.sample(live.config_space, 25, seed=0))
            for f in (live.fidelity({"epochs": 1, "data_fraction": 0.05}), live.full_fidelity)]
    table = pd.DataFrame(rows)
    n = table["config_id"].nunique()  # the sample starts with the default
    size = surrogate_check.size_curve(table, live, sizes=(10, n - 1, 40), n_boot=20)
    assert size["configs"].tolist() == [10, n]  # sizes near or past the grid are dropped, the whole grid added
    assert size["spearman"].between(-1, 1).all() and (size["rmse"] > 0).all()

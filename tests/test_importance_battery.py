"""The importance battery's harness: ours, the forest and Optuna on the analytic tables, scored against the truth."""

import numpy as np
import pandas as pd
import pytest

from hpobench.experiments.studies import importance_battery as ib
from sources import ROOT

KEY = ["objective", "n", "seed", "estimator"]


def test_scores_are_kendall_tau_and_l1_of_normalised_shares():
    truth = np.array([0.5, 0.3, 0.2, 0.0])
    assert ib.scores(truth, 2 * truth) == {"tau": pytest.approx(1.0), "l1": pytest.approx(0.0)}
    s = ib.scores(truth, truth[::-1])
    assert s["tau"] == pytest.approx(-1.0) and s["l1"] == pytest.approx(1.2)


def test_interval_methods():
    d = pd.DataFrame(dict(n=[30, 30], truth=[0.0, 0.4], estimate=[0.05, 0.3], q_lo=[0.02, 0.15], q_hi=[0.1, 0.35],
                          null_hi=[0.04, 0.04]))
    lo, hi = ib.interval_bounds(d, "percentile")
    assert lo.tolist() == [0.02, 0.15] and hi.tolist() == [0.1, 0.35]
    lo, hi = ib.interval_bounds(d, "basic")
    assert lo == pytest.approx([0.0, 0.25]) and hi == pytest.approx([0.08, 0.45])
    lo, hi = ib.interval_bounds(d, "bias-aware", 0.2)  # widened by 0.2 x estimate; a low end under the noise: 0
    assert lo == pytest.approx([0.0, 0.09]) and hi == pytest.approx([0.11, 0.41])
    cov = ib.interval_coverage(d, biases=(0.2,)).set_index("method")
    assert cov.coverage.to_dict() == {"percentile": 0.0, "basic": 1.0, "bias-aware 0.2": 1.0}


@pytest.mark.slow  # runs the three estimators on two tables (~5 s)
def test_a_small_run_reproduces_the_recorded_rows_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(ib, "OUT", tmp_path)
    runs = ib.run(ns=(30,), seeds=range(1), n_boot=2, objectives=["conditional", "discrete"])
    assert len(runs) == 6
    recorded = pd.read_csv(ROOT / "results" / "importance_battery" / "runs.csv")
    both = runs.astype({"n": int, "seed": int}).merge(recorded, on=KEY, suffixes=("", "_recorded"))
    assert len(both) == 6
    assert (both.estimate == both.estimate_recorded).all()  # the same tables, the same estimates
    assert np.allclose(both.tau, both.tau_recorded) and np.allclose(both.l1, both.l1_recorded)
    optuna = both[(both.objective == "conditional") & (both.estimator == "optuna")].estimate.item()
    assert optuna.endswith("0.0, 0.0]")  # Optuna leaves the conditional children (a_x, b_x last) out
    assert len(ib.run(ns=(30,), seeds=range(1), n_boot=2, objectives=["conditional", "discrete"])) == 6  # resumed
    summary = ib.summarise()
    assert [r["tables"] for r in summary["paired"]] == [2, 2, 2]
    assert "| 30 | 2 |" in (tmp_path / "summary.md").read_text()

"""The main job, `hpobench scope`, end to end on a synthetic benchmark (seconds)."""

import json

import pandas as pd
import pytest

import hpobench
from hpobench import spaces
from hpobench.experiments import scope


def test_ladder_and_plan_fit_the_budget():
    bench = hpobench.get("synthetic/partial")
    rungs = scope.ladder(bench)
    costs = [bench.cost(r) for r in rungs]
    assert rungs[0] == bench.full_fidelity and all(a > b for a, b in zip(costs, costs[1:]))
    p = scope.plan(bench, 600)
    assert p.cost <= 600 and bench.cost(p.probe) > bench.cost(p.low)
    assert (p.n_low, p.n_probe) == (40, 15)


def test_too_small_a_budget_fails_before_compute(tmp_path):
    with pytest.raises(ValueError, match="budget 1 is too small"):
        scope.run("synthetic/partial", 1, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_scope_writes_report_space_and_trials_and_resumes(tmp_path):
    out = tmp_path / "scope"
    dec = scope.run("synthetic/agree", 600, out, n_boot=30, progress=False)
    for f in ("report.md", "scoped_space.json", "evaluations.parquet", "importance.png", "decision.png"):
        assert (out / f).exists(), f
    reduced = spaces.load(out / "scoped_space.json")
    spaces.check_subspace(reduced, hpobench.get("synthetic/agree").config_space)
    assert set(dec.tune) <= set(reduced)
    report = (out / "report.md").read_text()
    assert dec.verdict in report and "hpobench tune synthetic/agree --space" in report
    df = pd.read_parquet(out / "evaluations.parquet")
    assert len(df) == 40 + 15 and df["key"].is_unique
    before = df.copy()
    scope.run("synthetic/agree", 600, out, n_boot=30, progress=False)  # resumes: nothing re-run
    pd.testing.assert_frame_equal(pd.read_parquet(out / "evaluations.parquet"), before)
    with pytest.raises(ValueError, match="other settings"):
        scope.run("synthetic/agree", 600, out, seed=1, progress=False)
    assert json.loads((out / "meta.json").read_text())["scope"]["seed"] == 0

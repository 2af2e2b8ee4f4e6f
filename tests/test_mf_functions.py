"""The multi-fidelity test functions (known optimum, biased/noisy cheap fidelities) and the peers' harness."""

import numpy as np
import pytest
from scipy.optimize import minimize

import hpobench
from hpobench.benchmarks.mf_functions import FUNCTIONS


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_the_optimum_is_a_local_minimum_no_random_point_beats(name):
    fn = FUNCTIONS[name]
    lo, hi = np.array(fn.lower), np.array(fn.upper)
    assert fn.value(fn.x_star) == pytest.approx(fn.f_star, abs=1e-5)
    r = minimize(fn.value, np.array(fn.x_star), bounds=list(zip(lo, hi)), method="L-BFGS-B")
    assert r.fun >= fn.f_star - 1e-8
    x = lo + (hi - lo) * np.random.default_rng(0).random((100_000, fn.dims))
    assert fn.f(x, 1.0).min() > fn.f_star


@pytest.mark.parametrize("name, regret_there", [("hartmann3", 0.5), ("styblinski4", 20.0), ("forrester4", 20.0)])
def test_misleading_cheap_fidelities_put_their_optimum_in_another_basin(name, regret_there):
    fn = FUNCTIONS[name]
    lo, hi = np.array(fn.lower), np.array(fn.upper)
    x = lo + (hi - lo) * np.random.default_rng(1).random((50_000, fn.dims))
    start = x[np.argmin(fn.f(x, 0.0))]
    cheap = minimize(lambda v: fn.value(v, 0.0), start, bounds=list(zip(lo, hi)), method="L-BFGS-B").x
    assert fn.value(cheap) - fn.f_star > regret_there  # the cheap optimum is a poor full-fidelity point


def test_forrester4_blends_forresters_published_fidelities_and_every_cheap_coordinate_is_in_the_wrong_basin():
    fn = FUNCTIONS["forrester4"]
    x = np.random.default_rng(2).random((50, 4))
    high = (6 * x - 2) ** 2 * np.sin(12 * x - 4)  # Forrester et al. (2008)
    low = 0.5 * high + 10 * (x - 0.5) - 5  # their cheap fidelity (A = 0.5, B = 10, C = -5)
    assert fn.f(x, 1.0) == pytest.approx(high.sum(1)) and fn.f(x, 0.0) == pytest.approx(low.sum(1))
    assert fn.f(x, 0.25) == pytest.approx(0.25 * high.sum(1) + 0.75 * low.sum(1))
    assert fn.f_star == pytest.approx(4 * -6.020740055767081) and fn.x_star == pytest.approx((0.757249,) * 4, abs=1e-6)
    grid = np.linspace(0, 1, 100_001)[:, None] * np.ones((1, 4))
    for budget, wrong in ((1, True), (3, True), (9, False), (27, False)):
        best = grid[np.argmin(fn.f(grid, fn.level(budget))), 0]  # separable: one coordinate's argmin
        assert (best < 0.45) == wrong, budget  # the local basin is x < 0.45, the global one x > 0.45
    assert fn.value([0.092] * 4) - fn.f_star > 4 * 5.0  # the cheap optimum: every coordinate 5 worse


def test_registered_benchmark_costs_its_budget_and_its_noise_is_seeded_and_shrinks_with_fidelity():
    b = hpobench.get("mf/hartmann3")
    assert b.full_fidelity == {"budget": 27} and b.cost({"budget": 9}) == 9.0
    assert b.metric.direction == "minimize"
    x = {"x0": 0.2, "x1": 0.5, "x2": 0.8}
    fn = b.truth

    def obs(budget, seed):
        return b.evaluate(x, {"budget": budget}, seed=seed).value(b.metric)

    assert obs(1, 0) == obs(1, 0) and obs(1, 0) != obs(1, 1)  # same trial, same observation
    cheap = np.array([obs(1, s) for s in range(200)]) - fn.value(fn.point(x), 0.0)
    full = np.array([obs(27, s) for s in range(200)]) - fn.value(fn.point(x), 1.0)
    assert cheap.std() == pytest.approx(0.2, rel=0.2) and full.std() == pytest.approx(0.02, rel=0.2)


def test_synetune_bohb_adapter_runs_asha_rungs_charged_at_their_cost():
    pytest.importorskip("syne_tune")
    from hpobench.experiments.studies import bohb_peers
    bohb_peers.register()
    run = hpobench.tune("mf/branin", "synetune-bohb", budget=20 * 27, seed=0)
    t = run.trials
    assert run.spent <= 20 * 27 and t["cost"].sum() == pytest.approx(run.spent)
    counts = t.iloc[1:]["fidelity.budget"].value_counts()  # after the default (full fidelity, trial 0)
    assert set(counts.index) <= {1, 3, 9, 27} and list(counts.reindex([1, 3, 9, 27], fill_value=0)) == sorted(
        counts.reindex([1, 3, 9, 27], fill_value=0), reverse=True) and counts[1] > counts.get(27, 0)
    # a configuration reaches a rung only through every rung below it (ASHA continues, never skips)
    for _, g in t.iloc[1:].groupby([t[c] for c in ("config.x0", "config.x1")]):
        assert sorted(g["fidelity.budget"]) == [1, 3, 9, 27][: len(g)]
    fn = FUNCTIONS["branin"]
    rows = bohb_peers.regrets(run, fn, 20 * 27)
    assert [r["fraction"] for r in rows] == [0.25, 0.5, 1.0]
    assert rows[0]["regret"] >= rows[-1]["regret"] >= 0


def test_synetune_bohb_runs_are_repeatable_whatever_numpy_global_state_and_leave_it_alone():
    pytest.importorskip("syne_tune")
    from hpobench.experiments.studies import bohb_peers
    bohb_peers.register()

    def run(global_seed):
        np.random.seed(global_seed)
        before = np.random.get_state()[1].copy()
        t = hpobench.tune("mf/hartmann3", "synetune-bohb", budget=10 * 27, seed=3).trials
        assert (np.random.get_state()[1] == before).all()  # the caller's global state is not drawn from
        return t[[c for c in t.columns if c.startswith(("config.", "fidelity."))]]

    first, again = run(1), run(2)
    assert len(first) > 20 and first.equals(again)
    assert not first.equals(hpobench.tune("mf/hartmann3", "synetune-bohb", budget=10 * 27, seed=4).trials[
        first.columns])  # another seed, another run

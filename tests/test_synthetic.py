"""The synthetic benchmarks' ground truth must be what their objective really does."""

import numpy as np
import pytest
from scipy.stats import spearmanr

import hpobench
from hpobench.benchmarks import synthetic

FULL = {"epochs": 81, "data_fraction": 1.0}
CHEAP = {"epochs": 1, "data_fraction": 0.05}


@pytest.mark.parametrize("agreement", [1.0, 0.5, 0.0, -1.0])
def test_designed_agreement(agreement):
    b = hpobench.get("synthetic", agreement=agreement, seed=2)
    assert abs(b.truth.agreement - agreement) < 0.1
    assert b.truth.agreement_at(FULL) == pytest.approx(1.0)
    assert b.truth.agreement_at(CHEAP) == pytest.approx(b.truth.agreement)


def test_shares_sum_to_one_at_every_fidelity():
    t = hpobench.get("synthetic/partial").truth
    for fid in (FULL, CHEAP, {"epochs": 9, "data_fraction": 0.3}):
        total = sum(t.importance(fid).values()) + sum(t.interactions(fid).values())
        assert total == pytest.approx(1.0)


def test_levels():
    assert synthetic.level(FULL) == 1.0 and synthetic.level(CHEAP) == 0.0
    assert 0 < synthetic.level({"epochs": 9, "data_fraction": 0.3}) < 1


@pytest.mark.slow
def test_truth_matches_monte_carlo_variance_decomposition():
    """Main-effect variance of each hp, estimated from the objective itself, equals the truth."""
    b = hpobench.get("synthetic", agreement=0.0, seed=1, noise=0.0, diverge=0.0)
    cs = b.config_space
    cs.seed(0)
    fid = {"epochs": 1, "data_fraction": 1.0}  # an intermediate level; one curve point keeps it fast
    base = [dict(c) for c in cs.sample_configuration(4000)]
    f = np.array([b.fn(c, fid, 0).f1 for c in base])
    total = f.var()
    truth = b.truth.importance(fid)
    for name in ("x0", "x3", "lr", "n"):
        hp = cs[name]
        grid = [hp.to_value(v) for v in np.linspace(0.02, 0.98, 25)] if name != "n" else list(range(1, 17))
        # main effect: E[f | x_name = v], averaged over the other hps
        sub = base[:300]
        means = [np.mean([b.fn(c | {name: v}, fid, 0).f1 for c in sub]) for v in grid]
        assert np.var(means) / total == pytest.approx(truth[name], abs=0.03), name
    assert total > 0


def test_low_fidelity_ranking_moves_as_designed():
    b = hpobench.get("synthetic/reversed")
    full, cheap = b.truth.ranking(FULL), b.truth.ranking(CHEAP)
    assert full == cheap[::-1]
    names = b.truth.names
    imp_full, imp_cheap = b.truth.importance(FULL), b.truth.importance(CHEAP)
    rho = spearmanr([imp_full[k] for k in names], [imp_cheap[k] for k in names]).statistic
    assert rho == pytest.approx(-1.0)


def test_evaluation_is_fast_seeded_and_fidelity_dependent():
    b = hpobench.get("synthetic/agree")
    r1, r2 = b.evaluate("default", CHEAP, seed=0), b.evaluate("default", CHEAP, seed=0)
    assert r1.f1 == r2.f1 and r1.status == "ok"
    assert b.evaluate("default", CHEAP, seed=1).f1 != r1.f1
    assert b.evaluate("default", FULL).f1 > r1.f1  # more budget, better model
    assert len(b.evaluate("default", {"epochs": 5}).curve) == 5
    assert r1.cost == pytest.approx(0.05) and b.cost(FULL) == 81


def test_high_learning_rate_diverges():
    b = hpobench.get("synthetic/agree")
    r = b.evaluate({"lr": 0.99}, CHEAP)
    assert r.status == "diverged" and np.isnan(r.f1)


def test_conditional_children_matter_only_when_active():
    b = hpobench.get("synthetic", agreement=1.0, noise=0.0)
    left = [b.evaluate({"branch": "left", "left_x": v}, FULL).f1 for v in (0.05, 0.5, 0.95)]
    assert len(set(np.round(left, 9))) > 1
    with pytest.raises(hpobench.BenchmarkError, match="inactive"):
        b.evaluate({"branch": "right", "left_x": 0.5}, FULL)

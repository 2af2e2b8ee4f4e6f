"""The analytic objectives (hpobench.benchmarks.analytic): exact truths checked by Monte Carlo; their tables."""

import numpy as np
import pytest

from hpobench import spaces
from hpobench.analysis import encode
from hpobench.benchmarks import analytic

N = 200_000
BATTERY = analytic.battery()


def _pick_freeze(obj, rng, fix=None):
    """Var f and every first-order V_i by Saltelli's estimator mean(f(B) (f(A_B^i) - f(A))),
    with the columns in `fix` held at a unit code (a branch's level) in both A and B."""
    A, B = analytic.sample_units(obj, N, rng.integers(1 << 30)), analytic.sample_units(obj, N, rng.integers(1 << 30))
    for j, u in (fix or {}).items():
        A[:, j] = B[:, j] = u
    fa, fb = obj.f(A), obj.f(B)
    V = []
    for j in range(A.shape[1]):
        AB = A.copy()
        AB[:, j] = B[:, j]
        V.append(np.mean(fb * (obj.f(AB) - fa)))
    return np.var(np.r_[fa, fb]), np.array(V)


@pytest.mark.slow  # 200k-sample pick-freeze per objective (~4 s in all)
@pytest.mark.parametrize("obj", BATTERY, ids=lambda o: o.name)
def test_exact_truth_matches_monte_carlo(obj):
    rng = np.random.default_rng(0)
    var, V = _pick_freeze(obj, rng)
    assert var == pytest.approx(obj.variance(), rel=0.02)
    truth = obj.truth()
    mc = dict(zip(obj.names, V / var))
    for c, (p, lv, _, _) in obj.branch.items():  # V_c = P(A) Var E[f | u_c, A], A: parent at level lv
        k = spaces.cells(obj.space, p)
        _, Vc = _pick_freeze(obj, rng, {obj.names.index(p): (lv + 0.5) / k})
        mc[c] = Vc[obj.names.index(c)] / k / var
    for n in obj.names:
        assert mc[n] == pytest.approx(truth[n], abs=0.012), n


@pytest.mark.parametrize("obj", BATTERY, ids=lambda o: o.name)
def test_shares_sum_to_one_less_the_pure_interactions(obj):
    interactions = sum(p[2] for p in obj.pairs) / obj.variance()
    assert sum(obj.truth().values()) == pytest.approx(1 - interactions, abs=1e-12)
    assert obj.shares().tolist() == [obj.truth()[k] for k in obj.names]


def test_terms_have_zero_mean_and_unit_variance():
    u = (np.arange(1_000_000) + 0.5) / 1_000_000
    for g in (analytic.lin, analytic.quad, analytic.per):
        assert abs(g(u).mean()) < 1e-6 and g(u).var() == pytest.approx(1, rel=1e-6)


def test_tables_are_the_projects_schema_with_conditional_children_inactive():
    obj = next(o for o in BATTERY if o.name == "conditional")
    df, configs = analytic.table(obj, 60, seed=1)
    enc = encode.encode(df, obj.space)
    assert enc.X.shape == (60, len(obj.names)) and len(configs) == 60
    a = obj.names.index("a_x")
    assert np.array_equal(np.isnan(enc.X[:, a]), (df["config.branch"] != "a").to_numpy())
    again, _ = analytic.table(obj, 60, seed=1)
    assert again.equals(df)  # seeded


@pytest.mark.parametrize("name", ["discrete", "conditional"])
def test_table_values_encode_back_to_the_sampled_unit_codes(name):
    """spaces.from_unit (the table's values) inverts the analysis' encoding (encode.to_unit)."""
    obj = next(o for o in BATTERY if o.name == name)
    df, _ = analytic.table(obj, 50, seed=3)
    U = analytic.sample_units(obj, 50, seed=3)
    X = encode.encode(df, obj.space).X
    act = obj.active(U)
    assert np.array_equal(np.isnan(X), ~act)
    assert np.allclose(X[act], U[act], atol=1e-12)

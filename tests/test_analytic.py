"""The analytic importance battery: its exact truths, checked by Monte Carlo; its tables."""

import numpy as np
import pytest

from hpobench.analysis import data
from hpobench.experiments.studies import importance_battery as ib

N = 200_000


def _pick_freeze(obj, rng, fix=None):
    """Var f and every first-order V_i by Saltelli's estimator mean(f(B) (f(A_B^i) - f(A))),
    with the columns in `fix` held at a unit code (a branch's level) in both A and B."""
    A, B = ib.sample_units(obj, N, rng.integers(1 << 30)), ib.sample_units(obj, N, rng.integers(1 << 30))
    for j, u in (fix or {}).items():
        A[:, j] = B[:, j] = u
    fa, fb = obj.f(A), obj.f(B)
    V = []
    for j in range(A.shape[1]):
        AB = A.copy()
        AB[:, j] = B[:, j]
        V.append(np.mean(fb * (obj.f(AB) - fa)))
    return np.var(np.r_[fa, fb]), np.array(V)


@pytest.mark.parametrize("obj", ib.BATTERY, ids=lambda o: o.name)
def test_exact_truth_matches_monte_carlo(obj):
    rng = np.random.default_rng(0)
    var, V = _pick_freeze(obj, rng)
    assert var == pytest.approx(obj.variance(), rel=0.02)
    truth = obj.truth()
    mc = dict(zip(obj.names, V / var))
    for c, (p, lv, _, _) in obj.branch.items():  # V_c = P(A) Var E[f | u_c, A], A: parent at level lv
        k = data.cells(obj.space, p)
        _, Vc = _pick_freeze(obj, rng, {obj.names.index(p): (lv + 0.5) / k})
        mc[c] = Vc[obj.names.index(c)] / k / var
    for n in obj.names:
        assert mc[n] == pytest.approx(truth[n], abs=0.012), n
    interactions = sum(p[2] for p in obj.pairs) / obj.variance()
    assert sum(truth.values()) == pytest.approx(1 - interactions, abs=1e-12)


def test_terms_have_zero_mean_and_unit_variance():
    u = (np.arange(1_000_000) + 0.5) / 1_000_000
    for g in (ib.lin, ib.quad, ib.per):
        assert abs(g(u).mean()) < 1e-6 and g(u).var() == pytest.approx(1, rel=1e-6)


def test_tables_are_the_projects_schema_with_conditional_children_inactive():
    obj = next(o for o in ib.BATTERY if o.name == "conditional")
    df, configs = ib.table(obj, 60, seed=1)
    enc = data.encode(df, obj.space)
    assert enc.X.shape == (60, len(obj.names)) and len(configs) == 60
    a = obj.names.index("a_x")
    assert np.array_equal(np.isnan(enc.X[:, a]), (df["config.branch"] != "a").to_numpy())
    again, _ = ib.table(obj, 60, seed=1)
    assert again.equals(df)  # seeded

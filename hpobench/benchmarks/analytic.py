"""Analytic objectives whose importance is known exactly: the importance battery.

Each `Objective` lives on a ConfigSpace and is a function of the hyperparameters'
unit codes u in [0, 1] (`hpobench.spaces.cells`: floats uniform, every integer or
categorical level a cell of width 1/k), the measure fANOVA's variance decomposition
is taken under. It is a sum of *orthogonal* terms built from zero-mean, unit-variance
one-dimensional functions:

    lin(u)  = sqrt(12) (u - 1/2)                   E = 0, E lin^2 = 12 * 1/12 = 1
    quad(u) = sqrt(180) ((u - 1/2)^2 - 1/12)       symmetric U: E (u-1/2)^2 = 1/12,
                                                   Var (u-1/2)^2 = 1/80 - 1/144 = 1/180
    per(u)  = sqrt(2) sin(2 pi u)                  E sin^2 = 1/2 over a whole period
    lvl(u)  = z[floor(k u)], z standardised        mean 0, population variance 1

A main term sqrt(w_i) g(u_i) then has variance w_i. A pure interaction
sqrt(w_ij) g(u_i) h(u_j) has mean 0, variance w_ij, and *zero main effects*:
E[g(u_i) h(u_j) | u_i] = g(u_i) E h = 0. Terms on different variables (or products
with a zero-mean factor not shared) are uncorrelated, so Var f = sum of the w, and
the true main-effect share of hp i is V_i / Var f = w_i / sum(w) (0 for a null hp
and for a hp that only interacts). The truth is of the noiseless objective
E[y | x]; `table` adds Gaussian noise of variance `noise` * Var f.

Conditional branches: a categorical parent b with k levels, a child c active only
where b is at one level (P(A) = 1/k), whose term 1[b at that level] sqrt(s) g(u_c)
ignores the child where it is inactive. The importance of a conditional hp is
V_c = P(A) Var_{u_c} E[f | u_c, A] (the definition `hpobench.analysis.fanova`
estimates): E[f | u_c, A] = E[f | A] + sqrt(s) g(u_c), so V_c = s / k. E[f | b] is
b's own level effect (a child's term has mean 0 within its branch), so V_b = w_b;
and Var f = Var E[f | b] + E Var(f | b) = w_b + sum_c s_c / k + (the unconditional
terms): shares again sum to 1 less the pure interactions.

`battery()` is the family used to test importance estimators (8 objectives: additive,
U-shaped, pure interactions, one dominant effect, conditional, discrete, noisy,
sparse); `tests/test_analytic.py` checks every truth by Monte Carlo (Saltelli's
pick-freeze estimator of first-order variances).

    >>> from hpobench.benchmarks import analytic
    >>> obj = {o.name: o for o in analytic.battery()}["interactions"]
    >>> {k: round(v, 2) for k, v in obj.truth().items() if v}  # x2..x5 only interact, x7 is null
    {'x0': 0.3, 'x1': 0.2, 'x6': 0.1}
    >>> df, configs = analytic.table(obj, 20, seed=0)
    >>> df.shape, list(df.columns[-2:]), len(configs)
    ((20, 10), ['status', 'f1'], 20)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer

from hpobench.spaces import cells, from_unit

# ---------------------------------------------------------------- one-dimensional terms


def lin(u):
    """Monotone: sqrt(12) (u - 1/2)."""
    return np.sqrt(12.0) * (u - 0.5)


def quad(u):
    """Symmetric U-shape: sqrt(180) ((u - 1/2)^2 - 1/12)."""
    return np.sqrt(180.0) * ((u - 0.5) ** 2 - 1.0 / 12)


def per(u):
    """Periodic: sqrt(2) sin(2 pi u)."""
    return np.sqrt(2.0) * np.sin(2 * np.pi * u)


def levels(z):
    """A level effect: z standardised to mean 0 and population variance 1, looked up by cell."""
    z = np.asarray(z, float)
    z = (z - z.mean()) / z.std()

    def g(u):
        return z[np.minimum((np.asarray(u) * len(z)).astype(int), len(z) - 1)]
    g.z = z
    return g


TERMS = {"lin": lin, "quad": quad, "per": per}


# ---------------------------------------------------------------- objectives


def _cell(space: ConfigurationSpace, name: str, u: np.ndarray) -> np.ndarray:
    """Index of the cell of discrete hyperparameter `name` that each unit code in u falls in."""
    k = cells(space, name)
    return np.minimum((u * k).astype(int), k - 1)


@dataclass
class Objective:
    """An objective on unit codes with exact main-effect variances.

    main: hp -> (weight w, term); the term has mean 0 and variance 1 on its cell measure.
    pairs: (hp_i, hp_j, w, g, h): sqrt(w) g(u_i) h(u_j), zero main effects.
    branch: child -> (parent, parent level index, s, term): 1[parent at that level] sqrt(s) g(u_child).
    noise: variance of the observation noise `table` adds, as a fraction of Var f.
    """

    name: str
    space: ConfigurationSpace
    main: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)
    branch: dict = field(default_factory=dict)
    noise: float = 0.05
    what: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.space)

    def f(self, U: np.ndarray) -> np.ndarray:
        """Noiseless objective at unit codes U (n, d), every column filled (inactive ignored)."""
        col = {n: U[:, j] for j, n in enumerate(self.names)}
        y = np.zeros(len(U))
        for n, (w, g) in self.main.items():
            y += np.sqrt(w) * g(col[n])
        for a, b, w, g, h in self.pairs:
            y += np.sqrt(w) * g(col[a]) * h(col[b])
        for c, (p, lv, s, g) in self.branch.items():
            y += np.where(_cell(self.space, p, col[p]) == lv, np.sqrt(s) * g(col[c]), 0.0)
        return y

    def variance(self) -> float:
        """Var f: the sum of the weights, a branch's weighted by P(A) (module docstring)."""
        v = sum(w for w, _ in self.main.values()) + sum(p[2] for p in self.pairs)
        return v + sum(s / cells(self.space, p) for p, _, s, _ in self.branch.values())

    def truth(self) -> dict[str, float]:
        """Exact importance of every hp: V_i / Var f (conditional: P(A) Var E[f | u_c, A] / Var f)."""
        v = self.variance()
        t = {n: 0.0 for n in self.names}
        for n, (w, _) in self.main.items():
            t[n] += w / v
        for c, (p, _, s, _) in self.branch.items():
            t[c] += s / cells(self.space, p) / v
        return t

    def shares(self) -> np.ndarray:
        """`truth` as an array in the order of `names`."""
        t = self.truth()
        return np.array([t[k] for k in self.names])

    def active(self, U: np.ndarray) -> np.ndarray:
        """(n, d) mask: where each hp is active."""
        m = np.ones(U.shape, bool)
        for c, (p, lv, _, _) in self.branch.items():
            m[:, self.names.index(c)] = _cell(self.space, p, U[:, self.names.index(p)]) == lv
        return m


def _floats(*names):
    return [Float(n, (0.0, 1.0)) for n in names]


def battery() -> list[Objective]:
    """The battery's 8 objectives (weights need not sum to 1; the truth divides by Var f)."""
    out = []
    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(8)]))
    add = {"x0": (0.30, lin), "x1": (0.20, quad), "x2": (0.15, per), "x3": (0.12, lin), "x4": (0.08, quad),
           "x5": (0.05, per)}
    out.append(Objective("additive", cs, dict(add), what="monotone, U-shaped and periodic terms, 2 null hps"))

    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(7)]))
    out.append(Objective("u_shaped", cs, {"x0": (0.35, quad), "x1": (0.25, quad), "x2": (0.15, lin),
                                           "x3": (0.10, quad), "x4": (0.10, per)},
                         what="mostly symmetric U-shapes (learning-rate-like), 2 null hps"))

    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(8)]))
    out.append(Objective("interactions", cs, {"x0": (0.30, lin), "x1": (0.20, quad), "x6": (0.10, lin)},
                         pairs=[("x2", "x3", 0.25, lin, lin), ("x4", "x5", 0.15, per, per)],
                         what="two pure interactions (4 hps with zero main effect), 1 null hp"))

    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(8)]))
    out.append(Objective("dominant", cs, {"x0": (0.75, quad), "x1": (0.09, lin), "x2": (0.06, per),
                                           "x3": (0.04, lin), "x4": (0.03, quad), "x5": (0.02, lin),
                                           "x6": (0.01, per)},
                         what="one U-shaped effect with 75% of the variance, 6 small ones, 1 null hp"))

    cs = ConfigurationSpace(seed=0)
    branch = Categorical("branch", ["a", "b", "c"])
    kids = _floats("a_x", "b_x")
    cs.add([branch, *kids, *_floats("x0", "x1", "x2")])
    cs.add([EqualsCondition(kids[0], branch, "a"), EqualsCondition(kids[1], branch, "b")])
    out.append(Objective("conditional", cs, {"branch": (0.20, levels([1.0, -0.5, 0.2])), "x0": (0.25, lin),
                                              "x1": (0.10, per)},
                         branch={"a_x": ("branch", 0, 0.90, quad), "b_x": ("branch", 1, 0.45, lin)},
                         what="a 3-level branch, a child active under each of two levels, 1 null hp"))

    cs = ConfigurationSpace(seed=0)
    cs.add([Integer("i0", (1, 8)), Integer("i1", (1, 4)), Integer("i2", (1, 6)),
            Categorical("c0", ["a", "b", "c", "d", "e"]), Categorical("c1", ["a", "b", "c"]),
            Categorical("c2", ["a", "b", "c"]), Float("x0", (0.0, 1.0))])
    i0 = levels(-(np.arange(1, 9) - 5.0) ** 2)  # concave in the integer: peaks at 5
    out.append(Objective("discrete", cs, {"i0": (0.35, i0), "i1": (0.10, levels([0, 1, 2, 3])),
                                           "c0": (0.30, levels([0.3, -1.2, 0.9, 0.1, -0.4])),
                                           "c1": (0.05, levels([1.0, 0.0, -0.2])), "x0": (0.20, lin)},
                         what="integers (concave, monotone) and unordered categoricals, 2 null hps"))

    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(8)]))
    out.append(Objective("noisy", cs, dict(add), noise=1.0,
                         what="`additive` with noise variance equal to Var f (50% of what is observed)"))

    cs = ConfigurationSpace(seed=0)
    cs.add(_floats(*[f"x{i}" for i in range(12)]))
    out.append(Objective("sparse", cs, {"x0": (0.5, lin), "x1": (0.3, quad), "x2": (0.2, per)},
                         what="3 active hps (monotone, U, periodic) among 12"))
    return out


# ---------------------------------------------------------------- tables


def sample_units(obj: Objective, n: int, seed: int) -> np.ndarray:
    """n uniform draws of unit codes (n, d), discrete ones at their cell centres."""
    rng = np.random.default_rng(seed)
    U = rng.uniform(size=(n, len(obj.names)))
    for j, name in enumerate(obj.names):
        k = cells(obj.space, name)
        if k is not None:
            U[:, j] = (_cell(obj.space, name, U[:, j]) + 0.5) / k
    return U


def table(obj: Objective, n: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """n uniform configurations and their noisy objective values, seeded.

    Returns the trial table in the project's schema (`config.<hp>`, None where inactive,
    `status`, the value as `f1`; see `hpobench.trial_row`) and the same configurations
    as dicts of their active hyperparameters.
    """
    U = sample_units(obj, n, seed)
    rng = np.random.default_rng(seed + 10_000)
    y = obj.f(U) + np.sqrt(obj.noise * obj.variance()) * rng.standard_normal(n)
    act = obj.active(U)
    configs = [{name: from_unit(obj.space, name, U[i, j]) for j, name in enumerate(obj.names) if act[i, j]}
               for i in range(n)]
    rows = [{**{f"config.{k}": c.get(k) for k in obj.names}, "status": "ok", "f1": float(v)}
            for c, v in zip(configs, y)]
    return pd.DataFrame(rows), configs

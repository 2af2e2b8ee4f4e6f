"""Analytic battery with exact importance, and ours vs Optuna's fANOVA side by side.

The battery (`BATTERY`): objectives on a ConfigSpace whose variance decomposition
under uniform sampling is known in closed form. Every objective is a sum of
*orthogonal* terms built from zero-mean, unit-variance one-dimensional functions of
the unit codes u in [0, 1] (the measure `analysis.data` uses: floats uniform, every
integer / categorical level a cell of width 1/k):

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
E[y | x]; the tables add Gaussian noise of variance `noise` * Var f.

Conditional branches (the `conditional` objective): a categorical parent b with
3 levels, a child c active only where b = level 0 (P(A) = 1/3), whose term
1[b = 0] sqrt(s) g(u_c) ignores the child where it is inactive. The project's
definition of a conditional hp's importance is V_c = P(A) Var_{u_c} E[f | u_c, A]
(`analysis.fanova`): E[f | u_c, A] = E[f | A] + sqrt(s) g(u_c), so V_c = s / 3.
E[f | b] = z-effect of b (the child term has mean 0 within its branch), so V_b =
w_b; and Var f = Var E[f | b] + E Var(f | b) = w_b + s_c / 3 + s_d / 3 + (the
unconditional terms): shares again sum to 1. Optuna's evaluator keeps only the
hyperparameters present in every trial, so it scores a conditional child 0.

`tests/test_importance_battery.py` checks every truth by Monte Carlo (Saltelli's
pick-freeze estimator of first-order variances, within the active box for a child).

The harness (`run`, stage "run"): for each objective, n in NS and seed, one table
(uniform draws, the same for every estimator), then
- ours: `hpobench.analysis.importance.importance(df, space, n_boot=...)`, its defaults
  (boosted surrogate, bias-aware 90% intervals; CPU s per call with and without resamples);
- before: the same with surrogate="forest" (point estimate);
- Optuna: `FanovaImportanceEvaluator(seed=...)` on the same trials (its defaults:
  64 trees, max_depth 64, all features, per-tree decomposition), and ours' point
  estimate timed again beside it, in the same process (the speed ratio);
scored by Kendall tau-b of the estimate vs the exact shares, L1 of the normalised
shares (estimate / sum vs truth / sum) and, for ours, whether each interval covers
the exact share. Writes results/importance_battery/{runs.csv, intervals.csv,
summary.json, summary.md}; resumable, so it can run in chunks of n. Stages
"calibrate" and "intervals" choose the surrogate's settings and the interval's bias
bound on other seeds (CAL_SEEDS); results/importance_battery/README.md has the runs.

    taskset -c 0 .venv/bin/python -m hpobench.experiments.studies.importance_battery --n 30 50 100 --seeds 5 --n-boot 40
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer
from scipy import stats

from hpobench.analysis import data, importance

OUT = Path("results/importance_battery")
NS = (30, 50, 100, 300, 1000)


# ---------------------------------------------------------------- one-dimensional terms

def lin(u):
    return np.sqrt(12.0) * (u - 0.5)


def quad(u):
    return np.sqrt(180.0) * ((u - 0.5) ** 2 - 1.0 / 12)


def per(u):
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


@dataclass
class Objective:
    """An objective on unit codes with exact main-effect variances.

    main: hp -> (weight w, term); the term has mean 0 and variance 1 on its cell measure.
    pairs: (hp_i, hp_j, w, g, h): sqrt(w) g(u_i) h(u_j), zero main effects.
    branch: child -> (parent, parent level, s, term): 1[parent level] sqrt(s) g(u_child).
    """

    name: str
    space: ConfigurationSpace
    main: dict = field(default_factory=dict)
    pairs: list = field(default_factory=list)
    branch: dict = field(default_factory=dict)
    noise: float = 0.05  # noise variance as a fraction of Var f
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
            k = data.cells(self.space, p)
            active = np.minimum((col[p] * k).astype(int), k - 1) == lv
            y += np.where(active, np.sqrt(s) * g(col[c]), 0.0)
        return y

    def variance(self) -> float:
        """Var f (see the module docstring): the sum of the weights, a branch's weighted by P(A)."""
        v = sum(w for w, _ in self.main.values()) + sum(p[2] for p in self.pairs)
        return v + sum(s / data.cells(self.space, p) for p, _, s, _ in self.branch.values())

    def truth(self) -> dict[str, float]:
        """Exact importance of every hp: V_i / Var f (conditional: P(A) Var E[f | u_c, A] / Var f)."""
        v = self.variance()
        t = {n: 0.0 for n in self.names}
        for n, (w, _) in self.main.items():
            t[n] += w / v
        for c, (p, _, s, _) in self.branch.items():
            t[c] += s / data.cells(self.space, p) / v
        return t

    def active(self, U: np.ndarray) -> np.ndarray:
        """(n, d) mask: where each hp is active."""
        m = np.ones(U.shape, bool)
        for c, (p, lv, _, _) in self.branch.items():
            k = data.cells(self.space, p)
            m[:, self.names.index(c)] = np.minimum((U[:, self.names.index(p)] * k).astype(int), k - 1) == lv
        return m


def _floats(*names):
    return [Float(n, (0.0, 1.0)) for n in names]


def battery() -> list[Objective]:
    """The objectives (weights need not sum to 1; the truth divides by Var f)."""
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


BATTERY = battery()


# ---------------------------------------------------------------- tables

def sample_units(obj: Objective, n: int, seed: int) -> np.ndarray:
    """n uniform draws of unit codes, discrete ones at their cell centres."""
    rng = np.random.default_rng(seed)
    U = rng.uniform(size=(n, len(obj.names)))
    for j, name in enumerate(obj.names):
        k = data.cells(obj.space, name)
        if k is not None:
            U[:, j] = (np.minimum((U[:, j] * k).astype(int), k - 1) + 0.5) / k
    return U


def table(obj: Objective, n: int, seed: int) -> tuple[pd.DataFrame, list[dict]]:
    """A trial table (the project's schema) of n uniform configurations, and the same as dicts."""
    U = sample_units(obj, n, seed)
    rng = np.random.default_rng(seed + 10_000)
    f = obj.f(U)
    y = f + np.sqrt(obj.noise * obj.variance()) * rng.standard_normal(n)
    act = obj.active(U)
    configs = [{name: data.from_unit(obj.space, name, U[i, j]) for j, name in enumerate(obj.names) if act[i, j]}
               for i in range(n)]
    rows = [{**{data.CONFIG + k: c.get(k) for k in obj.names}, "status": "ok", "f1": float(v)}
            for c, v in zip(configs, y)]
    return pd.DataFrame(rows), configs


# ---------------------------------------------------------------- Optuna on the same trials

def optuna_study(obj: Objective, configs: list[dict], y: np.ndarray):
    """The table's trials as an Optuna study (active hps only: a child is absent where inactive)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    dist = {}
    for k in obj.names:
        hp = obj.space[k]
        if hasattr(hp, "choices"):
            dist[k] = CategoricalDistribution(list(hp.choices))
        elif data.cells(obj.space, k) is not None:
            dist[k] = IntDistribution(hp.lower, hp.upper)
        else:
            dist[k] = FloatDistribution(hp.lower, hp.upper, log=hp.log)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials([optuna.trial.create_trial(params=c, distributions={k: dist[k] for k in c}, value=float(v))
                      for c, v in zip(configs, y)])
    return study


def optuna_fanova(obj: Objective, configs: list[dict], y: np.ndarray, seed: int) -> np.ndarray:
    """Optuna's FanovaImportanceEvaluator (its defaults), unnormalised; 0 for hps it leaves out."""
    from optuna.importance import FanovaImportanceEvaluator
    study = optuna_study(obj, configs, y)
    imp = FanovaImportanceEvaluator(seed=seed).evaluate(study)
    return np.array([imp.get(k, 0.0) for k in obj.names])


# ---------------------------------------------------------------- scores

def normalised(v: np.ndarray) -> np.ndarray:
    v = np.clip(np.asarray(v, float), 0, None)
    return v / v.sum() if v.sum() > 0 else np.full(len(v), 1 / len(v))


def scores(truth: np.ndarray, est: np.ndarray) -> dict:
    tau = stats.kendalltau(truth, est).statistic  # tau-b: ties in the truth (null hps) count as such
    return {"tau": float(tau) if np.isfinite(tau) else 0.0,
            "l1": float(np.abs(normalised(est) - normalised(truth)).sum())}


# ---------------------------------------------------------------- calibration (seeds 100+, never reported below)

CAL_SEEDS = range(100, 103)
SETTINGS = {  # surrogates compared by `calibrate_settings`; the first is the default (fanova.BOOST)
    "boost: 2 stages (300 + 100 trees)": dict(),
    "boost: 2 stages (300 + 300)": dict(interactions=300),
    "boost: 2 stages, lr 0.05": dict(learning_rate=0.05),
    "boost: 2 stages, leaf 5": dict(min_samples_leaf=5),
    "boost: 1 stage (300, no hierarchy)": dict(staged=False),
    "forest (before: max_features 0.2)": dict(surrogate="forest"),
    "forest (Optuna's settings)": dict(surrogate="forest", max_features=1.0, min_samples_leaf=1),
}


def _truth(obj: Objective) -> np.ndarray:
    """The exact shares in the order of `obj.names`."""
    t = obj.truth()
    return np.array([t[k] for k in obj.names])


def _tables(ns, seeds):
    """(objective, its exact shares, n, seed, trial table) for every table of the battery."""
    for obj in BATTERY:
        tv = _truth(obj)
        for n in ns:
            for s in seeds:
                yield obj, tv, n, s, table(obj, n, s)[0]


def calibrate_settings(ns=NS, seeds=CAL_SEEDS) -> pd.DataFrame:
    """tau and L1 of each boosted setting (and the forest before) on calibration tables."""
    from hpobench.analysis import fanova
    rows = []
    for obj, tv, n, s, df in _tables(ns, seeds):
        enc = data.encode(df, obj.space)
        for name, kw in SETTINGS.items():
            t = time.process_time()
            v = fanova.fanova(enc, seed=s, pairs=0, **kw).value
            rows.append(dict(objective=obj.name, n=n, seed=s, setting=name,
                             cpu_s=time.process_time() - t, **scores(tv, v)))
    out = pd.DataFrame(rows)
    out.to_csv(OUT / "calibrate_settings.csv", index=False)
    return out


def calibrate_intervals(ns=(50, 100, 300, 1000), seeds=CAL_SEEDS, n_boot: int = 40) -> pd.DataFrame:
    """Per hp of calibration tables: the estimate, the resamples' 5% / 95% quantiles and mean,
    and the 95% quantile of the noise column's resample shares (`bootstrap.bias_aware`),
    from which `interval_coverage` scores any interval method."""
    rows = []
    for obj, tv, n, s, df in _tables(ns, seeds):
        imp = importance.importance(df, obj.space, n_boot=n_boot, seed=s)
        reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
        q_lo, q_hi = np.quantile(reps, [0.05, 0.95], axis=0)
        null_hi = float(np.nanquantile(imp.extra["null_replicates"], 0.95))
        for j, name in enumerate(obj.names):
            rows.append(dict(objective=obj.name, n=n, seed=s, hp=name, truth=tv[j], estimate=imp.value[j],
                             q_lo=q_lo[j], q_hi=q_hi[j], boot_mean=reps[:, j].mean(), null_hi=null_hi))
    out = pd.DataFrame(rows)
    out.to_csv(OUT / "calibrate_intervals.csv", index=False)
    return out


def interval_bounds(d: pd.DataFrame, method: str, bias: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of each row's 90% interval: percentile, basic (reflected), or bias-aware with `bias`."""
    if method == "percentile":
        lo, hi = d.q_lo.to_numpy(), d.q_hi.to_numpy()
    elif method == "basic":
        lo, hi = 2 * d.estimate - d.q_hi, 2 * d.estimate - d.q_lo
    else:
        lo, hi = d.q_lo - bias * d.estimate, d.q_hi + bias * d.estimate
        lo = np.where(lo <= d.null_hi, 0.0, lo)
    return np.clip(np.asarray(lo, float), 0, None), np.asarray(hi, float)


def interval_coverage(d: pd.DataFrame, biases=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5)) -> pd.DataFrame:
    """Coverage by n (all hps, true share > 0, true share 0) of each method."""
    rows = []
    for label, method, b in [("percentile", "percentile", 0.0), ("basic", "basic", 0.0)] + \
            [(f"bias-aware {b:g}", "bias-aware", b) for b in biases]:
        lo, hi = interval_bounds(d, method, b)
        cov = (lo <= d.truth) & (d.truth <= hi)
        for n, g in d.assign(covered=cov, width=hi - lo).groupby("n"):
            rows.append(dict(method=label, n=n, coverage=g.covered.mean(),
                             coverage_nonzero=g.covered[g.truth > 0].mean(),
                             coverage_zero=g.covered[g.truth == 0].mean(), mean_width=g.width.mean(), cases=len(g)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the side-by-side harness

ESTIMATORS = ("ours", "ours (before: forest)", "optuna")
KEY = ["objective", "n", "seed", "estimator"]


def run(ns=NS, seeds=range(5), n_boot: int = 40, objectives=None, estimators=ESTIMATORS) -> pd.DataFrame:
    """Every estimator on identical tables; resumable (rows already in runs.csv are kept, not redone).

    ours: `importance.importance(df, space, n_boot=n_boot, seed=seed)`, its default (the
    boosted surrogate, bias-aware 90% intervals); cpu_s is that whole call, point_cpu_s the
    call without resamples (n_boot=0). before: the forest surrogate (point estimate only).
    optuna: FanovaImportanceEvaluator(seed=seed) on the same trials. CPU seconds per call
    (process time): the machine is shared, so only ratios within one run mean something.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    runs_path, iv_path = OUT / "runs.csv", OUT / "intervals.csv"
    runs = pd.read_csv(runs_path) if runs_path.exists() else pd.DataFrame(columns=KEY)
    ivs = pd.read_csv(iv_path) if iv_path.exists() else pd.DataFrame()
    done = set(map(tuple, runs[KEY].astype(str).to_numpy()))
    for obj in BATTERY:
        if objectives and obj.name not in objectives:
            continue
        tv = _truth(obj)
        for n in ns:
            for s in seeds:
                todo = [e for e in estimators if (obj.name, str(n), str(s), e) not in done]
                if not todo:
                    continue
                df, configs = table(obj, n, s)
                new, new_iv = [], []
                for e in todo:
                    t = time.process_time()
                    extra = {}
                    if e == "ours":
                        imp = importance.importance(df, obj.space, n_boot=n_boot, seed=s)
                        cpu = time.process_time() - t
                        t = time.process_time()
                        importance.importance(df, obj.space, n_boot=0, seed=s)
                        extra["point_cpu_s"] = time.process_time() - t
                        v = imp.value
                        cov = (imp.lower <= tv) & (tv <= imp.upper)
                        extra.update(coverage=float(cov.mean()), coverage_nonzero=float(cov[tv > 0].mean()),
                                     coverage_zero=float(cov[tv == 0].mean()) if (tv == 0).any() else np.nan)
                        new_iv += [dict(objective=obj.name, n=n, seed=s, hp=k, truth=tv[j], estimate=v[j],
                                        lower=imp.lower[j], upper=imp.upper[j], covered=bool(cov[j]))
                                   for j, k in enumerate(obj.names)]
                    elif e == "optuna":
                        v = optuna_fanova(obj, configs, df["f1"].to_numpy(), s)
                        cpu = time.process_time() - t
                        extra["point_cpu_s"] = cpu
                        t = time.process_time()  # ours on the same table, in the same process: the speed ratio
                        importance.importance(df, obj.space, n_boot=0, seed=s)
                        extra["ours_point_cpu_s"] = time.process_time() - t
                    else:
                        v = importance.importance(df, obj.space, n_boot=0, seed=s, surrogate="forest").value
                        cpu = time.process_time() - t
                        extra["point_cpu_s"] = cpu
                    new.append(dict(objective=obj.name, n=n, seed=s, estimator=e, cpu_s=cpu, **extra,
                                    **scores(tv, v), estimate=json.dumps(np.round(v, 5).tolist())))
                runs = pd.concat([runs, pd.DataFrame(new)], ignore_index=True)
                if new_iv:
                    ivs = pd.concat([ivs, pd.DataFrame(new_iv)], ignore_index=True)
                runs.to_csv(runs_path, index=False)
                ivs.to_csv(iv_path, index=False)
                print(f"{obj.name} n={n} seed={s}: " + ", ".join(
                    f"{r['estimator']} tau {r['tau']:.2f} L1 {r['l1']:.2f} {r['cpu_s']:.1f}s" for r in new), flush=True)
    return runs


def summarise(runs: pd.DataFrame | None = None, ivs: pd.DataFrame | None = None) -> dict:
    """summary.json and summary.md: per n and estimator, mean tau-b and L1 over the tables
    that every estimator ran (identical tables), coverage, CPU seconds per call."""
    runs = pd.read_csv(OUT / "runs.csv") if runs is None else runs
    ivs = pd.read_csv(OUT / "intervals.csv") if ivs is None else ivs
    both = runs.groupby(["objective", "n", "seed"]).estimator.transform("nunique") == runs.estimator.nunique()
    paired = runs[both]
    rows = []
    for (n, e), g in paired.groupby(["n", "estimator"]):
        nc = g[g.objective != "conditional"]
        rows.append(dict(n=int(n), estimator=e, tables=len(g), tau=g.tau.mean(), tau_se=g.tau.sem(), l1=g.l1.mean(),
                         l1_se=g.l1.sem(), tau_without_conditional=nc.tau.mean(), l1_without_conditional=nc.l1.mean(),
                         cpu_s_median=g.cpu_s.median(), point_cpu_s_median=g.point_cpu_s.median()))
    table_ = pd.DataFrame(rows)
    cov = []
    for n, g in ivs.groupby("n"):
        cov.append(dict(n=int(n), intervals=len(g), tables=len(g.groupby(["objective", "seed"])),
                        coverage=g.covered.mean(), coverage_nonzero=g.covered[g.truth > 0].mean(),
                        coverage_zero=g.covered[g.truth == 0].mean(),
                        truth_above=(g.truth > g.upper).mean(), truth_below=(g.truth < g.lower).mean(),
                        mean_width=(g.upper - g.lower).mean()))
    cov = pd.DataFrame(cov)
    cov_obj = ivs.pivot_table(index="objective", columns="n", values="covered", aggfunc="mean")
    per_obj = paired.pivot_table(index=["objective", "n"], columns="estimator", values=["tau", "l1"], aggfunc="mean")
    per_obj.columns = [f"{v} {e}" for v, e in per_obj.columns]
    all_runs = runs.groupby(["n", "estimator"]).agg(tables=("tau", "size"), tau=("tau", "mean"), l1=("l1", "mean"),
                                                    cpu_s_median=("cpu_s", "median")).reset_index()
    speed = {}  # Optuna's CPU s / ours' (point estimates), both timed on the same tables in the same process
    for n, g in runs[runs.estimator == "optuna"].groupby("n"):
        if "ours_point_cpu_s" in g and g.ours_point_cpu_s.notna().any():
            speed[int(n)] = dict(tables=int(g.ours_point_cpu_s.notna().sum()), optuna_s=float(g.point_cpu_s.median()),
                                 ours_s=float(g.ours_point_cpu_s.median()),
                                 ratio=float(g.point_cpu_s.median() / g.ours_point_cpu_s.median()))
    out = {"paired": table_.to_dict("records"), "coverage": cov.to_dict("records"),
           "coverage_by_objective": {o: {int(k): float(v) for k, v in r.items()} for o, r in cov_obj.iterrows()},
           "all_runs": all_runs.to_dict("records"), "optuna_cpu_over_ours_point": speed}
    (OUT / "summary.json").write_text(json.dumps(out, indent=1, default=float))
    wide = table_.pivot(index="n", columns="estimator")
    lines = ["# Importance battery: ours vs Optuna's fANOVA on analytic functions with exact truth", "",
             "Produced by `experiments/studies/importance_battery.py` (see its docstring and README.md here).", "",
             "## Ranking and shares (identical tables; tau-b and L1 of normalised shares vs the exact truth)", "",
             "| n | tables | ours tau-b | Optuna tau-b | before tau-b | ours L1 | Optuna L1 | before L1 |"
             " ours CPU s / call (point; with resamples) | Optuna CPU s / call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    def c(n, col, e, fmt="{:.3f}"):
        try:
            return fmt.format(wide.loc[n, (col, e)])
        except KeyError:
            return "-"
    for n in sorted(table_.n.unique()):
        lines.append(f"| {n} | {c(n, 'tables', 'ours', '{:.0f}')} | {c(n, 'tau', 'ours')} | {c(n, 'tau', 'optuna')} | "
                     f"{c(n, 'tau', 'ours (before: forest)')} | {c(n, 'l1', 'ours')} | {c(n, 'l1', 'optuna')} | "
                     f"{c(n, 'l1', 'ours (before: forest)')} | {c(n, 'point_cpu_s_median', 'ours', '{:.2f}')}; "
                     f"{c(n, 'cpu_s_median', 'ours', '{:.1f}')} | {c(n, 'point_cpu_s_median', 'optuna', '{:.2f}')} |")
    lines += ["", "Without the `conditional` objective (where Optuna leaves the children out):", "",
              "| n | ours tau-b | Optuna tau-b | ours L1 | Optuna L1 |", "|---|---|---|---|---|"]
    for n in sorted(table_.n.unique()):
        g = table_[table_.n == n].set_index("estimator")
        if {"ours", "optuna"} <= set(g.index):
            a, b = g.loc["ours"], g.loc["optuna"]
            lines.append(f"| {n} | {a.tau_without_conditional:.3f} | {b.tau_without_conditional:.3f} | "
                         f"{a.l1_without_conditional:.3f} | {b.l1_without_conditional:.3f} |")
    if speed:
        lines += ["", "Speed, point estimates timed on the same tables in one process (median CPU s per call):", "",
                  "| n | tables | ours | Optuna | Optuna / ours |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {v['tables']} | {v['ours_s']:.3f} | {v['optuna_s']:.2f} | {v['ratio']:.0f}x |"
                  for n, v in sorted(speed.items())]
    lines += ["", "## Coverage of ours' nominal 90% intervals (bias-aware, the default)", "",
              "| n | intervals | coverage | true share > 0 | true share 0 | truth above / below | mean width |",
              "|---|---|---|---|---|---|---|"]
    for r in cov.itertuples():
        lines.append(f"| {r.n} | {r.intervals} | {r.coverage:.1%} | {r.coverage_nonzero:.1%} | {r.coverage_zero:.1%} | "
                     f"{r.truth_above:.1%} / {r.truth_below:.1%} | {r.mean_width:.3f} |")
    lines += ["", "Coverage by objective:", "", cov_obj.map(lambda v: f"{v:.0%}").to_markdown(), "",
              "## Per objective (mean over seeds)", "", per_obj.round(3).to_markdown(), ""]
    (OUT / "summary.md").write_text("\n".join(lines))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="run", choices=["calibrate", "intervals", "run", "summary"])
    p.add_argument("--n", type=int, nargs="*", default=list(NS))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=40)
    p.add_argument("--objectives", nargs="*", default=None)
    p.add_argument("--estimators", nargs="*", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    t = time.time()
    if args.stage == "calibrate":
        r = calibrate_settings()
        print(r.groupby(["setting", "n"])[["tau", "l1"]].mean().round(3).unstack(1).to_string())
    elif args.stage == "intervals":
        r = calibrate_intervals()
        print(interval_coverage(r).round(3).to_string(index=False))
    elif args.stage == "run":
        run(args.n, range(args.first_seed, args.first_seed + args.seeds), args.n_boot, args.objectives, args.estimators)
        summarise()
        print((OUT / "summary.md").read_text())
    else:
        summarise()
        print((OUT / "summary.md").read_text())
    print(f"[{args.stage}: {time.time() - t:.0f} s]", flush=True)


if __name__ == "__main__":
    main()

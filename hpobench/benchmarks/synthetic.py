"""Synthetic multi-fidelity benchmarks whose true importance is known exactly.

The objective is a sum of orthogonal terms, so its variance decomposition (the
quantity fANOVA estimates) is known in closed form at every fidelity:

    L(x, s) = sum_i a_i(s) q_i(x_i) + b q_j(x_j) q_k(x_k)      f1 = base(s) - scale(s) L

Each q_i is zero-mean, unit-variance under uniform sampling of the hyperparameter
in ConfigSpace's own unit scale (log scale for log floats). Terms of conditional
children carry their activity indicator, so they are orthogonal too. The truth is:

- `importance(fidelity)[hp]`: a_i^2 p_i / Var(L), p_i the probability that hp is
  active (1/2 for the children of `branch`). A child's share is the variance its
  term adds where it is active: the quantity a conditional-aware method should find.
- `interactions(fidelity)[(j, k)]`: b^2 / Var(L), one designed pair.
- Shares sum to 1 (observation noise excluded).
- `noise_free(bench, configs)`: the noise-free F1 of many configurations at once (what the
  instance made with noise=0 evaluates), for exact best-of-N values by Monte Carlo.

Fidelity enters through the level s = 1 - log(c) / log(c_min) in [0, 1], with
c = (epochs / max_epochs) * data_fraction the cost share: s = 1 at full fidelity,
0 at the cheapest point. Importance profiles blend in variance,
a_i(s)^2 p_i ∝ s v_full_i + (1 - s) v_low_i, where v_low is v_full with its
ranks permuted to reach Spearman correlation `agreement` with full fidelity
(1: identical ranking, -1: reversed). Misleading low fidelities also move the
optima of the continuous terms, so optimizers that trust them are misled too.

    >>> b = make(agreement=-1.0)
    >>> round(b.truth.agreement, 2)
    -1.0
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np
from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float, Integer
from scipy.stats import spearmanr

from hpobench.benchmarks.base import Benchmark, Result

MAX_EPOCHS = 81
MIN_FRACTION = 0.05
SECONDS_PER_EPOCH = 1.0  # simulated cost of one epoch on all data


def config_space(seed: int = 0) -> ConfigurationSpace:
    cs = ConfigurationSpace(seed=seed)
    xs = [Float(f"x{i}", (0.0, 1.0), default=0.5) for i in range(6)]
    lr = Float("lr", (1e-4, 1.0), default=1e-2, log=True)
    n = Integer("n", (1, 16), default=4)
    cat = Categorical("cat", ["a", "b", "c"], default="a")
    branch = Categorical("branch", ["left", "right"], default="left")
    left_x = Float("left_x", (0.0, 1.0), default=0.5)
    right_x = Float("right_x", (0.0, 1.0), default=0.5)
    cs.add([*xs, lr, n, cat, branch, left_x, right_x,
            EqualsCondition(left_x, branch, "left"), EqualsCondition(right_x, branch, "right")])
    return cs


def fidelity_space() -> ConfigurationSpace:
    return ConfigurationSpace({
        "epochs": Integer("epochs", (1, MAX_EPOCHS), default=MAX_EPOCHS),
        "data_fraction": Float("data_fraction", (MIN_FRACTION, 1.0), default=1.0),
    })


def level(fidelity: dict):
    """Fidelity level s in [0, 1] (1 = full), log-linear in cost; vectorised over arrays of epochs."""
    c = np.asarray(fidelity["epochs"]) / MAX_EPOCHS * fidelity["data_fraction"]
    s = np.clip(1.0 - np.log(c) / np.log(MIN_FRACTION / MAX_EPOCHS), 0.0, 1.0)
    return float(s) if s.ndim == 0 else s


# Continuous hyperparameters (bowl-shaped terms) and their parents.
CONTINUOUS = ("x0", "x1", "x2", "x3", "x4", "x5", "lr", "left_x", "right_x")
DISCRETE = ("n", "cat", "branch")
CHILDREN = {"left_x": ("branch", "left"), "right_x": ("branch", "right")}
N_LEVELS = {"n": 16, "cat": 3, "branch": 2}


def _permutation_with_spearman(d: int, target: float, rng: np.random.Generator) -> np.ndarray:
    """A permutation of range(d) whose Spearman correlation with identity is closest to target."""
    if target >= 1.0:
        return np.arange(d)
    if target <= -1.0:
        return np.arange(d)[::-1].copy()
    z = (np.arange(d) - (d - 1) / 2) / np.arange(d).std()
    scores = target * z + np.sqrt(1 - target**2) * rng.standard_normal((4000, d))
    perms = np.argsort(np.argsort(scores, axis=1), axis=1)
    rho = 1 - 6 * ((perms - np.arange(d)) ** 2).sum(1) / (d * (d**2 - 1))  # Spearman of a permutation
    return perms[np.argmin(np.abs(rho - target))]


@dataclass(frozen=True, eq=False)
class Truth:
    """Known ground truth of a synthetic instance (see module docstring)."""

    names: tuple[str, ...]
    v_full: np.ndarray  # target variance profile at s=1 (before normalisation)
    v_low: np.ndarray  # ... at s=0
    pair: tuple[str, str]
    pair_var: float
    centers_full: np.ndarray  # bowl centres of CONTINUOUS at s=1
    centers_shift: np.ndarray  # centre displacement at s=0
    levels: dict  # discrete hp -> zero-mean unit-variance level values

    @property
    def agreement(self) -> float:
        """Realised Spearman correlation of importance at the cheapest vs full fidelity."""
        return float(spearmanr(self.v_full, self.v_low).statistic)

    def importance(self, fidelity: dict) -> dict[str, float]:
        v, total = _shares(self, level(fidelity))
        return dict(zip(self.names, (v / total).tolist()))

    def interactions(self, fidelity: dict) -> dict[tuple[str, str], float]:
        return {self.pair: self.pair_var / _shares(self, level(fidelity))[1]}

    def ranking(self, fidelity: dict) -> list[str]:
        imp = self.importance(fidelity)
        return sorted(imp, key=imp.get, reverse=True)

    def agreement_at(self, fidelity: dict, metric=spearmanr) -> float:
        """Rank correlation of true importance at `fidelity` vs full fidelity."""
        full = {"epochs": MAX_EPOCHS, "data_fraction": 1.0}
        a, b = self.importance(fidelity), self.importance(full)
        return float(metric([a[k] for k in self.names], [b[k] for k in self.names]).statistic)


def _shares(truth: Truth, s: float) -> tuple[np.ndarray, float]:
    """Per-hp variance at level s (before normalisation) and the total variance of L."""
    v = s * truth.v_full + (1 - s) * truth.v_low
    return v, float(v.sum() + truth.pair_var)


def _unit(space: ConfigurationSpace, name: str, value) -> float:
    hp = space[name]
    return float(hp.to_vector(value))


def _scales(truth: Truth, s: np.ndarray):
    """Per level in `s` (a column): each term's amplitude, the continuous terms' bowl centres,
    the mean and sd of (u - c)^2 under u ~ U(0, 1), and each term's largest |q| (the bound)."""
    p = np.array([0.5 if k in CHILDREN else 1.0 for k in truth.names])
    amp = np.sqrt((s * truth.v_full + (1 - s) * truth.v_low) / p)
    centers = np.clip(truth.centers_full + (1 - s) * truth.centers_shift, 0.02, 0.98)
    e2 = ((1 - centers) ** 3 + centers**3) / 3  # moments of (u - c)^2, u ~ U(0, 1)
    e4 = ((1 - centers) ** 5 + centers**5) / 5
    sd = np.sqrt(e4 - e2**2)
    qm = np.zeros((len(s), len(truth.names)))
    for i, name in enumerate(truth.names):
        if name in truth.levels:
            qm[:, i] = np.abs(truth.levels[name]).max()
        else:
            c = CONTINUOUS.index(name)
            qm[:, i] = np.maximum(np.maximum(centers[:, c], 1 - centers[:, c]) ** 2 - e2[:, c], e2[:, c]) / sd[:, c]
    return amp, centers, e2, sd, qm


def _combine(truth: Truth, s: np.ndarray, amp, q, qm) -> np.ndarray:
    """f1 from the terms q (rows: levels or configurations); see `_f1`."""
    j, k = (truth.names.index(n) for n in truth.pair)
    b = np.sqrt(truth.pair_var)
    loss = (amp * q).sum(1) + b * q[:, j] * q[:, k]
    bound = (amp * qm).sum(1) + b * qm[:, j] * qm[:, k]
    return 0.6 + 0.35 * s[:, 0] - 0.4 * (loss / bound + 1) / 2


def _f1(truth: Truth, space: ConfigurationSpace, config: dict, s) -> np.ndarray:
    """Noise-free F1 of `config` at each level in `s` (vectorised over levels).

    f1 = base(s) - 0.4 (L / bound + 1) / 2, where bound >= |L| keeps f1 inside [0, 1]
    without clipping (so variance shares of f1 are exactly those of L).
    """
    s = np.atleast_1d(np.asarray(s, float))[:, None]
    names = truth.names
    amp, centers, e2, sd, qm = _scales(truth, s)
    q = np.zeros((len(s), len(names)))
    for i, name in enumerate(names):
        active = name not in CHILDREN or config.get(CHILDREN[name][0]) == CHILDREN[name][1]
        if not active:
            continue
        if name in truth.levels:
            hp = space[name]
            q[:, i] = truth.levels[name][list(hp.choices).index(config[name]) if hasattr(hp, "choices")
                                         else config[name] - hp.lower]
        else:
            c = CONTINUOUS.index(name)
            q[:, i] = ((_unit(space, name, config[name]) - centers[:, c]) ** 2 - e2[:, c]) / sd[:, c]
    return _combine(truth, s, amp, q, qm)


def noise_free(bench: Benchmark, configs, fidelity: dict | None = None) -> np.ndarray:
    """The noise-free F1 of many configurations of a synthetic instance (`make`) at one fidelity,
    vectorised: what `bench.evaluate(config, fidelity)` returns for each when the instance is made
    with noise=0, and NaN where that run diverges (learning rate in the top `diverge` share of its
    range): the exact truth for Monte Carlo over many configurations.

    configs: hyperparameter name -> a sequence of n values (floats, integers, category labels),
    e.g. a DataFrame with the space's columns; a conditional one's value is read only where its
    parent takes the enabling level (elsewhere it may be anything, None or NaN included, or the
    column absent where it is never active).
    fidelity: as `bench.evaluate` takes it (default: full fidelity).

        >>> b = make(seed=3, noise=0.0)
        >>> c = b.default
        >>> float(abs(noise_free(b, {k: [v] for k, v in c.items()})[0] - b.evaluate(c).f1)) < 1e-12
        True
    """
    truth, space = bench.truth, bench.config_space
    if not isinstance(truth, Truth) or "diverge" not in bench.meta:
        raise ValueError(f"noise_free: {bench.name} is not a synthetic instance (synthetic.make)")
    missing = [k for k in truth.names if k not in configs and k not in CHILDREN]
    if missing:
        raise ValueError(f"noise_free: configs lack hyperparameter(s) {missing}")
    n = len(configs[truth.names[0]])
    cols = {k: np.asarray(configs[k]) if k in configs else np.full(n, np.nan) for k in truth.names}
    if any(len(v) != n for v in cols.values()):
        raise ValueError(f"noise_free: configs have columns of different lengths {[len(v) for v in cols.values()]}")
    s = np.array([[level(bench.fidelity(fidelity))]])
    amp, centers, e2, sd, qm = _scales(truth, s)
    q = np.zeros((n, len(truth.names)), order="F")  # filled by column
    for i, name in enumerate(truth.names):
        hp, v = space[name], cols[name]
        active = np.ones(n, bool) if name not in CHILDREN else cols[CHILDREN[name][0]] == CHILDREN[name][1]
        v = v[active]
        if name in truth.levels:
            choices = list(hp.choices) if hasattr(hp, "choices") else list(range(hp.lower, hp.upper + 1))
            idx = np.full(len(v), -1)
            for c, choice in enumerate(choices):
                idx[v == choice] = c
            if (idx < 0).any():
                raise ValueError(f"noise_free: {name} takes {v[idx < 0][0]!r}, not one of {choices}")
            q[active, i] = truth.levels[name][idx]
        else:
            u = hp.to_vector(v.astype(float))
            if not np.isfinite(u).all():
                raise ValueError(f"noise_free: {name} is missing where it is active")
            c = CONTINUOUS.index(name)
            q[active, i] = ((u - centers[0, c]) ** 2 - e2[0, c]) / sd[0, c]
    f1 = np.clip(_combine(truth, np.full((n, 1), s[0, 0]), amp, q, qm), 0, 1)
    diverged = space["lr"].to_vector(cols["lr"].astype(float)) > 1 - bench.meta["diverge"]
    return np.where(diverged, np.nan, f1)


def _seed(config: dict, *extra) -> list[int]:
    return [zlib.crc32(json.dumps(config, sort_keys=True, default=str).encode()), *extra]


def make(agreement: float = 1.0, seed: int = 0, noise: float = 0.005, diverge: float = 0.03,
         interaction: float = 0.1, decay: float = 0.6, name: str | None = None) -> Benchmark:
    """A synthetic instance.

    agreement: designed Spearman correlation of importance, cheapest vs full fidelity.
    noise: sd of observation noise at full fidelity (tripled at the cheapest).
    diverge: share of the `lr` range (at its top) whose runs diverge.
    interaction: variance of the designed pair relative to the most important term.
    decay: ratio of successive importances at full fidelity.
    """
    if not -1.0 <= agreement <= 1.0:
        raise ValueError(f"agreement must be in [-1, 1], got {agreement}")
    rng = np.random.default_rng(seed)
    space = config_space(seed)
    names = tuple(space)
    d = len(names)
    profile = decay ** np.arange(d)
    order = rng.permutation(d)  # order[r] = index of the hp ranked r at full fidelity
    v_full = np.empty(d)
    v_full[order] = profile
    perm = _permutation_with_spearman(d, agreement, rng)
    v_low = np.empty(d)
    v_low[order] = profile[perm]
    top2 = [i for i in order if names[i] not in CHILDREN][:2]  # an interaction of always-active hps
    levels = {}
    for k, nl in N_LEVELS.items():
        lv = rng.standard_normal(nl)
        lv = (lv - lv.mean()) / lv.std()
        levels[k] = lv
    truth = Truth(
        names=names, v_full=v_full, v_low=v_low,
        pair=(names[top2[0]], names[top2[1]]), pair_var=interaction * profile[0],
        centers_full=rng.uniform(0.15, 0.85, len(CONTINUOUS)),
        centers_shift=(1 - agreement) / 2 * rng.choice([-0.5, 0.5], len(CONTINUOUS)),
        levels=levels)

    def fn(config: dict, fidelity: dict, seed: int) -> Result:
        frac = fidelity["data_fraction"]
        epochs = fidelity["epochs"]
        cost = epochs * frac
        u_lr = _unit(space, "lr", config["lr"])
        rng = np.random.default_rng(_seed(config, seed, epochs, round(frac * 1e6)))
        if u_lr > 1 - diverge:
            return Result.failed("diverged", "loss is NaN (learning rate above the stable range)",
                                 cost_s=SECONDS_PER_EPOCH * frac, cost=frac,
                                 curve=[{"epoch": 1, "train_loss": float("nan")}])
        s = level({"epochs": np.arange(1, epochs + 1), "data_fraction": frac})
        f1s = np.clip(_f1(truth, space, config, s) + noise * (3 - 2 * s) * rng.standard_normal(epochs), 0, 1)
        curve = [{"epoch": e, "f1": float(f), "loss": -float(np.log(max(f, 1e-6)))} for e, f in enumerate(f1s, 1)]
        f1 = curve[-1]["f1"]
        return Result("ok", f1, min(1.0, f1 + 0.02), curve[-1]["loss"], SECONDS_PER_EPOCH * cost, cost, curve)

    return Benchmark(
        name=name or f"synthetic/agreement={agreement:g},seed={seed}",
        config_space=space, fidelity_space=fidelity_space(), fn=fn,
        description=f"Synthetic, known importance; designed low/full agreement {agreement:g}.",
        cost_fn=lambda f: f["epochs"] * f["data_fraction"], truth=truth,
        meta={"agreement": agreement, "seed": seed, "noise": noise, "diverge": diverge})

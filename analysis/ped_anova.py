"""PED-ANOVA: which hyperparameters matter for reaching the top-gamma' of the table.

Watanabe, Bansal & Hutter (IJCAI 2023). With b(x) = 1[f(x) in the top gamma'],
the marginal variance of b in hyperparameter i, taken inside the region of the
top gamma (gamma' < gamma; gamma = 1 is the whole table), is closed-form:

    V_i = (gamma'/gamma)^2 * D_PE(p_top_i || p_region_i),
    D_PE(p || q) = sum_x q(x) (p(x)/q(x) - 1)^2   (Pearson divergence)

with p_top_i / p_region_i the 1-D densities of hyperparameter i among the top /
region configurations. Densities live on a grid over the unit code (every level of
a discrete hp, `n_grid` bins for a continuous one): a discretised Gaussian kernel
estimate with Scott's bandwidth (at least one bin), or level counts for discrete
hps, each mixed with a uniform prior worth `prior` observations.

Conditional hyperparameters follow condPED-ANOVA (arXiv 2601.20800): the region
splits into the regime where i is active and where it is not; only the active
regime can carry importance, weighted alpha^2 / beta (alpha, beta = share of top /
region configurations in it), so an inactive value is never mixed with a real one.

    >>> import numpy as np
    >>> from hpobench.analysis import ped_anova
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(300, 2))
    >>> v = ped_anova.divergences(X, -np.abs(X[:, 0] - 0.3), [None, None])
    >>> bool(v[0] > 10 * v[1])
    True
"""

from __future__ import annotations

import math

import numpy as np

from hpobench.analysis.encode import Encoded
from hpobench.analysis.errors import AnalysisError, TooFew
from hpobench.analysis.scores import Scores

MIN_TOP = 2  # the top set needs two points for a density


def ped_anova(enc: Encoded, gamma: float = 0.1, region: float = 1.0, n_grid: int = 50,
              prior: float = 1.0) -> Scores:
    """PED-ANOVA importance of every hyperparameter (raw V_i; shares in `extra`)."""
    enc = enc.expanded()
    if not 0 < gamma < region <= 1:
        raise AnalysisError(f"need 0 < gamma < region <= 1, got gamma={gamma}, region={region}")
    n = len(enc.y)
    n_top = math.ceil(gamma * n)
    if n_top < MIN_TOP:
        raise TooFew(f"{n} configurations give {n_top} in the top {gamma:g}: PED-ANOVA needs "
                     f"at least {MIN_TOP} (>= {math.ceil(MIN_TOP / gamma)} configurations)")
    notes = dict(enc.notes)
    if np.ptp(enc.y) == 0:
        notes["*"] = "the metric is constant over the table: no top set, all importances 0"
        return Scores("ped-anova", enc.names, np.zeros(len(enc.names)), notes)
    if n_top < 5:
        notes["*"] = f"only {n_top} configurations in the top {gamma:g}: estimates are rough"
    value = divergences(enc.X, enc.y, enc.levels, gamma, region, n_grid, prior)
    value[~enc.varying] = 0.0
    return Scores("ped-anova", enc.names, value, notes)


def divergences(X, y, levels, gamma: float = 0.1, region: float = 1.0, n_grid: int = 50,
                prior: float = 1.0) -> np.ndarray:
    """V_i for every column of unit codes X (NaN = inactive); y is maximised.

    levels[i]: number of equal cells of a discrete column, None if continuous.
    """
    order = np.argsort(-y, kind="stable")
    n = len(y)
    # Ties at a cut-off go in together (as the quantile definition implies).
    cut_top = y[order[math.ceil(gamma * n) - 1]]
    cut_reg = y[order[math.ceil(region * n) - 1]]
    top, reg = y >= cut_top, y >= cut_reg
    scale = (top.sum() / reg.sum()) ** 2
    out = np.zeros(X.shape[1])
    for i in range(X.shape[1]):
        x = X[:, i]
        act = np.isfinite(x)
        t, r = top & act, reg & act
        if t.sum() == 0 or r.sum() < 2:
            continue
        alpha, beta = t.sum() / top.sum(), r.sum() / reg.sum()
        k = levels[i] if levels[i] is not None and levels[i] <= n_grid else None
        p = _density(x[t], k, n_grid, prior)
        q = _density(x[r], k, n_grid, prior)
        out[i] = alpha**2 / beta * float(q @ (p / q - 1) ** 2)
    return scale * out


def _density(u: np.ndarray, k: int | None, n_grid: int, prior: float) -> np.ndarray:
    """Probabilities on the grid of a column's unit codes u (module docstring)."""
    m = k if k is not None else n_grid
    idx = np.minimum((u * m).astype(int), m - 1)
    uniform = np.full(m, 1.0 / m)
    if k is not None:  # discrete: counts of levels
        counts = np.bincount(idx, minlength=m).astype(float)
        return (counts + prior * uniform) / (len(u) + prior)
    centres = (np.arange(m) + 0.5) / m
    sd = np.std(u, ddof=1) if len(u) > 1 else 1.0
    iqr = np.subtract(*np.percentile(u, [75, 25])) / 1.34
    h = 1.059 * min(sd, iqr if iqr > 0 else sd) * len(u) ** -0.2
    h = max(h, 1.0 / m)  # at least one bin: the density must be representable on the grid
    kern = np.exp(-0.5 * ((centres[None] - u[:, None]) / h) ** 2)
    kern /= kern.sum(1, keepdims=True)  # truncated to the domain, renormalised per kernel
    return (kern.sum(0) + prior * uniform) / (len(u) + prior)

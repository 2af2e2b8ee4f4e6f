"""fANOVA: exact functional-ANOVA decomposition of a tree-ensemble surrogate (boosted or forest).

Hutter, Hoos & Leyton-Brown (ICML 2014). A regression tree is a piecewise-constant
function on axis-aligned boxes (its leaves), so its marginals are exact sums over
leaves, with no sampling. For feature i, the marginal a_i(x_i) = sum_l v_l
vol_{-i}(l) 1[x_i in l] is constant between consecutive split points, and its
variance under the uniform measure on the unit cube is the main effect V_i.
All trees and all features are done at once: every leaf adds its weight at its
lower cell and removes it at its upper cell (a difference array), a cumulative
sum gives the marginal on every cell. Pairs (i, j) use the same idea on a 2-D
grid.

The surrogate (default `surrogate="boost"`): gradient-boosted depth-2 trees fitted
in two stages, main effects first (`fit_boosted`): 300 trees in which a hyperparameter
may only interact with its own ancestors, then 100 unconstrained trees on the
residuals (GA2M's order, Lou et al., KDD 2013). Importance of i = V_i / Var of the
*sum* of the trees, both exact: leaves of depth-2 trees bound at most two
coordinates, so the variance is a sum over one- and two-dimensional grids
(`low_order_variance`). Why not a forest: a CART forest allocates its splits
greedily, and a symmetric U-shaped effect gains little from any one split, so the
forest rarely resolves it beside a monotone effect (a U with 20% of the variance gets
under 15% at 1,000 configurations, tests/test_importance.py); boosting fits residuals, so once the strong effects are
fit the U is what is left to fit. And trees that may split on any pair from the start
learn part of a main effect as spurious interactions with stronger hps, shrinking it
(the two stages: L1 of normalised shares 0.29 vs 0.33 one-stage over the battery's
calibration tables). On the analytic battery (experiments/studies/importance_battery.py,
exact truths, identical tables, 5 seeds x 8 objectives per n) Kendall tau-b vs the
truth / L1 of normalised shares, ours vs Optuna's FanovaImportanceEvaluator: 0.52 /
0.55 vs 0.40 / 0.76 at 30 configurations, 0.77 / 0.27 vs 0.62 / 0.53 at 100, 0.86 /
0.14 vs 0.71 / 0.41 at 300, 0.89 / 0.07 vs 0.74 / 0.30 at 1,000, and a point
estimate at 1,000 configurations costs 0.18 CPU s vs Optuna's 27.5 s (153x).
It loses to Optuna on single objectives: `noisy` (tau and L1 at 30-50), `dominant` (tau
at 30-50), `u_shaped` (L1 at 30) and `interactions` (tau at 100-300, L1 0.12 vs 0.05 at
1,000): the depth-2 stage on residuals rarely finds a product with no main effect, so
the variance misses it and the main shares are inflated.

The forest (`surrogate="forest"`, `fit`): importance of i = V_i / Var of the
forest's *mean function*, with the tree noise a finite forest adds removed
(`forest_shares`). Hutter et al.'s rule, the mean over trees of V_i / V_tree
(`decomposition="trees"`, Optuna's), decomposes each tree instead: a single tree is
far noisier than the forest and represents an additive function with many spurious
interactions, so every main share shrinks (synthetic benchmarks, 300
configurations: top-3 shares at 0.68x the truth; of the forest's mean function:
1.0x). Random features per split (max_features 0.2) let weak hyperparameters be
split on beside strong ones (experiments/studies/importance_synthetic.py --stage
calibrate); with few hyperparameters that is one random feature per split, which
smooths strong effects away (the battery's `dominant` objective: L1 0.9).

Conditional spaces (see `hpobench.analysis.data.active_region`). An inactive hyperparameter
has no effect, so the objective extends to the full product space by *ignoring*
inactive values; we train on that extension by drawing each inactive value
uniformly at random (never a sentinel such as -1 or the default, which would mix
"inactive" with a real value and make the child look important through its
parent, the failure condPED-ANOVA (arXiv 2601.20800) warns about). The importance of
a conditional hp c is then the variance it adds *where it is active*:

    V_c = P(A) * Var_{x_c}( E[f | x_c, A] ),  A = the box where c is active,

which equals c's main effect plus its interactions with its ancestors. Pairs
(c, ancestor of c) are therefore not reported as interactions (they are in V_c).
Shares still sum to at most 1 (exactly 1 minus the higher-order and noise
share). A condition that is not a box (an OR) falls back to the plain main
effect, with a note.

    >>> import numpy as np
    >>> from hpobench.analysis import fanova
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(400, 3))
    >>> part = fanova.fit(X, 4 * X[:, 0] + X[:, 1], n_trees=16, seed=0)  # true shares 0.94, 0.06, 0
    >>> main = fanova.main_effects(part)
    >>> fanova.forest_shares(part, main).round(2).tolist(), (main / part.variance[:, None]).mean(0).round(2).tolist()
    ([0.96, 0.04, 0.0], [0.75, 0.05, 0.03])
    >>> y = 4 * X[:, 0] + 12 * (X[:, 1] - 0.5) ** 2  # a U-shaped effect: true shares 0.625, 0.375, 0
    >>> part = fanova.fit_boosted(X, y, seed=0)
    >>> (fanova.forest_main_effects(part) / fanova.low_order_variance(part)).round(2).tolist()
    [0.63, 0.37, 0.0]
    >>> part = fanova.fit(X, y, n_trees=16, seed=0)
    >>> fanova.forest_shares(part, fanova.main_effects(part)).round(2).tolist()
    [0.68, 0.31, 0.0]
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy.stats import qmc
from sklearn.ensemble import RandomForestRegressor
from threadpoolctl import ThreadpoolController

from hpobench.analysis.data import AnalysisError, Encoded, TooFew, active_region, measure

MIN_CONFIGS = 10
# The forest surrogate: experiments/studies/importance_synthetic.py --stage calibrate
DEFAULTS = dict(n_trees=64, min_samples_leaf=3, max_features=0.2)
BOOST = dict(depth=2, learning_rate=0.1, iterations=300, interactions=100, min_samples_leaf=2,
             staged=True)  # experiments/studies/importance_battery.py --stage calibrate
SURROGATES = ("boost", "forest")


@dataclass
class Partition:
    """Leaves of every tree of a forest: boxes in the unit cube and values.

    Trees have different leaf counts; padding leaves have zero width and value 0,
    so they weigh nothing in any sum. Discrete columns are stored with their
    levels reordered (`order`, see `fit`); `cell` maps unit codes into that order.
    """

    lo: np.ndarray  # (T, L, d)
    hi: np.ndarray  # (T, L, d)
    value: np.ndarray  # (T, L)
    regions: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)  # feature -> active box
    order: dict[int, np.ndarray] = field(default_factory=dict)  # column -> new position of each level
    model: object = None  # the fitted sklearn model (in the surrogate's coordinates), for fast prediction
    kind: str = "forest"  # "forest": i.i.d. trees, the surrogate is their mean; "boost": boosted trees

    @property
    def width(self) -> np.ndarray:
        return self.hi - self.lo

    @property
    def mean(self) -> np.ndarray:
        return np.sum(self.value * np.prod(self.width, -1), -1)

    @property
    def variance(self) -> np.ndarray:
        """Total variance of each tree under the uniform measure, (T,)."""
        vol = np.prod(self.width, -1)
        return np.sum(vol * (self.value - self.mean[:, None]) ** 2, -1)

    def cell(self, X: np.ndarray) -> np.ndarray:
        """Unit codes (n, d) -> the forest's coordinates (discrete levels reordered); NaN stays NaN."""
        X = np.array(X, float, copy=True)
        for c in self.order:
            X[:, c] = self.cell_column(c, X[:, c])
        return X

    def cell_column(self, c: int, u: np.ndarray) -> np.ndarray:
        u = np.array(u, float, copy=True)
        if c in self.order:
            pos = self.order[c]
            k = len(pos)
            ok = np.isfinite(u)
            u[ok] = (pos[np.minimum((u[ok] * k).astype(int), k - 1)] + 0.5) / k
        return u

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Mean prediction of the trees at unit codes X; NaN coordinates are integrated out."""
        X = self.cell(np.atleast_2d(X))
        nan = np.isnan(X)
        inside = (self.lo[None] <= X[:, None, None]) & (X[:, None, None] < self.hi[None])
        inside |= (X[:, None, None] == 1.0) & (self.hi[None] == 1.0)  # the closed upper edge
        factor = np.where(nan[:, None, None], self.width[None], inside.astype(float))
        return np.mean(np.sum(self.value[None] * np.prod(factor, -1), -1), -1)


MAX_ORDERED_LEVELS = 64


def fit(X: np.ndarray, y: np.ndarray, n_trees: int = DEFAULTS["n_trees"], seed: int = 0,
        min_samples_leaf: int = DEFAULTS["min_samples_leaf"], max_features=DEFAULTS["max_features"],
        regions: dict[int, dict[int, np.ndarray]] | None = None, levels: list | None = None,
        w: np.ndarray | None = None) -> Partition:
    """Fit a random forest on unit codes and extract its leaves.

    NaN (inactive) values are drawn uniformly (module docstring). The levels of a
    discrete column (levels[c] cells, at most MAX_ORDERED_LEVELS) are reordered by
    their mean response before fitting: a binary split of mean-ordered levels is
    the best 2-partition of them (Breiman et al. 1984, CART 9.4), so a tree finds a
    level effect without an order the levels do not have. Each level keeps a cell
    of width 1/k, so the decomposition is unchanged by the reordering.
    w: row weights (a bootstrap resample's multiplicities).
    """
    order, Xi = _prepare(X, y, seed, levels, w)
    rf = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=min_samples_leaf,
                               max_features=max_features, random_state=seed, n_jobs=1)
    rf.fit(Xi, y, sample_weight=w)
    return _partition([_leaves(e.tree_, X.shape[1]) for e in rf.estimators_], regions, order, rf)


def fit_boosted(X: np.ndarray, y: np.ndarray, seed: int = 0, depth: int = BOOST["depth"],
                learning_rate: float = BOOST["learning_rate"], iterations: int = BOOST["iterations"],
                interactions: int = BOOST["interactions"], min_samples_leaf: int = BOOST["min_samples_leaf"],
                staged: bool = BOOST["staged"], regions: dict[int, dict[int, np.ndarray]] | None = None,
                levels: list | None = None,
                w: np.ndarray | None = None) -> Partition:
    """Fit gradient-boosted trees in two stages, main effects first, and extract their leaves.

    Stage 1 (`iterations` trees): each hyperparameter may only interact with its own
    ancestors (sklearn's HistGradientBoostingRegressor with interaction constraints),
    so the model is additive in the unconditional hps and learns a conditional hp
    together with the branch that activates it. Stage 2 (`interactions` trees, no
    constraint) fits the residuals: interactions. The functional-ANOVA hierarchy, main
    effects before interactions, as in GA2M (Lou, Caruana, Gehrke & Hooker, KDD 2013):
    trees that may split on any pair from the start learn part of a main effect as
    interactions with stronger hps, and its share shrinks (module docstring).
    staged=False: one unconstrained stage of `iterations` trees (the ablation).
    Inputs as `fit` (inactive values drawn uniformly, discrete levels reordered).

    The surrogate is the *sum* of the trees; leaf values are stored times the number
    of trees, so the mean over trees (what `marginal`, `predict` and
    `forest_main_effects` take) is that sum. Boosted trees are not i.i.d.: no
    tree-noise correction applies, and per-tree quantities (`Partition.variance`,
    `main_effects`) mean nothing; decompose the sum (`forest_main_effects`,
    `low_order_variance`, `merged`).
    """
    from sklearn.ensemble import HistGradientBoostingRegressor
    order, Xi = _prepare(X, y, seed, levels, w)
    if w is not None:
        Xi = _coarsen(Xi)
    d = Xi.shape[1]
    kw = dict(max_depth=depth, learning_rate=learning_rate, min_samples_leaf=min_samples_leaf,
              early_stopping=False, random_state=seed)
    cst = hierarchy(regions or {}, d) if staged else None
    with _one_thread():
        first = HistGradientBoostingRegressor(max_iter=iterations, interaction_cst=cst, **kw)
        first.fit(Xi, y, sample_weight=w)
        models = [first]
        if interactions and staged:
            second = HistGradientBoostingRegressor(max_iter=interactions, **kw)
            second.fit(Xi, y - first.predict(Xi), sample_weight=w)
            models.append(second)
    boxes = [_hgb_leaves(p[0].nodes, d) for m in models for p in m._predictors]
    return _partition(boxes, regions, order, _Sum(models), scale=len(boxes), kind="boost")


def _coarsen(X: np.ndarray, bins: int = 255) -> np.ndarray:
    """Columns with more distinct values than the boosted trees' bins, each value moved to
    the mean of its quantile bin (quantiles of the distinct values, unweighted).

    HistGradientBoostingRegressor bins such columns itself, but with sample weights it
    computes every bin edge as a separate weighted percentile (~0.6 s of a 0.75 s fit at
    1,000 configurations); with at most `bins` distinct values it takes them as they are.
    The trees' splits then fall between the same groups of configurations as with its bins.
    """
    X = X.copy()
    for c in range(X.shape[1]):
        u = np.unique(X[:, c])
        if u.size <= bins:
            continue
        edges = np.quantile(u, np.linspace(0, 1, bins + 1)[1:-1])
        k = np.searchsorted(edges, X[:, c])
        X[:, c] = (np.bincount(k, X[:, c], bins) / np.maximum(np.bincount(k, minlength=bins), 1))[k]
    return X


def hierarchy(regions: dict[int, dict[int, np.ndarray]], d: int) -> list[list[int]]:
    """Interaction constraints of stage 1: every conditional hp with its ancestors, the others alone."""
    sets = [sorted({c, *region}) for c, region in regions.items()]
    grouped = {i for s in sets for i in s}
    return sets + [[i] for i in range(d) if i not in grouped]


class _Sum:
    """Prediction of several fitted models added up."""

    def __init__(self, models):
        self.models = models

    def predict(self, X):
        with _one_thread():
            return sum(m.predict(X) for m in self.models)


def _one_thread():
    """One OpenMP thread for scikit-learn's boosting. Its threads spin while they wait: beside a
    grid on the same 2 cores a 200-configuration fit took 90 s instead of 3 s. Alone, tables this
    small lose by a second thread too: a tool's scoping (study v2, 182 configurations) 10.2 s on
    one, 14.0 s wall and 22.1 s CPU on two. The controller is made once: making it scans the
    loaded libraries (1.7 ms a fit, against 0.014 ms to limit through it)."""
    return _openmp().limit(limits=1, user_api="openmp")


@functools.cache
def _openmp() -> ThreadpoolController:
    return ThreadpoolController()


def _partition(boxes, regions, order, model, scale: float = 1.0, kind: str = "forest") -> Partition:
    """Leaf boxes of every tree, padded to one shape, as a Partition."""
    L = max(b[0].shape[0] for b in boxes)
    T, d = len(boxes), boxes[0][0].shape[1]
    lo = np.zeros((T, L, d))
    hi = np.zeros((T, L, d))
    val = np.zeros((T, L))
    for t, (a, b, v) in enumerate(boxes):
        lo[t, :len(v)], hi[t, :len(v)], val[t, :len(v)] = a, b, v * scale
    return Partition(lo, hi, val, _reorder_regions(regions or {}, order), order, model, kind)


def _prepare(X, y, seed, levels, w):
    """Discrete levels reordered by mean response (`fit`) and inactive values drawn uniformly:
    the level order per column and the inputs in the surrogate's coordinates."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    rng = np.random.default_rng(seed)
    order = {}
    for c, k in enumerate(levels or []):
        if k is None or k < 3 or k > MAX_ORDERED_LEVELS:
            continue  # two levels have one split either way
        col = X[:, c]
        ok = np.isfinite(col)
        lvl = np.minimum((col[ok] * k).astype(int), k - 1)
        wt = np.ones(ok.sum()) if w is None else w[ok]
        tot = np.bincount(lvl, wt * y[ok], minlength=k)
        cnt = np.bincount(lvl, wt, minlength=k)
        means = np.where(cnt > 0, tot / np.maximum(cnt, 1e-300), np.average(y[ok], weights=wt))
        pos = np.empty(k, int)
        pos[np.argsort(means, kind="stable")] = np.arange(k)
        order[c] = pos
    Xc = Partition(np.zeros(0), np.zeros(0), np.zeros(0), {}, order).cell(X)
    return order, np.where(np.isnan(Xc), rng.uniform(size=X.shape), Xc)


def _reorder_regions(regions, order):
    """Active boxes given on level cells, moved to the reordered cells."""
    out = {}
    for i, region in regions.items():
        out[i] = {}
        for k, iv in region.items():
            if k not in order:
                out[i][k] = iv
                continue
            pos, m = order[k], len(order[k])
            lv = [j for j in range(m) if any(a <= (j + 0.5) / m < b for a, b in iv)]
            out[i][k] = np.array([[pos[j] / m, (pos[j] + 1) / m] for j in lv]).reshape(-1, 2)
    return out


def _leaves(tree, d: int):
    """Leaf boxes of one sklearn tree."""
    return _boxes(tree.children_left, tree.children_right, tree.feature, tree.threshold, tree.value.reshape(-1), d)


def _hgb_leaves(nodes, d: int):
    """Leaf boxes of one tree of a HistGradientBoostingRegressor (values include the learning rate)."""
    leaf = nodes["is_leaf"].astype(bool)
    left = np.where(leaf, -1, nodes["left"].astype(int))
    right = np.where(leaf, -1, nodes["right"].astype(int))
    return _boxes(left, right, nodes["feature_idx"].astype(int), nodes["num_threshold"].astype(float),
                  nodes["value"].astype(float), d)


def _boxes(left, right, feat, thr, value, d: int):
    """Leaf boxes of a binary tree given as node arrays (x <= threshold goes left; a leaf has left < 0),
    walking it level by level (vectorised)."""
    thr = np.clip(thr, 0.0, 1.0)
    n = len(left)
    lo, hi = np.zeros((n, d)), np.ones((n, d))
    frontier = np.array([0])
    leaves = []
    while frontier.size:
        internal = frontier[left[frontier] >= 0]
        leaves.append(frontier[left[frontier] < 0])
        if internal.size == 0:
            break
        f, t = feat[internal], thr[internal]
        L, R = left[internal], right[internal]
        lo[L], hi[L], lo[R], hi[R] = lo[internal], hi[internal], lo[internal], hi[internal]
        hi[L, f] = np.minimum(hi[L, f], t)
        lo[R, f] = np.maximum(lo[R, f], t)
        frontier = np.concatenate([L, R])
    leaves = np.concatenate(leaves)
    return lo[leaves], hi[leaves], value[leaves]


def _exclusive_prod(F: np.ndarray) -> np.ndarray:
    """prod_{k != i} F[..., k] for every i, without dividing (widths may be 0)."""
    ones = np.ones_like(F[..., :1])
    before = np.cumprod(np.concatenate([ones, F[..., :-1]], -1), -1)
    after = np.cumprod(np.concatenate([ones, F[..., :0:-1]], -1), -1)[..., ::-1]
    return before * after


def _overlap(lo, hi, iv: np.ndarray) -> np.ndarray:
    """Length of [lo, hi) inside the union of intervals `iv`."""
    return sum(np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0, None) for a, b in iv)


def _weights(part: Partition) -> tuple[np.ndarray, np.ndarray]:
    """Leaf weight for each feature's marginal, (T, L, d), and the region mass P(A), (d,).

    weight = v_l * (measure of leaf l in every other coordinate), restricted to
    the active box A of the feature (so the marginal is E[f | x_i, A] * P(A)).
    """
    W = part.value[..., None] * _exclusive_prod(part.width)
    mass = np.ones(part.lo.shape[-1])
    for i, region in part.regions.items():
        if not region:
            continue
        F = part.width.copy()
        for k, iv in region.items():
            F[..., k] = _overlap(part.lo[..., k], part.hi[..., k], iv)
        F[..., i] = 1.0
        W[..., i] = part.value * np.prod(F, -1)
        mass[i] = np.prod([measure(iv) for iv in region.values()])
    return W, mass


def main_effects(part: Partition) -> np.ndarray:
    """V_i per tree, (T, d): variance of each feature's marginal (conditional: module docstring)."""
    T, L, d = part.lo.shape
    W, mass = _weights(part)
    W = W / mass  # marginal given the active box
    cuts = np.concatenate([part.lo, part.hi], 1).transpose(0, 2, 1)  # (T, d, 2L)
    order = np.argsort(cuts, -1, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(2 * L)[None, None], -1)
    srt = np.take_along_axis(cuts, order, -1)
    width = np.diff(srt, axis=-1)  # (T, d, 2L-1); duplicate cuts give empty cells
    # Difference array: + weight at the leaf's lower cut, - at its upper cut.
    M = 2 * L + 1
    base = (np.arange(T)[:, None] * d + np.arange(d)[None]) * M  # (T, d)
    w = W.transpose(0, 2, 1)  # (T, d, L)
    idx = np.concatenate([base[..., None] + pos[..., :L], base[..., None] + pos[..., L:]], -1)
    diff = np.bincount(idx.ravel(), np.concatenate([w, -w], -1).ravel(), minlength=T * d * M)
    marg = np.cumsum(diff.reshape(T, d, M), -1)[..., :2 * L - 1]
    mean = np.sum(width * marg, -1, keepdims=True)
    return mass * np.sum(width * (marg - mean) ** 2, -1)


def forest_main_effects(part: Partition) -> np.ndarray:
    """V_i of the forest's mean function (d,), exact: its marginal is constant between
    the union of every tree's cuts, so one difference array per feature does it."""
    T, L, d = part.lo.shape
    W, mass = _weights(part)
    W = W / (mass * T)
    out = np.zeros(d)
    for i in range(d):
        lo, hi, w = part.lo[..., i].ravel(), part.hi[..., i].ravel(), W[..., i].ravel()
        cuts = np.unique(np.r_[lo, hi])
        diff = (np.bincount(np.searchsorted(cuts, lo), w, cuts.size)
                - np.bincount(np.searchsorted(cuts, hi), w, cuts.size))
        marg, width = np.cumsum(diff)[:-1], np.diff(cuts)
        out[i] = mass[i] * np.sum(width * (marg - np.sum(width * marg)) ** 2)
    return out


def forest_variance(part: Partition, seed: int = 0, n: int = 2**13) -> float:
    """Variance of the forest's mean function under the uniform measure (scrambled Sobol
    points; exact would cost T^2 L^2 leaf overlaps)."""
    U = qmc.Sobol(part.lo.shape[-1], scramble=True, seed=seed).random(n)
    pred = part.model.predict(U) if part.model is not None else part.predict(U)
    return float(np.var(pred))


def low_order_variance(part: Partition) -> float | None:
    """Exact variance of the mean function when no leaf is bounded in more than two
    coordinates (trees of depth <= 2, the boosted surrogate); None otherwise.

    The function is then a sum of terms g_S(x_S), |S| <= 2, one per set of bounded
    coordinates, each piecewise constant on a grid. Terms on disjoint sets are
    independent, and two distinct sets share at most one coordinate i, where their
    covariance is that of their marginals h_S^i = E[g_S | x_i]. With H_i = sum over
    S containing i of h_S^i: Var f = sum_S Var g_S + sum_i (Var H_i - sum_S Var h_S^i).
    """
    T, L, d = part.lo.shape
    lo, hi = part.lo.reshape(-1, d), part.hi.reshape(-1, d)
    v = part.value.reshape(-1) / T
    keep = (np.prod(hi - lo, -1) > 0) & (v != 0)
    lo, hi, v = lo[keep], hi[keep], v[keep]
    bound = (lo > 0) | (hi < 1)
    k = bound.sum(1)
    if (k > 2).any():
        return None
    cuts = [np.unique(np.r_[0.0, 1.0, lo[:, i], hi[:, i]]) for i in range(d)]
    width = [np.diff(c) for c in cuts]
    start = [np.searchsorted(cuts[i], lo[:, i]) for i in range(d)]
    stop = [np.searchsorted(cuts[i], hi[:, i]) for i in range(d)]

    def var(g, w):
        return float(np.sum(w * (g - np.sum(w * g)) ** 2))

    H = [np.zeros(len(w)) for w in width]
    own = np.zeros(d)  # sum over terms of Var h_S^i
    total = 0.0
    for i in range(d):
        m = (k == 1) & bound[:, i]
        if m.any():
            n = len(cuts[i])
            g = np.cumsum(np.bincount(start[i][m], v[m], n) - np.bincount(stop[i][m], v[m], n))[:-1]
            total += var(g, width[i])
            H[i] += g
            own[i] += var(g, width[i])
    two = np.flatnonzero(k == 2)
    if two.size:
        ij = np.sort(np.argsort(~bound[two], axis=1, kind="stable")[:, :2], axis=1)  # the two bounded coordinates
        for i, j in np.unique(ij, axis=0):
            m = two[(ij[:, 0] == i) & (ij[:, 1] == j)]
            ni, nj = len(cuts[i]), len(cuts[j])
            si, ei, sj, ej, w = start[i][m], stop[i][m], start[j][m], stop[j][m], v[m]
            G = np.bincount(np.r_[si * nj + sj, ei * nj + ej, si * nj + ej, ei * nj + sj],
                            np.r_[w, w, -w, -w], ni * nj).reshape(ni, nj)
            G = np.cumsum(np.cumsum(G, 0), 1)[:-1, :-1]
            area = np.outer(width[i], width[j])
            total += float(np.sum(area * (G - np.sum(area * G)) ** 2))
            hi_, hj_ = G @ width[j], width[i] @ G
            H[i] += hi_
            H[j] += hj_
            own[i] += var(hi_, width[i])
            own[j] += var(hj_, width[j])
    return total + sum(var(H[i], width[i]) - own[i] for i in range(d))


def forest_shares(part: Partition, main: np.ndarray, seed: int = 0) -> np.ndarray:
    """Main-effect shares of the infinite forest E_trees[f_t] (d,).

    Trees are i.i.d. given the data, f_t = F + e_t, so a variance Q of a T-tree mean
    carries E Q(e)/T of tree noise and the mean per-tree Q carries all of it:
    Q(F) = (T Q(mean) - mean_t Q(f_t)) / (T - 1) is unbiased, for V_i and Var alike.
    Hutter et al.'s mean of per-tree ratios instead counts each tree's own noise
    (spurious interactions) in its denominator, shrinking every share (module docstring).
    """
    T = part.lo.shape[0]
    V, var = forest_main_effects(part), forest_variance(part, seed)
    if T > 1:
        V = (T * V - main.mean(0)) / (T - 1)
        var = (T * var - part.variance.mean()) / (T - 1)
    return np.clip(V, 0, None) / var if var > 0 else np.zeros_like(V)


def pair_effects(part: Partition, pairs, main: np.ndarray | None = None) -> np.ndarray:
    """Pure interaction V_ij = Var(a_ij) - V_i - V_j per tree, (T, len(pairs)).

    Taken under the plain product measure (the uniform extension), also for
    conditional hyperparameters, so V_i and V_j here are the plain main effects.
    """
    if main is None or part.regions:
        main = main_effects(Partition(part.lo, part.hi, part.value))
    W = part.value * np.prod(part.width, -1)
    out = np.zeros((part.lo.shape[0], len(pairs)))
    for t in range(part.lo.shape[0]):
        live = np.prod(part.width[t], -1) > 0
        lo, hi = part.lo[t, live], part.hi[t, live]
        mu = W[t, live].sum()
        for p, (i, j) in enumerate(pairs):
            ci, cj = np.unique(np.r_[lo[:, i], hi[:, i]]), np.unique(np.r_[lo[:, j], hi[:, j]])
            si, ei = np.searchsorted(ci, lo[:, i]), np.searchsorted(ci, hi[:, i])
            sj, ej = np.searchsorted(cj, lo[:, j]), np.searchsorted(cj, hi[:, j])
            w = W[t, live] / ((hi[:, i] - lo[:, i]) * (hi[:, j] - lo[:, j]))
            n = cj.size
            grid = np.bincount(np.r_[si * n + sj, ei * n + ej, si * n + ej, ei * n + sj],
                               np.r_[w, w, -w, -w], minlength=ci.size * n).reshape(ci.size, n)
            marg = np.cumsum(np.cumsum(grid, 0), 1)[:-1, :-1]
            area = np.outer(np.diff(ci), np.diff(cj))
            out[t, p] = np.sum(area * (marg - mu) ** 2) - main[t, i] - main[t, j]
    return np.clip(out, 0, None)


def marginal(part: Partition, i: int, grid: np.ndarray) -> np.ndarray:
    """E[f | x_i = grid, A_i] per tree, (T, G): the marginal effect curve (grid in unit codes)."""
    grid = part.cell_column(i, grid)
    W, mass = _weights(part)
    inside = (part.lo[..., i, None] <= grid) & (grid < part.hi[..., i, None])
    inside |= (grid == 1.0) & (part.hi[..., i, None] == 1.0)
    return np.einsum("tl,tlg->tg", W[..., i] / mass[i], inside)


@dataclass
class Scores:
    """Point importance of one method on one table (no uncertainty yet)."""

    method: str
    names: list[str]
    value: np.ndarray  # (d,) importance; 0 for hps with a note
    notes: dict[str, str] = field(default_factory=dict)
    interactions: dict[tuple[str, str], float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def fanova(enc: Encoded, n_trees: int | None = None, seed: int = 0, min_samples_leaf: int | None = None,
           max_features=None, pairs: int = 5, decomposition: str | None = None,
           surrogate: str = "boost", shadow: bool = False, **boost) -> Scores:
    """Variance shares of every hyperparameter (and of pairs among the top `pairs`).

    surrogate: "boost" (default) decomposes gradient-boosted depth-2 trees (`fit_boosted`,
    settings `BOOST`, overridable by keyword: depth, learning_rate, iterations), the
    sum function exactly, pairs included; "forest" a random forest (`fit`, settings
    `DEFAULTS`: n_trees, max_features), where decomposition "forest" decomposes the
    forest's mean function (`forest_shares`) and "trees" is Hutter et al.'s mean over
    trees of V_i / V_tree (Optuna's value); a forest's pair shares are per-tree ratios.
    min_samples_leaf: per surrogate (default BOOST's or DEFAULTS').
    shadow (boosted surrogate): also fit a column of uniform noise, a hyperparameter
    known to be null, and return its share as extra["shadow"] (the share a null hp
    gets from this table; `analysis.importance` bounds intervals with it).

    Hyperparameters that never vary get 0 with a note; a constant metric gives
    all zeros with a note; fewer than MIN_CONFIGS configurations raise.
    """
    if surrogate not in SURROGATES:
        raise AnalysisError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
    if surrogate == "boost":
        forest_only = {k: v for k, v in dict(n_trees=n_trees, max_features=max_features,
                                             decomposition=decomposition).items() if v is not None}
        if forest_only:
            raise AnalysisError(f"{sorted(forest_only)} apply to surrogate='forest', not to the boosted surrogate")
        unknown = set(boost) - set(BOOST)
        if unknown:
            raise AnalysisError(f"unknown boosted-surrogate settings {sorted(unknown)}; known: {sorted(BOOST)}")
    elif boost or shadow:
        raise AnalysisError(f"{sorted(boost) + ['shadow'] * shadow} apply to surrogate='boost', not to the forest")
    n_trees = DEFAULTS["n_trees"] if n_trees is None else n_trees
    max_features = DEFAULTS["max_features"] if max_features is None else max_features
    decomposition = "forest" if decomposition is None else decomposition
    if min_samples_leaf is None:
        min_samples_leaf = (BOOST if surrogate == "boost" else DEFAULTS)["min_samples_leaf"]
    if decomposition not in ("forest", "trees"):
        raise AnalysisError(f"decomposition must be 'forest' or 'trees', got {decomposition!r}")
    _check(enc)
    notes = dict(enc.notes)
    d = len(enc.names)
    value = np.zeros(d)
    live = np.flatnonzero(enc.varying)
    if np.ptp(enc.y) == 0:
        notes["*"] = "the metric is constant over the table: no variance to explain, all importances 0"
        return Scores("fanova", enc.names, value, notes)
    regions, fallback = _regions(enc, live)
    for n in fallback:
        notes[n] = "active region is not a box (OR condition): plain main effect under the uniform extension"
    levels = [enc.levels[j] for j in live]
    if surrogate == "boost":
        return _boosted(enc, live, regions, levels, notes, seed, pairs,
                        {**BOOST, **boost, "min_samples_leaf": min_samples_leaf}, shadow)
    part = fit(enc.X[:, live], enc.y, n_trees, seed, min_samples_leaf, max_features, regions, levels, enc.w)
    var = part.variance
    ok = var > 0
    if not ok.any():
        notes["*"] = "the forest is constant (no split found): all importances 0"
        return Scores("fanova", enc.names, value, notes)
    main = main_effects(part)
    value[live] = (forest_shares(part, main, seed) if decomposition == "forest"
                   else np.mean(main[ok] / var[ok, None], 0))
    inter = {}
    cand = _pair_candidates(value[live], regions, pairs)
    if cand:
        pv = np.mean(pair_effects(part, cand, main)[ok] / var[ok, None], 0)
        inter = {(enc.names[live[a]], enc.names[live[b]]): float(v) for (a, b), v in zip(cand, pv)}
    return Scores("fanova", enc.names, value, notes, inter,
                  {"partition": part, "live": live, "tree_std": np.std(main[ok] / var[ok, None], 0)})


def _pair_candidates(shares: np.ndarray, regions: dict, pairs: int) -> list[tuple[int, int]]:
    """Pairs among the `pairs` largest shares (live indices), leaving out a parent with its own child."""
    if not pairs or shares.size < 2:
        return []
    top = np.argsort(-shares)[:pairs]
    return [(a, b) for a, b in combinations(sorted(top), 2)
            if b not in regions.get(a, {}) and a not in regions.get(b, {})]


def _boosted(enc, live, regions, levels, notes, seed, pairs, settings, shadow=False) -> Scores:
    """fANOVA of the boosted surrogate: V_i and V_ij of its (sum) function / its variance."""
    value = np.zeros(len(enc.names))
    X = enc.X[:, live]
    if shadow:  # a last column of noise
        X = np.c_[X, np.random.default_rng([seed, 1]).uniform(size=len(X))]
        levels = [*levels, None]
    part = fit_boosted(X, enc.y, seed, regions=regions, levels=levels, w=enc.w, **settings)
    var = low_order_variance(part)
    var = forest_variance(part, seed) if var is None else var
    if not var > 0:
        notes["*"] = "the surrogate is constant (no split found): all importances 0"
        return Scores("fanova", enc.names, value, notes, extra={"shadow": 0.0} if shadow else {})
    main = np.clip(forest_main_effects(part), 0, None) / var
    value[live] = main[:live.size]
    extra = {"shadow": float(main[-1])} if shadow else {}
    inter = {}
    cand = _pair_candidates(value[live], regions, pairs)
    if cand:
        pv = pair_effects(merged(part), cand)[0] / var
        inter = {(enc.names[live[a]], enc.names[live[b]]): float(v) for (a, b), v in zip(cand, pv)}
    return Scores("fanova", enc.names, value, notes, inter,
                  {"partition": part, "live": live, "surrogate": "boost", "settings": settings, **extra})


def merged(part: Partition) -> Partition:
    """The mean function of all trees as one 'tree' of overlapping leaves (values / T).

    Marginals are linear in the leaves, so `main_effects` / `pair_effects` of it are
    those of the mean function (`forest_main_effects`); `Partition.variance` is not
    (it assumes leaves that do not overlap)."""
    T, L, d = part.lo.shape
    return Partition(part.lo.reshape(1, T * L, d), part.hi.reshape(1, T * L, d),
                     part.value.reshape(1, T * L) / T, part.regions, part.order, None, part.kind)


def _regions(enc: Encoded, live: np.ndarray):
    """Active boxes in the column indices of the live features; names that fall back."""
    col = {enc.names[j]: c for c, j in enumerate(live)}
    regions, fallback = {}, []
    for c, j in enumerate(live):
        region = active_region(enc.space, enc.names[j])
        if region is None:
            fallback.append(enc.names[j])
            continue
        # An ancestor that does not vary in the table is fixed: its box is all there is.
        region = {col[p]: iv for p, iv in region.items() if p in col}
        if region:
            regions[c] = region
    return regions, fallback


def _check(enc: Encoded, minimum: int = MIN_CONFIGS) -> None:
    n = len(np.unique(enc.keys))  # rows of a resample are distinct, weighted
    if n < minimum:
        raise TooFew(f"{n} distinct configuration(s) at {enc.fidelity or 'this fidelity'}: "
                     f"fANOVA needs at least {minimum}")

"""The surrogates fANOVA decomposes: a random forest (`fit`) and two-stage boosted trees (`fit_boosted`).

Both are fitted on unit codes and returned as a `tree.Partition` of their leaves. Shared inputs:

- Inactive values (NaN; conditional spaces) are drawn uniformly at random, never a sentinel such
  as -1 or the default, which would mix "inactive" with a real value and make a child look
  important through its parent (condPED-ANOVA, arXiv 2601.20800, names that failure). The
  surrogate then learns the objective's extension to the full product space that ignores
  inactive values.
- The levels of a discrete column (at most MAX_ORDERED_LEVELS) are reordered by their mean
  response before fitting: a binary split of mean-ordered levels is the best 2-partition of them
  (Breiman, Friedman, Olshen & Stone 1984, CART 9.4), so a tree finds a level effect without an
  order the levels do not have. Each level keeps a cell of width 1/k, so the decomposition is
  unchanged by the reordering.

Settings: DEFAULTS for the forest (calibrated by experiments/studies/importance_synthetic.py
--stage calibrate), BOOST for the boosted trees (experiments/studies/importance_battery.py
--stage calibrate); the evidence is in results/analysis_synthetic/README.md and
results/importance_battery/README.md. scikit-learn's boosting runs on one OpenMP thread
(`_one_thread`).
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from threadpoolctl import ThreadpoolController

from hpobench.analysis.fanova.tree import Partition, hgb_leaves, leaves, partition

DEFAULTS = dict(n_trees=64, min_samples_leaf=3, max_features=0.2)
BOOST = dict(depth=2, learning_rate=0.1, iterations=300, interactions=100, min_samples_leaf=2, staged=True)
MAX_ORDERED_LEVELS = 64


def fit(X: np.ndarray, y: np.ndarray, n_trees: int = DEFAULTS["n_trees"], seed: int = 0,
        min_samples_leaf: int = DEFAULTS["min_samples_leaf"], max_features=DEFAULTS["max_features"],
        regions: dict[int, dict[int, np.ndarray]] | None = None, levels: list | None = None,
        w: np.ndarray | None = None) -> Partition:
    """Fit a random forest on unit codes X (n, d), NaN where inactive, and extract its leaves.

    max_features: features tried per split (scikit-learn's meaning); regions: feature -> its
    active box (ancestor column -> intervals of unit codes); levels[c]: the number of levels of
    a discrete column c (None: continuous), reordered by mean response (module docstring);
    w: row weights (a bootstrap resample's multiplicities).
    """
    order, Xi = _prepare(X, y, seed, levels, w)
    rf = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=min_samples_leaf,
                               max_features=max_features, random_state=seed, n_jobs=1)
    rf.fit(Xi, y, sample_weight=w)
    return partition([leaves(e.tree_, X.shape[1]) for e in rf.estimators_], regions, order, rf)


def fit_boosted(X: np.ndarray, y: np.ndarray, seed: int = 0, depth: int = BOOST["depth"],
                learning_rate: float = BOOST["learning_rate"], iterations: int = BOOST["iterations"],
                interactions: int = BOOST["interactions"], min_samples_leaf: int = BOOST["min_samples_leaf"],
                staged: bool = BOOST["staged"], regions: dict[int, dict[int, np.ndarray]] | None = None,
                levels: list | None = None,
                w: np.ndarray | None = None) -> Partition:
    """Fit gradient-boosted trees in two stages, main effects first, and extract their leaves.

    Stage 1 (`iterations` trees): each hyperparameter may only interact with its own
    ancestors (sklearn's HistGradientBoostingRegressor with interaction constraints,
    `hierarchy`), so the model is additive in the unconditional hps and learns a conditional
    hp together with the branch that activates it. Stage 2 (`interactions` trees, no
    constraint) fits the residuals: interactions. The functional-ANOVA hierarchy, main
    effects before interactions, as in GA2M (Lou, Caruana, Gehrke & Hooker, KDD 2013):
    trees that may split on any pair from the start learn part of a main effect as
    interactions with stronger hps, and its share shrinks.
    staged=False: one unconstrained stage of `iterations` trees (the ablation).
    Inputs as `fit` (inactive values drawn uniformly, discrete levels reordered); weighted
    inputs are coarsened first (`_coarsen`).

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
    boxes = [hgb_leaves(p[0].nodes, d) for m in models for p in m._predictors]
    return partition(boxes, regions, order, _Sum(models), scale=len(boxes), kind="boost")


def _coarsen(X: np.ndarray, bins: int = 255) -> np.ndarray:
    """Columns with more distinct values than the boosted trees' bins, each value moved to
    the mean of its quantile bin (quantiles of the distinct values, unweighted).

    HistGradientBoostingRegressor bins such columns itself, but with sample weights it
    computes every bin edge as a separate weighted percentile, which costs most of a fit;
    with at most `bins` distinct values it takes them as they are. The trees' splits then
    fall between the same groups of configurations as with its bins.
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
    """Prediction of several fitted HistGradientBoostingRegressors added up, equal bit for bit to
    `sum(m.predict(X) for m in models)` but computed here from their trees' nodes: a tree that splits
    on no column varying across the rows of X has one value for all of them, read once. The tunability
    game predicts an anchor with a few coordinates redrawn, so most trees are such; scikit-learn
    walked every tree for every row, one call per tree (most of the decision's time)."""

    def __init__(self, models):
        trees = [(i, p[0].nodes) for i, m in enumerate(models) for p in m._predictors]
        start = np.cumsum([0] + [len(nodes) for _, nodes in trees])
        nodes = np.concatenate([nodes for _, nodes in trees])
        self.model = np.array([i for i, _ in trees])
        self.root = start[:-1]
        offset = np.repeat(self.root, np.diff(start))
        leaf = nodes["is_leaf"].astype(bool)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(float)
        self.nan_left = nodes["missing_go_to_left"].astype(bool)
        self.left = np.where(leaf, np.arange(len(nodes)), nodes["left"].astype(np.intp) + offset)
        self.right = np.where(leaf, np.arange(len(nodes)), nodes["right"].astype(np.intp) + offset)
        self.value = nodes["value"].astype(float)
        self.depth = int(nodes["depth"].max())
        self.uses = np.zeros((len(trees), models[0].n_features_in_), bool)  # tree -> the columns it splits on
        tree_of = np.repeat(np.arange(len(trees)), np.diff(start))
        self.uses[tree_of[~leaf], self.feature[~leaf]] = True
        self.baseline = [float(m._baseline_prediction.ravel()[0]) for m in models]

    def _walk(self, X: np.ndarray, trees: np.ndarray, nan: bool) -> np.ndarray:
        """The leaf value of each of `trees` for each row of X, (len(trees), len(X)): scikit-learn's
        rule, x <= threshold goes left and NaN where the node says."""
        XT = np.ascontiguousarray(X.T)
        node = self.root[trees][:, None]  # the roots: one node per tree, so its columns are whole rows of XT
        x = XT[self.feature[node[:, 0]]]
        for level in range(self.depth):
            if level:
                x = XT[self.feature[node], np.arange(len(X))]
            left = x <= self.threshold[node]
            if nan:
                left = np.where(np.isnan(x), self.nan_left[node], left)
            node = np.where(left, self.left[node], self.right[node])
        return np.broadcast_to(self.value[node], (len(trees), len(X)))  # trees that are one leaf: (T, 1)

    def predict(self, X):
        X = np.ascontiguousarray(X, dtype=float)
        nan = bool(np.isnan(X).any())
        varying = (X != X[:1]).any(0)  # NaN != NaN: a NaN column counts as varying
        moving = self.uses[:, varying].any(1)
        each: list = [None] * len(moving)
        for t, v in zip(np.flatnonzero(moving), self._walk(X, np.flatnonzero(moving), nan)):
            each[t] = v
        for t, v in zip(np.flatnonzero(~moving), self._walk(X[:1], np.flatnonzero(~moving), nan)[:, 0]):
            each[t] = v
        total = 0
        for i, base in enumerate(self.baseline):  # scikit-learn's order of additions, so its rounding
            out = np.zeros(len(X)) + base
            for t in np.flatnonzero(self.model == i):
                out += each[t]
            total = total + out
        return total


def _one_thread():
    """A context in which OpenMP (scikit-learn's boosting) runs one thread.

    Its threads spin while they wait, so beside other processes on the same cores a fit slows
    many times over, and tables this small gain nothing from a second thread even alone
    (results/importance_battery/README.md, Speed). The controller is made once: making it
    scans the loaded libraries, limiting through it does not.
    """
    return _openmp().limit(limits=1, user_api="openmp")


@functools.cache
def _openmp() -> ThreadpoolController:
    return ThreadpoolController()


def _prepare(X, y, seed, levels, w):
    """Discrete levels reordered by mean response and inactive values drawn uniformly
    (module docstring): the level order per column and the inputs in the surrogate's coordinates."""
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

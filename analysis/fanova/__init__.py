"""fANOVA: exact functional-ANOVA decomposition of a tree-ensemble surrogate (boosted or forest).

Hutter, Hoos & Leyton-Brown, "An Efficient Approach for Assessing Hyperparameter Importance"
(ICML 2014): the share of a surrogate's variance that each hyperparameter (and each pair)
explains under the uniform measure on the unit cube, computed exactly from the trees' leaves.
`fanova(enc)` is the front end; the package holds, as Optuna's `importance/_fanova/` does:

- `surrogate`: the fits, on unit codes (`fit`: a random forest; `fit_boosted`: boosted
  depth-2 trees in two stages, main effects first; settings DEFAULTS, BOOST);
- `tree`: the trees' leaves as boxes, a `Partition`;
- `decompose`: the exact decomposition (main and pair effects, variances, marginal curves),
  and how conditional hyperparameters are treated.

The surrogate (default `surrogate="boost"`): gradient-boosted depth-2 trees, 300 in which a
hyperparameter may only interact with its own ancestors, then 100 unconstrained trees on the
residuals (GA2M's order: Lou, Caruana, Gehrke & Hooker, KDD 2013). Importance of i = V_i / Var
of the *sum* of the trees, both exact (`low_order_variance`). Boosting fits residuals, so a
symmetric U-shaped effect that a greedy CART split gains little from is fitted once the strong
effects are; the first stage keeps main effects from being learned as spurious interactions.

The forest (`surrogate="forest"`): importance of i = V_i / Var of the forest's *mean function*,
with the tree noise a finite forest adds removed (`forest_shares`); `decomposition="trees"` is
Hutter et al.'s rule, the mean over trees of V_i / V_tree (Optuna's FanovaImportanceEvaluator).
Random features per split (max_features 0.2) let weak hyperparameters be split on beside
strong ones.

Measured accuracy against exact truths, beside Optuna's, and the calibration of both
surrogates: results/importance_battery/README.md and results/analysis_synthetic/README.md.

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

from itertools import combinations

import numpy as np

from hpobench.analysis import scores
from hpobench.analysis.conditions import active_region
from hpobench.analysis.encode import Encoded
from hpobench.analysis.errors import AnalysisError
from hpobench.analysis.fanova.decompose import (
    forest_main_effects,
    forest_shares,
    forest_variance,
    low_order_variance,
    main_effects,
    marginal,
    merged,
    pair_effects,
)
from hpobench.analysis.fanova.surrogate import BOOST, DEFAULTS, MAX_ORDERED_LEVELS, fit, fit_boosted, hierarchy
from hpobench.analysis.fanova.tree import Partition
from hpobench.analysis.scores import Scores

__all__ = ["BOOST", "DEFAULTS", "MAX_ORDERED_LEVELS", "MIN_CONFIGS", "SURROGATES", "Partition", "fanova", "fit",
           "fit_boosted", "forest_main_effects", "forest_shares", "forest_variance", "hierarchy",
           "low_order_variance", "main_effects", "marginal", "merged", "pair_effects"]

MIN_CONFIGS = 10
SURROGATES = ("boost", "forest")


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

    Conditional hyperparameters: the variance each adds where it is active (`decompose`); one
    whose active region is not a box (an OR condition) gets its plain main effect under the
    uniform extension, with a note. Hyperparameters that never vary get 0 with a note; a
    constant metric gives all zeros with a note; fewer than MIN_CONFIGS configurations raise.
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
    scores.check(enc, MIN_CONFIGS, "fANOVA")
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

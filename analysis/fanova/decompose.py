"""The exact functional-ANOVA decomposition of a tree ensemble's leaves (a `tree.Partition`).

Hutter, Hoos & Leyton-Brown (ICML 2014). A regression tree is a piecewise-constant
function on axis-aligned boxes (its leaves), so its marginals are exact sums over
leaves, with no sampling. For feature i, the marginal a_i(x_i) = sum_l v_l
vol_{-i}(l) 1[x_i in l] is constant between consecutive split points, and its
variance under the uniform measure on the unit cube is the main effect V_i.
All trees and all features are done at once: every leaf adds its weight at its
lower cell and removes it at its upper cell (a difference array), a cumulative
sum gives the marginal on every cell. Pairs (i, j) use the same idea on a 2-D
grid (`pair_effects`).

What is decomposed: per tree (`main_effects`, `Partition.variance`; Hutter et al.'s rule is
the mean over trees of V_i / V_tree), or the ensemble's mean function (`forest_main_effects`,
`merged`): a forest's with the tree noise a finite forest adds removed (`forest_shares`), the
boosted surrogate's sum exactly (`low_order_variance`: no leaf of a depth-2 tree bounds more
than two coordinates).

Conditional hyperparameters (`Partition.regions`, from `hpobench.analysis.encode.active_region`):
the surrogate is fitted on the uniform extension (inactive values drawn at random, see
`surrogate`), and the importance of a conditional hp c is the variance it adds *where it is
active*:

    V_c = P(A) * Var_{x_c}( E[f | x_c, A] ),  A = the box where c is active,

which equals c's main effect plus its interactions with its ancestors. Pairs
(c, ancestor of c) are therefore not reported as interactions (they are in V_c).
Shares still sum to at most 1 (exactly 1 minus the higher-order and noise share).

    >>> import numpy as np
    >>> from hpobench.analysis.fanova import decompose, surrogate
    >>> X = np.random.default_rng(0).uniform(size=(200, 2))
    >>> part = surrogate.fit_boosted(X, 3 * X[:, 0] + X[:, 1], seed=0)  # true shares 0.9, 0.1
    >>> (decompose.forest_main_effects(part) / decompose.low_order_variance(part)).round(1).tolist()
    [0.9, 0.1]
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc

from hpobench.analysis.conditions import measure
from hpobench.analysis.fanova.tree import Partition


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
    (spurious interactions) in its denominator, shrinking every share.
    main: the per-tree main effects (`main_effects`); seed: of `forest_variance`'s points.
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


def merged(part: Partition) -> Partition:
    """The mean function of all trees as one 'tree' of overlapping leaves (values / T).

    Marginals are linear in the leaves, so `main_effects` / `pair_effects` of it are
    those of the mean function (`forest_main_effects`); `Partition.variance` is not
    (it assumes leaves that do not overlap)."""
    T, L, d = part.lo.shape
    return Partition(part.lo.reshape(1, T * L, d), part.hi.reshape(1, T * L, d),
                     part.value.reshape(1, T * L) / T, part.regions, part.order, None, part.kind)

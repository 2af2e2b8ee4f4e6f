"""Leaves of fitted trees as boxes in the unit cube: the `Partition` the decomposition reads.

A regression tree is a piecewise-constant function on axis-aligned boxes, its leaves
(Hutter, Hoos & Leyton-Brown, ICML 2014). This module walks the trees of a scikit-learn
forest (`leaves`) or of a HistGradientBoostingRegressor (`hgb_leaves`) into boxes and pads
them into one `Partition`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Partition:
    """Leaves of every tree of a forest: boxes in the unit cube and values.

    Trees have different leaf counts; padding leaves have zero width and value 0,
    so they weigh nothing in any sum. Discrete columns are stored with their
    levels reordered (`order`, see `surrogate.fit`); `cell` maps unit codes into that order.
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


def partition(boxes, regions, order, model, scale: float = 1.0, kind: str = "forest") -> Partition:
    """Leaf boxes of every tree, padded to one shape, as a Partition.

    boxes: (lo, hi, value) per tree (`leaves`, `hgb_leaves`); regions: active boxes per feature,
    on the levels' original cells (moved to the reordered cells here); order: column -> new
    position of each level; model: the fitted model, kept for prediction; scale: multiplies every
    leaf value (the boosted surrogate stores its sum as the mean of T trees, scale T).
    """
    L = max(b[0].shape[0] for b in boxes)
    T, d = len(boxes), boxes[0][0].shape[1]
    lo = np.zeros((T, L, d))
    hi = np.zeros((T, L, d))
    val = np.zeros((T, L))
    for t, (a, b, v) in enumerate(boxes):
        lo[t, :len(v)], hi[t, :len(v)], val[t, :len(v)] = a, b, v * scale
    return Partition(lo, hi, val, _reorder_regions(regions or {}, order), order, model, kind)


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


def leaves(tree, d: int):
    """Leaf boxes of one sklearn tree (`tree_` of a fitted DecisionTreeRegressor): lo, hi, value."""
    return _boxes(tree.children_left, tree.children_right, tree.feature, tree.threshold, tree.value.reshape(-1), d)


def hgb_leaves(nodes, d: int):
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
    found = []
    while frontier.size:
        internal = frontier[left[frontier] >= 0]
        found.append(frontier[left[frontier] < 0])
        if internal.size == 0:
            break
        f, t = feat[internal], thr[internal]
        L, R = left[internal], right[internal]
        lo[L], hi[L], lo[R], hi[R] = lo[internal], hi[internal], lo[internal], hi[internal]
        hi[L, f] = np.minimum(hi[L, f], t)
        lo[R, f] = np.maximum(lo[R, f], t)
        frontier = np.concatenate([L, R])
    found = np.concatenate(found)
    return lo[found], hi[found], value[found]

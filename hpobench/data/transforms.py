"""Deterministic splits, nested stratified subsets, and area-average downsampling.

    >>> import numpy as np
    >>> y = np.repeat(np.arange(10), 100)
    >>> small, big = nested_subset(y, 0.1, seed=0), nested_subset(y, 0.25, seed=0)
    >>> set(small) <= set(big), len(small), len(big)
    (True, 100, 250)
"""

from __future__ import annotations

import numpy as np


def _class_orders(y: np.ndarray, seed: int) -> list[np.ndarray]:
    """Per class, its indices in one fixed random order (the basis of nesting)."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held_out) indices, held_out taking `fraction` of every class.

    A class of two or more samples gives at least one and keeps at least one (small
    image-folder classes still get validated); at 10% classes of 15 or more are unaffected.
    """
    held = [o[: _held(fraction, len(o))] for o in _class_orders(y, seed)]
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held), held


def _held(fraction: float, n: int) -> int:
    k = int(round(fraction * n))
    return min(n - 1, max(1, k)) if n >= 2 and fraction > 0 else k


def nested_subset(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a stratified `fraction` of y; subsets for smaller fractions are inside larger ones."""
    if not 0 < fraction <= 1:
        raise ValueError(f"data_fraction must be in (0, 1], got {fraction}")
    # ceil, at least one per class: tiny fractions still see every class
    parts = [o[: max(1, int(np.ceil(fraction * len(o) - 1e-9)))] for o in _class_orders(y, seed)]
    return np.sort(np.concatenate(parts))


def resize(x: np.ndarray, resolution: int) -> np.ndarray:
    """Downsample NHWC images by area averaging (native size must be a multiple)."""
    native = x.shape[1]
    if resolution == native:
        return x
    if native % resolution:
        raise ValueError(f"resolution {resolution} does not divide the native {native}")
    f = native // resolution
    n, _, _, c = x.shape
    return x.reshape(n, resolution, f, resolution, f, c).mean(axis=(2, 4), dtype=np.float32)

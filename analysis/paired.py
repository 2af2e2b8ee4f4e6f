"""Paired comparisons of two arms over the same instances (seeds): the sign test, and the
mean difference with its bootstrap interval.

    >>> import numpy as np
    >>> from hpobench.analysis import paired
    >>> paired.sign_test(np.array([-0.2, -0.1, 0.0, 0.3]))
    {'below': 2, 'above': 1, 'ties': 1, 'sign_p': 1.0}
    >>> c = paired.compare(np.array([0.1, 0.2, 0.3, 0.2, 0.1]))
    >>> round(c['mean_diff'], 2), c['decided'], paired.compare(np.array([0.1, 0.2]))['decided']
    (0.18, True, False)
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from hpobench.analysis import bootstrap


def sign_test(d: np.ndarray, tol: float = 1e-9) -> dict:
    """Differences (arm a - arm b, one per instance): how many are below 0, above 0 and tied
    (within `tol`), and the two-sided sign test over the untied ones (1 when all tie)."""
    d = np.asarray(d, float)
    below, above = int((d < -tol).sum()), int((d > tol).sum())
    p = float(stats.binomtest(below, below + above, 0.5).pvalue) if below + above else 1.0
    return {"below": below, "above": above, "ties": len(d) - below - above, "sign_p": p}


MIN_N = 5  # a percentile bootstrap over fewer instances is too narrow to trust (3 give 10 distinct resamples)


def mean_interval(x, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The mean over instances and its percentile-bootstrap interval (NaN bounds under MIN_N instances)."""
    x = np.asarray(x, float)
    x = x[~np.isnan(x)]
    if len(x) < MIN_N:
        return (float(x.mean()) if len(x) else np.nan), np.nan, np.nan
    means = x[np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
    lo, hi = bootstrap.interval(means, level)
    return float(x.mean()), float(lo), float(hi)


def compare(d, level: float = 0.9, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired differences (a - b per instance): the sign test beside the mean difference and its
    paired-bootstrap interval; `decided` when the interval excludes 0."""
    mean, lo, hi = mean_interval(d, level, n_boot, seed)
    return {**sign_test(d), "mean_diff": mean, "lower": lo, "upper": hi,
            "decided": bool(lo > 0 or hi < 0)}

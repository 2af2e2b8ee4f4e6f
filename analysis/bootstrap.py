"""Bootstrap over configurations: resamples, intervals and rank distributions.

The unit of resampling is the *configuration* (not the row): one resample draws
configuration identities with replacement and is applied to every fidelity of a
table, so statistics that compare two fidelities evaluated on the same
configurations are bootstrapped *paired*. Configurations present at only one
fidelity are drawn from the same pool and simply have no row at the other.
A grouped design (`hpobench.spaces.sample(grouped=K)`: configurations drawn in groups that
share some hyperparameters) is resampled by group, the unit that was drawn independently
(a cluster bootstrap; Davison & Hinkley 1997, sec. 3.8): `groups`.

    >>> import numpy as np
    >>> from hpobench.analysis import bootstrap
    >>> rs = bootstrap.resamples(np.array(["a", "b", "c"]), n_boot=2, seed=0)
    >>> len(rs), sorted(rs[0])[0] in "abc"
    (2, True)
    >>> rs = bootstrap.resamples(np.array(["a", "b", "c"]), n_boot=50, seed=0, groups=np.array([0, 0, 1]))
    >>> all(d["a"] == d["b"] for d in rs)  # a and b were drawn together: resampled together
    True
    >>> lo, hi = bootstrap.interval(np.arange(101.0), level=0.9)
    >>> round(float(lo), 6), round(float(hi), 6)
    (5.0, 95.0)
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

import numpy as np


def resamples(keys: np.ndarray, n_boot: int, seed: int = 0, groups: np.ndarray | None = None) -> list[Counter]:
    """n_boot multisets of configuration keys, each as large as the set of distinct keys.

    groups: each row's sampling group (None: every configuration its own, as above): then each
    resample draws as many groups as there are, with replacement, and takes every configuration
    of each drawn group."""
    uniq = np.unique(keys)
    rng = np.random.default_rng(seed)
    if groups is None:
        return [Counter(uniq[rng.integers(0, len(uniq), len(uniq))].tolist()) for _ in range(n_boot)]
    members: dict = {}
    for k, g in zip(np.asarray(keys).tolist(), np.asarray(groups, dtype=object).tolist()):
        members.setdefault(g, set()).add(k)
    clusters = [sorted(m) for _, m in sorted(members.items(), key=lambda kv: str(kv[0]))]
    out = []
    for _ in range(n_boot):
        draw = Counter()
        for i in rng.integers(0, len(clusters), len(clusters)):
            draw.update(clusters[i])
        out.append(draw)
    return out


def identity(draws: list[Counter]) -> str:
    """Names a set of resamples, the same in every process (agreement statistics need one set at
    both fidelities, and stored importances are paired with fresh ones; `hash` is salted per process)."""
    text = json.dumps([sorted(d.items()) for d in draws], default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def counts(keys: np.ndarray, draw: Counter) -> np.ndarray:
    """Multiplicity of each row of a table in one resample (how often its key was drawn)."""
    return np.array([draw.get(k, 0) for k in keys.tolist()])


def interval(reps: np.ndarray, level: float = 0.9, point=None, method: str = "percentile"):
    """Two-sided bootstrap interval along axis 0, ignoring NaN replicates.

    percentile: the replicates' quantiles. basic: reflected around the point
    estimate (2*point - q_hi, 2*point - q_lo), which corrects a bias that the
    resamples reproduce (e.g. a surrogate that shrinks more on fewer points).
    centred: the point estimate plus the replicates' spread around their median
    (point + q_lo - median, point + q_hi - median): always contains the point, and
    ignores a shift of the resamples (a statistic of rankings is noisier, so nearer 0,
    on a resample's ~63% distinct configurations than on the table).
    """
    a = (1 - level) / 2
    lo, hi = np.nanquantile(reps, [a, 1 - a], axis=0)
    if method == "percentile":
        return lo, hi
    if method == "basic":
        if point is None:
            raise ValueError("the basic interval needs the point estimate")
        return 2 * np.asarray(point) - hi, 2 * np.asarray(point) - lo
    if method == "centred":
        if point is None:
            raise ValueError("the centred interval needs the point estimate")
        mid = np.nanmedian(reps, axis=0)
        return np.asarray(point) + lo - mid, np.asarray(point) + hi - mid
    raise ValueError(f"interval method must be 'percentile', 'basic' or 'centred', got {method!r}")


def bias_aware(reps: np.ndarray, level: float, point: np.ndarray, bias: float, null: np.ndarray):
    """Percentile interval widened by a bound on the estimator's bias, and 0 where a null
    hyperparameter could have produced the resamples.

    The bootstrap measures the sampling spread of an estimate, not its bias; a surrogate
    shrinks some shares and inflates others (by up to `bias` times the estimate, calibrated by
    experiments/studies/importance_battery.py: results/importance_battery/README.md), so an honest
    interval adds that bound (Armstrong & Kolesar 2020): (q_lo - bias * point, q_hi + bias * point).
    null: resample shares of a column known to be null (`fanova.fanova(shadow=True)`);
    a lower bound at or below their upper quantile cannot tell the hp from a null one,
    so it becomes 0 (an interval of a share that is truly 0 can then cover it).
    """
    lo, hi = interval(reps, level)
    point = np.asarray(point, float)
    lo, hi = lo - bias * point, hi + bias * point
    null = np.asarray(null, float)
    null = null[np.isfinite(null)]
    if null.size:
        lo = np.where(lo <= np.quantile(null, (1 + level) / 2), 0.0, lo)
    return np.clip(lo, 0, None), hi


def ranks(values: np.ndarray) -> np.ndarray:
    """Rank 1 = most important, along the last axis (ties: order of appearance)."""
    order = np.argsort(-values, axis=-1, kind="stable")
    out = np.empty_like(order)
    np.put_along_axis(out, order, np.arange(1, values.shape[-1] + 1) * np.ones_like(order), -1)
    return out


def rank_distribution(reps: np.ndarray) -> np.ndarray:
    """(d, d) matrix: P[i, r-1] = share of resamples in which hp i has rank r."""
    r = ranks(reps)
    d = reps.shape[1]
    return np.stack([np.bincount(r[:, i] - 1, minlength=d) for i in range(d)]) / len(reps)

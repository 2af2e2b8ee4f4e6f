"""Agreement across fidelities: of importance rankings, and of performance.

Two views side by side, each with a bootstrap interval:

- *importance agreement*: Spearman, Kendall tau-b, weighted tau (top ranks weigh
  more, hyperbolic weights) and top-k overlap between the importance vectors of
  two fidelities. The resamples of `importance.per_fidelity` are shared across
  fidelities, so resample b at fidelity A is paired with resample b at B.
- *performance agreement*: Spearman correlation of the metric of the same
  configurations at the two fidelities (the DeepCAVE / HpBandSter statistic),
  bootstrapped over the common configurations.

Every interval is *centred* (`bootstrap.interval(..., "centred")`): the estimate plus the
resamples' spread around their median, so it is an interval of the same statistic as the
estimate and always contains it. The resamples' own quantiles need not: a ranking from a
resample's ~63% distinct configurations is noisier, so its agreement sits nearer 0.

The Spearman agreement is also corrected for attenuation (Spearman 1904): noise
in either ranking pulls the sample correlation towards 0 by k = sqrt(R_a R_b),
R the ranking's split-half reliability (`importance.split_half`). `corrected` =
estimate / k estimates the agreement of the true importances, and its interval is the
centred one divided by k (clipped to [-1, 1]). Where the reliability is unknown (a table
with fewer than 2 x `importance.MIN_HALF` configurations) the raw estimate and its
centred interval are kept: attenuated towards 0, so a rule reading them errs towards
keeping more hyperparameters. Column `correction` says which.

`reference` gives the noise reference an agreement is judged against: the agreement of
the cheap fidelity *with itself* at the probe's sample size (its ranking from all its
configurations vs from the probe's configurations only, same resamples, same correction).
It is what a probe that ranked exactly like the cheap fidelity would show; an agreement
well below it is a disagreement of the fidelities, one near it is as high as the noise allows.

Hyperparameters with importance 0 by definition at both fidelities (never
varied) are left out of the rank statistics: they would add ties, not information.

    >>> import numpy as np
    >>> from hpobench.analysis import agreement
    >>> round(agreement.statistic("spearman", np.array([3., 2, 1]), np.array([2., 3, 1])), 2)
    0.5
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from hpobench.analysis import bootstrap, encode, errors, trials
from hpobench.analysis import importance as importance_mod
from hpobench.analysis.importance import Importance
from hpobench.fidelity import Fidelity

STATISTICS = ("spearman", "kendall", "weighted_tau", "top_k")


def statistic(name: str, a: np.ndarray, b: np.ndarray, k: int = 3) -> float:
    """One agreement statistic between two importance vectors (larger = more important)."""
    if len(a) < 2:
        raise errors.AnalysisError("agreement needs at least two hyperparameters")
    if name == "top_k":
        k = min(k, len(a))
        ta, tb = set(np.argsort(-a, kind="stable")[:k]), set(np.argsort(-b, kind="stable")[:k])
        return len(ta & tb) / k
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0  # a constant ranking carries no order to agree with (defined, not NaN)
    if name == "spearman":
        return float(stats.spearmanr(a, b).statistic)
    if name == "kendall":
        return float(stats.kendalltau(a, b).statistic)
    if name == "weighted_tau":
        return float(stats.weightedtau(a, b).statistic)
    raise errors.AnalysisError(f"unknown agreement statistic {name!r}; known: {STATISTICS}")


def paired(a: Importance, b: Importance, name: str = "spearman", k: int = 3) -> tuple[float, np.ndarray]:
    """One statistic between two importances: the estimate and its value in every shared
    resample (NaN where either resample failed), so statistics of several pairs can be
    combined resample by resample (a mean over seed pairs, a curve fitted per resample)."""
    if a.names != b.names:
        raise errors.AnalysisError("the two importances are over different hyperparameters")
    if a.extra.get("resamples") != b.extra.get("resamples"):
        raise errors.AnalysisError("the importances were not bootstrapped together (use per_fidelity)")
    keep = np.array([not (n in a.notes and n in b.notes) for n in a.names])
    ok = np.isfinite(a.replicates).all(1) & np.isfinite(b.replicates).all(1)
    reps = np.array([statistic(name, ra[keep], rb[keep], k) if good else np.nan
                     for ra, rb, good in zip(a.replicates, b.replicates, ok)])
    return statistic(name, a.value[keep], b.value[keep], k), reps


def compare(a: Importance, b: Importance, k: int = 3, level: float | None = None,
            correct: bool = True) -> pd.DataFrame:
    """Every statistic between two fidelities' importance: estimate (raw), corrected
    (Spearman: for attenuation; else = estimate), interval, resamples used.

    correct=False: no attenuation correction; every interval is the centred one (`centred`)."""
    level = a.level if level is None else level
    n_hps = sum(not (n in a.notes and n in b.notes) for n in a.names)
    rows = []
    for name in STATISTICS:
        est, reps = paired(a, b, name, k)
        reps = reps[np.isfinite(reps)]
        lo, hi = centred(est, reps, level, name)
        corrected, how = est, "none"
        if name == "spearman" and len(reps) and correct:
            rel = np.sqrt(a.reliability * b.reliability)
            how = "attenuation" if rel > 0 else "none: reliability unknown" if np.isnan(rel) else \
                "none: rankings not reproducible"
            corrected, lo, hi = disattenuate(est, reps, rel, level)
        rows.append(dict(a=a.fidelity.label, b=b.fidelity.label, statistic=name,
                         estimate=est, corrected=corrected, lower=float(lo), upper=float(hi), n_boot=len(reps),
                         n_hps=n_hps, k=k if name == "top_k" else None, correction=how))
    return pd.DataFrame(rows)


def disattenuate(est: float, reps: np.ndarray, k: float, level: float) -> tuple[float, float, float]:
    """Attenuation-corrected correlation and its centred interval (module docstring).

    k unknown (NaN): the raw estimate and its centred interval. k <= 0: the rankings are not
    reproducible, the interval is all of [-1, 1]. The estimate is always inside the interval.
    """
    lo, hi = centred(est, reps, level)
    if np.isnan(k):
        return est, lo, hi
    if not k > 0:
        return est, -1.0, 1.0
    return tuple(float(np.clip(v / k, -1, 1)) for v in (est, lo, hi))


def centred(est: float, reps: np.ndarray, level: float, name: str = "spearman") -> tuple[float, float]:
    """Centred bootstrap interval, clipped to the statistic's range (which holds the estimate)."""
    if not len(reps):
        return np.nan, np.nan
    lo, hi = bootstrap.interval(np.asarray(reps, float), level, est, "centred")
    bottom = 0.0 if name == "top_k" else -1.0
    return float(np.clip(lo, bottom, 1)), float(np.clip(hi, bottom, 1))


def reference(df: pd.DataFrame, space, low: Importance, probe_fidelity: Fidelity | dict,
              statistic_name: str = "spearman", **kw) -> pd.Series:
    """The noise reference of the agreement between `low` and the probe (module docstring).

    df: the table `low` was computed from, holding the probe's rows too; kw: the arguments
    `low` was computed with (`importance.per_fidelity`: method, n_boot, seed, metric, ...).
    Returns the `compare` row of `statistic_name`.
    """
    probe_fidelity = Fidelity.of(probe_fidelity)
    at_low = trials.at(df, low.fidelity)
    probe_keys = encode.config_keys(trials.at(df, probe_fidelity), space)
    twin = at_low[np.isin(encode.config_keys(at_low, space), probe_keys)].copy()
    for k, v in probe_fidelity.items():  # the cheap rows of the probe's configurations, as the probe
        twin[trials.FIDELITY + k] = v
    if not len(twin):
        raise errors.AnalysisError("no probe configuration was evaluated at the low fidelity")
    # the same configuration pool as `df`, so the resamples are the ones `low` was paired with
    pool = pd.concat([at_low, twin], ignore_index=True)
    same = importance_mod.per_fidelity(pool, space, [probe_fidelity], **kw)[probe_fidelity]
    return compare(low, same, level=low.level).set_index("statistic").loc[statistic_name]


def matrix(imps: dict[Fidelity, Importance], statistic_name: str = "spearman", k: int = 3) -> pd.DataFrame:
    """Long table of one statistic between every pair of fidelities (diagonal = 1)."""
    fids = list(imps)
    out = []
    for i, fa in enumerate(fids):
        for fb in fids[i + 1:]:
            df = compare(imps[fa], imps[fb], k)
            out.append(df[df.statistic == statistic_name])
    if not out:
        return pd.DataFrame(columns=["a", "b", "statistic", "estimate", "lower", "upper"])
    return pd.concat(out, ignore_index=True)


def values(ya: pd.Series, yb: pd.Series, draws: list, names=("spearman", "kendall")) -> dict:
    """Rank agreement of two metric vectors indexed by configuration key (the configurations
    in both), bootstrapped with shared configuration resamples (`bootstrap.resamples`; keys
    not in both are skipped), so several pairs can be combined resample by resample.

    Returns {statistic: (estimate, replicates)} and "n": the configurations in both.
    """
    common = ya.index.intersection(yb.index).sort_values()
    if len(common) < 3:
        raise errors.TooFew(f"{len(common)} configuration(s) in both: rank agreement needs 3")
    x, y = ya[common].to_numpy(float), yb[common].to_numpy(float)
    pos = {k: i for i, k in enumerate(common)}
    out = {"n": len(common)}
    idx = [np.repeat([pos[k] for k in d if k in pos], [c for k, c in d.items() if k in pos]) for d in draws]
    for name in names:
        reps = np.array([statistic(name, x[i], y[i]) if len(i) >= 3 else np.nan for i in idx])
        out[name] = (statistic(name, x, y), reps)
    return out


def performance(df: pd.DataFrame, space, fid_a: Fidelity | dict, fid_b: Fidelity | dict, metric="f1",
                n_boot: int = 200, level: float = 0.9, seed: int = 0, failed: str = "drop") -> dict:
    """Spearman of the metric of configurations evaluated at both fidelities, with a CI."""
    fid_a, fid_b = Fidelity.of(fid_a), Fidelity.of(fid_b)
    ea = encode.encode(trials.at(df, fid_a), space, metric=metric, failed=failed, fidelity=fid_a)
    eb = encode.encode(trials.at(df, fid_b), space, metric=metric, failed=failed, fidelity=fid_b)
    ya = pd.Series(ea.y, index=ea.keys).groupby(level=0).mean()  # seeds: mean per configuration
    yb = pd.Series(eb.y, index=eb.keys).groupby(level=0).mean()
    common = ya.index.intersection(yb.index)
    out = dict(a=fid_a.label, b=fid_b.label, statistic="performance_spearman",
               n_configs=len(common))
    if len(common) < 3:
        return {**out, "estimate": np.nan, "lower": np.nan, "upper": np.nan,
                "note": f"{len(common)} configuration(s) at both fidelities: need 3"}
    est, lo, hi = pairs(ya[common].to_numpy(), yb[common].to_numpy(), "spearman", n_boot, level, seed)
    return {**out, "estimate": est, "lower": lo, "upper": hi, "note": ""}


def pairs(x: np.ndarray, y: np.ndarray, name: str = "spearman", n_boot: int = 200, level: float = 0.9,
          seed: int = 0) -> tuple[float, float, float]:
    """Rank agreement of paired values (x[i], y[i]) with its centred bootstrap interval over the pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    rng = np.random.default_rng(seed)
    reps = [statistic(name, x[i], y[i]) for i in (rng.integers(0, len(x), len(x)) for _ in range(n_boot))]
    est = statistic(name, x, y)
    lo, hi = centred(est, np.array(reps), level, name)
    return est, lo, hi

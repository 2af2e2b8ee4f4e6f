"""Importance per fidelity, with bootstrap intervals and rank distributions.

The front door of the importance methods (`fanova`, `ped-anova`, `ablation`):
it selects one fidelity of a trial table, encodes it, computes the point
importance, and repeats on `n_boot` configuration resamples (shared across
fidelities by `per_fidelity`, so agreement statistics are paired). Each resample
refits the surrogate with its own seed (a forest's trees, inactive values redrawn).

fANOVA's default interval is bias-aware (`bootstrap.bias_aware`): the resamples'
5-95% quantiles, widened by BIAS = 0.1 times the estimate (the bootstrap sees the
surrogate's spread, not its bias), with lower bound 0 where a noise column's share
reaches it. Its calibration and coverage against exact shares:
results/importance_battery/README.md.

    >>> import hpobench, pandas as pd
    >>> from hpobench.analysis import importance
    >>> b = hpobench.get("synthetic/agree")
    >>> cs, fid = b.config_space, b.full_fidelity
    >>> rows = [hpobench.trial_row(b.name, dict(c), fid, 0, b.evaluate(c), cs)
    ...         for c in cs.sample_configuration(150)]
    >>> imp = importance.importance(pd.DataFrame(rows), cs, n_boot=10)
    >>> imp.table().columns.tolist()[:4]
    ['hp', 'importance', 'lower', 'upper']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace
from scipy import stats

from hpobench.analysis import ablation, bootstrap, encode, errors, fanova, ped_anova, trials
from hpobench.analysis.scores import Scores
from hpobench.fidelity import Fidelity

METHODS = {"fanova": fanova.fanova, "ped-anova": ped_anova.ped_anova, "ablation": ablation.ablation}
BOOT_TREES = 16  # trees per resample: the interval needs many resamples more than big forests
BIAS = 0.1  # relative bias bound of the boosted surrogate's shares (experiments/studies/importance_battery.py)
SPLITS = 4  # random halvings for the split-half reliability
MIN_HALF = 40  # configurations per half; fewer: a forest ranks 25 hps near-randomly, so the
# reliability is understated and a correction by it explodes (study, 24 configurations: R 0-0.27)


@dataclass
class Importance:
    """One method's importance at one fidelity, with its uncertainty."""

    method: str
    fidelity: Fidelity  # a dict given is made one
    names: list[str]
    value: np.ndarray  # point estimate (fanova: share of the surrogate's variance)
    lower: np.ndarray
    upper: np.ndarray
    level: float
    replicates: np.ndarray  # (B, d) resample estimates; NaN rows where a resample failed
    n_configs: int
    notes: dict[str, str] = field(default_factory=dict)
    interactions: dict[tuple[str, str], float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    reliability: float = np.nan  # of the ranking, split-half + Spearman-Brown (`split_half`)

    def __post_init__(self):
        self.fidelity = Fidelity.of(self.fidelity)

    @property
    def share(self) -> np.ndarray:
        """Importance relative to the sum over hyperparameters (what the scope rule uses)."""
        s = np.clip(self.value, 0, None)
        return s / s.sum() if s.sum() > 0 else s

    @property
    def ranking(self) -> list[str]:
        return [self.names[i] for i in np.argsort(-self.value, kind="stable")]

    def rank_distribution(self) -> np.ndarray:
        ok = np.isfinite(self.replicates).all(1)
        return bootstrap.rank_distribution(self.replicates[ok])

    def table(self) -> pd.DataFrame:
        """One row per hyperparameter, most important first."""
        rd = self.rank_distribution() if len(self.replicates) else None
        rank = bootstrap.ranks(self.value)
        df = pd.DataFrame({
            "hp": self.names, "importance": self.value, "lower": self.lower, "upper": self.upper,
            "share": self.share, "rank": rank,
            "p_rank": [float(rd[i, rank[i] - 1]) if rd is not None and len(rd) else np.nan
                       for i in range(len(self.names))],
            "note": [self.notes.get(n, "") for n in self.names]})
        return df.sort_values("rank").reset_index(drop=True)


def importance(df: pd.DataFrame, space: ConfigurationSpace, method: str = "fanova",
               fidelity: Fidelity | dict | None = None, n_boot: int = 100, level: float = 0.9, seed: int = 0,
               ci: str | None = None, failed: str = "drop", metric="f1", **kw) -> Importance:
    """Importance of every hyperparameter at `fidelity` (default: the table must hold one).

    ci: "percentile", "basic" or "bias-aware" (`bootstrap.bias_aware`); default
    bias-aware for fANOVA's boosted surrogate, percentile otherwise.

    metric: the record's metric, a `hpobench.Metric` or a name (`encode.encode`).
    """
    if fidelity is None:
        fids = trials.fidelities(df)
        if len(fids) > 1:
            raise errors.AnalysisError(f"the table holds {len(fids)} fidelities; pick one: "
                                     + "; ".join(f.label for f in fids))
        fidelity = fids[0]
    draws = bootstrap.resamples(encode.config_keys(df, space), n_boot, seed, trials.clusters(df))
    return _at(df, space, method, fidelity, draws, level, seed, ci, failed, metric, kw)


def per_fidelity(df: pd.DataFrame, space: ConfigurationSpace, fidelities: list[Fidelity | dict] | None = None,
                 method: str = "fanova", n_boot: int = 100, level: float = 0.9, seed: int = 0,
                 ci: str | None = None, failed: str = "drop", metric="f1",
                 skipped: dict | None = None, reliability: bool = True, **kw) -> dict[Fidelity, Importance]:
    """Importance at each fidelity, keyed by its Fidelity (in the order given; by default every
    fidelity of the table, cheapest first), with the same resamples at every fidelity.

    reliability: also estimate the ranking's split-half reliability (`split_half`, for the
    attenuation correction); False leaves it NaN and saves its 2 x SPLITS refits per fidelity.

    skipped: a dict to skip fidelities with too few configurations for the method (e.g.
    the top rungs of a Hyperband run), filled with Fidelity -> why; None: they raise. When
    every fidelity is skipped it raises, naming each one and why.
    """
    fidelities = trials.fidelities(df) if fidelities is None else [Fidelity.of(f) for f in fidelities]
    draws = bootstrap.resamples(encode.config_keys(df, space), n_boot, seed, trials.clusters(df))
    out, why = {}, {}
    for f in fidelities:
        try:
            out[f] = _at(df, space, method, f, draws, level, seed, ci, failed, metric, kw, reliability)
        except errors.TooFew as e:
            if skipped is None:
                raise
            why[f] = str(e)
    if skipped is not None:
        skipped.update(why)
        if not out:
            raise errors.AnalysisError("no fidelity has enough configurations for " + method + ": "
                                     + "; ".join(f"{k}: {v}" for k, v in why.items()))
    return out


def _at(df, space, method, fidelity, draws, level, seed, ci, failed, metric, kw, reliability=True) -> Importance:
    if method not in METHODS:
        raise errors.AnalysisError(f"unknown importance method {method!r}; known: {sorted(METHODS)}")
    fn = METHODS[method]
    fidelity = Fidelity.of(fidelity)
    rows = trials.at(df, fidelity)
    if rows.empty:
        raise errors.AnalysisError(f"no trial at fidelity {fidelity.label}")
    enc = encode.encode(rows, space, metric=metric, failed=failed, fidelity=fidelity)
    point: Scores = fn(enc, **_point_kw(method, kw, seed))
    boosted = method == "fanova" and kw.get("surrogate", "boost") == "boost"
    ci = ci or ("bias-aware" if boosted else "percentile")
    if ci == "bias-aware" and not boosted:
        raise errors.AnalysisError("the bias-aware interval is calibrated for fANOVA's boosted surrogate only")
    reps = np.full((len(draws), len(enc.names)), np.nan)
    null = np.full(len(draws), np.nan)  # the share of a noise column in each resample
    failures = 0
    for b, draw in enumerate(draws):
        try:
            s = fn(enc.weighted(bootstrap.counts(enc.keys, draw)),
                   **_boot_kw(method, kw, seed + 1 + b), **({"shadow": True} if boosted else {}))
            reps[b], null[b] = s.value, s.extra.get("shadow", np.nan)
        except errors.AnalysisError:
            failures += 1  # e.g. a resample with too few distinct configurations
    notes = dict(point.notes)
    rel = split_half(fn, enc, _boot_kw(method, kw, seed), seed) if len(draws) and reliability else np.nan
    if failures:
        notes["bootstrap"] = f"{failures} of {len(draws)} resamples failed (too few configurations)"
    if len(draws) and failures < len(draws):
        if ci == "bias-aware":
            lo, hi = bootstrap.bias_aware(reps, level, point.value, BIAS, null)
        else:
            lo, hi = bootstrap.interval(reps, level, point.value, ci)
        if method != "ablation":  # shares and divergences are >= 0; a basic interval may cross 0
            lo = np.clip(lo, 0, None)
    else:
        lo = hi = np.full(len(enc.names), np.nan)
        if len(draws):
            raise errors.TooFew(f"every bootstrap resample failed at {fidelity.label} "
                              f"({len(np.unique(enc.keys))} configurations: too few for resamples)")
    return Importance(method, fidelity, enc.names, point.value, lo, hi, level, reps,
                      len(np.unique(enc.keys)), notes, point.interactions,
                      {**point.extra, "dropped": enc.dropped, "encoded": enc, "resamples": bootstrap.identity(draws),
                       "null_replicates": null, "ci": ci}, rel)


def split_half(fn, enc, kw, seed: int, splits: int = SPLITS) -> float:
    """Reliability of the importance ranking at the table's size.

    Mean Spearman r between the rankings of two disjoint random halves of the
    configurations, stepped up to the whole table by Spearman-Brown, 2r / (1 + r).
    Real halves, not resamples: a forest on a bootstrap resample sees ~63% distinct
    configurations and ranks noisier than one on the table (so resamples overstate
    the noise). 0 when the halves do not agree at all; NaN when a half has fewer than
    MIN_HALF configurations (unknown: agreement is then reported uncorrected).
    """
    keys = np.unique(enc.keys)
    if len(keys) // 2 < MIN_HALF:
        return np.nan
    rng = np.random.default_rng(seed)
    rs = []
    for k in range(splits):
        first = np.isin(enc.keys, keys[rng.permutation(len(keys)) < len(keys) // 2])
        seeds = [{"seed": kw["seed"] + 1000 + 2 * k + i} if "seed" in kw else {} for i in (0, 1)]
        try:
            a, b = (fn(enc.weighted(m.astype(int)), **{**kw, **sd}).value for m, sd in zip((first, ~first), seeds))
        except errors.AnalysisError:
            return np.nan
        rs.append(stats.spearmanr(a, b).statistic if np.ptp(a) > 0 and np.ptp(b) > 0 else 0.0)
    r = float(np.mean(rs))
    return 2 * r / (1 + r) if r > 0 else 0.0


def _point_kw(method, kw, seed):
    kw = {k: v for k, v in kw.items() if k != "boot_trees"}
    return {**kw, "seed": seed} if method != "ped-anova" else kw


def _boot_kw(method, kw, seed):
    if method == "ped-anova":
        return dict(kw)
    out = {**kw, "seed": seed}
    trees = out.pop("boot_trees", BOOT_TREES)
    if method != "fanova" or out.get("surrogate") == "forest":
        out["n_trees"] = trees  # a forest's resamples; the boosted surrogate is refitted as it is
    if method == "fanova":
        out["pairs"] = 0  # interactions are reported for the point estimate only
    return out

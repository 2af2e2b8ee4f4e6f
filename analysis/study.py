"""A multi-fidelity study made reportable: the seed-to-seed noise ceiling, cross-fidelity
agreement beside it, agreement against cost ratio with a fitted curve, a budget table for
practitioners, and the learning-rate hierarchy claim, each with 90% bootstrap intervals.

Every statistic is a raw rank correlation (Spearman, Kendall tau-b); nothing is corrected
for attenuation. What the agreement is judged against is measured instead: the *noise
ceiling* at a fidelity is the agreement between two training seeds at that same fidelity,
on the same configurations (the seed replicates). Three kinds of comparison, one row each:

- ``ceiling``: fidelity f at seed s vs f at seed t (mean over the seed pairs s < t);
- ``cross``: a low fidelity vs full at the same seed (mean over the seeds in the table);
- ``cross_seed``: low at seed s vs full at seed t != s (mean over ordered pairs): the
  fidelity changes *and* the seed does, so it is directly comparable with the ceiling at full.

Two views, each a comparison of two vectors: *importance* (fANOVA shares of the 25
hyperparameters, `importance.per_fidelity`, boosted surrogate) and *performance* (the
metric of the configurations). Intervals bootstrap configurations: one set of resamples
is shared by every fidelity and seed of a table (`bootstrap.resamples` over its keys), so
a statistic averaged over seed pairs, or a curve fitted across rungs, is computed resample
by resample and its interval is the 5-95% quantile of those.

    >>> import numpy as np
    >>> c = fit_curve(np.array([0.01, 0.1, 0.5]), np.array([0.3, 0.6, 0.8]), np.zeros((0, 3)))
    >>> round(c["slope"], 2) > 0
    True
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from hpobench.analysis import agreement, bootstrap, encode, errors, importance, trials
from hpobench.analysis.importance import Importance
from hpobench.fidelity import Fidelity

STATISTICS = ("spearman", "kendall")
VIEWS = ("importance", "performance")
CLIP = 0.995  # |rho| bound before Fisher's z (a resample at exactly 1 would be infinite)


# ---------------------------------------------------------------- tables

def recorded(df: pd.DataFrame, space, fidelities: list[Fidelity], seeds) -> pd.DataFrame:
    """Rows (at `fidelities`, `seeds`) of the configurations recorded at every one of those
    fidelities for every one of those seeds: paired tables with one key set, so resamples
    drawn from it apply to each fidelity and seed alike (a grid stopped mid-configuration
    leaves a partial configuration out)."""
    seeds = list(seeds)
    if "seed" not in df:
        raise errors.AnalysisError("the records have no 'seed' column")
    rows = df[df["seed"].isin(seeds)]
    parts = [trials.at(rows, f).assign(_fid=i) for i, f in enumerate(fidelities)]
    rows = pd.concat(parts) if parts else rows.iloc[:0].assign(_fid=0)
    rows = rows.assign(_key=encode.config_keys(rows, space))
    have = rows.groupby("_key")[["_fid", "seed"]].apply(lambda g: len(set(zip(g["_fid"], g["seed"]))))
    full = have.index[have == len(fidelities) * len(seeds)]
    return rows[rows["_key"].isin(full)].drop(columns=["_fid", "_key"])


def costs(df: pd.DataFrame, fidelities: list[Fidelity]) -> dict[Fidelity, float]:
    """Median recorded cost (full-data, native-resolution epoch equivalents) of each fidelity in `df`
    (the rows of a table cut from the records, which `trials.fidelities` of the records need not match)."""
    out = {}
    for f in map(Fidelity.of, fidelities):
        c = trials.at(df, f)["cost"]
        if not c.notna().any():
            raise errors.AnalysisError(f"no recorded cost at {f.label}")
        out[f] = float(c.median())
    return out


def metric_by_config(df: pd.DataFrame, space, fidelity: Fidelity | dict, metric="f1") -> pd.Series:
    """The metric (larger is better) of each configuration at `fidelity`, by configuration key."""
    enc = encode.encode(trials.at(df, fidelity), space, metric=metric, fidelity=fidelity)
    return pd.Series(enc.y, index=enc.keys).groupby(level=0).mean()


def importances(df: pd.DataFrame, space, fidelities: list[Fidelity], n_boot: int, seed: int = 0,
                level: float = 0.9, metric="f1") -> dict[Fidelity, Importance]:
    """fANOVA at each fidelity (the default boosted surrogate), resamples shared across fidelities."""
    return importance.per_fidelity(df, space, fidelities, "fanova", n_boot, level, seed, metric=metric,
                                   reliability=False)


# ---------------------------------------------------------------- agreement rows

def centred(est, reps: np.ndarray, level: float = 0.9, bounds=(-1.0, 1.0)):
    """The resamples' 5-95% spread placed around the estimate: est + (quantile - resample mean),
    along axis 0, clipped to `bounds`. Not the plain percentile interval: an importance on a
    resample sees ~63% distinct configurations, so its surrogate ranks more noisily than the
    one on the whole table and the resamples' agreement sits below the estimate (by 0.1-0.3 at
    42 configurations) - a shift of location, not sampling uncertainty. Each comparison (ceiling
    and cross alike) is treated the same way, so they stay comparable."""
    reps = np.asarray(reps, float)
    reps = reps[np.isfinite(reps).all(axis=tuple(range(1, reps.ndim)))] if reps.ndim > 1 else reps[np.isfinite(reps)]
    if not len(reps):
        nan = np.full(np.shape(est), np.nan)
        return nan, nan
    lo, hi = bootstrap.interval(reps - reps.mean(axis=0), level)
    return tuple(np.clip(np.asarray(est) + d, *bounds) for d in (lo, hi))


def summary(est: float, reps: np.ndarray, level: float = 0.9) -> tuple[float, float, float]:
    lo, hi = centred(est, reps, level)
    return float(est), float(lo), float(hi)


def mean_of(pairs: list[tuple[float, np.ndarray]]) -> tuple[float, np.ndarray]:
    """Mean over pairs of the estimate, and resample by resample of the replicates."""
    return float(np.mean([e for e, _ in pairs])), np.mean([r for _, r in pairs], axis=0)


def _stat(view: str, name: str, a, b, draws) -> tuple[float, np.ndarray]:
    if view == "importance":
        return agreement.paired(a, b, name)
    return agreement.values(a, b, draws, (name,))[name]


def rows(imps: dict[int, dict[Fidelity, Importance]], ys: dict[int, dict[Fidelity, pd.Series]], draws: list,
         cost: dict[Fidelity, float], full: Fidelity, level: float = 0.9, **tags) -> pd.DataFrame:
    """Every comparison (module docstring) of a table's seeds and fidelities, both views.

    imps / ys: seed -> Fidelity -> importance / metric by configuration, all from one
    `recorded` table and the same `draws`. A fidelity whose importance could not be computed
    (too few configurations) is absent from `imps` and its importance rows are skipped.
    Columns: the tags, view, kind, a, b (fidelity labels), cost_ratio (cost of a / cost of full),
    statistic, estimate, lower, upper, n_configs, seeds, replicates (array per row).
    """
    seeds = sorted(ys)
    out = []

    def add(view, kind, a, b, pairs):
        for name in STATISTICS:
            got = sources[view]
            vals = [(got[s][a], got[t][b]) for s, t in pairs if a in got.get(s, {}) and b in got.get(t, {})]
            if not vals:
                continue
            est, reps = mean_of([_stat(view, name, x, y, draws) for x, y in vals])
            e, lo, hi = summary(est, reps, level)
            out.append(dict(**tags, view=view, kind=kind, a=a.label, b=b.label, cost_ratio=cost[a] / cost[full],
                            statistic=name, estimate=e, lower=lo, upper=hi, n_configs=len(ys[seeds[0]][full]),
                            seeds=len({s for p in pairs for s in p}), replicates=reps))

    sources = {"importance": imps, "performance": ys}
    for view in VIEWS:
        for f in cost:
            if len(seeds) > 1:
                add(view, "ceiling", f, f, list(itertools.combinations(seeds, 2)))
            if f != full:
                add(view, "cross", f, full, [(s, s) for s in seeds])
                if len(seeds) > 1:
                    add(view, "cross_seed", f, full, [(s, t) for s in seeds for t in seeds if s != t])
    return pd.DataFrame(out)


# ---------------------------------------------------------------- agreement vs cost ratio

def fisher(r) -> np.ndarray:
    return np.arctanh(np.clip(r, -CLIP, CLIP))


def lines(ratio, replicates) -> np.ndarray:
    """(B, 2): slope and intercept of Fisher's z linear in log10(ratio), one line per finite resample
    (`replicates`: (B, rungs))."""
    x = np.log10(np.asarray(ratio, float))
    reps = np.asarray(replicates, float).reshape(-1, len(x))
    return np.array([np.polyfit(x, fisher(r), 1) for r in reps[np.isfinite(reps).all(1)]]).reshape(-1, 2)


def fit_curve(ratio: np.ndarray, estimate: np.ndarray, replicates: np.ndarray, level: float = 0.9,
              grid: np.ndarray | None = None) -> dict:
    """Agreement against cost ratio: Fisher's z of the correlation, linear in log10(ratio).

    z(rho) = intercept + slope * log10(ratio), least squares over the rungs; refitted on each
    resample (`replicates`: (B, rungs), the rungs' statistics in shared resamples) for the
    parameters' and the curve's intervals (`centred`). Predictions are back on the correlation scale.
    """
    ratio, estimate = np.asarray(ratio, float), np.asarray(estimate, float)
    if len(ratio) < 2 or np.ptp(np.log10(ratio)) == 0:
        raise errors.AnalysisError(f"a curve needs at least two distinct cost ratios, got {sorted(set(ratio))}")
    x = np.log10(ratio)
    grid = np.geomspace(ratio.min(), 1.0, 25) if grid is None else np.asarray(grid, float)
    slope, icpt = np.polyfit(x, fisher(estimate), 1)
    fits = lines(ratio, replicates)
    band = np.tanh(fits[:, 1:] + fits[:, :1] * np.log10(grid)) if len(fits) else np.full((0, len(grid)), np.nan)
    fit = np.tanh(icpt + slope * np.log10(grid))
    (slo, shi), (ilo, ihi) = (centred(v, fits[:, i], level, (-np.inf, np.inf)) for i, v in enumerate((slope, icpt)))
    blo, bhi = centred(fit, band, level)
    return {"slope": float(slope), "intercept": float(icpt), "slope_ci": [float(slo), float(shi)],
            "intercept_ci": [float(ilo), float(ihi)], "grid": grid.tolist(), "fit": fit.tolist(),
            "lower": np.asarray(blo).tolist(), "upper": np.asarray(bhi).tolist(), "n_rungs": len(x),
            "n_boot": len(fits),
            "residual_sd": float(np.std(fisher(estimate) - (icpt + slope * x), ddof=min(2, len(x) - 1)))}


def predict(curve: dict, ratio: float) -> float:
    return float(np.tanh(curve["intercept"] + curve["slope"] * np.log10(ratio)))


def transfer(ratio_a, est_a, reps_a, ratio_b, est_b, reps_b, at: float, level: float = 0.9) -> dict:
    """Do two studies' curves differ (two scales, or two datasets)? Both curves at one cost ratio
    `at` (inside both ranges) and their slopes: the differences b - a, with intervals from the
    differences of the two studies' resampled curves (resample b of one beside resample b of the
    other: independent draws for two datasets; the same draws for a scale against another scale's
    full measured on its configurations). With equally many resamples, one that is non-finite in
    either is dropped from both, so shared draws stay paired."""
    ca, cb = fit_curve(ratio_a, est_a, reps_a, level, [at]), fit_curve(ratio_b, est_b, reps_b, level, [at])
    ra = np.asarray(reps_a, float).reshape(-1, len(ratio_a))
    rb = np.asarray(reps_b, float).reshape(-1, len(ratio_b))
    if len(ra) == len(rb):
        keep = np.isfinite(ra).all(1) & np.isfinite(rb).all(1)
        ra, rb = ra[keep], rb[keep]
    la, lb = lines(ratio_a, ra), lines(ratio_b, rb)
    n = min(len(la), len(lb))
    la, lb = la[:n], lb[:n]
    diff = np.tanh(lb[:, 1] + lb[:, 0] * np.log10(at)) - np.tanh(la[:, 1] + la[:, 0] * np.log10(at))
    a, b = ca["fit"][0], cb["fit"][0]
    lo, hi = centred(b - a, diff, level, (-2.0, 2.0))
    ds = cb["slope"] - ca["slope"]
    slo, shi = centred(ds, lb[:, 0] - la[:, 0], level, (-np.inf, np.inf))
    return {"at": at, "a": a, "b": b, "difference": b - a, "lower": float(lo), "upper": float(hi),
            "same": bool(lo <= 0 <= hi) if np.isfinite(lo) else None, "slope_a": ca["slope"],
            "slope_b": cb["slope"], "slope_difference": ds, "slope_lower": float(slo), "slope_upper": float(shi),
            "same_slope": bool(slo <= 0 <= shi) if np.isfinite(slo) else None}


# ---------------------------------------------------------------- which knob to lower

def knobs(rungs: pd.DataFrame, replicates: np.ndarray, factor: float = 1.25, level: float = 0.9) -> pd.DataFrame:
    """Which knob to lower at (nearly) equal cost: every pair of rungs of one table whose cost ratios
    are within `factor` of each other, the difference b - a of their agreement with full (a the
    cheaper, then the first label) and its interval, paired resample by resample (the rungs of a
    table share their resamples; one non-finite in either is dropped from both).

    rungs: a (label), cost_ratio, estimate, one row per rung; replicates: (B, rungs) in that order.
    Columns: a, b, cost_a, cost_b, difference, lower, upper, decided (the interval excludes 0)."""
    reps = np.asarray(replicates, float).reshape(-1, len(rungs))
    r = rungs.reset_index(drop=True).assign(_i=np.arange(len(rungs))).sort_values(["cost_ratio", "a"])
    out = []
    for (_, x), (_, y) in itertools.combinations(r.iterrows(), 2):
        if y["cost_ratio"] > factor * x["cost_ratio"] * (1 + 1e-9):  # 0.125 / 0.1 is 1.25 in float, too
            continue
        d = y["estimate"] - x["estimate"]
        lo, hi = centred(d, reps[:, y["_i"]] - reps[:, x["_i"]], level, (-2.0, 2.0))  # NaN in either: dropped
        out.append({"a": x["a"], "b": y["a"], "cost_a": x["cost_ratio"], "cost_b": y["cost_ratio"], "difference": d,
                    "lower": float(lo), "upper": float(hi), "decided": bool(lo > 0 or hi < 0)})
    return pd.DataFrame(out, columns=["a", "b", "cost_a", "cost_b", "difference", "lower", "upper", "decided"])


# ---------------------------------------------------------------- practitioner's table

def budget_table(rungs: pd.DataFrame, curve: dict, n_scope: int, shares=(0.02, 0.05, 0.1, 0.25),
                 budgets=(50, 200)) -> pd.DataFrame:
    """For a tuning budget (in full trainings) and the share of it spent on scoping `n_scope`
    configurations: the costliest affordable cost ratio (share x budget / n_scope), the rung
    to use (the measured one of highest agreement among those affordable) and the agreement
    to expect there: measured [90% CI] and the curve's prediction at its cost ratio.

    rungs: one row per low fidelity: a (label), cost_ratio, estimate, lower, upper.
    """
    out = []
    for b in budgets:
        for s in shares:
            cap = s * b / n_scope
            ok = rungs[rungs["cost_ratio"] <= cap * (1 + 1e-9)]
            row = {"budget (full trainings)": b, "scoping share": s, "max cost ratio": cap}
            if ok.empty:
                out.append({**row, "fidelity": f"none (cheapest costs {rungs['cost_ratio'].min():.3g})",
                            "cost ratio": np.nan, "measured": np.nan, "lower": np.nan, "upper": np.nan,
                            "curve": np.nan})
                continue
            r = ok.sort_values(["estimate", "cost_ratio"], ascending=[False, True]).iloc[0]
            out.append({**row, "fidelity": r["a"], "cost ratio": r["cost_ratio"], "measured": r["estimate"],
                        "lower": r["lower"], "upper": r["upper"], "curve": predict(curve, r["cost_ratio"])})
    return pd.DataFrame(out)


# ---------------------------------------------------------------- the hierarchy claim

def hierarchy(imp: Importance, hp: str = "learning_rate", claim=(7.0, 20.0), level: float = 0.9) -> list[dict]:
    """"`hp` is 7-20x more important than the rest", tested two ways: against the largest share
    among the other hyperparameters that vary and against their mean share. Ratio of fANOVA
    shares with its 90% percentile interval over the importance's resamples; verdict: "holds" when the
    interval lies inside the claimed range, "refuted" when it lies wholly outside, else
    "undecided"."""
    if hp not in imp.names:
        raise errors.AnalysisError(f"{hp!r} is not a hyperparameter of the importance ({imp.names[:4]}...)")
    i = imp.names.index(hp)
    others = np.array([j for j, n in enumerate(imp.names) if j != i and n not in imp.notes])
    reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
    out = []
    for against, pick in (("largest other share", lambda v: v[..., others].max(-1)),
                          ("mean of the others", lambda v: v[..., others].mean(-1))):
        est = float(imp.value[i] / max(pick(imp.value), 1e-12))
        rr = reps[:, i] / np.maximum(pick(reps), 1e-12)
        e = est  # a ratio's resamples are skewed and unbounded: the plain percentile interval
        lo, hi = (float(v) for v in bootstrap.interval(rr, level)) if len(rr) else (np.nan, np.nan)
        verdict = ("undecided" if not np.isfinite(lo) else "holds" if claim[0] <= lo and hi <= claim[1]
                   else "refuted" if hi < claim[0] or lo > claim[1] else "undecided")
        out.append({"fidelity": imp.fidelity.label, "hp": hp, "against": against, "ratio": e, "lower": lo,
                    "upper": hi, "claim": f"{claim[0]:g}-{claim[1]:g}x", "verdict": verdict,
                    "share": float(imp.share[i]), "rank": imp.ranking.index(hp) + 1, "top": imp.ranking[0],
                    "n_configs": imp.n_configs, "n_boot": len(rr)})
    return out


# ---------------------------------------------------------------- storing importances

def to_frame(imps: dict[Fidelity, Importance]) -> pd.DataFrame:
    """Importances as one long table (kind value / lower / upper / replicate b, one column per
    hyperparameter) that `from_frame` turns back into Importance objects, for resuming."""
    parts = []
    for f, imp in imps.items():
        m = np.vstack([imp.value, imp.lower, imp.upper, imp.replicates])
        kinds = ["value", "lower", "upper"] + ["replicate"] * len(imp.replicates)
        b = [-1, -1, -1] + list(range(len(imp.replicates)))
        parts.append(pd.DataFrame(m, columns=imp.names).assign(fidelity=f.label, kind=kinds, b=b))
    return pd.concat(parts, ignore_index=True)


def meta_of(imps: dict[Fidelity, Importance]) -> dict:
    """What `from_frame` needs beside the table, by fidelity label (JSON-ready)."""
    return {f.label: {"fidelity": dict(imp.fidelity), "notes": imp.notes, "n_configs": imp.n_configs,
                      "level": imp.level, "resamples": str(imp.extra.get("resamples"))} for f, imp in imps.items()}


def from_frame(df: pd.DataFrame, meta: dict) -> dict[Fidelity, Importance]:
    out = {}
    for lab, m in meta.items():
        f = Fidelity.of(m["fidelity"])
        g = df[df["fidelity"] == lab]
        names = [c for c in df.columns if c not in ("fidelity", "kind", "b")]
        row = {k: g.loc[g["kind"] == k, names].to_numpy(float)[0] for k in ("value", "lower", "upper")}
        reps = g[g["kind"] == "replicate"].sort_values("b")[names].to_numpy(float)
        out[f] = Importance("fanova", f, names, row["value"], row["lower"], row["upper"], m["level"],
                            reps, m["n_configs"], m["notes"], extra={"resamples": m["resamples"]})
    return out

"""Ours vs Optuna's fANOVA side by side on the analytic battery, whose importance is exact.

The battery is `hpobench.benchmarks.analytic.battery()`: 8 objectives on ConfigSpaces
whose variance decomposition under uniform sampling is known in closed form (that
module's docstring derives every truth). Optuna's evaluator keeps only the
hyperparameters present in every trial, so it scores a conditional child 0.

The harness (`run`, stage "run"): for each objective, n in NS and seed, one table
(uniform draws, the same for every estimator), then
- ours: `hpobench.analysis.importance.importance(df, space, n_boot=...)`, its defaults
  (boosted surrogate, bias-aware 90% intervals; CPU s per call with and without resamples);
- before: the same with surrogate="forest" (point estimate);
- Optuna: `FanovaImportanceEvaluator(seed=...)` on the same trials (its defaults:
  64 trees, max_depth 64, all features, per-tree decomposition), and ours' point
  estimate timed again beside it, in the same process (the speed ratio);
scored by Kendall tau-b of the estimate vs the exact shares, L1 of the normalised
shares (estimate / sum vs truth / sum) and, for ours, whether each interval covers
the exact share. Writes results/importance_battery/{runs.csv, intervals.csv,
summary.json, summary.md}; resumable, so it can run in chunks of n. Stages
"calibrate" and "intervals" choose the surrogate's settings and the interval's bias
bound on other seeds (CAL_SEEDS); results/importance_battery/README.md has the runs.

    taskset -c 0 .venv/bin/python -m hpobench.experiments.studies.importance_battery --n 30 50 100 --seeds 5 --n-boot 40
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from hpobench import spaces
from hpobench.analysis import encode, importance
from hpobench.benchmarks.analytic import Objective, battery, table

OUT = Path("results/importance_battery")
NS = (30, 50, 100, 300, 1000)
BATTERY = battery()


# ---------------------------------------------------------------- Optuna on the same trials

def optuna_study(obj: Objective, configs: list[dict], y: np.ndarray):
    """The table's trials as an Optuna study (active hps only: a child is absent where inactive)."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
    dist = {}
    for k in obj.names:
        hp = obj.space[k]
        if hasattr(hp, "choices"):
            dist[k] = CategoricalDistribution(list(hp.choices))
        elif spaces.cells(obj.space, k) is not None:
            dist[k] = IntDistribution(hp.lower, hp.upper)
        else:
            dist[k] = FloatDistribution(hp.lower, hp.upper, log=hp.log)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trials([optuna.trial.create_trial(params=c, distributions={k: dist[k] for k in c}, value=float(v))
                      for c, v in zip(configs, y)])
    return study


def optuna_fanova(obj: Objective, configs: list[dict], y: np.ndarray, seed: int) -> np.ndarray:
    """Optuna's FanovaImportanceEvaluator (its defaults), unnormalised; 0 for hps it leaves out."""
    from optuna.importance import FanovaImportanceEvaluator
    study = optuna_study(obj, configs, y)
    imp = FanovaImportanceEvaluator(seed=seed).evaluate(study)
    return np.array([imp.get(k, 0.0) for k in obj.names])


# ---------------------------------------------------------------- scores

def normalised(v: np.ndarray) -> np.ndarray:
    v = np.clip(np.asarray(v, float), 0, None)
    return v / v.sum() if v.sum() > 0 else np.full(len(v), 1 / len(v))


def scores(truth: np.ndarray, est: np.ndarray) -> dict:
    tau = stats.kendalltau(truth, est).statistic  # tau-b: ties in the truth (null hps) count as such
    return {"tau": float(tau) if np.isfinite(tau) else 0.0,
            "l1": float(np.abs(normalised(est) - normalised(truth)).sum())}


# ---------------------------------------------------------------- calibration (seeds 100+, never reported below)

CAL_SEEDS = range(100, 103)
SETTINGS = {  # surrogates compared by `calibrate_settings`; the first is the default (fanova.BOOST)
    "boost: 2 stages (300 + 100 trees)": dict(),
    "boost: 2 stages (300 + 300)": dict(interactions=300),
    "boost: 2 stages, lr 0.05": dict(learning_rate=0.05),
    "boost: 2 stages, leaf 5": dict(min_samples_leaf=5),
    "boost: 1 stage (300, no hierarchy)": dict(staged=False),
    "forest (before: max_features 0.2)": dict(surrogate="forest"),
    "forest (Optuna's settings)": dict(surrogate="forest", max_features=1.0, min_samples_leaf=1),
}


def _tables(ns, seeds):
    """(objective, its exact shares, n, seed, trial table) for every table of the battery."""
    for obj in BATTERY:
        tv = obj.shares()
        for n in ns:
            for s in seeds:
                yield obj, tv, n, s, table(obj, n, s)[0]


def calibrate_settings(ns=NS, seeds=CAL_SEEDS) -> pd.DataFrame:
    """tau and L1 of each boosted setting (and the forest before) on calibration tables."""
    from hpobench.analysis import fanova
    rows = []
    for obj, tv, n, s, df in _tables(ns, seeds):
        enc = encode.encode(df, obj.space)
        for name, kw in SETTINGS.items():
            t = time.process_time()
            v = fanova.fanova(enc, seed=s, pairs=0, **kw).value
            rows.append(dict(objective=obj.name, n=n, seed=s, setting=name,
                             cpu_s=time.process_time() - t, **scores(tv, v)))
    out = pd.DataFrame(rows)
    out.to_csv(OUT / "calibrate_settings.csv", index=False)
    return out


def calibrate_intervals(ns=(50, 100, 300, 1000), seeds=CAL_SEEDS, n_boot: int = 40) -> pd.DataFrame:
    """Per hp of calibration tables: the estimate, the resamples' 5% / 95% quantiles and mean,
    and the 95% quantile of the noise column's resample shares (`bootstrap.bias_aware`),
    from which `interval_coverage` scores any interval method."""
    rows = []
    for obj, tv, n, s, df in _tables(ns, seeds):
        imp = importance.importance(df, obj.space, n_boot=n_boot, seed=s)
        reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
        q_lo, q_hi = np.quantile(reps, [0.05, 0.95], axis=0)
        null_hi = float(np.nanquantile(imp.extra["null_replicates"], 0.95))
        for j, name in enumerate(obj.names):
            rows.append(dict(objective=obj.name, n=n, seed=s, hp=name, truth=tv[j], estimate=imp.value[j],
                             q_lo=q_lo[j], q_hi=q_hi[j], boot_mean=reps[:, j].mean(), null_hi=null_hi))
    out = pd.DataFrame(rows)
    out.to_csv(OUT / "calibrate_intervals.csv", index=False)
    return out


def interval_bounds(d: pd.DataFrame, method: str, bias: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of each row's 90% interval: percentile, basic (reflected), or bias-aware with `bias`."""
    if method == "percentile":
        lo, hi = d.q_lo.to_numpy(), d.q_hi.to_numpy()
    elif method == "basic":
        lo, hi = 2 * d.estimate - d.q_hi, 2 * d.estimate - d.q_lo
    else:
        lo, hi = d.q_lo - bias * d.estimate, d.q_hi + bias * d.estimate
        lo = np.where(lo <= d.null_hi, 0.0, lo)
    return np.clip(np.asarray(lo, float), 0, None), np.asarray(hi, float)


def interval_coverage(d: pd.DataFrame, biases=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5)) -> pd.DataFrame:
    """Coverage by n (all hps, true share > 0, true share 0) of each method."""
    rows = []
    for label, method, b in [("percentile", "percentile", 0.0), ("basic", "basic", 0.0)] + \
            [(f"bias-aware {b:g}", "bias-aware", b) for b in biases]:
        lo, hi = interval_bounds(d, method, b)
        cov = (lo <= d.truth) & (d.truth <= hi)
        for n, g in d.assign(covered=cov, width=hi - lo).groupby("n"):
            rows.append(dict(method=label, n=n, coverage=g.covered.mean(),
                             coverage_nonzero=g.covered[g.truth > 0].mean(),
                             coverage_zero=g.covered[g.truth == 0].mean(), mean_width=g.width.mean(), cases=len(g)))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the side-by-side harness

ESTIMATORS = ("ours", "ours (before: forest)", "optuna")
KEY = ["objective", "n", "seed", "estimator"]


def run(ns=NS, seeds=range(5), n_boot: int = 40, objectives=None, estimators=ESTIMATORS) -> pd.DataFrame:
    """Every estimator on identical tables; resumable (rows already in runs.csv are kept, not redone).

    ours: `importance.importance(df, space, n_boot=n_boot, seed=seed)`, its default (the
    boosted surrogate, bias-aware 90% intervals); cpu_s is that whole call, point_cpu_s the
    call without resamples (n_boot=0). before: the forest surrogate (point estimate only).
    optuna: FanovaImportanceEvaluator(seed=seed) on the same trials. CPU seconds per call
    (process time): the machine is shared, so only ratios within one run mean something.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    runs_path, iv_path = OUT / "runs.csv", OUT / "intervals.csv"
    runs = pd.read_csv(runs_path) if runs_path.exists() else pd.DataFrame(columns=KEY)
    ivs = pd.read_csv(iv_path) if iv_path.exists() else pd.DataFrame()
    done = set(map(tuple, runs[KEY].astype(str).to_numpy()))
    for obj in BATTERY:
        if objectives and obj.name not in objectives:
            continue
        tv = obj.shares()
        for n in ns:
            for s in seeds:
                todo = [e for e in estimators if (obj.name, str(n), str(s), e) not in done]
                if not todo:
                    continue
                df, configs = table(obj, n, s)
                new, new_iv = [], []
                for e in todo:
                    t = time.process_time()
                    extra = {}
                    if e == "ours":
                        imp = importance.importance(df, obj.space, n_boot=n_boot, seed=s)
                        cpu = time.process_time() - t
                        t = time.process_time()
                        importance.importance(df, obj.space, n_boot=0, seed=s)
                        extra["point_cpu_s"] = time.process_time() - t
                        v = imp.value
                        cov = (imp.lower <= tv) & (tv <= imp.upper)
                        extra.update(coverage=float(cov.mean()), coverage_nonzero=float(cov[tv > 0].mean()),
                                     coverage_zero=float(cov[tv == 0].mean()) if (tv == 0).any() else np.nan)
                        new_iv += [dict(objective=obj.name, n=n, seed=s, hp=k, truth=tv[j], estimate=v[j],
                                        lower=imp.lower[j], upper=imp.upper[j], covered=bool(cov[j]))
                                   for j, k in enumerate(obj.names)]
                    elif e == "optuna":
                        v = optuna_fanova(obj, configs, df["f1"].to_numpy(), s)
                        cpu = time.process_time() - t
                        extra["point_cpu_s"] = cpu
                        t = time.process_time()  # ours on the same table, in the same process: the speed ratio
                        importance.importance(df, obj.space, n_boot=0, seed=s)
                        extra["ours_point_cpu_s"] = time.process_time() - t
                    else:
                        v = importance.importance(df, obj.space, n_boot=0, seed=s, surrogate="forest").value
                        cpu = time.process_time() - t
                        extra["point_cpu_s"] = cpu
                    new.append(dict(objective=obj.name, n=n, seed=s, estimator=e, cpu_s=cpu, **extra,
                                    **scores(tv, v), estimate=json.dumps(np.round(v, 5).tolist())))
                runs = pd.concat([runs, pd.DataFrame(new)], ignore_index=True)
                if new_iv:
                    ivs = pd.concat([ivs, pd.DataFrame(new_iv)], ignore_index=True)
                runs.to_csv(runs_path, index=False)
                ivs.to_csv(iv_path, index=False)
                print(f"{obj.name} n={n} seed={s}: " + ", ".join(
                    f"{r['estimator']} tau {r['tau']:.2f} L1 {r['l1']:.2f} {r['cpu_s']:.1f}s" for r in new), flush=True)
    return runs


def summarise(runs: pd.DataFrame | None = None, ivs: pd.DataFrame | None = None) -> dict:
    """summary.json and summary.md: per n and estimator, mean tau-b and L1 over the tables
    that every estimator ran (identical tables), coverage, CPU seconds per call."""
    runs = pd.read_csv(OUT / "runs.csv") if runs is None else runs
    ivs = pd.read_csv(OUT / "intervals.csv") if ivs is None else ivs
    both = runs.groupby(["objective", "n", "seed"]).estimator.transform("nunique") == runs.estimator.nunique()
    paired = runs[both]
    rows = []
    for (n, e), g in paired.groupby(["n", "estimator"]):
        nc = g[g.objective != "conditional"]
        rows.append(dict(n=int(n), estimator=e, tables=len(g), tau=g.tau.mean(), tau_se=g.tau.sem(), l1=g.l1.mean(),
                         l1_se=g.l1.sem(), tau_without_conditional=nc.tau.mean(), l1_without_conditional=nc.l1.mean(),
                         cpu_s_median=g.cpu_s.median(), point_cpu_s_median=g.point_cpu_s.median()))
    table_ = pd.DataFrame(rows)
    cov = []
    for n, g in ivs.groupby("n"):
        cov.append(dict(n=int(n), intervals=len(g), tables=len(g.groupby(["objective", "seed"])),
                        coverage=g.covered.mean(), coverage_nonzero=g.covered[g.truth > 0].mean(),
                        coverage_zero=g.covered[g.truth == 0].mean(),
                        truth_above=(g.truth > g.upper).mean(), truth_below=(g.truth < g.lower).mean(),
                        mean_width=(g.upper - g.lower).mean()))
    cov = pd.DataFrame(cov)
    cov_obj = ivs.pivot_table(index="objective", columns="n", values="covered", aggfunc="mean")
    per_obj = paired.pivot_table(index=["objective", "n"], columns="estimator", values=["tau", "l1"], aggfunc="mean")
    per_obj.columns = [f"{v} {e}" for v, e in per_obj.columns]
    all_runs = runs.groupby(["n", "estimator"]).agg(tables=("tau", "size"), tau=("tau", "mean"), l1=("l1", "mean"),
                                                    cpu_s_median=("cpu_s", "median")).reset_index()
    speed = {}  # Optuna's CPU s / ours' (point estimates), both timed on the same tables in the same process
    for n, g in runs[runs.estimator == "optuna"].groupby("n"):
        if "ours_point_cpu_s" in g and g.ours_point_cpu_s.notna().any():
            speed[int(n)] = dict(tables=int(g.ours_point_cpu_s.notna().sum()), optuna_s=float(g.point_cpu_s.median()),
                                 ours_s=float(g.ours_point_cpu_s.median()),
                                 ratio=float(g.point_cpu_s.median() / g.ours_point_cpu_s.median()))
    out = {"paired": table_.to_dict("records"), "coverage": cov.to_dict("records"),
           "coverage_by_objective": {o: {int(k): float(v) for k, v in r.items()} for o, r in cov_obj.iterrows()},
           "all_runs": all_runs.to_dict("records"), "optuna_cpu_over_ours_point": speed}
    (OUT / "summary.json").write_text(json.dumps(out, indent=1, default=float))
    wide = table_.pivot(index="n", columns="estimator")
    lines = ["# Importance battery: ours vs Optuna's fANOVA on analytic functions with exact truth", "",
             "Produced by `experiments/studies/importance_battery.py` (see its docstring and README.md here).", "",
             "## Ranking and shares (identical tables; tau-b and L1 of normalised shares vs the exact truth)", "",
             "| n | tables | ours tau-b | Optuna tau-b | before tau-b | ours L1 | Optuna L1 | before L1 |"
             " ours CPU s / call (point; with resamples) | Optuna CPU s / call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    def c(n, col, e, fmt="{:.3f}"):
        try:
            return fmt.format(wide.loc[n, (col, e)])
        except KeyError:
            return "-"
    for n in sorted(table_.n.unique()):
        lines.append(f"| {n} | {c(n, 'tables', 'ours', '{:.0f}')} | {c(n, 'tau', 'ours')} | {c(n, 'tau', 'optuna')} | "
                     f"{c(n, 'tau', 'ours (before: forest)')} | {c(n, 'l1', 'ours')} | {c(n, 'l1', 'optuna')} | "
                     f"{c(n, 'l1', 'ours (before: forest)')} | {c(n, 'point_cpu_s_median', 'ours', '{:.2f}')}; "
                     f"{c(n, 'cpu_s_median', 'ours', '{:.1f}')} | {c(n, 'point_cpu_s_median', 'optuna', '{:.2f}')} |")
    lines += ["", "Without the `conditional` objective (where Optuna leaves the children out):", "",
              "| n | ours tau-b | Optuna tau-b | ours L1 | Optuna L1 |", "|---|---|---|---|---|"]
    for n in sorted(table_.n.unique()):
        g = table_[table_.n == n].set_index("estimator")
        if {"ours", "optuna"} <= set(g.index):
            a, b = g.loc["ours"], g.loc["optuna"]
            lines.append(f"| {n} | {a.tau_without_conditional:.3f} | {b.tau_without_conditional:.3f} | "
                         f"{a.l1_without_conditional:.3f} | {b.l1_without_conditional:.3f} |")
    if speed:
        lines += ["", "Speed, point estimates timed on the same tables in one process (median CPU s per call):", "",
                  "| n | tables | ours | Optuna | Optuna / ours |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {v['tables']} | {v['ours_s']:.3f} | {v['optuna_s']:.2f} | {v['ratio']:.0f}x |"
                  for n, v in sorted(speed.items())]
    lines += ["", "## Coverage of ours' nominal 90% intervals (bias-aware, the default)", "",
              "| n | intervals | coverage | true share > 0 | true share 0 | truth above / below | mean width |",
              "|---|---|---|---|---|---|---|"]
    for r in cov.itertuples():
        lines.append(f"| {r.n} | {r.intervals} | {r.coverage:.1%} | {r.coverage_nonzero:.1%} | {r.coverage_zero:.1%} | "
                     f"{r.truth_above:.1%} / {r.truth_below:.1%} | {r.mean_width:.3f} |")
    lines += ["", "Coverage by objective:", "", cov_obj.map(lambda v: f"{v:.0%}").to_markdown(), "",
              "## Per objective (mean over seeds)", "", per_obj.round(3).to_markdown(), ""]
    (OUT / "summary.md").write_text("\n".join(lines))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="run", choices=["calibrate", "intervals", "run", "summary"])
    p.add_argument("--n", type=int, nargs="*", default=list(NS))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0 .. SEEDS-1")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--n-boot", type=int, default=40)
    p.add_argument("--objectives", nargs="*", default=None)
    p.add_argument("--estimators", nargs="*", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    t = time.time()
    if args.stage == "calibrate":
        r = calibrate_settings()
        print(r.groupby(["setting", "n"])[["tau", "l1"]].mean().round(3).unstack(1).to_string())
    elif args.stage == "intervals":
        r = calibrate_intervals()
        print(interval_coverage(r).round(3).to_string(index=False))
    elif args.stage == "run":
        run(args.n, range(args.first_seed, args.first_seed + args.seeds), args.n_boot, args.objectives, args.estimators)
        summarise()
        print((OUT / "summary.md").read_text())
    else:
        summarise()
        print((OUT / "summary.md").read_text())
    print(f"[{args.stage}: {time.time() - t:.0f} s]", flush=True)


if __name__ == "__main__":
    main()

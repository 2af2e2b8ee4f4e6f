"""Evidence on the synthetic benchmarks, whose importance is known exactly.

Stages (each writes results/analysis_synthetic/<stage>.json / .csv, figures as PNG+PDF):

- calibrate: the surrogate forest's settings (max_features x min_samples_leaf) and
  the decomposition (per tree or of the forest's mean), chosen on calibration instances (seeds 100+)
  that the other stages never use;
- tau: Kendall tau of recovered vs true importance against the number of
  configurations (fANOVA and PED-ANOVA; PED-ANOVA estimates another quantity,
  top-quantile importance, so its tau vs the variance truth is context only);
- coverage: share of 90% bootstrap intervals (percentile and basic) that cover
  the true share, over >= 50 instances; also for shares relative to their sum,
  and of the 90% rank intervals (from the rank distribution) covering the true rank;
- agreement: the estimated Spearman of importance, cheapest fidelity vs a small
  full-fidelity probe, against the designed agreement; the performance Spearman
  beside it; and the scoping rule over a grid of its parameters (what share of
  the true full-fidelity variance the kept set carries, how many hps it keeps).

    nice -n 10 .venv/bin/python -m hpobench.experiments.studies.importance_synthetic --stage all
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import hpobench
from hpobench.analysis import agreement, bootstrap, encode, fanova, importance, ped_anova, plots, sample, shares
from hpobench.fidelity import Fidelity

OUT = Path("results/analysis_synthetic")
LOW = {"epochs": 1, "data_fraction": 0.05}
FULL = {"epochs": 81, "data_fraction": 1.0}
AGREEMENTS = (1.0, 0.5, 0.0, -0.5, -1.0)


def instance(seed: int):
    return hpobench.get("synthetic", agreement=AGREEMENTS[seed % len(AGREEMENTS)], seed=seed)


def truth_vec(b, names, fid):
    t = b.truth.importance(fid)
    return np.array([t[n] for n in names])


def calibrate(n: int = 300, seeds=range(100, 110)) -> pd.DataFrame:
    """Forest settings x decomposition: rank recovery (Kendall) and bias of the values.

    bias: mean over true ranks 1-9 (the hps carrying 99% of the variance) of
    |mean over tables of estimate / truth - 1|; a bootstrap interval cannot cover a
    truth its estimator misses systematically, so the least biased setting wins.
    """
    rows = []
    encs = []
    for s in seeds:
        b = instance(s)
        for fid in (LOW, FULL):
            encs.append((encode.encode(sample.table(b, n, [fid], seed=s), b.config_space), b, fid))
    for dec in ("trees", "forest"):
        for mf in (0.1, 0.2, 0.33, 0.5, 1.0):
            for msl in (1, 3, 5):
                taus, l1, ratio = [], [], []
                for enc, b, fid in encs:
                    v = fanova.fanova(enc, max_features=mf, min_samples_leaf=msl, pairs=0, decomposition=dec,
                                      surrogate="forest").value
                    tv = truth_vec(b, enc.names, fid)
                    taus.append(stats.kendalltau(tv, v).statistic)
                    l1.append(np.abs(v - tv).sum())
                    ratio.append((v / tv)[np.argsort(-tv)])
                rows.append(dict(decomposition=dec, max_features=mf, min_samples_leaf=msl, kendall=np.mean(taus),
                                 kendall_se=np.std(taus, ddof=1) / np.sqrt(len(taus)), l1=np.mean(l1),
                                 ratio_top3=np.mean(ratio, 0)[:3].mean(),
                                 bias=np.abs(np.mean(ratio, 0)[:9] - 1).mean()))
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "calibrate.csv", index=False)
    return df


def tau_vs_n(ns=(50, 100, 200, 400, 800), seeds=range(12)) -> pd.DataFrame:
    rows = []
    for s in seeds:
        b = instance(s)
        fid = FULL if s % 2 == 0 else LOW
        big = sample.table(b, max(ns), [fid], seed=s)
        for n in ns:
            enc = encode.encode(big.iloc[:n], b.config_space)
            tv = truth_vec(b, enc.names, fid)
            for m, fn in (("fanova", lambda e: fanova.fanova(e, pairs=0)),
                          ("fanova-forest (before)", lambda e: fanova.fanova(e, pairs=0, surrogate="forest")),
                          ("ped-anova", ped_anova.ped_anova)):
                v = fn(enc).value
                rows.append(dict(seed=s, n=n, method=m, kendall=stats.kendalltau(tv, v).statistic,
                                 top1=enc.names[int(np.argmax(v))] == enc.names[int(np.argmax(tv))]))
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "tau_vs_n.csv", index=False)
    summ = df.groupby(["method", "n"]).agg(kendall=("kendall", "mean"), se=("kendall", "sem"),
                                            top1=("top1", "mean")).reset_index()
    fig, ax = plots.plt.subplots(figsize=(5, 3.5))
    for m, g in summ.groupby("method"):
        ax.errorbar(g.n, g.kendall, g.se, marker="o", capsize=3, label=m)
    ax.set_xscale("log")
    ax.set_xlabel("configurations")
    ax.set_ylabel("Kendall tau vs true importance")
    ax.legend()
    ax.grid(alpha=0.3)
    plots.save(fig, OUT / "tau_vs_n")
    return summ


def coverage(n: int = 300, seeds=range(60), n_boot: int = 100) -> dict:
    rows = []
    for s in seeds:
        b = instance(s)
        fid = FULL if s % 2 == 0 else LOW
        df = sample.table(b, n, [fid], seed=s)
        imp = importance.importance(df, b.config_space, n_boot=n_boot, seed=s)
        tv = truth_vec(b, imp.names, fid)
        rel_t = tv / tv.sum()
        reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
        rel_reps = reps / reps.sum(1, keepdims=True)
        rank = np.argsort(np.argsort(-tv)) + 1
        intervals = [("share", "default", imp.value, tv, imp.lower, imp.upper),  # bias-aware (boosted surrogate)
                     ("share", "percentile", imp.value, tv, *bootstrap.interval(reps, 0.9)),
                     ("share", "basic", imp.value, tv, *bootstrap.interval(reps, 0.9, imp.value, "basic")),
                     ("relative", "percentile", imp.share, rel_t, *bootstrap.interval(rel_reps, 0.9)),
                     ("relative", "basic", imp.share, rel_t, *bootstrap.interval(rel_reps, 0.9, imp.share, "basic")),
                     ("rank", "percentile", bootstrap.ranks(imp.value), rank,
                      *bootstrap.interval(bootstrap.ranks(reps).astype(float), 0.9))]
        for name, method, point, t, lo, hi in intervals:
            lo = np.clip(lo, 0, None)
            for j in range(len(t)):
                rows.append(dict(seed=s, hp=imp.names[j], true_rank=int(rank[j]), quantity=name,
                                 interval=method, truth=t[j], estimate=point[j], lower=lo[j], upper=hi[j],
                                 covered=bool(lo[j] <= t[j] <= hi[j]), width=hi[j] - lo[j]))
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "coverage.csv", index=False)
    out = {}
    for (q, m), g in df.groupby(["quantity", "interval"]):
        top = g[g.true_rank <= 3]
        out[f"{q}/{m}"] = dict(coverage=float(g.covered.mean()), coverage_top3=float(top.covered.mean()),
                               mean_width=float(g.width.mean()),
                               below=float((g.truth < g.lower).mean()), above=float((g.truth > g.upper).mean()),
                               intervals=len(g))
    share = df[(df.quantity == "share") & (df.interval == "default")]
    out["instances"] = len(set(df.seed))
    out["coverage_by_true_rank"] = share.groupby("true_rank").covered.mean().round(3).to_dict()
    ratio = share.estimate / share.truth
    out["estimate_over_truth_by_true_rank"] = ratio.groupby(share.true_rank).mean().round(3).to_dict()
    out["mean_estimate_over_truth_top3"] = float((share.estimate / share.truth)[share.true_rank <= 3].mean())
    (OUT / "coverage.json").write_text(json.dumps(out, indent=1))
    return out


def agreement_stage(n_low: int = 300, n_probe: int = 100, seeds=range(40), n_boot: int = 60,
                    reuse: bool = False) -> dict:
    if reuse and (OUT / "agreement.csv").exists() and (OUT / "rule_grid.csv").exists():
        return summarise_agreement(pd.read_csv(OUT / "agreement.csv"), pd.read_csv(OUT / "rule_grid.csv"))
    rows, decisions = [], []
    grid = [shares.Rule(target=t, agree=a) for t in (0.8, 0.9, 0.95) for a in (0.3, 0.4, 0.5, 0.6, 0.7)]
    for s in seeds:
        b = instance(s)
        df = sample.table(b, n_low, [LOW, FULL], seed=s, probe={1: n_probe})
        imps = importance.per_fidelity(df, b.config_space, n_boot=n_boot, seed=s)
        low, probe = imps[Fidelity.of(LOW)], imps[Fidelity.of(FULL)]
        c = agreement.compare(low, probe).set_index("statistic")
        perf = agreement.performance(df, b.config_space, LOW, FULL, seed=s)
        tf = b.truth.importance(FULL)
        rows.append(dict(seed=s, designed=b.truth.agreement, true_at_low=b.truth.agreement_at(LOW),
                         **{f"{k}_{f}": c.loc[k, f] for k in agreement.STATISTICS
                            for f in ("estimate", "corrected", "lower", "upper")},
                         reliability_low=low.reliability, reliability_probe=probe.reliability,
                         perf_spearman=perf["estimate"], perf_lower=perf["lower"], perf_upper=perf["upper"]))
        for rule in grid:
            dec = shares.decide(low, b.config_space, probe, rule)
            decisions.append(dict(seed=s, designed=b.truth.agreement, target=rule.target, agree=rule.agree,
                                  verdict=dec.verdict, tuned=len(dec.tune),
                                  captured=sum(tf[n] for n in dec.tune) / sum(tf.values())))
    df = pd.DataFrame(rows)
    df.to_csv(OUT / "agreement.csv", index=False)
    dd = pd.DataFrame(decisions)
    dd.to_csv(OUT / "rule_grid.csv", index=False)
    return summarise_agreement(df, dd)


def summarise_agreement(df: pd.DataFrame, dd: pd.DataFrame) -> dict:
    df = df.assign(covered=(df.spearman_lower <= df.true_at_low) & (df.true_at_low <= df.spearman_upper))
    def err(est, lo, hi):  # a bootstrap interval need not contain the point estimate
        return np.vstack([np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)])
    # Agreement estimate vs designed agreement
    fig, axes = plots.plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    jitter = np.random.default_rng(0).uniform(-0.04, 0.04, len(df))
    axes[0].errorbar(df.designed + jitter, df.spearman_corrected,
                     err(df.spearman_corrected, df.spearman_lower, df.spearman_upper),
                     fmt="o", ms=3, capsize=2, alpha=0.7, label="corrected for attenuation, 90% CI")
    axes[0].plot(df.designed + jitter, df.spearman_estimate, "x", ms=4, color="gray", label="raw")
    axes[0].plot([-1, 1], [-1, 1], "k--", lw=0.8)
    axes[0].legend(fontsize=7)
    axes[0].set_title("importance ranking (Spearman)", fontsize=9)
    axes[1].errorbar(df.designed + jitter, df.perf_spearman, err(df.perf_spearman, df.perf_lower, df.perf_upper),
                     fmt="o", ms=3, capsize=2, alpha=0.7, color="tab:orange")
    axes[1].set_title("performance of configurations (Spearman)", fontsize=9)
    for ax in axes:
        ax.set_xlabel("designed agreement (importance, cheapest vs full)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("estimated from 300 cheap + 100 full-fidelity configs")
    plots.save(fig, OUT / "agreement_tracking")
    by = df.groupby("designed").agg(spearman=("spearman_estimate", "mean"), se=("spearman_estimate", "sem"),
                                    corrected=("spearman_corrected", "mean"),
                                    covered=("covered", "mean"),
                                    lower=("spearman_lower", "mean"), weighted_tau=("weighted_tau_estimate", "mean"),
                                    perf=("perf_spearman", "mean"), instances=("seed", "count")).reset_index()
    rule = dd.groupby(["target", "agree", "designed"]).agg(
        scope=("verdict", lambda v: float(np.mean(v == "scope"))),
        higher=("verdict", lambda v: float(np.mean(v == "higher-fidelity-needed"))),
        captured=("captured", "mean"), captured_p10=("captured", lambda v: float(np.quantile(v, 0.1))),
        tuned=("tuned", "mean")).reset_index()
    scoped = dd[dd.verdict == "scope"].groupby(["target", "agree"]).agg(
        n=("captured", "size"), captured=("captured", "mean"),
        share_captured_ge_target=("captured", lambda v: float(np.nan)), tuned=("tuned", "mean")).reset_index()
    for i, r in scoped.iterrows():
        g = dd[(dd.verdict == "scope") & (dd.target == r.target) & (dd.agree == r.agree)]
        scoped.loc[i, "share_captured_ge_target"] = float(np.mean(g.captured >= r.target - 0.05))
    corr = float(stats.spearmanr(df.designed, df.spearman_estimate).statistic)
    interior = df.true_at_low.abs() < 1  # a truth of +-1 is covered by any interval clipped there
    out = {"instances": len(df), "corr_designed_vs_estimate": corr,
           "corr_designed_vs_corrected": float(stats.spearmanr(df.designed, df.spearman_corrected).statistic),
           "mean_abs_error_raw": float((df.spearman_estimate - df.true_at_low).abs().mean()),
           "mean_abs_error_corrected": float((df.spearman_corrected - df.true_at_low).abs().mean()),
           "ci_covers_true_agreement": float(df.covered.mean()),
           "ci_covers_true_agreement_interior": float(df.covered[interior].mean()),
           "interior_instances": int(interior.sum()),
           "truth_above_interval": float((df.true_at_low > df.spearman_upper).mean()),
           "truth_below_interval": float((df.true_at_low < df.spearman_lower).mean()),
           "mean_width": float((df.spearman_upper - df.spearman_lower).mean()),
           "by_designed": by.to_dict("records"), "rule_when_scoped": scoped.to_dict("records")}
    rule.to_csv(OUT / "rule_summary.csv", index=False)
    (OUT / "agreement.json").write_text(json.dumps(out, indent=1, default=float))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="all", choices=["calibrate", "tau", "coverage", "agreement", "all"])
    p.add_argument("--instances", type=int, default=60, help="coverage instances")
    p.add_argument("--n-boot", type=int, default=100, help="coverage resamples")
    p.add_argument("--reuse", action="store_true", help="agreement: summarise the saved CSVs, do not recompute")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    pd.set_option("display.width", 200)
    stages = ["calibrate", "tau", "coverage", "agreement"] if args.stage == "all" else [args.stage]
    for st in stages:
        t = time.time()
        if st == "calibrate":
            print(calibrate().round(3).to_string(index=False))
        elif st == "tau":
            print(tau_vs_n().round(3).to_string(index=False))
        elif st == "coverage":
            print(json.dumps(coverage(seeds=range(args.instances), n_boot=args.n_boot), indent=1))
        else:
            res = agreement_stage(reuse=args.reuse)
            print(json.dumps({k: v for k, v in res.items() if k != "rule_when_scoped"}, indent=1, default=float))
            print(pd.DataFrame(res["rule_when_scoped"]).round(3).to_string(index=False))
            print(pd.read_csv(OUT / "rule_summary.csv").round(3).to_string(index=False))
        print(f"[{st}: {time.time() - t:.0f} s]", flush=True)


if __name__ == "__main__":
    main()

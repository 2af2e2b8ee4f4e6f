"""The CPU-scale study: its records (`results/cifar10_cpu/`, the grid `experiments/specs/cifar10_cpu.yaml`)
and what `experiments/studies/cpu_study.py` computed from them (`results/cpu_study/`): importance per
fidelity, its agreement with full fidelity, the learning-rate hierarchy."""

from __future__ import annotations

import json

import pandas as pd

from hpobench import records
from hpobench.analysis import plots, trials
from hpobench.paper import charts
from hpobench.paper.render import Paper, ci

KNOBS = ("epochs", "data_fraction", "resolution")
NEEDS = ("cifar10_cpu/evaluations.parquet", "cpu_study/agreement.csv", "cpu_study/importance.csv",
         "cpu_study/hierarchy.json")


def read(p: Paper, folder: str = "cifar10_cpu", derived: str = "cpu_study") -> None:
    """Every number quotes the records it rests on (`src`), also those the harness computed from them."""
    src = p.results / folder / "evaluations.parquet"
    df, _, _ = records.read(src)
    fids = trials.fidelities(df)  # cheapest first, each with its recorded cost (the benchmark's formula)
    full = max(fids, key=lambda f: f.cost)
    ok = df["status"].eq("ok")
    p.put("n_configs", df["config_id"].nunique(), src, "{:d}")
    p.put("n_trials", len(df), src, "{:d}")
    p.put("n_fidelities", len(fids), src, "{:d}")
    p.put("n_failed", int((~ok).sum()), src, "{:d}")
    at_full = trials.at(df, full)
    p.put("full_fidelity", ", ".join(f"{k} {full[k]:g}" for k in KNOBS), src)
    p.put("full_minutes_median", at_full["cost_s"].median() / 60, src, "{:.1f}")
    p.put("study_cpu_hours", df["cost_s"].sum() / 3600, src, "{:.1f}")
    p.put("full_f1_range", f"{at_full['f1'].min():.2f}-{at_full['f1'].max():.2f}", src)
    default = at_full[at_full["config_id"] == 0]
    p.put("default_full_f1", float(default["f1"].iloc[0]) if len(default) else float("nan"), src, "{:.3f}")
    d = p.results / derived
    agreement(p, pd.read_csv(d / "agreement.csv", float_precision="round_trip"), src)
    imp = pd.read_csv(d / "importance.csv", float_precision="round_trip")
    fanova = imp[imp["method"] == "fanova"]
    cheapest, costliest = fanova["cost"].idxmin(), fanova["cost"].idxmax()  # first of each, in the harness's order
    shown = fanova[fanova["fidelity"].isin([fanova.loc[cheapest, "fidelity"], fanova.loc[costliest, "fidelity"]])]
    plots.importance_bars(shown, "fanova", shown["level"].iloc[0], p.figure("importance_full"), top=12)
    hierarchy(p, fanova[fanova["fidelity"] == fanova.loc[costliest, "fidelity"]],
              json.loads((d / "hierarchy.json").read_text()), src)


def agreement(p: Paper, agr: pd.DataFrame, src) -> None:
    """The table of each low fidelity against full fidelity, its summary numbers and figure."""
    agr.to_csv(p.out / "tables" / "agreement_raw.csv", index=False)
    show = pd.DataFrame({
        "low fidelity": agr["fidelity"], "knob lowered": agr["knob"],
        "cost vs full": agr["relative cost"].map("{:.3f}".format),
        **{f"{name} Spearman [90% CI]": [ci(*r) for r in agr[[f"{m} spearman", f"{m} lo", f"{m} hi"]].to_numpy()]
           for m, name in (("fanova", "fANOVA"), ("ped-anova", "PED-ANOVA"))},
        "fANOVA top-3 overlap": agr["fanova top-3"].map("{:.2f}".format),
        "performance Spearman [90% CI]": [ci(*r) for r in
                                          agr[["performance spearman", "perf lo", "perf hi"]].to_numpy()],
    })
    p.table("agreement", show)
    for m in ("fanova", "ped-anova"):
        p.put(f"mean_agreement_{m}", agr[f"{m} spearman"].mean(), src)
    best = agr.sort_values(["fanova spearman", "relative cost"], ascending=[True, False]).iloc[-1]
    p.put("best_low_fidelity", best["fidelity"], src)
    p.put("best_low_agreement", best["fanova spearman"], src)
    p.put("best_low_cost", best["relative cost"], src, "{:.3f}")
    cheap = agr[agr["relative cost"] <= 0.1]
    p.put("cheap_mean_agreement", cheap["fanova spearman"].mean() if len(cheap) else float("nan"), src)
    p.put("mean_performance_agreement", agr["performance spearman"].mean(), src)
    charts.agreement_vs_cost(agr, p.figure("agreement_vs_cost"))


def hierarchy(p: Paper, imp: pd.DataFrame, h: dict, src) -> None:
    """The popular claims (`hierarchy.json`): learning rate 7-20x more important than any other; lr x batch
    size interact; and the top hyperparameters at full fidelity (`imp`: its rows of importance.csv)."""
    r = h["ratio_to_largest_other"]
    p.put("lr_share", h["learning_rate"]["share"], src)
    p.put("lr_rank", h["learning_rate"]["rank"], src, "{:d}")
    p.put("top_hp", h["top"]["hp"], src)
    p.put("top_share", h["top"]["share"], src)
    p.put("lr_ratio", ci(r["estimate"], r["lower"], r["upper"]), src)
    pair = h["lr_bs_interaction"]
    p.put("lr_bs_interaction", "not among the top pairs" if pair is None else f"{pair:.3f}", src)
    top = imp.sort_values("rank").head(8)
    p.table("importance_full", pd.DataFrame({"hyperparameter": top["hp"].tolist(), "share [90% CI]": [
        ci(v, lo, hi) for v, lo, hi in top[["value", "lower", "upper"]].to_numpy()]}))

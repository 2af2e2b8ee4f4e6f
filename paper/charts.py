"""The paper's own figures, each drawn from tables a harness wrote (matplotlib via `analysis.plots`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpobench.analysis import plots
from hpobench.analysis.compare import NO_OPTIMIZER
from hpobench.paper.sections.agreement_rows import row


def agreement_vs_cost(agr: pd.DataFrame, stem: Path) -> None:
    """The CPU-scale study's agreement of each low fidelity with full fidelity against its cost: fANOVA,
    PED-ANOVA and performance Spearman with their intervals (`agr`: results/cpu_study/agreement.csv)."""
    fig, ax = plots.plt.subplots(figsize=(7, 4.2))
    styles = {"fanova": ("o", "fANOVA"), "ped-anova": ("s", "PED-ANOVA"), "performance": ("^", "performance")}
    for k, (marker, name) in styles.items():
        col, lo, hi = (f"{k} spearman", f"{k} lo", f"{k} hi") if k != "performance" else \
            ("performance spearman", "perf lo", "perf hi")
        x = agr["relative cost"] * {"fanova": 0.94, "ped-anova": 1.0, "performance": 1.06}[k]
        err = np.vstack([agr[col] - agr[lo], agr[hi] - agr[col]]).clip(0)
        ax.errorbar(x, agr[col], yerr=err, fmt=marker, capsize=2, label=name, alpha=0.85)
    for _, r in agr.iterrows():
        ax.annotate(r["knob"][0], (r["relative cost"], r["fanova spearman"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xscale("log")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("cost of the low fidelity relative to full fidelity")
    ax.set_ylabel("Spearman vs full fidelity (90% CI)")
    ax.set_title("Agreement of importance rankings (and of performance) with full fidelity", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plots.save(fig, stem)


def agreement_curves(agr: pd.DataFrame, cv: dict, stem: Path) -> None:
    """Study v2's agreement with full fidelity against cost ratio, importance and performance side by side:
    points with intervals, the fitted curve and band, the seed-to-seed ceiling (`agr`: study_v2/agreement.csv,
    `cv`: study_v2/curves.json)."""
    fig, axes = plots.plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    colours = {"cifar10 1x": "C0", "cifar10 5x": "C1", "fashion_mnist 1x": "C2"}
    for ax, view in zip(axes, ("importance", "performance")):
        for name, colour in colours.items():
            ds, sc = name.split()
            g = agr[(agr["table"] == f"{ds}-{sc}-main") & (agr["kind"] == "cross") & (agr["view"] == view)
                    & (agr["statistic"] == "spearman")].sort_values("cost_ratio")
            if g.empty:
                continue
            err = np.vstack([g["estimate"] - g["lower"], g["upper"] - g["estimate"]]).clip(0)
            ax.errorbar(g["cost_ratio"], g["estimate"], yerr=err, fmt="o", color=colour, capsize=2, label=name,
                        alpha=0.85)
            k = cv["curves"].get(f"{name} {view}")
            if k:
                ax.plot(k["grid"], k["fit"], color=colour, lw=1)
                ax.fill_between(k["grid"], k["lower"], k["upper"], color=colour, alpha=0.12)
            c = row(agr, table=f"{ds}-{sc}-seeds", kind="ceiling", view=view, statistic="spearman", a=g["b"].iloc[0])
            if c is not None:
                ax.axhspan(c["lower"], c["upper"], color=colour, alpha=0.08, hatch="//")
                ax.axhline(c["estimate"], color=colour, ls="--", lw=0.8, label=f"{name} seed-to-seed ceiling")
        ax.set_xscale("log")
        ax.set_xlabel("cost ratio (low fidelity / full fidelity)")
        ax.set_title(f"{view} rankings vs full fidelity", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Spearman (90% CI); curve: Fisher z linear in log ratio")
    for ax in axes:
        ax.legend(fontsize=7)
    plots.save(fig, stem)


def anytime(at: pd.DataFrame, runs: pd.DataFrame, stem: Path) -> None:
    """Mean incumbent F1 over seeds with its 90% bootstrap interval, a panel per optimizer (a strategy
    that runs none, one-epoch, is drawn in every panel); `at`: a strategies folder's anytime_curve.parquet."""
    opts = [o for o in dict.fromkeys(runs["optimizer"]) if o != NO_OPTIMIZER]
    fig, axes = plots.plt.subplots(1, len(opts), figsize=(5.5 * len(opts), 4), squeeze=False)
    for ax, opt in zip(axes[0], opts):
        for strat in dict.fromkeys(runs["strategy"]):
            a = at[at.optimizer.isin([opt, NO_OPTIMIZER]) & (at.strategy == strat)]
            if len(a):
                ax.plot(a["fraction"], a["mean"], label=strat)
                ax.fill_between(a["fraction"], a["lower"], a["upper"], alpha=0.15)
        ax.set_title(opt)
        ax.set_xlabel("share of the total budget spent (scoping included)")
        ax.set_ylabel("incumbent validation macro-F1 (mean, 90% interval)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    plots.save(fig, stem)

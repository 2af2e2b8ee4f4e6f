"""Scoping strategies at equal total cost on the study's surrogate (`experiments/studies/strategies.py` writes
`results/strategies/`; `strategy_tables.py` its tables and anytime curve), and the surrogate's held-out error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hpobench.paper import charts
from hpobench.paper.render import Paper

TABLES = ("runs.parquet", "table.parquet", "anytime_curve.parquet")  # what a strategies folder must hold


def order(t: pd.DataFrame) -> str:
    """Strategies from best to worst final F1 (mean); ties within 0.001 joined by '='."""
    t = t.sort_values("mean", ascending=False)
    out = t["strategy"].iloc[0]
    for prev, (_, r) in zip(t["mean"], t.iloc[1:].iterrows()):
        out += (" = " if prev - r["mean"] < 1e-3 else " > ") + r["strategy"]
    return out


def read(p: Paper, folder: str = "strategies") -> None:
    d = p.results / folder
    src = d / "runs.parquet"
    runs, t = pd.read_parquet(src), pd.read_parquet(d / "table.parquet")
    p.table("strategies", t.drop(columns=["mean", "F1 at 50%"]))
    for opt, g in t.groupby("optimizer"):
        b = g.loc[g["mean"].idxmax()]
        p.put(f"best_strategy_{opt}", b["strategy"], src)
        p.put(f"best_strategy_{opt}_f1", b["final F1"], src)
    p.put("strategy_seeds", int(runs["seed"].nunique()), src, "{:d}")
    p.put("surrogate_default_f1", runs["default_f1"].mean(), src, "{:.3f}")
    gain = runs["final_f1"] - runs["default_f1"]
    p.put("share_beating_default", (gain > 1e-9).mean(), src, "{:.0%}")
    p.put("max_gain_over_default", gain.max(), src, "{:.3f}")
    stuck = runs.assign(stuck=gain.abs() < 1e-4).groupby(["optimizer", "strategy"])["stuck"].all()  # 4 decimals shown
    p.put("surrogate_ties", f"{int(stuck.sum())} of {len(stuck)}", src)
    tool = runs[runs.strategy == "tool"]
    p.put("tool_verdicts", ", ".join(f"{k} {v}" for k, v in tool["verdict"].value_counts().items()) or "none", src)
    charts.anytime(pd.read_parquet(d / "anytime_curve.parquet"), runs, p.figure("strategies_anytime"))
    hold = d / "holdout.parquet"
    if hold.exists():
        h = pd.read_parquet(hold)
        fc = [c for c in h.columns if c.startswith("fidelity.")]
        top = h[h[fc].apply(tuple, axis=1) == max(h[fc].apply(tuple, axis=1), key=lambda t: np.prod(t))]
        e = top["pred"] - top["f1"]
        p.put("surrogate_rmse", float(np.sqrt((e ** 2).mean())), hold, "{:.3f}")
        p.put("surrogate_sd", top["f1"].std(), hold, "{:.3f}")
        p.put("surrogate_spearman", top[["f1", "pred"]].corr("spearman").iloc[0, 1], hold)
    land = d / "landscape.json"
    if land.exists():
        L = json.loads(land.read_text())
        p.put("landscape_n", L["random_configs"], land, "{:,d}")
        p.put("landscape_share_predicted", L["share_above_default_predicted"], land, "{:.1%}")
        p.put("landscape_share_recorded", L["share_above_default_recorded"], land, "{:.0%}")
        p.put("landscape_recorded_n", L["recorded_configs"], land, "{:d}")
        p.put("landscape_sd_predicted", L["sd_predicted"], land, "{:.3f}")
        p.put("landscape_sd_recorded", L["sd_recorded"], land, "{:.3f}")

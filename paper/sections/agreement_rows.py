"""Rows of study v2's agreement and knob tables (`experiments/studies/agreement_study.py` writes them) as
the paper's tables and words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpobench.fidelity import Fidelity
from hpobench.paper.render import ci


def row(agr: pd.DataFrame, **eq) -> pd.Series | None:
    """The first row whose columns equal `eq`, or None."""
    m = np.ones(len(agr), bool)
    for k, v in eq.items():
        m &= agr[k].eq(v).to_numpy()
    return agr[m].iloc[0] if m.any() else None


def cis(r: pd.Series | None) -> str:
    """A row's estimate with its interval ("" for None)."""
    return "" if r is None else ci(r["estimate"], r["lower"], r["upper"])


def lowered(label: str, full: str) -> str:
    """What a rung lowers from full: data_fraction=0.025,epochs=8,resolution=16 -> data to 0.025"""
    f, g = Fidelity.parse(label), Fidelity.parse(full)
    names = {"data_fraction": "data to {}", "epochs": "epochs to {}", "resolution": "resolution to {} px"}
    return " + ".join(names[k].format(f.text(k)) for k in f if f[k] != g[k])


def agreement_table(main_rows: pd.DataFrame, seed_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per low fidelity of a study v2 table: agreement with its full fidelity, and where the study
    has seed replicates, across seeds and the noise ceiling at that low fidelity."""
    lows = main_rows[(main_rows["kind"] == "cross")].drop_duplicates("a").sort_values(["cost_ratio", "a"])["a"]
    table = []
    for a in lows:
        def get(rows, view, kind, stat="spearman", fid=a):
            return row(rows, view=view, kind=kind, a=fid, statistic=stat)
        imp = get(main_rows, "importance", "cross")
        r = {"low fidelity": Fidelity.parse(a).short, "cost ratio": f"{imp['cost_ratio']:.3f}",
             "importance Spearman": cis(imp), "importance Kendall": cis(get(main_rows, "importance", "cross",
                                                                            "kendall")),
             "performance Spearman": cis(get(main_rows, "performance", "cross"))}
        if seed_rows is not None:
            r |= {"importance, other seed": cis(get(seed_rows, "importance", "cross_seed")) or "n/m",
                  "performance, other seed": cis(get(seed_rows, "performance", "cross_seed")) or "n/m",
                  "ceiling at low: importance": cis(get(seed_rows, "importance", "ceiling")) or "n/m",
                  "ceiling at low: performance": cis(get(seed_rows, "performance", "ceiling")) or "n/m"}
        table.append(r)
    return pd.DataFrame(table)


def knobs(k: pd.DataFrame, full: str) -> tuple[pd.DataFrame, str]:
    """Which knob to lower at equal cost (`knobs.csv` of one table): both views side by side, and the
    decided pairs in words."""
    both = k[k["view"] == "importance"].merge(k[k["view"] == "performance"], on=["a", "b", "cost_a", "cost_b"],
                                              suffixes=("_imp", "_perf"))
    table = pd.DataFrame({
        "cost ratio": [f"{x:.3f} / {y:.3f}" for x, y in both[["cost_a", "cost_b"]].to_numpy()],
        "lower (a)": [lowered(x, full) for x in both["a"]], "lower (b)": [lowered(x, full) for x in both["b"]],
        **{f"{v}: b - a [90% CI]": [ci(*r) for r in both[[f"difference_{s}", f"lower_{s}", f"upper_{s}"]].to_numpy()]
           for v, s in (("importance", "imp"), ("performance", "perf"))}})
    words = []
    for view, g in k.groupby("view", sort=True):
        won = [f"lowering {lowered(r['b'] if r['difference'] > 0 else r['a'], full)} agrees better than lowering "
               f"{lowered(r['a'] if r['difference'] > 0 else r['b'], full)}, by {abs(r['difference']):.2f} "
               f"[{min(abs(r['lower']), abs(r['upper'])):.2f}, {max(abs(r['lower']), abs(r['upper'])):.2f}]"
               for _, r in g[g["decided"]].iterrows()]
        words.append(f"for {view}, " + ("; ".join(won) + f"; {len(g) - len(won)} of {len(g)} pairs undecided"
                                        if won else f"none of {len(g)} pairs differs detectably"))
    return table, "; ".join(words)

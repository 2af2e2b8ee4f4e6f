"""Synthetic evidence: importance recovery and interval coverage (`experiments/studies/importance_synthetic.py`
writes `results/analysis_synthetic/`), and the optimizers at equal cost (`optimizers_synthetic.py` writes
`results/optimizers_synthetic/`)."""

from __future__ import annotations

import json

import pandas as pd

from hpobench.paper.render import Paper


def read(p: Paper) -> None:
    tau = p.results / "analysis_synthetic" / "tau_vs_n.csv"
    t = pd.read_csv(tau)
    by_n = t[t["method"] == "fanova"].groupby("n")["kendall"].mean()
    p.put("tau_at_min_n", by_n.iloc[0], tau)
    p.put("tau_min_n", int(by_n.index[0]), tau, "{:d}")
    p.put("tau_at_max_n", by_n.iloc[-1], tau)
    p.put("tau_max_n", int(by_n.index[-1]), tau, "{:d}")
    cov = p.results / "analysis_synthetic" / "coverage.json"
    c = json.loads(cov.read_text())
    share = c.get("share/default", c["share/percentile"])  # the default interval (bias-aware since the battery)
    p.put("coverage_share", share["coverage"], cov, "{:.0%}")
    p.put("coverage_intervals", share["intervals"], cov, "{:d}")
    p.put("coverage_instances", c["instances"], cov, "{:d}")
    opt = p.results / "optimizers_synthetic"
    # the table as summary.md shows it (the text quoted), read from summary.csv
    p.put("optimizers_table", optimizers_table(pd.read_csv(opt / "summary.csv", float_precision="round_trip",
                                                           dtype={"wins": "Int64"})), opt / "summary.md")


def optimizers_table(t: pd.DataFrame) -> str:
    """The first benchmark's rows of summary.csv as a markdown table: regret mean ± SE at 25%, 50% and 100%
    of the budget, seeds beating random search, trials."""
    def cell(r, f):
        return f"{r[f'regret_{f}']:.4f}" + ("" if pd.isna(r[f"se_{f}"]) else f" ± {r[f'se_{f}']:.4f}")

    lines = ["| optimizer | regret @25% | regret @50% | final regret | final < random (seeds) | trials |",
             "|---|---|---|---|---|---|"]
    for _, r in t[t["benchmark"] == t["benchmark"].iloc[0]].iterrows():
        wins = "—" if pd.isna(r["wins"]) else f"{r['wins']}/{r['paired']}"
        lines.append(f"| {r['optimizer']} | {cell(r, '0.25')} | {cell(r, '0.5')} | {cell(r, '1')} | {wins} | "
                     f"{r['trials']:.0f} |")
    return "\n".join(lines)

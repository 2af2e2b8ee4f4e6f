"""The strategies tuned live on the real benchmark (`experiments/studies/strategies.py --bench ...` writes
`results/strategies_live/` and `results/strategies_live_v2/`; `strategy_tables.py` their tables and anytime
curves): the first confirmation beside the surrogate, and study v2's live comparison (issue 13)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hpobench.analysis.compare import mean_se
from hpobench.paper import charts
from hpobench.paper.render import Paper
from hpobench.paper.sections.strategies import order

PLANNED_SEEDS = 10  # study v2's live comparison (issue 13 asks for >= 10)


def read(p: Paper, folder: str = "strategies_live") -> None:
    """Live confirmation: strategies tuned on the real benchmark, beside the surrogate at the same
    budget (`surrogate/`) and the surrogate's predictions for the live runs' incumbents."""
    d = p.results / folder
    src, sur_src, vs_src = d / "runs.parquet", d / "surrogate/runs.parquet", d / "versus_surrogate.parquet"
    runs, vs = pd.read_parquet(src), pd.read_parquet(vs_src)
    budget = json.loads((d / "settings.json").read_text())["setup"]["budget"]
    t, ts = pd.read_parquet(d / "table.parquet"), pd.read_parquet(d / "surrogate/table.parquet")
    ts = ts[ts.strategy.isin(runs.strategy.unique())].reset_index(drop=True)
    pred = vs.groupby(["optimizer", "strategy"])["final_predicted"]
    by = ts.set_index(["optimizer", "strategy"])
    keys = list(zip(t.optimizer, t.strategy))
    table = pd.DataFrame({
        "optimizer": t["optimizer"], "strategy": t["strategy"], "live seeds": t["seeds"],
        "live final F1": t["final F1"], "live wins vs all": t["wins vs all"],
        "surrogate's F1 for the live incumbent": [mean_se(pred.get_group(k)) for k in keys],
        "surrogate run, final F1": [by.loc[k, "final F1"] if k in by.index else "" for k in keys],
        "surrogate seeds": [by.loc[k, "seeds"] if k in by.index else 0 for k in keys],
        "hps tuned": t["hps tuned"], "scoping share": t["scoping share"]})
    p.table("live", table)
    p.put("live_budget", budget, d / "settings.json", "{:g}")
    p.put("live_seeds", int(runs["seed"].nunique()), src, "{:d}")
    p.put("n_hps", int(runs["n_tuned"].max()), src, "{:d}")
    p.put("live_cpu_hours", runs["wall_s"].sum() / 3600, src, "{:.1f}")
    p.put("live_default_f1", f"{runs['default_f1'].min():.3f}-{runs['default_f1'].max():.3f}", src)
    spread = runs.groupby("seed")["default_f1"].agg(lambda x: x.max() - x.min()).max()
    p.put("live_default_spread", spread, src, "{:.3f}")  # same seed, processes with different cores
    p.put("live_default_predicted", vs["default_predicted"].mean(), vs_src, "{:.3f}")
    p.put("live_order", order(t), src)
    p.put("surrogate_order", order(ts), sur_src)
    p.put("live_incumbent_f1", vs["final_f1"].mean(), vs_src, "{:.3f}")
    p.put("live_incumbent_predicted", vs["final_predicted"].mean(), vs_src, "{:.3f}")
    p.put("live_beating_default", f"{int((runs['final_f1'] > runs['default_f1']).sum())} of {len(runs)}", src)
    charts.anytime(pd.read_parquet(d / "anytime_curve.parquet"), runs, p.figure("live_anytime"))


def read_v2(p: Paper, folder: str = "strategies_live_v2", tag: str = "live2", name: str = "live_v2") -> None:
    """Study v2's live comparison (issue 13): anytime F1 with 90% intervals over seeds, and every
    strategy paired by seed with tuning everything. tag prefixes the numbers, name the table and figure."""
    d = p.results / folder
    src = d / "runs.parquet"
    runs, at = pd.read_parquet(src), pd.read_parquet(d / "anytime.parquet")
    settings = json.loads((d / "settings.json").read_text())
    cell = {(r.optimizer, r.strategy, round(r.fraction, 2)): "—" if not np.isfinite(r.mean) else
            f"{r.mean:.3f}" + (f" [{r.lower:.3f}, {r.upper:.3f}]" if np.isfinite(r.lower) else "")
            for r in at.itertuples()}
    vs = pd.read_parquet(d / "versus_all.parquet").set_index(["optimizer", "strategy"])
    rows = []
    for r in pd.read_parquet(d / "table.parquet").to_dict("records"):
        key = (r["optimizer"], r["strategy"])
        base = {"optimizer": key[0], "strategy": key[1], "seeds": r["seeds"],
                **{f"F1 at {f:.0%}": cell[(*key, f)] for f in (0.2, 0.5, 1.0)},
                "hps tuned": r["hps tuned"], "scoping share": r["scoping share"]}
        for v in vs.loc[[key]].itertuples() if key in vs.index else [None]:
            rows.append(base | ({"versus": "", "difference [90%]": "", "wins/losses/ties": "", "sign p": ""}
                                if v is None else
                                {"versus": v.versus, "difference [90%]": f"{v.mean_diff:+.3f} [{v.lower:+.3f}, "
                                 f"{v.upper:+.3f}]", "wins/losses/ties": f"{v.above}/{v.below}/{v.ties}",
                                 "sign p": f"{v.sign_p:.2f}"}))
    p.table(name, pd.DataFrame(rows))
    per_seed = runs.groupby("seed").size()
    n = int((per_seed == per_seed.max()).sum())  # seeds with every run
    p.put(f"{tag}_budget", settings["setup"]["budget"], d / "settings.json", "{:g}")
    p.put(f"{tag}_progress", f"{n} complete seeds" + (", as planned" if n >= PLANNED_SEEDS else
                                                     f" of the {PLANNED_SEEDS} planned so far"), src)
    p.put(f"{tag}_runs", len(runs), src, "{:d}")
    p.put(f"{tag}_cpu_hours", runs["wall_s"].sum() / 3600, src, "{:.1f}")
    pairs = vs.reset_index()
    decided = pairs[pairs["decided"]]

    def listed(rows, diff=True):
        return "; ".join(f"{r.strategy} ({r.optimizer}) vs {r.versus}" + (
            f": {r.mean_diff:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}]" if diff else "") for r in rows.itertuples())
    p.put(f"{tag}_decided", listed(decided) or "none: every interval contains 0", src)
    p.put(f"{tag}_worse", listed(decided[decided["upper"] < 0], diff=False) or "none", src)
    p.put(f"{tag}_undecided", listed(pairs[~pairs["decided"]]) or "none", src)
    p.put(f"{tag}_reading", f"With {n} paired seeds the smallest two-sided sign-test p possible is "
          f"{min(1.0, 2 * 0.5 ** n):.2g}, and a bootstrap interval over so few seeds is itself rough.", src)
    charts.anytime(pd.read_parquet(d / "anytime_curve.parquet"), runs, p.figure(f"{name}_anytime"))


def read_v3(p: Paper, folder: str = "strategies_live_v3", tag: str = "live3", name: str = "live_v3") -> None:
    """Issue 31's live comparison: the budget-aware scope (tool-budget) beside the recorded baselines,
    as read_v2 reads study v2's, and paired by seed with every other strategy (`versus_tool.parquet`, where
    it ran); tool-confirm likewise where it ran (`versus_confirm.parquet`: numbers `{tag}_confirm_*`, table
    `{name}_confirm`), and tool-prior and tool-anchor (`versus_prior.parquet`, `versus_anchor.parquet`:
    `{tag}_prior_*`, `{name}_prior`, `{tag}_anchor_*`, `{name}_anchor`), and tool-sized (`versus_sized.parquet`:
    `{tag}_sized_*`, `{name}_sized`), with its anchors where recorded (`anchors.csv`). tag prefixes
    the numbers, name the tables and figure (one call per live folder)."""
    read_v2(p, folder, tag, name)
    d = p.results / folder
    if (d / "versus_tool.parquet").is_file():
        _paired(p, d / "versus_tool.parquet", "tool-budget", tag, f"{name}_tool")
    for short in ("confirm", "prior", "anchor", "sized"):  # tool-confirm and issue 31's changes of it, where they ran
        if (d / f"versus_{short}.parquet").is_file():
            _tool(p, folder, tag, name, short)
    got = pd.read_csv(d / "anchors.csv") if (d / "anchors.csv").is_file() else pd.DataFrame()
    if "sized_full_f1" in got:  # where tool-confirm's and tool-sized's designs start (`strategies --anchors`)
        for short in ("confirm", "sized", "sized_top5", "best"):
            p.put(f"{tag}_start_{short}", got[f"{short}_full_f1"].mean(), d / "anchors.csv", "{:.3f}")


def read_gains(p: Paper, folder: str = "strategies_live_b30", tag: str = "gains") -> None:
    """`anchored_gains.py`'s agreement of the hyperparameters' gains from the anchor between its sources
    (`anchored_gains_agreement.csv`): the mean Spearman of each pair over seeds, `{tag}_<a>_<b>`."""
    src = p.results / folder / "anchored_gains_agreement.csv"
    rho = pd.read_csv(src)
    for col in [c for c in rho if " vs " in c]:
        a, b = col.split(" vs ")
        p.put(f"{tag}_{a}_{b}", rho[col].mean(), src, "{:.2f}")
    p.put(f"{tag}_seeds", len(rho), src, "{:d}")
    p.put(f"{tag}_n", rho["n"].mean(), src, "{:.0f}")  # trainings left to tune after the scope and confirming


def read_confirm(p: Paper, folder: str, tag: str, name: str) -> None:
    """A folder of tool-confirm runs beside another study's recorded baselines (`--baseline`): only its
    pairs (`versus_confirm.parquet`: numbers `{tag}_confirm_*`, table `{name}_confirm`)."""
    _tool(p, folder, tag, name, "confirm")


def _tool(p: Paper, folder: str, tag: str, name: str, short: str) -> None:
    """tool-`short`'s pairs (`versus_{short}.parquet`): numbers `{tag}_{short}_*`, table `{name}_{short}`."""
    _paired(p, p.results / folder / f"versus_{short}.parquet", f"tool-{short}", f"{tag}_{short}", f"{name}_{short}")


def _paired(p: Paper, src, tool: str, tag: str, table: str) -> None:
    """`tool` paired by seed with every other strategy (`strategy_tables.TOOLS`): the table, which
    pairs it wins and loses with an interval excluding 0 (`{tag}_beats`, `{tag}_beaten`) and its seeds."""
    vs = pd.read_parquet(src)
    p.table(table, pd.DataFrame({
        "optimizer": vs["optimizer"], "versus": vs["versus"], "pairs": vs["pairs"],
        f"{tool} mean F1": vs["mean"].map("{:.3f}".format),
        "difference [90%]": [f"{r.mean_diff:+.3f}" + (f" [{r.lower:+.3f}, {r.upper:+.3f}]" if np.isfinite(r.lower)
                                                      else " [too few seeds]") for r in vs.itertuples()],
        "wins/losses/ties": [f"{r.above}/{r.below}/{r.ties}" for r in vs.itertuples()]}))
    worse = vs[vs["decided"] & (vs["upper"] < 0)]
    better = vs[vs["decided"] & (vs["lower"] > 0)]
    def by_optimizer(rows):
        return "; ".join(f"{', '.join(g['versus'])} ({tool} tuned by {o})"
                         for o, g in rows.groupby("optimizer", sort=False))
    p.put(f"{tag}_beats", by_optimizer(better) or "none", src)
    p.put(f"{tag}_beaten", by_optimizer(worse) or "none", src)
    p.put(f"{tag}_tool_seeds" if tool == "tool-budget" else f"{tag}_seeds",
          ", ".join(f"{o} {n}" for o, n in vs.groupby("optimizer", sort=False)["pairs"].max().items()), src)

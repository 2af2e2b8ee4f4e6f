"""Every figure, table and number of the paper, computed from `results/` (deterministic).

    python -m paper                        # results/ -> paper/paper.md, figures/, tables/, numbers.json
    python -m paper --results R --out O    # the same for another results tree (the test's fixture)

Each number the text quotes is a `{{key}}` in `template.md`; `numbers.json` maps every
key to its value and the results file it was computed from. A key the template asks for
and the results cannot give is an error naming it (a paper never ships a blank).
Parts whose results folder is missing are skipped with a note, so a partial tree builds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench import records, spaces
from hpobench.analysis import agreement, importance, plots, trials
from hpobench.analysis.compare import NO_OPTIMIZER, anytime, mean_se, versus_all
from hpobench.analysis.compare import table as strategies_table
from hpobench.fidelity import Fidelity

HERE = Path(__file__).parent
KNOBS = ("epochs", "data_fraction", "resolution")
LIVE2_PLANNED_SEEDS = 10  # study v2's live comparison (issue 13 asks for >= 10)


@dataclass
class Paper:
    results: Path
    out: Path
    n_boot: int = 50
    numbers: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def put(self, key: str, value, source: Path | str, fmt: str = "{:.2f}") -> None:
        text = fmt.format(value) if isinstance(value, (int, float, np.floating, np.integer)) else str(value)
        self.numbers[key] = {"text": text, "value": spaces.plain(value), "source": str(source)}

    def table(self, name: str, df: pd.DataFrame) -> str:
        md = df.to_markdown(index=False)
        (self.out / "tables").mkdir(parents=True, exist_ok=True)
        (self.out / "tables" / f"{name}.md").write_text(md + "\n")
        df.to_csv(self.out / "tables" / f"{name}.csv", index=False)
        self.numbers[f"table:{name}"] = {"text": md, "source": f"tables/{name}.csv"}
        return md


def ci(est, lo, hi) -> str:
    return f"{est:.2f} [{lo:.2f}, {hi:.2f}]"


# --- the study: importance per fidelity and its agreement with full fidelity ---------------------

def kind(f: Fidelity, full: Fidelity) -> str:
    lowered = [k for k in KNOBS if f[k] != full[k]]
    return lowered[0] if len(lowered) == 1 else "joint" if lowered else "full"


def study(p: Paper, folder: str = "cifar10_cpu") -> None:
    src = p.results / folder / "evaluations.parquet"
    df, space, _ = records.read(src)
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

    imps = {m: importance.per_fidelity(df, space, fids, method=m, n_boot=p.n_boot, seed=0, reliability=False)
            for m in ("fanova", "ped-anova")}  # raw agreement: no attenuation correction, no reliability
    rows = []
    for f in fids:
        if f == full:
            continue
        row = {"fidelity": f.label, "knob": kind(f, full), "relative cost": f.cost / full.cost}
        for m, im in imps.items():
            c = agreement.compare(im[f], im[full], correct=False).set_index("statistic")
            s = c.loc["spearman"]
            row[f"{m} spearman"], row[f"{m} lo"], row[f"{m} hi"] = s["estimate"], s["lower"], s["upper"]
            row[f"{m} top-3"] = c.loc["top_k", "estimate"]
        perf = agreement.performance(df, space, f, full, n_boot=200, seed=0)
        row["performance spearman"], row["perf lo"], row["perf hi"] = perf["estimate"], perf["lower"], perf["upper"]
        rows.append(row)
    agr = pd.DataFrame(rows).sort_values("relative cost").reset_index(drop=True)
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
    _agreement_figure(p, agr)
    plots.importance({k: imps["fanova"][k] for k in (min(fids, key=lambda f: f.cost), full)},
                     p.out / "figures" / "importance_full", top=12)
    hierarchy(p, imps["fanova"][full], src)


def _agreement_figure(p: Paper, agr: pd.DataFrame) -> None:
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
    plots.save(fig, p.out / "figures" / "agreement_vs_cost")


def hierarchy(p: Paper, imp, src) -> None:
    """The popular claims: learning rate 7-20x more important than any other; lr x batch size interact."""
    names = list(imp.names)
    i = names.index("learning_rate")
    others = np.delete(np.arange(len(names)), i)
    ratio = imp.value[i] / imp.value[others].max()
    reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
    rr = reps[:, i] / np.maximum(reps[:, others].max(1), 1e-12)
    lo, hi = np.quantile(rr, [0.05, 0.95]) if len(rr) else (np.nan, np.nan)
    p.put("lr_share", imp.value[i], src)
    p.put("lr_rank", imp.ranking.index("learning_rate") + 1, src, "{:d}")
    p.put("top_hp", imp.ranking[0], src)
    p.put("top_share", imp.value[names.index(imp.ranking[0])], src)
    p.put("lr_ratio", ci(ratio, lo, hi), src)
    pair = imp.interactions.get(("learning_rate", "batch_size"), imp.interactions.get(("batch_size", "learning_rate")))
    p.put("lr_bs_interaction", "not among the top pairs" if pair is None else f"{pair:.3f}", src)
    top = pd.DataFrame({"hyperparameter": imp.ranking[:8],
                        "share [90% CI]": [ci(imp.value[names.index(n)], imp.lower[names.index(n)],
                                              imp.upper[names.index(n)]) for n in imp.ranking[:8]]})
    p.table("importance_full", top)


# --- study v2: agreement beside the noise ceiling, against cost ratio, at two scales -------------

def _row(agr: pd.DataFrame, **eq) -> pd.Series | None:
    m = np.ones(len(agr), bool)
    for k, v in eq.items():
        m &= agr[k].eq(v).to_numpy()
    return agr[m].iloc[0] if m.any() else None


def _cis(r: pd.Series | None) -> str:
    return "" if r is None else ci(r["estimate"], r["lower"], r["upper"])


def study_v2(p: Paper, folder: str = "study_v2") -> None:
    """Study v2 (experiments/studies/agreement_study.py): every number from its outputs, which say what they rest on."""
    d = p.results / folder
    src, agr_src, cv_src, bud_src, hi_src = (d / f for f in ("summary.json", "agreement.csv", "curves.json",
                                                            "budget.csv", "hierarchy.csv"))
    s = json.loads(src.read_text())
    agr, cv = pd.read_csv(agr_src), json.loads(cv_src.read_text())
    grids = s["grids"]
    main, seeds = s["tables"].get("cifar10-1x-main"), s["tables"].get("cifar10-1x-seeds")
    v2 = grids["cifar10_cpu_v2"]
    p.put("v2_configs", main["n_configs"], src, "{:d}")
    p.put("v2_cells", f"{v2['cells']:,d} of {v2['cells_planned']:,d}", src)
    left = {k: g for k, g in grids.items() if not g["complete"]}
    p.put("v2_status", "complete" if not left else "partial (" + "; ".join(
          f"`{k}` {g['cells']:,d} of {g['cells_planned']:,d} cells" for k, g in left.items()) + " recorded): its "
          "numbers rest on the configurations recorded so far and will move as the grids complete", src)
    p.put("v2_partial", "." if not left else ": every study v2 number in Sections 1 and 4.1-4.5 will move as "
          "the grids complete.", src)
    p.put("v2_n_boot", s["n_boot"], src, "{:d}")
    hours = sum(g["cpu_hours"] for g in grids.values())
    p.put("v2_cpu_hours", hours, src, "{:.1f}")
    p.put("v2_train_cpu_hours", sum(g["train_cpu_hours"] for g in grids.values()), src, "{:.1f}")
    p.put("v2_grids", "; ".join(f"`{k}` {g['cells']:,d} of {g['cells_planned']:,d} cells, {g['cpu_hours']:.1f} "
                                f"CPU-hours" for k, g in grids.items()), src)
    sg = grids.get("cifar10_cpu_seeds")
    p.put("v2_seed_text", f"{seeds['n_configs']} configurations recorded at every fidelity with all {seeds['seeds']} "
          f"seeds (seed replicates: {sg['cells']:,d} of {sg['cells_planned']:,d} cells)" if seeds else
          "no configuration yet: the seed-replicate grid (`cifar10_cpu_seeds`) is not among the results read"
          if sg is None else f"fewer than 3 configurations recorded at every fidelity with every seed "
          f"({sg['cells']:,d} of {sg['cells_planned']:,d} seed-replicate cells)", src)

    main_rows = agr[agr["table"] == "cifar10-1x-main"]
    seed_rows = agr[agr["table"] == "cifar10-1x-seeds"]
    full = main_rows["b"].iloc[0]
    p.put("v2_full", Fidelity.parse(full).short, agr_src)
    p.table("v2_agreement", _v2_agreement(main_rows, seed_rows))
    for view in ("importance", "performance"):
        c = _row(seed_rows, view=view, kind="ceiling", a=full, statistic="spearman")
        p.put(f"v2_ceiling_{view}", _cis(c) if c is not None else "not measured yet" + (
              f" ({seeds['n_configs']} seed-replicated configurations; fANOVA needs 10)" if seeds else ""), agr_src)
        g = main_rows[(main_rows["kind"] == "cross") & (main_rows["view"] == view) & (main_rows["statistic"] ==
                                                                                    "spearman")]
        p.put(f"v2_range_{view}", f"{g['estimate'].min():.2f}-{g['estimate'].max():.2f}", agr_src)
        k = cv["curves"].get(f"cifar10 1x {view}")
        if k:
            p.put(f"v2_slope_{view}", ci(k["slope"], *k["slope_ci"]), cv_src)
            lo, hi = k["slope_ci"]
            p.put(f"v2_trend_{view}", "agree with full fidelity the more the low fidelity costs" if lo > 0 else
                  "agree with full fidelity the less the low fidelity costs" if hi < 0 else
                  "show no detected trend with the low fidelity's cost", cv_src)
            for r in (0.01, 0.1):
                j = int(np.argmin(np.abs(np.log(np.array(k["grid"]) / r))))
                at = k["grid"][j]
                p.put(f"v2_curve_{view}_{r:g}", f"{ci(k['fit'][j], k['lower'][j], k['upper'][j])} at cost ratio "
                      f"{at:.3f}", cv_src)
    c = _row(seed_rows, view="importance", kind="ceiling", a=full, statistic="spearman")
    g = seed_rows[(seed_rows["kind"] == "cross_seed") & (seed_rows["view"] == "importance") &
                  (seed_rows["statistic"] == "spearman")].sort_values(["cost_ratio", "estimate"])
    at = g[g["estimate"] >= c["lower"]].head(1) if c is not None else g.iloc[:0]
    p.put("v2_at_ceiling", "not measurable yet (no noise ceiling)" if c is None else
          f"none of the rungs reaches {c['lower']:.2f}" if at.empty else
          f"{Fidelity.parse(at['a'].iloc[0]).short}, cost ratio {at['cost_ratio'].iloc[0]:.3f}: "
          f"{_cis(at.iloc[0])}", agr_src)
    for key, views, claim in (("scale", cv.get("transfer", {}), "the 5x scale"),
                              ("dataset", cv.get("dataset", {}), "Fashion-MNIST")):
        p.put(f"v2_answer_{key}", f"{claim}: " + ("; ".join(_verdict(v, t) for v, t in views.items())
                                                 or "not testable yet"), cv_src)
    _v2_figure(p, agr, cv)
    five = cv["curves"].get("cifar10 5x importance")
    top = _row(agr, table="cifar10-5x-main", kind="cross", view="importance", statistic="spearman", a=full)
    p.put("v2_transfer", "The 5x grid (`experiments/specs/cifar10_5x.yaml`) has no configuration recorded at every "
          "rung yet, so whether agreement is a function of the cost ratio alone is not yet tested." if five is None
          else f"At the 5x scale ({s['tables']['cifar10-5x-main']['n_configs']} configurations) importance agreement "
          f"with its full fidelity ranges {min(five['estimate']):.2f}-{max(five['estimate']):.2f}"
          + ("" if top is None else f"; the 1x full fidelity itself (cost ratio {top['cost_ratio']:.1f}) reaches "
             f"{_cis(top)}") + f"; slope per decade "
          f"{ci(five['slope'], *five['slope_ci'])}. Against the 1x curve measured on the same configurations "
          f"and resamples (so the test is not one of grid sizes, Section 4.3): "
          + _versus(cv.get("transfer", {}), "agreement being a function of the cost ratio alone"), cv_src)
    fm, cm = cv["curves"].get("fashion_mnist 1x importance"), cv["curves"].get("cifar10 1x-matched importance")
    p.put("v2_fashion", "The Fashion-MNIST grid (`experiments/specs/fashion_mnist_cpu.yaml`) has no recorded "
          "configuration yet." if fm is None else
          f"On Fashion-MNIST ({s['tables']['fashion_mnist-1x-main']['n_configs']} configurations) importance "
          f"agreement with full fidelity ranges {min(fm['estimate']):.2f}-{max(fm['estimate']):.2f}; slope per "
          f"decade of cost ratio {ci(fm['slope'], *fm['slope_ci'])}."
          + (f" Against CIFAR-10 1x on its first {s['tables']['cifar10-1x-matched-main']['n_configs']} "
             f"configurations (as many as Fashion-MNIST has; slope {ci(cm['slope'], *cm['slope_ci'])}): "
             f"{_versus(cv['dataset'], 'one curve for both datasets')}" if cv.get("dataset") else ""), cv_src)
    size = cv.get("size", {}).get("importance")
    p.put("v2_size", "not measured (no matched table)" if size is None else
          f"CIFAR-10 1x on all {main['n_configs']} configurations against its first "
          f"{s['tables']['cifar10-1x-matched-main']['n_configs']}, importance agreement differs by "
          f"{_gap(size)[0]} (independent resamples of nested sets, so the interval is conservative)", cv_src)
    fm_rows = agr[agr["table"] == "fashion_mnist-1x-main"]
    p.table("v2_fashion_agreement", _v2_agreement(fm_rows) if len(fm_rows) else
            pd.DataFrame({"Fashion-MNIST": ["no configuration recorded yet"]}))
    if bud_src.exists():
        b = pd.read_csv(bud_src)
        b = b[(b["dataset"] == "cifar10") & (b["scale"] == "1x")]
        p.table("v2_budget", pd.DataFrame({
            "budget (full trainings)": b["budget (full trainings)"], "scoping share": b["scoping share"].map(
                "{:.0%}".format), "max cost ratio": b["max cost ratio"].map("{:.3f}".format),
            "cheap fidelity": [Fidelity.parse(f).short if "=" in f else f for f in b["fidelity"]],
            "importance Spearman, measured [90% CI]": [ci(*r) if np.isfinite(r[0]) else "" for r in
                                                       b[["measured", "lower", "upper"]].to_numpy()],
            "curve": b["curve"].map(lambda v: f"{v:.2f}" if np.isfinite(v) else "")}))
        p.put("v2_budget_n", int(b["n_scope"].iloc[0]), bud_src, "{:d}")
    _v2_knobs(p, d / "knobs.csv", full)
    _v2_stability(p, d / "stability.json")
    h = pd.read_csv(hi_src)
    for _, r in h[(h["dataset"] == "cifar10") & (h["scale"] == "1x")].iterrows():
        key = "mean" if r["against"].startswith("mean") else "next"  # "largest other share"
        p.put(f"v2_lr_vs_{key}", ci(r["ratio"], r["lower"], r["upper"]), hi_src)
        p.put(f"v2_lr_verdict_{key}", r["verdict"], hi_src)
        p.put("v2_lr_share", r["share"], hi_src)
        p.put("v2_lr_rank", int(r["rank"]), hi_src, "{:d}")
        p.put("v2_top_hp", r["top"], hi_src)
    for key, dataset, scale, grid in (("5x", "cifar10", "5x", "5x"),
                                      ("fashion", "fashion_mnist", "1x", "Fashion-MNIST")):
        hs = h[(h["dataset"] == dataset) & (h["scale"] == scale)]
        p.put(f"v2_lr_{key}", f"not yet measured (the {grid} grid has not run)" if hs.empty else "; ".join(
            f"against the {r['against']} {ci(r['ratio'], r['lower'], r['upper'])} ({r['verdict']})"
            for _, r in hs.iterrows()) + f" (top: {hs['top'].iloc[0]}; learning rate ranks {int(hs['rank'].iloc[0])})",
            hi_src)


def _lowered(label: str, full: str) -> str:
    """What a rung lowers from full: data_fraction=0.025,epochs=8,resolution=16 -> data to 0.025"""
    f, g = Fidelity.parse(label), Fidelity.parse(full)
    names = {"data_fraction": "data to {}", "epochs": "epochs to {}", "resolution": "resolution to {} px"}
    return " + ".join(names[k].format(f.text(k)) for k in f if f[k] != g[k])


def _v2_stability(p: Paper, src: Path) -> None:
    """The importance slope refitted on subsets of the configurations (experiments/studies/slope_stability.py)."""
    if not src.exists():
        for key in ("v2_stability", "v2_stability_short"):
            p.put(key, "not measured (`python -m hpobench.experiments.studies.slope_stability`)",
                  "experiments/studies/slope_stability.py")
        return
    s = json.loads(src.read_text())
    spread = (f"{s['random_min']:.2f} to {s['random_max']:.2f}, median {s['random_median']:.2f}, "
              f"SD {s['random_sd']:.2f}")
    ratio = s["random_sd"] / s["expected_sd"]
    wide = ratio > 1.5  # the SD of 20 subsets is itself uncertain by ~16%
    p.put("v2_stability_short", ("an estimate this study does not pin down" if wide else "stable") + ": refitted on "
          f"random {s['share']:.0%} subsets of the configurations it ranges {spread}, "
          + (f"{ratio:.1f}x the spread its interval implies" if wide else "as its interval implies"), src)
    *first, every = (f"{r['configs']}" for r in s["prefix"])
    p.put("v2_stability", "Refitted on " + (f"the grid's first {', '.join(first)} and " if first else "") + f"all "
          f"{every} configurations, the slope reads " + ", ".join(f"{r['slope']:.2f}" for r in s["prefix"])
          + f"; on {s['n_random']} random subsets of "
          f"{s['share']:.0%} of them it ranges {spread}, positive in {s['random_positive']}. Were the bootstrap "
          f"interval right for a smooth statistic, such subsets would scatter with SD {s['expected_sd']:.2f}"
          + (f": the estimator varies {ratio:.1f}x more, so the intervals of the importance curve understate its "
             "uncertainty, and this study does not determine the slope's size." if wide else ", as they do."), src)


def _v2_knobs(p: Paper, src: Path, full: str, table: str = "cifar10-1x-main") -> None:
    """Which knob to lower at equal cost (study.knobs): a table of both views and the decided pairs in words."""
    k = pd.read_csv(src)
    k = k[k["table"] == table]
    both = k[k["view"] == "importance"].merge(k[k["view"] == "performance"], on=["a", "b", "cost_a", "cost_b"],
                                              suffixes=("_imp", "_perf"))
    p.table("v2_knobs", pd.DataFrame({
        "cost ratio": [f"{x:.3f} / {y:.3f}" for x, y in both[["cost_a", "cost_b"]].to_numpy()],
        "lower (a)": [_lowered(x, full) for x in both["a"]], "lower (b)": [_lowered(x, full) for x in both["b"]],
        **{f"{v}: b - a [90% CI]": [ci(*r) for r in both[[f"difference_{s}", f"lower_{s}", f"upper_{s}"]].to_numpy()]
           for v, s in (("importance", "imp"), ("performance", "perf"))}}))
    words = []
    for view, g in k.groupby("view", sort=True):
        won = [f"lowering {_lowered(r['b'] if r['difference'] > 0 else r['a'], full)} agrees better than lowering "
               f"{_lowered(r['a'] if r['difference'] > 0 else r['b'], full)}, by {abs(r['difference']):.2f} "
               f"[{min(abs(r['lower']), abs(r['upper'])):.2f}, {max(abs(r['lower']), abs(r['upper'])):.2f}]"
               for _, r in g[g["decided"]].iterrows()]
        words.append(f"for {view}, " + ("; ".join(won) + f"; {len(g) - len(won)} of {len(g)} pairs undecided"
                                        if won else f"none of {len(g)} pairs differs detectably"))
    p.put("v2_knobs", "; ".join(words), src)


def _gap(t: dict) -> tuple[str, str, float | str]:
    """study.transfer's result: the curves' difference at its cost ratio, the slopes' difference, and
    the largest difference at that ratio the intervals leave open, or "differ" when an interval
    excludes 0, or "untested" when one is not finite."""
    same = (t["same"], t["same_slope"])
    return (f"{ci(t['difference'], t['lower'], t['upper'])} at cost ratio {t['at']:.3f}",
            ci(t['slope_difference'], t['slope_lower'], t['slope_upper']),
            "differ" if False in same else "untested" if None in same else max(-t["lower"], t["upper"]))


def _verdict(view: str, t: dict) -> str:
    """One view's transfer result in a clause."""
    d, sl, wide = _gap(t)
    if isinstance(wide, str):
        return f"for {view}, {'a difference' if wide == 'differ' else 'no interval (too few resamples)'} ({d}, " \
               f"slopes {sl})"
    return f"for {view}, no difference detected ({d}, slopes {sl}; up to {wide:.2f} at that ratio not excluded)"


def _versus(views: dict, claim: str) -> str:
    """study.transfer's results (per view) in words: the curves' difference at one cost ratio and of
    their slopes, and the verdict, with the largest difference the intervals leave open when none is
    detected."""
    out = []
    for view, t in views.items():
        d, sl, wide = _gap(t)
        text = (f"For {view}, the curves differ by {d} ({t['b']:.2f} against {t['a']:.2f}) and their slopes by "
                f"{sl} per decade")
        out.append(f"{text}: the data rule out {claim}." if wide == "differ" else
                   f"{text}: too few resamples for an interval, so {claim} is not tested." if wide == "untested" else
                   f"{text}: no difference detected, consistent with {claim}, but a difference of up to "
                   f"{wide:.2f} at that ratio is not excluded.")
    return " ".join(out) if out else "not testable yet (too few configurations)."


def _v2_agreement(main_rows: pd.DataFrame, seed_rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per low fidelity of a study v2 table: agreement with its full fidelity, and where the study
    has seed replicates, across seeds and the noise ceiling at that low fidelity."""
    lows = main_rows[(main_rows["kind"] == "cross")].drop_duplicates("a").sort_values(["cost_ratio", "a"])["a"]
    table = []
    for a in lows:
        def get(rows, view, kind, stat="spearman", fid=a):
            return _row(rows, view=view, kind=kind, a=fid, statistic=stat)
        imp = get(main_rows, "importance", "cross")
        row = {"low fidelity": Fidelity.parse(a).short, "cost ratio": f"{imp['cost_ratio']:.3f}",
               "importance Spearman": _cis(imp), "importance Kendall": _cis(get(main_rows, "importance", "cross",
                                                                                "kendall")),
               "performance Spearman": _cis(get(main_rows, "performance", "cross"))}
        if seed_rows is not None:
            row |= {"importance, other seed": _cis(get(seed_rows, "importance", "cross_seed")) or "n/m",
                    "performance, other seed": _cis(get(seed_rows, "performance", "cross_seed")) or "n/m",
                    "ceiling at low: importance": _cis(get(seed_rows, "importance", "ceiling")) or "n/m",
                    "ceiling at low: performance": _cis(get(seed_rows, "performance", "ceiling")) or "n/m"}
        table.append(row)
    return pd.DataFrame(table)


def _v2_figure(p: Paper, agr: pd.DataFrame, cv: dict) -> None:
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
            c = _row(agr, table=f"{ds}-{sc}-seeds", kind="ceiling", view=view, statistic="spearman", a=g["b"].iloc[0])
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
    plots.save(fig, p.out / "figures" / "v2_agreement_vs_cost")


# --- scoping strategies ------------------------------------------------------------------------

def strategies(p: Paper, folder: str = "strategies") -> None:
    src = p.results / folder / "runs.parquet"
    runs = pd.read_parquet(src)
    curves = pd.read_parquet(p.results / folder / "curves.parquet")
    t = strategies_table(runs)
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
    _anytime_figure(p, curves, runs, "strategies_anytime")
    hold = p.results / folder / "holdout.parquet"
    if hold.exists():
        h = pd.read_parquet(hold)
        fc = [c for c in h.columns if c.startswith("fidelity.")]
        top = h[h[fc].apply(tuple, axis=1) == max(h[fc].apply(tuple, axis=1), key=lambda t: np.prod(t))]
        e = top["pred"] - top["f1"]
        p.put("surrogate_rmse", float(np.sqrt((e ** 2).mean())), hold, "{:.3f}")
        p.put("surrogate_sd", top["f1"].std(), hold, "{:.3f}")
        p.put("surrogate_spearman", top[["f1", "pred"]].corr("spearman").iloc[0, 1], hold)
    land = p.results / folder / "landscape.json"
    if land.exists():
        L = json.loads(land.read_text())
        p.put("landscape_n", L["random_configs"], land, "{:,d}")
        p.put("landscape_share_predicted", L["share_above_default_predicted"], land, "{:.1%}")
        p.put("landscape_share_recorded", L["share_above_default_recorded"], land, "{:.0%}")
        p.put("landscape_recorded_n", L["recorded_configs"], land, "{:d}")
        p.put("landscape_sd_predicted", L["sd_predicted"], land, "{:.3f}")
        p.put("landscape_sd_recorded", L["sd_recorded"], land, "{:.3f}")


def live(p: Paper, folder: str = "strategies_live") -> None:
    """Live confirmation: strategies tuned on the real benchmark, beside the surrogate at the same
    budget (`surrogate/`) and the surrogate's predictions for the live runs' incumbents."""
    src, sur_src, vs_src = (p.results / folder / f for f in ("runs.parquet", "surrogate/runs.parquet",
                                                             "versus_surrogate.parquet"))
    runs, sur, vs = pd.read_parquet(src), pd.read_parquet(sur_src), pd.read_parquet(vs_src)
    budget = json.loads((p.results / folder / "settings.json").read_text())["setup"]["budget"]
    t, ts = strategies_table(runs), strategies_table(sur[sur.strategy.isin(runs.strategy.unique())])
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
    p.put("live_budget", budget, p.results / folder / "settings.json", "{:g}")
    p.put("live_seeds", int(runs["seed"].nunique()), src, "{:d}")
    p.put("n_hps", int(runs["n_tuned"].max()), src, "{:d}")
    p.put("live_cpu_hours", runs["wall_s"].sum() / 3600, src, "{:.1f}")
    p.put("live_default_f1", f"{runs['default_f1'].min():.3f}-{runs['default_f1'].max():.3f}", src)
    spread = runs.groupby("seed")["default_f1"].agg(lambda x: x.max() - x.min()).max()
    p.put("live_default_spread", spread, src, "{:.3f}")  # same seed, processes with different cores
    p.put("live_default_predicted", vs["default_predicted"].mean(), vs_src, "{:.3f}")
    p.put("live_order", _order(t), src)
    p.put("surrogate_order", _order(ts), sur_src)
    p.put("live_incumbent_f1", vs["final_f1"].mean(), vs_src, "{:.3f}")
    p.put("live_incumbent_predicted", vs["final_predicted"].mean(), vs_src, "{:.3f}")
    p.put("live_beating_default", f"{int((runs['final_f1'] > runs['default_f1']).sum())} of {len(runs)}", src)
    _anytime_figure(p, pd.read_parquet(p.results / folder / "curves.parquet"), runs, "live_anytime")


def live_v2(p: Paper, folder: str = "strategies_live_v2") -> None:
    """Study v2's live comparison (issue 13): anytime F1 with 90% intervals over seeds, and every
    strategy paired by seed with tuning everything (`experiments/studies/strategies.py` writes both)."""
    src, at_src = p.results / folder / "runs.parquet", p.results / folder / "anytime.parquet"
    runs, at = pd.read_parquet(src), pd.read_parquet(at_src)
    settings = json.loads((p.results / folder / "settings.json").read_text())
    cell = {(r.optimizer, r.strategy, round(r.fraction, 2)): "—" if not np.isfinite(r.mean) else
            f"{r.mean:.3f}" + (f" [{r.lower:.3f}, {r.upper:.3f}]" if np.isfinite(r.lower) else "")
            for r in at.itertuples()}
    vs = versus_all(runs).set_index(["optimizer", "strategy"])
    rows = []
    for r in strategies_table(runs).to_dict("records"):
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
    p.table("live_v2", pd.DataFrame(rows))
    per_seed = runs.groupby("seed").size()
    n = int((per_seed == per_seed.max()).sum())  # seeds with every run
    p.put("live2_budget", settings["setup"]["budget"], p.results / folder / "settings.json", "{:g}")
    p.put("live2_progress", f"{n} complete seeds" + (", as planned" if n >= LIVE2_PLANNED_SEEDS else
                                                     f" of the {LIVE2_PLANNED_SEEDS} planned so far"), src)
    p.put("live2_runs", len(runs), src, "{:d}")
    p.put("live2_cpu_hours", runs["wall_s"].sum() / 3600, src, "{:.1f}")
    pairs = vs.reset_index()
    decided = pairs[pairs["decided"]]

    def listed(rows, diff=True):
        return "; ".join(f"{r.strategy} ({r.optimizer}) vs {r.versus}" + (
            f": {r.mean_diff:+.3f} [{r.lower:+.3f}, {r.upper:+.3f}]" if diff else "") for r in rows.itertuples())
    p.put("live2_decided", listed(decided) or "none: every interval contains 0", src)
    p.put("live2_worse", listed(decided[decided["upper"] < 0], diff=False) or "none", src)
    p.put("live2_undecided", listed(pairs[~pairs["decided"]]) or "none", src)
    p.put("live2_reading", f"With {n} paired seeds the smallest two-sided sign-test p possible is "
          f"{min(1.0, 2 * 0.5 ** n):.2g}, and a bootstrap interval over so few seeds is itself rough.", src)
    _anytime_figure(p, pd.read_parquet(p.results / folder / "curves.parquet"), runs, "live_v2_anytime")


def surrogate_v2(p: Paper, folder: str = "surrogate_v2") -> None:
    """Surrogate v2 (experiments/studies/surrogate_check.py): the forest refitted on study v2, tested against real
    trainings."""
    src = p.results / folder / "summary.json"
    s = json.loads(src.read_text())
    h, i, st = s["holdout_full"], s["incumbents"], s["strategies"]
    p.put("sv2_configs", s["configs"], src, "{:d}")
    p.put("sv2_holdout", f"RMSE {h['rmse']:.3f} against an SD of {h['sd']:.3f}, Spearman "
          f"{ci(h['spearman'], h['lower'], h['upper'])}", src)
    p.put("sv2_size", "; ".join(f"{int(r['configs'])}: {ci(r['spearman'], r['lower'], r['upper'])}"
                                for r in s["size"]), src)
    p.put("sv2_incumbents", f"Spearman {ci(i['spearman'], i['lower'], i['upper'])} over {i['runs']} runs, mean "
          f"bias {i['bias']:+.3f}; {i['beats_default_live']} beat the default measured, "
          f"{i['beats_default_predicted']} predicted", src)
    p.put("sv2_landscape", s["landscape"]["share_above_default_predicted"], src, "{:.1%}")
    order = f"{ci(st['kendall'], st['lower'], st['upper'])} over {st['seeds']} paired seeds"
    decisions = (f"{st['same']} of {st['comparisons']} comparisons with `all` decided the same way, "
                 f"{st['live_decided_same']} of the {st['live_decided']} the live runs decide")
    p.put("sv2_order", order, src)
    p.put("sv2_decisions", decisions, src)
    p.put("sv2_kept", "; ".join(f"{k}: {'kept' if v else 'not kept'}" for k, v in s["kept"].items()), src)
    kept = s["kept"]["ranking strategies"]
    p.put("sv2_answer", f"A forest refitted on {s['configs']} of study v2's configurations orders the strategies "
          f"as the live runs do at Kendall {order} ({decisions}), so it is {'' if kept else 'not '}kept for "
          "ranking strategies" + ("" if kept else ": the comparison rests on live runs"), src)


def _order(t: pd.DataFrame) -> str:
    """Strategies from best to worst final F1 (mean); ties within 0.001 joined by '='."""
    t = t.sort_values("mean", ascending=False)
    out = t["strategy"].iloc[0]
    for prev, (_, r) in zip(t["mean"], t.iloc[1:].iterrows()):
        out += (" = " if prev - r["mean"] < 1e-3 else " > ") + r["strategy"]
    return out


def _anytime_figure(p: Paper, curves: pd.DataFrame, runs: pd.DataFrame, name: str) -> None:
    """Mean incumbent F1 over seeds with its 90% bootstrap interval, a panel per optimizer (a strategy
    that runs none, one-epoch, is drawn in every panel)."""
    opts = [o for o in dict.fromkeys(runs["optimizer"]) if o != NO_OPTIMIZER]
    fig, axes = plots.plt.subplots(1, len(opts), figsize=(5.5 * len(opts), 4), squeeze=False)
    # runs end at the budget, within one trial's cost
    at = anytime(curves, curves["total"].max(), np.linspace(0.05, 1, 40))
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
    plots.save(fig, p.out / "figures" / name)


# --- supporting evidence -----------------------------------------------------------------------

def throughput(p: Paper, path: str = "throughput/jax_vs_torch.jsonl") -> None:
    src = p.results / path
    lines = [json.loads(s) for s in src.read_text().splitlines() if s.strip()]
    peak = next(x["peak_fp32_gflops"] for x in lines if "peak_fp32_gflops" in x)
    df = pd.DataFrame([x for x in lines if "framework" in x])
    t = df.pivot_table(index=["model", "resolution"], columns="framework", values="img_per_s").reset_index()
    p.table("throughput", t.round(0))
    jax = df[df.framework == "jax"]
    p.put("peak_gflops", peak, src, "{:.0f}")
    p.put("jax_share_of_peak", f"{jax['share_of_peak'].min():.0%}-{jax['share_of_peak'].max():.0%}", src)
    p.put("throughput_repeats", len(jax["img_per_s_all"].iloc[0]), src, "{:d}")
    for name, a, b in (("jax_over_xla", "jax", "jax-xla"), ("jax_over_torch_cl", "jax", "torch-cl"),
                       ("torch_bf16_over_jax", "torch-bf16", "jax")):
        ratio = t[a] / t[b] if a in t and b in t else pd.Series([np.nan])
        p.put(name, f"{ratio.min():.2f}-{ratio.max():.2f}", src)


def synthetic(p: Paper) -> None:
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
    opt = p.results / "optimizers_synthetic" / "summary.md"
    p.put("optimizers_table", _first_table(opt.read_text()), opt)


def estimators(p: Paper) -> None:
    """The estimators against their best peers (issue 15): the importance battery's table and the
    multi-fidelity optimizers' goal lines, quoted from each harness's summary."""
    bat = p.results / "importance_battery" / "summary.md"
    p.put("battery_table", _first_table(bat.read_text()), bat)
    peers = p.results / "bohb_peers" / "summary.md"
    goal = [s for s in peers.read_text().splitlines() if s.startswith("- **")]
    p.put("peers_goal", "\n".join("  " + s for s in goal), peers)


def _first_table(md: str) -> str:
    lines = md.splitlines()
    start = next((i for i, s in enumerate(lines) if s.startswith("|")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


PARTS = {"study": (study, "cifar10_cpu/evaluations.parquet"), "study_v2": (study_v2, "study_v2/summary.json"),
         "strategies": (strategies, "strategies/runs.parquet"),
         "live": (live, "strategies_live/runs.parquet"),
         "live_v2": (live_v2, "strategies_live_v2/runs.parquet"),
         "surrogate_v2": (surrogate_v2, "surrogate_v2/summary.json"),
         "throughput": (throughput, "throughput/jax_vs_torch.jsonl"),
         "synthetic": (synthetic, "analysis_synthetic/coverage.json"),
         "estimators": (estimators, "importance_battery/summary.md")}


def build(results: str | Path = "results", out: str | Path = HERE, n_boot: int = 50,
          template: str | Path = HERE / "template.md", partial: bool = False) -> Paper:
    """Compute every part whose results exist and render the template.

    partial: quote "n/a" for numbers of missing parts (a draft) instead of failing.
    """
    p = Paper(Path(results), Path(out), n_boot)
    if not p.results.is_dir():
        raise FileNotFoundError(f"no results folder {p.results} (give --results DIR)")
    for d in ("figures", "tables"):
        (p.out / d).mkdir(parents=True, exist_ok=True)
    for name, (fn, needs) in PARTS.items():
        if (p.results / needs).exists():
            fn(p)
        else:
            p.notes.append(f"{name}: skipped, {p.results / needs} not found")
    text = Path(template).read_text()
    missing = sorted({k for k in re.findall(r"\{\{([^}]+)\}\}", text) if k not in p.numbers})
    if missing and partial:
        p.numbers.update({k: {"text": "n/a", "source": "missing: " + "; ".join(p.notes)} for k in missing})
    elif missing:
        raise KeyError(f"the template quotes {missing}, which the results in {p.results} do not give"
                       + (f" ({'; '.join(p.notes)})" if p.notes else ""))
    (p.out / "numbers.json").write_text(json.dumps(p.numbers, indent=1, default=str) + "\n")
    numbers = json.loads((p.out / "numbers.json").read_text())  # the text quotes what numbers.json holds
    (p.out / "paper.md").write_text(re.sub(r"\{\{([^}]+)\}\}", lambda m: numbers[m.group(1)]["text"], text))
    return p

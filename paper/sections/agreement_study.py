"""Study v2 (`experiments/studies/agreement_study.py` writes `results/study_v2/`): agreement beside the noise
ceiling, against cost ratio, at two scales and on two datasets; every number from its outputs, which say what
they rest on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from hpobench.fidelity import Fidelity
from hpobench.paper import charts
from hpobench.paper.render import Paper, ci
from hpobench.paper.sections import slope_stability
from hpobench.paper.sections.agreement_rows import agreement_table, cis, knobs, row
from hpobench.paper.sections.transfer import gap, verdict, versus


def read(p: Paper, folder: str = "study_v2") -> None:
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
    p.table("v2_agreement", agreement_table(main_rows, seed_rows))
    for view in ("importance", "performance"):
        c = row(seed_rows, view=view, kind="ceiling", a=full, statistic="spearman")
        p.put(f"v2_ceiling_{view}", cis(c) if c is not None else "not measured yet" + (
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
    c = row(seed_rows, view="importance", kind="ceiling", a=full, statistic="spearman")
    g = seed_rows[(seed_rows["kind"] == "cross_seed") & (seed_rows["view"] == "importance") &
                  (seed_rows["statistic"] == "spearman")].sort_values(["cost_ratio", "estimate"])
    at = g[g["estimate"] >= c["lower"]].head(1) if c is not None else g.iloc[:0]
    p.put("v2_at_ceiling", "not measurable yet (no noise ceiling)" if c is None else
          f"none of the rungs reaches {c['lower']:.2f}" if at.empty else
          f"{Fidelity.parse(at['a'].iloc[0]).short}, cost ratio {at['cost_ratio'].iloc[0]:.3f}: "
          f"{cis(at.iloc[0])}", agr_src)
    for key, views, claim in (("scale", cv.get("transfer", {}), "the 5x scale"),
                              ("dataset", cv.get("dataset", {}), "Fashion-MNIST")):
        p.put(f"v2_answer_{key}", f"{claim}: " + ("; ".join(verdict(v, t) for v, t in views.items())
                                                 or "not testable yet"), cv_src)
    charts.agreement_curves(agr, cv, p.figure("v2_agreement_vs_cost"))
    five = cv["curves"].get("cifar10 5x importance")
    top = row(agr, table="cifar10-5x-main", kind="cross", view="importance", statistic="spearman", a=full)
    p.put("v2_transfer", "The 5x grid (`experiments/specs/cifar10_5x.yaml`) has no configuration recorded at every "
          "rung yet, so whether agreement is a function of the cost ratio alone is not yet tested." if five is None
          else f"At the 5x scale ({s['tables']['cifar10-5x-main']['n_configs']} configurations) importance agreement "
          f"with its full fidelity ranges {min(five['estimate']):.2f}-{max(five['estimate']):.2f}"
          + ("" if top is None else f"; the 1x full fidelity itself (cost ratio {top['cost_ratio']:.1f}) reaches "
             f"{cis(top)}") + f"; slope per decade "
          f"{ci(five['slope'], *five['slope_ci'])}. Against the 1x curve measured on the same configurations "
          f"and resamples (so the test is not one of grid sizes, Section 4.3): "
          + versus(cv.get("transfer", {}), "agreement being a function of the cost ratio alone"), cv_src)
    fm, cm = cv["curves"].get("fashion_mnist 1x importance"), cv["curves"].get("cifar10 1x-matched importance")
    p.put("v2_fashion", "The Fashion-MNIST grid (`experiments/specs/fashion_mnist_cpu.yaml`) has no recorded "
          "configuration yet." if fm is None else
          f"On Fashion-MNIST ({s['tables']['fashion_mnist-1x-main']['n_configs']} configurations) importance "
          f"agreement with full fidelity ranges {min(fm['estimate']):.2f}-{max(fm['estimate']):.2f}; slope per "
          f"decade of cost ratio {ci(fm['slope'], *fm['slope_ci'])}."
          + (f" Against CIFAR-10 1x on its first {s['tables']['cifar10-1x-matched-main']['n_configs']} "
             f"configurations (as many as Fashion-MNIST has; slope {ci(cm['slope'], *cm['slope_ci'])}): "
             f"{versus(cv['dataset'], 'one curve for both datasets')}" if cv.get("dataset") else ""), cv_src)
    size = cv.get("size", {}).get("importance")
    p.put("v2_size", "not measured (no matched table)" if size is None else
          f"CIFAR-10 1x on all {main['n_configs']} configurations against its first "
          f"{s['tables']['cifar10-1x-matched-main']['n_configs']}, importance agreement differs by "
          f"{gap(size)[0]} (independent resamples of nested sets, so the interval is conservative)", cv_src)
    fm_rows = agr[agr["table"] == "fashion_mnist-1x-main"]
    p.table("v2_fashion_agreement", agreement_table(fm_rows) if len(fm_rows) else
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
    k = pd.read_csv(d / "knobs.csv")
    table, words = knobs(k[k["table"] == "cifar10-1x-main"], full)
    p.table("v2_knobs", table)
    p.put("v2_knobs", words, d / "knobs.csv")
    slope_stability.read(p, d / "stability.json")
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


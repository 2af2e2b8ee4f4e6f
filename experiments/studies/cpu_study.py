"""The CPU-scale study's evidence: importance per fidelity, its agreement with full fidelity, and the
learning-rate hierarchy, from the grid `experiments/specs/cifar10_cpu.yaml` (`results/cifar10_cpu/`).

    python -m hpobench.experiments.studies.cpu_study                  # results/ -> results/cpu_study/
    python -m hpobench.experiments.studies.cpu_study --results R --out O --n-boot 50

fANOVA and PED-ANOVA importance at every recorded fidelity (`importance.per_fidelity`: the same
`--n-boot` configuration resamples at every fidelity, seed 0, no split-half reliability); each low
fidelity against full fidelity (the costliest): the raw Spearman of both methods' importance with its
90% interval and fANOVA's top-3 overlap (`agreement.compare`, no attenuation correction), and the
Spearman of the configurations' F1 (`agreement.performance`, 200 resamples, seed 0). Writes to --out:

    agreement.csv    one row per low fidelity, cheapest first: its label, the knob lowered (or
                     "joint"), its cost relative to full, and the statistics above with their bounds
    importance.csv   one row per method x fidelity x hyperparameter: value, 90% interval, rank
                     (1 = most important; ties in the order of the space), the fidelity's cost
    hierarchy.json   the popular claims at full fidelity (fANOVA): the learning rate's share and rank,
                     the top hyperparameter, the learning rate's share over the largest other share with
                     its 90% interval over the resamples, and the learning rate x batch size interaction
                     (null where it is not among the pairs fANOVA reports)

`python -m paper` quotes them (`paper/sections/cpu_study.py`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench import records
from hpobench.analysis import agreement, importance, trials
from hpobench.fidelity import Fidelity

KNOBS = ("epochs", "data_fraction", "resolution")
METHODS = ("fanova", "ped-anova")
GRID = "cifar10_cpu"


def kind(f: Fidelity, full: Fidelity) -> str:
    """The knob `f` lowers from `full`, "joint" for several, "full" for none."""
    lowered = [k for k in KNOBS if f[k] != full[k]]
    return lowered[0] if len(lowered) == 1 else "joint" if lowered else "full"


def agreement_table(df: pd.DataFrame, space, fids: list[Fidelity], full: Fidelity, imps: dict) -> pd.DataFrame:
    """Every low fidelity against `full`: importance agreement of each method, performance agreement."""
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
    return pd.DataFrame(rows).sort_values("relative cost").reset_index(drop=True)


def importance_table(imps: dict) -> pd.DataFrame:
    """`imps` (method -> Fidelity -> Importance) as one row per method x fidelity x hyperparameter."""
    parts = []
    for m, per in imps.items():
        for f, imp in per.items():
            rank = {name: i + 1 for i, name in enumerate(imp.ranking)}
            parts.append(pd.DataFrame({"method": m, "fidelity": f.label, "cost": f.cost, "hp": imp.names,
                                       "value": imp.value, "lower": imp.lower, "upper": imp.upper,
                                       "level": imp.level, "rank": [rank[n] for n in imp.names]}))
    return pd.concat(parts, ignore_index=True)


def hierarchy(imp) -> dict:
    """The claims: learning rate 7-20x more important than any other; lr x batch size interact."""
    names = list(imp.names)
    i = names.index("learning_rate")
    others = np.delete(np.arange(len(names)), i)
    ratio = imp.value[i] / imp.value[others].max()
    reps = imp.replicates[np.isfinite(imp.replicates).all(1)]
    rr = reps[:, i] / np.maximum(reps[:, others].max(1), 1e-12)
    lo, hi = np.quantile(rr, [0.05, 0.95]) if len(rr) else (np.nan, np.nan)
    pair = imp.interactions.get(("learning_rate", "batch_size"), imp.interactions.get(("batch_size", "learning_rate")))
    top = imp.ranking[0]
    return {"method": imp.method, "fidelity": imp.fidelity.label, "resamples": len(rr),
            "learning_rate": {"share": float(imp.value[i]), "rank": imp.ranking.index("learning_rate") + 1},
            "top": {"hp": top, "share": float(imp.value[names.index(top)])},
            "ratio_to_largest_other": {"estimate": float(ratio), "lower": float(lo), "upper": float(hi)},
            "lr_bs_interaction": None if pair is None else float(pair)}


def run(results: str | Path = "results", out: str | Path | None = None, n_boot: int = 50) -> dict:
    """Compute and write the three files; returns the hierarchy."""
    results = Path(results)
    out = Path(out) if out is not None else results / "cpu_study"
    src = results / GRID / "evaluations.parquet"
    if n_boot < 2:
        raise ValueError(f"n_boot {n_boot}: intervals need resamples")
    if not src.is_file():
        raise FileNotFoundError(f"no study records {src} (the grid experiments/specs/{GRID}.yaml writes them)")
    df, space, _ = records.read(src)
    fids = trials.fidelities(df)  # cheapest first, each with its recorded cost (the benchmark's formula)
    full = max(fids, key=lambda f: f.cost)
    imps = {m: importance.per_fidelity(df, space, fids, method=m, n_boot=n_boot, seed=0, reliability=False)
            for m in METHODS}  # raw agreement: no attenuation correction, no reliability
    out.mkdir(parents=True, exist_ok=True)
    agreement_table(df, space, fids, full, imps).to_csv(out / "agreement.csv", index=False)
    importance_table(imps).to_csv(out / "importance.csv", index=False)
    h = hierarchy(imps["fanova"][full])
    (out / "hierarchy.json").write_text(json.dumps(h, indent=1) + "\n")
    return h


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m hpobench.experiments.studies.cpu_study",
                                description=__doc__.split("\n")[0])
    p.add_argument("--results", default="results")
    p.add_argument("--out", default=None, help="default: RESULTS/cpu_study")
    p.add_argument("--n-boot", type=int, default=50, help="bootstrap resamples over configurations")
    a = p.parse_args(argv)
    if a.n_boot < 20:
        p.error(f"--n-boot {a.n_boot}: 90% intervals need at least 20 resamples")
    h = run(a.results, a.out, a.n_boot)
    r = h["ratio_to_largest_other"]
    print(f"learning rate at {h['fidelity']}: rank {h['learning_rate']['rank']}, share "
          f"{h['learning_rate']['share']:.3f}, {r['estimate']:.2f}x the largest other [{r['lower']:.2f}, "
          f"{r['upper']:.2f}]")


if __name__ == "__main__":
    main()

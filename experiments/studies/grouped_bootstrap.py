"""Grouped sampling designs and the importance bootstrap, on the synthetic family (known importance).

A grouped design (`hpobench.spaces.sample(grouped=K)`, so that configurations sharing a program
train together) draws the static hyperparameters once per group of K. Its configurations are then
not independent draws, and a bootstrap over configurations treats them as if they were. This study
measures, on synthetic instances whose true importance is known, the coverage of the 90% importance
intervals (the default, bias-aware ones of `hpobench.analysis.importance`) and the error of the
estimates, for

- `iid`: n independent configurations (the design before), bootstrapped over configurations;
- `grouped K, configurations`: n configurations in groups of K sharing `STATIC`, bootstrapped over
  configurations (ignoring the grouping);
- `grouped K, groups`: the same table bootstrapped over groups (a `cluster` column: what
  `hpobench.analysis.bootstrap.resamples` does for a grouped grid's or scope's table).

Each grouped design is also paired with `iid` on the same instance: the mean difference of the
absolute error (grouped minus iid) with a 90% bootstrap interval over instances.

    python -m hpobench.experiments.studies.grouped_bootstrap --out results/grouped_bootstrap
    python -m hpobench.experiments.studies.grouped_bootstrap --quick --out /tmp/grouped_bootstrap  # seconds

Instances: `hpobench.get("synthetic", agreement=a, seed=s)` for seeds 0.. (agreement cycling as in
`importance_synthetic`), at its full fidelity; `STATIC` stands in for the ResNet's depth, width and
batch size (three unconditional hyperparameters). n defaults to the scope's low-fidelity sample
(`hpobench.experiments.scope`: 40). Writes `rows.csv` (one row per instance, design and
hyperparameter) and `summary.json` / `summary.md` (coverage, mean absolute error and width, for the
static hyperparameters and the others; the paired differences).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import hpobench
from hpobench import spaces, trial_row
from hpobench.analysis import bootstrap, importance

STATIC = ("n", "cat", "x0")  # drawn once per group in the grouped designs
AGREEMENTS = (1.0, 0.5, 0.0, -0.5, -1.0)
PARTS = ("static", "others", "static, truth >= 0.05")


def table(bench, n: int, seed: int, grouped: int) -> pd.DataFrame:
    """n configurations (no default) at the full fidelity; a `cluster` column when grouped."""
    fid = bench.full_fidelity
    configs = spaces.sample(bench.config_space, n, seed, default=False, grouped=grouped, static=STATIC)
    df = pd.DataFrame([trial_row(bench.name, c, fid, 0, bench.evaluate(c, fid, 0), bench.config_space)
                       for c in configs])
    return df.assign(cluster=spaces.clusters(n, grouped, default=False)) if grouped else df


def instance_rows(seed: int, n: int, ks: list[int], n_boot: int) -> list[dict]:
    """Every design's importance on instance `seed`: one row per design and hyperparameter."""
    bench = hpobench.get("synthetic", agreement=AGREEMENTS[seed % len(AGREEMENTS)], seed=seed)
    truth = bench.truth.importance(bench.full_fidelity)
    designs = [("iid", table(bench, n, seed, 0))]
    for k in ks:
        df = table(bench, n, seed, k)
        designs += [(f"grouped {k}, configurations", df.drop(columns="cluster")), (f"grouped {k}, groups", df)]
    rows = []
    for design, df in designs:
        imp = importance.importance(df, bench.config_space, n_boot=n_boot, seed=seed)
        for j, hp in enumerate(imp.names):
            t = truth[hp]
            rows.append({"seed": seed, "design": design, "hp": hp, "static": hp in STATIC, "truth": t,
                         "estimate": float(imp.value[j]), "lower": float(imp.lower[j]), "upper": float(imp.upper[j]),
                         "covered": bool(imp.lower[j] <= t <= imp.upper[j]),
                         "width": float(imp.upper[j] - imp.lower[j])})
    return rows


def part(g: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of one part of `PARTS`."""
    if name == "static":
        return g[g["static"]]
    if name == "others":
        return g[~g["static"]]
    return g[g["static"] & (g["truth"] >= 0.05)]


def paired(df: pd.DataFrame, design: str, name: str, n_boot: int = 2000) -> dict:
    """Mean over instances of (the design's mean absolute error - iid's) on one part, with a 90%
    bootstrap interval over instances."""
    err = df.assign(err=(df["estimate"] - df["truth"]).abs())
    per = {d: part(err[err["design"] == d], name).groupby("seed")["err"].mean() for d in (design, "iid")}
    diff = (per[design] - per["iid"]).dropna().to_numpy()
    if not len(diff):
        return {}
    rng = np.random.default_rng(0)
    reps = diff[rng.integers(0, len(diff), (n_boot, len(diff)))].mean(1)
    lo, hi = bootstrap.interval(reps)
    return {"mean": round(float(diff.mean()), 4), "lower": round(float(lo), 4), "upper": round(float(hi), 4),
            "instances": len(diff)}


def summarise(df: pd.DataFrame) -> dict:
    out = {"instances": int(df["seed"].nunique()), "designs": {}, "versus_iid": {}}
    for design, g in df.groupby("design", sort=False):
        out["designs"][design] = {}
        for name in PARTS:
            sel = part(g, name)
            err = (sel["estimate"] - sel["truth"]).abs()
            out["designs"][design][name] = {"coverage": round(float(sel["covered"].mean()), 3),
                                            "mean_abs_error": round(float(err.mean()), 4),
                                            "mean_width": round(float(sel["width"].mean()), 4), "intervals": len(sel)}
        if design != "iid":
            out["versus_iid"][design] = {name: paired(df, design, name) for name in PARTS}
    return out


def markdown(summary: dict, argv: list[str], seconds: float) -> str:
    lines = ["# Grouped sampling designs and the importance bootstrap", "",
             f"`python -m hpobench.experiments.studies.grouped_bootstrap {' '.join(argv)}` "
             f"({summary['instances']} synthetic instances, {seconds / 60:.1f} min).", "",
             "| design | hps | coverage of 90% intervals | mean abs. error | mean width | intervals |",
             "|---|---|---|---|---|---|"]
    for design, parts in summary["designs"].items():
        for name, v in parts.items():
            lines.append(f"| {design} | {name} | {v['coverage']:.3f} | {v['mean_abs_error']:.4f} | "
                         f"{v['mean_width']:.4f} | {v['intervals']} |")
    lines += ["", "Absolute error against iid on the same instance (grouped minus iid; mean over instances, "
              "90% bootstrap interval over instances):", "",
              "| design | hps | difference | interval |", "|---|---|---|---|"]
    for design, parts in summary["versus_iid"].items():
        for name, v in parts.items():
            if v:
                lines.append(f"| {design} | {name} | {v['mean']:+.4f} | [{v['lower']:+.4f}, {v['upper']:+.4f}] |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--instances", type=int, default=20)
    p.add_argument("--n", type=int, default=40, help="configurations per table (the scope's low-fidelity sample)")
    p.add_argument("--k", type=int, nargs="+", default=[2, 4, 8], help="group sizes of the grouped designs")
    p.add_argument("--n-boot", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="2 instances, K = 4, 10 resamples: that it runs")
    p.add_argument("--out", type=Path, default=Path("results/grouped_bootstrap"))
    args = p.parse_args(argv)
    if args.quick:
        args.instances, args.k, args.n_boot = 2, [4], 10
    if args.instances < 1 or args.n < 2 or args.n_boot < 2 or any(k < 2 or k > args.n for k in args.k):
        p.error("need --instances >= 1, --n >= 2, --n-boot >= 2 and every --k in [2, n]")
    args.out.mkdir(parents=True, exist_ok=True)
    t0, rows = time.perf_counter(), []
    for seed in range(args.instances):
        rows += instance_rows(seed, args.n, args.k, args.n_boot)
        print(f"instance {seed + 1}/{args.instances} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out / "rows.csv", index=False)
    summary = summarise(df)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    (args.out / "summary.md").write_text(markdown(summary, argv if argv is not None else sys.argv[1:],
                                                  time.perf_counter() - t0))
    print(markdown(summary, argv if argv is not None else sys.argv[1:], time.perf_counter() - t0))


if __name__ == "__main__":
    main()

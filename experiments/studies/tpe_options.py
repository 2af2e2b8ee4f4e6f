"""Which options `optuna-tpe` defaults to: independent, multivariate or multivariate + grouped TPE.

Each variant tunes each benchmark at full fidelity for the same budget (`--trials` full-fidelity
trials, the default configuration included), on held-out seeds 100.. (the optimizer harnesses
use 0..); random search runs beside them. The score of a run is the noise-free metric of its
incumbent, oriented larger-is-better: `synthetic/agree` re-evaluated without observation noise,
`mf/hartmann6` its noise-free function value (negated: minimised), `surrogate/cifar10-cpu`
(the recorded CIFAR-10 study's forest over the 25-hyperparameter conditional ResNet space)
as recorded, being deterministic. Per benchmark: mean, median and standard error over seeds,
and on how many seeds each variant beats independent TPE and random search.

    nice -n 15 python -m hpobench.experiments.studies.tpe_options        # about a CPU-minute

Outputs (--out, default results/tpe_options/): runs.csv (one row per benchmark, variant, seed),
summary.md.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from pathlib import Path

import pandas as pd

import hpobench

VARIANTS = {"random": ("random", {}),
            "independent": ("optuna-tpe", {"multivariate": False, "group": False}),
            "multivariate": ("optuna-tpe", {"multivariate": True, "group": False}),
            "multivariate+group": ("optuna-tpe", {"multivariate": True, "group": True})}
BENCHMARKS = {"synthetic/agree": 60, "surrogate/cifar10-cpu": 40, "mf/hartmann6": 40}  # name -> trials


def score(name: str, bench, run) -> float:
    """The incumbent's noise-free metric, larger is better."""
    config = run.incumbent
    if name.startswith("synthetic/"):
        r = hpobench.get(name, noise=0.0).evaluate(config, None, seed=0)
        value = r.value(bench.metric) if r.status == "ok" else math.nan
    elif hasattr(bench.truth, "point"):  # a multi-fidelity test function
        value = bench.truth.value(bench.truth.point(config))
    else:
        value = run.incumbent_value
    return bench.metric.sign * value


def summarise(df: pd.DataFrame, trials: dict) -> str:
    lines = []
    for name, b in df.groupby("benchmark", sort=False):
        wide = b.pivot(index="seed", columns="variant", values="score")
        lines += [f"### {name} ({trials[name]} full-fidelity trials, {len(wide)} seeds; score: larger is better)", "",
                  "| variant | mean | median | SE | > independent (seeds) | > random (seeds) |",
                  "|---|---|---|---|---|---|"]
        for v in VARIANTS:
            x = wide[v]
            wins = [f"{int((x > wide[other]).sum())}/{len(x)}" for other in ("independent", "random")]
            lines.append(f"| {v} | {x.mean():.4f} | {x.median():.4f} | {x.std(ddof=1) / math.sqrt(len(x)):.4f} | "
                         f"{wins[0]} | {wins[1]} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS))
    p.add_argument("--out", default="results/tpe_options")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.process_time()
    for name in args.benchmarks:
        bench = hpobench.get(name)
        budget = BENCHMARKS[name] * bench.cost(bench.full_fidelity)
        for (variant, (opt, options)), seed in itertools.product(VARIANTS.items(), range(100, 100 + args.seeds)):
            run = hpobench.tune(bench, opt, budget=budget, seed=seed, options=options)
            rows.append({"benchmark": name, "variant": variant, "seed": seed, "trials": len(run.trials),
                         "score": score(name, bench, run)})
            print(f"{name} {variant} seed {seed}: {rows[-1]['score']:.4f}", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "runs.csv", index=False)
    text = (f"# optuna-tpe: independent vs multivariate vs multivariate + grouped TPE\n\n"
            f"Produced by `python -m hpobench.experiments.studies.tpe_options --seeds {args.seeds}` "
            f"({(time.process_time() - t0) / 60:.1f} CPU-min); seeds 100-{99 + args.seeds}.\n\n"
            + summarise(df, BENCHMARKS))
    (out / "summary.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()

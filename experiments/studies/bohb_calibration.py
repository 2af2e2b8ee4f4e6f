"""Variants of our BOHB's sampler on held-out seeds: Syne Tune's choices and our departures from the paper.

Syne Tune 0.16's BOHB, the peer `bohb_peers` compares ours with, differs from the paper's
(Falkner et al., 2018; `hpobench.optimizers.bohb` with `PAPER`) in four choices. Each variant
below switches some of them on in the paper's BOHB:

    sh     one successive-halving bracket (Syne Tune runs a single ASHA bracket)
    q30    top_n 0.3: the good KDE fitted on the top 30% (the paper: 15%)
    r15    random_fraction 0.15 (the paper: 1/3)
    last   the KDE fitted on every configuration's last (highest-budget) observation, pooled
           over budgets, as Syne Tune's LastValueMultiFidelitySearcher feeds its KDE
           (`LastSampler`); the paper fits on the largest budget with enough observations

and the variants named coord and select switch on the departures of our BOHB (module docstring
of `hpobench.optimizers.bohb`): coordinate draws (coord: 1/6 uniform, 1/3 one coordinate
redrawn; coord-r0 and coord-c16 other shares) and bracket selection by rank agreement (select);
coord-select is our BOHB's default.

Every variant runs through `bohb_peers.run_function` (same budget in full-fidelity
evaluations, regret of the incumbent at 25%, 50% and 100% of it) on seeds 100-119 by
default, apart from the evidence's seeds 0-9, so that choosing a setting here does not
tune to the evidence.

    python -m hpobench.experiments.studies.bohb_calibration styblinski4                   # every variant
    python -m hpobench.experiments.studies.bohb_calibration styblinski4 --variants paper sh
    python -m hpobench.experiments.studies.bohb_calibration forrester4 --variants paper coord select \\
        coord-select --seeds 30

Writes OUT/<function>__<variants joined by _>.csv (default OUT: results/bohb_peers/calibration),
`bohb_peers`' raw-row format with the optimizer named v-<variant>; results/bohb_peers/README.md
has the run and its reading.
"""

from __future__ import annotations

import argparse
import functools
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hpobench import optimizers
from hpobench.benchmarks.mf_functions import FUNCTIONS
from hpobench.experiments.studies import bohb_peers
from hpobench.optimizers import Problem, bohb
from hpobench.optimizers.hyperband import Hyperband

OUT = Path("results/bohb_peers/calibration")
POOLED = "last"  # the budget key LastSampler's pooled observations are fitted under
PAPER = bohb.PAPER  # the paper's sampler: the base of Syne Tune's choices below
COORD = dict(random_fraction=1 / 6, coordinate_fraction=1 / 3)
VARIANTS = {
    "paper": PAPER,
    "sh": PAPER | dict(sh=True),
    "sh-q30": PAPER | dict(sh=True, top_n=0.3),
    "sh-q30-r15": PAPER | dict(sh=True, top_n=0.3, random_fraction=0.15),
    "q30-r15": PAPER | dict(top_n=0.3, random_fraction=0.15),
    "sh-r15": PAPER | dict(sh=True, random_fraction=0.15),
    "last": PAPER | dict(last=True),
    "sh-last": PAPER | dict(last=True, sh=True),
    # the departures of hpobench.optimizers.bohb, alone and together, and the shares around them
    "coord": PAPER | COORD,
    "coord-r0": PAPER | dict(random_fraction=0.0, coordinate_fraction=1 / 3),
    "coord-c16": PAPER | dict(random_fraction=1 / 6, coordinate_fraction=1 / 6),
    "select": PAPER | dict(select_brackets=True),
    "coord-select": PAPER | COORD | dict(select_brackets=True),  # our BOHB's defaults
}


@dataclass
class LastSampler(bohb.KDESampler):
    """BOHB's sampler with its KDE fitted on each configuration's last (highest-budget) observation."""

    pooled: dict = field(init=False, default_factory=dict)  # config -> (budget, vector, loss)

    def observe(self, config, budget, loss):
        super().observe(config, budget, loss)
        key = tuple(sorted(config.items()))
        if key not in self.pooled or self.pooled[key][0] <= budget:
            self.pooled[key] = (budget, self.enc.encode(config), float(loss))

    def model_budget(self):
        return POOLED if len(self.pooled) >= self.min_points + 2 else None

    def fit(self, budget):
        self.obs[POOLED] = ([v[1] for v in self.pooled.values()], [v[2] for v in self.pooled.values()])
        return super().fit(POOLED)


def make(problem: Problem, sh: bool = False, last: bool = False, **kw) -> Hyperband:
    """Our BOHB on `problem` with a variant's choices; kw go to the sampler (`bohb.make`)."""
    if last:
        return Hyperband(problem, LastSampler(problem.seeded_space(), problem.seed, **kw), successive_halving=sh)
    h = bohb.make(problem, **kw)
    h.successive_halving = sh  # always the most aggressive bracket, as Syne Tune's single ASHA bracket
    return h


def register(names) -> None:
    """Register each variant as the optimizer v-<name> (again: replaced, the same factory)."""
    for v in names:
        optimizers.register(f"v-{v}", functools.partial(make, **VARIANTS[v]), overwrite=True)


def run(function: str, names, seeds, full_evals: float = bohb_peers.FULL_EVALS, out: Path = OUT) -> pd.DataFrame:
    """Every variant in `names` on `function` and `seeds`; the rows, also written to out/<function>__<names>.csv."""
    register(names)
    rows = []
    for v in names:
        t = time.time()
        df = bohb_peers.run_function(function, [f"v-{v}"], seeds, full_evals)
        rows.append(df)
        f = df[df.fraction == 1.0].regret
        print(f"## {function} {v}: median {f.median():.4g} mean {f.mean():.4g} ({time.time() - t:.0f}s)", flush=True)
    df = pd.concat(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{function}__{'_'.join(names)}.csv", index=False)
    return df


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("function", choices=list(FUNCTIONS))
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--first-seed", type=int, default=100)
    p.add_argument("--full-evals", type=float, default=bohb_peers.FULL_EVALS, help="budget, full-fidelity evaluations")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.seeds < 1 or not args.full_evals >= 1:
        p.error("need --seeds >= 1 and --full-evals >= 1")
    run(args.function, args.variants, range(args.first_seed, args.first_seed + args.seeds), args.full_evals, args.out)


if __name__ == "__main__":
    main()

"""BOHB side by side with its peers on multi-fidelity functions with a known optimum.

Optimizers, all driven by `hpobench.tune` in one process through the same ask/tell loop, on
the same registered benchmark (`mf/<function>`, `hpobench.benchmarks.mf_functions`), seed and
budget in cost (every evaluation is charged its fidelity's cost, `budget`; a promoted or
continued configuration is charged again in full at its new fidelity, for every optimizer):

    bohb           ours (hpobench/optimizers/bohb.py)
    smac-mf        ours: SMAC3's multi-fidelity facade (hpobench/optimizers/smac.py)
    synetune-bohb  Syne Tune's BOHB (ASHA stopping + KDE; optional extra `peers`), adapted here
    hyperband      ours, random sampling (reference: what the model adds)
    bohb-paper     ours with the paper's sampler (`bohb.PAPER`: reference: what our departures add)

DEHB (0.1.2, the latest) requires numpy < 2, which our pinned stack (numpy 2.4) excludes, so it
is not in the comparison. Every run starts, as every `hpobench.tune` run does, with the space's
default configuration (the box's centre) at full fidelity; every optimizer is told its result.

Regret = f(incumbent) - f*, with f the noise-free full-fidelity function and the incumbent
what the optimizer would return: the best *observed* (noisy) value among its full-fidelity
trials so far (the default configuration before any other). It is read at 25%, 50% and 100%
of the budget. The summary gives the median and interquartile range over seeds per function
and optimizer, and checks the goal (issues 15 and 33): our median final regret <= the best
peer's on at least 3 of the functions, and never above 1.2x it.

    flock /work/main/runs/core0.lock taskset -c 0 nice -n 5 \\
        .venv/bin/python -m hpobench.experiments.studies.bohb_peers --seeds 10            # the evidence
    .venv/bin/python -m hpobench.experiments.studies.bohb_peers --seeds 1 --functions branin --out /tmp/x

The results, their history and the calibration of our BOHB: results/bohb_peers/README.md.

Raw rows go to OUT/raw/<function>__<optimizer>.csv (one file per pair: the run can be done in
pieces with --functions and --optimizers), the table to OUT/summary.md and the goal's check to OUT/goal.json
(default OUT: results/bohb_peers).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

import hpobench
from hpobench import optimizers
from hpobench.benchmarks.mf_functions import FUNCTIONS
from hpobench.optimizers import OptimizerError, Problem, Proposal, Trial, record

logging.getLogger("syne_tune").setLevel(logging.ERROR)  # it warns that BOHB passes points_to_evaluate twice

FRACTIONS = (0.25, 0.5, 1.0)
OURS = ("bohb", "smac-mf")
PEERS = ("synetune-bohb",)
REFERENCE = ("hyperband", "bohb-paper")
FULL_EVALS = 100  # budget: the cost of this many full-fidelity evaluations
GOAL_WINS, GOAL_RATIO = 3, 1.2  # the goal: at or below the best peer on this many functions, never above this ratio


# --- Syne Tune's BOHB behind our ask/tell ----------------------------------------------------------

@dataclass
class SyneTuneBOHB:
    """Syne Tune's BOHB (default settings, eta = 3, one bracket) as an hpobench optimizer.

    Syne Tune's ASHA is a stopping scheduler: a trial starts at the smallest budget and, after
    each rung's result, is continued to the next rung or stopped. Here each rung is one
    evaluation at that rung's budget: `ask` returns the continuation of the last trial while
    the scheduler says CONTINUE, else a new configuration from its searcher.

    Syne Tune (0.16) draws its random configurations and its bracket from numpy's global
    random state (`config_space` sampling, `np.random.choice` in ASHA), so a run depended on
    whatever that state was. Every call into the scheduler runs with numpy's global state
    swapped for the run's own (`_own_rng`), seeded from the run's seed and kept between calls:
    the same seed gives the same run in any process, and the caller's global state is left as
    it was. (Its KDE searcher has its own RandomState, seeded by `random_seed`; Python's
    `random` is not drawn on this path.)
    """

    problem: Problem
    scheduler: object = field(init=False, repr=False)
    rng_state: tuple = field(init=False, repr=False)  # numpy's global state while Syne Tune runs
    rungs: list = field(init=False)
    trials: dict = field(init=False, default_factory=dict)  # Syne Tune trial id -> its Trial
    cont: tuple | None = field(init=False, default=None)  # (trial id, next rung) to run next

    def __post_init__(self):
        try:
            from syne_tune.optimizer.baselines import BOHB
        except ImportError:
            raise OptimizerError("synetune-bohb needs Syne Tune: pip install 'hpobench[peers]'") from None
        self.rungs = self.problem.axis.rungs(3)
        # a stream of its own, not the KDE searcher's RandomState(seed) (same seed: the same draws)
        self.rng_state = np.random.RandomState(np.random.SeedSequence((self.problem.seed, 1)).generate_state(4)
                                               ).get_state()
        self.scheduler = BOHB(_synetune_space(self.problem.space), metric="loss", time_attr="budget",
                              max_t=self.rungs[-1], grace_period=self.rungs[0], reduction_factor=3,
                              do_minimize=True, random_seed=self.problem.seed, points_to_evaluate=[])

    @contextlib.contextmanager
    def _own_rng(self):
        outer = np.random.get_state()
        np.random.set_state(self.rng_state)
        try:
            yield
        finally:
            self.rng_state = np.random.get_state()
            np.random.set_state(outer)

    def _new(self, config: dict):
        from syne_tune.backend.trial_status import Trial as StTrial
        t = StTrial(trial_id=len(self.trials), config=config, creation_time=dt.datetime.now())
        self.trials[t.trial_id] = t
        with self._own_rng():
            self.scheduler.on_trial_add(t)
        return t

    def ask(self) -> Proposal:
        if self.cont is not None:
            tid, rung = self.cont
            self.cont = None
        else:
            with self._own_rng():
                config = self.scheduler.suggest().config
            tid, rung = self._new(config).trial_id, 0
        config = {k: float(v) for k, v in self.trials[tid].config.items()}
        return Proposal(config, self.rungs[rung], {"st": tid, "rung": rung})

    def tell(self, trial: Trial, loss: float) -> None:
        from syne_tune.optimizer.scheduler import SchedulerDecision
        if "st" not in trial.info:  # the default configuration: a finished trial at full budget
            tid, rung = self._new(dict(trial.config)).trial_id, len(self.rungs) - 1
        else:
            tid, rung = trial.info["st"], trial.info["rung"]
        with self._own_rng():
            decision = self.scheduler.on_trial_result(self.trials[tid], {"loss": float(loss),
                                                                          "budget": self.rungs[rung]})
        if decision == SchedulerDecision.CONTINUE and rung + 1 < len(self.rungs) and "st" in trial.info:
            self.cont = (tid, rung + 1)


def _synetune_space(space) -> dict:
    from syne_tune.config_space import loguniform, uniform
    out = {}
    for name, hp in space.items():
        if not (hasattr(hp, "lower") and isinstance(hp.lower, float)) or space.conditions:
            raise OptimizerError(f"synetune-bohb adapter: only unconditional float spaces; {name!r} is "
                                 f"{type(hp).__name__}")
        out[name] = (loguniform if hp.log else uniform)(hp.lower, hp.upper)
    return out


def register() -> None:
    if "synetune-bohb" not in optimizers.names():
        optimizers.register("synetune-bohb", SyneTuneBOHB)


# --- the harness --------------------------------------------------------------------------------

def regrets(run, fn, budget: float) -> list[dict]:
    """Regret of the incumbent (best observed full-fidelity trial) at each budget fraction."""
    rows = []
    for frac in FRACTIONS:
        trial, observed = record.incumbent_at(run.trajectory, frac * budget)
        trial = 0 if trial is None else int(trial)  # before any full-fidelity result: the default
        row = run.trials[run.trials["trial"] == trial].iloc[0]
        x = [row[f"config.x{j}"] for j in range(fn.dims)]
        rows.append({"fraction": frac, "incumbent_trial": trial, "observed": float(observed),
                     "regret": fn.value(x) - fn.f_star})
    return rows


def run_function(name: str, opts, seeds, full_evals: float) -> pd.DataFrame:
    fn = FUNCTIONS[name]
    budget = full_evals * fn.b_max
    rows = []
    for opt, seed in itertools.product(opts, seeds):
        run = hpobench.tune(f"mf/{name}", opt, budget=budget, seed=seed)
        t = run.trials
        for r in regrets(run, fn, budget):
            rows.append({"function": name, "optimizer": opt, "seed": seed, "budget": budget, "spent": run.spent,
                         "n_trials": len(t), "n_full": int(t["full"].sum()), **r})
        print(f"  {name:11s} {opt:13s} seed {seed}: final regret {rows[-1]['regret']:.4g}, {len(t)} trials "
              f"({int(t['full'].sum())} full), cost {run.spent:.0f}/{budget:.0f}", flush=True)
    return pd.DataFrame(rows)


def _iqr(x: pd.Series) -> str:
    q1, q2, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    return f"{q2:.3g} [{q1:.3g}, {q3:.3g}]"


def verdict(df: pd.DataFrame, ours: str) -> dict:
    """Per function: our median final regret / the best peer's, and whether the goal holds."""
    final = df[df["fraction"] == 1.0].groupby(["function", "optimizer"])["regret"].median().unstack()
    peers = [p for p in PEERS if p in final]
    if ours not in final or not peers:
        return {}
    best = final[peers].min(axis=1)
    ratio = final[ours] / best.where(best > 0, np.nan)
    wins = int((final[ours] <= best).sum())
    ok = wins >= min(GOAL_WINS, len(final)) and bool((final[ours] <= GOAL_RATIO * best).all())
    return {"ratio": ratio, "wins": wins, "n": len(final), "ok": ok, "ours": final[ours], "best": best}


def summarise(df: pd.DataFrame, full_evals: float) -> str:
    seeds = sorted(df["seed"].unique())
    lines = ["# BOHB and its peers on multi-fidelity functions with a known optimum", "",
             f"Budget per run: the cost of {full_evals:g} full-fidelity evaluations (each evaluation charged its "
             f"fidelity's cost). Regret = f(incumbent) - f*, noise-free at full fidelity; the incumbent is the best "
             f"observed full-fidelity trial. Seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}). Cells: median "
             f"[25%, 75%] over seeds. Produced by "
             f"`python -m hpobench.experiments.studies.bohb_peers --seeds {len(seeds)} "
             f"{f'--first-seed {seeds[0]} ' if seeds[0] else ''}"
             f"--full-evals {full_evals:g}`; raw rows in raw/<function>__<optimizer>.csv.", "",
             "| function | optimizer | regret @25% | regret @50% | final regret | trials (median) |",
             "|---|---|---|---|---|---|"]
    for (name, opt), g in df.groupby(["function", "optimizer"], sort=False):
        by = {f: g[g["fraction"] == f]["regret"] for f in FRACTIONS}
        trials = g[g["fraction"] == 1.0]["n_trials"].median()
        lines.append(f"| {name} | {opt} | {_iqr(by[0.25])} | {_iqr(by[0.5])} | {_iqr(by[1.0])} | {trials:.0f} |")
    g = goal(df)
    lines += ["", f"## Goal: median final regret <= the best peer's on >= {g['wins_needed']} of {g['functions']}, "
              f"never > {g['max_ratio']:g}x", ""]
    for ours, v in g["optimizers"].items():
        cells = ", ".join(f"{k} {c['ours']:.3g} vs {c['best']:.3g} ({c['ratio']:.3f}x)"
                          for k, c in v["functions"].items())
        lines.append(f"- **{ours}**: {'met' if v['met'] else 'NOT met'} ({v['wins']}/{v['n']} at or below the "
                     f"best peer): {cells}")
    return "\n".join(lines) + "\n"


def goal(df: pd.DataFrame) -> dict:
    """The goal checked for each of ours (goal.json): per function our median final regret, the best
    peer's and their ratio; how many functions we are at or below it on; whether the goal is met."""
    n = df["function"].nunique()
    out = {"wins_needed": min(GOAL_WINS, n), "functions": n, "max_ratio": GOAL_RATIO, "peers": list(PEERS),
           "optimizers": {}}
    for ours in OURS:
        v = verdict(df, ours)
        if v:
            out["optimizers"][ours] = {
                "met": v["ok"], "wins": v["wins"], "n": v["n"],
                "functions": {k: {"ours": float(v["ours"][k]), "best": float(v["best"][k]),
                                  "ratio": float(v["ratio"][k])} for k in v["ours"].index}}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--full-evals", type=float, default=FULL_EVALS, help="budget in full-fidelity evaluations")
    p.add_argument("--functions", nargs="+", default=list(FUNCTIONS), choices=list(FUNCTIONS))
    p.add_argument("--optimizers", nargs="+", default=[*OURS, *PEERS, *REFERENCE])
    p.add_argument("--out", default="results/bohb_peers")
    p.add_argument("--summary-only", action="store_true", help="rebuild summary.md and goal.json from OUT/raw")
    args = p.parse_args(argv)
    register()
    for opt in args.optimizers:
        optimizers.factory(opt)  # unknown names: a clear error before any run
    if args.seeds < 1 or not math.isfinite(args.full_evals) or args.full_evals < 1:
        raise SystemExit("error: need --seeds >= 1 and --full-evals >= 1")
    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        for opt, name in itertools.product(args.optimizers, args.functions):  # an optimizer at a time
            run_function(name, [opt], seeds, args.full_evals).to_csv(out / "raw" / f"{name}__{opt}.csv", index=False)
    df = pd.concat([pd.read_csv(f) for f in sorted((out / "raw").glob("*.csv"))], ignore_index=True)
    text = summarise(df, args.full_evals)
    (out / "summary.md").write_text(text)
    (out / "goal.json").write_text(json.dumps(goal(df), indent=1) + "\n")
    print("\n" + text)


if __name__ == "__main__":
    main()

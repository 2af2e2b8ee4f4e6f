"""Adaptive scoping in rounds vs the fixed design, at equal budget, on the synthetic family.

Instances are `importance_synthetic.instance(seed)` (designed low/full agreement 1, 0.5, 0,
-0.5, -1 in turn; true full-fidelity importance known). Both designs get the same budget
and the same fidelities (`experiments/scope.py`: `plan`); the fixed design runs the plan's
40 + 15 configurations in one go, the adaptive one 20 + 15 and then up to 3 more rounds,
stopping once the decision is settled. Per run: recall of the truly important
hyperparameters (the fewest carrying 90% of the true full-fidelity variance), share of the
true full-fidelity variance the tuned set carries, hyperparameters tuned, cost spent, and
whether the decision was settled (the fixed design: by the same criterion, at its end).

Stages:
- calibrate (seeds 100-104, never evaluated): every round of the adaptive design is run
  (`scope.run(stop=False)`), and the stopping threshold on stability (`Rule.stable`) is
  chosen offline: the lowest of STABLE whose mean captured share stays within 0.02 of
  running every round (most cost saved at no loss); `calibration.csv`, `calibration.json`.
- evaluate (seeds 0-19): fixed vs adaptive with the calibrated threshold; `runs.csv`,
  `summary.md`.

Resumable: runs are recorded under --work (scope run folders) and as rows of the CSVs.

    flock /work/main/runs/core0.lock taskset -c 0 nice -n 5 \\
        .venv/bin/python -m hpobench.experiments.studies.scope_adaptive --stage all
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from hpobench import records
from hpobench.analysis import shares as scoping
from hpobench.analysis.paired import sign_test
from hpobench.experiments import scope
from hpobench.experiments.studies.importance_synthetic import FULL, instance

OUT = Path("results/scope_adaptive")
BUDGET = 300.0
N_BOOT = 20
CALIBRATION = range(100, 105)  # one instance per designed agreement
EVALUATION = range(20)
STABLE = (0.5, 0.6, 0.7, 0.8, 0.9)
SLACK = 0.02  # captured share the stopping rule may lose against running every round


def truth(b) -> tuple[dict, set]:
    """True full-fidelity shares and the truly important hps (the fewest carrying 90%)."""
    t = b.truth.importance(FULL)
    names = list(t)
    return t, {names[i] for i in scoping.smallest_set([t[n] for n in names], 0.9)}


def score(b, tune, cost, settled) -> dict:
    t, important = truth(b)
    return dict(recall=len(important & set(tune)) / len(important),
                captured=sum(t[n] for n in tune) / sum(t.values()), tuned=len(tune), cost=cost,
                decided=bool(settled))


def one(seed: int, design: str, work: Path, rule: scoping.Rule, stop: bool = True) -> dict:
    b = instance(seed)
    res = scope.run(b, BUDGET, work / f"{design}-{seed}", seed=seed, n_boot=N_BOOT, progress=False,
                    adaptive=design != "fixed", rule="variance", rule_settings=rule, report=False, stop=stop)
    dec, a = res.decision, res.decision.agreement
    return dict(seed=seed, designed=round(b.truth.agreement, 2), design=design, verdict=dec.verdict,
                rounds=len(res.rounds), agreement=a.get("estimate"), lower=a.get("lower"), upper=a.get("upper"),
                reference=dec.reference.get("estimate"), stability=dec.stability,
                **score(b, dec.tune, res.rounds[-1]["cost"], dec.settled))


def _rows(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["seed", "design"])


def _append(path: Path, row: dict) -> None:
    pd.concat([_rows(path), pd.DataFrame([row])], ignore_index=True).to_csv(path, index=False)


def calibrate(work: Path) -> dict:
    """Every round on the calibration seeds; the threshold chosen offline (module docstring)."""
    path = OUT / "calibration.csv"
    for s in CALIBRATION:
        if s in set(_rows(path).seed):
            continue
        scope.run(instance(s), BUDGET, work / f"calib-{s}", seed=s, n_boot=N_BOOT, progress=False,
                  adaptive=True, rule="variance", report=False, stop=False)
        for r in records.read_rounds(work / f"calib-{s}"):
            b = instance(s)
            _append(path, dict(seed=s, designed=round(b.truth.agreement, 2), round=r["round"],
                               stability=r["stability"], lower=r["lower"], upper=r["upper"],
                               estimate=r["estimate"], tune=json.dumps(r["tune"]),
                               **score(b, r["tune"], r["cost"], False)))
    df = _rows(path)
    rows = []
    for st in (*STABLE, np.inf):
        rule = scoping.Rule(stable=st)
        stops = []
        for _, g in df.groupby("seed"):
            g = g.sort_values("round")
            ok = [scoping.clears(dict(estimate=r.estimate, lower=r.lower, upper=r.upper), rule)
                  and r.stability >= st for r in g.itertuples()]
            row = g.iloc[ok.index(True) if True in ok else len(g) - 1].copy()
            row["decided"] = True in ok
            stops.append(row)
        s = pd.DataFrame(stops)
        rows.append(dict(stable=st, recall=s.recall.mean(), captured=s.captured.mean(), tuned=s.tuned.mean(),
                         cost=s.cost.mean(), decided=s.decided.mean()))
    table = pd.DataFrame(rows)
    every = table[table.stable == np.inf].iloc[0]
    fine = table[(table.stable < np.inf) & (table.captured >= every.captured - SLACK)]
    ever = table[table.stable < np.inf].decided.max() > 0
    chosen = float(fine.stable.min()) if len(fine) and ever else scoping.Rule().stable  # ties: the default
    out = dict(seeds=list(CALIBRATION), chosen_stable=chosen, slack=SLACK,
               table=table.replace(np.inf, "every round").to_dict("records"))
    (OUT / "calibration.json").write_text(json.dumps(out, indent=1, default=float))
    return out


def evaluate(work: Path, stable: float, limit: int | None = None) -> pd.DataFrame:
    path = OUT / "runs.csv"
    rule = scoping.Rule(stable=stable)
    for s in EVALUATION:
        for design in ("fixed", "adaptive"):
            done = _rows(path)
            if ((done.seed == s) & (done.design == design)).any():
                continue
            if limit is not None and limit <= 0:
                break
            _append(path, one(s, design, work, rule))
            limit = None if limit is None else limit - 1
    df = _rows(path)
    summary = df.groupby("design").agg(runs=("seed", "size"), recall=("recall", "mean"),
                                       captured=("captured", "mean"),
                                       captured_p10=("captured", lambda v: v.quantile(0.1)), tuned=("tuned", "mean"),
                                       cost=("cost", "mean"), decided=("decided", "mean"),
                                       rounds=("rounds", "mean")).reset_index()
    by = df.pivot_table(index="designed", columns="design", values=["captured", "tuned", "cost", "decided"],
                        aggfunc="mean").round(3)
    by.columns = [f"{a} {b}" for a, b in by.columns]
    pair = paired(df)
    seeds = sorted(set(df.seed))
    missing = [s for s in EVALUATION if s not in seeds]
    text = [f"# Adaptive vs fixed scoping, budget {BUDGET:g}, synthetic family, seeds "
            f"{', '.join(map(str, seeds))} ({N_BOOT} resamples; Rule.stable = {stable:g}, "
            f"calibrated on seeds {CALIBRATION.start}-{CALIBRATION.stop - 1})", "",
            *([f"Not yet run (resume with the same command): seeds {', '.join(map(str, missing))}.", ""]
              if missing else []),
            "recall: of the hps carrying 90% of the true full-fidelity variance; captured: true full-fidelity "
            "variance share of the tuned set; tuned: hps tuned (of 12); cost: spent (budget 300); decided: "
            "settled by the stopping rule (the fixed design: by the same criterion at its end).", "",
            summary.to_markdown(index=False, floatfmt=".3f"), "", "## Paired by instance (adaptive - fixed)", "",
            pair.to_markdown(index=False, floatfmt=".3f"), "", "## By designed agreement", "",
            by.reset_index().to_markdown(index=False, floatfmt=".3f"), ""]
    (OUT / "summary.md").write_text("\n".join(text))
    return summary


def paired(df: pd.DataFrame) -> pd.DataFrame:
    """Adaptive minus fixed on the same instance: mean difference, wins / losses / ties and the
    two-sided sign test (ties dropped), per measure."""
    p = df.pivot_table(index="seed", columns="design", values=["recall", "captured", "tuned", "cost"]).dropna()
    rows = []
    for m in ("recall", "captured", "tuned", "cost"):
        d = (p[m]["adaptive"] - p[m]["fixed"]).to_numpy()
        s = sign_test(d)
        rows.append(dict(measure=m, instances=len(d), mean_difference=d.mean(), higher=s["above"],
                         lower=s["below"], ties=s["ties"], sign_p=s["sign_p"]))
    return pd.DataFrame(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--stage", default="all", choices=["calibrate", "evaluate", "all"])
    p.add_argument("--work", default="runs/scope_adaptive", help="scope run folders (resumable)")
    p.add_argument("--stable", type=float, default=None, help="evaluate with this Rule.stable "
                   "(default: calibration.json's choice)")
    p.add_argument("--limit", type=int, default=None, help="evaluate: at most this many new runs (pieces)")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    if args.stage in ("calibrate", "all"):
        cal = calibrate(work)
        print(pd.DataFrame(cal["table"]).round(3).to_string(index=False))
        print("chosen Rule.stable:", cal["chosen_stable"])
    if args.stage in ("evaluate", "all"):
        stable = args.stable
        if stable is None:
            f = OUT / "calibration.json"
            if not f.exists():
                raise SystemExit("error: no calibration.json: run --stage calibrate first or give --stable")
            stable = json.loads(f.read_text())["chosen_stable"]
        print(evaluate(work, stable, args.limit).round(3).to_string(index=False))


if __name__ == "__main__":
    main()

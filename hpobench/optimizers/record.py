"""A tune run's record: what its journal events mean, and the tables they make.

The run folder (meta.json, journal.jsonl, trials.parquet, trajectory.parquet) is read and
written by `hpobench.records`; this module gives its contents their meaning:

    journal events      {"event": "ask", trial, asked_after, config, fidelity, budget, info} when
                        a trial is handed to a worker and {"event": "tell", trial, result, charged,
                        worker, started, wall_s} when it finished. The journal is the source of
                        truth: a run killed at any point (kill -9) resumes from it (`hpobench.tune`
                        with the same --out) by replaying asks and tells into a fresh optimizer with
                        the same seed, then re-running only the trials that were asked but never told.
    trials              one row per finished trial, in completion order (schema below)
    trajectory          the incumbent over cumulative cost (anytime performance)

The trials table has the project's trial schema (`hpobench.trial_row`: config.<hp> over the
benchmark's full space, fidelity.<knob>, seed, status, f1, accuracy, loss, value (the
declared metric), metric.<name>, cost_s, cost, curve, test, info, error, benchmark) plus:
`trial` (ask order; 0 is the default configuration), `order` (completion order),
`optimizer`, `run_seed`, `budget` (value on the optimizer's budget axis), `full` (at full
fidelity), `opt_info` (optimizer bookkeeping, JSON), `opt_loss` (the loss the optimizer was
told, `base.Losses`), `worker`, `started` (unix time), `wall_s`, `charged` (cost counted
against the budget: the trial's cost, or its planned cost if it reported none), `spent` /
`spent_s` (cumulative cost and seconds after this trial), `incumbent_trial`,
`incumbent_value` (its declared metric) and `incumbent_f1` (its F1; the same for F1 benchmarks).

The incumbent is the best value of the declared metric (in its direction) among successful
full-fidelity trials: lower fidelities are not comparable, and the default is evaluated at
full fidelity first, so one exists unless every full-fidelity trial failed.

    >>> import hpobench, tempfile
    >>> out = tempfile.mkdtemp()
    >>> _ = hpobench.tune("synthetic/agree", "random", budget=3 * 81, out=out)
    >>> meta, trials, traj = load(out)
    >>> list(trials["trial"]), meta["optimizer"]
    ([0, 1, 2], 'random')
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from hpobench import records
from hpobench.benchmarks.base import Metric, Result, json_default, trial_row


def frames(meta: dict, events: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(trials, trajectory) tables of a run from its meta and journal events."""
    from hpobench.optimizers.base import Losses
    metric = Metric.of(meta.get("metric"))
    losses = Losses(metric)  # the same rule, in the same (tell) order, as the run itself
    asks = {e["trial"]: e for e in events if e["event"] == "ask"}
    rows, spent, spent_s, best = [], 0.0, 0.0, (None, math.nan, math.nan)  # trial, value, f1
    for order, e in enumerate(x for x in events if x["event"] == "tell"):
        a = asks[e["trial"]]
        result = Result(**e["result"])
        row = trial_row(meta["benchmark"], a["config"], a["fidelity"], meta["seed"], result,
                        meta["hp_names"], metric)  # columns: the benchmark's full space, also for scoped runs
        spent += e["charged"]
        spent_s += 0.0 if _nan(result.cost_s) else result.cost_s
        full = a["fidelity"] == meta["full_fidelity"]
        value = result.value(metric)
        if full and result.status == "ok" and math.isfinite(value) and metric.better(value, best[1]):
            best = (e["trial"], value, result.f1)
        row.update(trial=e["trial"], order=order, optimizer=meta["optimizer"], run_seed=meta["seed"],
                   budget=a["fidelity"][meta["axis"]], full=full,
                   opt_info=json.dumps(a["info"], default=json_default), opt_loss=losses(result),
                   asked_after=a["asked_after"],
                   worker=e["worker"], started=e["started"], wall_s=e["wall_s"], charged=e["charged"],
                   spent=spent, spent_s=spent_s, incumbent_trial=best[0], incumbent_value=best[1],
                   incumbent_f1=-math.inf if best[0] is None else best[2])  # -inf: as ever, before any
        rows.append(row)
    trials = pd.DataFrame(rows)
    return trials, trajectory(trials)


def trajectory(trials: pd.DataFrame) -> pd.DataFrame:
    """Incumbent over cumulative cost: a row where it changes, and one at the end of the run."""
    cols = ["spent", "spent_s", "order", "incumbent_trial", "incumbent_value", "incumbent_f1"]
    if trials.empty:
        return pd.DataFrame(columns=cols)
    changed = trials["incumbent_trial"].ne(trials["incumbent_trial"].shift())
    changed.iloc[-1] = True
    return trials.loc[changed, cols].reset_index(drop=True)


def incumbent_at(traj: pd.DataFrame, cost: float, column: str | None = None) -> tuple:
    """(trial, value) of the incumbent once `cost` had been spent (None, nan before any).

    column: `incumbent_value` (the declared metric; the default where the trajectory has it)
    or `incumbent_f1`.
    """
    column = column or ("incumbent_value" if "incumbent_value" in traj else "incumbent_f1")
    before = traj[traj["spent"] <= cost + 1e-9]
    if before.empty:
        return None, math.nan
    last = before.iloc[-1]
    return last["incumbent_trial"], last[column]


def load(out: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(meta, trials, trajectory) of a run directory, rebuilt from its journal (finished or not)."""
    meta, events = records.read_run(out)
    return (meta, *frames(meta, events))


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


"""The run record: an fsync'ed append-only journal while a run goes, Parquet tables after.

A run directory holds:

    meta.json           what ran: benchmark, optimizer, options, seed, space, budget, axis,
                        full fidelity, the metric (name, direction, range; absent in records
                        from before it was declarable: F1), versions and hardware, one entry
                        per (re)start
    journal.jsonl       one JSON line per event, in the order they happened, each flushed
                        and fsync'ed before the run goes on: {"event": "ask", trial, asked_after,
                        config, fidelity, budget, info} when a trial is handed to a worker and
                        {"event": "tell", trial, result, charged, worker, started, wall_s} when
                        it finished. The journal is the source of truth: a run killed at any
                        point (kill -9) resumes from it (`hpobench.tune` with the same --out)
                        by replaying asks and tells into a fresh optimizer with the same seed,
                        then re-running only the trials that were asked but never told.
                        A torn last line (killed mid-write) is dropped.
    trials.parquet      one row per finished trial, in completion order (schema below)
    trajectory.parquet  the incumbent over cumulative cost (anytime performance)

trials.parquet has the project's trial schema (`hpobench.trial_row`: config.<hp> over the
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

import fcntl
import json
import math
import os
from pathlib import Path

import pandas as pd

from hpobench.benchmarks.base import F1, Metric, Result, json_default, trial_row

FORMAT = 1
IDENTITY = ("format", "benchmark", "bench_kwargs", "optimizer", "options", "seed", "axis", "min_budget",
            "space", "warm_start")  # what must match to resume a run (the budget may grow)


class RecordError(ValueError):
    """A run directory that cannot be resumed (another run, a corrupt journal, a diverged replay)."""


class Journal:
    """Append-only JSON-lines file; every append is on disk before `append` returns."""

    def __init__(self, path: Path | None):
        self.path = path
        self.events: list[dict] = []
        self._f = None
        if path is None:
            return  # in memory only
        self._f = open(path, "a", encoding="utf-8")
        try:  # one writer: a second process appending would interleave and repeat finished work
            fcntl.flock(self._f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._f.close()
            raise RecordError(f"{path} is being written by another process (a run with the same output "
                              "still going?); wait for it or stop it, then run again to resume") from None
        self.events = read_journal(path, repair=True)

    def append(self, event: dict) -> None:
        self.events.append(event)
        if self._f is not None:
            self._f.write(json.dumps(event, default=json_default, allow_nan=True) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def read_journal(path: Path, repair: bool = False) -> list[dict]:
    """Events of a journal, ignoring a torn last line (no newline: killed mid-write).

    repair: also cut that line off the file (only the process that resumes the run may).
    """
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if repair and end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
            f.flush()
            os.fsync(f.fileno())
    events = []
    for i, line in enumerate(data[:end].decode("utf-8").splitlines(), 1):
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}:{i}: corrupt journal line ({e})") from None
    return events


def check(out: str | Path | None, meta: dict) -> dict:
    """Check that `out` is new or holds the same run (IDENTITY keys); return the merged meta.

    Writes nothing, so that a bad input leaves no half-made run directory behind.
    """
    if out is None:
        return meta
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RecordError(f"--out {out} is a file, not a run directory")
    meta_path, journal_path = out / "meta.json", out / "journal.jsonl"
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        old.setdefault("metric", F1.to_dict())  # recorded before metrics were declarable: F1
        diff = [f"{k}: {old.get(k)!r} there, {meta.get(k)!r} here" for k in IDENTITY
                if _canon(old.get(k)) != _canon(meta.get(k))]
        if diff:
            raise RecordError(f"{out} holds a different run; resume it with the same settings or use "
                              f"another --out:\n  " + "\n  ".join(diff))
        meta = {**meta, "sessions": old.get("sessions", []) + meta.get("sessions", []),
                "created": old.get("created", meta.get("created"))}
    elif journal_path.exists():
        raise RecordError(f"{out} has a journal but no meta.json; not a run directory this can resume")
    return meta


def open_run(out: str | Path | None, meta: dict) -> Journal:
    """Write meta.json and open the journal of the run directory `out` (None: in memory)."""
    if out is None:
        return Journal(None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "meta.json", json.dumps(meta, indent=1, default=json_default))
    return Journal(out / "journal.jsonl")


def _canon(v):
    return json.loads(json.dumps(v, sort_keys=True, default=json_default))


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


def write(out: str | Path, trials: pd.DataFrame, traj: pd.DataFrame) -> None:
    """Write the Parquet tables atomically (a reader never sees half a file)."""
    out = Path(out)
    for name, df in (("trials", trials), ("trajectory", traj)):
        tmp = out / f".{name}.parquet.tmp"
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out / f"{name}.parquet")


def load(out: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(meta, trials, trajectory) of a run directory, rebuilt from its journal (finished or not)."""
    out = Path(out)
    if not (out / "meta.json").exists():
        raise RecordError(f"{out} is not a run directory (no meta.json)")
    meta = json.loads((out / "meta.json").read_text())
    journal = out / "journal.jsonl"
    events = read_journal(journal) if journal.exists() else []
    return (meta, *frames(meta, events))


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

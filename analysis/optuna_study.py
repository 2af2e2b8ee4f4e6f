"""An existing Optuna study as a trial table: importance per epoch from its pruning history.

`read(storage, study)` opens an Optuna storage read-only and turns one study into what every
analysis reads: the project's trial table (`hpobench.trial_row` rows), a ConfigSpace and the
metric. The storage is an RDB URL (`sqlite:///study.db`, `postgresql://...`) or the path of a
file: an SQLite database or an Optuna journal file (`JournalFileBackend`, Optuna 5.0).

Rows. A trial's value at step s is a row at the fidelity `step = s`:
- every intermediate value (`trial.report(value, step)`) of a completed or pruned trial is a
  row at its step, so a history pruned by MedianPruner holds the importance at every epoch;
- a completed trial's final value is its row at the final step S, the largest step a completed
  trial reported (replacing its intermediate value there); that is the full fidelity. Without
  any intermediate value there is no fidelity column: one row per completed trial;
- a failed trial is a `crashed` row at the final step (left out of importance unless
  `failed="worst"`); its intermediate values, and running or waiting trials, are dropped;
- a non-finite value is a `diverged` row. `cost` is the fraction of the final step's work,
  (s + 1) / (S + 1) when steps count from 0, else s / S; `config_id` is the trial number.

The space. Each parameter's distribution maps to a hyperparameter (`hpobench.distributions`).
A study whose search space changed is merged and reported in `notes`, never crashed on. Optuna
lets a parameter's range and step change between trials (its type, log scale and choices too
where trials were added with `add_trial` to a journal or in-memory study): distributions of one
kind (type, log, step, choices) are merged into one covering range; of different kinds, the one
most trials used is kept and the trials with another are dropped. A parameter missing from some
trials is conditional when a categorical parameter explains it (present exactly when that one
takes certain values: `InCondition`) or a numeric one does (present exactly above or below a
value); otherwise it is kept if at least half the trials have it (those without are dropped), else dropped itself.

The metric is the study's metric name (`study.set_metric_names`), else "value", in the
study's direction. Checked first, each a one-line `StudyError`: a storage that does not open,
a study that does not exist (the ones that do are listed), a multi-objective study, fewer
completed trials than fANOVA needs (`MIN_CONFIGS`, 10), a distribution that does not map.
Nothing is written: an SQLite file is opened with SQLite's read-only mode, an RDB storage
without creating tables, a journal file through a backend that refuses to append.
"""

from __future__ import annotations

import decimal
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd
from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.conditions import EqualsCondition, GreaterThanCondition, InCondition, LessThanCondition
from ConfigSpace.hyperparameters import CategoricalHyperparameter, Constant

from hpobench.analysis.fanova import MIN_CONFIGS
from hpobench.benchmarks.base import FIXED_METRICS, Metric, Result, trial_row
from hpobench.distributions import from_optuna, snap
from hpobench.spaces import SpaceError

STEP = "step"  # the fidelity knob: the step (epoch) of an intermediate value
SQLITE_MAGIC = b"SQLite format 3\x00"


class StudyError(ValueError):
    """An Optuna storage or study hpobench cannot read; raised before any analysis."""


@dataclass
class OptunaTable:
    """One Optuna study as the project's trial table, its ConfigSpace and its metric."""

    table: pd.DataFrame
    space: ConfigurationSpace
    metric: Metric
    study: str
    final_step: int | None  # the full fidelity's step (None: the study reported no intermediate value)
    states: dict = field(default_factory=dict)  # trial state -> number of trials in the study
    notes: list[str] = field(default_factory=list)  # what was merged, inferred or dropped

    def summary(self) -> str:
        """One line: the study, its trials and what became of them."""
        states = ", ".join(f"{n} {s.lower()}" for s, n in self.states.items())
        steps = (f"{self.table['fidelity.step'].nunique()} steps, final step {self.final_step}"
                 if self.final_step is not None else "no intermediate values")
        return (f"optuna study {self.study!r}: {sum(self.states.values())} trials ({states}); "
                f"{len(self.table)} rows, {steps}; {len(self.space)} hyperparameters; "
                f"metric {self.metric.describe()}")


def read(storage: str | Path, study: str | None = None) -> OptunaTable:
    """The study `study` (None: the storage's only one) of the Optuna `storage` (module docstring)."""
    import optuna

    store = open_storage(storage)
    names = [s.study_name for s in store.get_all_studies()]
    if study is None:
        if len(names) != 1:
            raise StudyError(f"{storage} holds {len(names)} studies; name one with --study"
                             + (f": {', '.join(names)}" if names else ""))
        study = names[0]
    elif study not in names:
        raise StudyError(f"no study {study!r} in {storage}; its studies: {', '.join(names) or 'none'}")
    s = optuna.load_study(study_name=study, storage=store, sampler=optuna.samplers.RandomSampler(0))
    if len(s.directions) != 1:
        raise StudyError(f"study {study!r} has {len(s.directions)} objectives; hpobench analyses one metric")
    name = (s.metric_names or ["value"])[0]
    try:
        metric = Metric(name, "maximize" if s.direction == optuna.study.StudyDirection.MAXIMIZE else "minimize")
    except ValueError as e:
        raise StudyError(f"study {study!r}: {e}") from None
    trials = s.get_trials(deepcopy=False)
    states = dict(Counter(t.state.name for t in trials))
    complete = states.get("COMPLETE", 0)
    if complete < MIN_CONFIGS:
        raise StudyError(f"study {study!r} has {complete} completed trial(s); importance needs at least "
                         f"{MIN_CONFIGS}")
    space, configs, notes = _space(trials)
    table, final = _rows(trials, configs, space, metric, study, notes)
    return OptunaTable(table, space, metric, study, final, states, notes)


def open_storage(storage: str | Path):
    """An Optuna storage opened for reading only (module docstring); `StudyError` if it does not open."""
    text = str(storage)
    if "://" not in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise StudyError(f"{text}: no such file (give an RDB URL such as sqlite:///study.db, "
                             f"or an SQLite or Optuna journal file)")
        with open(path, "rb") as f:
            magic = f.read(len(SQLITE_MAGIC))
        if magic == SQLITE_MAGIC:
            return _rdb(f"sqlite:///{path.resolve()}", text)
        return _journal(path, text)
    return _rdb(text, text)


def _rdb(url: str, given: str):
    from optuna.storages import RDBStorage
    from sqlalchemy.engine import make_url

    try:
        u = make_url(url)
    except Exception as e:  # SQLAlchemy's ArgumentError and others
        raise StudyError(f"storage URL {given!r} does not open: {_line(e)}") from None
    if u.get_backend_name() == "sqlite":
        path = Path(u.database or "")
        if not u.database or u.database == ":memory:" or not path.is_file():
            raise StudyError(f"storage URL {given!r} does not open: no SQLite file {u.database!r}")
        # SQLite's own read-only mode: the file cannot be written, whatever Optuna tries
        url = f"{u.drivername}:///file:{quote(str(path.resolve()))}?mode=ro&uri=true"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RDBStorage(url, skip_table_creation=True)
    except Exception as e:  # SQLAlchemy's OperationalError, Optuna's schema check, a missing driver
        raise StudyError(f"storage URL {given!r} does not open as an Optuna storage: {_line(e)}") from None


def _journal(path: Path, given: str):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    class ReadOnly(JournalFileBackend):
        def append_logs(self, logs):
            raise StudyError(f"{given}: hpobench reads Optuna studies and never writes them")

    try:
        return JournalStorage(ReadOnly(str(path)))
    except Exception as e:  # a file that is not a journal: JSON, format or key errors
        raise StudyError(f"{given} does not open as an Optuna journal file: {_line(e)}") from None


def _line(e: BaseException) -> str:
    """The exception's first line, and its root cause's (Optuna wraps SQLAlchemy's errors)."""
    def first(x):
        text = str(x).strip()
        return f"{type(x).__name__}: {text.splitlines()[0] if text else ''}"
    root = e
    while root.__cause__ is not None:  # explicit causes only (`raise ... from`): not json's StopIteration
        root = root.__cause__
    return first(e) if root is e else f"{first(e)} ({first(root)})"


# ------------------------------------------------------------------ the space

def _space(trials) -> tuple[ConfigurationSpace, dict, list[str]]:
    """(space, trial number -> config, notes) from the completed and pruned trials' distributions."""
    used = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    notes: list[str] = []
    variants: dict[str, dict] = {}  # name -> distribution -> trial numbers, in first-use order
    for t in used:
        for name, d in t.distributions.items():
            variants.setdefault(name, {}).setdefault(d, []).append(t.number)
    dropped: set[int] = set()
    hps = {}
    for name, vs in variants.items():
        dist, drop, note = _merge(name, vs)
        dropped |= drop
        if note:
            notes.append(note)
        try:
            mapped = from_optuna(name, dist)
        except SpaceError as e:
            raise StudyError(str(e)) from None
        hps[name] = mapped.hp
        if mapped.note:
            notes.append(mapped.note)
    if dropped:
        notes.append(f"dropped {len(dropped)} trial(s) whose distributions the merged space does not hold")
    params = {t.number: {k: snap(hps[k], v) for k, v in t.params.items()} for t in used if t.number not in dropped}
    conditions = _conditions(hps, params, notes)
    cs = ConfigurationSpace()
    cs.add(list(hps.values()))
    cs.add(list(conditions.values()))
    configs = {}
    bad = 0
    for t in trials:
        if t.number not in params and t.state.name != "FAIL":
            continue  # dropped above, or not finished
        try:
            values = params.get(t.number) or {k: snap(hps[k], v) for k, v in t.params.items() if k in cs}
            configs[t.number] = dict(Configuration(cs, values={k: v for k, v in values.items() if k in cs}))
        except Exception:  # ConfigSpace raises several types for an invalid configuration; snap for a bad type
            bad += 1
    if bad:
        notes.append(f"dropped {bad} trial(s) whose parameters are not a configuration of the space "
                     f"(e.g. failed before every parameter was suggested)")
    return cs, configs, notes


def _merge(name: str, variants: dict):
    """(distribution, trial numbers dropped, note) for one parameter's distributions."""
    if len(variants) == 1:
        return next(iter(variants)), set(), None
    kinds = {(type(d).__name__, getattr(d, "log", None), getattr(d, "step", None), getattr(d, "choices", None))
             for d in variants}
    dists = list(variants)
    if len(kinds) == 1:
        merged = _union(dists)
        if merged is not None:
            return merged, set(), (f"{name}: the search space changed ({len(dists)} distributions); "
                                   f"merged into {merged!r}")
    keep = max(dists, key=lambda d: len(variants[d]))  # the first of the most used ones
    drop = {n for d in dists if d != keep for n in variants[d]}
    return keep, drop, (f"{name}: {len(dists)} distributions of different kinds; kept {keep!r} "
                        f"({len(variants[keep])} trials), dropped the {len(drop)} trial(s) with another")


def _union(dists):
    """One distribution covering all of `dists` (numeric, one kind), or None when no grid holds them all."""
    first = dists[0]
    low, high = min(d.low for d in dists), max(d.high for d in dists)
    step = first.step
    if step is not None:
        st = decimal.Decimal(str(step))
        if any((decimal.Decimal(str(d.low)) - decimal.Decimal(str(low))) % st for d in dists):
            return None  # stepped ranges on different grids
        return type(first)(low, high, step=step)
    return type(first)(low, high, log=first.log)


def _conditions(hps: dict, params: dict, notes: list[str]) -> dict:
    """Conditions explaining which parameters each trial lacks; drops what none explains (module docstring).
    Modifies `hps` and `params` in place."""
    for _ in range(len(hps) + 1):
        trials = set(params)
        presence = {k: {n for n, p in params.items() if k in p} for k in hps}
        conds, unexplained = {}, []
        for k in [k for k in hps if not presence[k]]:  # only in trials dropped above
            del hps[k]
            notes.append(f"{k}: in none of the trials kept; the parameter dropped")
        for k in hps:
            if presence[k] == trials:
                continue
            cond = _explain(k, hps, params, presence)
            if cond is None:
                unexplained.append(k)
            else:
                conds[k] = cond
        if not unexplained:
            for k, c in conds.items():
                notes.append(f"{k}: suggested in {len(presence[k])} of {len(trials)} trials; "
                             f"inferred condition: {_describe(c)}")
            return conds
        k = unexplained[0]
        have = presence[k]
        if 2 * len(have) >= len(trials):
            for n in trials - have:
                del params[n]
            notes.append(f"{k}: missing from {len(trials - have)} of {len(trials)} trials and no parameter "
                         f"explains when; those trials dropped")
        else:
            del hps[k]
            for p in params.values():
                p.pop(k, None)
            notes.append(f"{k}: suggested in only {len(have)} of {len(trials)} trials and no parameter "
                         f"explains when; the parameter dropped")
    raise AssertionError("unreachable: every pass drops a parameter or trials")


def _explain(k: str, hps: dict, params: dict, presence: dict):
    """The condition under which `k` is suggested, from the most specific parent that explains it, or None."""
    best = None
    for q, hp in hps.items():
        if q == k or isinstance(hp, Constant) or not presence[q] > presence[k]:
            continue  # a parent is present wherever k is, and somewhere k is not
        inside = [params[n][q] for n in presence[k]]
        outside = [params[n][q] for n in presence[q] - presence[k]]
        cond = None
        if isinstance(hp, CategoricalHyperparameter):
            values = list(dict.fromkeys(inside))
            if not set(values) & set(outside):
                cond = (EqualsCondition(hps[k], hp, values[0]) if len(values) == 1
                        else InCondition(hps[k], hp, values))
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in inside + outside):
            if max(outside) < min(inside):
                cond = GreaterThanCondition(hps[k], hp, max(outside))
            elif max(inside) < min(outside):
                cond = LessThanCondition(hps[k], hp, min(outside))
        if cond is not None and (best is None or len(presence[q]) < best[0]):
            best = (len(presence[q]), cond)
    return None if best is None else best[1]


def _describe(cond) -> str:
    p = cond.parent.name
    if isinstance(cond, EqualsCondition):
        return f"{p} == {cond.value!r}"
    if isinstance(cond, InCondition):
        return f"{p} in {list(cond.values)!r}"
    return f"{p} {'>' if isinstance(cond, GreaterThanCondition) else '<'} {cond.value!r}"


# ------------------------------------------------------------------ the rows

def _rows(trials, configs: dict, space: ConfigurationSpace, metric: Metric, study: str,
          notes: list[str]) -> tuple[pd.DataFrame, int | None]:
    steps_done = [s for t in trials if t.state.name == "COMPLETE" and t.number in configs
                  for s in t.intermediate_values]
    steps_all = [s for t in trials if t.state.name in ("COMPLETE", "PRUNED") and t.number in configs
                 for s in t.intermediate_values]
    final = max(steps_done or steps_all) if steps_all else None
    offset = 1 if steps_all and min(steps_all) == 0 else 0

    def fidelity(step):
        return {} if final is None else {STEP: int(step)}

    def cost(step):
        return 1.0 if final is None else (step + offset) / (final + offset)

    rows, failed_steps = [], 0
    bench = f"optuna:{study}"
    for t in trials:
        state = t.state.name
        if t.number not in configs:
            continue
        config = configs[t.number]
        seconds = t.duration.total_seconds() if t.duration is not None else math.nan
        info = {"optuna": {"study": study, "trial": t.number, "state": state}}
        full = final if final is not None else 0
        if state == "FAIL":
            failed_steps += len(t.intermediate_values)
            r = Result.failed("crashed", f"optuna trial {t.number} failed", seconds, 1.0)
            rows.append(_row(bench, config, fidelity(full), r, space, metric, t.number, state, info))
            continue
        for step, v in sorted(t.intermediate_values.items()):
            if state == "COMPLETE" and step == final:
                continue  # the final value stands there
            r = _result(v, metric, math.nan, cost(step))
            rows.append(_row(bench, config, fidelity(step), r, space, metric, t.number, state, info))
        if state == "COMPLETE":
            r = _result(t.value, metric, seconds, 1.0)
            rows.append(_row(bench, config, fidelity(full), r, space, metric, t.number, state, info))
    skipped = Counter(t.state.name for t in trials if t.state.name not in ("COMPLETE", "PRUNED", "FAIL"))
    n_failed = sum(t.state.name == "FAIL" for t in trials)
    if n_failed:
        notes.append(f"{n_failed} failed trial(s): a crashed row each at the final step (left out of importance "
                     f"unless --failed worst)" + (f"; their {failed_steps} intermediate value(s) dropped"
                                                   if failed_steps else ""))
    for state, n in skipped.items():
        notes.append(f"{n} {state.lower()} trial(s) dropped (not finished)")
    return pd.DataFrame(rows), final


def _result(v, metric: Metric, seconds: float, cost: float) -> Result:
    v = float(v)
    fixed = {m: (v if m == metric.name else math.nan) for m in FIXED_METRICS}
    status = "ok" if math.isfinite(v) else "diverged"
    return Result(status, fixed["f1"], fixed["accuracy"], fixed["loss"], seconds, cost, metrics={metric.name: v},
                  error=None if status == "ok" else f"{metric.name} is {v}")


def _row(bench, config, fidelity, result, space, metric, number, state, info) -> dict:
    result.info = info
    row = trial_row(bench, config, fidelity, 0, result, space, metric)
    row.update(config_id=int(number), optuna_state=state)
    return row

"""`tune`: run one optimizer on one benchmark for a total cost, with a resumable record.

The budget is a total cost in the benchmark's machine-independent unit (`Benchmark.cost`,
e.g. epochs x data fraction), never a number of trials, so that optimizers, fidelities and
scoped spaces compare at equal cost. A trial starts only if its planned cost still fits,
so a run never spends more than its budget. Trial 0 is always the space's default
configuration at full fidelity, so every run says whether tuning beat the default.
Optimizers minimise a loss derived from the benchmark's declared metric (`Benchmark.metric`:
1 - F1 for the built-in benchmarks; `base.Losses`). Failed trials are recorded and given the
loss at the metric's declared worst bound, or else the worst loss seen so far in the run;
they never stop a run.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "hyperband", budget=4 * 81, seed=1)
    >>> first = run.trials.iloc[0]
    >>> bool(run.spent <= 4 * 81), int(first["trial"]), bool(first["full"])
    (True, 0, True)
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench import benchmarks, env, records, spaces
from hpobench.benchmarks.base import Benchmark, Metric, Result
from hpobench.optimizers import record
from hpobench.optimizers.base import Exhausted, Losses, OptimizerError, Problem, Proposal, Trial
from hpobench.optimizers.parallel import executor


@dataclass
class Run:
    """A finished (or interrupted) run: its tables and where they are stored."""

    meta: dict
    trials: pd.DataFrame
    trajectory: pd.DataFrame
    out: Path | None = None

    @property
    def spent(self) -> float:
        return float(self.trials["spent"].iloc[-1]) if len(self.trials) else 0.0

    @property
    def metric(self) -> Metric:
        return Metric.of(self.meta.get("metric"))

    def _last(self, column: str) -> float:
        return float(self.trials[column].iloc[-1]) if len(self.trials) else math.nan

    def _default(self, column: str) -> float:
        first = self.trials[self.trials["trial"] == 0]
        return float(first[column].iloc[0]) if len(first) else math.nan

    @property
    def incumbent_value(self) -> float:
        """The declared metric of the incumbent (best successful full-fidelity trial)."""
        return self._last("incumbent_value")

    @property
    def default_value(self) -> float:
        """The declared metric of the default configuration (trial 0, full fidelity)."""
        return self._default("value")

    @property
    def incumbent_f1(self) -> float:
        return self._last("incumbent_f1")

    @property
    def default_f1(self) -> float:
        return self._default("f1")

    @property
    def incumbent(self) -> dict:
        """The incumbent's configuration (active hyperparameters)."""
        row = self.trials[self.trials["trial"] == self.trials["incumbent_trial"].iloc[-1]].iloc[0]
        return {k[len("config."):]: spaces.plain(v) for k, v in row.items()
                if k.startswith("config.") and not pd.isna(v)}


def tune(benchmark: str | Benchmark, optimizer: str, budget: float, seed: int = 0, *,
         space: ConfigurationSpace | str | Path | None = None, out: str | Path | None = None,
         workers: int = 1, scheduler: str | None = None, axis: str | None = None,
         min_budget: float | None = None, options: dict | None = None, progress: bool = False,
         bench_kwargs: dict | None = None, warm_start: str | Path | None = None, warm_k: int | None = None,
         warm_prior: bool = False) -> Run:
    """Tune `benchmark` with `optimizer` for a total `budget` of cost; return the run's tables.

    space: a scoped sub-space (object or ConfigSpace JSON file); default the benchmark's.
    out: run directory (journal + Parquet, `hpobench.records`); an existing one with the same settings
        resumes; one recorded with any other setting that changes what the record means (metric,
        space, optimizer, seed, ...: `records.TUNE_IDENTITY`) is refused, naming it, before any trial.
    workers: >1 runs trials on a local Dask cluster; scheduler: address of an existing one.
    axis / min_budget: the fidelity knob multi-fidelity optimizers vary (others stay full);
        default "epochs", or the only knob of a fidelity space without one.
    options: keyword arguments of the optimizer's factory (e.g. {"eta": 3}).
    warm_start: a scope or tune run folder of the same benchmark: its best `warm_k` configurations
        (default `warm.WARM_K`), projected onto the space, are evaluated first, and model-based
        optimizers are told its records (`hpobench.optimizers.warm`); or a `warm.WarmStart` as is.
        warm_prior: `smac` too is told the records, placed at full fidelity, instead of a random initial design.
    All input is checked, with a clear error, before any trial runs.
    """
    from hpobench import optimizers

    bench_kwargs = dict(bench_kwargs or {})
    bench = benchmark if isinstance(benchmark, Benchmark) else benchmarks.get(benchmark, **bench_kwargs)
    name = benchmark if isinstance(benchmark, str) else None
    factory = optimizers.factory(optimizer)
    options = dict(options or {})
    allowed = [p for p in inspect.signature(factory).parameters if p != "problem"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptimizerError(f"optimizer {optimizer!r} has no option(s) {unknown}; options: {allowed}")
    space = _space(space, bench)
    budget = _budget(budget, bench)
    bench.check()  # e.g. a missing or bad dataset: an error now, not a crashed first trial
    axis = _axis(axis, bench)
    ws = _warm(warm_start, warm_k, out, bench, space, axis, bench_kwargs if name is not None else None, warm_prior)
    problem = Problem.make(bench, space, axis, min_budget, seed, budget, ws)
    meta = {
        "format": records.FORMAT, "benchmark": bench.name, "bench_kwargs": bench_kwargs,
        "optimizer": optimizer, "options": options, "seed": int(seed), "axis": axis,
        "min_budget": min_budget, "space": records.space_json(space), "scoped": space != bench.config_space,
        "fidelity_space": records.space_json(bench.fidelity_space),
        **({"warm_start": ws.identity()} if ws is not None else {}),
        "budget": budget, "full_fidelity": bench.full_fidelity, "hp_names": list(bench.config_space),
        "metric": bench.metric.to_dict(),
        **({"objective": bench.meta["objective"]} if "objective" in bench.meta else {}),
        "created": _now(), "env": env.describe(),
        "sessions": [{"started": _now(), "budget": budget, "workers": workers, "scheduler": scheduler}],
    }
    meta = records.check(out, meta)  # a resume that changes what the record means: refused here
    ex = executor(bench, name, bench_kwargs, workers, scheduler)  # last check: the cluster is reachable
    try:
        journal = records.open_run(out, meta)
        try:
            opt = factory(problem, **options)
            try:
                _drive(opt, problem, bench, budget, journal, ex, progress)
            finally:
                getattr(opt, "close", lambda: None)()
        finally:
            journal.close()
            trials, traj = record.frames(meta, journal.events)
            if out is not None:
                records.write_tables(out, trials, traj)
    finally:
        ex.close()
    return Run(meta, trials, traj, Path(out) if out is not None else None)


def _space(space, bench: Benchmark) -> ConfigurationSpace:
    if space is None:
        return bench.config_space
    if isinstance(space, (str, Path)):
        space = spaces.load(space)
    if not isinstance(space, ConfigurationSpace):
        raise spaces.SpaceError(f"space must be a ConfigurationSpace or a JSON file, got {type(space).__name__}")
    spaces.check_subspace(space, bench.config_space, name=f"space of {bench.name}")
    return space


def _warm(path, k, out, bench: Benchmark, space, axis: str, bench_kwargs, prior: bool = False):
    from hpobench.optimizers import warm
    if path is None:
        if k is not None or prior:
            raise OptimizerError(f"{'warm_k (--warm-k)' if k is not None else 'warm_prior (--warm-prior)'} "
                                 "goes with warm_start (--warm-start DIR)")
        return None
    if isinstance(path, warm.WarmStart):  # built by the caller (e.g. a harness holding the records in memory)
        return replace(path, prior=path.prior or bool(prior))
    if out is not None and Path(path).resolve() == Path(out).resolve():
        raise warm.WarmStartError(f"--warm-start {path} is this run's own --out; give the scope or an earlier run")
    return warm.load(path, bench, space, axis, warm.WARM_K if k is None else k, bench_kwargs, prior)


def _axis(axis: str | None, bench: Benchmark) -> str:
    if axis is not None:
        return axis
    knobs = list(bench.fidelity_space)
    if "epochs" in knobs or len(knobs) != 1:
        return "epochs"  # (an error naming the knobs when there is none of that name)
    return knobs[0]


def _budget(budget, bench: Benchmark) -> float:
    try:
        budget = float(budget)
    except (TypeError, ValueError):
        raise OptimizerError(f"budget must be a number (total cost), got {budget!r}") from None
    if not math.isfinite(budget):
        raise OptimizerError(f"budget must be a finite total cost, got {budget}")
    full = bench.cost(bench.full_fidelity)
    if budget < full:
        raise OptimizerError(f"budget {budget:g} is too small: one full-fidelity trial of {bench.name} costs "
                             f"{full:g} (the default configuration is evaluated first at full fidelity)")
    return budget


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class _State:
    told: int = 0
    spent: float = 0.0
    next_id: int = 0
    best: float = math.nan


def _drive(opt, problem: Problem, bench: Benchmark, budget: float, journal, ex, progress: bool) -> None:
    """Replay the journal into `opt`, then ask/evaluate/tell until the budget is spent."""
    from tqdm.auto import tqdm

    st = _State()
    trials: dict[int, Trial] = {}
    in_flight: dict[int, float] = {}  # trial id -> planned cost
    seed = problem.seed
    metric = bench.metric
    loss_of = Losses(metric)  # fed in tell order, replay included: the same losses every time

    # warm configurations: evaluated first at full fidelity, unless the optimizer proposes them itself (SMAC)
    warm = [] if problem.warm is None or getattr(opt, "proposes_warm", False) else problem.warm.configs
    # the default (the scoped space's anchor) already trained fully with this seed: replayed, charged nothing
    known = None if problem.warm is None else problem.warm.anchor.get(seed)

    def propose() -> Trial:
        if st.next_id == 0:  # the default configuration, at full fidelity, first in every run
            p = Proposal(problem.default, None, {"origin": "default"})
        elif st.next_id <= len(warm):
            p = Proposal(warm[st.next_id - 1], None, {"origin": "warm", "rank": st.next_id - 1})
        else:
            p = opt.ask()
        t = Trial(st.next_id, p.config, problem.fidelity(p.budget), p.budget, p.info, st.told)
        st.next_id += 1
        return t

    def tell(t: Trial, result: Result, charged: float) -> None:
        t.status = result.status
        opt.tell(t, loss_of(result))
        st.told += 1
        st.spent += charged
        if t.fidelity == problem.full and result.status == "ok" and metric.better(result.value(metric), st.best):
            st.best = result.value(metric)

    def asked(t: Trial) -> None:
        journal.append({"event": "ask", "trial": t.id, "asked_after": t.asked_after, "config": t.config,
                        "fidelity": t.fidelity, "budget": t.budget, "info": t.info})
        trials[t.id] = t

    def told(t: Trial, result: Result, charged: float, worker: str, started: float, wall_s: float) -> None:
        journal.append({"event": "tell", "trial": t.id, "result": result.to_dict(), "charged": charged,
                        "worker": worker, "started": started, "wall_s": wall_s})
        tell(t, result, charged)

    # 1. replay: the same asks and tells, in the same order, into a fresh optimizer
    events = journal.events
    asks = sorted((e for e in events if e["event"] == "ask"), key=lambda e: e["trial"])
    tells = [e for e in events if e["event"] == "tell"]
    ai = 0

    def replay_ask(e) -> Trial:
        if e["trial"] != st.next_id:
            raise records.RecordError(f"journal: trial {e['trial']} asked, expected {st.next_id}")
        t = propose()
        want = (e["config"], e["fidelity"], records.canon(e["info"]))
        got = (records.canon(t.config), records.canon(t.fidelity), records.canon(t.info))
        if records.canon(list(want)) != records.canon(list(got)):
            raise records.RecordError(
                f"cannot resume: replaying the journal, trial {t.id} came out as {got} but the journal has "
                f"{want}; the optimizer is not deterministic given its seed")
        trials[t.id] = t
        return t

    for i, e in enumerate(tells):
        while ai < len(asks) and asks[ai]["asked_after"] <= i:
            replay_ask(asks[ai])
            ai += 1
        if e["trial"] not in trials:
            raise records.RecordError(f"journal: trial {e['trial']} told but never asked")
        tell(trials[e["trial"]], Result(**e["result"]), e["charged"])
    for e in asks[ai:]:  # asked but never finished (the run was killed): run them again
        t = replay_ask(e)
        ex.submit(t.id, t.config, t.fidelity, seed)
        in_flight[t.id] = bench.cost(t.fidelity)

    # 2. run: keep every worker busy while the next trial's planned cost fits the budget
    bar = tqdm(total=budget, initial=st.spent, unit="cost", disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} cost [{elapsed}<{remaining}{postfix}]")
    bar.set_postfix({"trials": st.told, metric.name: f"{st.best:.4g}"})
    pending, stop = None, False
    try:
        while True:
            while not stop and len(in_flight) < ex.capacity:
                if pending is None:
                    try:
                        pending = propose()
                    except Exhausted:
                        stop = True
                        break
                if pending.id == 0 and known is not None:
                    asked(pending)
                    told(pending, known, 0.0, "warm-start", time.time(), 0.0)
                    pending = None
                    continue
                planned = bench.cost(pending.fidelity)
                if st.spent + sum(in_flight.values()) + planned > budget * (1 + 1e-12):
                    stop = not in_flight  # it may fit once running trials report their real cost
                    break
                asked(pending)
                ex.submit(pending.id, pending.config, pending.fidelity, seed)
                in_flight[pending.id] = planned
                pending = None
            if not in_flight:
                break
            for key, o in ex.wait():
                planned = in_flight.pop(key)
                cost = o.result.cost
                charged = float(cost) if cost is not None and math.isfinite(cost) and cost > 0 else planned
                told(trials[key], o.result, charged, o.worker, o.started, o.wall_s)
                bar.update(charged)
                bar.set_postfix({"trials": st.told, metric.name: f"{st.best:.4g}"})
    finally:
        bar.close()

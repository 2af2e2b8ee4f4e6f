"""The main job: which hyperparameters to tune, decided from cheap trainings.

Given a total budget (the benchmark's cost units), it evaluates the default plus
random configurations at a low fidelity, a subset of them at a higher "probe"
fidelity, computes importance at both with bootstrap intervals, estimates how
well the cheap ranking agrees with the probe's, and decides the scope
(`hpobench.analysis.scope`). It writes to `--out`: `report.md`, its figures,
`scoped_space.json` (for `hpobench tune --space`) and every trial as Parquet
(`evaluations.parquet`). Interrupted, it resumes from `--out`.

How fidelities are chosen when not given: a ladder halves data_fraction and
epochs in turn from the full point (resolution stays where `--resolution` puts
it, by default full: every resolution is another compile of every
architecture); a benchmark with other numeric knobs (your own objective's, e.g.
n_estimators or train_fraction) has those halved in turn, in its space's order.
The low fidelity is the highest rung on which `1 - probe_share` of the budget
buys `n_low` configurations; the probe is the highest rung above it on which
the rest buys `n_probe`.

    hpobench scope resnet/fashion_mnist --budget 2 --out runs/scope
    hpobench scope synthetic/partial --budget 300 --out /tmp/scope   # seconds
    hpobench scope --objective experiments/examples/sklearn_objective.py:objective \
        --space experiments/examples/space.json --fidelity-space experiments/examples/fidelity.json \
        --metric log_loss --direction minimize --budget 6 --out /tmp/example   # your own objective

The importance and the decision use the benchmark's declared metric in its direction
(`Benchmark.metric`; F1 for the built-in benchmarks).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hpobench.experiments import grid
from hpobench.experiments.spec import Cell, cell_key

MIN_CONFIGS = 20  # below this the importance surrogate is not worth its name
MIN_PROBE = 15  # bootstrap resamples of fewer configurations leave too few distinct ones
HALVED = ("data_fraction", "epochs")  # halved first, in turn; "resolution" never (a compile per value)


@dataclass(frozen=True)
class Plan:
    low: dict
    probe: dict
    n_low: int
    n_probe: int
    cost: float  # planned total, <= budget


def ladder(bench, resolution=None) -> list[dict]:
    """Fidelities from full down, halving data_fraction and epochs (then any other numeric
    range knob but resolution) in turn (cost strictly falls)."""
    from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter
    fs = bench.fidelity_space
    f = bench.full_fidelity
    if resolution is not None:
        f = bench.fidelity(f | {"resolution": resolution})
    ranged = [k for k in fs if isinstance(fs[k], (FloatHyperparameter, IntegerHyperparameter))]
    rungs, stuck = [f], 0
    knobs = [k for k in HALVED if k in ranged] + [k for k in ranged if k not in HALVED and k != "resolution"]
    while knobs and stuck < len(knobs):
        knob = knobs[(len(rungs) - 1) % len(knobs)]
        lo = fs[knob].lower
        new = max(lo, f[knob] / 2) if isinstance(fs[knob], FloatHyperparameter) else max(lo, int(f[knob] // 2))
        if new == f[knob]:
            stuck += 1
            knobs.remove(knob)
            continue
        f = f | {knob: new}
        rungs.append(f)
    return rungs


def plan(bench, budget: float, low: dict | None = None, probe: dict | None = None, n_low: int = 40,
         n_probe: int = 15, probe_share: float = 0.3, resolution=None) -> Plan:
    """Fidelities and sample sizes that fit `budget` (module docstring); errors before compute.

    The low fidelity is the highest ladder rung whose `n_low` runs fit in `1 - probe_share`
    of the budget while the rest still buys `n_probe` runs on some higher rung; the probe
    is the highest such rung.
    """
    if not 0 < probe_share < 1:
        raise ValueError(f"probe_share must be in (0, 1), got {probe_share}")
    if n_low < MIN_CONFIGS or not MIN_PROBE <= n_probe <= n_low:
        raise ValueError(f"need n_low >= {MIN_CONFIGS} and {MIN_PROBE} <= n_probe <= n_low; "
                         f"got {n_low}, {n_probe}")
    rungs = ladder(bench, resolution)
    lows = [bench.fidelity(low)] if low is not None else rungs
    for lo in lows:
        c_low = bench.cost(lo)
        if low is None and c_low * n_low > budget * (1 - probe_share):
            continue
        left = budget - c_low * n_low
        above = [bench.fidelity(probe)] if probe is not None else [r for r in rungs if bench.cost(r) > c_low]
        fits = [r for r in above if bench.cost(r) * n_probe <= left and bench.cost(r) > c_low]
        if fits:
            return Plan(lo, fits[0], n_low, n_probe, c_low * n_low + bench.cost(fits[0]) * n_probe)
    cheapest = lows[-1]
    need = bench.cost(cheapest) * n_low + min(
        [bench.cost(r) for r in rungs if bench.cost(r) > bench.cost(cheapest)] or [np.inf]) * n_probe
    raise ValueError(f"budget {budget:g} is too small for {n_low} configurations at a low fidelity and "
                     f"{n_probe} at a higher probe (at least {need:.3g} with low = {cheapest}); raise "
                     f"--budget or give --low/--probe")


def run(name, budget: float, out: str | Path, low: dict | None = None, probe: dict | None = None,
        n_low: int = 40, n_probe: int = 15, probe_share: float = 0.3, resolution=None, seed: int = 0,
        method: str = "fanova", n_boot: int = 100, workers: int = 1, scheduler: str | None = None,
        progress: bool = True, bench_kwargs: dict | None = None):
    """Plan, evaluate (resumable), analyse, decide, and write the report; returns the Decision.

    name: a registered benchmark's name, or a `Benchmark` (e.g. `hpobench.load_objective(...)`;
    Dask workers are then sent the object, not its name).
    """
    import hpobench
    from hpobench import spaces
    from hpobench.analysis import importance, plots
    from hpobench.analysis import scope as scoping
    from hpobench.benchmarks import F1, Benchmark

    bench_kwargs = bench_kwargs or {}
    if isinstance(name, Benchmark):
        if bench_kwargs:
            raise ValueError("bench_kwargs go to a registered benchmark's factory, not to a Benchmark object")
        bench, registered = name, None
        name = bench.name
    else:
        bench = hpobench.get(name, **bench_kwargs)
        registered = name
    bench.check()
    p = plan(bench, budget, low, probe, n_low, n_probe, probe_share, resolution)
    out = Path(out)
    identity = {"benchmark": name, "bench_kwargs": bench_kwargs, "plan": asdict(p), "seed": seed}
    if bench.metric != F1:  # (absent for F1: scope runs from before metrics were declarable resume)
        identity["metric"] = bench.metric.to_dict()
    meta_path = out / "meta.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text()).get("scope")
        if old is not None and json.loads(json.dumps(old)) != json.loads(json.dumps(identity)):
            raise ValueError(f"{out} holds a scope run with other settings ({old}); use another --out")
    configs = spaces.sample(bench.config_space, p.n_low - 1, seed)
    cells = [Cell(cell_key(name, bench_kwargs, c, f, seed), i, c, f, seed)
             for i, c in enumerate(configs) for f, n in ((p.low, p.n_low), (p.probe, p.n_probe)) if i < n]
    df = grid.run_cells(bench, registered, bench_kwargs, cells, out, {"scope": identity}, workers, scheduler,
                        progress=progress, desc="scope")
    df = df[df["key"].isin({c.key for c in cells})]
    space = bench.config_space
    imps = importance.per_fidelity(df, space, [p.low, p.probe], method=method, n_boot=n_boot, seed=seed,
                                   metric=bench.metric)
    low_imp, probe_imp = imps.values()
    decision = scoping.decide(low_imp, space, probe_imp)
    figs = plots.importance(imps, out / "importance") + plots.decision(decision, out / "decision")
    if method == "fanova":
        figs += plots.marginals(low_imp, space, out / "marginals")
    (out / "scoped_space.json").write_text(spaces.to_json(decision.space))
    (out / "report.md").write_text(_report(bench, budget, p, df, decision, imps, figs, out))
    return decision


def _report(bench, budget, p: Plan, df, decision, imps, figs, out: Path) -> str:
    from hpobench.analysis import data
    name, metric = bench.name, bench.metric
    ok = df[df["status"] == "ok"]
    failed = len(df) - len(ok)
    col = data.metric_column(df, metric) if len(ok) else None
    lines = [f"# Search-space scope for `{name}`", "",
             f"Budget {budget:g} (cost units), planned {p.cost:.3g}, spent {df['cost'].sum():.3g} "
             f"in {df['cost_s'].sum() / 60:.1f} min of training.", "",
             f"- metric: {metric.describe()}",
             f"- low fidelity `{_fid(p.low)}`: {p.n_low} configurations (default included)",
             f"- probe fidelity `{_fid(p.probe)}`: the first {p.n_probe} of them",
             f"- failed trials (diverged or crashed, left out of importance): {failed}"]
    if col is not None:
        for label, fid in (("low", p.low), ("probe", p.probe)):
            at = data.at(ok, fid)
            if len(at):
                best = at[col].max() if metric.maximize else at[col].min()
                default = at.loc[at["config_id"] == 0, col]
                lines.append(f"- best {metric.name} at the {label} fidelity: {best:.4g}"
                             + (f" (default configuration: {default.iloc[0]:.4g})" if len(default) else ""))
    lines += ["", "## Decision", "", "```", decision.summary(), "```", "",
              decision.table().to_markdown(index=False, floatfmt=".3f"), "",
              f"Next: `{_next(bench, out)}`", "", "## Importance", ""]
    for label, imp in imps.items():
        lines += [f"### {label} ({imp.n_configs} configurations)", "",
                  imp.table().head(10).to_markdown(index=False, floatfmt=".3f"), ""]
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figs if f.suffix == ".png"]
    return "\n".join(lines) + "\n"


def _next(bench, out: Path) -> str:
    """The command that tunes the scoped space."""
    scoped = out / "scoped_space.json"
    tail = "--optimizer bohb --budget BUDGET --out runs/tune"
    obj = bench.meta.get("objective")
    if obj is None:
        return f"hpobench tune {bench.name} --space {scoped} {tail}"
    m = bench.metric
    rng = "" if m.lower is None and m.upper is None else \
        f" --metric-range {'' if m.lower is None else f'{m.lower:g}'},{'' if m.upper is None else f'{m.upper:g}'}"
    return (f"hpobench tune --objective {obj['target']} --space {scoped} --fidelity-space "
            f"{obj.get('fidelity_space') or 'FIDELITY.json'} --metric {m.name} --direction {m.direction}{rng} {tail}")


def _fid(f: dict) -> str:
    return ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in f.items())

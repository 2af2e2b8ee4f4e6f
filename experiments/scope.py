"""The main job: which hyperparameters to tune, decided from cheap trainings.

Given a total budget (the benchmark's cost units), it evaluates the default plus
random configurations at a low fidelity, a subset of them at a higher "probe"
fidelity, computes importance at both with bootstrap intervals, estimates how
well the cheap ranking agrees with the probe's, and decides the scope
(`hpobench.analysis.scope`). It writes to `--out`: `report.md`, its figures,
`scoped_space.json` (for `hpobench tune --space`; beside it the same space for Optuna, W&B
and Ray Tune, `hpobench.export`) and every trial as Parquet (`evaluations.parquet`).
Interrupted, it resumes from `--out`.

How fidelities are chosen when not given: a ladder halves data_fraction and
epochs in turn from the full point (resolution stays where `--resolution` puts
it, by default full: every resolution is another compile of every
architecture); a benchmark with other numeric knobs (your own objective's, e.g.
n_estimators or train_fraction) has those halved in turn, in its space's order.
The low fidelity is the highest rung on which `1 - probe_share` of the budget
buys `n_low` configurations; the probe is the highest rung above it on which
the rest buys `n_probe`.

Adaptive (`--adaptive`; the default is the fixed design, the plan's n_low + n_probe in one go,
which won the equal-budget comparison below): the same
fidelities, sampled in rounds (`schedule`). The first round is `first` = (20, 15)
configurations (low, probe), the fewest the importance and its bootstrap stand; the rest
of the budget is split into `rounds - 1` equal steps, each adding low and probe
configurations in the plan's cost split. After every round the decision is recomputed,
and sampling stops as soon as it is settled (`hpobench.analysis.scope.Decision.settled`:
the agreement interval is clear of the rule's thresholds and >= `Rule.stable` (50%) of the
bootstrap resamples tune nothing it fixes), or when the rounds are spent; the report then says
UNDECIDED and about how much more cost would likely decide it (`scope.outlook`).
Evaluation against the fixed design (`experiments/studies/scope_adaptive.py`, 20 synthetic instances at
budget 300; table in `hpobench.analysis.scope`): adaptive tunes 0.9 fewer hps but keeps 4.8 points
less of the true variance (12 losses, 3 wins, sign p 0.035) and spends more; hence not the default.
Either design reports UNDECIDED, with the cost likely to decide it, when its budget ends first.

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
from hpobench.fidelity import Fidelity
from hpobench.optimizers.record import write_text_atomic

MIN_CONFIGS = 20  # below this the importance surrogate is not worth its name
MIN_PROBE = 15  # bootstrap resamples of fewer configurations leave too few distinct ones
HALVED = ("data_fraction", "epochs")  # halved first, in turn; "resolution" never (a compile per value)


FIRST = (MIN_CONFIGS, MIN_PROBE)  # the adaptive design's first round (low, probe)
ROUNDS = 4


@dataclass(frozen=True)
class Plan:
    low: dict
    probe: dict
    n_low: int
    n_probe: int
    cost: float  # planned total, <= budget


@dataclass(frozen=True)
class Round:
    n_low: int  # cumulative: configurations at the low fidelity after this round
    n_probe: int  # ... of which also at the probe (the first ones)
    cost: float  # cumulative planned cost


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


def schedule(bench, p: Plan, budget: float, rounds: int = ROUNDS, first: tuple[int, int] = FIRST) -> list[Round]:
    """The adaptive design's rounds at the plan's fidelities (module docstring); errors before compute.

    Each step after the first round costs (budget - first round's cost) / (rounds - 1), split
    between low and probe configurations as the plan splits its cost.
    """
    n1, p1 = first
    if rounds < 2:
        raise ValueError(f"adaptive scoping needs at least 2 rounds, got {rounds} (or the fixed design: one go)")
    if n1 < MIN_CONFIGS or not MIN_PROBE <= p1 <= n1:
        raise ValueError(f"the first round needs >= {MIN_CONFIGS} low configurations and {MIN_PROBE} <= probe "
                         f"<= low; got {n1}, {p1}")
    c_low, c_probe = bench.cost(p.low), bench.cost(p.probe)
    c1 = n1 * c_low + p1 * c_probe
    step = (budget - c1) / (rounds - 1)
    dp = int(step * (p.n_probe * c_probe / p.cost) // c_probe)
    dl = int((step - dp * c_probe) // c_low)
    if c1 > budget or dl < 1:
        raise ValueError(f"{rounds} rounds do not fit budget {budget:g}: the first round ({n1} low + {p1} probe "
                         f"configurations) costs {c1:.3g} and each further round needs at least one low "
                         f"configuration ({c_low:.3g}), i.e. at least {c1 + (rounds - 1) * c_low:.3g}; raise "
                         f"--budget, lower --rounds, or drop --adaptive")
    dp = min(dp, dl)  # probe configurations are a prefix of the low ones
    return [Round(n1 + k * dl, p1 + k * dp, c1 + k * (dl * c_low + dp * c_probe)) for k in range(rounds)]


def run(name, budget: float, out: str | Path, low: dict | None = None, probe: dict | None = None,
        n_low: int = 40, n_probe: int = 15, probe_share: float = 0.3, resolution=None, seed: int = 0,
        method: str = "fanova", n_boot: int = 100, workers: int = 1, scheduler: str | None = None,
        progress: bool = True, bench_kwargs: dict | None = None, adaptive: bool = False,
        rounds: int = ROUNDS, first: tuple[int, int] = FIRST, rule=None, report: bool = True, stop: bool = True):
    """Plan, evaluate (resumable), analyse, decide, and write the report; returns the Decision.

    name: a registered benchmark's name, or a `Benchmark` (e.g. `hpobench.load_objective(...)`;
    Dask workers are then sent the object, not its name).
    adaptive: sample in rounds and stop once the decision is settled (module docstring); else
    the plan's n_low + n_probe in one go. rule: a `hpobench.analysis.scope.Rule` (default Rule()).
    report: write report.md, figures and scoped_space.json. stop: False runs every round
    (to study the stopping rule; `experiments/studies/scope_adaptive.py`).
    """
    import hpobench
    from hpobench import export, spaces
    from hpobench.analysis import agreement, importance, plots
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
    rule = rule or scoping.Rule()
    p = plan(bench, budget, low, probe, n_low, n_probe, probe_share, resolution)
    steps = schedule(bench, p, budget, rounds, first) if adaptive else [Round(p.n_low, p.n_probe, p.cost)]
    out = Path(out)
    identity = {"benchmark": name, "bench_kwargs": bench_kwargs, "plan": asdict(p), "seed": seed}
    if adaptive:  # (absent for a fixed design: fixed scope runs from before rounds resume)
        identity["rounds"] = [asdict(r) for r in steps]
        identity["rule"] = asdict(rule)
    if bench.metric != F1:  # (absent for F1: scope runs from before metrics were declarable resume)
        identity["metric"] = bench.metric.to_dict()
    meta_path = out / "meta.json"
    if meta_path.exists():
        old = json.loads(meta_path.read_text()).get("scope")
        if old is not None and json.loads(json.dumps(old)) != json.loads(json.dumps(identity)):
            raise ValueError(f"{out} holds a scope run with other settings ({old}); use another --out")
    configs = spaces.sample(bench.config_space, steps[-1].n_low - 1, seed)
    space = bench.config_space
    kw = dict(method=method, n_boot=n_boot, seed=seed, metric=bench.metric)
    done = _load_rounds(out) if adaptive else []
    history = []
    for k, step in enumerate(steps):
        cells = [Cell(cell_key(name, bench_kwargs, c, f, seed), i, c, f, seed)
                 for i, c in enumerate(configs) for f, n in ((p.low, step.n_low), (p.probe, step.n_probe)) if i < n]
        last = k == len(steps) - 1
        if k < len(done) and not last and (not done[k]["settled"] or not stop):
            history.append(done[k])  # analysed before an interruption: it did not stop there
            continue
        df = grid.run_cells(bench, registered, bench_kwargs, cells, out, {"scope": identity}, workers, scheduler,
                            progress=progress, desc=f"scope round {k + 1}/{len(steps)}" if adaptive else "scope")
        df = df[df["key"].isin({c.key for c in cells})]
        imps = importance.per_fidelity(df, space, [p.low, p.probe], **kw)
        low_imp, probe_imp = imps[Fidelity.of(p.low)], imps[Fidelity.of(p.probe)]
        decision = scoping.decide(low_imp, space, probe_imp, rule)
        history.append(dict(round=k + 1, n_low=step.n_low, n_probe=step.n_probe, cost=float(df["cost"].sum()),
                            stability=decision.stability, settled=decision.settled, verdict=decision.verdict,
                            tune=decision.tune,
                            **{x: decision.agreement.get(x) for x in ("estimate", "lower", "upper")}))
        if adaptive:
            write_text_atomic(out / "rounds.json", json.dumps(history, indent=1))
        if last or (stop and decision.settled):
            break
    decision.rounds, decision.budget = (history if adaptive else []), budget
    if not adaptive:  # one round: its outlook is the same statement about the spent cost
        decision.rounds = [history[-1]]
    ref = agreement.reference(df, space, low_imp, p.probe, rule.statistic, **kw)
    decision.reference = {"estimate": float(ref.corrected), "lower": float(ref.lower), "upper": float(ref.upper),
                          "what": f"the low fidelity against itself on the probe's {probe_imp.n_configs} "
                                  f"configurations"}
    if report:
        figs = plots.importance(imps, out / "importance") + plots.decision(decision, out / "decision")
        if method == "fanova":
            figs += plots.marginals(low_imp, space, out / "marginals")
        (out / "scoped_space.json").write_text(spaces.to_json(decision.space))
        export.write(out, decision.space, decision.fix, bench.metric, bench.name)  # for Optuna, W&B, Ray Tune
        (out / "report.md").write_text(_report(bench, budget, p, df, decision, imps, figs, out))
    return decision


def _load_rounds(out: Path) -> list[dict]:
    f = out / "rounds.json"
    return json.loads(f.read_text()) if f.exists() else []


def _report(bench, budget, p: Plan, df, decision, imps, figs, out: Path) -> str:
    from hpobench.analysis import data
    name, metric = bench.name, bench.metric
    ok = df[df["status"] == "ok"]
    failed = len(df) - len(ok)
    col = data.metric_column(df, metric) if len(ok) else None
    last = decision.rounds[-1]
    design = (f"adaptive, {len(decision.rounds)} round(s) run (stops once the decision is settled)"
              if len(decision.rounds) > 1 or "rounds" in _meta_scope(out) else "fixed (one go)")
    lines = [f"# Search-space scope for `{name}`", "",
             f"Budget {budget:g} (cost units), spent {df['cost'].sum():.3g} "
             f"in {df['cost_s'].sum() / 60:.1f} min of training; design: {design}.", "",
             f"- metric: {metric.describe()}",
             f"- low fidelity `{Fidelity.of(p.low).label}`: {last['n_low']} configurations (default included)",
             f"- probe fidelity `{Fidelity.of(p.probe).label}`: the first {last['n_probe']} of them",
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
    for f, imp in imps.items():
        lines += [f"### {f.label} ({imp.n_configs} configurations)", "",
                  imp.table().head(10).to_markdown(index=False, floatfmt=".3f"), ""]
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figs if f.suffix == ".png"]
    return "\n".join(lines) + "\n"


def _meta_scope(out: Path) -> dict:
    f = out / "meta.json"
    return json.loads(f.read_text()).get("scope", {}) if f.exists() else {}


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

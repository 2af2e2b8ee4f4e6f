"""The main job: which hyperparameters to tune with the user's budget, decided from cheap trainings.

Given a total scoping budget (the benchmark's cost units) and the number of full-fidelity
trainings the user will spend tuning afterwards (`tune_budget`, default `TUNE_BUDGET`), it
evaluates the default plus random configurations at a low fidelity and the first of them at a
higher "probe" fidelity, computes importance at both with bootstrap intervals, and decides
(`hpobench.analysis.decision`): the subset worth tuning with that many trainings, its narrowed
ranges, the anchor every other hyperparameter stays at (the best configuration found, confirmed
at the probe), and the plan predicted best. It writes to `--out`: `report.md` (the answer first),
its figures, `scoped_space.json` (for `hpobench tune --space`: the narrowed ranges, the anchor as
every default; beside it the same space for Optuna, W&B and Ray Tune, `hpobench.export`),
`decision.json` and every trial as Parquet (`evaluations.parquet`). Interrupted, it resumes from
`--out`; the analysis settings (tune_budget, max_tune, anchor) may change on a resume, since they
reuse the trainings.

Cheap trainings together: on a benchmark that trains configurations sharing a program together
(`Benchmark.evaluate_many`; the ResNet benchmarks: the same depth, width and batch size), the
configurations are drawn in groups of K sharing those (`hpobench.spaces.sample(grouped=K)`; each
configuration still uniform) and each group trains as one. K (`group_size`) is what the memory
model of the benchmark (`hpobench.benchmarks.resnet.max_group`: a group under `GROUP_BOUND`) allows
for the largest shape the space can draw at the low fidelity, and at most as many as keep `GROUPS`
independent draws of the static part among the low-fidelity configurations; `group=1` (`--group 1`)
draws them one by one, as before. The configurations are ordered one per group first (the default,
then the first member of every group, then the second, ...), so the probe's prefix spans as many
groups as it can. Every recorded row carries its group (`cluster`) and the importance bootstrap
resamples groups (`results/grouped_bootstrap/`).

hold: hyperparameters the user holds fixed while scoping (their values in every configuration);
they are reported as held, not judged. rule="variance": study v2's rule instead, the smallest set
carrying 95-97% of fANOVA's variance (`hpobench.analysis.shares`), with its adaptive design.

How fidelities are chosen when not given: a ladder halves data_fraction and
epochs in turn from the full point (resolution stays where `--resolution` puts
it, by default full: every resolution is another compile of every
architecture); a benchmark with other numeric knobs (your own objective's, e.g.
n_estimators or train_fraction) has those halved in turn, in its space's order.
The low fidelity is the highest rung on which `1 - probe_share` of the budget
buys `n_low` configurations; the probe is the highest rung above it on which
the rest buys `n_probe`.

Adaptive (`--adaptive`, variance rule only; the default is the fixed design, the plan's n_low + n_probe in one go,
which won the equal-budget comparison below): the same
fidelities, sampled in rounds (`schedule`). The first round is `first` = (20, 15)
configurations (low, probe), the fewest the importance and its bootstrap stand; the rest
of the budget is split into `rounds - 1` equal steps, each adding low and probe
configurations in the plan's cost split. After every round the decision is recomputed,
and sampling stops as soon as it is settled (`hpobench.analysis.shares.Decision.settled`:
the agreement interval is clear of the rule's thresholds and >= `Rule.stable` (50%) of the
bootstrap resamples tune nothing it fixes), or when the rounds are spent; the report then says
UNDECIDED and about how much more cost would likely decide it (`outlook`).
Evaluation against the fixed design (`experiments/studies/scope_adaptive.py`, 20 synthetic instances at
budget 300; table in results/scope_adaptive/summary.md): adaptive tunes 0.9 fewer hps but keeps 4.8 points
less of the true variance (12 losses, 3 wins, sign p 0.035) and spends more; hence not the default.
Under the variance rule either design reports UNDECIDED, with the cost likely to decide it, when
its budget ends first; the budget-aware rule always decides (with the interval of its gain).

    hpobench scope resnet/fashion_mnist --budget 2 --out runs/scope
    hpobench scope synthetic/partial --budget 300 --out /tmp/scope   # seconds
    hpobench scope --objective experiments/examples/sklearn_objective.py:objective \
        --space experiments/examples/space.json --fidelity-space experiments/examples/fidelity.json \
        --metric log_loss --direction minimize --budget 6 --out /tmp/example   # your own objective

The importance and the decision use the benchmark's declared metric in its direction
(`Benchmark.metric`; F1 for the built-in benchmarks).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hpobench import records
from hpobench.experiments import grid
from hpobench.experiments.spec import Cell, cell_key
from hpobench.fidelity import Fidelity

MIN_CONFIGS = 20  # below this the importance surrogate is not worth its name
MIN_PROBE = 15  # bootstrap resamples of fewer configurations leave too few distinct ones
HALVED = ("data_fraction", "epochs")  # halved first, in turn; "resolution" never (a compile per value)


FIRST = (MIN_CONFIGS, MIN_PROBE)  # the adaptive design's first round (low, probe)
ROUNDS = 4
TUNE_BUDGET = 20  # full-fidelity trainings the user tunes with afterwards, unless told
CONFIRM = 5  # budget rule: the best configurations at the low fidelity also run at the probe (the anchor's)
RULES = ("budget", "variance")
GROUPS = 10  # a grouped design keeps at least this many independent static draws at the low fidelity


@dataclass(frozen=True)
class Plan:
    low: dict
    probe: dict
    n_low: int
    n_probe: int
    cost: float  # planned total, <= budget
    confirm: int = 0  # the best at the low fidelity also run at the probe (beside the first n_probe)


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
         n_probe: int = 15, probe_share: float = 0.3, resolution=None, confirm: int = 0) -> Plan:
    """Fidelities and sample sizes that fit `budget` (module docstring); errors before compute.

    The low fidelity is the highest ladder rung whose `n_low` runs fit in `1 - probe_share`
    of the budget while the rest still buys `n_probe + confirm` runs on some higher rung; the
    probe is the highest such rung.
    """
    if not 0 < probe_share < 1:
        raise ValueError(f"probe_share must be in (0, 1), got {probe_share}")
    if n_low < MIN_CONFIGS or not MIN_PROBE <= n_probe <= n_low:
        raise ValueError(f"need n_low >= {MIN_CONFIGS} and {MIN_PROBE} <= n_probe <= n_low; "
                         f"got {n_low}, {n_probe}")
    rungs = ladder(bench, resolution)
    probes = n_probe + confirm
    lows = [bench.fidelity(low)] if low is not None else rungs
    for lo in lows:
        c_low = bench.cost(lo)
        if low is None and c_low * n_low > budget * (1 - probe_share):
            continue
        left = budget - c_low * n_low
        above = [bench.fidelity(probe)] if probe is not None else [r for r in rungs if bench.cost(r) > c_low]
        fits = [r for r in above if bench.cost(r) * probes <= left and bench.cost(r) > c_low]
        if fits:
            return Plan(lo, fits[0], n_low, n_probe, c_low * n_low + bench.cost(fits[0]) * probes, confirm)
    cheapest = lows[-1]
    need = bench.cost(cheapest) * n_low + min(
        [bench.cost(r) for r in rungs if bench.cost(r) > bench.cost(cheapest)] or [np.inf]) * probes
    raise ValueError(f"budget {budget:g} is too small for {n_low} configurations at a low fidelity and "
                     f"{probes} at a higher probe (at least {need:.3g} with low = {cheapest}); raise "
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


@dataclass
class Outcome:
    """What the job found: the decision, and the job's own budget, rounds and outlook."""

    decision: object  # hpobench.analysis.decision.Decision, or shares.Decision (rule="variance")
    plan: Plan
    budget: float
    spent: float
    rounds: list[dict] = field(default_factory=list)  # variance rule: n_low, n_probe, cost, stability per round
    outlook: str = ""  # variance rule: decided, or UNDECIDED and the cost likely to decide it
    best: list[dict] = field(default_factory=list)  # the best configurations found (fidelity, value, config)

    def summary(self) -> str:
        lines = [self.decision.summary()]
        if self.rounds and len(self.rounds) > 1:
            lines.append(f"rounds: {len(self.rounds)}: " + ", ".join(
                f"{x['n_low']}+{x['n_probe']} configs (cost {x['cost']:.3g}, stability {x['stability']:.0%})"
                for x in self.rounds))
        if self.outlook:
            lines.append(self.outlook)
        return "\n".join(lines)


def group_size(bench, space, fidelity, n_low: int, asked: int | None = None) -> int:
    """K of the grouped design (module docstring): configurations per draw of the static part
    (`hpobench.spaces.STATIC` in `space`), 1 for draws one by one.

    1 when the benchmark trains nothing together (no `Benchmark.batch`/`many`) or the space holds no
    static hyperparameter that varies (held ones: every configuration shares a program anyway).
    Else the group the benchmark's memory model allows at `fidelity` for the largest static values
    the space can draw (`Benchmark.batch`), and at most (n_low - 1) // GROUPS (the default aside);
    `asked` replaces that design bound (1: off). ValueError for an `asked` the benchmark cannot use.
    """
    from ConfigSpace.hyperparameters import Constant

    from hpobench import spaces
    if asked is not None and (not isinstance(asked, int) or isinstance(asked, bool) or asked < 1):
        raise ValueError(f"--group is the configurations per draw of depth, width and batch size: an integer "
                         f">= 1 (1: one by one), got {asked!r}")
    if asked == 1:
        return 1
    static = [k for k in spaces.STATIC if k in space and not isinstance(space[k], Constant)]
    if bench.batch is None or bench.many is None or not static:
        if asked is not None:
            raise ValueError(f"--group {asked}: {bench.name} trains configurations one at a time"
                             + ("" if static else " or holds depth, width and batch size") + "; leave --group out")
        return 1
    largest = {k: spaces.plain(v) for k, v in dict(space.get_default_configuration()).items()}
    for k in spaces.STATIC:
        if k in space:
            hp = space[k]
            largest[k] = spaces.plain(max(getattr(hp, "sequence", None) or getattr(hp, "choices", None)
                                          or [getattr(hp, "upper", None) or hp.value]))
    key = bench.batch(largest, bench.fidelity(fidelity))
    cap = 1 if key is None else int(key[1])
    return max(1, min(cap, asked if asked is not None else (n_low - 1) // GROUPS))


def interleave(groups: list[int]) -> list[int]:
    """Positions of a grouped sample ordered one per group first: by rank within the group, then by
    group (the first member of every group, then the second, ...)."""
    rank, seen = [], {}
    for g in groups:
        rank.append(seen.get(g, 0))
        seen[g] = rank[-1] + 1
    return sorted(range(len(groups)), key=lambda i: (rank[i], groups[i]))


def check(bench, space, tune_budget: int, max_tune: int | None, hold: dict | None, rule: str, adaptive: bool) -> None:
    """The job's settings, checked before any training: one line naming the problem."""
    from hpobench import spaces
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if adaptive and rule != "variance":
        raise ValueError("--adaptive samples until the variance rule's decision settles; add --rule variance "
                         "(the budget-aware rule decides in one go)")
    if not isinstance(tune_budget, int) or tune_budget < 1:
        raise ValueError(f"--tune-budget is the number of full-fidelity trainings you will tune with: a "
                         f"positive integer, got {tune_budget!r}")
    n = len(list(space))
    if max_tune is not None and not 1 <= max_tune <= n:
        raise ValueError(f"--max-tune must be between 1 and the {n} hyperparameters of the space, got {max_tune}")
    if hold:
        unknown = sorted(set(hold) - set(space))
        if unknown:
            raise ValueError(f"--hold names unknown hyperparameter(s) {unknown}; known: {sorted(space)}")
        for k, v in hold.items():
            if not space[k].legal_value(v):
                raise ValueError(f"--hold {k}={v!r}: not a legal value of {spaces.describe(space[k])}")
        if set(hold) >= set(space) - {k for k in space if type(space[k]).__name__ == "Constant"}:
            raise ValueError("--hold holds every hyperparameter: nothing is left to scope")


def run(name, budget: float, out: str | Path, low: dict | None = None, probe: dict | None = None,
        n_low: int = 40, n_probe: int = 15, probe_share: float = 0.3, resolution=None, seed: int = 0,
        method: str = "fanova", n_boot: int = 100, workers: int = 1, scheduler: str | None = None,
        progress: bool = True, bench_kwargs: dict | None = None, adaptive: bool = False,
        rounds: int = ROUNDS, first: tuple[int, int] = FIRST, rule: str = "budget", tune_budget: int = TUNE_BUDGET,
        max_tune: int | None = None, hold: dict | None = None, anchor: str = "best", report: bool = True,
        stop: bool = True, rule_settings=None, group: int | None = None) -> Outcome:
    """Plan, evaluate (resumable), analyse, decide, and write the report; returns the `Outcome`.

    name: a registered benchmark's name, or a `Benchmark` (e.g. `hpobench.load_objective(...)`;
    Dask workers are then sent the object, not its name).
    rule: "budget" (`hpobench.analysis.decision`, the default) or "variance"
    (`hpobench.analysis.shares`). rule_settings: that module's `Rule` (default Rule()).
    tune_budget: full-fidelity trainings the user will tune with (the budget-aware rule's n).
    max_tune: at most this many hyperparameters tuned. hold: name -> value, held during scoping.
    anchor: "best" (the best configuration found, confirmed at the probe) or "default".
    adaptive (variance rule): sample in rounds and stop once the decision is settled (module
    docstring); else the plan's n_low + n_probe in one go. report: write report.md, figures and
    the scoped space. stop: False runs every round (`experiments/studies/scope_adaptive.py`).
    group: configurations per draw of the static part, trained together (`group_size`; None: from
    the memory model and `GROUPS`; 1: one by one).
    """
    import hpobench
    from hpobench import spaces
    from hpobench.analysis import decision as deciding
    from hpobench.analysis import errors, importance
    from hpobench.analysis import shares as scoping
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
    if anchor not in ("best", "default"):
        raise ValueError(f"anchor must be 'best' or 'default', got {anchor!r}")
    hold = dict(hold or {})
    check(bench, bench.config_space, tune_budget, max_tune, hold, rule, adaptive)
    space = spaces.fix(bench.config_space, hold) if hold else bench.config_space
    settings = rule_settings or (scoping.Rule() if rule == "variance" else deciding.Rule())
    p = plan(bench, budget, low, probe, n_low, n_probe, probe_share, resolution, 0 if rule == "variance" else CONFIRM)
    steps = schedule(bench, p, budget, rounds, first) if adaptive else [Round(p.n_low, p.n_probe, p.cost)]
    k_group = group_size(bench, space, p.low, steps[-1].n_low, group)
    out = Path(out)
    identity = {"benchmark": name, "bench_kwargs": bench_kwargs, "seed": seed,
                "plan": {k: v for k, v in asdict(p).items() if k != "confirm" or v}}  # (scopes from before it resume)
    if adaptive:  # (absent for a fixed design: fixed scope runs from before rounds resume)
        identity["rounds"] = [asdict(r) for r in steps]
        identity["rule"] = asdict(settings)
    if bench.metric != F1:  # (absent for F1: scope runs from before metrics were declarable resume)
        identity["metric"] = bench.metric.to_dict()
    if hold:  # (absent without: scope runs from before --hold resume)
        identity["hold"] = hold
    if k_group > 1:  # (absent when drawn one by one: scope runs from before grouping resume with --group 1)
        identity["group"] = k_group
    if records.has_meta(out):
        old = records.read_meta(out).get("scope")
        if old is not None and json.loads(json.dumps(old)) != json.loads(json.dumps(identity)):
            hint = (" (a run from before grouped designs: add --group 1)"
                    if "group" not in old and {**old, "group": k_group} == json.loads(json.dumps(identity)) else "")
            raise ValueError(f"{out} holds a scope run with other settings ({old}){hint}; use another --out")
    n = steps[-1].n_low - 1
    configs = spaces.sample(space, n, seed, grouped=k_group if k_group > 1 else 0)
    clusters = spaces.clusters(n, k_group if k_group > 1 else 0)
    if k_group > 1:  # one per group first: the probe's prefix spans as many groups as it can
        order = interleave(clusters)
        configs, clusters = [configs[i] for i in order], [clusters[i] for i in order]
    else:
        clusters = [None] * len(configs)  # (no cluster column: every configuration its own draw)
    kw = dict(method=method, n_boot=n_boot, seed=seed, metric=bench.metric)
    lo_f, pr_f = Fidelity.of(p.low), Fidelity.of(p.probe)
    done = records.read_rounds(out) if adaptive else []
    history = []
    for k, step in enumerate(steps):
        cells = [Cell(cell_key(name, bench_kwargs, c, f, seed), i, c, f, seed, clusters[i])
                 for i, c in enumerate(configs) for f, m in ((p.low, step.n_low), (p.probe, step.n_probe)) if i < m]
        last = k == len(steps) - 1
        if k < len(done) and not last and (not done[k]["settled"] or not stop):
            history.append(done[k])  # analysed before an interruption: it did not stop there
            continue
        run = functools.partial(grid.run_cells, bench, registered, bench_kwargs, out=out, meta={"scope": identity},
                                workers=workers, scheduler=scheduler, progress=progress)
        if p.confirm:  # the low fidelity first: its best also run at the probe
            lows = [c for c in cells if c.fidelity == p.low]
            first_df = run(all_cells=lows, desc="scope: low fidelity")
            top = deciding.top(first_df[first_df["key"].isin({c.key for c in lows})], space, [lo_f], bench.metric,
                               p.confirm)
            cells += [Cell(cell_key(name, bench_kwargs, configs[t["config_id"]], p.probe, seed), t["config_id"],
                           configs[t["config_id"]], p.probe, seed, clusters[t["config_id"]])
                      for t in top if t["config_id"] >= step.n_probe]
        df = run(all_cells=cells, desc=f"scope round {k + 1}/{len(steps)}" if adaptive else "scope")
        df = df[df["key"].isin({c.key for c in cells})]
        try:
            imps = importance.per_fidelity(df, space, [lo_f, pr_f], **kw)
        except errors.AnalysisError as e:  # every training failed, too few configurations, ...
            dec = deciding.everything(space, f"the scope's data cannot support a subset ({e})", tune_budget,
                                      hold=hold)
            return _finish(bench, out, p, df, budget, Outcome(dec, p, budget, float(df["cost"].sum())), {}, [],
                           method, report)
        low_imp, probe_imp = imps[lo_f], imps[pr_f]
        if rule != "variance":
            break
        dec = scoping.decide(low_imp, space, probe_imp, settings)
        history.append(dict(round=k + 1, n_low=step.n_low, n_probe=step.n_probe, cost=float(df["cost"].sum()),
                            stability=dec.stability, settled=dec.settled, verdict=dec.verdict, tune=dec.tune,
                            **{x: dec.agreement.get(x) for x in ("estimate", "lower", "upper")}))
        if adaptive:
            records.write_rounds(out, history)
        if last or (stop and dec.settled):
            break
    spent = float(df["cost"].sum())
    best = deciding.top(df, space, (pr_f, lo_f), bench.metric)
    if rule == "variance":
        from hpobench.analysis import agreement
        rs = history if adaptive else [history[-1]]
        ref = agreement.reference(df, space, low_imp, p.probe, settings.statistic, **kw)
        dec.reference = {"estimate": float(ref.corrected), "lower": float(ref.lower), "upper": float(ref.upper),
                         "what": f"the low fidelity against itself on the probe's {probe_imp.n_configs} "
                                 f"configurations"}
        result = Outcome(dec, p, budget, spent, rs, outlook(dec, rs, budget), best)
    else:
        at, where = ((best[0]["config"], f"the best configuration found (at {best[0]['fidelity']})") if best and
                     anchor == "best" else (dict(space.get_default_configuration()), "the default configuration"))
        dec = deciding.decide(low_imp, space, at, tune_budget, probe_imp, where, hold, max_tune, settings, seed,
                              screen_cost=bench.cost(p.low) / bench.cost(bench.full_fidelity))
        result = Outcome(dec, p, budget, spent, best=best)
    return _finish(bench, out, p, df, budget, result, imps, [lo_f, pr_f], method, report)


def _finish(bench, out: Path, p: Plan, df, budget: float, result: Outcome, imps: dict, fids: list, method: str,
            report: bool) -> Outcome:
    """Figures, the scoped space (and its exports), decision.json and report.md."""
    if not report:
        return result
    from hpobench import export, spaces
    from hpobench.analysis import plots
    dec = result.decision
    figs = plots.importance(imps, out / "importance") if imps else []
    if hasattr(dec, "settled"):  # the variance rule's figure of kept shares
        figs += plots.decision(dec, out / "decision")
    if method == "fanova" and imps:
        figs += plots.marginals(imps[fids[0]], imps[fids[0]].extra["encoded"].space, out / "marginals")
    (out / "scoped_space.json").write_text(spaces.to_json(dec.space))
    export.write(out, dec.space, dec.fix, bench.metric, bench.name)  # for Optuna, W&B, Ray Tune
    if hasattr(dec, "to_dict"):
        records.write_text_atomic(out / "decision.json", json.dumps(dec.to_dict(), indent=1, default=str))
    (out / "report.md").write_text(_report(bench, budget, p, df, result, imps, figs, out))
    return result


def outlook(dec, rounds: list[dict], budget: float, cap: float = 10.0) -> str:
    """What the variance rule's rounds say: decided, or undecided and about how much more cost would
    likely decide it.

    Two extrapolations from the rounds (cost, n_probe, stability; the last one is `dec`, a
    `hpobench.analysis.shares.Decision`), the larger wins. Agreement: the interval narrows as
    1/sqrt(n), so clearing a threshold t at distance d from the estimate with half-width h
    (towards t) needs (h / d)^2 times the configurations, hence the cost. Stability: linear in log
    cost through the last two rounds, extended to `rule.stable`. Beyond `cap` times the cost spent
    it says so.
    """
    r = rounds
    spent, left = r[-1]["cost"], budget - r[-1]["cost"]
    if dec.settled:
        return (f"decided after round {len(r)}: cost {spent:.3g} of {budget:.3g}"
                + (f" ({left:.3g} left unspent)" if left > 0 else ""))
    fa, fs = _agreement_factor(dec.agreement, dec.rule), _stability_factor(r, dec.rule.stable)
    head = (f"UNDECIDED when the budget ran out (cost {spent:.3g} of {budget:.3g}, "
            + ("1 round)" if len(r) == 1 else f"{len(r)} rounds)"))
    if len(r) == 1 and fs > 1:  # one round has no trend in stability to extend
        agreement = (f"the agreement alone would likely clear the rule with about {fa:.1f}x the cost spent"
                     if fa <= cap else f"the agreement alone would not likely clear the rule within {cap:g}x")
        return head + (f"; {agreement}; stability ({r[-1]['stability']:.0%} of resamples, {dec.rule.stable:.0%} "
                       "needed) cannot be extrapolated from one round (--adaptive samples in rounds)")
    factor = max(fa, fs)
    if not np.isfinite(factor) or factor > cap:
        return head + f"; not likely decided within {cap:g}x the cost spent (the rounds do not converge on it)"
    return head + (f"; likely decided with about {factor:.1f}x the cost spent, i.e. a budget of "
                   f"about {spent * factor:.3g} ({spent * (factor - 1):.3g} more)")


def _agreement_factor(agr: dict, rule) -> float:
    if "estimate" not in agr:
        return np.inf
    e, lo, hi, f = agr["estimate"], agr["lower"], agr["upper"], 1.0
    for t in (rule.agree, rule.disagree):
        if lo < t <= hi:
            d, h = abs(e - t), (e - lo if e >= t else hi - e)
            f = max(f, (h / d) ** 2 if d > 1e-9 else np.inf)
    return f


def _stability_factor(rounds: list[dict], stable: float) -> float:
    s = rounds[-1]["stability"]
    if s >= stable:
        return 1.0
    if len(rounds) < 2:
        return np.inf
    (c1, s1), (c2, s2) = ((x["cost"], x["stability"]) for x in rounds[-2:])
    slope = (s2 - s1) / np.log(c2 / c1)
    return float(np.exp((stable - s2) / slope)) if slope > 0 else np.inf




def _report(bench, budget, p: Plan, df, result: Outcome, imps, figs, out: Path) -> str:
    from hpobench import spaces
    from hpobench.analysis import trials
    dec, name, metric = result.decision, bench.name, bench.metric
    ok = df[df["status"] == "ok"]
    budget_rule = not hasattr(dec, "settled")
    lines = [f"# Search-space scope for `{name}`", ""]
    if budget_rule:
        lines += _answer(bench, dec, result, out)
    lines += ["## How it was decided", "",
              f"Budget {budget:g} (cost units), spent {result.spent:.3g} in {df['cost_s'].sum() / 60:.1f} min of "
              f"training; design: " + (f"adaptive, {len(result.rounds)} round(s) run (stops once the decision is "
                                       "settled)" if len(result.rounds) > 1 or "rounds" in _meta_scope(out)
                                       else "fixed (one go)") + ".", "",
              f"- metric: {metric.describe()}",
              f"- low fidelity `{Fidelity.of(p.low).label}`: {int(trials.at(df, p.low)['config_id'].nunique())} "
              "configurations (default included)",
              f"- probe fidelity `{Fidelity.of(p.probe).label}`: the first "
              f"{int(trials.at(df, p.probe)['config_id'].nunique())} of them",
              f"- failed trials (diverged or crashed, left out of importance): {len(df) - len(ok)}"]
    if "cluster" in df and df["cluster"].notna().any():
        low = trials.at(df, p.low)
        sizes = low.groupby("cluster")["config_id"].nunique()
        lines.append(f"- grouped design: up to {int(sizes.max())} configurations per draw of "
                     f"{', '.join(spaces.STATIC)} (trained together), {len(sizes)} draws at the low fidelity (the "
                     "default its own); the bootstrap resamples draws (`--group 1`: one by one)")
    if len(ok):
        col = trials.metric_column(df, metric)
        for label, fid in (("low", p.low), ("probe", p.probe)):
            at = trials.at(ok, fid)
            if len(at):
                best = at[col].max() if metric.maximize else at[col].min()
                default = at.loc[at["config_id"] == 0, col]
                lines.append(f"- best {metric.name} at the {label} fidelity: {best:.4g}"
                             + (f" (default configuration: {default.iloc[0]:.4g})" if len(default) else ""))
    lines += ["", "```", result.summary(), "```", "", dec.table().to_markdown(index=False, floatfmt=".3f"), ""]
    if budget_rule:
        for label, c in dec.choices.items():
            lines += [f"Greedy path at `{label}` (value: expected best of {c.n} draws on the bagged surrogate; "
                      f"rise with its {dec.rule.level:.0%} bootstrap interval):", "",
                      pd_table([dict(added=", ".join(st.added), value=st.value, rise=st.gain, lower=st.lower,
                                     upper=st.upper) for st in c.steps]), ""]
    else:
        lines += [f"Next: `{_tune_command(bench, out, 'bohb', 'BUDGET')}`", ""]
    lines += ["## Importance", ""]
    for f, imp in imps.items():
        lines += [f"### {f.label} ({imp.n_configs} configurations)", "",
                  imp.table().head(10).to_markdown(index=False, floatfmt=".3f"), ""]
    lines += ["## Figures", ""] + [f"![{f.stem}]({f.name})" for f in figs if f.suffix == ".png"]
    return "\n".join(lines) + "\n"


def _answer(bench, dec, result: Outcome, out: Path) -> list[str]:
    """The report's opening: what to tune in which ranges, where to start, which plan, the command."""
    full = bench.cost(bench.full_fidelity)
    n = dec.n
    lines = [f"**Tune {len(dec.tune)} hyperparameter(s) with your {n} full-fidelity trainings**"
             + (f" (`--tune-budget`, default {TUNE_BUDGET})" if n == TUNE_BUDGET else " (`--tune-budget`)") + ":", ""]
    if dec.tune:
        lines += [pd_table([dict(hyperparameter=x, range=deciding_range(dec.ranges.get(x)),
                                 start=_short(dec.anchor.get(x, ""))) for x in dec.tune]), ""]
    lines += [f"Everything else stays at {dec.anchored_at}"
              + (f"; held by you while scoping (not judged): {', '.join(f'{k}={v}' for k, v in dec.held.items())}"
                 if dec.held else "") + f". {dec.guard[0].upper() + dec.guard[1:]}.", ""]
    if result.best:
        lines += ["**Start from** the best configurations found:", "",
                  pd_table([dict(rank=i + 1, fidelity=b["fidelity"], **{bench.metric.name: b["value"]},
                                 config=json.dumps(b["config"])) for i, b in enumerate(result.best)]), ""]
    if dec.plans:
        rec = dec.plan
        cmds = {"scope": _tune_command(bench, out, "smac", n * full),
                "everything": _tune_command(bench, out, "smac", n * full, scoped=False),
                "screen": _tune_command(bench, out, "sh", n * full),
                "anchor": f"hpobench evaluate {bench.name} --config '{json.dumps(dec.anchor)}'"}
        lines += [f"**Plan: {rec.name}** ({rec.what}). Predicted best {bench.metric.name} of each plan (random "
                  "draws on the scope's surrogate; a model-based tuner does better than random draws, the "
                  "comparison between plans is what counts):", "",
                  pd_table([dict(plan=x.name, predicted=x.predicted * bench.metric.sign, what=x.what)
                            for x in dec.plans]), "",
                  "Run it:", "", "```", cmds[rec.name], "```", ""]
    return lines


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def deciding_range(r) -> str:
    if r is None:
        return "whole range"
    return f"[{r[0]:.4g}, {r[1]:.4g}]" if isinstance(r, tuple) else "{" + ", ".join(map(str, r)) + "}"


def pd_table(rows: list[dict]) -> str:
    import pandas as pd
    return pd.DataFrame(rows).to_markdown(index=False, floatfmt=".4g") if rows else "(none)"


def _meta_scope(out: Path) -> dict:
    return records.read_meta(out).get("scope", {}) if records.has_meta(out) else {}


def _tune_command(bench, out: Path, optimizer: str, budget, scoped: bool = True) -> str:
    """The command that tunes the scoped space (or, unscoped, everything, warm-started from the scope)."""
    obj = bench.meta.get("objective")
    whole = f"--space {obj.get('space') or 'SPACE.json'} " if obj else ""
    space = f"--space {out / 'scoped_space.json'} " if scoped else f"{whole}--warm-start {out} "
    b = budget if isinstance(budget, str) else f"{budget:g}"
    tail = f"{space}--optimizer {optimizer} --budget {b} --out runs/tune-{optimizer}"
    if obj is None:
        return f"hpobench tune {bench.name} {tail}"
    m = bench.metric
    rng = "" if m.lower is None and m.upper is None else \
        f" --metric-range {'' if m.lower is None else f'{m.lower:g}'},{'' if m.upper is None else f'{m.upper:g}'}"
    return (f"hpobench tune --objective {obj['target']} --fidelity-space "
            f"{obj.get('fidelity_space') or 'FIDELITY.json'} --metric {m.name} --direction {m.direction}{rng} {tail}")

"""The main job: which hyperparameters to tune with the user's budget, decided from cheap trainings.

Given a total scoping budget (the benchmark's cost units) and the number of full-fidelity
trainings the user will spend tuning afterwards (`tune_budget`, default `TUNE_BUDGET`), it
evaluates the default plus random configurations at a low fidelity and the first of them at a
higher "probe" fidelity, computes importance at both with bootstrap intervals, and decides
(`hpobench.analysis.decision`): the subset worth tuning with that many trainings, its narrowed
ranges, the anchor every other hyperparameter stays at (the best configuration found, confirmed
at the probe; with `confirm_full` K, the best of the K best at the probe trained fully, out of the
tuning budget), and the plan predicted best. It writes to `--out`: `report.md` (for terminals) and
`report.html` (one self-contained page, figures inlined: `hpobench.experiments.page`), both
opening with the answer (what to tune in which ranges from where, what stays fixed at which
value, the best configurations found, the plans with their commands, which data chose), then
the figures (`hpobench.analysis.plots`: importance, marginal curves with bootstrap bands,
interactions, parallel coordinates, the cheap fidelity against the probe) and how it was decided;
`scoped_space.json` (for `hpobench tune --space`: the narrowed ranges, the anchor as every
default; beside it the same space for Optuna, W&B and Ray Tune, `hpobench.export`),
`decision.json`, `anchor.json` and every trial as Parquet (`evaluations.parquet`). Interrupted, it
resumes from `--out`; the analysis settings (tune_budget, max_tune, anchor) may change on a
resume, since they reuse the trainings.

Without training: `from_table` decides from any trial table at two fidelities (the budget rule
runs it after its trainings), and `from_optuna` from an existing Optuna study, its completed
trials the full fidelity and its intermediate values (pruned trials' too) the low fidelities at
their step (`optuna_steps` picks the low step; `hpobench scope --optuna URL --study NAME`).

Cheap trainings together: on a benchmark that trains configurations sharing a program together
(`Benchmark.evaluate_many`; the ResNet benchmarks: the same depth, width and batch size), the
configurations are drawn in groups of K sharing those (`hpobench.spaces.sample(grouped=K)`; each
configuration still uniform) and each group trains as one. K (`group_size`) is what the memory
model of the benchmark (`hpobench.benchmarks.resnet.max_group`: a group under `GROUP_BOUND`) allows
for the largest shape the space can draw at the low fidelity, and at most as many as keep `GROUPS`
independent draws of the static part among the low-fidelity configurations; `group=1` (`--group 1`)
draws them one by one, as before. The probe trains whole programs of the low fidelity (`probed`: the
configurations the low fidelity trained together, in order, as many as fit in n_probe; the confirmed
best come alone), so it runs the programs already built: a part of a group is a new program, and
at the scope's tiny fidelities building one costs more than the trainings it runs (`make run`'s
probe 152 -> 72 s, 98 s of it building before; its rho is estimated as well from such units,
`results/probe_units/`). The configurations are ordered one per group first (the default, then
the first member of every group, then the second, ...). Every recorded row carries its group
(`cluster`) and the importance bootstrap resamples groups (`results/grouped_bootstrap/`).

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
    hpobench scope synthetic/partial --budget 300 --out /tmp/scope   # about a minute
    hpobench scope --optuna sqlite:///study.db --study NAME --out /tmp/study-scope   # an Optuna study, no training
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
CONFIRM = 5  # budget rule: at least this many of the best at the low fidelity also run at the probe (`promoted`)
SIZED_FROM, SIZED_SHARE = 10, 1 / 8  # `sized`: of each full training beyond 10, an eighth on cheap ones
CONFIRM_FULL = 3  # the report's advice: this many of the best at the probe trained fully (`confirm_full`)
RULES = ("budget", "variance")
GROUPS = 10  # a grouped design keeps at least this many independent static draws at the low fidelity


@dataclass(frozen=True)
class Plan:
    low: dict
    probe: dict
    n_low: int
    n_probe: int
    cost: float  # planned total, <= budget
    confirm: int = 0  # the best at the low fidelity also run at the probe (beside the n_probe, `probed`)


@dataclass(frozen=True)
class Round:
    n_low: int  # cumulative: configurations at the low fidelity after this round
    n_probe: int  # ... of which at most this many also at the probe (`probed`)
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


def sized(n_low: int, tune_budget: float, c_low: float, c_full: float) -> int:
    """Configurations at the low fidelity for `tune_budget` full trainings (each costing `c_full`, a
    low-fidelity one `c_low`): `n_low`, and what `SIZED_SHARE` of every full training beyond `SIZED_FROM`
    buys. More of them both rank the hyperparameters better and find a better anchor
    (results/strategies_live_b30/anchored_gains_v2_*, results/strategies_live_b30_sized)."""
    return n_low + int(max(0.0, tune_budget - SIZED_FROM) * SIZED_SHARE * c_full / c_low + 1e-9)


def larger(bench, p: Plan, budget: float, tune_budget: int) -> str:
    """The report's advice where `tune_budget` buys a larger design than `p` (`sized`): the configurations,
    and the options that buy them at the same fidelities; "" where it does not."""
    n = sized(p.n_low, tune_budget, bench.cost(p.low), bench.cost(bench.full_fidelity))
    if n <= p.n_low:
        return ""
    need = budget + (n - p.n_low) * bench.cost(p.low) + (promoted(n) - promoted(p.n_low)) * bench.cost(p.probe)
    return (f"Your {tune_budget} full-fidelity trainings buy a larger scope: {n} configurations at the low fidelity "
            f"instead of {p.n_low} (an eighth of each full training beyond {SIZED_FROM} spent on them; live at a "
            "budget of 30, that scope beat tuning everything: results/strategies_live_b30_sized/README.md). In a "
            f"new --out folder: `--n-low {n} --low {Fidelity.of(p.low).label} --probe {Fidelity.of(p.probe).label} "
            f"--budget {_up(need)}`.")


def promoted(n_low: int) -> int:
    """How many of the best at the low fidelity the budget rule also runs at the probe: the best tenth, at
    least `CONFIRM` (as the design grows the funnel keeps its width: on study v2, of 200 configurations the
    3 confirmed from the best 20 score higher at full fidelity than from the best 5,
    results/strategies_live_b30_sized/anchors.csv)."""
    return max(CONFIRM, n_low // 10)


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
    room = budget * (1 + 1e-9)  # a budget equal to a design's cost buys it, whatever the rounding
    for lo in lows:
        c_low = bench.cost(lo)
        if low is None and c_low * n_low > room * (1 - probe_share):
            continue
        left = room - c_low * n_low
        above = [bench.fidelity(probe)] if probe is not None else [r for r in rungs if bench.cost(r) > c_low]
        fits = [r for r in above if bench.cost(r) * probes <= left and bench.cost(r) > c_low]
        if fits:
            return Plan(lo, fits[0], n_low, n_probe, c_low * n_low + bench.cost(fits[0]) * probes, confirm)
    cheapest = lows[-1]
    c_low = bench.cost(cheapest) * n_low
    need = max(c_low + min([bench.cost(r) for r in rungs if bench.cost(r) > bench.cost(cheapest)] or [np.inf]) * probes,
               c_low / (1 - probe_share) if low is None else 0.0)  # the low rung may spend 1 - probe_share
    raise ValueError(f"budget {budget:g} is too small for {n_low} configurations at a low fidelity and "
                     f"{probes} at a higher probe (at least {_up(need)} with low = {cheapest}); raise "
                     f"--budget or give --low/--probe")


def _up(x: float) -> str:
    """`x` rounded up to 3 significant digits: a budget the error names is enough."""
    if not np.isfinite(x) or x <= 0:
        return f"{x:.3g}"
    step = 10.0 ** (np.floor(np.log10(x)) - 2)
    return f"{np.ceil(x / step - 1e-9) * step:.3g}"


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


def probed(units: list[list[int]], n: int) -> list[int]:
    """Positions trained at the probe: whole `units` (configurations trained together at the low
    fidelity, `Benchmark.groups`), in order, each that still fits in `n`; the first `n` positions when
    none fits. Units of one configuration each (a design drawn one by one): the first `n`."""
    out: list[int] = []
    for u in units:
        if len(out) + len(u) <= n:
            out += u
    return sorted(out) if out else sorted(i for u in units for i in u)[:n]


def check_resamples(n_boot: int) -> None:
    """The bootstrap resamples of the analysis, checked before any training or reading."""
    if n_boot < 2:
        raise ValueError(f"--n-boot {n_boot!r}: the decision reads bootstrap intervals; give at least 2 resamples")


def check(bench, space, tune_budget: int, max_tune: int | None, hold: dict | None, rule: str, adaptive: bool,
          confirm_full: int = 0) -> None:
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
    if isinstance(confirm_full, bool) or not isinstance(confirm_full, int) or confirm_full < 0:
        raise ValueError(f"--confirm-full is a number of configurations to train fully, got {confirm_full!r}")
    if confirm_full and rule == "variance":
        raise ValueError("--confirm-full anchors the budget-aware rule's scope; the variance rule has no anchor")
    if confirm_full >= tune_budget:
        raise ValueError(f"--confirm-full {confirm_full} spends all of --tune-budget {tune_budget} (the full "
                         "trainings are part of it): leave at least one training to tune with")
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
        stop: bool = True, rule_settings=None, group: int | None = None, confirm_full: int = 0) -> Outcome:
    """Plan, evaluate (resumable), analyse, decide, and write the report; returns the `Outcome`.

    name: a registered benchmark's name, or a `Benchmark` (e.g. `hpobench.load_objective(...)`;
    Dask workers are then sent the object, not its name).
    rule: "budget" (`hpobench.analysis.decision`, the default) or "variance"
    (`hpobench.analysis.shares`). rule_settings: that module's `Rule` (default Rule()).
    tune_budget: full-fidelity trainings the user will tune with (the budget-aware rule's n).
    max_tune: at most this many hyperparameters tuned. hold: name -> value, held during scoping.
    anchor: "best" (the best configuration found, confirmed at the probe) or "default".
    confirm_full: train this many of the best at the probe at full fidelity (out of `tune_budget`);
    the anchor is then the best of them there, and `hpobench tune --warm-start` replays its training.
    Not part of the run's identity: a resume may add it, reusing every training.
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
    check_resamples(n_boot)
    hold = dict(hold or {})
    check(bench, bench.config_space, tune_budget, max_tune, hold, rule, adaptive, confirm_full)
    space = spaces.fix(bench.config_space, hold) if hold else bench.config_space
    settings = rule_settings or (scoping.Rule() if rule == "variance" else deciding.Rule())
    p = plan(bench, budget, low, probe, n_low, n_probe, probe_share, resolution,
             0 if rule == "variance" else promoted(n_low))
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
    if k_group > 1:  # one per group first (the probe takes whole units, `probed`)
        order = interleave(clusters)
        configs, clusters = [configs[i] for i in order], [clusters[i] for i in order]
    else:
        clusters = [None] * len(configs)  # (no cluster column: every configuration its own draw)
    kw = dict(method=method, n_boot=n_boot, seed=seed, metric=bench.metric)
    lo_f, pr_f = Fidelity.of(p.low), Fidelity.of(p.probe)
    done = records.read_rounds(out) if adaptive else []
    history = []
    for k, step in enumerate(steps):
        units = (bench.groups(configs[:step.n_low], p.low) if k_group > 1 else [[i] for i in range(step.n_low)])
        at_probe = set(probed(units, step.n_probe))
        cells = [Cell(cell_key(name, bench_kwargs, c, f, seed), i, c, f, seed, clusters[i])
                 for i, c in enumerate(configs) for f, m in ((p.low, i < step.n_low), (p.probe, i in at_probe)) if m]
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
                      for t in top if t["config_id"] not in at_probe]  # alone: its unit's rest would cost more
        df = run(all_cells=cells, desc=f"scope round {k + 1}/{len(steps)}" if adaptive else "scope")
        df = df[df["key"].isin({c.key for c in cells})]
        if rule != "variance":
            break
        try:
            imps = importance.per_fidelity(df, space, [lo_f, pr_f], **kw)
        except errors.AnalysisError as e:  # every training failed, too few configurations, ...
            dec = deciding.everything(space, f"the scope's data cannot support a subset ({e})", tune_budget, hold=hold)
            result = Outcome(dec, p, budget, float(df["cost"].sum()))
            return _finish(_source(bench, bench_kwargs, out, budget, df, seed, history), out, df, result, {}, seed,
                           report)
        low_imp, probe_imp = imps[lo_f], imps[pr_f]
        dec = scoping.decide(low_imp, space, probe_imp, settings)
        history.append(dict(round=k + 1, n_low=step.n_low, n_probe=step.n_probe, cost=float(df["cost"].sum()),
                            stability=dec.stability, settled=dec.settled, verdict=dec.verdict, tune=dec.tune,
                            **{x: dec.agreement.get(x) for x in ("estimate", "lower", "upper")}))
        if adaptive:
            records.write_rounds(out, history)
        if last or (stop and dec.settled):
            break
    if confirm_full and rule != "variance":  # the best at the probe trained fully: the anchor is the best of them
        top = deciding.top(df, space, (pr_f, lo_f), bench.metric, confirm_full)
        full = bench.full_fidelity
        cells += [Cell(cell_key(name, bench_kwargs, configs[t["config_id"]], full, seed), t["config_id"],
                       configs[t["config_id"]], full, seed, clusters[t["config_id"]]) for t in top]
        df = run(all_cells=cells, desc="scope: the best trained fully")
        df = df[df["key"].isin({c.key for c in cells})]
    source = _source(bench, bench_kwargs, out, budget, df, seed, history)
    if rule != "variance":
        if more := larger(bench, p, budget, tune_budget):
            source.about.append(more)
        return from_table(df, space, bench.metric, p.low, p.probe, out, source, tune_budget, max_tune, hold, anchor,
                          method, n_boot, seed, settings, bench.cost(p.low) / bench.cost(bench.full_fidelity),
                          report, p, budget, bench.full_fidelity)
    from hpobench.analysis import agreement
    rs = history if adaptive else [history[-1]]
    ref = agreement.reference(df, space, low_imp, p.probe, settings.statistic, **kw)
    dec.reference = {"estimate": float(ref.corrected), "lower": float(ref.lower), "upper": float(ref.upper),
                     "what": f"the low fidelity against itself on the probe's {probe_imp.n_configs} configurations"}
    best = deciding.top(df, space, (pr_f, lo_f), bench.metric)
    result = Outcome(dec, p, budget, float(df["cost"].sum()), rs, outlook(dec, rs, budget), best)
    return _finish(source, out, df, result, imps, seed, report)


@dataclass
class Source:
    """Where a scoped trial table came from, as the report tells it (`from_table`)."""

    name: str  # the benchmark's name, or optuna:STUDY
    metric: object  # hpobench.benchmarks.Metric
    about: list[str]  # the report's first lines on how the data were got: budget and design, or the study
    commands: object  # (n, anchor, decision) -> {plan name: the command that runs it}
    default: bool = True  # config_id 0 is the space's default configuration


def from_table(df, space, metric, low: dict, probe: dict, out: str | Path, source: Source,
               tune_budget: int = TUNE_BUDGET, max_tune: int | None = None, hold: dict | None = None,
               anchor: str = "best", method: str = "fanova", n_boot: int = 100, seed: int = 0, rule_settings=None,
               screen_cost: float = np.nan, report: bool = True, plan: Plan | None = None,
               budget: float = np.nan, full: dict | None = None) -> Outcome:
    """The budget-aware decision from a trial table, without training, and its outputs in `out`.

    df: trials (`hpobench.trial_row` rows) at the fidelities `low` and `probe` of `space`, scored
    by `metric`. Importance at both with `n_boot` bootstrap resamples, then
    `hpobench.analysis.decision.decide` with `tune_budget` trainings, anchored at the best
    configuration found (at the probe, else at the low fidelity; anchor="default": the space's
    default); `screen_cost` is one evaluation at `low` in full trainings (the screening plan). With
    `report`, writes what `run` writes (`_finish`). plan: the design the table came from (default:
    the configurations counted at each fidelity); budget: its budget (NaN: none). full: the full
    fidelity; configurations the table holds there (`run`'s confirm_full) were trained out of
    `tune_budget`: the anchor is the best of them there, and the rest of the budget is tuned. When the table
    cannot support a subset (too few configurations, every trial failed) it recommends tuning
    everything, and says why.
    """
    from hpobench.analysis import decision as deciding
    from hpobench.analysis import errors, importance, trials
    hold = dict(hold or {})
    settings = rule_settings or deciding.Rule()
    lo_f, pr_f = Fidelity.of(low), Fidelity.of(probe)
    spent = float(df["cost"].sum())
    if plan is None:
        counts = [int(trials.at(df, f)["config_id"].nunique()) for f in (low, probe)]
        plan = Plan(dict(low), dict(probe), *counts, spent)
    try:
        imps = importance.per_fidelity(df, space, [lo_f, pr_f], method=method, n_boot=n_boot, seed=seed,
                                       metric=metric)
    except errors.AnalysisError as e:  # every training failed, too few configurations, ...
        dec = deciding.everything(space, f"the scope's data cannot support a subset ({e})", tune_budget, hold=hold)
        return _finish(source, Path(out), df, Outcome(dec, plan, budget, spent), {}, seed, report)
    trained = 0 if full is None else int(trials.at(df, full)["config_id"].nunique())
    best = deciding.top(df, space, ((full,) if trained else ()) + (pr_f, lo_f), metric)
    at, where = ((best[0]["config"], f"the best configuration found (at {best[0]['fidelity']})") if best and
                 anchor == "best" else (dict(space.get_default_configuration()), "the default configuration"))
    if trained and anchor == "best":
        where = f"the best of the {trained} best at the probe, trained fully ({metric.name} {best[0]['value']:.4g})"
    dec = deciding.decide(imps[lo_f], space, at, max(1, tune_budget - trained), imps[pr_f], where, hold, max_tune,
                          settings, seed, screen_cost=screen_cost)
    return _finish(source, Path(out), df, Outcome(dec, plan, budget, spent, best=best), imps, seed, report)


def from_optuna(storage, study: str | None, out: str | Path, low: dict | None = None, probe: dict | None = None,
                tune_budget: int = TUNE_BUDGET, max_tune: int | None = None, anchor: str = "best",
                method: str = "fanova", n_boot: int = 100, seed: int = 0, report: bool = True,
                rule_settings=None) -> Outcome:
    """Scope an existing Optuna study without training (`from_table` on `hpobench.analysis.optuna_study.read`).

    The study's completed trials are the full fidelity, at its final step; the intermediate values
    of completed and pruned trials are low fidelities at their step. The probe is the final step
    (or `probe`, {"step": K}); the low fidelity is `low` ({"step": K}), else `optuna_steps`'
    choice. The anchor is the best completed trial. Writes what `run` writes, the study's trial
    table as evaluations.parquet; nothing is written to the study (it is opened read-only).
    rule_settings: the decision's `hpobench.analysis.decision.Rule` (default Rule()).
    """
    from hpobench.analysis import optuna_study
    check_resamples(n_boot)
    out = Path(out)
    if records.has_meta(out):
        raise ValueError(f"{out} holds a run record ({records.META}); use another --out for the study's scope")
    st = optuna_study.read(storage, study)
    lo, pr = optuna_steps(st, low, probe)
    df = st.table
    cost = float(df.loc[df[f"fidelity.{optuna_study.STEP}"] == lo[optuna_study.STEP], "cost"].median())
    out.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out / "evaluations.parquet", index=False)
    about = [f"No training: the {st.summary()}.", *[f"Note: {x}." for x in st.notes],
             f"The completed trials' final values are the full fidelity (step {st.final_step}); the intermediate "
             f"values of completed and pruned trials are the low fidelities at their step. Low fidelity: step "
             f"{lo[optuna_study.STEP]} (" + ("given" if low else "the highest step below the final one that at "
                                            f"least {STEP_SHARE:.0%} of the most-reported step's configurations "
                                            "reached") + "); the study was opened read-only."]
    source = Source(f"optuna:{st.study}", st.metric, about, _optuna_commands(str(storage), st, out, lo, cost),
                    default=False)
    return from_table(df, st.space, st.metric, lo, pr, out, source, tune_budget, max_tune, None, anchor, method,
                      n_boot, seed, rule_settings, screen_cost=cost, report=report)


STEP_SHARE = 0.9  # optuna_steps: the low step is reached by at least this share of the most-reported step's configs


def optuna_steps(study, low: dict | None = None, probe: dict | None = None) -> tuple[dict, dict]:
    """The (low, probe) fidelities, {"step": K}, at which to scope an `OptunaTable`; errors before compute.

    The probe is the final step unless given. The low fidelity, unless given, is the highest step
    below the probe reported by at least `STEP_SHARE` of the configurations of the most-reported
    step below it, and by at least MIN_CONFIGS: with MedianPruner, about the last step before
    pruning began (every trial reached it, more training than the steps before it).
    """
    from hpobench.analysis import fanova, optuna_study
    key = optuna_study.STEP
    if study.final_step is None:
        raise ValueError(f"study {study.study!r} reported no intermediate values (trial.report(value, step)): "
                         "there is no cheaper step to scope from")
    df = study.table[study.table["status"].astype(str) == "ok"]
    counts = df.groupby(f"fidelity.{key}")["config_id"].nunique().sort_index()

    def step(f: dict | None, flag: str, default: int) -> int:
        if f is None:
            return default
        if set(f) != {key} or not isinstance(f[key], int) or isinstance(f[key], bool):
            raise ValueError(f"{flag} for an Optuna study is step=K (an integer step), got {f}")
        if f[key] not in counts.index:
            raise ValueError(f"{flag} step={f[key]}: no successful trial reported that step; steps: "
                             f"{int(counts.index.min())}..{int(counts.index.max())}")
        if counts[f[key]] < fanova.MIN_CONFIGS:
            raise ValueError(f"{flag} step={f[key]}: {counts[f[key]]} configurations; importance needs at least "
                             f"{fanova.MIN_CONFIGS}")
        return int(f[key])

    hi = step(probe, "--probe", study.final_step)
    if hi not in counts.index or counts[hi] < fanova.MIN_CONFIGS:
        raise ValueError(f"study {study.study!r}: {int(counts.get(hi, 0))} successful trial(s) at the final step "
                         f"{hi}; importance needs at least {fanova.MIN_CONFIGS}")
    below = counts[counts.index < hi]
    if low is not None:
        lo = step(low, "--low", -1)
        if lo >= hi:
            raise ValueError(f"--low step={lo} must be below the probe's step {hi}")
        return {key: lo}, {key: hi}
    enough = below[below >= max(MIN_CONFIGS, STEP_SHARE * below.max())] if len(below) else below
    if not len(enough):
        most = f"; the most: step {int(below.idxmax())} with {int(below.max())}" if len(below) else ""
        raise ValueError(f"study {study.study!r}: no step below the final one ({hi}) has {MIN_CONFIGS} or more "
                         f"configurations{most}; give --low step=K (at least {fanova.MIN_CONFIGS})")
    return {key: int(enough.index.max())}, {key: hi}


def _optuna_commands(storage: str, study, out: Path, low: dict, cost: float):
    """The plans for an Optuna user: Python that runs each with the user's objective (`Source.commands`)."""
    from hpobench.analysis import decision as deciding
    from hpobench.analysis import optuna_study
    k_step = low[optuna_study.STEP]
    direction = study.metric.direction
    load = f"optuna.load_study(study_name={study.study!r}, storage={storage!r})"
    suggest = (f"import optuna, runpy\n\nsuggest = runpy.run_path({str(out / 'scoped_space_optuna.py')!r})"
               "[\"suggest\"]  # the scoped space\n")

    def commands(n: int, anchor: dict, dec) -> dict:
        start = dict(dec.space.get_default_configuration())  # the anchor, inside the narrowed ranges
        tuned = {k: v for k, v in start.items() if k in dec.tune}
        m, k = deciding.screen_sizes(n, cost)  # as the screening plan counts them
        better = "reverse=True" if study.metric.maximize else "reverse=False"
        return {
            "scope": suggest + "\n\ndef objective(trial):\n    config = suggest(trial)\n"
                     "    ...  # your training: trial.report(value, step) at each step, then return the final value\n"
                     f"\n\nstudy = optuna.create_study(direction={direction!r}, "
                     "pruner=optuna.pruners.MedianPruner())\n"
                     + (f"study.enqueue_trial({tuned!r})  # start from the anchor\n" if tuned else "")
                     + f"study.optimize(objective, n_trials={n})",
            "screen": suggest + f"\nstudy = optuna.create_study(direction={direction!r})\n"
                      f"trials = [study.ask() for _ in range({m})]\nconfigs = [suggest(t) for t in trials]\n"
                      f"cheap = [train(c, last_step={k_step}) for c in configs]  # your training, stopped once "
                      f"it reports step {k_step}\nbest = sorted(range({m}), key=cheap.__getitem__, {better})\n"
                      f"for i in best[:{k}]:\n    study.tell(trials[i], train(configs[i]))  # trained fully\n"
                      f"for i in best[{k}:]:\n    study.tell(trials[i], state=optuna.trial.TrialState.PRUNED)",
            "everything": f"import optuna\n\nstudy = {load}  # your study: every hyperparameter, its history\n"
                          f"study.optimize(objective, n_trials={n})  # your objective",
            "anchor": f"import json, optuna\n\nstudy = optuna.create_study(direction={direction!r})\n"
                      f"study.enqueue_trial(json.load(open({str(out / 'anchor.json')!r})))  # the anchor\n"
                      "study.optimize(objective, n_trials=1)  # your objective"}
    return commands


def _finish(source: Source, out: Path, df, result: Outcome, imps: dict, seed: int, report: bool) -> Outcome:
    """Figures, the scoped space (and its exports), decision.json, anchor.json, report.md and report.html."""
    if not report:
        return result
    from hpobench import export, spaces
    from hpobench.experiments import page
    dec = result.decision
    out.mkdir(parents=True, exist_ok=True)
    (out / "scoped_space.json").write_text(spaces.to_json(dec.space))
    export.write(out, dec.space, dec.fix, source.metric, source.name)  # for Optuna, W&B, Ray Tune
    if hasattr(dec, "to_dict"):
        records.write_text_atomic(out / "decision.json", json.dumps(dec.to_dict(), indent=1, default=str))
    if getattr(dec, "anchor", None):
        records.write_text_atomic(out / "anchor.json", json.dumps(dec.anchor, indent=1, default=str) + "\n")
    blocks = _report(source, df, result, imps, _figures(dec, imps, out, seed))
    records.write_text_atomic(out / "report.md", page.markdown(blocks))
    records.write_text_atomic(out / "report.html", page.html(blocks, f"Search-space scope for {source.name}"))
    return result


def _figures(dec, imps: dict, out: Path, seed: int) -> list:
    """The report's figures (`hpobench.analysis.plots`), each a `page.Figure` with its caption."""
    from hpobench.analysis import plots
    from hpobench.experiments import page
    if not imps:
        return []
    fids = list(imps)
    low = imps[fids[0]]
    figs = [page.Figure(plots.importance(imps, out / "importance")[0],
                        f"Importance at each fidelity ({low.method}; {low.level:.0%} bootstrap intervals, a share "
                        f"clipped to [0, 1]), sorted by the share at the cheap fidelity `{low.fidelity.label}`.")]
    if hasattr(dec, "settled"):  # the variance rule's figure of kept shares
        figs.append(page.Figure(plots.decision(dec, out / "decision")[0], "The variance rule: each hyperparameter's "
                                "share at the cheap fidelity, coloured by what the rule does with it, and the "
                                "running sum of the shares on the same scale."))
    source = dec.agreement.get("source", "cheap")
    chose = [imps[f] for f in ({"cheap": fids[:1], "probe": fids[1:]}.get(source, fids))]
    share = dict(zip(chose[0].names, chose[0].share))
    ranked = sorted(share, key=lambda n: -share[n])
    if low.method == "fanova":
        n_boot = getattr(dec.rule, "n_boot", 30)
        names = list(dec.tune)[:8] or ranked[:4]
        what = "the tuned hyperparameters" if dec.tune else "nothing is tuned: the 4 most important hyperparameters"
        at = " and ".join(f"`{i.fidelity.label}`" for i in chose)
        figs.append(page.Figure(
            plots.marginals(chose, low.extra["encoded"].space, out / "marginals", names=names, n_boot=n_boot,
                            seed=seed)[0],
            f"Marginal curves of {what} at {at} (the data that chose): the mean prediction of the boosted surrogate "
            f"the decision uses, with the others drawn uniformly; band: the central {low.level:.0%} of the same "
            f"curve on the {n_boot} surrogates refitted on bootstrap resamples of the configurations (the "
            "decision's own); dots: the configurations evaluated there."))
        pair = names if len(names) >= 2 else ranked[:4]
        figs.append(page.Figure(
            plots.interactions(chose, pair, out / "interactions")[0],
            "Pairwise interactions of " + ("the tuned hyperparameters" if len(names) >= 2 else
                                           "the 4 most important hyperparameters (fewer than 2 are tuned)")
            + ": fANOVA's share of the surrogate's variance that each pair explains beyond its two main effects "
              "(n/a: a parent with its own child)."))
    figs.append(page.Figure(
        plots.parallel(low, low.extra["encoded"].space, out / "parallel", order=ranked)[0],
        f"Every configuration evaluated at the cheap fidelity `{low.fidelity.label}`, coloured by its "
        f"{low.extra['encoded'].metric.name}; axes ordered by importance at {chose[0].fidelity.label}, most "
        "important left."))
    if len(fids) > 1:
        figs.append(page.Figure(
            plots.rankings(low, imps[fids[1]], out / "rankings")[0],
            f"The cheap fidelity `{low.fidelity.label}` against the probe `{fids[1].label}`: left, each "
            "hyperparameter's importance share at both; right, each configuration's metric at both (the "
            "configurations evaluated at both)."))
    return figs


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



def _report(source: Source, df, result: Outcome, imps: dict, figs: list) -> list:
    """The report as `page` blocks: the answer, the figures, how it was decided, the importance."""
    from hpobench.analysis import trials
    from hpobench.experiments import page
    dec, metric, p = result.decision, source.metric, result.plan
    ok = df[df["status"] == "ok"]
    blocks = [page.Heading(f"Search-space scope for `{source.name}`", 1), *_answer(source, dec, result)]
    if figs:
        blocks += [page.Heading("Figures"), *figs]
    items = [f"metric: {metric.describe()}",
             f"low fidelity `{Fidelity.of(p.low).label}`: {int(trials.at(df, p.low)['config_id'].nunique())} "
             "configurations" + (" (default included)" if source.default else ""),
             f"probe fidelity `{Fidelity.of(p.probe).label}`: {int(trials.at(df, p.probe)['config_id'].nunique())} "
             "of them",
             f"failed trials (diverged or crashed, left out of importance): {len(df) - len(ok)}"]
    if "cluster" in df and df["cluster"].notna().any():
        from hpobench import spaces
        low = trials.at(df, p.low)
        sizes = low.groupby("cluster")["config_id"].nunique()
        items.append(f"grouped design: up to {int(sizes.max())} configurations per draw of "
                     f"{', '.join(spaces.STATIC)} (trained together), {len(sizes)} draws at the low fidelity (the "
                     "default its own); the bootstrap resamples draws (`--group 1`: one by one)")
    if len(ok):
        col = trials.metric_column(df, metric)
        for label, fid in (("low", p.low), ("probe", p.probe)):
            at = trials.at(ok, fid)
            if len(at):
                best = at[col].max() if metric.maximize else at[col].min()
                default = at.loc[at["config_id"] == 0, col] if source.default else []
                items.append(f"best {metric.name} at the {label} fidelity: {best:.4g}"
                             + (f" (default configuration: {default.iloc[0]:.4g})" if len(default) else ""))
    blocks += [page.Heading("How it was decided"), *[page.Text(x) for x in source.about], page.Items(items),
               page.Code(result.summary(), copy=False), page.Heading("Decision"), page.Table(dec.table(), ".3f")]
    if hasattr(dec, "choices"):
        for label, c in dec.choices.items():
            blocks += [page.Text(f"Greedy path at `{label}` (value: expected best of {c.n} draws on the bagged "
                                 f"surrogate; rise with its {dec.rule.level:.0%} bootstrap interval):"),
                       page.Table([dict(added=", ".join(st.added), value=st.value, rise=st.gain, lower=st.lower,
                                        upper=st.upper) for st in c.steps])]
    blocks.append(page.Heading("Importance"))
    for f, imp in imps.items():
        blocks += [page.Heading(f"{f.label} ({imp.n_configs} configurations)", 3),
                   page.Table(imp.table().head(10), ".3f")]
    return blocks


def _answer(source: Source, dec, result: Outcome) -> list:
    """The report's opening: what to tune in which ranges from where, what stays fixed at which value,
    the best configurations found, the plans with their commands, and which data chose."""
    from hpobench.experiments import page
    metric = source.metric
    n = getattr(dec, "n", None)
    ranges, anchor = getattr(dec, "ranges", {}), getattr(dec, "anchor", {})
    fixed_at = getattr(dec, "anchored_at", None) or getattr(dec, "fixed_at", "")
    head = f"**Tune {len(dec.tune)} hyperparameter(s)" + (
        f" with your {n} full-fidelity trainings** (`--tune-budget`" + (f", default {TUNE_BUDGET})" if n ==
                                                                         TUNE_BUDGET else ")")
        if n else "** (the variance rule: the smallest set carrying its share of the variance)")
    blocks = [page.Text(head + (":" if dec.tune else "."))]
    if dec.tune:
        start = dict(dec.space.get_default_configuration())  # the scoped space's default: a tuner's first trial
        blocks.append(page.Table([dict(hyperparameter=x, range=_range(ranges.get(x)),
                                       **({"start": _start(anchor, start, x)} if anchor else {})) for x in dec.tune]))
    held = getattr(dec, "held", {})
    if dec.fix or held:
        blocks.append(page.Text(f"**Fixed**: everything else stays at {fixed_at}" + (
            "; held by you while scoping (not judged): " + ", ".join(f"{k}={_short(v)}" for k, v in held.items())
            if held else "") + (":" if dec.fix else ".")))
    if dec.fix:
        blocks.append(page.Table([dict(hyperparameter=k, value=_short(v)) for k, v in dec.fix.items()]))
    if dec.removed:
        blocks.append(page.Text("Removed (inactive under the fixed values of their parents): "
                                + ", ".join(dec.removed) + "."))
    if result.best:
        blocks += [page.Text("**Start from** the best configurations found:"),
                   page.Table([dict(rank=i + 1, fidelity=b["fidelity"], **{metric.name: b["value"]},
                                    config=json.dumps(b["config"])) for i, b in enumerate(result.best)])]
        if source.default and n and n > CONFIRM_FULL and "trained fully" not in fixed_at:
            blocks.append(page.Text(f"Before tuning, train the {CONFIRM_FULL} best at the probe fully and start from "
                                    f"the best of them: rerun this scope with `--confirm-full {CONFIRM_FULL}` added "
                                    "(it reuses every training). Live, that beat one-epoch screening and tuning "
                                    "everything (`results/strategies_live_v3/README.md`)."))
    cmds = source.commands(n or TUNE_BUDGET, anchor, dec)
    plans = getattr(dec, "plans", [])
    if plans:
        rec = dec.plan
        blocks += [page.Text(f"**Plan: {rec.name}** ({rec.what}). Predicted best {metric.name} of each plan "
                             "(random draws on the scope's surrogate; a model-based tuner does better than random "
                             "draws, the comparison between plans is what counts):"),
                   page.Table([dict(plan=x.name + (" (recommended)" if x is rec else ""),
                                    predicted=x.predicted * metric.sign, what=x.what) for x in plans])]
        tied = [x.name for x in dec.tied]
        if len(tied) > 1:
            blocks.append(page.Text(f"The plans {', '.join(tied)} are predicted alike: each reaches the best "
                                    f"{metric.name} the scope observed, beyond which the surrogate does not predict, "
                                    "so it cannot rank them" + ("; tuning the scope trains the anchor first, so a tune "
                                                                "is recommended over the anchor alone." if "anchor" in
                                                                tied else "; the first is recommended.")))
        if rec.name in cmds:
            blocks += [page.Text("Run it:"), page.Code(cmds[rec.name])]
        others = [x.name for x in plans if x is not rec and x.name in cmds]
        for x in others:
            blocks += [page.Text(f"The `{x}` plan:"), page.Code(cmds[x])]
    elif "next" in cmds:
        blocks += [page.Text("Next:"), page.Code(cmds["next"])]
    guard = getattr(dec, "guard", "")
    if guard:
        blocks.append(page.Text(f"**Which data chose:** {guard[0].upper() + guard[1:]}."))
    return blocks


def _start(anchor: dict, start: dict, name: str) -> str:
    """Where tuning `name` starts: the anchor's value, or, where the narrowed range leaves it out, the
    scoped space's default (the nearest end of the range)."""
    if name not in anchor:
        return "(inactive at the anchor)"
    if name in start and start[name] != anchor[name]:
        return f"{_short(start[name])} (the anchor's {_short(anchor[name])} is outside the range)"
    return _short(anchor[name])


def _short(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _range(r) -> str:
    if r is None:
        return "whole range"
    return f"[{r[0]:.4g}, {r[1]:.4g}]" if isinstance(r, tuple) else "{" + ", ".join(map(str, r)) + "}"


def _meta_scope(out: Path) -> dict:
    return records.read_meta(out).get("scope", {}) if records.has_meta(out) else {}


def _source(bench, bench_kwargs: dict, out: Path, budget: float, df, seed: int, rounds: list) -> Source:
    """A trained scope's `Source`: its budget and design, and the hpobench commands of its plans."""
    design = (f"adaptive, {len(rounds)} round(s) run (stops once the decision is settled)"
              if len(rounds) > 1 or "rounds" in _meta_scope(out) else "fixed (one go)")
    about = [f"Budget {budget:g} (cost units), spent {float(df['cost'].sum()):.3g} in "
             f"{df['cost_s'].sum() / 60:.1f} min of training; design: {design}. The configurations: the default "
             f"and random draws (seed {seed}); the probe's are the first of them and the best at the low fidelity."]
    full = bench.cost(bench.full_fidelity)
    from hpobench.analysis import trials
    # the anchor trained fully here (confirm_full): the tune replays that training (`hpobench.optimizers.warm`)
    replay = f"--warm-start {out} --warm-k 0 " if len(trials.at(df, bench.full_fidelity)) else ""

    def commands(n: int, anchor: dict, dec) -> dict:
        return {"scope": _tune_command(bench, bench_kwargs, out, "smac", n * full, extra=replay),
                "everything": _tune_command(bench, bench_kwargs, out, "smac", n * full, scoped=False),
                "screen": _tune_command(bench, bench_kwargs, out, "sh", n * full, extra=replay),
                "anchor": f"hpobench evaluate {_target(bench, bench_kwargs, evaluate=True)}--config "
                          f"{out / 'anchor.json'}",
                "next": _tune_command(bench, bench_kwargs, out, "bohb", "BUDGET", extra=replay)}
    return Source(bench.name, bench.metric, about, commands)


def _target(bench, bench_kwargs: dict, evaluate: bool = False) -> str:
    """What names the benchmark on the command line: its name (with --data, --bench-arg) or its --objective."""
    obj = bench.meta.get("objective")
    if obj is None:
        kw = dict(bench_kwargs)
        data = f"--data {kw.pop('data')} " if "data" in kw else ""
        return f"{bench.name} {data}" + "".join(f"--bench-arg {k}={v} " for k, v in kw.items())
    m = bench.metric
    rng = "" if m.lower is None and m.upper is None else \
        f"--metric-range {'' if m.lower is None else f'{m.lower:g}'},{'' if m.upper is None else f'{m.upper:g}'} "
    space = f"--space {obj.get('space') or 'SPACE.json'} " if evaluate else ""
    return (f"--objective {obj['target']} {space}--fidelity-space {obj.get('fidelity_space') or 'FIDELITY.json'} "
            f"--metric {m.name} --direction {m.direction} {rng}")


def _tune_command(bench, bench_kwargs: dict, out: Path, optimizer: str, budget, scoped: bool = True,
                  extra: str = "") -> str:
    """The command that tunes the scoped space (or, unscoped, everything, warm-started from the scope)."""
    obj = bench.meta.get("objective")
    whole = f"--space {obj.get('space') or 'SPACE.json'} " if obj else ""
    space = f"--space {out / 'scoped_space.json'} {extra}" if scoped else f"{whole}--warm-start {out} "
    b = budget if isinstance(budget, str) else f"{budget:g}"
    return (f"hpobench tune {_target(bench, bench_kwargs)}{space}--optimizer {optimizer} --budget {b} "
            f"--out runs/tune-{optimizer}")

"""Scoping strategies compared at equal total cost, scoping cost included (issue 6).

Every strategy gets the same budget: the cost of `--budget` full-fidelity trainings. It
first spends part of it choosing a scope, then tunes the scoped space with an optimizer
for the rest; hyperparameters outside the scope stay at their defaults.

    all       tune all 25 hyperparameters; scoping costs nothing
    expert    learning_rate and batch_size only (the popular advice); free
    low-topk  fANOVA on `--n-low` configurations at the low fidelity; top `--k` (+ their parents)
    tool      study v2's tool, `hpobench.analysis.shares.decide`: the low fidelity plus `--n-probe`
              of the same configurations at the probe fidelity; agreement decides how much to keep
              ("higher fidelity needed" keeps everything); the rest at their defaults
    tool-budget  the budget-aware scope, `hpobench.analysis.decision.decide`, on the same data: the
              subset the remaining full trainings can buy, narrowed ranges, the rest at the best
              configuration found, which the tuner evaluates first (the scoped space's default); the
              `CONFIRM` best at the low fidelity also run at the probe (as the scope job does), so
              the anchor is the low fidelity's incumbent confirmed at the probe
    tool-confirm  tool-budget's scoping, then its `CONFIRM_FULL` best configurations at the probe
              trained at full fidelity (the report's "start there"); the best of them by full F1 is the
              anchor, the scope is chosen for the trainings left, and the tuner starts from the anchor
              (its first trial replays the anchor's full training, `warm.WarmStart.anchor`: charged once)
    tool-prior  tool-confirm, and the tuner's model starts from every training the scope ran (`warm.WarmStart.prior`:
              its cheap ones placed at full fidelity, `warm.aligned`; the confirming ones as they are) instead
              of a random initial design: the scope's data also tells the tuner where to look
    tool-anchor  tool-confirm's anchor, and every hyperparameter tuned from it (the whole space, its default the
              anchor): what the anchor alone is worth where the subset's choice is noise (`anchored_gains.py`)
    tool-sized  tool-confirm with a design sized by the budget (`sized`): each full training the budget adds
              beyond `SIZED_FROM` spends `SIZED_SHARE` of its cost on more cheap configurations (40 at a
              budget of 10, 200 at 30), and the best tenth of them at the low fidelity are promoted to the
              probe: more configurations both rank the hyperparameters better (`anchored_gains.py`) and find
              a better anchor (`--anchors`); at a budget of 10 it is tool-confirm
    oracle    fANOVA at full fidelity on every recorded configuration; top k; free and
              unattainable in practice: the reference for what scoping could gain
    random-k  k hyperparameters drawn at random; free
    one-epoch no scoping: the cheap evaluations pick configurations instead (Egele et al. 2023,
              "one epoch is all you need"): the `--n-low` configurations at one epoch (`screen`),
              then the best of them fully trained while the budget lasts; no optimizer (`none`)

Scoping reads real recorded trainings: per seed, `--n-low` configurations (the default
and a random draw) from the study's table, charged their recorded cost. Tuning runs on
`surrogate/cifar10-cpu` (`hpobench.benchmarks.tabular`: a random forest fitted on the
same table; its held-out error is written beside the results), or live with
`--bench resnet/cifar10-cpu` to confirm the surrogate's verdict.

    nice -n 10 .venv/bin/python -m hpobench.experiments.studies.strategies              # 10 seeds
    taskset -c 0 .venv/bin/python -m hpobench.experiments.studies.strategies --bench resnet/cifar10-cpu \
        --out results/strategies_live_v2 --budget 10 --strategies all expert tool low-topk one-epoch
        # study v2's live comparison (issue 13): ~9 runs a seed, ~1.5 CPU-h a seed; resumable
    taskset -c 0 .venv/bin/python -m hpobench.experiments.studies.strategies --bench resnet/fashion_mnist-cpu \
        --out results/strategies_live_fashion --budget 10   # scoping reads results/fashion_mnist_cpu (7 px)
    for s in all expert tool; do                    # live confirmation: ~1.5 h on 2 cores, 3 processes
      .venv/bin/python -m hpobench.experiments.studies.strategies --bench resnet/cifar10-cpu \
          --out results/strategies_live \
          --seeds 2 --budget 20 --optimizers smac --strategies $s &
    done; wait
    .venv/bin/python -m hpobench.experiments.studies.strategies --out results/strategies_live/surrogate --budget 20 \
        --optimizers smac --strategies all expert tool   # the surrogate at the same budget, 10 seeds
    .venv/bin/python -m hpobench.experiments.studies.strategies --seeds 1 --budget 10 --out /tmp/s  # smoke test

Outputs (--out, default results/strategies/): runs-<optimizers>[-<strategies>].jsonl (one line
per strategy x optimizer x seed, appended as runs finish: an interrupted study resumes; processes
with different --optimizers or --strategies can share --out, the last to finish summarises all), runs.parquet,
curves.parquet (incumbent F1 over total cost, scoping included), settings.json, summary.md, and on the surrogate
holdout.parquet and landscape.json, live versus_surrogate.parquet (the surrogate's predictions for
the live runs' default and incumbent); and what `strategy_tables.py` writes from runs and curves.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import hpobench
from hpobench import records
from hpobench.analysis import decision, importance, shares, trials
from hpobench.analysis.compare import NO_OPTIMIZER, against, anytime, at_total, table, versus_all
from hpobench.benchmarks import study as study_table
from hpobench.benchmarks import tabular
from hpobench.experiments import scope
from hpobench.experiments.studies import strategy_tables
from hpobench.fidelity import Fidelity
from hpobench.optimizers import warm

STRATEGIES = ("all", "expert", "low-topk", "tool", "tool-budget", "tool-confirm", "tool-prior", "tool-anchor",
              "tool-sized", "oracle",
              "random-k", "one-epoch")
# strategies that read the seed's recorded trainings
SCOPED = ("low-topk", "tool", "tool-budget", "tool-confirm", "tool-prior", "tool-anchor", "tool-sized", "one-epoch")
CONFIRMED = ("tool-confirm", "tool-prior", "tool-anchor", "tool-sized")  # scoped by `confirmed`
CONFIRM = scope.CONFIRM  # tool-budget: the best configurations at the low fidelity also run at the probe
FREE = ("all", "expert")  # strategies that read nothing of the study: the table and its draw do not change them
SIZED_FROM, SIZED_SHARE = scope.SIZED_FROM, scope.SIZED_SHARE  # tool-sized's design (`scope.sized`)
CONFIRM_FULL = scope.CONFIRM_FULL  # tool-confirm: the best at the probe trained fully before tuning, as advised
EXPERT = ("learning_rate", "batch_size")
LIVE = "resnet/cifar10-cpu"
# the other live scale, with its recorded study (scoping reads it) and its lowest resolution (7 px, not 8)
LIVES = {LIVE: (None, 8), "resnet/fashion_mnist-cpu": ("results/fashion_mnist_cpu/evaluations.parquet", 7)}
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class Setup:
    budget: float = 50  # full-fidelity trainings
    k: int = 3
    low: dict = field(default_factory=lambda: {"epochs": 2, "data_fraction": 0.025, "resolution": 8})
    probe: dict = field(default_factory=lambda: {"epochs": 4, "data_fraction": 0.05, "resolution": 8})
    screen: dict = field(default_factory=lambda: {"epochs": 1})  # one-epoch's; the rest at full
    n_low: int = 40
    n_probe: int = 15
    n_boot: int = 50
    expert: tuple = EXPERT


@dataclass
class Scope:
    space: object
    cost: float
    tuned: list[str]
    verdict: str = ""


def scope_for(strategy: str, study: pd.DataFrame, live, s: Setup, seed: int) -> Scope:
    """The scoped space a strategy chooses for `seed`, and what choosing it cost."""
    space = live.config_space
    rng = np.random.default_rng(seed)
    if strategy == "all":
        return Scope(space, 0.0, list(space))
    if strategy in ("expert", "random-k"):
        keep = s.expert if strategy == "expert" else rng.choice(list(space), s.k, replace=False).tolist()
        return _reduced(space, keep, 0.0)
    if strategy == "oracle":
        full = trials.at(study, live.full_fidelity)
        imp = importance.importance(full, space, fidelity=live.full_fidelity, n_boot=0, seed=seed)
        return _reduced(space, imp.ranking[: s.k], 0.0)
    if strategy == "low-topk":
        rows = trials.at(_draw(study, live, s, rng), live.fidelity(s.low))
        imp = importance.importance(rows, space, fidelity=live.fidelity(s.low), n_boot=0, seed=seed)
        return _reduced(space, imp.ranking[: s.k], float(rows["cost"].sum()))
    if strategy == "tool":
        _, imps, cost = _scoping(study, live, s, seed, 0)
        low, probe = imps.values()
        d = shares.decide(low, space, probe)
        return Scope(d.space, cost, d.tune, d.verdict)
    if strategy == "tool-budget":
        rows, imps, cost = _scoping(study, live, s, seed, CONFIRM)
        best = _anchor(rows, live, s)
        n = max(1, int(s.budget - cost / live.cost(live.full_fidelity)))  # the full trainings left to tune with
        return _budgeted(imps, live, s, best["config"], n, f"the best found at {best['fidelity']}", cost, seed)
    raise ValueError(f"unknown strategy {strategy!r}; known: {STRATEGIES}")


def _scoping(study: pd.DataFrame, live, s: Setup, seed: int, confirm: int) -> tuple[pd.DataFrame, dict, float]:
    """The tools' scoping data for `seed` (`_draw`), its importance at the low fidelity and the probe
    (bootstrapped together, in that order) and its cost."""
    rows = _draw(study, live, s, np.random.default_rng(seed), confirm)
    return rows, _importances(rows, live, s, seed), float(rows["cost"].sum())


def _importances(rows: pd.DataFrame, live, s: Setup, seed: int) -> dict:
    cheap = _cheap(live, s)
    imps = importance.per_fidelity(rows, live.config_space, list(cheap), n_boot=s.n_boot, seed=seed)
    return {f: imps[f] for f in cheap}


def _budgeted(imps: dict, live, s: Setup, anchor: dict, n: int, anchored_at: str, cost: float, seed: int) -> Scope:
    """The budget-aware scope (`decision.decide`) for `n` full trainings around `anchor`."""
    low, probe = imps
    d = decision.decide(imps[low], live.config_space, anchor, n, imps[probe], anchored_at, seed=seed,
                        screen_cost=live.cost(low) / live.cost(live.full_fidelity))
    return Scope(d.space, cost, d.tune, d.verdict)


def confirmed(study: pd.DataFrame, live, bench, s: Setup, seed: int, whole: bool = False,
              confirm: int = CONFIRM) -> tuple[Scope, pd.DataFrame, list[dict]]:
    """tool-confirm's scope, what `hpobench scope --confirm-full` does: tool-budget's scoping, then the
    `CONFIRM_FULL` best at the probe trained at full fidelity on `bench`; the best of them by F1
    anchors the scope, chosen for the full trainings left (the tuner's first trial, the anchor,
    replays its training: `hpobench.optimizers.warm`); `whole`: the whole space anchored there instead
    (tool-anchor); `confirm`: how many of the best at the low fidelity also run at the probe. Returns the
    scope (its cost: the scoping's and the confirming trainings'), the confirming trainings' curve, and each
    (configuration, result)."""
    rows = _draw(study, live, s, np.random.default_rng(seed), confirm)
    cost, full = float(rows["cost"].sum()), live.cost(live.full_fidelity)
    n = left(live, s, cost)
    if n < 1:  # before the importance is computed
        raise ValueError(f"budget {s.budget:g} leaves {n + CONFIRM_FULL} full trainings after scoping (cost "
                         f"{cost / full:.3g}); tool-confirm needs more than {CONFIRM_FULL}: raise --budget")
    tops = decision.top(rows, live.config_space, _cheap(live, s)[::-1], live.metric, k=CONFIRM_FULL)
    results = [bench.evaluate(t["config"], live.full_fidelity, seed=seed) for t in tops]
    f1 = tabular.scored_f1(pd.DataFrame([vars(r) for r in results]))
    best = tops[int(np.argmax(f1))]
    sc = Scope(hpobench.spaces.narrow(live.config_space, {}, {}, best["config"]), cost, list(live.config_space),
               "everything, from the anchor") if whole else \
        _budgeted(_importances(rows, live, s, seed), live, s, best["config"], n,
                  f"the best of the {CONFIRM_FULL} best at {best['fidelity']}, trained fully", cost, seed)
    done = pd.DataFrame({"spent": cost + full * np.arange(1, len(tops) + 1), "f1": f1,
                         "incumbent_trial": [int(np.argmax(f1[: i + 1])) for i in range(len(tops))]})
    return replace(sc, cost=cost + full * len(tops)), done.assign(incumbent_f1=done["f1"].cummax()), \
        [{"config": t["config"], "result": r} for t, r in zip(tops, results)]


def sized(live, s: Setup) -> tuple[Setup, int]:
    """tool-sized's design for `s.budget`: `s` with `n_low` grown as `scope.sized` says, and how many of the best
    at the low fidelity it promotes to the probe (`scope.promoted`: a tenth, at least `CONFIRM`)."""
    n = scope.sized(s.n_low, s.budget, live.cost(live.fidelity(s.low)), live.cost(live.full_fidelity))
    return replace(s, n_low=n), scope.promoted(n)


def design(strategy: str, live, s: Setup) -> tuple[Setup, int]:
    """The setup a strategy scopes with, and how many of its best at the low fidelity it promotes."""
    return sized(live, s) if strategy == "tool-sized" else (s, CONFIRM)


def left(live, s: Setup, cost: float) -> int:
    """The full trainings tool-confirm tunes with: the budget less the scoping's `cost` and the confirming."""
    return int(s.budget - cost / live.cost(live.full_fidelity) + 1e-9) - CONFIRM_FULL


def full_f1(study: pd.DataFrame, live) -> pd.Series:
    """The study's recorded full-fidelity F1 by configuration id (a failed training: 0)."""
    at_full = trials.at(study, live.full_fidelity)
    return pd.Series(tabular.scored_f1(at_full), index=at_full["config_id"].to_numpy())


def _trained(study: pd.DataFrame, live, bench, s: Setup, seed: int, known: list[dict], space) -> list:
    """tool-prior's warm observations: the seed's scoping trainings (`_draw`) and its confirming ones
    (`known`), projected onto the scoped space (`warm.observations`)."""
    rows = _draw(study, live, s, np.random.default_rng(seed), CONFIRM)
    full = pd.DataFrame([hpobench.trial_row(live.name, kn["config"], live.full_fidelity, seed, kn["result"],
                                            live.config_space) for kn in known])
    cols = [c for c in rows if c.startswith(("config.", "fidelity.")) or c in ("status", "f1")]
    return warm.observations(pd.concat([rows, full], ignore_index=True)[cols], bench, space)[0]


def _reduced(space, keep, cost: float) -> Scope:
    reduced, _, _, kept = hpobench.spaces.reduce(space, set(keep))
    return Scope(reduced, cost, [n for n in space if n in kept])


def _chosen(study: pd.DataFrame, live, s: Setup, rng) -> list[int]:
    """`n_low` recorded configurations (the default first), drawn among those recorded at every
    cheap fidelity a strategy reads, so that a seed's tool, low-topk and one-epoch see the same ones."""
    cheap = (s.low, s.probe, s.screen)
    ids = sorted(set.intersection(*(set(trials.at(study, live.fidelity(f))["config_id"]) for f in cheap)))
    if len(ids) < s.n_low:
        raise ValueError(f"the study has {len(ids)} configurations at all of {cheap}; "
                         f"--n-low {s.n_low} needs more (run more of the study or lower --n-low)")
    rest = [i for i in ids if i != 0]
    return ([0] if 0 in ids else []) + rng.choice(rest, s.n_low - (0 in ids), replace=False).tolist()


def _draw(study: pd.DataFrame, live, s: Setup, rng, confirm: int = 0) -> pd.DataFrame:
    """Rows of the chosen configurations at the low fidelity, and at the probe fidelity of the first
    `n_probe` of them plus the `confirm` best at the low fidelity: what a practitioner would have run."""
    chosen = _chosen(study, live, s, rng)
    low, probe = (trials.at(study, live.fidelity(f)) for f in (s.low, s.probe))
    low = low[low["config_id"].isin(chosen)]
    best = low.assign(score=tabular.scored_f1(low)).sort_values(["score", "config_id"], ascending=[False, True])
    promoted = set(chosen[: s.n_probe]) | set(best["config_id"].head(confirm))
    return pd.concat([low, probe[probe["config_id"].isin(promoted)]])


def _screened(study: pd.DataFrame, live, s: Setup, seed: int) -> tuple[float, pd.DataFrame]:
    """One-epoch's screen of the seed's chosen configurations: its cost, and the recorded rows it would
    train at full fidelity, best screened first, as many as the rest of the budget buys."""
    chosen = _chosen(study, live, s, np.random.default_rng(seed))
    screen = trials.at(study, live.fidelity(s.screen))
    screen = screen[screen["config_id"].isin(chosen)]
    cost, full = float(screen["cost"].sum()), live.cost(live.full_fidelity)
    k = int((s.budget * full - cost) / full + 1e-9)
    if k < 1:
        raise ValueError(f"budget {s.budget:g} leaves no full training after screening {len(chosen)} "
                         f"configurations at {s.screen} (cost {cost:.3g}); raise --budget or lower --n-low")
    top = screen.assign(score=tabular.scored_f1(screen)).sort_values(["score", "config_id"], ascending=[False, True])
    return cost, top.head(k)


def _anchor(rows: pd.DataFrame, live, s: Setup) -> dict:
    """tool-budget's anchor among a seed's rows (`_draw`): the best at the probe, else at the low fidelity."""
    return decision.top(rows, live.config_space, _cheap(live, s)[::-1], live.metric, k=1)[0]


def _cheap(live, s: Setup) -> tuple[Fidelity, Fidelity]:
    """The tools' low and probe fidelities."""
    return tuple(Fidelity.of(live.fidelity(f)) for f in (s.low, s.probe))


def one_epoch(study: pd.DataFrame, live, bench, s: Setup, seed: int) -> tuple[float, pd.DataFrame, list[dict]]:
    """The one-epoch baseline: the seed's chosen configurations' recorded one-epoch F1 ranks them;
    the best are trained at full fidelity on `bench`, best first, while the budget lasts.
    Returns the screening cost, the trials (cumulative cost and incumbent) and their configurations."""
    cost, top = _screened(study, live, s, seed)
    full, k = live.cost(live.full_fidelity), len(top)
    configs = tabular.configs(top, live)
    f1 = tabular.scored_f1(pd.DataFrame([vars(r) for r in (bench.evaluate(c, live.full_fidelity, seed=seed)
                                                          for c in configs)]))
    done = pd.DataFrame({"spent": cost + full * np.arange(1, k + 1), "f1": f1,
                         "incumbent_trial": [int(np.argmax(f1[: i + 1])) for i in range(k)]})
    done["incumbent_f1"] = done["f1"].cummax()
    return cost, done, configs


def anchors(study: pd.DataFrame, live, s: Setup, seeds: int) -> pd.DataFrame:
    """Per seed, the recorded full-fidelity F1 of the configuration each strategy starts from, read from
    the study (no training): tool-budget's anchor (`_anchor`), the best of tool-confirm's `CONFIRM_FULL`
    confirmed configurations (the anchor it tunes around, before noise), the same for tool-sized's larger
    design (`sized`) and for that design promoting only `CONFIRM` to the probe, the best of one-epoch's
    screened top (`_screened`: what one-epoch ends with before any noise), and the best of the seed's `n_low`
    configurations. Where the anchor falls short of the screen, tuning around it has that much to make up."""
    full = full_f1(study, live)

    def confirmed_best(s: Setup, seed: int, confirm: int) -> tuple[pd.DataFrame, float]:
        drawn = _draw(study, live, s, np.random.default_rng(seed), confirm)
        tops = decision.top(drawn, live.config_space, _cheap(live, s)[::-1], live.metric, k=CONFIRM_FULL)
        return drawn, full.reindex([t["config_id"] for t in tops]).max()

    sized_s, promote = sized(live, s)
    fits = len(full) >= sized_s.n_low  # a study too small for the sized design scores it NaN
    rows = []
    for seed in range(seeds):
        drawn, confirm = confirmed_best(s, seed, CONFIRM)
        anchor = _anchor(drawn, live, s)["config_id"]
        rows.append({"seed": seed, "anchor": anchor, "anchor_full_f1": full.get(anchor, np.nan),
                     "confirm_full_f1": confirm,
                     "sized_full_f1": confirmed_best(sized_s, seed, promote)[1] if fits else np.nan,
                     "sized_top5_full_f1": confirmed_best(sized_s, seed, CONFIRM)[1] if fits else np.nan,
                     "one_epoch_full_f1": full.reindex(_screened(study, live, s, seed)[1]["config_id"]).max(),
                     "best_full_f1": full.reindex(_chosen(study, live, s, np.random.default_rng(seed))).max()})
    return pd.DataFrame(rows)


def run_one(strategy: str, optimizer: str, seed: int, study, live, bench, s: Setup,
            scopes: dict | None = None) -> tuple[dict, pd.DataFrame]:
    """One strategy's run with one optimizer and seed. `scopes`: a cache of (strategy, seed) -> Scope for
    one process's study, live benchmark and setup; the scoping does not depend on the optimizer, and the
    tool's is the costliest (~10 s on study v2)."""
    t0 = time.perf_counter()
    total = s.budget * live.cost(live.full_fidelity)
    if strategy == "one-epoch":
        cost, done, configs = one_epoch(study, live, bench, s, seed)
        curve = done[["spent", "incumbent_trial", "incumbent_f1"]].assign(total=done["spent"])
        best = configs[int(done["incumbent_trial"].iloc[-1])]
        row = dict(strategy=strategy, optimizer=NO_OPTIMIZER, seed=seed, scoping_cost=cost,
                   scoping_share=cost / total, n_tuned=0, tuned=[], verdict="",
                   final_f1=float(done["incumbent_f1"].iloc[-1]), default_f1=np.nan, trials=len(done),
                   incumbent=json.dumps({k: hpobench.spaces.plain(v) for k, v in best.items()}),
                   wall_s=time.perf_counter() - t0)
        row.update({f"f1_at_{f:g}": at_total(curve, f * total) for f in FRACTIONS})
        return row, curve.assign(strategy=strategy, optimizer=NO_OPTIMIZER, seed=seed)
    scopes = {} if scopes is None else scopes
    if (strategy, seed) not in scopes:
        mine, promote = design(strategy, live, s)
        scopes[strategy, seed] = (confirmed(study, live, bench, mine, seed, strategy == "tool-anchor", promote)
                                  if strategy in CONFIRMED
                                  else (scope_for(strategy, study, live, s, seed), None, []))
    sc, done, known = scopes[strategy, seed]
    sc = replace(sc, space=copy.deepcopy(sc.space))  # a run may seed it
    # tool-confirm: the tuner's first trial, the anchor, replays its confirming training (charged once)
    anchor = [k["result"] for k in known if live.config(k["config"]) == live.config(
        sc.space.get_default_configuration())]
    ws = warm.WarmStart(strategy, 0, [], [], {seed: anchor[0]}) if anchor else None
    if strategy == "tool-prior":
        ws = replace(ws, observations=_trained(study, live, bench, s, seed, known, sc.space), prior=True)
    run = hpobench.tune(bench, optimizer, total - sc.cost, seed=seed, space=sc.space, warm_start=ws)
    curve = run.trajectory[["spent", "incumbent_trial", "incumbent_f1"]].assign(total=lambda d: d["spent"] + sc.cost)
    replayed = int((run.trials["worker"] == "warm-start").sum()) if "worker" in run.trials else 0
    if done is not None:
        curve = pd.concat([done[["spent", "incumbent_trial", "incumbent_f1"]].assign(total=done["spent"]), curve],
                          ignore_index=True)
        curve["incumbent_f1"] = curve["incumbent_f1"].cummax()
    row = dict(strategy=strategy, optimizer=optimizer, seed=seed, scoping_cost=sc.cost,
               scoping_share=sc.cost / total, n_tuned=len(sc.tuned), tuned=sc.tuned, verdict=sc.verdict,
               final_f1=float(curve["incumbent_f1"].iloc[-1]), default_f1=run.default_f1,
               trials=len(run.trials) + len(known) - replayed,
               incumbent=json.dumps(run.incumbent), wall_s=time.perf_counter() - t0)
    if known:
        row["reused"] = replayed  # 1: the anchor's training was replayed, not repeated
    row.update({f"f1_at_{f:g}": at_total(curve, f * total) for f in FRACTIONS})
    return row, curve.assign(strategy=strategy, optimizer=optimizer, seed=seed)


def landscape(study: pd.DataFrame, live, bench, n: int = 2000, seed: int = 0) -> dict:
    """How often the surrogate predicts a random configuration to beat the default at full
    fidelity, against how often a recorded configuration did: a surrogate that shrinks to the
    mean away from its data understates what tuning can gain."""
    full = live.full_fidelity
    scored = _predict(bench, hpobench.spaces.sample(live.config_space, n, seed=seed), full)
    default, pred = scored[0], scored[1:]  # the sample starts with the default
    rec = trials.at(study, full)
    rec_f1 = tabular.scored_f1(rec)
    rec_default = rec_f1[(rec["config_id"] == 0).to_numpy()]
    return {"random_configs": n, "default_predicted": default,
            "share_above_default_predicted": float((pred > default).mean()), "sd_predicted": float(pred.std()),
            "recorded_configs": len(rec), "default_recorded": float(rec_default[0]) if len(rec_default) else None,
            "share_above_default_recorded": float((rec_f1 > rec_default[0]).mean()) if len(rec_default) else None,
            "sd_recorded": float(rec_f1.std())}


def versus_surrogate(runs: pd.DataFrame, study: pd.DataFrame, live) -> pd.DataFrame:
    """Live runs' default and incumbent F1 beside the surrogate's predictions for them: whether the
    surrogate can be trusted where the optimizers went, away from the recorded configurations."""
    sur, space = tabular.surrogate(study, live), live.config_space
    incumbents = [hpobench.spaces.typed(space, json.loads(s)) for s in runs["incumbent"]]
    return runs[["strategy", "optimizer", "seed", "default_f1", "final_f1", "n_tuned"]].assign(
        default_predicted=_predict(sur, [dict(space.get_default_configuration())] * len(runs), live.full_fidelity),
        final_predicted=_predict(sur, incumbents, live.full_fidelity)).reset_index(drop=True)


def _predict(bench, configs: list[dict], fidelity: dict) -> np.ndarray:
    rs = [bench.evaluate(c, fidelity) for c in configs]
    return tabular.scored_f1(pd.DataFrame({"status": [r.status for r in rs], "f1": [r.f1 for r in rs]}))


def summarise(runs: pd.DataFrame, hold: pd.DataFrame | None, s: Setup, bench: str,
              versus: pd.DataFrame | None = None, at: pd.DataFrame | None = None) -> str:
    lines = [f"# Scoping strategies at equal total cost ({bench})", "",
             f"Budget: {s.budget:g} full-fidelity trainings, scoping included. Setup: {json.dumps(asdict(s))}.",
             "Validation macro-F1 of the incumbent (mean ± SE over seeds); `wins vs all`: seeds where the",
             "strategy's final F1 beats tuning everything with the same optimizer and seed.", "",
             table(runs).drop(columns="mean").to_markdown(index=False, disable_numparse=True)]
    if at is not None:
        wide = at[at.fraction.round(2).isin([0.2, 0.5, 1.0])].assign(
            cell=lambda d: [f"{m:.4f} [{lo:.4f}, {hi:.4f}]" for m, lo, hi in zip(d["mean"], d["lower"], d["upper"])])
        lines += ["", "## Anytime: incumbent F1 at a share of the total budget, mean over seeds [90% interval]", "",
                  wide.pivot_table(index=["optimizer", "strategy"], columns="fraction", values="cell", aggfunc="first",
                                   sort=False).rename(columns=lambda f: f"{f:.0%}").reset_index()
                  .to_markdown(index=False, disable_numparse=True)]
    vs = versus_all(runs)
    if len(vs):
        lines += ["", "## Paired by seed against `all`: final F1 difference (strategy - all)", "",
                  "Sign test over seeds; mean difference with its 90% paired-bootstrap interval.", "",
                  vs.to_markdown(index=False, floatfmt=".4f")]
    for tool in strategy_tables.TOOLS:
        if (runs.strategy == tool).any():
            lines += ["", f"## The budget-aware scope paired by seed with every other strategy ({tool} - other)", "",
                      "The goal (issue 31): its mean at or above every other's, none beating it with an interval "
                      "that excludes 0, and it beating `all` with one.", "",
                      against(runs, tool).to_markdown(index=False, floatfmt=".4f")]
    tool = runs[runs.strategy == "tool"]
    if len(tool):
        lines += ["", "Tool verdicts: " + ", ".join(f"{k} {v}" for k, v in tool["verdict"].value_counts().items())]
    if hold is not None:
        lines += ["", "## Surrogate error on held-out configurations (5-fold over configurations)", "",
                  "| fidelity | n | RMSE | MAE | SD of F1 | Spearman |", "|---|---|---|---|---|---|"]
        for fid, g in hold.groupby([c for c in hold.columns if c.startswith("fidelity.")]):
            e = g["pred"] - g["f1"]
            lines.append(f"| {'/'.join(f'{v:g}' for v in fid)} | {len(g)} | {np.sqrt((e**2).mean()):.3f} | "
                         f"{e.abs().mean():.3f} | {g['f1'].std():.3f} | {stats.spearmanr(g['f1'], g['pred'])[0]:.2f} |")
    if versus is not None:
        lines += ["", "## The surrogate's predictions for these runs (full fidelity)", "",
                  versus.to_markdown(index=False, floatfmt=".4f")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0,
                   help="run seeds FIRST_SEED..SEEDS-1 (a second process on the other core takes the upper seeds)")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--optimizers", nargs="+", default=["smac", "bohb"])
    p.add_argument("--budget", type=float, default=Setup.budget, help="full-fidelity trainings")
    p.add_argument("--k", type=int, default=Setup.k)
    p.add_argument("--n-low", type=int, default=Setup.n_low)
    p.add_argument("--n-probe", type=int, default=Setup.n_probe)
    p.add_argument("--table", default=None, help="recorded study trials, Parquet (default: benchmarks.study())")
    p.add_argument("--bench", default="surrogate", help=f"'surrogate' or a live benchmark: {', '.join(LIVES)}")
    p.add_argument("--out", default="results/strategies")
    p.add_argument("--anchors", action="store_true",
                   help="run nothing: write anchors.csv (where tool-budget and one-epoch start, from the study)")
    p.add_argument("--summarise", action="store_true",
                   help="run nothing: summarise the runs --out holds with these settings (e.g. a study under way)")
    p.add_argument("--baseline", default=None, metavar="DIR",
                   help="a recorded study with the same settings (its settings.json, runs.parquet, curves.parquet) "
                        "whose runs join the summary: baselines rerun only when their code changed")
    p.add_argument("--baseline-optimizer", nargs="*", default=[], metavar="OLD=NEW",
                   help="the baseline's runs named OLD were made by the optimizer now named NEW "
                        "(bohb=bohb-paper: study v2's BOHB is today's bohb-paper)")
    a = p.parse_args(argv)
    if not 0 <= a.first_seed < a.seeds:
        p.error(f"--first-seed {a.first_seed} is outside 0..{a.seeds - 1} (--seeds {a.seeds})")
    if bad := [r for r in a.baseline_optimizer if r.count("=") != 1]:
        p.error(f"--baseline-optimizer takes OLD=NEW, not {bad[0]!r}")
    renamed = dict(r.split("=") for r in a.baseline_optimizer)
    name = a.bench if a.bench in LIVES else LIVE
    table, px = LIVES[name]
    s = Setup(a.budget, a.k, n_low=a.n_low, n_probe=a.n_probe)
    s = replace(s, low=s.low | {"resolution": px}, probe=s.probe | {"resolution": px})
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    study = tabular.read(a.table or table or study_table())
    live = hpobench.get(name)
    if a.bench == "surrogate":
        bench = tabular.surrogate(study, live, name="surrogate/cifar10-cpu")
    else:
        bench = hpobench.get(a.bench)
    if a.anchors:
        (got := anchors(study, live, s, a.seeds)).to_csv(out / "anchors.csv", index=False)
        means = got.drop(columns=["seed", "anchor"]).mean().round(4).to_dict()
        print(got.round(4).to_string(index=False), "\nmeans:", means)
        return
    todo = list(dict.fromkeys((st, NO_OPTIMIZER if st == "one-epoch" else o, sd) for sd in range(a.first_seed, a.seeds)
                              for o in a.optimizers for st in a.strategies))  # seed-major: pairs complete early
    todo = [] if a.summarise else todo
    for st, _, sd in todo:  # bad settings fail before any run (e.g. too few recorded configurations)
        if st in SCOPED:
            _chosen(study, live, design(st, live, s)[0], np.random.default_rng(sd))
    settings = {"setup": asdict(s), "bench": bench.name, "table_rows": len(study),
                "surrogate": bench.meta.get("forest")}
    part = a.optimizers + ([] if set(a.strategies) == set(STRATEGIES) else a.strategies)
    # what any process finished with these settings (a restart may split the work differently)
    done = {(e["row"]["strategy"], e["row"]["optimizer"], e["row"]["seed"])
            for log in sorted(out.glob("runs-*.jsonl")) for e in _mine(records.read_journal(log), settings)}
    todo = [t for t in todo if t not in done]
    journal = records.Journal(out / f"runs-{'-'.join(part)}.jsonl") if todo else None  # one per process
    scopes = {}
    try:
        for st, o, sd in todo:
            row, curve = run_one(st, o, sd, study, live, bench, s, scopes)
            journal.append({"settings": settings, "row": row, "curve": curve.to_dict("list"),
                            "env": hpobench.env.describe()})  # versions, CPU and kernels of this run
            print(f"{st:9s} {o:5s} seed {sd}: final F1 {row['final_f1']:.4f}, {row['n_tuned']} tuned, "
                  f"scoping {row['scoping_share']:.1%}, {row['wall_s']:.0f} s", flush=True)
    finally:
        if journal is not None:
            journal.close()
    logs = sorted(out.glob("runs-*.jsonl"))
    entries = [e for log in logs for e in _mine(records.read_journal(log), settings)]
    if not entries:
        raise SystemExit(f"{out} holds no runs made with these settings: nothing to summarise")
    runs, curves = _load(entries)
    if a.baseline:
        runs, curves = _with_baseline(Path(a.baseline), settings, runs, curves, renamed)
    (out / "settings.json").write_text(json.dumps(settings, indent=1) + "\n")
    hold = tabular.holdout(study, live) if a.bench == "surrogate" else None
    runs.to_parquet(out / "runs.parquet")
    curves.to_parquet(out / "curves.parquet")
    vs = None
    if hold is not None:
        hold.to_parquet(out / "holdout.parquet")
        (out / "landscape.json").write_text(json.dumps(landscape(study, live, bench), indent=1) + "\n")
    else:
        (vs := versus_surrogate(runs, study, live)).to_parquet(out / "versus_surrogate.parquet")
    (at := anytime(curves, s.budget * live.cost(live.full_fidelity))).to_parquet(out / "anytime.parquet")
    (out / "summary.md").write_text(summarise(runs, hold, s, bench.name, vs, at))
    strategy_tables.run(out)  # the paper's tables and anytime curve
    print((out / "summary.md").read_text())


def _with_baseline(folder: Path, settings: dict, runs: pd.DataFrame, curves: pd.DataFrame,
                   renamed: dict | None = None):
    """The runs of `folder` (a recorded study made with the same settings) beside these, its optimizers
    named as `renamed` says (old -> today's name of the same code); a run of the same strategy, optimizer
    and seed is taken from here, not from the baseline. A baseline scoped from another table or draw
    (`table_rows`, `n_low`, `n_probe`: `_free`) lends only its `FREE` strategies' runs, which read neither."""
    theirs, mine_ = json.loads((folder / "settings.json").read_text()), json.loads(json.dumps(settings))
    free = theirs != mine_ and _free(theirs) == _free(mine_)
    if theirs != mine_ and not free:
        raise SystemExit(f"--baseline {folder} was made with other settings ({theirs}); it cannot join these runs")
    key = ["strategy", "optimizer", "seed"]
    old, old_curves = (pd.read_parquet(folder / f).replace({"optimizer": renamed or {}})
                       for f in ("runs.parquet", "curves.parquet"))
    if free:
        old, old_curves = (d[d["strategy"].isin(FREE)] for d in (old, old_curves))
    mine = set(map(tuple, runs[key].to_numpy().tolist()))
    keep = [tuple(k) not in mine for k in old[key].to_numpy().tolist()]
    keep_curves = [tuple(k) not in mine for k in old_curves[key].to_numpy().tolist()]
    return (pd.concat([old[keep], runs], ignore_index=True),
            pd.concat([old_curves[keep_curves], curves], ignore_index=True))


def _free(settings: dict) -> dict:
    """`settings` less what only the study's draw reads (`FREE` strategies' runs are the same without it)."""
    return {k: {n: v for n, v in x.items() if n not in ("n_low", "n_probe")} if k == "setup" else x
            for k, x in settings.items() if k != "table_rows"}


def _mine(events: list[dict], settings: dict):
    """The logged runs made with `settings` (a log may also hold runs of other settings)."""
    same = json.loads(json.dumps(settings))
    return [e for e in events if e["settings"] == same]


def _load(entries: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = pd.DataFrame([e["row"] for e in entries])
    curves = pd.concat([pd.DataFrame(e["curve"]) for e in entries], ignore_index=True)
    return runs, curves


if __name__ == "__main__":
    main()

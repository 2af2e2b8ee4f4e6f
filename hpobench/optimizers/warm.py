"""Warm start: a tune begins where a scope (or an earlier tune) left off (`hpobench tune --warm-start DIR`).

DIR is a scope or grid folder (`evaluations.parquet` + `meta.json`) or a tune run folder
(`meta.json` + its journal) of the same benchmark. Its records are read once, before any
compute, and turned into two things (`WarmStart`):

- `configs`: the best `k` recorded configurations, projected onto the (scoped) space, which
  the tune evaluates first at the target (full) fidelity, right after the default. Chosen
  round-robin over the recorded fidelities, highest first: the best at the highest fidelity,
  then the best at the next one down, ..., then the second best at each, skipping repeats
  (after projection) and the default (already trial 0). A scope records many configurations
  at a cheap fidelity and a few of them at a probe: the probe ranks more faithfully, the
  cheap fidelity saw more configurations, and how far the two agree is exactly what scoping
  is unsure of, so neither ranking alone is trusted. Default k = 4: the top two of each of a
  scope's two fidelities, 4 full-fidelity trials, about 10-15% of a tuning budget of 30-40
  (SMAC's own initial design takes up to 25% of its trials; `WARM_K`).
- `anchor`: the space's default configuration itself (every value, not a projection) where the
  folder recorded it at full fidelity, by seed. A tune with that seed replays it as its trial 0,
  charged nothing, instead of training it again: a scope that trained its best configurations fully
  (`hpobench scope --confirm-full K`) anchors the scoped space at the best of them, whose training
  the tune then starts from. k may be 0: the anchor (and the observations) only, no warm configuration.
- `observations`: every recorded trial projected onto the space, with its loss (the
  benchmark's `Metric.loss`; a failed trial at the declared worst bound, else the worst loss
  in the records) and its budget on the optimizer's axis: the axis value that costs what the
  trial cost (`cost / full cost x full axis value`; exact for the synthetic benchmarks, whose
  level is a function of cost, and an approximation for a trial that lowered another knob,
  e.g. data_fraction). Repeats of one projected configuration at one fidelity are averaged.

Projection onto the scoped space: a hyperparameter the space fixes takes the space's constant;
a tuned numeric value outside the space's range is clipped to it (a scope's space never narrows
a range, so this only touches hand-narrowed spaces; the nearest value in range is the best guess
on a smooth response, where dropping would throw the trial away); a category (or a non-numeric
ordinal value) the space does not allow drops the trial; a tuned hyperparameter that the record
leaves inactive (its parent took another value there) takes its default; values the space
switches off are dropped. A projection that is still not a valid configuration drops the trial.

What each optimizer is told (`Problem.warm`; each through its own API):

    smac       SMAC's initial design is the warm configurations (SMAC3's `additional_configs`,
               with no Sobol points): they are its first trials. Low-fidelity observations are
               not told: its model has no budget input, they would count as full-fidelity ones;
               with `prior` (`--warm-prior`) they are, placed at full fidelity (`aligned`), and
               its model guides it from the first ask.
    smac-mf    the observations, through SMAC3's `tell` at their budgets (below the axis' lowest
               budget: left out; SMAC's intensifier refuses them); the warm configurations are
               evaluated first at full fidelity and told like the default.
    bohb       the observations enter its per-budget KDEs (`KDESampler.observe`): a model exists
               from the first bracket on; the warm configurations as for smac-mf.
    others     the warm configurations are evaluated first; nothing else is known to them.

Bad input fails before compute with a clear error: a folder that is not a run record, records
of another benchmark (or other benchmark arguments, or another metric), a space whose
hyperparameters do not match the records' (a name they lack, another type), no records, or
no record left after projection. The warm start is part of the run's identity (meta.json
`warm_start`: the folder, k, the configurations and a digest of everything): a killed run
resumes by replaying its journal and evaluates nothing twice; resuming with another or a
changed folder is refused.

    >>> import hpobench, tempfile
    >>> from hpobench.optimizers import warm
    >>> src = tempfile.mkdtemp()
    >>> _ = hpobench.tune("synthetic/agree", "hyperband", budget=6 * 81, seed=0, out=src)
    >>> ws = warm.load(src, hpobench.get("synthetic/agree"), k=2)
    >>> len(ws.configs), len(ws.observations) > 10
    (2, True)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from ConfigSpace import Configuration, ConfigurationSpace, Constant
from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter

from hpobench import records, spaces
from hpobench.benchmarks.base import Benchmark, Metric, row_result
from hpobench.optimizers import record
from hpobench.optimizers.base import Axis, OptimizerError, active_values, values

WARM_K = 4  # warm configurations evaluated first (module docstring)


class WarmStartError(OptimizerError):
    """A warm-start folder that cannot be used with this benchmark and space (raised before compute)."""


@dataclass(frozen=True)
class Observation:
    config: dict  # projected onto the space
    fidelity: dict  # where it was recorded
    budget: float  # on the optimizer's axis, cost-equivalent
    loss: float
    ok: bool


@dataclass(frozen=True)
class WarmStart:
    source: str
    k: int
    configs: list  # best first, projected, distinct, default excluded
    observations: list  # Observation, record order
    anchor: dict = field(default_factory=dict)  # seed -> Result: the space's default recorded at full fidelity
    prior: bool = False  # smac too is told the observations, as full-fidelity ones (`aligned`)

    def identity(self) -> dict:
        """What meta.json records (and a resume must match)."""
        obs = [[o.config, o.fidelity, o.budget, o.loss, o.ok] for o in self.observations]
        digest = hashlib.sha256(json.dumps([self.configs, obs], sort_keys=True, default=str).encode()).hexdigest()
        return {"dir": self.source, "k": self.k, "configs": self.configs, "observations": len(obs),
                "digest": digest[:16], **({"anchor_seeds": sorted(self.anchor)} if self.anchor else {}),
                **({"prior": True} if self.prior else {})}


def load(path: str | Path, bench: Benchmark, space: ConfigurationSpace | None = None, axis: str = "epochs",
         k: int = WARM_K, bench_kwargs: dict | None = None, prior: bool = False) -> WarmStart:
    """The warm start of a tune of `bench` on `space` from the run folder `path` (module docstring);
    `prior`: `smac` too is told its records (`WarmStart.prior`)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise WarmStartError(f"warm-start k must be a number of configurations (0 or more), got {k!r}")
    space = bench.config_space if space is None else space
    path = Path(path)
    meta, df = _records(path)
    _check_source(path, meta, df, bench, bench_kwargs)
    _check_space(path, meta, space)
    try:
        obs, anchor = observations(df, bench, space, axis)
    except WarmStartError as e:
        raise WarmStartError(f"--warm-start {path}: {e}") from None
    return WarmStart(str(path.resolve()), k, _best(obs, k, values(space.get_default_configuration())), obs, anchor,
                     bool(prior))


def observations(df: pd.DataFrame, bench: Benchmark, space: ConfigurationSpace,
                 axis: str = "epochs") -> tuple[list[Observation], dict]:
    """Records (`config.*`, `fidelity.*`, `status` and the metric's column, a row a trial) as observations
    on `space` (`project`, `_merge`), and the anchor: seed -> the space's default recorded at full fidelity."""
    ax = Axis.of(bench.fidelity_space, axis)
    full_cost = bench.cost(bench.full_fidelity)
    losses = _losses(df, bench.metric)
    knobs = [c for c in df.columns if c.startswith("fidelity.")]
    default = values(space.get_default_configuration())
    rows, anchor = [], {}
    for i, row in enumerate(df.itertuples(index=False)):
        rec = dict(zip(df.columns, row))
        raw = {c[len("config."):]: v for c, v in rec.items() if c.startswith("config.")}
        cfg = project(space, raw)
        if cfg is None:
            continue
        fid = {c[len("fidelity."):]: spaces.plain(rec[c]) for c in knobs}
        budget = ax.high * bench.cost(fid) / full_cost
        rows.append((cfg, fid, float(budget), float(losses[i]), rec["status"] == "ok"))
        if "seed" in rec and _same(fid, bench.full_fidelity) and _same(raw, default):
            anchor.setdefault(int(rec["seed"]), row_result(rec))
    if not rows:
        raise WarmStartError(f"none of its {len(df)} records is a configuration of the space after projection "
                             f"(categories it does not allow?); nothing to start from")
    return _merge(rows), anchor


def aligned(obs: list[Observation], full: float) -> list[Observation]:
    """The observations as full-fidelity ones, for a model with no budget input (`smac` with
    `WarmStart.prior`): one a configuration, from its highest budget; a cheaper budget's successful
    losses shifted by the median gap to full fidelity over the configurations recorded at both, so
    that its ranking is kept and its scale meets full fidelity's where the two were measured. A
    budget that shares no configuration with full fidelity cannot be placed and is left out.

        >>> o = lambda c, b, loss: Observation({"x": c}, {}, b, loss, True)
        >>> [(a.config["x"], a.budget, round(a.loss, 2)) for a in aligned(
        ...     [o(1, 9, 0.5), o(1, 1, 0.7), o(2, 1, 0.6), o(3, 3, 0.1)], full=9)]
        [(1, 9, 0.5), (2, 9, 0.4)]
    """
    def key(o):
        return json.dumps(o.config, sort_keys=True, default=str)
    top = {key(o): o.loss for o in obs if o.ok and math.isclose(o.budget, full)}
    shift = {}
    for b in sorted({o.budget for o in obs}):
        gaps = [top[key(o)] - o.loss for o in obs if o.budget == b and o.ok and key(o) in top]
        if gaps:
            shift[b] = float(np.median(gaps))
    best: dict[str, Observation] = {}
    for o in obs:
        if o.budget in shift and (key(o) not in best or o.budget > best[key(o)].budget):
            best[key(o)] = o
    return [replace(o, budget=full, loss=o.loss + shift[o.budget] * o.ok) for o in best.values()]


def _same(recorded: dict, config: dict) -> bool:
    """Whether a recorded configuration or fidelity (NaN/None = inactive) is `config` itself, not only
    its projection."""
    for name, v in config.items():
        r = recorded.get(name)
        if r is None or (isinstance(r, float) and math.isnan(r)):
            return False
        r = spaces.plain(r)
        if isinstance(v, float) or isinstance(r, float):
            if isinstance(r, (bool, str)) or isinstance(v, (bool, str)) or not math.isclose(r, v, rel_tol=1e-9):
                return False
        elif r != v:
            return False
    return True


def _records(path: Path) -> tuple[dict, pd.DataFrame]:
    if not path.is_dir() or not records.has_meta(path):
        raise WarmStartError(f"--warm-start {path}: not a scope or tune run folder (no meta.json)")
    try:
        meta = records.read_meta(path)
        if "optimizer" in meta:  # a tune run: its journal is the record (finished or not)
            _, df, _ = record.load(path)
        else:  # a scope or grid folder
            pending = records.pending(path)
            if pending:
                raise WarmStartError(f"--warm-start {path}: {pending} record(s) are still in its journal, not in "
                                     f"evaluations.parquet: the run was interrupted; resume it first")
            if not (path / records.EVALUATIONS).exists():
                raise WarmStartError(f"--warm-start {path}: no evaluations.parquet (no records)")
            df = records.evaluations(path)
    except records.RecordError as e:
        raise WarmStartError(f"--warm-start {path}: {e}") from None
    if not len(df):
        raise WarmStartError(f"--warm-start {path}: no records")
    return meta, df.reset_index(drop=True)


def _check_source(path: Path, meta: dict, df: pd.DataFrame, bench: Benchmark, bench_kwargs: dict | None) -> None:
    names = sorted(set(df["benchmark"].dropna()))
    if names != [bench.name]:
        raise WarmStartError(f"--warm-start {path}: its records are of {', '.join(names) or 'no benchmark'}, "
                             f"not of {bench.name}")
    recorded = meta.get("scope", meta).get("bench_kwargs")
    if bench_kwargs is not None and recorded is not None and records.canon(recorded) != records.canon(bench_kwargs):
        raise WarmStartError(f"--warm-start {path}: recorded with benchmark arguments {recorded}, "
                             f"this tune has {bench_kwargs}")
    try:
        metric = records.metric_of(meta)
    except records.RecordError as e:
        raise WarmStartError(f"--warm-start {path}: {e}") from None
    if (metric.name, metric.direction) != (bench.metric.name, bench.metric.direction):
        raise WarmStartError(f"--warm-start {path}: its metric is {metric.describe()}, this tune optimises "
                             f"{bench.metric.describe()}")


def _check_space(path: Path, meta: dict, space: ConfigurationSpace) -> None:
    """Every hyperparameter the space tunes must be in the records' space, with the same type."""
    try:
        src = records.space_of(meta)
    except records.RecordError as e:
        raise WarmStartError(f"--warm-start {path}: {e}") from None
    problems = []
    for name, hp in space.items():
        if isinstance(hp, Constant):
            continue  # fixed: takes the space's constant whatever was recorded
        if name not in src:
            problems.append(f"{name}: not in the recorded space")
        elif not isinstance(src[name], Constant) and _kind(src[name]) != _kind(hp):
            problems.append(f"{name}: {_kind(hp)} here, {_kind(src[name])} in the records")
    if problems:
        raise WarmStartError(f"--warm-start {path}: the space does not match the records' space:\n  - "
                             + "\n  - ".join(problems))


def _kind(hp) -> str:
    if isinstance(hp, FloatHyperparameter):
        return "float"
    if isinstance(hp, IntegerHyperparameter):
        return "integer"
    return "ordinal" if hasattr(hp, "sequence") else "categorical" if hasattr(hp, "choices") else type(hp).__name__


def project(space: ConfigurationSpace, recorded: dict) -> dict | None:
    """A recorded configuration (any space; NaN/None = inactive) projected onto `space`, or None
    where it cannot be (module docstring).

        >>> from hpobench import spaces
        >>> scoped = spaces.fix(spaces.resnet(), {"optimizer": "sgd"})
        >>> cfg = project(scoped, {"optimizer": "adamw", "learning_rate": 3.0, "batch_size": 64})
        >>> cfg["optimizer"], cfg["learning_rate"], cfg["batch_size"], cfg["sgd_momentum"]
        ('sgd', 1.0, 64, 0.9)
    """
    cand = {}
    for name, hp in space.items():
        v = recorded.get(name)
        v = None if v is None or (isinstance(v, float) and math.isnan(v)) else spaces.plain(v)
        if isinstance(hp, Constant):
            cand[name] = hp.value
        elif v is None:
            cand[name] = hp.default_value
        elif isinstance(hp, (FloatHyperparameter, IntegerHyperparameter)):
            v = min(max(float(v), hp.lower), hp.upper)
            cand[name] = int(round(v)) if isinstance(hp, IntegerHyperparameter) else v
        else:
            v = spaces.typed(space, {name: v})[name]
            items = list(getattr(hp, "sequence", getattr(hp, "choices", ())))
            if v not in items:
                numeric = [c for c in items if isinstance(c, (int, float)) and not isinstance(c, bool)]
                if not hasattr(hp, "sequence") or len(numeric) != len(items) or not isinstance(v, (int, float)):
                    return None
                v = min(items, key=lambda c: abs(c - v))  # an ordinal: the nearest allowed value
            cand[name] = v
    try:
        return values(Configuration(space, values=active_values(space, cand)))
    except Exception:  # ConfigSpace raises several types (forbidden, illegal)
        return None


def _losses(df: pd.DataFrame, metric: Metric) -> np.ndarray:
    """Loss of each record: `metric.loss` of its value; a failed one at the worst bound, else the
    worst loss of a successful record (the tune's rule, `base.Losses`, over the whole table)."""
    col = "value" if "value" in df else f"metric.{metric.name}" if f"metric.{metric.name}" in df else metric.name
    if col not in df:
        raise WarmStartError(f"the records have no column for the metric {metric.name!r}")
    v = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    if col == "value" and metric.name in df:  # rows recorded before `value` existed
        v = np.where(np.isnan(v), pd.to_numeric(df[metric.name], errors="coerce").to_numpy(float), v)
    ok = df["status"].eq("ok").to_numpy() & np.isfinite(v)
    loss = np.array([metric.loss(x) if o else np.nan for x, o in zip(v, ok)])
    if not ok.any():
        raise WarmStartError("every record failed (diverged or crashed): nothing to start from")
    worst = metric.worst_loss if metric.worst_loss is not None else float(np.nanmax(loss))
    return np.where(ok, loss, worst)


def _merge(rows: list[tuple]) -> list[Observation]:
    """One observation per (projected configuration, fidelity): repeats averaged, first-seen order."""
    groups: dict[str, list] = {}
    for cfg, fid, budget, loss, ok in rows:
        key = json.dumps([cfg, fid], sort_keys=True, default=str)
        groups.setdefault(key, []).append((cfg, fid, budget, loss, ok))
    return [Observation(g[0][0], g[0][1], g[0][2], float(np.mean([r[3] for r in g])), any(r[4] for r in g))
            for g in groups.values()]


def _best(obs: list[Observation], k: int, default: dict) -> list[dict]:
    """k distinct configurations, round-robin over fidelities from the highest (module docstring)."""
    by_fid: dict[float, list[Observation]] = {}
    for o in obs:
        if o.ok:
            by_fid.setdefault(o.budget, []).append(o)
    ranked = [sorted(g, key=lambda o: o.loss) for _, g in sorted(by_fid.items(), reverse=True)]
    out, seen = [], {json.dumps(default, sort_keys=True, default=str)}
    for rank in range(max((len(r) for r in ranked), default=0)):
        for r in ranked:
            if rank < len(r) and len(out) < k:
                key = json.dumps(r[rank].config, sort_keys=True, default=str)
                if key not in seen:
                    seen.add(key)
                    out.append(r[rank].config)
    return out

"""The benchmark protocol shared by every benchmark: spaces, default, `evaluate`.

A benchmark is a plain dataclass holding its configuration space, its fidelity
space (whose default values *are* the full-fidelity point) and an objective
`fn(config: dict, fidelity: dict, seed: int) -> Result`. `Benchmark.evaluate`
validates input before any compute and turns exceptions into `crashed` results.

    >>> import hpobench
    >>> bench = hpobench.get("synthetic/agree")
    >>> r = bench.evaluate(bench.default, {"epochs": 3}, seed=0)
    >>> r.status
    'ok'

Every benchmark declares its objective's `Metric`: a name, a direction (`maximize` or
`minimize`) and optionally a range. The ResNet, synthetic and tabular benchmarks report
`f1` (validation macro-F1, maximised, in [0, 1]); a registered objective may report any
metric, e.g. a log loss to minimise or an accuracy in percent:

    >>> bench = hpobench.get("synthetic/agree")
    >>> bench.metric.name, bench.metric.direction
    ('f1', 'maximize')
    >>> Metric("log_loss", "minimize", lower=0).loss(0.25)  # what optimizers minimise
    0.25

`evaluate_many(configs, fidelity, seeds)` evaluates several at once: configurations the benchmark
can train together (`groups`; the ResNet benchmarks: the same depth, width and batch size, so one
compiled program) run as one group (`Benchmark.many`), the rest one at a time, each Result as
`evaluate` would return it (but for float rounding) with `info["group"]` the group's size:

    >>> [r.info["group"] for r in bench.evaluate_many([bench.default] * 2, {"epochs": 3}, seeds=[0, 1])]
    [1, 1]

An objective `fn(config, fidelity, seed)` may return a `Result`, a number (the declared
metric) or a dict of numbers (the declared metric and any others, all recorded);
`evaluate` turns the last two into a `Result` with `metrics` set and its measured wall time.

Trial rows (`trial_row`) are the one table schema every part of the project
reads and writes: `config.<hp>` (None where inactive), `fidelity.<knob>`, `seed`,
`status`, `f1` (validation macro-F1, maximised), `accuracy`, `loss`, `cost_s`
(seconds), `cost` (epochs x data_fraction x (resolution/native)^2), `curve` and
`info` (JSON strings), `error`, `benchmark`; since the metric became declarable also
`value` (the benchmark's declared metric; `f1` for the built-in benchmarks) and
`metric.<name>` for every other reported metric that is not one of `f1`, `accuracy`,
`loss` (NaN where a trial did not report it). Records without `value` are read as F1.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.hyperparameters import IntegerHyperparameter

from hpobench import env
from hpobench.spaces import active, plain

STATUSES = ("ok", "diverged", "crashed")
DIRECTIONS = ("maximize", "minimize")
FIXED_METRICS = ("f1", "accuracy", "loss")  # Result fields (and table columns) of their own


class BenchmarkError(ValueError):
    """Bad input to a benchmark (config, fidelity, dataset); raised before compute."""


@dataclass(frozen=True)
class Metric:
    """The metric a benchmark's objective reports: name, direction and (optional) range.

    Optimizers minimise `loss(value)`: the distance below the upper bound when maximised
    (`upper - value`, `-value` without one), above the lower bound when minimised
    (`value - lower`, `value` without one); for F1 that is 1 - F1. Only differences
    between losses matter to the optimizers. A failed trial's loss is `worst_loss` (the
    loss at the declared worst bound: the lower one when maximised, the upper one when
    minimised) or, where that bound is not declared, the worst loss seen so far in the run
    (`hpobench.tune`). A successful value outside the declared range is a crashed trial.
    """

    name: str = "f1"
    direction: str = "maximize"
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or self.name != self.name.strip():
            raise BenchmarkError(f"a metric needs a name (no surrounding spaces), got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise BenchmarkError(f"metric {self.name!r}: direction must be 'maximize' or 'minimize', "
                                 f"got {self.direction!r}")
        for k in ("lower", "upper"):
            v = getattr(self, k)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
                    raise BenchmarkError(f"metric {self.name!r}: {k} bound must be a finite number or None, got {v!r}")
                object.__setattr__(self, k, float(v))
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise BenchmarkError(f"metric {self.name!r}: need lower < upper, got [{self.lower}, {self.upper}]")

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def sign(self) -> float:
        """+1 when maximised, -1 when minimised: `sign * value` is larger-is-better."""
        return 1.0 if self.maximize else -1.0

    def loss(self, value: float) -> float:
        """What optimizers minimise for a successful trial's `value` (class docstring)."""
        v = float(value)
        if self.maximize:
            return self.upper - v if self.upper is not None else -v
        return v - self.lower if self.lower is not None else v

    @property
    def worst(self) -> float | None:
        """The declared worst value (lower bound when maximised, upper when minimised), or None."""
        return self.lower if self.maximize else self.upper

    @property
    def worst_loss(self) -> float | None:
        return None if self.worst is None else self.loss(self.worst)

    def better(self, a: float, b: float) -> bool:
        """Is `a` strictly better than `b`? (NaN is never better; anything beats NaN.)"""
        if a is None or math.isnan(a):
            return False
        if b is None or math.isnan(b):
            return True
        return a > b if self.maximize else a < b

    def problem(self, value: float) -> str | None:
        """Why a successful trial's `value` is unusable (non-finite, outside the range), or None."""
        if not math.isfinite(value):
            return f"{self.name} is {value}"
        lo = -math.inf if self.lower is None else self.lower
        hi = math.inf if self.upper is None else self.upper
        if not lo <= value <= hi:
            return f"{self.name} = {value!r} is outside its declared range [{lo:g}, {hi:g}]"
        return None

    def describe(self) -> str:
        """e.g. "log_loss (minimize in [0, inf])"."""
        if self.lower is None and self.upper is None:
            return f"{self.name} ({self.direction})"
        lo = "-inf" if self.lower is None else f"{self.lower:g}"
        hi = "inf" if self.upper is None else f"{self.upper:g}"
        return f"{self.name} ({self.direction} in [{lo}, {hi}])"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, spec: Metric | Mapping | str | None) -> Metric:
        """A Metric from a Metric, a dict (`to_dict`, e.g. a run's meta.json), a name, or None (F1)."""
        if spec is None:
            return F1
        if isinstance(spec, Metric):
            return spec
        if isinstance(spec, str):
            return F1 if spec == "f1" else cls(spec)
        if isinstance(spec, Mapping):
            unknown = sorted(set(spec) - {"name", "direction", "lower", "upper"})
            if unknown:
                raise BenchmarkError(f"a metric has name, direction, lower, upper; got also {unknown}")
            return cls(**spec)
        raise BenchmarkError(f"a metric must be a Metric, a dict or a name, got {type(spec).__name__}")


F1 = Metric("f1", "maximize", 0.0, 1.0)  # the built-in benchmarks' metric: validation macro-F1


@dataclass
class Result:
    """Outcome of one evaluation. Metrics are on the validation split."""

    status: str  # ok | diverged | crashed
    f1: float  # macro-F1, the primary (maximised) metric; NaN unless ok
    accuracy: float
    loss: float
    cost_s: float  # wall-clock seconds (simulated for synthetic benchmarks)
    cost: float  # machine-independent cost, see module docstring
    curve: list[dict] = field(default_factory=list)  # one dict per epoch
    error: str | None = None
    test: dict | None = None  # held-out test metrics, final reporting only
    info: dict = field(default_factory=dict)  # config, fidelity, seed, env
    metrics: dict = field(default_factory=dict)  # every metric the objective reported, by name

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def value(self, metric: Metric | str = "f1") -> float:
        """The value of `metric` (a Metric or a name): from `metrics`, else the field of that name."""
        name = metric.name if isinstance(metric, Metric) else metric
        if name in self.metrics:
            return float(self.metrics[name])
        if name in FIXED_METRICS:
            v = getattr(self, name)
            return math.nan if v is None else float(v)
        return math.nan

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def failed(cls, status: str, error: str, cost_s: float = 0.0, cost: float = 0.0,
               curve: list | None = None) -> Result:
        nan = float("nan")
        return cls(status, nan, nan, nan, cost_s, cost, curve or [], error)


@dataclass(frozen=True)
class Benchmark:
    """A named objective with its configuration and fidelity spaces."""

    name: str
    config_space: ConfigurationSpace
    fidelity_space: ConfigurationSpace  # defaults = full fidelity
    fn: Callable[[dict, dict, int], Result]
    description: str = ""
    cost_fn: Callable[[dict], float] | None = None  # fidelity -> machine-independent cost
    truth: Any = None  # synthetic benchmarks: the known ground truth
    meta: dict = field(default_factory=dict)
    prepare: Callable[[], None] | None = None  # fetch/check what evaluate needs; raises BenchmarkError
    metric: Metric = F1  # what `fn` reports and optimizers optimise
    warm: Callable[[list[dict], dict], None] | None = None  # (configs, fidelity): start what a later evaluate
    # (one configuration) or evaluate_many (several, trained together) needs
    batch: Callable[[dict, dict], tuple[Any, int] | None] | None = None  # (config, fidelity) -> (what configurations
    # trained together share, at most how many train together), or None: alone (`groups`)
    many: Callable[[list[dict], dict, list[int]], list[Result]] | None = None  # (configs, fidelity, seeds): train
    # configurations of one `groups` group together, a Result each

    def check(self) -> None:
        """Fail now, before compute, if something `evaluate` needs (e.g. a dataset) is missing."""
        if self.prepare is not None:
            self.prepare()

    def prefetch(self, config, fidelity: Mapping | None = None) -> None:
        """A hint that `evaluate(config, fidelity)` comes soon: the ResNet benchmarks start compiling
        its program in the background. Advisory: bad input is left for `evaluate` to report."""
        if self.warm is None:
            return
        self.prefetch_many([config], fidelity)

    def prefetch_many(self, configs: list, fidelity: Mapping | None = None) -> None:
        """A hint that `evaluate_many(configs, fidelity)` comes soon, for one of its `groups`. Advisory."""
        if self.warm is None:
            return
        try:
            cfgs, fid = [self.config(c) for c in configs], self.fidelity(fidelity)
        except BenchmarkError:
            return
        self.warm([{k: plain(v) for k, v in dict(c).items()} for c in cfgs], fid)

    @property
    def default(self) -> Configuration:
        return self.config_space.get_default_configuration()

    @property
    def full_fidelity(self) -> dict:
        return {k: plain(v) for k, v in self.fidelity_space.get_default_configuration().items()}

    def cost(self, fidelity: Mapping | None = None) -> float:
        fid = self.fidelity(fidelity)
        return float(self.cost_fn(fid)) if self.cost_fn else 1.0

    def config(self, config: Configuration | Mapping | str | None) -> Configuration:
        """Validate `config` (a Configuration, a dict, or "default").

        A partial dict is completed from the default; values left over from the
        default on branches the dict switches off are dropped, but a value the
        caller set on an inactive branch is an error.
        """
        if config is None or (isinstance(config, str) and config == "default"):
            return self.default
        if isinstance(config, Configuration):
            config = dict(config)
        if not isinstance(config, Mapping):
            raise BenchmarkError(f"{self.name}: a config must be a mapping, got {type(config).__name__}")
        space = self.config_space
        unknown = sorted(set(config) - set(space))
        if unknown:
            raise BenchmarkError(f"{self.name}: unknown hyperparameter(s) {unknown}; "
                                 f"known: {sorted(space)}")
        values = {**dict(self.default), **{k: plain(v) for k, v in config.items()}}
        for _ in range(len(space)):  # drop default-filled values that became inactive
            on = active(space, values)
            drop = [k for k in values if k not in on and k not in config]
            if not drop:
                break
            for k in drop:
                del values[k]
        for k in space:  # fill children that became active with their defaults
            if k not in values and k in active(space, values):
                values[k] = space[k].default_value
        try:
            return Configuration(space, values=values)
        except Exception as e:  # ConfigSpace raises several types; name the problem
            raise BenchmarkError(f"{self.name}: invalid configuration: {type(e).__name__}: {e}") from None

    def fidelity(self, fidelity: Mapping | None = None) -> dict:
        """Validate a (partial) fidelity; missing knobs are at full fidelity."""
        fidelity = dict(fidelity or {})
        space = self.fidelity_space
        unknown = sorted(set(fidelity) - set(space))
        if unknown:
            raise BenchmarkError(f"{self.name}: unknown fidelity knob(s) {unknown}; known: {sorted(space)}")
        out = self.full_fidelity
        for k, v in fidelity.items():
            hp = space[k]
            v = plain(v)
            if hasattr(hp, "sequence"):
                if v not in hp.sequence:
                    raise BenchmarkError(f"{self.name}: fidelity {k}={v!r} out of range; allowed {list(hp.sequence)}")
            else:
                if isinstance(v, str) or not (hp.lower <= v <= hp.upper):
                    raise BenchmarkError(f"{self.name}: fidelity {k}={v!r} out of range [{hp.lower}, {hp.upper}]")
                if isinstance(hp, IntegerHyperparameter):
                    if float(v) != int(v):
                        raise BenchmarkError(f"{self.name}: fidelity {k}={v!r} must be an integer")
                    v = int(v)
                else:
                    v = float(v)
            out[k] = v
        return out

    def evaluate(self, config=None, fidelity: Mapping | None = None, seed: int = 0) -> Result:
        """Validate, run the objective, and record what produced the result.

        Bad input raises `BenchmarkError` before compute; an exception inside the
        objective becomes a `crashed` result, never a raise.
        """
        cfg = self.config(config)
        fid = self.fidelity(fidelity)
        values = {k: plain(v) for k, v in dict(cfg).items()}
        t0 = time.perf_counter()
        try:
            result = self.fn(values, fid, int(seed))
        except BenchmarkError:
            raise
        except Exception as e:
            result = Result.failed("crashed", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}",
                                   cost_s=time.perf_counter() - t0, cost=self.cost(fid))
        result = self._result(result, time.perf_counter() - t0, fid)
        result.info = {**result.info, "benchmark": self.name, "config": values, "fidelity": fid,
                       "seed": int(seed), "env": env.describe()}
        return result

    def groups(self, configs: list, fidelity: Mapping | None = None) -> list[list[int]]:
        """The configurations (positions in `configs`) that `evaluate_many` trains together, in order
        of first appearance: those with the same `batch` key, split into as few near-equal groups
        as its limit allows; every other configuration (and an invalid one) alone. A bad fidelity
        raises BenchmarkError."""
        fid = self.fidelity(fidelity)
        if self.batch is None or self.many is None:
            return [[i] for i in range(len(configs))]
        members: dict = {}
        for i, c in enumerate(configs):
            try:
                key = self.batch({k: plain(v) for k, v in dict(self.config(c)).items()}, fid)
            except BenchmarkError:  # left for `evaluate` to report, alone
                key = None
            members.setdefault(("alone", i) if key is None else ("batch", key[0]), (key, []))[1].append(i)
        out = []
        for key, idx in members.values():
            cap = 1 if key is None else max(1, int(key[1]))
            n = -(-len(idx) // cap)  # groups of at most `cap`, sizes differing by at most one
            out += [list(part) for part in _split(idx, n)]
        return sorted(out, key=lambda g: g[0])

    def evaluate_many(self, configs: list, fidelity: Mapping | None = None, seeds: int | list[int] = 0) -> list[Result]:
        """`evaluate` for each of `configs` (a seed each, or one for all): validated first, then
        trained together where the benchmark can (`groups`, `many`; e.g. the ResNet benchmarks:
        one program for configurations with the same depth, width and batch size) and one at a
        time otherwise. Each Result is what `evaluate` returns but for float rounding, with
        `info["group"]` the number trained together (1: alone); a batched group that raises is
        evaluated one at a time instead. Bad input raises BenchmarkError before any compute."""
        seeds = [int(seeds)] * len(configs) if isinstance(seeds, numbers.Integral) else [int(s) for s in seeds]
        if len(seeds) != len(configs):
            raise BenchmarkError(f"{self.name}: {len(configs)} configurations but {len(seeds)} seeds")
        cfgs = [self.config(c) for c in configs]
        fid = self.fidelity(fidelity)
        out: list[Result | None] = [None] * len(cfgs)
        for group in self.groups(cfgs, fid):
            results = self._many([cfgs[i] for i in group], fid, [seeds[i] for i in group]) if len(group) > 1 else None
            for j, i in enumerate(group):
                out[i] = results[j] if results else self.evaluate(cfgs[i], fid, seeds[i])
                out[i].info.setdefault("group", 1)
        return out

    def _many(self, cfgs: list[Configuration], fid: dict, seeds: list[int]) -> list[Result] | None:
        """`many` on validated configurations, as `evaluate` records each; None when it raised."""
        values = [{k: plain(v) for k, v in dict(c).items()} for c in cfgs]
        t0 = time.perf_counter()
        try:
            results = self.many(values, fid, seeds)
        except BenchmarkError:
            raise
        except Exception:  # the group fails as a whole: its configurations are tried one at a time
            return None
        elapsed = (time.perf_counter() - t0) / len(cfgs)
        out = []
        for v, seed, r in zip(values, seeds, results):
            r = self._result(r, elapsed, fid)
            r.info = {"group": len(cfgs), **r.info, "benchmark": self.name, "config": v, "fidelity": fid,
                      "seed": int(seed), "env": env.describe()}
            out.append(r)
        return out


    def _result(self, out, elapsed: float, fid: dict) -> Result:
        """The objective's return value as a checked Result (module docstring); never raises."""
        m = self.metric
        if isinstance(out, Result):
            result = out
        else:
            if isinstance(out, Mapping):
                metrics, bad = {}, []
                for k, v in out.items():
                    if isinstance(v, bool) or not isinstance(v, numbers.Real):
                        bad.append(f"{k!r}: {type(v).__name__}")
                    else:
                        metrics[str(k)] = float(v)
                if bad:
                    return Result.failed("crashed", f"{self.name}: the objective's metrics must be numbers; "
                                         f"got {', '.join(bad)}", elapsed, self.cost(fid))
            elif isinstance(out, numbers.Real) and not isinstance(out, bool):
                metrics = {m.name: float(out)}
            else:
                return Result.failed("crashed", f"{self.name}: the objective returned {type(out).__name__}; "
                                     f"expected a number ({m.name}), a dict of metrics or a Result",
                                     elapsed, self.cost(fid))
            if m.name not in metrics:
                return Result.failed("crashed", f"{self.name}: the objective returned metrics {sorted(metrics)} "
                                     f"but not {m.name!r}, the metric it declares (--metric)",
                                     elapsed, self.cost(fid))
            nan = math.nan
            result = Result("ok", metrics.get("f1", nan), metrics.get("accuracy", nan), metrics.get("loss", nan),
                            elapsed, self.cost(fid), metrics=metrics)
        if result.status == "ok":
            v = result.value(m)
            problem = m.problem(v)
            if problem is not None:  # NaN/inf: the training diverged; out of range: the objective is wrong
                result = dataclasses.replace(result, status="diverged" if not math.isfinite(v) else "crashed",
                                             error=f"{self.name}: {problem}")
        return result


def _split(items: list, n: int) -> list[list]:
    """`items` in `n` consecutive parts whose sizes differ by at most one."""
    q, r = divmod(len(items), n)
    bounds = [i * q + min(i, r) for i in range(n + 1)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:])]


def trial_row(bench_name: str, config: Mapping, fidelity: Mapping, seed: int, result: Result,
              config_space: ConfigurationSpace | None = None, metric: Metric | str | None = None) -> dict:
    """Flatten one evaluation into the project's table schema (module docstring).

    metric: the benchmark's declared metric (default F1): its value is the `value` column.
    """
    metric = Metric.of(metric)
    names = list(config_space) if config_space is not None else list(config)
    row = {f"config.{k}": plain(config.get(k)) for k in names}
    row.update({f"fidelity.{k}": v for k, v in fidelity.items()})
    info = {k: v for k, v in result.info.items() if k not in ("config", "fidelity", "seed")}
    row.update(benchmark=bench_name, seed=int(seed), status=result.status, f1=result.f1,
               accuracy=result.accuracy, loss=result.loss, value=result.value(metric),
               cost_s=result.cost_s, cost=result.cost,
               error=result.error, curve=json.dumps(result.curve, default=json_default),
               test=json.dumps(result.test, default=json_default),
               info=json.dumps(info, default=json_default))
    for k in dict.fromkeys([*result.metrics, metric.name]):
        if k not in FIXED_METRICS:
            row[f"metric.{k}"] = result.value(k)
    return row


def row_result(row: Mapping) -> Result:
    """The `Result` a table row holds: the inverse of `trial_row` (but for the config and fidelity columns)."""
    def parsed(k):
        v = row.get(k)
        return json.loads(v) if isinstance(v, str) and v else None
    error = row.get("error")
    return Result(str(row["status"]), float(row["f1"]), float(row["accuracy"]), float(row["loss"]),
                  float(row["cost_s"]), float(row["cost"]), parsed("curve") or [],
                  error if isinstance(error, str) else None, parsed("test"), parsed("info") or {},
                  {c[len("metric."):]: float(v) for c, v in row.items() if c.startswith("metric.")})


def json_default(o):
    """numpy scalars as Python values, anything else as text (json.dumps' `default`)."""
    return o.item() if hasattr(o, "item") else str(o)

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

Trial rows (`trial_row`) are the one table schema every part of the project
reads and writes: `config.<hp>` (None where inactive), `fidelity.<knob>`, `seed`,
`status`, `f1` (validation macro-F1, maximised), `accuracy`, `loss`, `cost_s`
(seconds), `cost` (epochs x data_fraction x (resolution/native)^2), `curve` and
`info` (JSON strings), `error`, `benchmark`.
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.hyperparameters import IntegerHyperparameter

from hpobench import env
from hpobench.spaces import active, plain

STATUSES = ("ok", "diverged", "crashed")


class BenchmarkError(ValueError):
    """Bad input to a benchmark (config, fidelity, dataset); raised before compute."""


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

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def failed(cls, status: str, error: str, cost_s: float = 0.0, cost: float = 0.0,
               curve: list | None = None) -> "Result":
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

    def check(self) -> None:
        """Fail now, before compute, if something `evaluate` needs (e.g. a dataset) is missing."""
        if self.prepare is not None:
            self.prepare()

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
        result.info = {**result.info, "benchmark": self.name, "config": values, "fidelity": fid,
                       "seed": int(seed), "env": env.describe()}
        return result


def trial_row(bench_name: str, config: Mapping, fidelity: Mapping, seed: int, result: Result,
              config_space: ConfigurationSpace | None = None) -> dict:
    """Flatten one evaluation into the project's table schema (module docstring)."""
    names = list(config_space) if config_space is not None else list(config)
    row = {f"config.{k}": plain(config.get(k)) for k in names}
    row.update({f"fidelity.{k}": v for k, v in fidelity.items()})
    info = {k: v for k, v in result.info.items() if k not in ("config", "fidelity", "seed")}
    row.update(benchmark=bench_name, seed=int(seed), status=result.status, f1=result.f1,
               accuracy=result.accuracy, loss=result.loss, cost_s=result.cost_s, cost=result.cost,
               error=result.error, curve=json.dumps(result.curve, default=json_default),
               test=json.dumps(result.test, default=json_default),
               info=json.dumps(info, default=json_default))
    return row


def json_default(o):
    """numpy scalars as Python values, anything else as text (json.dumps' `default`)."""
    return o.item() if hasattr(o, "item") else str(o)

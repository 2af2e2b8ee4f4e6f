"""What every optimizer works with: the problem, its budget axis, proposals and trials.

An optimizer is any object with two methods, driven by `hpobench.tune`:

    ask() -> Proposal                  # a configuration and, for multi-fidelity, a budget
    tell(trial: Trial, loss: float)    # loss to minimise, from the benchmark's metric (`Losses`)

It must be deterministic given its seed and the sequence of asks and tells: that is
what lets a killed run resume by replaying its journal (see `record`). It may be told
about trials it did not ask for (the default configuration, evaluated first in every run).

    >>> import hpobench
    >>> from hpobench.optimizers.base import Problem
    >>> p = Problem.make(hpobench.get("synthetic/agree"), seed=0)
    >>> p.axis.rungs(eta=3)
    [1, 3, 9, 27, 81]
    >>> p.fidelity(9)["epochs"], p.fidelity(None)["epochs"]
    (9, 81)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.hyperparameters import IntegerHyperparameter

from hpobench import spaces


class Losses:
    """The loss of each finished trial, in tell order, as optimizers are told it.

    A successful trial's loss is `metric.loss(value)` (1 - F1 for F1; `Metric`). A failed
    (diverged, crashed) trial gets the loss at the metric's declared worst bound (1 for F1)
    or, without one, the worst loss of a successful trial told so far in the run; before
    any (every trial so far failed) it is +inf, which every optimizer here accepts (SMAC's
    adapter holds such trials back until a finite loss is known). The rule depends only on
    the sequence of results, so replaying a journal reproduces every loss exactly.

        >>> from hpobench.benchmarks.base import Metric, Result
        >>> losses = Losses(Metric("rmse", "minimize"))
        >>> crashed = Result.failed("crashed", "boom")
        >>> ok = lambda v: Result("ok", 0, 0, 0, 0, 0, metrics={"rmse": v})
        >>> [losses(r) for r in (crashed, ok(2.0), crashed, ok(5.0), crashed)]
        [inf, 2.0, 2.0, 5.0, 5.0]
    """

    def __init__(self, metric):
        self.metric = metric
        self.worst = -math.inf  # worst (largest) loss of a successful trial so far

    def __call__(self, result) -> float:
        m = self.metric
        if result.status == "ok":
            v = result.value(m)
            if math.isfinite(v):
                loss = m.loss(v)
                self.worst = max(self.worst, loss)
                return loss
        if m.worst_loss is not None:
            return m.worst_loss
        return self.worst if self.worst > -math.inf else math.inf


class OptimizerError(ValueError):
    """Bad optimizer input (unknown name, axis, option); raised before any compute."""


class Exhausted(Exception):
    """Raised by `ask` when an optimizer has nothing left to propose; the run ends cleanly."""


@dataclass(frozen=True)
class Axis:
    """The fidelity knob that multi-fidelity optimizers vary; the other knobs stay at full."""

    name: str
    low: float  # smallest budget (knob value)
    high: float  # full fidelity
    integer: bool = False
    values: tuple | None = None  # allowed values of an ordinal knob (e.g. resolution)

    @classmethod
    def of(cls, fidelity_space: ConfigurationSpace, name: str = "epochs",
           min_budget: float | None = None) -> Axis:
        if name not in fidelity_space:
            raise OptimizerError(f"budget axis {name!r} is not a fidelity knob; knobs: {sorted(fidelity_space)}")
        hp = fidelity_space[name]
        high = spaces.plain(hp.default_value)
        if hasattr(hp, "sequence"):
            values = tuple(sorted(spaces.plain(v) for v in hp.sequence))
            if any(isinstance(v, (str, bool)) for v in values):
                raise OptimizerError(f"budget axis {name!r} must be numeric, got values {values}")
            low = values[0] if min_budget is None else min_budget
            values = tuple(v for v in values if low <= v <= high)
            if not values or low < min(hp.sequence):
                raise OptimizerError(f"min budget {low} is outside the values of {name!r}: {list(hp.sequence)}")
            axis = cls(name, values[0], high, False, values)
        elif hasattr(hp, "lower"):
            low = hp.lower if min_budget is None else min_budget
            if not hp.lower <= low:
                raise OptimizerError(f"min budget {low} is below the range of {name!r} [{hp.lower}, {hp.upper}]")
            axis = cls(name, spaces.plain(low), high, isinstance(hp, IntegerHyperparameter))
        else:
            raise OptimizerError(f"budget axis {name!r} must be numeric, got {type(hp).__name__}")
        if not 0 < axis.low < axis.high:
            raise OptimizerError(f"budget axis {name!r}: need 0 < min budget ({axis.low}) < full fidelity ({high})")
        return axis

    def knob(self, budget: float | None) -> int | float:
        """The knob value that runs `budget` (None: full fidelity)."""
        if budget is None:
            return self.high
        b = min(max(float(budget), self.low), self.high)
        if self.values is not None:
            return min(self.values, key=lambda v: abs(v - b))
        return int(round(b)) if self.integer else b

    def rungs(self, eta: float = 3) -> list:
        """Geometric budgets high * eta^-k down to the min budget, as distinct knob values (ascending)."""
        s_max = int(math.floor(math.log(self.high / self.low) / math.log(eta) + 1e-9))
        out = []
        for k in range(s_max, -1, -1):
            v = self.knob(self.high * eta ** -k)
            if v not in out:
                out.append(v)
        return out


@dataclass(frozen=True)
class Problem:
    """What an optimizer optimizes: a (possibly scoped) space, the full fidelity and the axis."""

    space: ConfigurationSpace
    full: dict  # every fidelity knob at full fidelity
    axis: Axis
    seed: int = 0
    budget: float = math.inf  # total cost of the run (lets SMAC size its initial design)
    cost: Callable[[dict], float] = field(default=lambda fidelity: 1.0, repr=False)  # fidelity -> cost
    warm: Any = field(default=None, repr=False)  # a `warm.WarmStart`: what is known before the run (or None)

    @classmethod
    def make(cls, bench, space: ConfigurationSpace | None = None, axis: str = "epochs",
             min_budget: float | None = None, seed: int = 0, budget: float = math.inf, warm=None) -> Problem:
        return cls(space if space is not None else bench.config_space, bench.full_fidelity,
                   Axis.of(bench.fidelity_space, axis, min_budget), int(seed), float(budget), bench.cost, warm)

    def fidelity(self, budget: float | None = None) -> dict:
        return {**self.full, self.axis.name: self.axis.knob(budget)}

    def seeded_space(self, offset: int = 0) -> ConfigurationSpace:
        """A private copy of the space whose sampler is seeded (reproducible draws)."""
        cs = copy.deepcopy(self.space)
        cs.seed(self.seed * 1000 + offset)
        return cs

    @property
    def default(self) -> dict:
        return values(self.space.get_default_configuration())


@dataclass
class Proposal:
    """What `ask` returns: a configuration, a budget on the axis (None = full), bookkeeping."""

    config: dict
    budget: float | None = None
    info: dict = field(default_factory=dict)  # JSON-able; handed back in Trial.info


@dataclass
class Trial:
    """A proposal the driver scheduled: numbered in ask order."""

    id: int
    config: dict
    fidelity: dict
    budget: float | None
    info: dict
    asked_after: int  # number of tells before it was asked (replays the ask/tell order)
    status: str | None = None  # set before `tell`: ok | diverged | crashed


def values(config: Configuration | Mapping) -> dict:
    """Active hyperparameter values as plain Python scalars."""
    return {k: spaces.plain(v) for k, v in dict(config).items()}


def active_values(space: ConfigurationSpace, candidate: Mapping[str, Any]) -> dict:
    """Keep the candidate values that are active, walking parents before children."""
    act = spaces.active(space, candidate)
    return {name: candidate[name] for name in space if name in act}

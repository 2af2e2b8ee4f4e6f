"""Successive halving and Hyperband (Li et al., JMLR 2018) with a pluggable sampler.

A bracket with s halvings draws n configurations, runs them at the smallest of its
s+1 budgets and promotes the best 1/eta of each rung to the next budget (eta = 3).
Hyperband cycles through brackets s = s_max, ..., 0 (hedging against misleading low
fidelities); successive halving repeats the most aggressive bracket s = s_max.
Configurations come from a sampler: uniform random here, KDE-guided in BOHB.
A configuration promoted to a higher budget is trained again from scratch there.

A sampler may also judge budgets: if it has a method `trusted(budget, top) -> bool`,
Hyperband skips, in its cycle, every bracket whose first budget the sampler does not trust
against the full budget `top` (BOHB's rank agreement, `bohb.py`); the bracket s = 0, which
starts at the full budget, is never skipped. Samplers without it (`RandomSampler`) leave the
cycle as in Li et al. (Successive halving has one bracket and skips none.)

When every open bracket waits for results (parallel workers), a new bracket is opened
so that no worker idles, as in BOHB's parallel scheme.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "hyperband", budget=10 * 81, seed=0)
    >>> sorted(run.trials["fidelity.epochs"].unique().tolist())
    [1, 3, 9, 27, 81]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from ConfigSpace import ConfigurationSpace

from hpobench.optimizers.base import Problem, Proposal, Trial, values


class Sampler(Protocol):
    def sample(self) -> dict: ...

    def observe(self, config: dict, budget, loss: float) -> None: ...

    # optional: def trusted(self, budget, top) -> bool (module docstring)


@dataclass
class RandomSampler:
    """Uniform sampling from the (possibly scoped) space; learns nothing."""

    space: ConfigurationSpace

    last = "random"

    def sample(self) -> dict:
        return values(self.space.sample_configuration())

    def observe(self, config: dict, budget, loss: float) -> None:
        pass


def bracket_sizes(s: int, s_max: int, eta: int) -> list[int]:
    """Number of configurations per rung of the bracket with s halvings."""
    n = math.ceil((s_max + 1) / (s + 1) * eta**s)
    return [int(n * eta ** -i) for i in range(s + 1)]


@dataclass
class Bracket:
    index: int  # order in which brackets were opened in this run
    s: int
    sizes: list[int]  # configurations per rung
    budgets: list  # knob value per rung
    rung: int = 0
    sampled: int = 0  # configurations drawn so far for rung 0
    issued: int = 0  # trials handed out at the current rung
    queue: list = field(default_factory=list)  # (cid, config) promoted to the current rung
    results: dict = field(default_factory=dict)  # cid -> (loss, config) at the current rung

    @property
    def done(self) -> bool:
        return self.rung >= len(self.sizes)

    def next(self, sampler: Sampler) -> Proposal | None:
        """The next trial of this bracket, or None while it waits for results."""
        if self.done or self.issued >= self.sizes[self.rung]:
            return None
        if self.rung == 0:
            cid, config = self.sampled, sampler.sample()
            self.sampled += 1
        else:
            cid, config = self.queue[self.issued]
        self.issued += 1
        info = {"bracket": self.index, "s": self.s, "rung": self.rung, "cid": cid}
        if self.rung == 0:
            info["sampled"] = getattr(sampler, "last", "random")  # BOHB: model or random draw
        return Proposal(config, self.budgets[self.rung], info)

    def record(self, cid: int, rung: int, config: dict, loss: float) -> None:
        assert rung == self.rung, f"bracket {self.index}: result for rung {rung} while at rung {self.rung}"
        self.results[cid] = (loss, config)
        if len(self.results) < self.sizes[self.rung]:
            return
        ranked = sorted(self.results.items(), key=lambda kv: (kv[1][0], kv[0]))  # ties: first drawn
        self.rung += 1
        self.issued, self.results = 0, {}
        if not self.done:
            self.queue = [(cid, cfg) for cid, (_, cfg) in ranked[: self.sizes[self.rung]]]


@dataclass
class Hyperband:
    problem: Problem
    sampler: Sampler
    eta: int = 3
    successive_halving: bool = False  # True: always the most aggressive bracket
    rungs: list = field(init=False)
    active: list = field(init=False, default_factory=list)
    opened: int = field(init=False, default=0)
    cycle: int = field(init=False, default=0)  # brackets taken from the cycle, skipped ones included
    skipped: list = field(init=False, default_factory=list)  # s of each bracket skipped, in order

    def __post_init__(self):
        if self.eta < 2:
            raise ValueError(f"eta must be >= 2, got {self.eta}")
        self.rungs = self.problem.axis.rungs(self.eta)

    @property
    def s_max(self) -> int:
        return len(self.rungs) - 1

    def schedule(self, k: int) -> int:
        """Halvings of the k-th bracket opened: s_max, s_max-1, ..., 0, s_max, ..."""
        return self.s_max if self.successive_halving else self.s_max - k % (self.s_max + 1)

    def next_s(self) -> int:
        """Halvings of the next bracket to open: the cycle's next one the sampler trusts (module docstring)."""
        trusted = getattr(self.sampler, "trusted", None)
        while True:
            s = self.schedule(self.cycle)
            self.cycle += 1
            if s == 0 or self.successive_halving or trusted is None or trusted(self.rungs[self.s_max - s],
                                                                                self.rungs[-1]):
                return s
            self.skipped.append(s)

    def ask(self) -> Proposal:
        for bracket in self.active:
            p = bracket.next(self.sampler)
            if p is not None:
                return p
        s = self.next_s()
        bracket = Bracket(self.opened, s, bracket_sizes(s, self.s_max, self.eta), self.rungs[self.s_max - s:])
        self.opened += 1
        self.active.append(bracket)
        return bracket.next(self.sampler)

    def tell(self, trial: Trial, loss: float) -> None:
        budget = trial.fidelity[self.problem.axis.name]
        self.sampler.observe(trial.config, budget, loss)
        info = trial.info
        if "bracket" not in info:
            return  # e.g. the default configuration: an observation, not part of a bracket
        bracket = next(b for b in self.active if b.index == info["bracket"])
        bracket.record(info["cid"], info["rung"], trial.config, loss)
        if bracket.done:
            self.active.remove(bracket)


def make(problem: Problem, eta: int = 3) -> Hyperband:
    return Hyperband(problem, RandomSampler(problem.seeded_space()), eta)


def make_sh(problem: Problem, eta: int = 3) -> Hyperband:
    return Hyperband(problem, RandomSampler(problem.seeded_space()), eta, successive_halving=True)


def iteration_cost(problem: Problem, cost_fn, eta: int = 3) -> tuple[int, float]:
    """Trials and total cost of one full Hyperband iteration (all brackets once)."""
    hb = Hyperband(problem, RandomSampler(problem.space), eta)
    trials, cost = 0, 0.0
    for s in range(hb.s_max, -1, -1):
        for n, b in zip(bracket_sizes(s, hb.s_max, eta), hb.rungs[hb.s_max - s:]):
            trials += n
            cost += n * cost_fn(problem.fidelity(b))
    return trials, cost

"""Random search at full fidelity: the baseline every other optimizer must beat at equal cost.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "random", budget=5 * 81, seed=0)
    >>> len(run.trials)  # the default first, then 4 random configurations
    5
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ConfigSpace import ConfigurationSpace

from hpobench.optimizers.base import Problem, Proposal, Trial, values


@dataclass
class RandomSearch:
    problem: Problem
    space: ConfigurationSpace = field(init=False, repr=False)

    def __post_init__(self):
        self.space = self.problem.seeded_space()

    def ask(self) -> Proposal:
        return Proposal(values(self.space.sample_configuration()))

    def tell(self, trial: Trial, loss: float) -> None:
        pass  # random search learns nothing


def make(problem: Problem) -> RandomSearch:
    return RandomSearch(problem)

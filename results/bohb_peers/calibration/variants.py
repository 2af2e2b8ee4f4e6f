"""The 'last' variant: BOHB's KDE fitted on every configuration's last (highest-budget) observation,
pooled over budgets, as Syne Tune 0.16's LastValueMultiFidelitySearcher feeds its KDE."""
from dataclasses import dataclass, field

from hpobench.optimizers import bohb
from hpobench.optimizers.hyperband import Hyperband

POOLED = "last"  # the obs key the pooled observations are fitted under


@dataclass
class LastSampler(bohb.KDESampler):
    pooled: dict = field(init=False, default_factory=dict)  # config -> (budget, vector, loss)

    def observe(self, config, budget, loss):
        super().observe(config, budget, loss)
        key = tuple(sorted(config.items()))
        if key not in self.pooled or self.pooled[key][0] <= budget:
            self.pooled[key] = (budget, self.enc.encode(config), float(loss))

    def model_budget(self):
        return POOLED if len(self.pooled) >= self.min_points + 2 else None

    def fit(self, budget):
        self.obs[POOLED] = ([v[1] for v in self.pooled.values()], [v[2] for v in self.pooled.values()])
        return super().fit(POOLED)


def make_last(problem, sh=False, **kw):
    return Hyperband(problem, LastSampler(problem.seeded_space(), problem.seed, **kw), successive_halving=sh)

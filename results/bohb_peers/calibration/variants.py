"""The 'last' variant: BOHB's KDE fitted on every configuration's last (highest-budget) observation,
pooled over budgets, as Syne Tune 0.16's LastValueMultiFidelitySearcher feeds its KDE."""
import numpy as np

from hpobench.optimizers import bohb


class LastSampler(bohb.KDESampler):
    def observe(self, config, budget, loss):
        super().observe(config, budget, loss)
        last = self.__dict__.setdefault("lastobs", {})
        key = tuple(sorted(config.items()))
        if key not in last or last[key][0] <= budget:
            last[key] = (budget, self.enc.encode(config), float(loss))

    def model_budget(self):
        return "last" if len(self.__dict__.get("lastobs", {})) >= self.min_points + 2 else None

    def fit(self, budget):
        vals = list(self.lastobs.values())
        x, ys = np.array([v[1] for v in vals]), [v[2] for v in vals]
        good, bad = bohb.split(ys, self.min_points, self.top_n)
        kinds = self.enc.kinds
        return (bohb.KDE.fit(bohb.impute(x[good], kinds, self.rng), kinds, self.min_bandwidth),
                bohb.KDE.fit(bohb.impute(x[bad], kinds, self.rng), kinds, self.min_bandwidth))


def make_last(problem, sh=False, **kw):
    h = bohb.make(problem, **kw)
    o = h.sampler
    h.sampler = LastSampler(problem.seeded_space(), problem.seed, o.top_n, o.n_samples, o.random_fraction,
                            o.bandwidth_factor, o.min_bandwidth, kw.get("min_points"))
    h.successive_halving = sh
    return h

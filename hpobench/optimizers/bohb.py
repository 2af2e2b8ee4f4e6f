"""BOHB (Falkner, Klein & Hutter, ICML 2018): Hyperband with a multivariate KDE model.

Written from the paper because the reference implementation (hpbandster 0.7.4) does
not run on ConfigSpace 1.x. Brackets are Hyperband's (eta = 3, `hyperband.py`); new
configurations are sampled as in the paper (Algorithm 2), with two departures (below):

- a share of the configurations is drawn uniformly at random (the paper: rho = 1/3);
- the others come from a model fitted on the observations at the largest budget b that has
  N_b >= N_min + 2 of them, N_min = d + 1 (d = tuned dimensions): the best
  N_l = max(N_min, floor(q N_b)) observations (q = 15%) make the "good" density l(x),
  the worst N_g = max(N_min, N_b - N_l) the "bad" density g(x) (they overlap while
  N_b < 2 N_min, as the paper's formulas imply);
- N_s = 64 candidates are drawn from l(x) with its bandwidths multiplied by b_w = 3,
  and the one with the largest l(x)/g(x) is returned. No model yet: random.

Densities are product kernels on ConfigSpace's unit encoding: Gaussian for floats,
integers and ordinals (normal-reference bandwidths, at least 1e-3; candidates drawn
from the Gaussian truncated to [0, 1]) and Aitchison-Aitken for categoricals
(bandwidth = probability of leaving the observed category, from the same rule,
capped at (c-1)/c). As in the reference implementation, b_w widens only the
continuous kernels, and the value of a hyperparameter that is inactive in an
observation is imputed by one drawn from the same (good or bad) set where it is
active, or uniformly when it is active nowhere there; candidates are scored on all
dimensions and the inactive values dropped when decoded. Constants of a scoped space
are not modelled. Failed trials enter the model with the worst loss. Records from before the
run (`tune --warm-start`, `hpobench.optimizers.warm`) are observed at their budgets first.
Where the paper and the reference implementation differ, the paper is followed (hpbandster
keeps the good and bad sets disjoint and fits no model until that bad set has more than d points).

The two departures, both switched off by `random_fraction=1/3, coordinate_fraction=0,
select_brackets=False` (the paper's BOHB; results/bohb_peers/README.md has the measurements):

- **Coordinate draws.** Of the draws, 1/6 are uniformly random and 1/3 are a model proposal
  with one modelled dimension, chosen uniformly, redrawn uniformly over its range (the model's
  proposal as is for the remaining 1/2). A uniformly random configuration in d dimensions rarely
  beats the good set once the model has found a good region, so it stops informing the model;
  the product KDE never proposes a value of a hyperparameter far from those of the good set
  (l(x)/g(x) vanishes there). Redrawing one coordinate of a good proposal explores that
  hyperparameter's whole range where the others are good, as the one-exchange neighbourhood of
  SMAC's local search does (Hutter, Hoos & Leyton-Brown, LION 2011); the uniform draws keep
  every configuration reachable, as the paper's random fraction is there to do.
- **Rank agreement decides which brackets run.** Before Hyperband opens a bracket, the model of
  its first budget b (fitted as above on the observations at b) scores the configurations
  observed at the full budget with log l(x) - log g(x); if Kendall's tau between that score and
  their full-budget losses is <= 0 (b ranks the full-budget results no better than chance, or
  in reverse: a cheap fidelity that points to the wrong basin), the bracket is skipped and the
  next one of the cycle is taken (`hyperband.py`). It is measured only once both budgets have
  N_min + 2 observations, and again at each bracket, so a budget can regain trust. This is
  the ranking-loss weighting of lower fidelities of MFES-HB (Li et al., AAAI 2021) and the
  bracket selection of Hyper-Tune (Li et al., VLDB 2022), here as a yes/no rule on BOHB's own
  KDE. The model itself is still fitted on one budget, the largest with enough observations.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "bohb", budget=20 * 81, seed=0)
    >>> bool(run.incumbent_f1 >= run.trials["f1"].iloc[0])  # never worse than the default
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ConfigSpace import ConfigurationSpace, Constant
from scipy.special import logsumexp, ndtr, ndtri
from scipy.stats import kendalltau

from hpobench.optimizers.base import Problem, active_values, values
from hpobench.optimizers.hyperband import Hyperband

# --- encoding -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Encoding:
    """Configurations <-> vectors: unit interval for numeric hps, indices for categoricals."""

    space: ConfigurationSpace
    names: tuple[str, ...]  # modelled hyperparameters (constants excluded)
    kinds: tuple[int, ...]  # 0: continuous in [0, 1]; c >= 2: categorical with c choices

    @classmethod
    def of(cls, space: ConfigurationSpace) -> Encoding:
        names, kinds = [], []
        for name, hp in space.items():
            if isinstance(hp, Constant) or _size(hp) == 1:
                continue
            names.append(name)
            kinds.append(len(hp.choices) if hasattr(hp, "choices") else 0)
        return cls(space, tuple(names), tuple(kinds))

    @property
    def dims(self) -> int:
        return len(self.names)

    def encode(self, config: dict) -> np.ndarray:
        x = np.full(self.dims, np.nan)
        for j, name in enumerate(self.names):
            if name not in config:
                continue  # inactive
            hp, v = self.space[name], config[name]
            if hasattr(hp, "choices"):
                x[j] = list(hp.choices).index(v)
            elif hasattr(hp, "sequence"):
                x[j] = list(hp.sequence).index(v) / (len(hp.sequence) - 1)
            else:
                x[j] = float(hp.to_vector(v))
        return x

    def decode(self, x: np.ndarray) -> dict:
        cand = {}
        for name, hp in self.space.items():
            if name not in self.names:
                cand[name] = hp.value if isinstance(hp, Constant) else _only_value(hp)
        for j, name in enumerate(self.names):
            hp, v = self.space[name], x[j]
            if hasattr(hp, "choices"):
                cand[name] = hp.choices[int(v)]
            elif hasattr(hp, "sequence"):
                cand[name] = hp.sequence[int(round(np.clip(v, 0, 1) * (len(hp.sequence) - 1)))]
            else:
                cand[name] = hp.to_value(np.clip(v, 0.0, 1.0))
        return values(active_values(self.space, cand))


def _size(hp) -> int:
    if hasattr(hp, "choices"):
        return len(hp.choices)
    if hasattr(hp, "sequence"):
        return len(hp.sequence)
    return 2  # numeric ranges


def _only_value(hp):
    return (hp.choices if hasattr(hp, "choices") else hp.sequence)[0]


# --- the model ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KDE:
    """A product-kernel density estimate over encoded (and imputed) observations."""

    data: np.ndarray  # (n, d), no NaN
    bw: np.ndarray  # (d,)
    kinds: tuple[int, ...]

    @classmethod
    def fit(cls, data: np.ndarray, kinds, min_bw: float = 1e-3) -> KDE:
        n, d = data.shape
        # normal-reference (Scott) rule per dimension, as statsmodels' KDEMultivariate in hpbandster
        bw = np.maximum(1.06 * data.std(axis=0) * n ** (-1.0 / (4 + d)), min_bw)
        for j, c in enumerate(kinds):
            if c:
                bw[j] = min(bw[j], (c - 1) / c)  # beyond this, the kernel would favour other categories
        return cls(np.asarray(data, float), bw, tuple(kinds))

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        """log density at each row of x (m, d)."""
        x = np.atleast_2d(x)
        diff = x[:, None, :] - self.data[None, :, :]  # (m, n, d)
        logk = np.empty_like(diff)
        for j, c in enumerate(self.kinds):
            h = self.bw[j]
            if c:
                same = np.abs(diff[..., j]) < 0.5
                logk[..., j] = np.where(same, np.log1p(-h), np.log(h / (c - 1)))
            else:
                logk[..., j] = -0.5 * (diff[..., j] / h) ** 2 - np.log(h * np.sqrt(2 * np.pi))
        return logsumexp(logk.sum(axis=2), axis=1) - np.log(len(self.data))

    def sample(self, rng: np.random.Generator, n: int, bw_factor: float = 1.0) -> np.ndarray:
        """n draws: pick an observation, then perturb every dimension with its kernel."""
        centres = self.data[rng.integers(len(self.data), size=n)]
        out = np.empty_like(centres)
        for j, c in enumerate(self.kinds):
            m = centres[:, j]
            u = rng.random(n)
            if c:
                # Aitchison-Aitken: keep the category with prob 1 - h, else one of the other c - 1
                other = (m + 1 + rng.integers(c - 1, size=n)) % c
                out[:, j] = np.where(u < 1 - self.bw[j], m, other)
            else:
                sd = self.bw[j] * bw_factor
                lo, hi = ndtr((0 - m) / sd), ndtr((1 - m) / sd)  # Gaussian truncated to [0, 1]
                out[:, j] = np.clip(m + sd * ndtri(lo + u * (hi - lo)), 0.0, 1.0)
        return out


def split(losses, n_min: int, q: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the good (best N_l) and bad (worst N_g) observations (module docstring)."""
    losses = np.asarray(losses, float)
    n = len(losses)
    order = np.argsort(losses, kind="stable")  # ties: earlier observation ranks better
    n_good = max(n_min, int(q * n + 1e-9))
    n_bad = max(n_min, n - n_good)
    return order[:n_good], order[n - n_bad:]


def impute(data: np.ndarray, kinds, rng: np.random.Generator) -> np.ndarray:
    """Replace NaN (inactive) entries by values of the same column from other rows, else uniform."""
    data = data.copy()
    for j, c in enumerate(kinds):
        col = data[:, j]
        missing = np.isnan(col)
        if not missing.any():
            continue
        pool = col[~missing]
        if len(pool):
            col[missing] = pool[rng.integers(len(pool), size=missing.sum())]
        else:
            col[missing] = rng.integers(c, size=missing.sum()) if c else rng.random(missing.sum())
    return data


# --- the sampler ---------------------------------------------------------------------------------

@dataclass
class KDESampler:
    """BOHB's configuration sampler (module docstring); plugs into `Hyperband`."""

    space: ConfigurationSpace  # seeded copy, for the random draws
    seed: int = 0
    top_n: float = 0.15  # q
    n_samples: int = 64  # N_s
    random_fraction: float = 1 / 6  # uniform draws (the paper: rho = 1/3)
    bandwidth_factor: float = 3.0  # b_w
    min_bandwidth: float = 1e-3
    min_points: int | None = None  # N_min; default d + 1
    coordinate_fraction: float = 1 / 3  # model proposals with one dimension redrawn (the paper: 0)
    select_brackets: bool = True  # Hyperband skips brackets whose first budget disagrees (the paper: no)
    enc: Encoding = field(init=False, repr=False)
    obs: dict = field(init=False, default_factory=dict)  # budget -> ([vector], [loss])
    rng: np.random.Generator = field(init=False, repr=False)
    last: str = field(init=False, default="")  # how the last configuration was chosen

    def __post_init__(self):
        if not (0 <= self.random_fraction and 0 <= self.coordinate_fraction
                and self.random_fraction + self.coordinate_fraction <= 1):
            raise ValueError(f"need random_fraction, coordinate_fraction >= 0 with a sum <= 1, got "
                             f"{self.random_fraction} and {self.coordinate_fraction}")
        self.enc = Encoding.of(self.space)
        self.rng = np.random.default_rng([self.seed, 0xB0B])
        if self.min_points is None:
            self.min_points = self.enc.dims + 1

    def observe(self, config: dict, budget, loss: float) -> None:
        xs, ys = self.obs.setdefault(budget, ([], []))
        xs.append(self.enc.encode(config))
        ys.append(float(loss))

    def model_budget(self):
        """The largest budget with enough observations for a model, or None."""
        ok = [b for b, (xs, _) in self.obs.items() if len(xs) >= self.min_points + 2]
        return max(ok) if ok else None

    def fit(self, budget, rng: np.random.Generator | None = None) -> tuple[KDE, KDE]:
        """The good and bad KDEs on the observations at `budget` (imputing with `rng`, default the sampler's)."""
        rng = self.rng if rng is None else rng
        xs, ys = self.obs[budget]
        x = np.array(xs)
        good, bad = split(ys, self.min_points, self.top_n)
        kinds = self.enc.kinds
        good_kde = KDE.fit(impute(x[good], kinds, rng), kinds, self.min_bandwidth)
        bad_kde = KDE.fit(impute(x[bad], kinds, rng), kinds, self.min_bandwidth)
        return good_kde, bad_kde

    def agreement(self, budget, top) -> float | None:
        """Kendall's tau between the score log l - log g of the model at `budget` and the losses, at
        `top`, of the configurations observed there; None until both have N_min + 2 observations."""
        need = self.min_points + 2
        if budget == top or len(self.obs.get(budget, ((),))[0]) < need or len(self.obs.get(top, ((),))[0]) < need:
            return None
        rng = np.random.default_rng([self.seed, 0xA6, len(self.obs[budget][0]), len(self.obs[top][0])])
        good, bad = self.fit(budget, rng)  # its own stream: judging budgets does not move the sampler's
        xs, ys = self.obs[top]
        x = impute(np.array(xs), self.enc.kinds, rng)
        tau = kendalltau(bad.logpdf(x) - good.logpdf(x), ys).statistic  # low score = predicted good
        return None if np.isnan(tau) else float(tau)

    def trusted(self, budget, top) -> bool:
        """Whether Hyperband may open a bracket that starts at `budget` (module docstring)."""
        if not self.select_brackets:
            return True
        tau = self.agreement(budget, top)
        return tau is None or tau > 0

    def sample(self) -> dict:
        budget = self.model_budget()
        u = self.rng.random()
        if u < self.random_fraction or budget is None or self.enc.dims == 0:
            self.last = "random"
            return values(self.space.sample_configuration())
        good, bad = self.fit(budget)
        cands = good.sample(self.rng, self.n_samples, self.bandwidth_factor)
        best = cands[np.argmax(good.logpdf(cands) - bad.logpdf(cands))]
        self.last = f"model@{budget}"
        if u < self.random_fraction + self.coordinate_fraction:
            best = self.redraw(best)
            self.last = f"coordinate@{budget}"
        return self.enc.decode(best)

    def redraw(self, x: np.ndarray) -> np.ndarray:
        """x with one dimension, chosen uniformly, drawn uniformly over its range (a category uniformly)."""
        x = x.copy()
        j = self.rng.integers(self.enc.dims)
        c = self.enc.kinds[j]
        x[j] = self.rng.integers(c) if c else self.rng.random()
        return x


PAPER = dict(random_fraction=1 / 3, coordinate_fraction=0.0, select_brackets=False)  # Falkner et al.'s sampler


def make(problem: Problem, eta: int = 3, top_n: float = 0.15, n_samples: int = 64,
         random_fraction: float = 1 / 6, bandwidth_factor: float = 3.0, min_bandwidth: float = 1e-3,
         min_points: int | None = None, coordinate_fraction: float = 1 / 3,
         select_brackets: bool = True) -> Hyperband:
    """BOHB on `problem` (module docstring); `make(problem, **PAPER)` is the paper's."""
    sampler = KDESampler(problem.seeded_space(), problem.seed, top_n, n_samples, random_fraction,
                         bandwidth_factor, min_bandwidth, min_points, coordinate_fraction, select_brackets)
    for o in problem.warm.observations if problem.warm is not None else ():  # records from before the run
        sampler.observe(o.config, o.budget, o.loss)
    return Hyperband(problem, sampler, eta)


def make_paper(problem: Problem, **options) -> Hyperband:
    """BOHB with the paper's sampler (`PAPER`): the optimizer as it was before issue 33."""
    return make(problem, **(PAPER | options))

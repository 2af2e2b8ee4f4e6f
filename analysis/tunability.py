"""What tuning a subset of hyperparameters can buy with a given number of trainings.

Tuning a set S with N trainings while every other hyperparameter stays at an anchor
configuration `a` (the best one found) is worth

    V(S, N) = E[ max_{i <= N} f(x_i) ],   x_i = a with the coordinates of S drawn from the space,

where f is a surrogate of the metric fitted on the scope's configurations (the boosted trees
`fanova` decomposes), and its gain is V(S, N) - f(a). This is the tunability game of
HyperSHAP (Wever et al. 2025) at a finite budget, with random search standing in for the tuner:
unlike a variance share, it counts only improvements over the anchor that N draws are likely
to reach, so a small N favours few hyperparameters with wide good regions and a larger N
affords more.

The expectation is exact for the empirical distribution of R draws (common to every S, so
differences between sets carry no sampling noise of their own): with sorted predictions
v_(1) <= ... <= v_(R), E[max of N] = sum_k v_(k) [(k/R)^N - ((k-1)/R)^N].

`choose` grows S greedily from the empty set, adding the hyperparameter (with its ancestors)
or strongly interacting pair that raises V the most, and keeps the smallest set on that path
whose gain on the bagged surrogate (surrogates refitted on resampled configurations, same draws
and anchor, also give the intervals) reaches 1 - `TOLERANCE` of the largest: where the path is
flat its last rises are within the surrogates' noise and would only add dimensions to tune.
`ranges` narrows each chosen hyperparameter to where the top quantile of the predictions over S
lies.

    >>> import numpy as np
    >>> round(expected_max(np.array([0.0, 1.0]), 1), 2), round(expected_max(np.array([0.0, 1.0]), 3), 3)
    (0.5, 0.875)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ConfigSpace import ConfigurationSpace
from ConfigSpace.hyperparameters import IntegerHyperparameter

from hpobench import spaces
from hpobench.analysis import bootstrap, conditions, encode, fanova
from hpobench.analysis.encode import Encoded
from hpobench.analysis.errors import AnalysisError

DRAWS = 1000  # configurations drawn per set: the expectation's empirical distribution
QUANTILE = 0.1  # `ranges`: the top share of predictions whose values a narrowed range holds
SLACK = 0.1  # `ranges`: widening on each side, in unit codes
PAIR = 0.05  # a pair whose interaction share reaches this is also a candidate, added together
FILLS = 4  # values an inactive coordinate is integrated over in a prediction
TOLERANCE = 0.1  # `choose`: the share of the path's largest bagged gain a smaller set may give up


@dataclass(frozen=True)
class Geometry:
    """Where each hyperparameter is active, in unit codes (`conditions.active_region`)."""

    names: list[str]
    regions: list[dict[int, np.ndarray] | None]  # per hp: ancestor index -> allowed intervals; None: always
    levels: list[int | None]
    default: np.ndarray  # unit code of each hp's default value

    @classmethod
    def of(cls, space: ConfigurationSpace) -> Geometry:
        names = list(space)
        idx = {n: j for j, n in enumerate(names)}
        regions = []
        for n in names:
            r = conditions.active_region(space, n)
            regions.append(None if not r else {idx[p]: iv for p, iv in r.items()})
        default = np.array([encode.to_unit(space, n, [space[n].default_value])[0] for n in names])
        return cls(names, regions, [spaces.cells(space, n) for n in names], default)

    def uniform(self, n: int, seed: int) -> np.ndarray:
        """`n` draws of every hp's unit code under ConfigSpace's uniform sampling (cell centres for
        discrete hps), activity not yet applied."""
        U = np.random.default_rng(seed).uniform(size=(n, len(self.names)))
        for j, k in enumerate(self.levels):
            if k is not None:
                U[:, j] = (np.minimum((U[:, j] * k).astype(int), k - 1) + 0.5) / k
        return U

    def activate(self, X: np.ndarray) -> np.ndarray:
        """X with NaN where a hyperparameter's conditions fail (parents before children: the
        regions hold every ancestor, so one pass suffices)."""
        X = X.copy()
        for j, region in enumerate(self.regions):
            if not region:
                continue
            ok = np.ones(len(X), bool)
            for q, iv in region.items():
                col = X[:, q]
                ok &= np.isfinite(col) & ((col[:, None] >= iv[:, 0]) & (col[:, None] < iv[:, 1])
                                          | (col[:, None] == 1.0) & (iv[:, 1] == 1.0)).any(1)
            X[~ok, j] = np.nan
        return X

    def compose(self, anchor: np.ndarray, U: np.ndarray, tuned) -> np.ndarray:
        """Draws of the anchor with the columns `tuned` taken from `U` (an anchor's inactive hp that
        becomes active takes its default), activity applied."""
        X = np.tile(np.where(np.isfinite(anchor), anchor, self.default), (len(U), 1))
        cols = list(tuned)
        X[:, cols] = U[:, cols]
        return self.activate(X)

    def ancestors(self, j: int) -> set[int]:
        return set(self.regions[j] or ())


def smallest(values, tolerance: float = TOLERANCE) -> int:
    """The first index along a path of values (index 0: the anchor's) whose gain over the anchor reaches
    1 - `tolerance` of the largest gain; 0 when nothing gains (`choose`'s rule)."""
    rise = np.asarray(values, float) - values[0]
    return int(np.argmax(rise >= (1 - tolerance) * rise.max())) if rise.max() > 0 else 0


def expected_max(values: np.ndarray, n: int) -> float:
    """E[max of `n` i.i.d. draws] from the empirical distribution of `values` (module docstring)."""
    v = np.sort(np.asarray(values, float))
    k = np.arange(1, v.size + 1) / v.size
    return float(np.sum(v * (k ** n - (k - 1 / v.size) ** n)))


@dataclass
class Surrogate:
    """A fitted fANOVA surrogate, predicting the metric (larger is better) at unit codes."""

    partition: fanova.Partition
    live: np.ndarray  # columns of the full unit codes the surrogate was fitted on
    seed: int = 0
    interactions: dict = field(default_factory=dict)  # pair -> interaction share (fanova's top pairs)
    bounds: tuple[float, float] = (-np.inf, np.inf)  # the metric's observed range: predictions stay inside

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """The prediction at each row; an inactive coordinate (NaN) is integrated out, as in fitting, over
        `FILLS` uniform values common to every row and call, so a configuration's prediction does not
        depend on its row (a fill drawn per row would add noise that the best of n draws picks up)."""
        Xc = self.partition.cell(X[:, self.live])
        nan = np.isnan(Xc)
        some = nan.any(1)
        out = np.empty(len(Xc))
        if (~some).any():
            out[~some] = self.partition.model.predict(Xc[~some])
        if some.any():
            fill = np.random.default_rng([self.seed, 7]).uniform(size=(FILLS, 1, Xc.shape[1]))
            Z = np.where(nan[some][None], fill, Xc[some][None])
            # one fill at a time: inside one, a coordinate inactive in every row is constant (`_Sum.predict`)
            out[some] = np.mean([np.asarray(self.partition.model.predict(z), float) for z in Z], 0)
        return np.clip(out, *self.bounds)  # boosting can overshoot what any configuration reached


@dataclass
class Mean:
    """Surrogates averaged: the value under uncertainty about which of them is right (equal weights)."""

    parts: list[Surrogate]

    @property
    def live(self) -> np.ndarray:
        return np.unique(np.concatenate([s.live for s in self.parts]))

    @property
    def interactions(self) -> dict:
        out: dict = {}
        for s in self.parts:
            for k, v in s.interactions.items():
                out[k] = max(out.get(k, 0.0), v)
        return out

    @property
    def seed(self) -> int:
        return self.parts[0].seed

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return np.mean([s(X) for s in self.parts], 0)


def mean(*fitted: list[Surrogate]) -> list[Mean]:
    """Lists of surrogates (`fit_all`'s, one per table) averaged position by position: the point
    surrogates, then resample b of each (as many as the shortest list has)."""
    return [Mean(list(group)) for group in zip(*fitted)]


def surrogate(enc: Encoded, seed: int = 0, pairs: int = 0) -> Surrogate | None:
    """The boosted fANOVA surrogate of `enc`, with the interactions of its `pairs` largest shares
    (None when the table has nothing to fit: a constant metric, or no hyperparameter that varies)."""
    s = fanova.fanova(enc, seed=seed, pairs=pairs)
    part = s.extra.get("partition")
    if part is None or part.model is None:
        return None
    y = np.asarray(enc.y, float)
    y = y[np.isfinite(y) & (enc.w > 0 if enc.w is not None else True)]
    return Surrogate(part, np.asarray(s.extra["live"]), seed, s.interactions, (float(y.min()), float(y.max())))


@dataclass
class Step:
    """One set on the greedy path: what was added, V(S, N) and its rise over the previous set."""

    added: tuple[str, ...]
    value: float
    gain: float
    lower: float  # bootstrap interval of the rise
    upper: float


@dataclass
class Choice:
    """The greedy path and the set chosen on it (module docstring); values on the bagged surrogate."""

    tune: list[str]
    n: int  # draws, i.e. trainings the user will tune with
    anchor_value: float  # f(a)
    value: float  # V(chosen, N)
    lower: float  # bootstrap interval of the chosen set's gain V(chosen, N) - f(a)
    upper: float
    steps: list[Step] = field(default_factory=list)
    why: str = ""

    @property
    def gain(self) -> float:
        return self.value - self.anchor_value


def choose(enc: Encoded, anchor: dict, n: int, max_tune: int | None = None, exclude=(), n_boot: int = 30,
           level: float = 0.9, seed: int = 0, draws: int = DRAWS, pair: float | None = PAIR,
           surrogates: list[Surrogate] | None = None, tolerance: float = TOLERANCE) -> Choice:
    """The set of hyperparameters to tune with `n` trainings around `anchor`.

    The greedy path adds, at each step, the candidate (a hyperparameter with its ancestors, or a
    pair whose interaction share reaches `pair`) that raises V(S, n) the most on the point
    surrogate, up to `max_tune` hyperparameters. The chosen set is the smallest on the path whose
    gain over the anchor on the bagged surrogate (the mean prediction of the point and resampled
    surrogates, steadier than either) reaches 1 - `tolerance` of the largest such gain (0: the
    largest V): more trainings raise the value of larger sets, so the set grows with `n`. The
    empty set (tune nothing, train the anchor) can be chosen. Each step's rise and the chosen
    set's gain over the anchor carry `level` bootstrap intervals (the resampled surrogates).

    enc: the scope's configurations at one fidelity. anchor: the configuration the rest stays at.
    exclude: names never chosen (held by the user). surrogates: the point surrogate then the
    resampled ones (`fit_all`; fitted here when None).
    """
    if n < 1:
        raise AnalysisError(f"the tuning budget must be at least 1 training, got {n}")
    geo = Geometry.of(enc.space)
    sur = surrogates if surrogates is not None else fit_all(enc, n_boot, seed)
    if not sur:
        return Choice([], n, np.nan, np.nan, np.nan, np.nan, why="no surrogate: the metric does not vary")
    names = geo.names
    a, U = unit(enc.space, anchor), geo.uniform(draws, seed)
    fixed = {names.index(x) for x in exclude}
    live = set(sur[0].live.tolist()) - fixed
    single = [frozenset({j} | geo.ancestors(j)) - fixed for j in sorted(live)]
    pairs = [frozenset({names.index(x), names.index(y)} | geo.ancestors(names.index(x))
                       | geo.ancestors(names.index(y))) - fixed
             for (x, y), v in sur[0].interactions.items()
             if pair is not None and v >= pair and {names.index(x), names.index(y)} <= live]
    cand = [c for c in dict.fromkeys(single + pairs) if c]
    path, chosen = [frozenset()], frozenset()
    while True:
        left = [c for c in cand if not c <= chosen and (max_tune is None or len(chosen | c) <= max_tune)]
        if not left:
            break
        vals = [expected_max(sur[0](geo.compose(a, U, chosen | c)), n) for c in left]
        chosen = chosen | left[int(np.argmax(vals))]
        path.append(chosen)
    V = np.array([[expected_max(f(geo.compose(a, U, S)), n) for S in path] for f in sur])  # (B + 1, K + 1)
    bag = V.mean(0)
    k = smallest(bag, tolerance)
    steps = []
    for i in range(1, len(path)):
        lo, hi = _interval(V[1:, i] - V[1:, i - 1], level)
        steps.append(Step(tuple(names[j] for j in sorted(path[i] - path[i - 1])), float(bag[i]),
                          float(bag[i] - bag[i - 1]), lo, hi))
    lo, hi = _interval(V[1:, k] - V[1:, 0], level)
    why = (f"of the {len(path)} sets on the greedy path (0 to {len(path[-1])} hyperparameters), the smallest "
           f"whose gain in the expected best of {n} draws reaches {1 - tolerance:.0%} of the largest "
           f"({bag.max() - bag[0]:+.4f}) has {len(path[k])}")
    return Choice([x for j, x in enumerate(names) if j in path[k]], n, float(bag[0]), float(bag[k]), lo, hi,
                  steps, why)


def fit_all(enc: Encoded, n_boot: int, seed: int = 0) -> list[Surrogate]:
    """The point surrogate, then one per bootstrap resample of the configurations (those that fit;
    of their sampling groups when the table records them, `Encoded.groups`)."""
    point = surrogate(enc, seed, pairs=8)
    if point is None:
        return []
    out = [point]
    for b, draw in enumerate(bootstrap.resamples(enc.keys, n_boot, seed, enc.groups)):
        try:
            s = surrogate(enc.weighted(bootstrap.counts(enc.keys, draw)), seed + 1 + b)
        except AnalysisError:
            continue
        if s is not None:
            out.append(s)
    return out


def fitted(imp, n_boot: int, seed: int = 0) -> list[Surrogate]:
    """`fit_all` of an fANOVA importance's configurations, kept on the importance: the decision and the
    report's figures read the same surrogates, fitted once."""
    key = ("surrogates", n_boot, seed)
    if key not in imp.extra:
        imp.extra[key] = fit_all(imp.extra["encoded"], n_boot, seed)
    return imp.extra[key]


def value(sur: Surrogate, space: ConfigurationSpace, anchor: dict, tuned, n: int, draws: int = DRAWS,
          seed: int = 0) -> float:
    """V(tuned, n) on one surrogate: the expected best of `n` draws of the anchor with `tuned` drawn."""
    geo = Geometry.of(space)
    cols = {geo.names.index(t) for t in tuned}
    return expected_max(sur(geo.compose(unit(space, anchor), geo.uniform(draws, seed), cols)), n)


def ranges(sur: Surrogate, space: ConfigurationSpace, anchor: dict, tuned, quantile: float = QUANTILE,
           slack: float = SLACK, draws: int = 4 * DRAWS, seed: int = 0) -> dict[str, tuple | list]:
    """Per tuned hyperparameter, where the top `quantile` of the predictions over the tuned set lies
    (the rest at the anchor): a numeric one gets (low, high), widened by `slack` unit codes on each
    side and left open at a bound its top values come within `slack` of; a categorical one the levels
    seen among the top. Each range also holds the anchor's value (the tuner's first configuration).
    A hyperparameter never active among the top keeps its whole range."""
    geo = Geometry.of(space)
    cols = [geo.names.index(t) for t in tuned]
    a = unit(space, anchor)
    X = geo.compose(a, geo.uniform(draws, seed), cols)
    y = sur(X)
    top = X[y >= np.quantile(y, 1 - quantile)]
    out = {}
    for j in cols:
        name, hp = geo.names[j], space[geo.names[j]]
        u = top[:, j][np.isfinite(top[:, j])]
        if u.size == 0:
            continue
        u = np.append(u, a[j]) if np.isfinite(a[j]) else u  # the anchor stays inside: tuning starts there
        if geo.levels[j] is not None and not isinstance(hp, IntegerHyperparameter):
            out[name] = sorted({spaces.from_unit(space, name, x) for x in u}, key=str)
            continue
        lo = 0.0 if u.min() - slack <= 0 else u.min() - slack
        hi = 1.0 if u.max() + slack >= 1 else u.max() + slack
        out[name] = (spaces.from_unit(space, name, lo), spaces.from_unit(space, name, hi))
    return out


def unit(space: ConfigurationSpace, config: dict) -> np.ndarray:
    """Unit codes of a configuration (NaN for hps it lacks, i.e. inactive)."""
    return np.array([encode.to_unit(space, n, [config.get(n)])[0] for n in space])


def _interval(x: np.ndarray, level: float) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan)
    q = (1 - level) / 2
    return float(np.quantile(x, q)), float(np.quantile(x, 1 - q))

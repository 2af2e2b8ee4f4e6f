"""The scope: which hyperparameters to tune with the user's budget, in which ranges, the rest at which values.

Inputs: importance at a cheap fidelity (many configurations) and, ideally, at a higher-fidelity
probe (fewer), bootstrapped together (`importance.per_fidelity`); the anchor, the configuration
every untuned hyperparameter stays at (the best one found, confirmed at the probe where one
exists, or the space's default); and `n`, the full-fidelity trainings the user will tune with.

1. Guard. The agreement of the two importance rankings (`agreement.compare`, corrected for
   attenuation) says which data choose: its interval's lower end >= `agree`: the cheap fidelity
   (most configurations); its estimate < `disagree`: the probe alone (the cheap fidelity ranks
   unlike it); in between: both (widened: a set worth tuning under either).
2. Subset. `tunability.choose` on the chosen data: the smallest set on the greedy path of V(S, n),
   the expected best of n draws of S with the rest at the anchor, whose gain on the bagged
   surrogate reaches 1 - `tolerance` of the path's largest. Held hyperparameters (`hold`) are
   never chosen: they were not varied.
   With both fidelities choosing, V is the mean of their surrogates' (`tunability.Mean`): the
   value of a set when either could be right.
3. Ranges. `tunability.ranges`: each tuned hyperparameter narrowed to where the top quantile of the
   predictions over the tuned set lies, widened by a slack, open at a bound its best values reach.
4. The scoped space (`hpobench.spaces.narrow`): the tuned set (with ancestors) in its ranges, its
   defaults at the anchor (so a tuner's first configuration is the anchor), every other
   hyperparameter fixed at the anchor's value (children a fixed parent switches off removed).
5. Plans, predicted on the same surrogate as the expected best of random draws: tune the scope
   (n draws in the narrowed space), screen inside the scope (half the trainings' cost screens
   configurations of the scope at the cheap fidelity, ranked as well as the cheap fidelity ranks
   the probe's configurations (`screened`), and the best n/2 are trained), tune everything (n
   draws of the whole space), or train the anchor as it is. Random draws understate what a
   model-based tuner finds; the comparison between plans is what the prediction is for.

    >>> from hpobench.analysis import decision
    >>> decision.Rule().agree
    0.4
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench import spaces
from hpobench.analysis import agreement, errors, trials, tunability
from hpobench.analysis.importance import Importance
from hpobench.fidelity import Fidelity


@dataclass(frozen=True)
class Rule:
    """Parameters of the decision (module docstring)."""

    agree: float = 0.4  # lower end of the agreement's 90% interval at or above: the cheap fidelity chooses
    disagree: float = 0.2  # corrected estimate below: the probe alone chooses
    statistic: str = "spearman"
    level: float = 0.9  # of the bootstrap intervals of the gains
    quantile: float = tunability.QUANTILE
    slack: float = tunability.SLACK
    pair: float = tunability.PAIR
    tolerance: float = tunability.TOLERANCE  # of the largest gain on the greedy path, for a smaller set
    n_boot: int = 30  # surrogates refitted on resamples, for the gains' intervals


@dataclass
class Plan:
    name: str  # "scope" | "everything" | "anchor"
    predicted: float  # expected best metric (larger is better, the encoded metric's orientation)
    what: str


@dataclass
class Decision:
    verdict: str  # "scope" | "scope (probe)" | "scope (widened)" | "tune everything"
    tune: list[str]
    ranges: dict  # tuned hp -> (low, high) or levels
    fix: dict  # hp -> value it stays at
    held: dict  # hp -> value the user held during scoping (not assessed)
    removed: list[str]
    anchor: dict
    anchored_at: str
    n: int  # full-fidelity trainings the scope is chosen for
    guard: str  # one sentence: which data chose, and why
    agreement: dict
    choices: dict  # fidelity label -> tunability.Choice
    plans: list[Plan]
    space: ConfigurationSpace
    rule: Rule
    share: dict = field(default_factory=dict)  # the choosing fidelity's importance shares
    reasons: dict = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        """The recommended plan: the one predicted best; of plans tied there (`tied`), the first that
        tunes rather than the anchor as it is, since tuning the scope trains the anchor first (4.)."""
        tied = self.tied
        return next((p for p in tied if p.name != "anchor"), tied[0]) if tied else self.plans[0]

    @property
    def tied(self) -> list[Plan]:
        """The plans predicted best, equal to rounding: predictions are held inside the metric's observed
        range, so plans that all reach the best value the scope saw tie and the surrogate cannot rank them."""
        ranked = [p for p in self.plans if np.isfinite(p.predicted)]
        top = max((p.predicted for p in ranked), default=np.nan)
        return [p for p in ranked if np.isclose(p.predicted, top, rtol=1e-9, atol=0)]

    def table(self) -> pd.DataFrame:
        rows = []
        for n in dict.fromkeys([*self.tune, *self.fix, *self.held, *self.removed]):
            action = ("tune" if n in self.tune else "held" if n in self.held else "fix" if n in self.fix
                      else "removed")
            rng = self.ranges.get(n)
            rows.append(dict(hp=n, action=action, share=self.share.get(n, np.nan),
                             range="" if rng is None else _range(rng),
                             value="" if action == "tune" else self.held.get(n, self.fix.get(n, "")),
                             reason=self.reasons.get(n, "")))
        order = {"tune": 0, "fix": 1, "held": 2, "removed": 3}
        return (pd.DataFrame(rows).assign(o=lambda d: d["action"].map(order))
                .sort_values(["o", "share"], ascending=[True, False]).drop(columns="o").reset_index(drop=True))

    def summary(self) -> str:
        lines = [f"verdict: {self.verdict}: tune {len(self.tune)} of "
                 f"{len(self.tune) + len(self.fix) + len(self.removed) + len(self.held)} hyperparameters "
                 f"with {self.n} full-fidelity trainings",
                 *(f"  {n}: {_range(self.ranges[n]) if n in self.ranges else 'whole range'}" for n in self.tune),
                 f"the rest at {self.anchored_at}" + (f"; held: {', '.join(self.held)}" if self.held else ""),
                 f"guard: {self.guard}"]
        for label, c in self.choices.items():
            lines.append(f"value of tuning the set ({label}): {c.gain:+.4f} over the anchor, "
                         f"{self.rule.level:.0%} interval [{c.lower:+.4f}, {c.upper:+.4f}]; {c.why}")
        lines.append("plans (predicted best metric, random draws on the surrogate): " + "; ".join(
            f"{p.name} {p.predicted:.4f}" for p in self.plans) + f"; recommended: {self.plan.name}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "tune": self.tune, "ranges": {k: list(v) for k, v in self.ranges.items()},
                "fix": self.fix, "held": self.held, "removed": self.removed, "anchor": self.anchor,
                "anchored_at": self.anchored_at, "n": self.n, "guard": self.guard, "agreement": self.agreement,
                "plans": [asdict(p) for p in self.plans], "recommended": self.plan.name, "rule": asdict(self.rule),
                "choices": {k: {"tune": c.tune, "gain": c.gain, "lower": c.lower, "upper": c.upper, "why": c.why,
                                "steps": [asdict(s) for s in c.steps]} for k, c in self.choices.items()}}


def top(df: pd.DataFrame, space: ConfigurationSpace, fidelities, metric, k: int = 3) -> list[dict]:
    """The `k` best configurations (successful trials) at the first of `fidelities` that has any:
    [{fidelity (label), value, config_id, config (typed values)}], best first."""
    for f in fidelities:
        rows = trials.at(df, f)
        rows = rows[rows["status"].astype(str) == "ok"] if "status" in rows else rows
        if rows.empty:
            continue
        col = trials.metric_column(rows, metric)
        y = metric.sign * pd.to_numeric(rows[col], errors="coerce")
        rows = rows.assign(_y=y)[np.isfinite(y)].sort_values("_y", ascending=False, kind="stable").head(k)
        return [{"fidelity": Fidelity.of(f).label, "value": float(r[col]), "config_id": int(r.get("config_id", -1)),
                 "config": spaces.typed(space, {n: r[trials.CONFIG + n] for n in space if trials.CONFIG + n in r})}
                for _, r in rows.iterrows()]
    return []


def decide(low: Importance, space: ConfigurationSpace, anchor: dict, n: int, probe: Importance | None = None,
           anchored_at: str = "the best configuration found", hold: dict | None = None,
           max_tune: int | None = None, rule: Rule = Rule(), seed: int = 0,
           screen_cost: float = np.nan) -> Decision:
    """The scope for tuning with `n` full-fidelity trainings (module docstring).

    space: the space scoped (held hyperparameters, if any, are constants in it; `hold` names them
    with their values for the report). anchor: a configuration of `space`. screen_cost: one cheap
    evaluation's cost in full trainings (the screening plan; NaN leaves it out).
    """
    if n < 1:
        raise errors.AnalysisError(f"the tuning budget must be at least 1 full-fidelity training, got {n}")
    hold = dict(hold or {})
    if list(space) != low.names:
        raise errors.AnalysisError("the importance was computed on another space than the one to scope")
    agr, sources, guard = _guard(low, probe, rule)
    fitted = [tunability.fitted(imp, rule.n_boot, seed) for imp in sources]
    sur = fitted[0] if len(fitted) == 1 else tunability.mean(*fitted)
    label = " + ".join(imp.fidelity.label for imp in sources)
    choice = tunability.choose(sources[0].extra["encoded"], anchor, n, max_tune, (), rule.n_boot, rule.level, seed,
                               pair=rule.pair, surrogates=sur, tolerance=rule.tolerance)
    keep = set(choice.tune)
    _, fix, removed, kept = spaces.reduce(space, keep, anchor)
    tune = [x for x in space if x in kept]
    rng = tunability.ranges(sur[0], space, anchor, tune, rule.quantile, rule.slack, seed=seed) if tune else {}
    scoped = spaces.narrow(space, fix, rng, {k: v for k, v in anchor.items() if k in tune})
    share = dict(zip(sources[0].names, sources[0].share))
    reasons = {}
    for st in choice.steps:
        for x in st.added:
            reasons.setdefault(x, f"greedy step gain {st.gain:+.4f} [{st.lower:+.4f}, {st.upper:+.4f}]")
    for x in tune:
        reasons[x] = ("tuned: " + reasons[x]) if x in reasons and x in keep else \
            reasons.get(x, "tuned: an ancestor of a tuned hyperparameter")
    for x in fix:
        reasons[x] = f"fixed at {anchored_at}" + (f" ({low.notes[x]})" if x in low.notes else "")
    for x in removed:
        reasons[x] = "removed: inactive under the fixed values of its parents"
    for x in hold:
        reasons[x] = "held by the user during scoping: not assessed"
    plans = _plans(sur[0], space, anchor, tune, rng, n, seed, _rho(low, probe), screen_cost)
    verdict = {"cheap": "scope", "probe": "scope (probe)", "both": "scope (widened)"}[agr["source"]]
    return Decision(verdict, tune, {k: v for k, v in rng.items() if k in tune}, fix, hold, removed, anchor,
                    anchored_at, n, guard, agr, {label: choice}, plans, scoped, rule,
                    share, reasons)


def everything(space: ConfigurationSpace, why: str, n: int = 1, rule: Rule = Rule(),
               hold: dict | None = None) -> Decision:
    """The decision when the data cannot support a subset (every training failed, too few
    configurations): tune everything, and say why."""
    plans = [Plan("everything", np.nan, f"tune all {len(list(space))} hyperparameters with {n} trainings")]
    return Decision("tune everything", list(space), {}, {}, dict(hold or {}), [], {}, "nowhere (nothing fixed)", n,
                    why, {}, {}, plans, space, rule, reasons={x: f"tuned: {why}" for x in space})


def _rho(low: Importance, probe: Importance | None) -> float:
    """Spearman of the metric between the cheap fidelity and the probe on their shared configurations."""
    if probe is None:
        return np.nan
    a, b = low.extra["encoded"], probe.extra["encoded"]
    ya = pd.Series(a.y, index=a.keys).groupby(level=0).mean()
    yb = pd.Series(b.y, index=b.keys).groupby(level=0).mean()
    common = ya.index.intersection(yb.index)
    return float(agreement.statistic("spearman", ya[common].to_numpy(), yb[common].to_numpy())) \
        if len(common) >= 3 else np.nan


def _guard(low: Importance, probe: Importance | None, rule: Rule) -> tuple[dict, list[Importance], str]:
    if probe is None:
        return ({"statistic": rule.statistic, "between": "no probe", "source": "cheap"}, [low],
                "no probe fidelity: the subset and ranges come from the cheap fidelity unchecked")
    row = agreement.compare(low, probe).set_index("statistic").loc[rule.statistic]
    agr = {"statistic": rule.statistic, "between": f"{row.a} vs {row.b}", "estimate": float(row.corrected),
           "raw": float(row.estimate), "lower": float(row.lower), "upper": float(row.upper), "level": low.level,
           "n_boot": int(row.n_boot), "correction": row.correction}
    text = f"{rule.statistic} {row.corrected:.2f} [{row.lower:.2f}, {row.upper:.2f}]"
    if row.lower >= rule.agree:
        agr["source"] = "cheap"
        return agr, [low], (f"the cheap fidelity ranks importance like the probe ({text}, lower end >= "
                            f"{rule.agree:g}), so its {low.n_configs} configurations choose the subset and ranges")
    if row.corrected < rule.disagree:
        agr["source"] = "probe"
        return agr, [probe], (f"the cheap fidelity ranks importance unlike the probe ({text} < {rule.disagree:g}), "
                              f"so the probe's {probe.n_configs} configurations alone choose the subset and ranges")
    agr["source"] = "both"
    return agr, [low, probe], (f"the agreement of the cheap fidelity with the probe is uncertain ({text}), so "
                               "both fidelities choose the subset and ranges (their surrogates averaged)")


def _plans(sur, space, anchor, tune, rng, n, seed, rho=np.nan, screen_cost=np.nan) -> list[Plan]:
    """Each plan's expected best metric on the surrogate (module docstring, 5)."""
    geo = tunability.Geometry.of(space)
    a = tunability.unit(space, anchor)
    out = [Plan("anchor", float(sur(a[None])[0]), "train the anchor as it is")]
    if tune:
        narrowed = spaces.narrow(space, {k: v for k, v in anchor.items() if k not in tune and k in space}, rng,
                                 {k: v for k, v in anchor.items() if k in tune})
        v = sur(np.array([tunability.unit(space, dict(c)) for c in _sample(narrowed, tunability.DRAWS, seed)]))
        out.append(Plan("scope", tunability.expected_max(v, n), f"tune {len(tune)} hyperparameter(s) in their "
                        f"narrowed ranges, the rest at the anchor, with {n} trainings"))
        m, k = screen_sizes(n, screen_cost)
        m = min(m, tunability.DRAWS)  # screening more than the empirical distribution holds adds nothing
        if np.isfinite(rho) and m > k:
            out.append(Plan("screen", screened(v, m, k, rho, seed), f"screen {m} configurations of the scope at "
                            f"the cheap fidelity, then train the best {k} fully"))
    everything = tunability.expected_max(sur(geo.activate(geo.uniform(tunability.DRAWS, seed))), n)
    out.append(Plan("everything", everything, f"tune all {len(list(space))} hyperparameters with {n} trainings"))
    return out


def screen_sizes(n: int, screen_cost: float) -> tuple[int, int]:
    """(m, k) of the screening plan with `n` full trainings: m configurations screened at the cheap
    fidelity with half the trainings' cost (`screen_cost`: one cheap evaluation in full trainings; 0
    screened when it is unknown), the best k = n/2 trained fully."""
    k = max(1, n // 2)
    return (int((n - k) / screen_cost) if np.isfinite(screen_cost) and screen_cost > 0 else 0), k


def screened(values: np.ndarray, m: int, k: int, rho: float, seed: int = 0, reps: int = 400) -> float:
    """Expected best of the `k` best-screened of `m` draws from `values`, when the screen ranks them
    with Spearman `rho` to the truth (a Gaussian copula: Pearson 2 sin(pi rho / 6) on normal scores)."""
    rng = np.random.default_rng(seed)
    r = np.clip(2 * np.sin(np.pi * np.clip(rho, -1, 1) / 6), -1, 1)
    best = np.empty(reps)
    for i in range(reps):
        v = rng.choice(values, m)
        z = (np.argsort(np.argsort(v)) + 0.5) / m
        score = r * _normal(z) + np.sqrt(1 - r ** 2) * rng.standard_normal(m)
        best[i] = v[np.argsort(-score)[:k]].max()
    return float(best.mean())


def _normal(p: np.ndarray) -> np.ndarray:
    from scipy.stats import norm
    return norm.ppf(p)


def _sample(space: ConfigurationSpace, k: int, seed: int) -> list[dict]:
    return spaces.sample(space, k - 1, seed)


def _range(r) -> str:
    if isinstance(r, tuple):
        return f"[{r[0]:.4g}, {r[1]:.4g}]"
    return "{" + ", ".join(map(str, r)) + "}"

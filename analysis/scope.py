"""The scoping decision: which hyperparameters to tune, which to fix, and the reduced space.

Input: importance at a cheap fidelity (many configurations) and, ideally, at a
higher-fidelity probe (few configurations), bootstrapped together
(`importance.per_fidelity`). The agreement between the two rankings decides how
far the cheap ranking is trusted:

- high   (lower bound of the agreement interval >= `agree`): keep the smallest set
          of hyperparameters that carries `target` of the cheap fidelity's
          explained variance (shares relative to their sum);
- uncertain (otherwise, corrected estimate >= `disagree`, or no probe): keep the
          union of the `target_uncertain` sets of both fidelities;
- low    (corrected estimate < `disagree`): the cheap fidelity ranks importance
          unlike the probe: fix nothing and say that a higher fidelity is needed.

The agreement is an estimate with a centred bootstrap interval that contains it
(`hpobench.analysis.agreement`), printed with the interval's meaning and a noise
reference: the cheap fidelity's agreement with itself at the probe's sample size.

In every case a hyperparameter that belongs to the chosen set in at least half of
the bootstrap resamples is kept too (it may matter), and the ancestors of a kept
hyperparameter are kept (fixing them could switch it off). Everything else is
fixed, at the space's default or at the value the cheap fidelity favours
(`fix_at`), and children switched off by a fixed parent disappear
(`hpobench.spaces.fix`).

Defaults of `Rule` (experiments/studies/importance_synthetic.py --stage agreement; 40
synthetic instances, 300 cheap configurations + a 100-configuration full probe,
results/analysis_synthetic/rule_grid.csv; agreement corrected for attenuation,
`hpobench.analysis.agreement`): with agree = 0.4 the rule scoped 8 of 8 instances designed
to agree (Spearman 1), 1 of 8 designed at 0.5 and none below; with target = 0.9
the kept set carried >= 85% of the true full-fidelity variance in only 78% of the
scoped instances, with target = 0.95 in all of them (mean 94%, 6.4 of 12 hps
tuned). disagree = 0.2 (on the corrected estimate) sent 20 of 24 instances
designed at 0 or below to "higher fidelity needed", and 1 of 8 designed at 0.5.

Stopping rule (`Decision.settled`, used by the main job's rounds, experiments/scope.py):
a decision is settled when (1) the agreement interval lies wholly on one side of `agree`
and of `disagree` (`clears`: a narrower interval, from more configurations, would likely
not change the verdict) and (2) in at least `stable` of the bootstrap resamples the rule's
set lies within the kept set (`stability`: fixing the rest is safe in that resample).
Undecided when the budget ends, `outlook` estimates the cost that would likely decide it.

Adaptive (rounds 20+15, then up to 3 steps, this stopping rule) vs the fixed design (40+15 in
one go) at equal budget 300 on the synthetic family, seeds 0-19 (20 instances, 4 per designed
agreement 1, 0.5, 0, -0.5, -1), 20 resamples (results/scope_adaptive/summary.md, runs.csv;
`python -m hpobench.experiments.studies.scope_adaptive --stage all`; threshold from calibration seeds
100-104, where every threshold 0.5-0.9 stopped alike). Adaptive does NOT win:

    design    runs  recall  captured  captured_p10  tuned   cost  decided
    adaptive    20    0.90     0.931         0.756   9.95  285.6     0.15
    fixed       20    0.98     0.980         0.956  10.85  245.7     0.15

Paired by instance, adaptive keeps less of the true variance in 12, more in 3, ties 5 (sign
test p = 0.035; mean -0.048) and tunes fewer hps in 12 (mean -0.9). At 15-21 probe
configurations the agreement interval is ~0.6 wide (the noise reference, the cheap fidelity
against itself at the probe's size, is itself 0.2-0.9), so it rarely clears both thresholds;
adaptive spends its rounds on fewer cheap configurations (35 vs 40 at the end) and fixes hps
the fixed design keeps. So the main job's default is the fixed design (`--adaptive` opts in);
both say UNDECIDED with an `outlook` when the budget ends first.

    >>> from hpobench.analysis import scope
    >>> scope.smallest_set([0.5, 0.3, 0.15, 0.05], 0.9)
    [0, 1, 2]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench import spaces
from hpobench.analysis import agreement, data, fanova
from hpobench.analysis.importance import Importance


@dataclass(frozen=True)
class Rule:
    """Parameters of the decision (module docstring)."""

    target: float = 0.95  # asks 95% of the *estimated* variance to keep >= 90% of the true one
    target_uncertain: float = 0.97
    agree: float = 0.4  # lower bound of the 90% interval of the Spearman agreement
    disagree: float = 0.2
    statistic: str = "spearman"
    fix_at: str = "default"  # or "low-fidelity"
    resample_keep: float = 0.5
    # settled: >= this share of resamples tune nothing the decision fixes, and the agreement interval
    # lies on one side of `agree` and of `disagree` (`Decision.settled`). 0.5: calibrated on seeds
    # 100-104 (results/scope_adaptive/calibration.json), where 0.5-0.9 stopped alike; the lowest wins
    stable: float = 0.5


@dataclass
class Decision:
    verdict: str  # "scope" | "scope-conservative" | "higher-fidelity-needed"
    tune: list[str]
    fix: dict  # hp -> fixed value
    removed: list[str]  # children switched off by a fixed parent
    reasons: dict[str, str]
    agreement: dict
    rule: Rule
    space: ConfigurationSpace
    fixed_at: str
    share: dict[str, float] = field(default_factory=dict)
    stability: float = np.nan  # share of resamples whose rule tunes nothing this decision fixes
    clears: bool = False  # the agreement interval lies on one side of each threshold
    reference: dict = field(default_factory=dict)  # noise reference of the agreement (`agreement.reference`)
    rounds: list[dict] = field(default_factory=list)  # the job's rounds (`experiments/scope.py`)
    budget: float = np.nan  # the job's budget, for `outlook`

    @property
    def settled(self) -> bool:
        """Stable enough to stop sampling: more configurations would likely not change it."""
        return bool(self.clears and self.stability >= self.rule.stable)

    def table(self) -> pd.DataFrame:
        rows = []
        for n in self.share:
            action = "tune" if n in self.tune else "fix" if n in self.fix else "removed"
            rows.append(dict(hp=n, action=action, share=self.share[n],
                             value=self.fix.get(n, ""), reason=self.reasons.get(n, "")))
        return pd.DataFrame(rows).sort_values("share", ascending=False).reset_index(drop=True)

    def summary(self) -> str:
        a, r = self.agreement, self.rule
        lines = [f"verdict: {self.verdict} ({'decided' if self.settled else 'UNDECIDED'})"]
        if "estimate" in a:
            lines += [f"agreement of the importance rankings ({a['statistic']}, {a['between']}): "
                      f"{a['estimate']:.2f}, {a['level']:.0%} interval [{a['lower']:.2f}, {a['upper']:.2f}]"
                      + (" (corrected for attenuation)" if a.get("correction") == "attenuation" else ""),
                      f"  interval: the estimate plus the spread of the agreement over {a['n_boot']} bootstrap "
                      f"resamples of the configurations ({a['level']:.0%} of them, around their median)"]
            ref = self.reference
            if ref:
                lines.append(f"  noise reference: {ref['estimate']:.2f} [{ref['lower']:.2f}, {ref['upper']:.2f}], "
                             f"{ref['what']}: what a probe ranking exactly like the low fidelity would show")
            lines.append(f"  judged by the rule: scope if the interval's lower end >= {r.agree:g}, higher fidelity "
                         f"needed if the estimate < {r.disagree:g}; decided once the interval is clear of both "
                         f"({'it is' if self.clears else 'it is not'})")
        else:
            lines.append(f"agreement: none ({a.get('between')}); the verdict cannot be decided without a probe")
        lines.append(f"stability: in {self.stability:.0%} of the bootstrap resamples the rule tunes nothing this "
                     f"decision fixes (decided at >= {r.stable:.0%})")
        if self.rounds:
            lines.append(f"rounds: {len(self.rounds)}: " + ", ".join(
                f"{x['n_low']}+{x['n_probe']} configs (cost {x['cost']:.3g}, stability {x['stability']:.0%})"
                for x in self.rounds))
            lines.append(outlook(self))
        lines += [f"tune {len(self.tune)}: {', '.join(self.tune)}",
                  f"fix {len(self.fix)} (at {self.fixed_at}): " + ", ".join(f"{k}={v!r}" for k, v in self.fix.items()),
                  f"removed (inactive under fixed parents): {', '.join(self.removed) or 'none'}",
                  f"rule: {asdict(self.rule)}"]
        return "\n".join(lines)


def smallest_set(shares, target: float) -> list[int]:
    """Indices of the fewest largest shares whose sum reaches `target` of the total."""
    s = np.clip(np.asarray(shares, float), 0, None)
    if s.sum() == 0:
        return []
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(s[order]) / s.sum()
    return sorted(order[: int(np.searchsorted(cum, target - 1e-12) + 1)].tolist())


def decide(low: Importance, space: ConfigurationSpace, probe: Importance | None = None,
           rule: Rule = Rule()) -> Decision:
    """Decide the scope from `low` (cheap fidelity) and the optional `probe` (higher fidelity)."""
    if rule.fix_at not in ("default", "low-fidelity"):
        raise data.AnalysisError(f"fix_at must be 'default' or 'low-fidelity', got {rule.fix_at!r}")
    names = low.names
    if list(space) != names:
        raise data.AnalysisError("the importance was computed on another space than the one to scope")
    reasons: dict[str, str] = {}
    if probe is None:
        agr = {"statistic": rule.statistic, "between": "no probe"}
        verdict = "scope-conservative"
    else:
        row = agreement.compare(low, probe).set_index("statistic").loc[rule.statistic]
        # estimate: corrected for attenuation, the value its interval is about (`agreement`)
        agr = {"statistic": rule.statistic, "between": f"{row.a} vs {row.b}", "estimate": float(row.corrected),
               "raw": float(row.estimate), "lower": float(row.lower), "upper": float(row.upper),
               "level": low.level, "n_boot": int(row.n_boot), "correction": row.correction}
        if row.lower >= rule.agree:
            verdict = "scope"
        elif row.corrected < rule.disagree:
            verdict = "higher-fidelity-needed"
        else:
            verdict = "scope-conservative"
    share = dict(zip(names, low.share))
    sources, target = [], None
    if verdict == "higher-fidelity-needed":
        keep = {n for n in names if n not in low.notes or probe is not None and n not in probe.notes}
        for n in keep:
            reasons[n] = (f"kept: the cheap fidelity disagrees with the probe "
                          f"({rule.statistic} {agr['estimate']:.2f} < {rule.disagree}); evaluate at a "
                          f"higher fidelity before scoping")
    else:
        target = rule.target if verdict == "scope" else rule.target_uncertain
        sources = [low] if verdict == "scope" else [low] + ([probe] if probe is not None else [])
        keep = set()
        for imp in sources:
            chosen = {names[i] for i in smallest_set(imp.share, target)}
            for n in chosen - keep:
                reasons[n] = (f"kept: in the smallest set carrying {target:.0%} of the explained "
                              f"variance at {imp.fidelity.label} (share {dict(zip(names, imp.share))[n]:.3f})")
            keep |= chosen
            for n, p in _resample_membership(imp, target).items():
                if n not in keep and p >= rule.resample_keep:
                    keep.add(n)
                    reasons[n] = (f"kept: in the {target:.0%} set in {p:.0%} of the bootstrap resamples "
                                  f"at {imp.fidelity.label}")
    favoured = _favoured(low, space) if rule.fix_at == "low-fidelity" else {}
    reduced, fix, removed, kept = reduce(space, keep, favoured)
    for n in sorted(kept - keep):
        child = next(c for c in sorted(keep) if n in _ancestors(space, c))
        reasons[n] = f"kept: {child} (kept) is conditional on it"
    for n in removed:
        reasons[n] = "removed: inactive under the fixed values of its parents"
    for n in fix:
        why = low.notes.get(n) or f"share {share[n]:.3f}, outside the kept set"
        where = "value favoured at " + low.fidelity.label if n in favoured else "default"
        reasons[n] = f"fixed at {where}: {why}"
    keep = kept
    tune = [n for n in space if n in keep]
    return Decision(verdict, tune, fix, removed, reasons, agr, rule, reduced,
                    "the value favoured at " + low.fidelity.label if favoured else "default", share,
                    stability(space, sources, target, kept), clears(agr, rule))


def stability(space: ConfigurationSpace, sources: list[Importance], target: float | None, kept: set) -> float:
    """Share of the bootstrap resamples in which the rule's set (the `target` sets of `sources`
    and their ancestors, from resample b of each) lies within `kept`: fixing the rest is then
    safe in that resample. 1 when nothing is chosen by shares (everything kept)."""
    if not sources:
        return 1.0
    ok = np.all([np.isfinite(i.replicates).all(1) for i in sources], axis=0)
    if not ok.any():
        return 0.0
    names, hits = sources[0].names, 0
    for b in np.flatnonzero(ok):
        chosen = {names[j] for imp in sources for j in smallest_set(imp.replicates[b], target)}
        for n in list(chosen):
            chosen |= _ancestors(space, n)
        hits += chosen <= kept
    return float(hits / ok.sum())


def clears(agr: dict, rule: Rule) -> bool:
    """The agreement interval lies wholly on one side of `agree` and of `disagree`: more
    configurations, narrowing it, would likely not change the verdict."""
    if "estimate" not in agr:
        return False
    return not any(bool(agr["lower"] < t <= agr["upper"]) for t in (rule.agree, rule.disagree))


def outlook(dec: Decision, cap: float = 10.0) -> str:
    """What the rounds say: decided, or undecided and about how much more cost would likely decide it.

    Two extrapolations from the rounds (`dec.rounds`: cost, n_probe, stability; the last one is
    `dec`), the larger wins. Agreement: the interval narrows as 1/sqrt(n), so clearing a threshold t
    at distance d from the estimate with half-width h (towards t) needs (h / d)^2 times the
    configurations, hence the cost. Stability: linear in log cost through the last two rounds,
    extended to `rule.stable`. Beyond `cap` times the cost spent it says so.
    """
    r = dec.rounds
    spent, left = r[-1]["cost"], dec.budget - r[-1]["cost"]
    if dec.settled:
        return (f"decided after round {len(r)}: cost {spent:.3g} of {dec.budget:.3g}"
                + (f" ({left:.3g} left unspent)" if left > 0 else ""))
    fa, fs = _agreement_factor(dec.agreement, dec.rule), _stability_factor(r, dec.rule.stable)
    head = (f"UNDECIDED when the budget ran out (cost {spent:.3g} of {dec.budget:.3g}, "
            + ("1 round)" if len(r) == 1 else f"{len(r)} rounds)"))
    if len(r) == 1 and fs > 1:  # one round has no trend in stability to extend
        agreement = (f"the agreement alone would likely clear the rule with about {fa:.1f}x the cost spent"
                     if fa <= cap else f"the agreement alone would not likely clear the rule within {cap:g}x")
        return head + (f"; {agreement}; stability ({r[-1]['stability']:.0%} of resamples, {dec.rule.stable:.0%} "
                       "needed) cannot be extrapolated from one round (--adaptive samples in rounds)")
    factor = max(fa, fs)
    if not np.isfinite(factor) or factor > cap:
        return head + f"; not likely decided within {cap:g}x the cost spent (the rounds do not converge on it)"
    return head + (f"; likely decided with about {factor:.1f}x the cost spent, i.e. a budget of "
                   f"about {spent * factor:.3g} ({spent * (factor - 1):.3g} more)")


def _agreement_factor(agr: dict, rule: Rule) -> float:
    if "estimate" not in agr:
        return np.inf
    e, lo, hi, f = agr["estimate"], agr["lower"], agr["upper"], 1.0
    for t in (rule.agree, rule.disagree):
        if lo < t <= hi:
            d, h = abs(e - t), (e - lo if e >= t else hi - e)
            f = max(f, (h / d) ** 2 if d > 1e-9 else np.inf)
    return f


def _stability_factor(rounds: list[dict], stable: float) -> float:
    s = rounds[-1]["stability"]
    if s >= stable:
        return 1.0
    if len(rounds) < 2:
        return np.inf
    (c1, s1), (c2, s2) = ((x["cost"], x["stability"]) for x in rounds[-2:])
    slope = (s2 - s1) / np.log(c2 / c1)
    return float(np.exp((stable - s2) / slope)) if slope > 0 else np.inf


def reduce(space: ConfigurationSpace, keep, values: dict | None = None):
    """The space with `keep` and their ancestors tunable and every other hyperparameter fixed
    (at `values`, else its default); children a fixed parent switches off are removed.

    Returns (reduced space, fixed values, removed names, kept names).

        >>> from hpobench import spaces
        >>> cs, fixed, removed, kept = reduce(spaces.resnet(), {"sgd_momentum"})
        >>> sorted(kept), removed
        (['optimizer', 'sgd_momentum'], ['clip_norm', 'cutout_frac', 'step_drops', 'step_gamma'])
    """
    unknown = sorted(set(keep) - set(space))
    if unknown:
        raise data.AnalysisError(f"cannot keep unknown hyperparameter(s) {unknown}")
    kept = set(keep)
    for n in list(kept):  # fixing an ancestor could switch a kept hp off
        kept |= _ancestors(space, n)
    values = values or {}
    fix, removed = {}, []
    for n in space:  # parents first
        if n in kept:
            continue
        if not _can_be_active(space, n, fix, removed):
            removed.append(n)
            continue
        v = values.get(n, space[n].default_value)
        fix[n] = v.item() if hasattr(v, "item") else v
    reduced = spaces.fix(space, fix) if fix else space
    spaces.check_subspace(reduced, space)
    return reduced, fix, removed, kept


def _resample_membership(imp: Importance, target: float) -> dict[str, float]:
    ok = np.isfinite(imp.replicates).all(1)
    if not ok.any():
        return {}
    hits = np.zeros(len(imp.names))
    for r in imp.replicates[ok]:
        hits[smallest_set(r, target)] += 1
    return dict(zip(imp.names, hits / ok.sum()))


def _ancestors(space: ConfigurationSpace, name: str) -> set[str]:
    out = set()
    for p in space.parents_of[name]:
        out |= {p.name} | _ancestors(space, p.name)
    return out


def _can_be_active(space: ConfigurationSpace, name: str, fixed: dict, removed: list) -> bool:
    """False if a condition of `name` fails whatever the tuned values, given the fixed
    (and removed, i.e. never active) parents."""
    for cond in space.parent_conditions_of[name]:
        parts = getattr(cond, "components", (cond,))
        is_or = type(cond).__name__ == "OrConjunction"
        results = []
        for c in parts:
            p = c.parent.name
            if p in removed:
                results.append(False)
            else:
                results.append(True if p not in fixed else bool(c.satisfied_by_value({p: fixed[p]})))
        if (not any(results)) if is_or else (not all(results)):
            return False
    return True


def _favoured(low: Importance, space: ConfigurationSpace) -> dict:
    """Per hyperparameter, the value the cheap fidelity favours.

    With a fANOVA surrogate: the argmax of its marginal curve (per level for
    discrete hps, on 101 points otherwise). Otherwise: the best configuration's value.
    """
    part, live = low.extra.get("partition"), low.extra.get("live")
    out = {}
    if part is not None:
        for c, j in enumerate(live):
            n = low.names[j]
            k = data.cells(space, n)
            grid = (np.arange(k) + 0.5) / k if k is not None and k <= 1000 else np.linspace(0, 1, 101)
            curve = fanova.marginal(part, c, grid).mean(0)
            out[n] = data.from_unit(space, n, float(grid[int(np.argmax(curve))]))
        return out
    enc = low.extra.get("encoded")
    if enc is not None:
        best = enc.X[int(np.argmax(enc.y))]
        out = {n: data.from_unit(space, n, u) for n, u in zip(enc.names, best) if np.isfinite(u)}
    return out

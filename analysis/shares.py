"""The variance-share scoping rule: keep the hyperparameters that carry most of fANOVA's variance.

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

Stopping rule (`Decision.settled`, the scope job's adaptive rounds, experiments/scope.py):
a decision is settled when (1) the agreement interval lies wholly on one side of `agree`
and of `disagree` (`clears`: a narrower interval, from more configurations, would likely
not change the verdict) and (2) in at least `stable` of the bootstrap resamples the rule's
set lies within the kept set (`stability`: fixing the rest is safe in that resample).
Undecided when the budget ends, `outlook` estimates the cost that would likely decide it.

The defaults of `Rule` were calibrated on the synthetic family (results/analysis_synthetic/README.md,
"The rule's defaults"); the stopping rule (`Decision.settled`) drives the scope job's adaptive design,
which lost to the fixed design at equal budget (results/scope_adaptive/README.md).

This is study v2's rule ("the tool" of its live comparison). The scope job's default is the
budget-aware rule, `hpobench.analysis.decision`; `hpobench scope --rule variance` runs this one.

    >>> from hpobench.analysis import shares
    >>> shares.smallest_set([0.5, 0.3, 0.15, 0.05], 0.9)
    [0, 1, 2]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench import spaces
from hpobench.analysis import agreement, errors, fanova
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
        raise errors.AnalysisError(f"fix_at must be 'default' or 'low-fidelity', got {rule.fix_at!r}")
    names = low.names
    if list(space) != names:
        raise errors.AnalysisError("the importance was computed on another space than the one to scope")
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
    reduced, fix, removed, kept = spaces.reduce(space, keep, favoured)
    for n in sorted(kept - keep):
        child = next(c for c in sorted(keep) if n in spaces.ancestors(space, c))
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
            chosen |= spaces.ancestors(space, n)
        hits += chosen <= kept
    return float(hits / ok.sum())


def clears(agr: dict, rule: Rule) -> bool:
    """The agreement interval lies wholly on one side of `agree` and of `disagree`: more
    configurations, narrowing it, would likely not change the verdict."""
    if "estimate" not in agr:
        return False
    return not any(bool(agr["lower"] < t <= agr["upper"]) for t in (rule.agree, rule.disagree))


def _resample_membership(imp: Importance, target: float) -> dict[str, float]:
    ok = np.isfinite(imp.replicates).all(1)
    if not ok.any():
        return {}
    hits = np.zeros(len(imp.names))
    for r in imp.replicates[ok]:
        hits[smallest_set(r, target)] += 1
    return dict(zip(imp.names, hits / ok.sum()))


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
            k = spaces.cells(space, n)
            grid = (np.arange(k) + 0.5) / k if k is not None and k <= 1000 else np.linspace(0, 1, 101)
            curve = fanova.marginal(part, c, grid).mean(0)
            out[n] = spaces.from_unit(space, n, float(grid[int(np.argmax(curve))]))
        return out
    enc = low.extra.get("encoded")
    if enc is not None:
        best = enc.X[int(np.argmax(enc.y))]
        out = {n: spaces.from_unit(space, n, u) for n, u in zip(enc.names, best) if np.isfinite(u)}
    return out

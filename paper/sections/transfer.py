"""Study v2's transfer tests in words (`curves.json`'s "transfer" and "dataset", from `analysis.study.transfer`):
does agreement depend on the cost ratio alone, across scales and datasets."""

from __future__ import annotations

from hpobench.paper.render import ci


def gap(t: dict) -> tuple[str, str, float | str]:
    """A transfer result: the curves' difference at its cost ratio, the slopes' difference, and
    the largest difference at that ratio the intervals leave open, or "differ" when an interval
    excludes 0, or "untested" when one is not finite."""
    same = (t["same"], t["same_slope"])
    return (f"{ci(t['difference'], t['lower'], t['upper'])} at cost ratio {t['at']:.3f}",
            ci(t['slope_difference'], t['slope_lower'], t['slope_upper']),
            "differ" if False in same else "untested" if None in same else max(-t["lower"], t["upper"]))


def verdict(view: str, t: dict) -> str:
    """One view's transfer result in a clause."""
    d, sl, wide = gap(t)
    if isinstance(wide, str):
        return f"for {view}, {'a difference' if wide == 'differ' else 'no interval (too few resamples)'} ({d}, " \
               f"slopes {sl})"
    return f"for {view}, no difference detected ({d}, slopes {sl}; up to {wide:.2f} at that ratio not excluded)"


def versus(views: dict, claim: str) -> str:
    """Transfer results (per view) in words: the curves' difference at one cost ratio and of
    their slopes, and the verdict, with the largest difference the intervals leave open when none is
    detected."""
    out = []
    for view, t in views.items():
        d, sl, wide = gap(t)
        text = (f"For {view}, the curves differ by {d} ({t['b']:.2f} against {t['a']:.2f}) and their slopes by "
                f"{sl} per decade")
        out.append(f"{text}: the data rule out {claim}." if wide == "differ" else
                   f"{text}: too few resamples for an interval, so {claim} is not tested." if wide == "untested" else
                   f"{text}: no difference detected, consistent with {claim}, but a difference of up to "
                   f"{wide:.2f} at that ratio is not excluded.")
    return " ".join(out) if out else "not testable yet (too few configurations)."

"""The importance slope refitted on subsets of study v2's configurations
(`experiments/studies/slope_stability.py` writes `results/study_v2/stability.json`)."""

from __future__ import annotations

import json
from pathlib import Path

from hpobench.paper.render import Paper


def read(p: Paper, src: Path) -> None:
    if not src.exists():
        for key in ("v2_stability", "v2_stability_short"):
            p.put(key, "not measured (`python -m hpobench.experiments.studies.slope_stability`)",
                  "experiments/studies/slope_stability.py")
        return
    s = json.loads(src.read_text())
    spread = (f"{s['random_min']:.2f} to {s['random_max']:.2f}, median {s['random_median']:.2f}, "
              f"SD {s['random_sd']:.2f}")
    ratio = s["random_sd"] / s["expected_sd"]
    wide = ratio > 1.5  # the SD of 20 subsets is itself uncertain by ~16%
    p.put("v2_stability_short", ("an estimate this study does not pin down" if wide else "stable") + ": refitted on "
          f"random {s['share']:.0%} subsets of the configurations it ranges {spread}, "
          + (f"{ratio:.1f}x the spread its interval implies" if wide else "as its interval implies"), src)
    *first, every = (f"{r['configs']}" for r in s["prefix"])
    p.put("v2_stability", "Refitted on " + (f"the grid's first {', '.join(first)} and " if first else "") + f"all "
          f"{every} configurations, the slope reads " + ", ".join(f"{r['slope']:.2f}" for r in s["prefix"])
          + f"; on {s['n_random']} random subsets of "
          f"{s['share']:.0%} of them it ranges {spread}, positive in {s['random_positive']}. Were the bootstrap "
          f"interval right for a smooth statistic, such subsets would scatter with SD {s['expected_sd']:.2f}"
          + (f": the estimator varies {ratio:.1f}x more, so the intervals of the importance curve understate its "
             "uncertainty, and this study does not determine the slope's size." if wide else ", as they do."), src)

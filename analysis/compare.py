"""Strategy runs compared at equal total cost: a table per optimizer x strategy, each strategy
paired by seed with tuning everything, and the incumbent over the budget (anytime).

A runs table has one row per strategy x optimizer x seed (columns strategy, optimizer, seed,
final_f1, f1_at_<share>, n_tuned, scoping_share); a curves table the incumbent F1 (`f1`) over
the total cost spent (`total`), per run. `experiments/studies/strategies.py` writes both.

    >>> import pandas as pd
    >>> from hpobench.analysis import compare
    >>> runs = pd.DataFrame({"strategy": ["all", "expert"] * 3, "optimizer": "smac",
    ...                      "seed": [0, 0, 1, 1, 2, 2], "final_f1": [0.5, 0.6, 0.5, 0.7, 0.4, 0.5]})
    >>> compare.versus_all(runs)[["strategy", "versus", "pairs", "above"]].to_dict("records")
    [{'strategy': 'expert', 'versus': 'all (smac)', 'pairs': 3, 'above': 3}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpobench.analysis import paired
from hpobench.optimizers import record

NO_OPTIMIZER = "none"  # the optimizer column of strategies that run none (one-epoch)
ANYTIME = tuple(i / 10 for i in range(1, 11))  # shares of the budget the anytime table reads


def at_total(curve: pd.DataFrame, total: float) -> float:
    """The incumbent F1 of a run's curve once `total` cost is spent (NaN before its first full training)."""
    return float(record.incumbent_at(curve.assign(spent=curve["total"]), total)[1])


def mean_se(x) -> str:
    x = pd.Series(x).dropna()
    return f"{x.mean():.4f} ± {x.std(ddof=1) / np.sqrt(len(x)):.4f}" if len(x) > 1 else f"{x.mean():.4f}"


def _baselines(runs: pd.DataFrame, optimizer: str) -> list[str]:
    """The optimizers whose `all` a strategy is paired with: its own, or every one for a strategy
    that runs none (one-epoch)."""
    opts = runs.loc[runs.strategy == "all", "optimizer"].unique().tolist()
    return opts if optimizer == NO_OPTIMIZER else [o for o in opts if o == optimizer]


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per optimizer x strategy: anytime and final F1 (mean ± SE), paired wins vs `all`.
    Column `mean` is the final F1's mean, for ranking."""
    rows, vs = [], versus_all(runs)
    vs = vs.set_index(["optimizer", "strategy", "versus"]) if len(vs) else vs
    for (opt, strat), g in runs.groupby(["optimizer", "strategy"], sort=False):
        wins = []
        for b in _baselines(runs, opt) if strat != "all" else []:
            v = vs.loc[(opt, strat, f"all ({b})")]
            wins.append(f"{v.above}/{v.pairs}" + (f" ({b})" if b != opt else ""))
        rows.append({"optimizer": opt, "strategy": strat, "seeds": len(g), "F1 at 25%": mean_se(g["f1_at_0.25"]),
                     "F1 at 50%": mean_se(g["f1_at_0.5"]), "final F1": mean_se(g["final_f1"]),
                     "mean": g["final_f1"].mean(), "wins vs all": ", ".join(wins),
                     "hps tuned": f"{g['n_tuned'].mean():.1f}", "scoping share": f"{g['scoping_share'].mean():.1%}"})
    return pd.DataFrame(rows)


def versus_all(runs: pd.DataFrame, column: str = "final_f1") -> pd.DataFrame:
    """Each strategy paired by seed with `all` (same optimizer; both for one-epoch): the sign
    test and the mean difference with its 90% paired-bootstrap interval."""
    rows = []
    for (opt, strat), g in runs[runs.strategy != "all"].groupby(["optimizer", "strategy"], sort=False):
        for b in _baselines(runs, opt):
            base = runs[(runs.optimizer == b) & (runs.strategy == "all")].set_index("seed")[column]
            mine = g.set_index("seed")[column]
            both = mine.index.intersection(base.index)
            rows.append({"strategy": strat, "optimizer": opt, "versus": f"all ({b})", "pairs": len(both),
                         **paired.compare((mine[both] - base[both]).to_numpy())})
    return pd.DataFrame(rows)


def anytime(curves: pd.DataFrame, total: float, fractions=ANYTIME) -> pd.DataFrame:
    """Incumbent F1 at each share of the total budget (scoping included): mean over seeds and its
    90% bootstrap interval, per optimizer x strategy (NaN before a seed's first full training)."""
    rows = []
    for (opt, strat), g in curves.groupby(["optimizer", "strategy"], sort=False):
        for f in fractions:
            at = [at_total(c, f * total) for _, c in g.groupby("seed")]
            mean, lo, hi = paired.mean_interval(at)
            rows.append({"optimizer": opt, "strategy": strat, "fraction": float(f), "seeds": int(np.isfinite(at).sum()),
                         "mean": mean, "lower": lo, "upper": hi})
    return pd.DataFrame(rows)


def against(runs: pd.DataFrame, strategy: str, column: str = "final_f1") -> pd.DataFrame:
    """`strategy` paired by seed with every other strategy under the same optimizer (a strategy
    that runs none, one-epoch, with each): the sign test and the mean difference (strategy - other)
    with its 90% paired-bootstrap interval."""
    rows = []
    mine_all = runs[runs.strategy == strategy]
    for opt, mine in mine_all.groupby("optimizer", sort=False):
        others = runs[(runs.strategy != strategy) & runs.optimizer.isin([opt, NO_OPTIMIZER])]
        for (o, other), g in others.groupby(["optimizer", "strategy"], sort=False):
            a, b = mine.set_index("seed")[column], g.set_index("seed")[column]
            both = a.index.intersection(b.index)
            rows.append({"strategy": strategy, "optimizer": opt, "versus": f"{other} ({o})", "pairs": len(both),
                         "mean": float(a[both].mean()) if len(both) else np.nan,
                         **paired.compare((a[both] - b[both]).to_numpy())})
    return pd.DataFrame(rows)

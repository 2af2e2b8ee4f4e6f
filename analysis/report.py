"""What the `hpobench importance` / `hpobench agreement` verbs run: a trial table in, tables and figures out.

The table, its space and its metric come from the caller (the command line reads records with
`hpobench.records.read`).

    >>> from hpobench.analysis import report
    >>> callable(report.importance) and callable(report.agreement)
    True
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from ConfigSpace import ConfigurationSpace

from hpobench.analysis import agreement as agr
from hpobench.analysis import errors, plots, trials
from hpobench.analysis import importance as imp_mod
from hpobench.benchmarks import Metric
from hpobench.fidelity import Fidelity


def importance(df: pd.DataFrame, cs: ConfigurationSpace, fidelities: list[Fidelity | dict] | None = None,
               method: str = "fanova", n_boot: int = 100, level: float = 0.9, seed: int = 0,
               out: str | Path | None = None, failed: str = "drop", metric: Metric | None = None,
               skipped: dict | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Importance per fidelity (cheapest first) of the trial table `df` (space `cs`, declared `metric`;
    None: F1) as one long table; figures written under `out`.

    Without `fidelities`, every fidelity in the table with enough configurations for the
    method is analysed; the others are named, with why, in `skipped` (a dict Fidelity -> why, if given).
    """
    why: dict = {}
    imps = imp_mod.per_fidelity(df, cs, fidelities, method=method, n_boot=n_boot, level=level,
                                seed=seed, failed=failed, metric=metric,
                                skipped=why if fidelities is None else None)
    if skipped is not None:
        skipped.update(why)
    table = pd.concat([i.table().assign(fidelity=f.label, n_configs=i.n_configs) for f, i in imps.items()],
                      ignore_index=True)
    figs = []
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"importance_{method}.csv", index=False)
        figs += plots.importance(imps, out / f"importance_{method}")
        if method == "fanova":
            last = list(imps.values())[-1]
            figs += plots.marginals(last, cs, out / "marginals")
    return table, figs


def agreement_note(level: float, n_boot: int) -> str:
    """One line on what an agreement row's interval means (printed under the table)."""
    return (f"lower, upper: {level:.0%} interval of `corrected` (the estimate, Spearman's corrected for attenuation "
            f"where the reliability is known): the estimate plus the statistic's spread over {n_boot} bootstrap "
            f"resamples of the configurations, around their median; it always contains the estimate")


def agreement(df: pd.DataFrame, cs: ConfigurationSpace, fidelities: list[Fidelity | dict] | None = None,
              method: str = "fanova", n_boot: int = 100, level: float = 0.9, seed: int = 0, k: int = 3,
              out: str | Path | None = None, failed: str = "drop", metric: Metric | None = None,
              skipped: dict | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Every agreement statistic between every pair of fidelities, plus performance Spearman.

    Table, space, metric and skipped fidelities as in `importance`.
    """
    fids = trials.fidelities(df) if fidelities is None else [Fidelity.of(f) for f in fidelities]
    if len(fids) < 2:
        raise errors.AnalysisError(f"agreement needs at least two fidelities; the records hold {len(fids)}")
    why: dict = {}
    imps = imp_mod.per_fidelity(df, cs, fids, method=method, n_boot=n_boot, level=level, seed=seed,
                                failed=failed, metric=metric, skipped=why if fidelities is None else None)
    if skipped is not None:
        skipped.update(why)
    if len(imps) < 2:
        raise errors.AnalysisError(f"agreement needs at least two fidelities with enough configurations; "
                                 f"{len(imps)} of {len(fids)} have: " + "; ".join(f"{a}: {b}" for a, b in why.items()))
    fids = [f for f in fids if f in imps]
    labels = [f.label for f in imps]
    rows, perf = [], []
    for i, a in enumerate(fids):
        for b in fids[i + 1:]:
            rows.append(agr.compare(imps[a], imps[b], k, level))
            perf.append(agr.performance(df, cs, a, b, metric=metric, n_boot=max(n_boot, 100), level=level,
                                        seed=seed, failed=failed))
    perf = pd.DataFrame(perf)
    table = pd.concat(rows + [perf.drop(columns=["note"])], ignore_index=True)
    figs = []
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / f"agreement_{method}.csv", index=False)
        imp_matrix = table[table.statistic == "spearman"]
        figs += plots.agreement(imp_matrix, perf, labels, out / f"agreement_{method}")
        figs += plots.importance(imps, out / f"importance_{method}")
    return table, figs

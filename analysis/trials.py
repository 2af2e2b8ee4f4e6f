"""Queries on a trial table (the project's one schema, `hpobench.trial_row`): its columns, its
fidelities, the rows at one fidelity, the column holding a metric.

    >>> import pandas as pd
    >>> from hpobench.analysis import trials
    >>> df = pd.DataFrame({"config.lr": [0.1, 0.2], "fidelity.epochs": [1, 9], "cost": [1.0, 9.0], "f1": [0.3, 0.5]})
    >>> [f.label for f in trials.fidelities(df)], len(trials.at(df, {"epochs": 9}))
    (['epochs=1', 'epochs=9'], 1)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpobench import spaces
from hpobench.analysis.errors import AnalysisError
from hpobench.benchmarks.base import Metric
from hpobench.fidelity import Fidelity

CONFIG, FIDELITY = "config.", "fidelity."


def as_metric(spec) -> Metric:
    try:
        return Metric.of(spec)
    except ValueError as e:
        raise AnalysisError(str(e)) from None


def metric_column(df: pd.DataFrame, metric: Metric | str) -> str:
    """The column holding `metric`: `metric.<name>` (any reported metric) or `<name>` (f1, ...)."""
    name = metric.name if isinstance(metric, Metric) else metric
    for col in (f"metric.{name}", name):
        if col in df:
            return col
    have = [c for c in df.columns if c.startswith("metric.")] + [c for c in ("f1", "accuracy", "loss") if c in df]
    raise AnalysisError(f"metric {name!r} not in the table; metric columns: {have}")


def config_columns(df: pd.DataFrame) -> list[str]:
    return [c[len(CONFIG):] for c in df.columns if c.startswith(CONFIG)]


def fidelity_columns(df: pd.DataFrame) -> list[str]:
    return [c[len(FIDELITY):] for c in df.columns if c.startswith(FIDELITY)]


def fidelities(df: pd.DataFrame) -> list[Fidelity]:
    """Distinct fidelities of a table, cheapest first: each with the median of its rows' `cost`
    (NaN without one), sorted as Fidelity orders (by that cost, unknown last, then by the values)."""
    knobs = fidelity_columns(df)
    if not knobs:
        return [Fidelity()]
    out = []
    for vals, g in df.groupby([FIDELITY + k for k in knobs], dropna=False, sort=True):
        vals = vals if isinstance(vals, tuple) else (vals,)
        cost = float(g["cost"].median()) if "cost" in g and g["cost"].notna().any() else np.nan
        out.append(Fidelity.of({k: plain(v) for k, v in zip(knobs, vals)}, cost))
    return sorted(out)


def at(df: pd.DataFrame, fidelity: Fidelity | dict | str | None) -> pd.DataFrame:
    """Rows at `fidelity`, a Fidelity, a dict or a label (knobs not named are not filtered)."""
    fidelity = Fidelity.of(fidelity)
    mask = np.ones(len(df), bool)
    for k, v in fidelity.items():
        col = FIDELITY + k
        if col not in df:
            raise AnalysisError(f"fidelity knob {k!r} not in the table; knobs: {fidelity_columns(df)}")
        mask &= np.isclose(df[col].astype(float), float(v), rtol=1e-9, atol=0)
    return df[mask]


def clusters(df: pd.DataFrame) -> np.ndarray | None:
    """Each row's sampling group (column `cluster`, written for grouped designs: `hpobench.spaces.sample`
    with grouped=K), the bootstrap's unit; a row without one is a group of its own; None when no
    row has one (every configuration drawn on its own)."""
    if "cluster" not in df or df["cluster"].isna().all():
        return None
    return np.array([f"c{int(g)}" if pd.notna(g) else f"row{i}" for i, g in enumerate(df["cluster"])], dtype=object)


def plain(v):
    """`spaces.plain`, with NaN (an inactive cell in a table) as None."""
    v = spaces.plain(v)
    return None if isinstance(v, float) and np.isnan(v) else v

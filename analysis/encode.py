"""A trial table at one fidelity encoded for the importance methods.

Every importance method works on `Encoded`: one row per evaluated configuration
at one fidelity, each hyperparameter as a *unit code* in [0, 1] (NaN where the
hyperparameter is inactive), and the metric oriented so that larger is better (the
record's declared metric, `hpobench.Metric`, read by name: negated when it is minimised;
F1 for records from before metrics were declarable). The unit code is chosen
so that the uniform measure on [0, 1] is ConfigSpace's own uniform sampling:
floats use ConfigSpace's normalisation (log-aware), every integer, category and
ordinal level owns a cell of equal width. fANOVA's variance decomposition is taken
under that measure, so shares mean "variance under uniform random sampling".

    >>> import hpobench, pandas as pd
    >>> from hpobench.analysis import encode
    >>> b = hpobench.get("synthetic/agree")
    >>> cs = b.config_space
    >>> rows = [hpobench.trial_row(b.name, dict(c), {"epochs": 3, "data_fraction": 1.0}, 0,
    ...                            b.evaluate(c, {"epochs": 3}), cs) for c in cs.sample_configuration(20)]
    >>> enc = encode.encode(pd.DataFrame(rows), cs)
    >>> enc.X.shape
    (20, 12)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    Constant,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)

from hpobench.analysis.errors import AnalysisError, TooFew
from hpobench.analysis.trials import CONFIG, as_metric, clusters, config_columns, metric_column, plain
from hpobench.benchmarks.base import Metric
from hpobench.spaces import cells


@dataclass
class Encoded:
    """A table at one fidelity, encoded for the importance methods."""

    names: list[str]  # every hyperparameter of the space, in space order
    X: np.ndarray  # (n, d) unit codes; NaN where inactive
    y: np.ndarray  # (n,) metric, larger is better (metric.sign * value)
    keys: np.ndarray  # (n,) configuration identity (same config -> same key across fidelities)
    space: ConfigurationSpace
    fidelity: dict = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # hp -> why its importance is 0 by definition
    dropped: int = 0  # failed trials left out
    w: np.ndarray | None = None  # row multiplicities (a bootstrap resample); None = all 1
    metric: Metric = Metric.of(None)  # what y is (y = metric.sign * value)
    groups: np.ndarray | None = None  # (n,) each row's sampling group (`trials.clusters`); None: each its own

    @property
    def varying(self) -> np.ndarray:
        """Mask of hyperparameters that take at least two values where active."""
        return np.array([n not in self.notes for n in self.names])

    @property
    def levels(self) -> list[int | None]:
        """Cells of each discrete hyperparameter (None: continuous)."""
        return [cells(self.space, n) for n in self.names]

    def weighted(self, counts: np.ndarray) -> Encoded:
        """A resample given as a multiplicity per row: rows drawn 0 times are left out.

        Forest methods take the counts as sample weights, so a leaf never holds
        copies of one configuration; PED-ANOVA repeats the rows (`expanded`).
        """
        keep = counts > 0
        X = self.X[keep]
        return Encoded(self.names, X, self.y[keep], self.keys[keep], self.space, self.fidelity,
                       _notes(self.names, X), self.dropped, counts[keep].astype(float), self.metric,
                       None if self.groups is None else self.groups[keep])

    def expanded(self) -> Encoded:
        """Rows repeated by their multiplicity (identity when unweighted)."""
        if self.w is None:
            return self
        idx = np.repeat(np.arange(len(self.y)), self.w.astype(int))
        return Encoded(self.names, self.X[idx], self.y[idx], self.keys[idx], self.space,
                       self.fidelity, self.notes, self.dropped, metric=self.metric,
                       groups=None if self.groups is None else self.groups[idx])


def encode(df: pd.DataFrame, space: ConfigurationSpace, metric: Metric | str = "f1", failed: str = "drop",
           fidelity: dict | None = None) -> Encoded:
    """Encode the rows of `df` (one fidelity) for the importance methods.

    metric: a `Metric` (name and direction) or a name (then maximised); its column is
            `metric_column`; `y` is the value oriented larger-is-better.
    failed: "drop" leaves diverged/crashed trials out (counted in `dropped`);
            "worst" gives them the worst metric seen, so failing regions count as bad.
    Raises AnalysisError on a metric that is NaN for an `ok` trial, unknown columns,
    or no usable row (TooFew).
    """
    if failed not in ("drop", "worst"):
        raise AnalysisError(f"failed must be 'drop' or 'worst', got {failed!r}")
    metric = as_metric(metric)
    column = metric_column(df, metric)
    cols = config_columns(df)
    # A scoped run records the full space's columns; those its space removed are never set.
    unknown = sorted(c for c in set(cols) - set(space) if df[CONFIG + c].notna().any())
    if unknown:
        raise AnalysisError(f"table has hyperparameters not in the space: {unknown}")
    missing = sorted(set(space) - set(cols))
    if missing:
        raise AnalysisError(f"space has hyperparameters missing from the table: {missing}")
    status = df["status"].astype(str).to_numpy() if "status" in df else np.full(len(df), "ok")
    y = metric.sign * pd.to_numeric(df[column], errors="coerce").to_numpy(float)
    ok = status == "ok"
    bad = ok & ~np.isfinite(y)
    if bad.any():
        raise AnalysisError(f"{int(bad.sum())} trial(s) have status 'ok' but a non-finite {metric.name} "
                            f"(first row {int(np.flatnonzero(bad)[0])}): fix the record")
    if not ok.any():
        raise TooFew(f"no trial with status 'ok' ({len(df)} rows)")
    if failed == "worst":
        y = np.where(ok, y, np.nanmin(y[ok]))
        keep = np.ones(len(df), bool)
    else:
        keep = ok
    names = list(space)
    X = np.column_stack([to_unit(space, n, df[CONFIG + n].to_numpy(object)) for n in names])[keep]
    keys = config_keys(df, space)[keep]
    groups = clusters(df)
    return Encoded(names, X, y[keep], keys, space, dict(fidelity or {}), _notes(names, X),
                   int((~keep).sum()), metric=metric, groups=None if groups is None else groups[keep])


def config_keys(df: pd.DataFrame, space: ConfigurationSpace) -> np.ndarray:
    """A stable identity per row's configuration (inactive = None), the same at every fidelity."""
    cfg = df[[CONFIG + n for n in space if CONFIG + n in df]]

    def key(row):
        return hashlib.blake2b(json.dumps([plain(v) for v in row], default=str).encode(),
                               digest_size=8).hexdigest()
    return np.array([key(r) for r in cfg.itertuples(index=False, name=None)])


def to_unit(space: ConfigurationSpace, name: str, values) -> np.ndarray:
    """Unit codes of `values` of hyperparameter `name`; None/NaN (inactive) -> NaN."""
    hp = space[name]
    values = np.asarray(values, dtype=object)
    out = np.full(len(values), np.nan)
    active = np.array([not _missing(v) for v in values])
    if not active.any():
        return out
    v = values[active]
    if isinstance(hp, Constant):
        out[active] = 0.5
    elif isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
        choices = list(hp.choices if isinstance(hp, CategoricalHyperparameter) else hp.sequence)
        index = {_canon(c): i for i, c in enumerate(choices)}
        try:
            idx = np.array([index[_canon(x)] for x in v])
        except KeyError as e:
            raise AnalysisError(f"{name}: value {e.args[0]!r} is not one of {choices}") from None
        out[active] = (idx + 0.5) / len(choices)
    elif isinstance(hp, IntegerHyperparameter) and not hp.log:
        x = v.astype(float)
        _check_range(name, x, hp.lower, hp.upper)
        out[active] = (x - hp.lower + 0.5) / (hp.upper - hp.lower + 1)
    elif isinstance(hp, (FloatHyperparameter, IntegerHyperparameter)):
        x = v.astype(float)
        _check_range(name, x, hp.lower, hp.upper)
        lo, hi, x = (np.log(hp.lower), np.log(hp.upper), np.log(x)) if hp.log else (hp.lower, hp.upper, x)
        out[active] = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    else:
        raise AnalysisError(f"{name}: hyperparameter type {type(hp).__name__} is not supported")
    return out


def _notes(names, X) -> dict[str, str]:
    notes = {}
    for j, n in enumerate(names):
        col = X[:, j]
        act = col[np.isfinite(col)]
        if act.size == 0:
            notes[n] = "never active in the table: importance 0 by definition"
        elif np.ptp(act) == 0:
            notes[n] = "takes a single value in the table: importance 0 by definition"
    return notes


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _check_range(name, x, lo, hi):
    bad = (x < lo - 1e-9 * abs(lo)) | (x > hi + 1e-9 * abs(hi))
    if bad.any():
        raise AnalysisError(f"{name}: value {x[bad][0]!r} outside the space's range [{lo}, {hi}]")


def _canon(v):
    v = plain(v)
    return str(v) if not isinstance(v, str) else v

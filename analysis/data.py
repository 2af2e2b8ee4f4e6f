"""From a trial table (the project's one schema) to the arrays the analysis needs.

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
    >>> from hpobench.analysis import data
    >>> b = hpobench.get("synthetic/agree")
    >>> cs = b.config_space
    >>> rows = [hpobench.trial_row(b.name, dict(c), {"epochs": 3, "data_fraction": 1.0}, 0,
    ...                            b.evaluate(c, {"epochs": 3}), cs) for c in cs.sample_configuration(20)]
    >>> enc = data.encode(pd.DataFrame(rows), cs)
    >>> enc.X.shape
    (20, 12)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from ConfigSpace import ConfigurationSpace
from ConfigSpace.conditions import (
    AndConjunction,
    EqualsCondition,
    GreaterThanCondition,
    InCondition,
    LessThanCondition,
    NotEqualsCondition,
)
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    Constant,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)

from hpobench import spaces
from hpobench.benchmarks.base import Metric
from hpobench.fidelity import Fidelity
from hpobench.spaces import cells, from_unit  # the unit-code measure (data.cells, data.from_unit for callers)

CONFIG, FIDELITY = "config.", "fidelity."
RECORD_FILES = ("trials.parquet", "evaluations.parquet")  # in a run (tune) / a grid or scope folder


class AnalysisError(ValueError):
    """Input the analysis cannot use (too few rows, NaN metrics, unknown columns, ...)."""


class TooFew(AnalysisError):
    """Too few (successful) configurations at a fidelity for the method; other fidelities may do."""


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
                       _notes(self.names, X), self.dropped, counts[keep].astype(float), self.metric)

    def expanded(self) -> Encoded:
        """Rows repeated by their multiplicity (identity when unweighted)."""
        if self.w is None:
            return self
        idx = np.repeat(np.arange(len(self.y)), self.w.astype(int))
        return Encoded(self.names, self.X[idx], self.y[idx], self.keys[idx], self.space,
                       self.fidelity, self.notes, self.dropped, metric=self.metric)


# ---------------------------------------------------------------- reading records

def read(paths, space: ConfigurationSpace | str | Path | None = None) -> tuple[pd.DataFrame, ConfigurationSpace]:
    """Concatenate run records (Parquet or CSV) and find their ConfigSpace (`load`)."""
    df, cs, _ = load(paths, space)
    return df, cs


def load(paths, space: ConfigurationSpace | str | Path | None = None,
         metric: Metric | dict | str | None = None) -> tuple[pd.DataFrame, ConfigurationSpace, Metric]:
    """Concatenate run records (Parquet or CSV); find their ConfigSpace and declared metric.

    A record is a Parquet/CSV file or a folder: a run (`hpobench tune --out`, holding
    trials.parquet) or a grid/scope folder (evaluations.parquet), each with its meta.json.
    The space is `space` if given (a ConfigurationSpace or a JSON file); else the "space"
    of the meta.json of the record's folder (given as the folder or as the table in it);
    else a JSON file next to the first record: `<record>.space.json`, `space.json` or
    `config_space.json`. The metric is `metric` if given (a Metric, its dict or a name);
    else the meta.json "metric" (the records must agree); else F1, the metric of every
    record from before metrics were declarable.
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise AnalysisError("no record given")
    files = []
    for p in paths:
        if p.is_dir():
            found = [p / f for f in RECORD_FILES if (p / f).exists()]
            if not found:
                raise AnalysisError(f"record not found: {p} holds none of {', '.join(RECORD_FILES)}")
            p = found[0]
        files.append(p)
    frames = []
    for p in files:
        if not p.exists():
            raise AnalysisError(f"record not found: {p}")
        if p.suffix == ".csv":
            frames.append(pd.read_csv(p))
        else:
            try:
                frames.append(pd.read_parquet(p))
            except Exception as e:  # pyarrow raises several types for a broken file
                raise AnalysisError(f"{p}: not a readable Parquet record ({type(e).__name__}: {e})") from None
    df = pd.concat(frames, ignore_index=True)
    metas = [(m, _meta(m)) for m in dict.fromkeys(p.parent / "meta.json" for p in files) if m.exists()]
    return df, _space(space, metas, files[0]), _metric(metric, metas)


def _meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AnalysisError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise AnalysisError(f"{path}: not a run's meta.json (a JSON object)")
    return meta


def _space(space, metas, first: Path) -> ConfigurationSpace:
    if isinstance(space, ConfigurationSpace):
        return space
    if space is not None:
        return spaces.load(space)
    for path, meta in metas:
        text = meta.get("space")
        if text:
            try:  # a run stores the JSON text, a grid folder the JSON object
                return spaces.from_json(text if isinstance(text, str) else json.dumps(text))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise AnalysisError(f"{path}: cannot read its space ({type(e).__name__}: {e})") from None
    for cand in (first.with_suffix(".space.json"), first.parent / "space.json",
                 first.parent / "config_space.json"):
        if cand.exists():
            return spaces.load(cand)
    raise AnalysisError(f"no ConfigSpace for {first}: pass one (--space FILE), or put "
                        f"{first.with_suffix('.space.json').name} or the run's meta.json next to the record")


def _metric(metric, metas) -> Metric:
    if metric is not None:
        return _as_metric(metric)
    found = {}
    for path, meta in metas:
        found.setdefault(_as_metric(meta.get("metric"), path), path)
    if len(found) > 1:
        raise AnalysisError("the records declare different metrics: " + "; ".join(
            f"{m.describe()} ({p})" for m, p in found.items()))
    return next(iter(found), Metric.of(None))


def _as_metric(spec, where=None) -> Metric:
    try:
        return Metric.of(spec)
    except ValueError as e:
        raise AnalysisError(f"{where}: {e}" if where else str(e)) from None


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
        out.append(Fidelity.of({k: _plain(v) for k, v in zip(knobs, vals)}, cost))
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


# ---------------------------------------------------------------- encoding

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
    metric = _as_metric(metric)
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
    return Encoded(names, X, y[keep], keys, space, dict(fidelity or {}), _notes(names, X),
                   int((~keep).sum()), metric=metric)


def config_keys(df: pd.DataFrame, space: ConfigurationSpace) -> np.ndarray:
    """A stable identity per row's configuration (inactive = None), the same at every fidelity."""
    cfg = df[[CONFIG + n for n in space if CONFIG + n in df]]

    def key(row):
        return hashlib.blake2b(json.dumps([_plain(v) for v in row], default=str).encode(),
                               digest_size=8).hexdigest()
    return np.array([key(r) for r in cfg.itertuples(index=False, name=None)])


def clusters(df: pd.DataFrame) -> np.ndarray | None:
    """Each row's sampling group (column `cluster`, written for grouped designs: `hpobench.spaces.sample`
    with grouped=K), the bootstrap's unit; a row without one is a group of its own; None when no
    row has one (every configuration drawn on its own)."""
    if "cluster" not in df or df["cluster"].isna().all():
        return None
    return np.array([f"c{int(g)}" if pd.notna(g) else f"row{i}" for i, g in enumerate(df["cluster"])], dtype=object)


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


# ---------------------------------------------------------------- conditions

def active_region(space: ConfigurationSpace, name: str) -> dict[str, np.ndarray] | None:
    """Where `name` is active, as a box: ancestor -> (m, 2) unit-code intervals.

    {} for an unconditional hyperparameter; None when the region is not a box
    (an OR of conditions): the caller must then fall back and say so.
    """
    region: dict[str, np.ndarray] = {}
    for cond in space.parent_conditions_of[name]:
        parts = cond.components if isinstance(cond, AndConjunction) else (cond,)
        for c in parts:
            if not isinstance(c, (EqualsCondition, NotEqualsCondition, InCondition,
                                  GreaterThanCondition, LessThanCondition)):
                return None  # OrConjunction or a nested conjunction
            iv = _allowed(space, c)
            if iv is None:
                return None
            p = c.parent.name
            region[p] = _intersect(region[p], iv) if p in region else iv
            upstream = active_region(space, p)
            if upstream is None:
                return None
            for q, jv in upstream.items():
                region[q] = _intersect(region[q], jv) if q in region else jv
    return region


def _allowed(space, cond) -> np.ndarray | None:
    """Unit-code intervals of the parent's values that satisfy `cond`."""
    p = cond.parent
    k = cells(space, p.name)
    if isinstance(p, Constant):
        return np.array([[0.0, 1.0]]) if cond.satisfied_by_value({p.name: p.value}) else np.zeros((0, 2))
    if k is not None and k <= 10_000:
        vals = [from_unit(space, p.name, (i + 0.5) / k) for i in range(k)]
        ok = [i for i, v in enumerate(vals) if _satisfied(cond, p.name, v)]
        return np.array([[i / k, (i + 1) / k] for i in ok]).reshape(-1, 2)
    if isinstance(cond, (GreaterThanCondition, LessThanCondition)):
        t = float(to_unit(space, p.name, [cond.value])[0])
        return np.array([[t, 1.0]]) if isinstance(cond, GreaterThanCondition) else np.array([[0.0, t]])
    return None  # equality on a continuous parent: a set of measure zero


def _satisfied(cond, parent, value) -> bool:
    try:
        return bool(cond.satisfied_by_value({parent: value}))
    except (KeyError, TypeError, ValueError):
        return False


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = [[max(x0, y0), min(x1, y1)] for x0, x1 in a for y0, y1 in b if min(x1, y1) > max(x0, y0)]
    return np.array(out).reshape(-1, 2)


def measure(iv: np.ndarray) -> float:
    return float(np.sum(iv[:, 1] - iv[:, 0]))


# ---------------------------------------------------------------- helpers

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
    v = _plain(v)
    return str(v) if not isinstance(v, str) else v


def _plain(v):
    """`spaces.plain`, with NaN (an inactive cell in a table) as None."""
    v = spaces.plain(v)
    return None if isinstance(v, float) and np.isnan(v) else v

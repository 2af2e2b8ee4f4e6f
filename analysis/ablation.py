"""Ablation path: which changes carry the improvement from the default to the best config.

Local importance (Fawcett & Hoos 2016; surrogate-based as in Biedenkapp et al.
2017): starting at the default configuration, greedily apply the single change
towards the best configuration of the table that the random-forest surrogate
predicts to help most, until the best configuration is reached. A hyperparameter's
importance is the predicted gain of its step (it may be negative: a change the
best configuration has but that does not help on its own).

Conditions: flipping a parent switches its children on (at the target's value if
the target has them active, else their default) or off; children changed that way
belong to the parent's step and get 0 with a note. Inactive values are integrated
out of the surrogate's prediction (see `fanova.Partition.predict`), never imputed.

    >>> import hpobench, pandas as pd
    >>> from hpobench.analysis import ablation, encode
    >>> b = hpobench.get("synthetic/agree")
    >>> cs = b.config_space
    >>> rows = [hpobench.trial_row(b.name, dict(c), b.full_fidelity, 0, b.evaluate(c), cs)
    ...         for c in cs.sample_configuration(200)]
    >>> s = ablation.ablation(encode.encode(pd.DataFrame(rows), cs), n_trees=16)
    >>> len(s.extra["path"]) > 0
    True
"""

from __future__ import annotations

import numpy as np

from hpobench import spaces
from hpobench.analysis import fanova, scores
from hpobench.analysis.encode import Encoded, to_unit
from hpobench.analysis.errors import AnalysisError
from hpobench.analysis.scores import Scores
from hpobench.spaces import from_unit

# A predictor, not a decomposition: keeps the forest that fANOVA used before its calibration
# for unbiased shares (max_features 0.2); that calibration says nothing about prediction.
FOREST = {**fanova.DEFAULTS, "max_features": 1.0}


def ablation(enc: Encoded, source: dict | None = None, target: dict | None = None,
             n_trees: int = FOREST["n_trees"], seed: int = 0,
             min_samples_leaf: int = FOREST["min_samples_leaf"],
             max_features=FOREST["max_features"]) -> Scores:
    """Greedy ablation from `source` (default: the space's default) to `target`
    (default: the best configuration in the table)."""
    scores.check(enc, fanova.MIN_CONFIGS, "ablation")
    space, names = enc.space, enc.names
    notes = dict(enc.notes)
    if np.ptp(enc.y) == 0:
        notes["*"] = "the metric is constant over the table: nothing to ablate, all importances 0"
        return Scores("ablation", names, np.zeros(len(names)), notes, extra={"path": []})
    part = fanova.fit(enc.X, enc.y, n_trees, seed, min_samples_leaf, max_features,
                      levels=enc.levels, w=enc.w)
    src = _code(space, names, dict(space.get_default_configuration()) if source is None else source)
    tgt = enc.X[int(np.argmax(enc.y))] if target is None else _code(space, names, target)
    cur = src.copy()
    pred = float(part.predict(cur[None])[0])
    start = pred
    value = np.zeros(len(names))
    path = [("default" if source is None else "source", pred)]
    left = {j for j in range(len(names)) if not _same(cur[j], tgt[j])}
    while left:
        cands = []
        for j in sorted(left):
            if np.isnan(cur[j]) or np.isnan(tgt[j]):
                continue  # switching it on or off is its parent's step
            nxt = _flip(space, names, cur, tgt, src, j)
            cands.append((j, nxt))
        if not cands:  # cannot happen for a valid target; guard against a loop
            raise AnalysisError(f"ablation is stuck: no applicable change among {[names[j] for j in left]}")
        preds = part.predict(np.stack([c for _, c in cands]))
        b = int(np.argmax(preds))
        j, nxt = cands[b]
        value[j] = float(preds[b]) - pred
        for k in sorted(left - {j}):
            if _same(nxt[k], tgt[k]) and not _same(cur[k], tgt[k]) and names[k] not in notes:
                notes[names[k]] = f"changed together with its parent {names[j]}"
        cur, pred = nxt, float(preds[b])
        path.append((names[j], pred))
        left = {k for k in left if not _same(cur[k], tgt[k])}
    total = pred - start
    return Scores("ablation", names, value, notes,
                  extra={"path": path, "gain": total, "target": _decode(space, names, tgt)})


def _flip(space, names, cur, tgt, src, j):
    """cur with hyperparameter j set to the target's value, conditions re-applied."""
    nxt = cur.copy()
    nxt[j] = tgt[j]
    values = _decode(space, names, nxt)
    act = spaces.active(space, values)
    for k, n in enumerate(names):
        if n not in act:
            nxt[k] = np.nan
        elif np.isnan(nxt[k]):  # switched on: the target's value if it has one, else the default
            nxt[k] = tgt[k] if np.isfinite(tgt[k]) else to_unit(space, n, [space[n].default_value])[0]
        values = _decode(space, names, nxt)
        act = spaces.active(space, values)
    return nxt


def _code(space, names, config: dict) -> np.ndarray:
    return np.array([to_unit(space, n, [config.get(n)])[0] for n in names])


def _decode(space, names, x) -> dict:
    return {n: from_unit(space, n, u) for n, u in zip(names, x) if np.isfinite(u)}


def _same(a, b) -> bool:
    return (np.isnan(a) and np.isnan(b)) or (np.isfinite(a) and np.isfinite(b) and abs(a - b) < 1e-12)

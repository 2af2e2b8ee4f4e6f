"""Where a conditional hyperparameter is active, as a box of unit-code intervals of its ancestors.

    >>> from hpobench import spaces
    >>> from hpobench.analysis import conditions
    >>> region = conditions.active_region(spaces.resnet(), "sgd_momentum")
    >>> sorted(region)
    ['optimizer']
"""

from __future__ import annotations

import numpy as np
from ConfigSpace import ConfigurationSpace
from ConfigSpace.conditions import (
    AndConjunction,
    EqualsCondition,
    GreaterThanCondition,
    InCondition,
    LessThanCondition,
    NotEqualsCondition,
)
from ConfigSpace.hyperparameters import Constant

from hpobench.analysis.encode import to_unit
from hpobench.spaces import cells, from_unit


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

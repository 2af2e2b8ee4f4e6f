"""The point importance every method returns (`fanova`, `ped_anova`, `ablation`), and the check
that a table has enough configurations for a surrogate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hpobench.analysis.encode import Encoded
from hpobench.analysis.errors import TooFew


@dataclass
class Scores:
    """Point importance of one method on one table (no uncertainty yet)."""

    method: str
    names: list[str]
    value: np.ndarray  # (d,) importance; 0 for hps with a note
    notes: dict[str, str] = field(default_factory=dict)
    interactions: dict[tuple[str, str], float] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def check(enc: Encoded, minimum: int, method: str) -> None:
    """Raise TooFew, naming the fidelity and `method`, if `enc` has fewer than `minimum` distinct
    configurations (a resample's rows are distinct configurations with weights)."""
    n = len(np.unique(enc.keys))
    if n < minimum:
        raise TooFew(f"{n} distinct configuration(s) at {enc.fidelity or 'this fidelity'}: "
                     f"{method} needs at least {minimum}")

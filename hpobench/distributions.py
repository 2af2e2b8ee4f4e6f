"""Optuna distributions <-> ConfigSpace hyperparameters, both ways.

`to_optuna(hp)` is the distribution Optuna samples a ConfigSpace hyperparameter from (None for
a constant); `suggest(trial, name, dist)` asks an Optuna trial for it and returns the value as
ConfigSpace holds it; `from_optuna(name, dist)` is the hyperparameter of a recorded Optuna
parameter. The pairs:

    ConfigSpace                                   Optuna
    Float(lo, hi, log)                            FloatDistribution(lo, hi, log)
    Integer(lo, hi, log)                          IntDistribution(lo, hi, log)
    Ordinal, numbers equally spaced by s          IntDistribution / FloatDistribution(.., step=s)
    Ordinal, otherwise                            CategoricalDistribution(sequence): order lost
    Categorical(choices)                          CategoricalDistribution(choices): weights lost
    Constant(v)                                   none (a fixed value); a one-value distribution
                                                  reads back as Constant

A stepped Optuna distribution with more than `MAX_LEVELS` values reads back as a plain Float or
Integer (the step is dropped; `Mapped.note` says so). Categorical choices must be all strings,
all booleans or all numbers: None or a mix has no ConfigSpace counterpart (`SpaceError`).

    >>> from ConfigSpace import Float, OrdinalHyperparameter
    >>> to_optuna(Float("lr", (1e-4, 1.0), log=True))
    FloatDistribution(high=1.0, log=True, low=0.0001, step=None)
    >>> to_optuna(OrdinalHyperparameter("depth", (8, 14, 20)))
    IntDistribution(high=20, log=False, low=8, step=6)
    >>> import optuna
    >>> from_optuna("dropout", optuna.distributions.FloatDistribution(0.0, 0.5, step=0.1)).hp.sequence
    (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
"""

from __future__ import annotations

import decimal
import numbers
from dataclasses import dataclass

import numpy as np
from ConfigSpace import Categorical, Constant, Float, Integer, OrdinalHyperparameter
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    Hyperparameter,
    IntegerHyperparameter,
)

from hpobench.spaces import SpaceError, plain

MAX_LEVELS = 1000  # a stepped distribution with more values reads back unstepped


def to_optuna(hp: Hyperparameter):
    """The Optuna distribution of `hp` (module docstring); None for a Constant."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(hp, Constant):
        return None
    if isinstance(hp, OrdinalHyperparameter):
        seq = [plain(v) for v in hp.sequence]
        step = arithmetic_step(seq)
        if step is None:
            return CategoricalDistribution(seq)
        if all(isinstance(v, int) for v in seq):
            return IntDistribution(seq[0], seq[-1], step=int(step))
        return FloatDistribution(float(seq[0]), float(seq[-1]), step=step)
    if isinstance(hp, CategoricalHyperparameter):
        return CategoricalDistribution([plain(c) for c in hp.choices])
    if isinstance(hp, IntegerHyperparameter):
        return IntDistribution(int(hp.lower), int(hp.upper), log=bool(hp.log))
    if isinstance(hp, FloatHyperparameter):
        return FloatDistribution(float(hp.lower), float(hp.upper), log=bool(hp.log))
    raise SpaceError(f"{hp.name}: {type(hp).__name__} has no Optuna distribution")


def arithmetic_step(seq) -> float | int | None:
    """The common difference of an increasing sequence of at least 2 numbers, else None."""
    if len(seq) < 2 or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in seq):
        return None
    d = {decimal.Decimal(str(b)) - decimal.Decimal(str(a)) for a, b in zip(seq, seq[1:])}  # 0.15 - 0.05 = 0.1
    if len(d) != 1 or min(d) <= 0:
        return None
    step = d.pop()
    return int(step) if all(isinstance(v, int) for v in seq) else float(step)


def suggest(trial, name: str, hp: Hyperparameter):
    """Ask the Optuna `trial` for `hp` (through its public suggest_* API), as ConfigSpace holds it.

    An ordinal's suggested number is snapped to the nearest level (a float step's grid point
    may differ from the level in its last bit).
    """
    dist = to_optuna(hp)
    if dist is None:
        return plain(hp.value)
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        return plain(trial.suggest_categorical(name, list(dist.choices)))
    if kind == "IntDistribution":
        v = trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    else:
        v = trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return snap(hp, v)


def snap(hp: Hyperparameter, v):
    """A recorded number as `hp`'s legal value: an ordinal's nearest level, an int as int."""
    if isinstance(hp, OrdinalHyperparameter):
        seq = [plain(s) for s in hp.sequence]
        return seq[int(np.argmin([abs(float(s) - float(v)) for s in seq]))]
    if isinstance(hp, IntegerHyperparameter):
        return int(round(v))
    return plain(v)


@dataclass
class Mapped:
    """A recorded Optuna parameter as a ConfigSpace hyperparameter, with what the mapping lost."""

    hp: Hyperparameter
    note: str | None = None


def from_optuna(name: str, dist) -> Mapped:
    """The ConfigSpace hyperparameter of an Optuna distribution; `SpaceError` if there is none."""
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        choices = [plain(c) for c in dist.choices]
        problem = _choices_problem(choices)
        if problem:
            raise SpaceError(f"distribution of {name!r} cannot be mapped to ConfigSpace: {problem} "
                             f"(choices {choices})")
        if len(choices) == 1:
            return Mapped(Constant(name, choices[0]))
        return Mapped(Categorical(name, choices))
    if kind in ("FloatDistribution", "IntDistribution"):
        integer = kind == "IntDistribution"
        low, high, step, log = dist.low, dist.high, dist.step, dist.log
        if low == high:
            return Mapped(Constant(name, int(low) if integer else float(low)))
        if step is not None and not (integer and step == 1):
            levels = grid(low, high, step, integer)
            if len(levels) <= MAX_LEVELS:
                return Mapped(OrdinalHyperparameter(name, levels))
            note = f"{name}: step {step} dropped ({len(levels)} levels; read as a range)"
        else:
            note = None
        cls = Integer if integer else Float
        return Mapped(cls(name, (low, high), log=bool(log)), note)
    raise SpaceError(f"distribution of {name!r} cannot be mapped to ConfigSpace: {kind} ({dist!r}); "
                     f"mappable: FloatDistribution, IntDistribution, CategoricalDistribution")


def grid(low, high, step, integer: bool = False) -> list:
    """The values low, low + step, ... up to high of a stepped distribution (decimal arithmetic: 0.3, not
    0.30000000000000004)."""
    if integer:
        return list(range(int(low), int(high) + 1, int(step)))
    lo, st = decimal.Decimal(str(low)), decimal.Decimal(str(step))
    n = int((decimal.Decimal(str(high)) - lo) / st + decimal.Decimal("1e-9"))
    return [float(lo + k * st) for k in range(n + 1)]


def aligned(low, step) -> bool:
    """Is `low` a multiple of `step`? (Ray Tune's and W&B's quantised distributions round to multiples of q.)"""
    return decimal.Decimal(str(low)) % decimal.Decimal(str(step)) == 0


def _choices_problem(choices: list) -> str | None:
    if any(c is None for c in choices):
        return "None is a choice"
    kinds = {"bool" if isinstance(c, bool) else "number" if isinstance(c, numbers.Real) else
             "str" if isinstance(c, str) else type(c).__name__ for c in choices}
    if len(kinds) > 1:
        return f"choices mix types ({', '.join(sorted(kinds))})"
    return None

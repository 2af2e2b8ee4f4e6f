"""Optimizers by name, all behind one ask/tell interface (`base.py`), driven by `tune`.

    random      random search at full fidelity                     (random.py)
    sh          successive halving, random sampling                 (hyperband.py)
    hyperband   Hyperband, random sampling                          (hyperband.py)
    bohb        BOHB: Hyperband + multivariate KDE, own implementation (bohb.py)
    bohb-paper  the same with Falkner et al.'s sampler (bohb.PAPER)     (bohb.py)
    smac        SMAC3 HPO facade (random forest + EI), full fidelity (smac.py)
    smac-mf     SMAC3 multi-fidelity facade (Hyperband intensifier)  (smac.py)
    optuna-tpe  Optuna's TPE sampler (options: multivariate, group), full fidelity (tpe.py)

    >>> from hpobench import optimizers
    >>> [n for n in optimizers.names() if n in optimizers.BUILT_IN]  # names() also lists registered ones
    ['bohb', 'bohb-paper', 'hyperband', 'optuna-tpe', 'random', 'sh', 'smac', 'smac-mf']
    >>> run = optimizers.tune("synthetic/agree", "sh", budget=3 * 81, seed=0)
    >>> run.trials["status"].iloc[0]
    'ok'

Add your own with `register(name, factory)`, where `factory(problem, **options)` returns
an object with `ask()` and `tell(trial, loss)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from hpobench.optimizers.base import Exhausted, OptimizerError, Problem, Proposal, Trial
from hpobench.optimizers.tune import Run, tune

__all__ = ["Exhausted", "OptimizerError", "Problem", "Proposal", "Run", "Trial", "factory",
           "MULTI_FIDELITY", "names", "register", "tune"]

# name -> "module:function" (imported when used: SMAC is slow to import)
_FACTORIES: dict[str, str | Callable] = {
    "random": "hpobench.optimizers.random:make",
    "sh": "hpobench.optimizers.hyperband:make_sh",
    "hyperband": "hpobench.optimizers.hyperband:make",
    "bohb": "hpobench.optimizers.bohb:make",
    "bohb-paper": "hpobench.optimizers.bohb:make_paper",
    "smac": "hpobench.optimizers.smac:make_hpo",
    "smac-mf": "hpobench.optimizers.smac:make_mf",
    "optuna-tpe": "hpobench.optimizers.tpe:make",
}
BUILT_IN = frozenset(_FACTORIES)  # what ships; register() adds others
MULTI_FIDELITY = frozenset({"sh", "hyperband", "bohb", "bohb-paper", "smac-mf"})


def names() -> list[str]:
    return sorted(_FACTORIES)


def factory(name: str) -> Callable:
    """The factory registered as `name` (`factory(problem, **options) -> optimizer`)."""
    if name not in _FACTORIES:
        raise OptimizerError(f"unknown optimizer {name!r}; known: {', '.join(names())}")
    f = _FACTORIES[name]
    if isinstance(f, str):
        module, fn = f.split(":")
        f = getattr(importlib.import_module(module), fn)
    return f


def register(name: str, fn: Callable, *, overwrite: bool = False) -> None:
    if name in _FACTORIES and not overwrite:
        raise OptimizerError(f"optimizer {name!r} is already registered (pass overwrite=True)")
    _FACTORIES[name] = fn

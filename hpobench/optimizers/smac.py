"""SMAC3 (2.4) through its ask/tell interface: the HPO facade and the multi-fidelity facade.

`smac` is SMAC's HyperparameterOptimizationFacade (random-forest surrogate, EI, Sobol
initial design) at full fidelity; `smac-mf` is its MultiFidelityFacade (Hyperband
intensifier, eta = 3) over the budget axis. Both use the facade defaults except:
`smac-mf` fits its random forest on the highest budget with at least d + 1 trials (d: the
hyperparameters), not 1 (SMAC3 2.x's `ConfigSelector(min_trials=1)`): d + 1 was SMAC3 1.x's own
SMAC4MF setting ("requires at least D+1 samples to build a model") and is BOHB's N_min (Falkner
et al. 2018). With 1, the model is fitted on the few full-budget trials (at first: the default
configuration alone) and the cheap budgets' hundreds of trials are ignored. Its random initial
design is 5 configurations (SMAC3's multi-fidelity example), not 10 per hyperparameter (60 for
6-d, about a fifth of the budget sampled blind), so the model starts from the cheap budgets as
BOHB's does. Chosen on calibration seeds 100-104 of `experiments/bohb_peers` (evaluation seeds
0-9 unseen), median final regret facade defaults -> these: branin 0.0035 -> 0.0057, hartmann3
0.060 -> 0.014, hartmann6 0.28 -> 0.36, styblinski4 15.5 -> 7.9; vs Syne Tune's BOHB (0.141,
0.163, 0.403, 12.3) 4 of 4 at or below it instead of 3 (styblinski4 1.26x). Also:
`deterministic=True` (one seed per configuration: each trial is evaluated once),
failed trials are told as CRASHED with their loss (`base.Losses`; a failed trial whose loss
is not finite yet, because nothing has succeeded so far and the metric declares no worst
bound, is told once a finite loss is known, with the worst one), and the random forest runs on
one thread (SMAC's default uses every core; this machine is shared).

Warm start (`Problem.warm`, `hpobench.optimizers.warm`): `smac`'s initial design is the warm
configurations and nothing else (SMAC3's `additional_configs` with `n_configs=0`; SMAC puts its
own Sobol points before additional ones, so they would not come first otherwise); `smac-mf` is
told the records through SMAC3's `tell` at their budgets before its first ask, and so is `smac`
with `WarmStart.prior`, the records placed at full fidelity (`warm.aligned`): its forest is fitted
on them from the first ask, so it has no random initial design.

hpobench drives the trials (budget in cost units, run record, Dask workers), so SMAC
never runs the objective itself and its own Dask runner is not used. SMAC's state and
output directory are private to a run (a temporary directory, removed by `close`).
SMAC's local search is given its start points in a fixed order (`_ordered`): SMAC
orders them by Python's per-process string hash, so the same seed gave different runs
in different processes. With that fixed, a run is the same in any process, and a
killed run resumes by replaying its journal exactly, like every other optimizer.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "smac", budget=6 * 81, seed=0)
    >>> len(run.trials)
    6
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from ConfigSpace import Configuration

from hpobench.optimizers.base import Exhausted, Problem, Proposal, Trial, values
from hpobench.optimizers.hyperband import iteration_cost
from hpobench.optimizers.warm import aligned

logging.getLogger("smac").setLevel(logging.ERROR)  # SMAC logs every step at INFO/WARNING


@contextlib.contextmanager
def _quiet():
    """SMAC's harmless numpy warnings (e.g. 'Mean of empty slice' on empty budgets)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Mean of empty slice")
        warnings.filterwarnings("ignore", message="invalid value encountered")
        warnings.filterwarnings("ignore", message="Degrees of freedom")
        yield


@functools.cache
def _ordered(local_search: type) -> type:
    """SMAC's local search with its start points in a fixed order. SMAC (2.4) dedupes them
    through a set, whose order follows Python's per-process string hash (PYTHONHASHSEED), so
    the same seed gave different runs in different processes."""

    class Ordered(local_search):
        def _get_init_points_from_previous_configs(self, *args, **kwargs):
            points = super()._get_init_points_from_previous_configs(*args, **kwargs)
            return sorted(points, key=lambda c: tuple(np.nan_to_num(c.get_array(), nan=-1.0)))

    return Ordered


@dataclass
class SMAC:
    problem: Problem
    multi_fidelity: bool = False
    n_trials: int = 100  # SMAC sizes its initial design from this (max 25% of it)
    eta: int = 3
    initial_configs: int | None = None  # SMAC's random/Sobol initial design size; None: the facade's rule
    min_trials: int = 1  # multi-fidelity: fit the model on the highest budget with at least this many trials
    facade: object = field(init=False, repr=False)
    pending: dict = field(init=False, default_factory=dict)  # ask number -> SMAC TrialInfo
    asked: int = field(init=False, default=0)
    seed: int | None = field(init=False, default=None)  # SMAC's instance seed (deterministic: one)
    held: list = field(init=False, default_factory=list)  # failed trials told before any finite loss
    worst: float = field(init=False, default=-math.inf)  # largest finite loss told to SMAC
    outdir: Path = field(init=False)
    proposes_warm: bool = field(init=False, default=False)  # the warm configurations are SMAC's initial design

    def __post_init__(self):
        from smac import HyperparameterOptimizationFacade as HPO
        from smac import MultiFidelityFacade as MF
        from smac import Scenario
        from smac.model.random_forest import RandomForest

        self.outdir = Path(tempfile.mkdtemp(prefix="hpobench-smac-"))
        axis, warm = self.problem.axis, self.problem.warm
        kw = dict(min_budget=axis.low, max_budget=axis.high) if self.multi_fidelity else {}
        # the records placed at full fidelity (none placeable: a random initial design as without them)
        prior = aligned(warm.observations, axis.high) if warm is not None and warm.prior and not self.multi_fidelity \
            else []
        self.proposes_warm = bool(warm is not None and (warm.configs or prior) and not self.multi_fidelity)
        n_trials = max(int(self.n_trials), 1 + (len(warm.configs) if self.proposes_warm else 0))
        # crash_cost is used only by SMAC's own runners (never here: hpobench tells every loss); 1.0 as ever
        scenario = Scenario(self.problem.space, name="run", output_directory=self.outdir, deterministic=True,
                            crash_cost=1.0, n_trials=n_trials, seed=self.problem.seed, **kw)
        # the facade's forest, on one thread
        model = RandomForest(scenario.configspace, log_y=True, n_trees=10, ratio_features=1.0,
                             min_samples_split=2, min_samples_leaf=1, max_depth=2**20, bootstrapping=True,
                             instance_features=scenario.instance_features, seed=scenario.seed, n_jobs=1)
        facade = MF if self.multi_fidelity else HPO
        extra = dict(intensifier=MF.get_intensifier(scenario, eta=self.eta)) if self.multi_fidelity else {}
        if self.proposes_warm:  # SMAC3's own warm start: the initial design is the warm configurations only
            extra["initial_design"] = HPO.get_initial_design(
                scenario, n_configs=0, additional_configs=[Configuration(self.problem.space, values=c)
                                                           for c in warm.configs])
        elif self.initial_configs is not None:
            extra["initial_design"] = facade.get_initial_design(scenario, n_configs=self.initial_configs)
        if self.min_trials != 1:
            from smac.main.config_selector import ConfigSelector
            extra["config_selector"] = ConfigSelector(scenario, min_trials=self.min_trials)
        maximizer = facade.get_acquisition_maximizer(scenario)
        maximizer._local_search.__class__ = _ordered(type(maximizer._local_search))
        with _quiet():
            self.facade = facade(scenario, None, model=model, acquisition_maximizer=maximizer, logging_level=False,
                                 overwrite=True, **extra)
        if warm is not None and self.multi_fidelity:
            self._tell_known(warm.observations)
        elif prior:  # the model starts from the records; trial 0 tells the default
            default = values(self.problem.space.get_default_configuration())
            self._tell_known([o for o in prior if o.config != default])

    def _tell_known(self, observations) -> None:
        """Records from before the run, through SMAC3's `tell`, at their budgets (`warm`; the HPO facade:
        at none); one seed, 0, as SMAC adopts the seeds in its runhistory. Below the axis' lowest budget:
        left out (SMAC refuses them)."""
        from smac.runhistory.dataclasses import TrialInfo, TrialValue
        from smac.runhistory.enumerations import StatusType
        self.seed = 0
        axis = self.problem.axis
        with _quiet():
            for o in observations:
                if axis.low <= o.budget <= axis.high:
                    info = TrialInfo(Configuration(self.problem.space, values=o.config), seed=0,
                                     budget=o.budget if self.multi_fidelity else None)
                    status = StatusType.SUCCESS if o.ok else StatusType.CRASHED
                    self.facade.tell(info, TrialValue(cost=o.loss, status=status), save=False)
                    self.worst = max(self.worst, o.loss)

    def ask(self) -> Proposal:
        with _quiet():
            try:
                info = self.facade.ask()
            except StopIteration:
                raise Exhausted("SMAC's intensifier found no new trial") from None
        if self.seed is None:
            self.seed = info.seed
        k = self.asked
        self.asked += 1
        self.pending[k] = info
        budget = info.budget if self.multi_fidelity else None
        return Proposal(values(info.config), budget, {"smac": k, "seed": info.seed})

    def tell(self, trial: Trial, loss: float) -> None:
        from smac.runhistory.dataclasses import TrialInfo, TrialValue
        from smac.runhistory.enumerations import StatusType

        info = self.pending.pop(trial.info.get("smac"), None)
        if info is None:  # not asked by this SMAC: the default, or a trial of a resumed run
            if self.seed is None:
                self.seed = trial.info.get("seed", 0)  # SMAC adopts the seeds it finds in its runhistory
            budget = None
            if self.multi_fidelity:
                budget = float(trial.budget if trial.budget is not None else self.problem.axis.high)
            info = TrialInfo(Configuration(self.problem.space, values=trial.config),
                             seed=trial.info.get("seed", self.seed), budget=budget)
        status = StatusType.SUCCESS if trial.status in (None, "ok") else StatusType.CRASHED
        loss = float(loss)
        if not math.isfinite(loss):  # SMAC's scaling needs finite costs: wait for a finite one
            self.held.append((info, status))
            return
        self.worst = max(self.worst, loss)
        with _quiet():
            self.facade.tell(info, TrialValue(cost=loss, status=status), save=False)
            while self.held:
                info, status = self.held.pop(0)
                self.facade.tell(info, TrialValue(cost=self.worst, status=status), save=False)

    def close(self) -> None:
        shutil.rmtree(self.outdir, ignore_errors=True)


def make_hpo(problem: Problem, n_trials: int | None = None) -> SMAC:
    """n_trials (for SMAC's initial design): default, the full-fidelity trials the budget buys."""
    if n_trials is None:
        n_trials = _trials(problem.budget / problem.cost(problem.full))
    return SMAC(problem, multi_fidelity=False, n_trials=n_trials)


def make_mf(problem: Problem, n_trials: int | None = None, eta: int = 3, initial_configs: int | None = 5,
            min_trials: int | None = None) -> SMAC:
    """n_trials: default, the trials Hyperband would run with the budget. initial_configs: 5 random
    configurations (SMAC3's multi-fidelity example; None: the facade's 10 per hyperparameter);
    min_trials: default d + 1 (module docstring)."""
    if n_trials is None:
        trials, cost = iteration_cost(problem, problem.cost, eta)
        n_trials = _trials(problem.budget / cost * trials)
    if min_trials is None:
        min_trials = len(problem.space) + 1
    return SMAC(problem, multi_fidelity=True, n_trials=n_trials, eta=eta, initial_configs=initial_configs,
                min_trials=min_trials)


def _trials(x: float) -> int:
    return int(min(max(x, 1), 10**6)) if x == x else 100  # NaN-safe; inf budget -> cap

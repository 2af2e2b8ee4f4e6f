"""`optuna-tpe`: Optuna's TPE sampler (Optuna 5.0) behind the ask/tell interface, at full fidelity.

Each `ask` opens a trial of a private in-memory Optuna study (minimised: the loss of
`base.Losses`) and walks the space parents first, suggesting a hyperparameter only when its
conditions hold under the values already drawn (define-by-run, the way Optuna users write
conditional spaces), through the distributions of `hpobench.distributions`; constants are not
suggested. Options (`--option KEY=VALUE`), with their defaults:

    multivariate=False     model the hyperparameters jointly (Optuna's multivariate TPE)
    group=False            with multivariate: one joint model per group of hyperparameters that
                           are active together, Optuna's answer to conditional spaces (a plain
                           multivariate model samples the conditional ones independently)
    n_startup_trials=10    random trials before the model
    constant_liar=False    with --workers > 1: running trials count as bad ones, so parallel
                           asks spread out

The defaults are Optuna's own, the independent TPE: on the two conditional spaces measured
(`synthetic/agree`, and `surrogate/cifar10-cpu`, the 25-hyperparameter ResNet space) it was at
least as good as the multivariate and grouped variants, which won only on an unconditional
function with strong interactions (`mf/hartmann6`): `results/tpe_options/summary.md`. For such
a space give `--option multivariate=true --option group=true`.

Trials it did not ask for (the default configuration, warm-start configurations) are added
to the study as finished trials with their active values. A failed trial is told its loss
(the metric's worst bound, else the worst loss so far); a loss that is not finite yet
(nothing has succeeded and the metric has no worst bound) is told as Optuna's FAIL, which TPE
leaves out. TPE is seeded with the run's seed and its draws depend only on that and the
sequence of asks and tells, so a resumed run replays its journal into a fresh study and
goes on exactly as if never interrupted.

    >>> import hpobench
    >>> run = hpobench.tune("synthetic/agree", "optuna-tpe", budget=4 * 81, seed=0)
    >>> len(run.trials), bool(run.trials["full"].all())
    (4, True)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

from hpobench import spaces
from hpobench.distributions import suggest, to_optuna
from hpobench.optimizers.base import OptimizerError, Problem, Proposal, Trial


@dataclass
class TPE:
    problem: Problem
    multivariate: bool = False
    group: bool = False
    n_startup_trials: int = 10
    constant_liar: bool = False
    study: object = field(init=False, repr=False)
    pending: dict = field(init=False, default_factory=dict)  # ask number -> Optuna trial
    asked: int = field(init=False, default=0)

    def __post_init__(self):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # a line per study at INFO; sampling notes
        if self.group and not self.multivariate:
            raise OptimizerError("optuna-tpe: group=true needs multivariate=true (Optuna's rule): "
                                 "give --option multivariate=true --option group=true")
        if self.n_startup_trials < 1:
            raise OptimizerError(f"optuna-tpe: n_startup_trials must be at least 1, got {self.n_startup_trials}")
        with warnings.catch_warnings():  # multivariate, group and constant_liar are "experimental"
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(
                seed=self.problem.seed, multivariate=self.multivariate, group=self.group,
                n_startup_trials=self.n_startup_trials, constant_liar=self.constant_liar)
        self.study = optuna.create_study(sampler=sampler, direction="minimize")

    def ask(self) -> Proposal:
        space = self.problem.space
        trial = self.study.ask()
        config: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's experimental and float-step notes
            for name in space:  # parents before children
                if name in spaces.active(space, config):
                    config[name] = suggest(trial, name, space[name])
        k = self.asked
        self.asked += 1
        self.pending[k] = trial
        return Proposal(config, None, {"optuna": k})

    def tell(self, trial: Trial, loss: float) -> None:
        from optuna.trial import TrialState, create_trial

        loss = float(loss)
        state = TrialState.COMPLETE if math.isfinite(loss) else TrialState.FAIL
        value = loss if state == TrialState.COMPLETE else None
        asked = self.pending.pop(trial.info.get("optuna"), None)
        if asked is not None:
            self.study.tell(asked, value, state=state)
            return
        # not asked by this study: the default or a warm-start configuration
        space = self.problem.space
        dists = {k: d for k in trial.config if k in space and (d := to_optuna(space[k])) is not None}
        self.study.add_trial(create_trial(params={k: trial.config[k] for k in dists}, distributions=dists,
                                          value=value, state=state))


def _flag(name: str, v) -> bool:
    """An option given on the command line arrives as text ("true", "false", "1", "0")."""
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise OptimizerError(f"optuna-tpe: option {name} must be true or false, got {v!r}")


def make(problem: Problem, multivariate: bool = False, group: bool = False, n_startup_trials: int = 10,
         constant_liar: bool = False) -> TPE:
    """Options as in the module docstring; text values from --option are read as booleans / an int."""
    try:
        n = int(n_startup_trials)
    except (TypeError, ValueError):
        raise OptimizerError(f"optuna-tpe: n_startup_trials must be an integer, got {n_startup_trials!r}") from None
    return TPE(problem, _flag("multivariate", multivariate), _flag("group", group), n,
               _flag("constant_liar", constant_liar))

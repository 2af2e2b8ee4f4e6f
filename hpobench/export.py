"""A scoped space for the tools practitioners already use: an Optuna snippet, a W&B sweep, a Ray Tune space.

A scoped space (`spaces.fix`; `scoped_space.json` of `hpobench scope`) holds the kept
hyperparameters with their ranges and the fixed ones as constants; `fixed` adds values of
hyperparameters outside it. Three texts, written by `write` beside scoped_space.json:

- `optuna(space, fixed, metric)`: Python defining `suggest(trial)`, which returns the
  configuration: the kept hyperparameters through `trial.suggest_float/int/categorical` (log
  and step from `hpobench.distributions`), the fixed values merged in. A conditional
  hyperparameter (or fixed value) is suggested (merged) only when its condition holds under
  the values already chosen, so every configuration is valid in the scoped space.
- `wandb(space, fixed, metric)`: a W&B sweep YAML (method bayes, the metric's name and goal;
  `distribution` with `min`/`max`, `values` for categories, `value` for fixed values).
- `ray(space, fixed, metric)`: Python defining `param_space` for Ray Tune (`tune.loguniform`,
  `uniform`, `randint`, `lograndint`, `qrandint`, `quniform`, `choice`; fixed values as constants).

Ray's and W&B's quantised distributions round to multiples of q, so a stepped range whose lower
end is not a multiple of its step is written as its list of values (`choice`, `values`).

W&B sweeps and Ray Tune's `param_space` have no conditions: they sample every hyperparameter
in every trial, and the header of each file lists the conditions, for the training code to
ignore a value whose condition does not hold. Hyperparameters are written parents first.

    >>> from ConfigSpace import Categorical, ConfigurationSpace, EqualsCondition, Float
    >>> cs = ConfigurationSpace()
    >>> opt, mom = Categorical("optimizer", ["sgd", "adamw"]), Float("momentum", (0.0, 0.99))
    >>> cs.add([opt, mom, Float("lr", (1e-4, 1.0), log=True), EqualsCondition(mom, opt, "sgd")])
    >>> text = optuna(cs, {"epochs": 30})
    >>> print(text[text.index("    config = {}"):text.index("    return config")])
        config = {}
        config['lr'] = trial.suggest_float('lr', 0.0001, 1.0, log=True)
        config['optimizer'] = trial.suggest_categorical('optimizer', ['sgd', 'adamw'])
        if config.get('optimizer') == 'sgd':
            config['momentum'] = trial.suggest_float('momentum', 0.0, 0.99)
        config['epochs'] = 30  # fixed
    <BLANKLINE>
"""

from __future__ import annotations

import decimal
import textwrap
from collections.abc import Mapping
from pathlib import Path

import yaml
from ConfigSpace import ConfigurationSpace, Constant
from ConfigSpace.conditions import (
    AndConjunction,
    EqualsCondition,
    GreaterThanCondition,
    InCondition,
    LessThanCondition,
    NotEqualsCondition,
    OrConjunction,
)

from hpobench.distributions import aligned, grid, to_optuna
from hpobench.spaces import SpaceError, plain

FILES = {"optuna": "scoped_space_optuna.py", "wandb": "scoped_space_wandb.yaml", "ray": "scoped_space_ray.py"}
MAX_LEVELS = 10_000  # a discrete parent with more values has its conditions written as comparisons


def optuna(space: ConfigurationSpace, fixed: Mapping | None = None, metric=None, title: str = "") -> str:
    """The Optuna snippet (module docstring). metric: anything with .name and .direction (default f1, maximised)."""
    name, direction = _metric(metric)
    lines = [f'"""Scoped search space{_for(title)}, written by hpobench: `suggest(trial)` returns one configuration.',
             "",
             *_wrap(f"Tuned: {_names(_tuned(space))}."),
             *_wrap(f"Fixed: {_names(_fixed(space, fixed))}."),
             "Conditional hyperparameters are suggested only when their condition holds under the values already",
             "chosen (and fixed values are merged only where they are active), so every configuration is valid in",
             "the scoped space. Use it in your objective:",
             "",
             "    def objective(trial):",
             "        config = suggest(trial)",
             "        ...  # train; trial.report(value, epoch) each epoch lets a pruner stop bad trials early",
             f"        return {name}",
             "",
             f"    study = optuna.create_study(direction={direction!r}, pruner=optuna.pruners.MedianPruner())",
             "    study.optimize(objective, n_trials=100)",
             '"""',
             "",
             f"METRIC, DIRECTION = {name!r}, {direction!r}",
             "",
             "",
             "def suggest(trial):",
             '    """One configuration: the tuned hyperparameters from Optuna, the fixed values merged in."""',
             "    config = {}"]
    for hp_name, hp in space.items():
        if isinstance(hp, Constant):
            line = f"config[{hp_name!r}] = {plain(hp.value)!r}  # fixed"
        else:
            line = f"config[{hp_name!r}] = {_suggest_call(hp_name, to_optuna(hp))}"
        cond = _condition(space, hp_name, python=True)
        if cond:
            lines += [f"    if {cond}:", f"        {line}"]
        else:
            lines.append(f"    {line}")
    for k, v in _extra(space, fixed).items():
        lines.append(f"    config[{k!r}] = {v!r}  # fixed")
    lines += ["    return config", "", "",
              'if __name__ == "__main__":  # three configurations, drawn by Optuna without training',
              "    import optuna", "",
              "    study = optuna.create_study(direction=DIRECTION)",
              "    for _ in range(3):",
              "        print(suggest(study.ask()))", ""]
    return "\n".join(lines)


def _suggest_call(name: str, dist) -> str:
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        return f"trial.suggest_categorical({name!r}, {[plain(c) for c in dist.choices]!r})"
    fn = "suggest_int" if kind == "IntDistribution" else "suggest_float"
    extra = ", log=True" if dist.log else f", step={dist.step!r}" if dist.step not in (None, 1) else ""
    call = f"trial.{fn}({name!r}, {dist.low!r}, {dist.high!r}{extra})"
    if fn == "suggest_float" and dist.step is not None:  # 0.15, not 0.15000000000000002
        digits = max(-decimal.Decimal(str(x)).as_tuple().exponent for x in (dist.low, dist.step))
        return f"round({call}, {digits})"
    return call


def wandb(space: ConfigurationSpace, fixed: Mapping | None = None, metric=None, title: str = "") -> str:
    """The W&B sweep YAML (module docstring)."""
    name, direction = _metric(metric)
    params = {}
    for hp_name, hp in space.items():
        params[hp_name] = {"value": plain(hp.value)} if isinstance(hp, Constant) else _wandb_param(to_optuna(hp))
    params.update({k: {"value": v} for k, v in _extra(space, fixed).items()})
    sweep = {"program": "train.py", "method": "bayes", "metric": {"name": name, "goal": direction},
             "parameters": params}
    head = [f"# W&B sweep{_for(title)}, written by hpobench from its scoped space: `wandb sweep` this file.",
            "# program: your training script; it reads wandb.config and logs the metric under its name.",
            *_condition_notes(space, "W&B samples every parameter in every run")]
    return "\n".join(head) + "\n" + yaml.dump(sweep, Dumper=_Dumper, sort_keys=False)


class _Dumper(yaml.SafeDumper):
    """Block mappings, one-line lists (`values: [32, 64, 128]`)."""


_Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _wandb_param(dist) -> dict:
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        return {"values": [plain(c) for c in dist.choices]}
    integer = kind == "IntDistribution"
    if dist.log:
        if integer:
            return {"distribution": "q_log_uniform_values", "min": dist.low, "max": dist.high, "q": 1}
        return {"distribution": "log_uniform_values", "min": dist.low, "max": dist.high}
    if dist.step is not None and dist.step != 1:
        if integer or not aligned(dist.low, dist.step):  # q_uniform rounds to multiples of q
            return {"values": grid(dist.low, dist.high, dist.step, integer)}
        return {"distribution": "q_uniform", "min": dist.low, "max": dist.high, "q": dist.step}
    return {"distribution": "int_uniform" if integer else "uniform", "min": dist.low, "max": dist.high}


def ray(space: ConfigurationSpace, fixed: Mapping | None = None, metric=None, title: str = "") -> str:
    """The Ray Tune `param_space` snippet (module docstring)."""
    name, direction = _metric(metric)
    mode = "max" if direction == "maximize" else "min"
    lines = [f'"""Scoped search space{_for(title)} for Ray Tune, written by hpobench.', "",
             "    tune.Tuner(train, param_space=param_space,",
             f"               tune_config=tune.TuneConfig(metric={name!r}, mode={mode!r})).fit()",
             "", "randint and lograndint exclude their upper bound (written as the largest value + 1); qrandint",
             "and quniform include it.",
             *[n[2:] for n in _condition_notes(space, "Ray Tune samples every entry of param_space in every trial")],
             '"""', "", "from ray import tune", "", "param_space = {"]
    for hp_name, hp in space.items():
        value = repr(plain(hp.value)) if isinstance(hp, Constant) else _ray_call(to_optuna(hp))
        cond = _condition(space, hp_name, python=False)
        lines.append(f"    {hp_name!r}: {value},{f'  # used only when {cond}' if cond else ''}")
    lines += [f"    {k!r}: {v!r},  # fixed" for k, v in _extra(space, fixed).items()]
    lines += ["}", ""]
    return "\n".join(lines)


def _ray_call(dist) -> str:
    kind = type(dist).__name__
    if kind == "CategoricalDistribution":
        return f"tune.choice({[plain(c) for c in dist.choices]!r})"
    integer = kind == "IntDistribution"
    if dist.step is not None and dist.step != 1:
        if not aligned(dist.low, dist.step):  # qrandint/quniform round to multiples of q
            return f"tune.choice({grid(dist.low, dist.high, dist.step, integer)!r})"
        return f"tune.{'qrandint' if integer else 'quniform'}({dist.low!r}, {dist.high!r}, {dist.step!r})"
    if integer:
        return f"tune.{'lograndint' if dist.log else 'randint'}({dist.low}, {dist.high + 1})"
    return f"tune.{'loguniform' if dist.log else 'uniform'}({dist.low!r}, {dist.high!r})"


def write(out: str | Path, space: ConfigurationSpace, fixed: Mapping | None = None, metric=None,
          title: str = "") -> list[Path]:
    """The three files (`FILES`) in the folder `out`; returns their paths."""
    out = Path(out)
    paths = []
    for kind, fn in (("optuna", optuna), ("wandb", wandb), ("ray", ray)):
        path = out / FILES[kind]
        path.write_text(fn(space, fixed, metric, title))
        paths.append(path)
    return paths


# ------------------------------------------------------------------ helpers

def _metric(metric) -> tuple[str, str]:
    if metric is None:
        return "f1", "maximize"
    return metric.name, metric.direction


def _for(title: str) -> str:
    return f" for {title}" if title else ""


def _tuned(space) -> list[str]:
    return [k for k, hp in space.items() if not isinstance(hp, Constant)]


def _fixed(space, fixed) -> list[str]:
    return [k for k, hp in space.items() if isinstance(hp, Constant)] + list(_extra(space, fixed))


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, 100, break_on_hyphens=False)


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


def _extra(space, fixed) -> dict:
    """Fixed values of hyperparameters outside the space; a kept one given a value is an error."""
    fixed = {k: plain(v) for k, v in (fixed or {}).items()}
    clash = [k for k in fixed if k in space and not isinstance(space[k], Constant)]
    if clash:
        raise SpaceError(f"export: {clash} are tuned in the scoped space but given fixed values")
    bad = [k for k in fixed if k in space and plain(space[k].value) != fixed[k]]
    if bad:
        raise SpaceError(f"export: fixed values of {bad} differ from the scoped space's constants")
    return {k: v for k, v in fixed.items() if k not in space}


def _condition_notes(space, how: str) -> list[str]:
    conds = [(k, c) for k in space if (c := _condition(space, k, python=False))]
    if not conds:
        return []
    text = (f"Conditional hyperparameters: {how}; your training code should ignore a value unless its "
            f"condition holds (scoped_space_optuna.py suggests each only when it does):")
    return [f"# {line}" for line in _wrap(text)] + [f"#   {k}: used only when {c}" for k, c in conds]


def _condition(space, name: str, python: bool) -> str:
    """The condition under which `name` is active, as a Python expression on `config` or as text; '' if none."""
    parts = [_expr(space, c, python) for c in space.parent_conditions_of[name]]
    return " and ".join(parts) if len(parts) > 1 else (parts[0] if parts else "")


def _expr(space, cond, python: bool) -> str:
    if isinstance(cond, (AndConjunction, OrConjunction)):
        op = " and " if isinstance(cond, AndConjunction) else " or "
        return "(" + op.join(_expr(space, c, python) for c in cond.components) + ")"
    p = cond.parent.name
    ref = f"config.get({p!r})" if python else p
    levels = _levels(space[p])
    if levels is not None:  # a discrete parent: the values under which the condition holds
        ok = [v for v in levels if _holds(cond, p, v)]
        if len(ok) != 1:
            return f"{ref} in {ok!r}"
        return f"{ref} {'is' if python and isinstance(ok[0], bool) else '=='} {ok[0]!r}"
    v = plain(cond.value)
    op = {EqualsCondition: "==", NotEqualsCondition: "!=", GreaterThanCondition: ">",
          LessThanCondition: "<"}.get(type(cond))
    if isinstance(cond, InCondition):
        return f"{ref} in {[plain(x) for x in cond.values]!r}"
    if op is None:
        raise SpaceError(f"export: condition {cond} is not supported")
    guard = f"{p!r} in config and config[{p!r}]" if python and op != "==" else ref
    return f"{guard} {op} {v!r}"


def _levels(hp) -> list | None:
    if isinstance(hp, Constant):
        return [plain(hp.value)]
    for attr in ("choices", "sequence"):
        if hasattr(hp, attr):
            return [plain(v) for v in getattr(hp, attr)]
    if hasattr(hp, "upper") and isinstance(plain(hp.lower), int) and hp.upper - hp.lower < MAX_LEVELS:
        return list(range(int(hp.lower), int(hp.upper) + 1))
    return None


def _holds(cond, parent: str, value) -> bool:
    try:
        return bool(cond.satisfied_by_value({parent: value}))
    except (KeyError, TypeError, ValueError):
        return False

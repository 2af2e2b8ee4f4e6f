"""Scoped spaces out (`hpobench.export`): the Optuna snippet run by a real Optuna study (every configuration
valid in the scoped space, conditional hyperparameters suggested only when active), the W&B sweep parsed by
PyYAML and checked against the space, and the Ray Tune snippet parsed by `ast` and, as ray is not installed
(nor in any extra), executed with a stand-in for `ray.tune` that only records which sampler each entry names
and its bounds, checked against the space."""

import ast
import runpy
import sys
import types

import optuna
import pytest
import yaml
from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    Constant,
    Float,
    GreaterThanCondition,
    InCondition,
    Integer,
    LessThanCondition,
    OrdinalHyperparameter,
)

from hpobench import export, spaces
from hpobench.benchmarks.base import Metric
from hpobench.distributions import to_optuna
from hpobench.spaces import SpaceError

FIXED = {"epochs": 30}  # a fixed value outside the space (e.g. a fidelity knob the user sets)
METRIC = Metric("log_loss", "minimize", lower=0)


def _resnet() -> ConfigurationSpace:
    """The ResNet space scoped: constants (one conditional: sgd_momentum), tuned children of tuned parents."""
    return spaces.fix(spaces.resnet(), {"schedule": "cosine", "width": 16, "aug_flip": True, "sgd_momentum": 0.9})


def _mixed() -> ConfigurationSpace:
    """What the ResNet space lacks: log integers, float steps on and off a multiple, >, < and `in` conditions."""
    cs = ConfigurationSpace()
    wd, k, act = Float("wd", (0.0, 1.0)), Integer("k", (1, 5)), Categorical("act", ["relu", "gelu", "silu"])
    big, small, smooth = Float("big", (1.0, 2.0)), Integer("small", (0, 3)), Float("smooth", (0.0, 0.1))
    cs.add([wd, k, act, big, small, smooth, Integer("units", (16, 256), log=True),
            OrdinalHyperparameter("drop", (0.05, 0.15, 0.25)), OrdinalHyperparameter("frac", (0.0, 0.1, 0.2)),
            OrdinalHyperparameter("blocks", (2, 4, 6)), Constant("name", "net"), GreaterThanCondition(big, wd, 0.5),
            LessThanCondition(small, k, 3), InCondition(smooth, act, ["relu", "gelu"])])
    return cs


SPACES = {"resnet": _resnet, "mixed": _mixed}


@pytest.mark.parametrize("which", SPACES)
def test_the_optuna_snippet_runs_a_real_study_with_valid_configurations(which, tmp_path, capsys):
    space = SPACES[which]()
    text = export.optuna(space, FIXED, METRIC, "a test")
    ns: dict = {}
    exec(compile(text, "scoped_space_optuna.py", "exec"), ns)
    assert (ns["METRIC"], ns["DIRECTION"]) == ("log_loss", "minimize")
    configs = []

    def objective(trial):
        config = ns["suggest"](trial)
        configs.append(config)
        return float(sum(v for v in config.values() if isinstance(v, (int, float))))

    study = optuna.create_study(direction=ns["DIRECTION"], sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(objective, n_trials=40)
    tuned = {k for k, hp in space.items() if not isinstance(hp, Constant)}
    for config, trial in zip(configs, study.trials):
        assert config["epochs"] == 30
        valid = Configuration(space, values={k: v for k, v in config.items() if k != "epochs"})  # raises if not
        assert set(trial.params) == set(valid) & tuned  # Optuna was asked for the active tuned ones only
        for k in trial.params:
            assert trial.distributions[k] == to_optuna(space[k])
    if which == "resnet":  # both branches of a conditional parent, each with its own children
        assert {c["optimizer"] for c in configs} == {"sgd", "adamw"}
        assert all(("sgd_momentum" in c) == (c["optimizer"] == "sgd") for c in configs)
        assert all(("adamw_beta1" in c) == (c["optimizer"] == "adamw") for c in configs)
    else:
        assert all(("big" in c) == (c["wd"] > 0.5) and ("small" in c) == (c["k"] < 3) for c in configs)
        assert any("big" in c for c in configs) and any("big" not in c for c in configs)
    path = tmp_path / "snippet.py"  # and run as a script, it prints three configurations
    path.write_text(text)
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.count("{") == 3


def _wandb_values(param: dict):
    """What a W&B sweep parameter samples: ('range', lo, hi, log, q) or ('values', [...])."""
    if "value" in param:
        return ("values", [param["value"]])
    if "values" in param:
        return ("values", param["values"])
    d = param["distribution"]
    log = d.startswith("log") or d.startswith("q_log")
    integer = d == "int_uniform" or (d.startswith("q_") and param.get("q") == 1)
    return ("range", param["min"], param["max"], log, None if integer else param.get("q"), integer)


def _space_values(hp):
    if isinstance(hp, Constant):
        return ("values", [hp.value])
    if hasattr(hp, "choices"):
        return ("values", list(hp.choices))
    if hasattr(hp, "sequence"):
        return ("values", list(hp.sequence))
    return ("range", hp.lower, hp.upper, bool(hp.log), None, isinstance(hp.lower, int))


@pytest.mark.parametrize("which", SPACES)
def test_the_wandb_sweep_parses_and_matches_the_space(which):
    space = SPACES[which]()
    sweep = yaml.safe_load(export.wandb(space, FIXED, METRIC))
    assert sweep["method"] == "bayes" and sweep["metric"] == {"name": "log_loss", "goal": "minimize"}
    assert list(sweep["parameters"]) == [*space, "epochs"] and sweep["parameters"]["epochs"] == {"value": 30}
    for name, hp in space.items():
        got, want = _wandb_values(sweep["parameters"][name]), _space_values(hp)
        if got[0] == "range" and got[4] is not None:  # a stepped ordinal as q_uniform
            lo, hi, q = got[1], got[2], got[4]
            got = ("values", [round(lo + i * q, 12) for i in range(round((hi - lo) / q) + 1)])
        assert got == want, name
    if which == "mixed":
        assert sweep["parameters"]["frac"]["distribution"] == "q_uniform"  # 0.0, 0.1, 0.2: multiples of q
        assert sweep["parameters"]["drop"] == {"values": [0.05, 0.15, 0.25]}  # not multiples: listed
        assert sweep["parameters"]["units"]["distribution"] == "q_log_uniform_values"
    text = export.wandb(space, FIXED, METRIC)
    for child in space:
        if space.parent_conditions_of[child]:
            assert f"#   {child}: used only when" in text


RAY = ("uniform", "loguniform", "quniform", "randint", "lograndint", "qrandint", "choice")


@pytest.mark.parametrize("which", SPACES)
def test_the_ray_snippet_parses_and_names_the_space(which, monkeypatch):
    space = SPACES[which]()
    text = export.ray(space, FIXED, METRIC)
    ast.parse(text)
    ray = types.ModuleType("ray")  # stand-in: ray is not installed; it records the sampler and its arguments
    ray.tune = types.SimpleNamespace(**{f: (lambda *a, _f=f: (_f, *a)) for f in RAY})
    monkeypatch.setitem(sys.modules, "ray", ray)
    ns: dict = {}
    exec(compile(text, "scoped_space_ray.py", "exec"), ns)
    ps = ns["param_space"]
    assert list(ps) == [*space, "epochs"] and ps["epochs"] == 30
    for name, hp in space.items():
        got = ps[name]
        if isinstance(hp, Constant):
            assert got == hp.value
        elif hasattr(hp, "choices"):
            assert got == ("choice", list(hp.choices))
        elif hasattr(hp, "sequence"):
            seq = list(hp.sequence)
            if got[0] in ("qrandint", "quniform"):  # quantised from 0: only when the levels are multiples of q
                lo, hi, q = got[1:]
                assert (lo, hi) == (seq[0], seq[-1]) and all(abs(v / q - round(v / q)) < 1e-9 for v in seq)
            else:
                assert got == ("choice", seq)
        elif isinstance(hp.lower, int):  # randint / lograndint: the upper bound is exclusive
            assert got == ("lograndint" if hp.log else "randint", hp.lower, hp.upper + 1)
        else:
            assert got == ("loguniform" if hp.log else "uniform", hp.lower, hp.upper)
    if which == "mixed":
        assert ps["frac"] == ("quniform", 0.0, 0.2, 0.1) and ps["blocks"] == ("qrandint", 2, 6, 2)
        assert "'big': tune.uniform(1.0, 2.0),  # used only when wd > 0.5" in text
    else:
        assert "'cutout_frac': tune.uniform(0.1, 0.6),  # used only when aug_cutout == True" in text


def test_write_puts_the_three_files_beside_the_scoped_space(tmp_path):
    paths = export.write(tmp_path, _resnet(), None, METRIC, "resnet/cifar10")
    assert [p.name for p in paths] == ["scoped_space_optuna.py", "scoped_space_wandb.yaml", "scoped_space_ray.py"]
    assert "for resnet/cifar10" in paths[0].read_text()


def test_fixed_values_must_agree_with_the_space():
    with pytest.raises(SpaceError, match="tuned in the scoped space"):
        export.optuna(_resnet(), {"learning_rate": 0.1})
    with pytest.raises(SpaceError, match="differ from the scoped space's constants"):
        export.wandb(_resnet(), {"width": 32})
    assert "config['width'] = 16  # fixed" in export.optuna(_resnet(), {"width": 16})

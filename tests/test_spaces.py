"""Scoped spaces: `spaces.fix` and `spaces.check_subspace`."""

import copy

import pytest
from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    Constant,
    EqualsCondition,
    Float,
    InCondition,
    Integer,
)

import hpobench
from hpobench import spaces
from hpobench.spaces import SpaceError, check_subspace, fix


def test_fixing_a_parent_removes_its_inactive_children_and_keeps_tuned_conditions():
    cs = spaces.resnet()
    scoped = fix(cs, {"optimizer": "adamw", "aug_crop": False})
    assert isinstance(scoped["optimizer"], Constant) and scoped["optimizer"].value == "adamw"
    assert isinstance(scoped["aug_crop"], Constant) and scoped["aug_crop"].value is False
    for gone in ("sgd_momentum", "sgd_nesterov", "crop_padding"):
        assert gone not in scoped
    # the adamw children are now always active: their satisfied condition is dropped
    for child in ("adamw_beta1", "adamw_beta2", "adamw_eps"):
        assert child in scoped and not scoped.parent_conditions_of[child]
    # a tuned child of a tuned parent keeps its condition
    assert [c.parent.name for c in scoped.parent_conditions_of["step_gamma"]] == ["schedule"]
    assert len(scoped) == len(cs) - 3
    check_subspace(scoped, cs)
    # every sampled configuration is a valid configuration of the full space
    scoped.seed(0)
    for cfg in scoped.sample_configuration(50):
        Configuration(cs, values=dict(cfg))


def test_fix_leaves_the_original_untouched_and_round_trips_through_json():
    cs = spaces.resnet()
    before = spaces.to_json(cs)
    scoped = fix(cs, {"optimizer": "sgd", "sgd_nesterov": False, "width": 32})
    assert spaces.to_json(cs) == before
    assert spaces.from_json(spaces.to_json(scoped)) == scoped
    cs.seed(1)
    cs.sample_configuration(20)  # still usable (ConfigSpace keeps vector indices in shared objects)


def test_fix_names_only_fixes_defaults():
    cs = spaces.resnet()
    scoped = fix(cs, ["optimizer", "learning_rate"])
    assert scoped["optimizer"].value == "sgd" and scoped["learning_rate"].value == pytest.approx(0.1)
    assert "adamw_beta1" not in scoped and "sgd_momentum" in scoped


def test_fixing_a_conditional_child_keeps_it_conditional():
    cs = spaces.resnet()
    scoped = fix(cs, {"sgd_momentum": 0.5})
    assert isinstance(scoped["sgd_momentum"], Constant)
    assert [c.parent.name for c in scoped.parent_conditions_of["sgd_momentum"]] == ["optimizer"]
    check_subspace(scoped, cs)
    scoped.seed(3)
    configs = [dict(c) for c in scoped.sample_configuration(40)]
    assert {c["optimizer"] for c in configs} == {"sgd", "adamw"}
    for c in configs:
        assert c.get("sgd_momentum") == (0.5 if c["optimizer"] == "sgd" else None)


def test_fix_resolves_conjunctions_and_in_conditions():
    cs = ConfigurationSpace()
    a = Categorical("a", ["x", "y", "z"])
    b = Categorical("b", ["on", "off"])
    c = Float("c", (0, 1))
    d = Integer("d", (1, 4))
    cs.add([a, b, c, d, InCondition(c, a, ["x", "y"]), EqualsCondition(d, b, "on")])
    s = fix(cs, {"a": "z"})
    assert "c" not in s and "d" in s
    s = fix(cs, {"a": "y", "b": "off"})
    assert "c" in s and not s.parent_conditions_of["c"] and "d" not in s
    check_subspace(s, cs)


@pytest.mark.parametrize("values, match", [
    ({"nope": 1}, "unknown hyperparameter"),
    ({"width": 12}, "not a legal value of width"),
    ({"learning_rate": 5.0}, "not a legal value of learning_rate"),
    ({"optimizer": "sgd", "adamw_beta1": 0.9}, "cannot fix \\['adamw_beta1'\\]: inactive"),
])
def test_fix_bad_input(values, match):
    with pytest.raises(SpaceError, match=match):
        fix(spaces.resnet(), values)


def test_check_subspace_accepts_narrower_ranges_and_the_full_space_itself():
    cs = hpobench.get("synthetic/agree").config_space
    check_subspace(cs, cs)
    narrow = spaces.from_json(spaces.to_json(cs).replace('"upper": 1.0', '"upper": 0.5'))
    check_subspace(narrow, cs)


def _names_problem(sub, full, match):
    with pytest.raises(SpaceError, match=match):
        check_subspace(sub, full)


def _space(hps) -> ConfigurationSpace:
    cs = ConfigurationSpace()
    cs.add(copy.deepcopy(list(hps)))  # ConfigSpace writes indices into the objects it is given
    return cs


def test_check_subspace_rejects_what_is_not_a_subspace():
    full = hpobench.get("synthetic/agree").config_space
    # a hyperparameter the benchmark does not have
    extra = fix(full, ["x0"])
    extra.add(Float("mystery", (0, 1)))
    _names_problem(extra, full, "mystery: not a hyperparameter")
    # a range wider than the benchmark's
    wide = spaces.from_json(spaces.to_json(full).replace('"upper": 1.0', '"upper": 2.0'))
    _names_problem(wide, full, "is not inside")
    # a constant outside the benchmark's range
    bad = spaces.from_json(spaces.to_json(fix(full, {"x0": 0.5})).replace('"value": 0.5', '"value": 7.0'))
    _names_problem(bad, full, "x0: constant 7.0 is not a legal value")
    # dropping an always-active hyperparameter instead of fixing it
    _names_problem(_space(full[k] for k in full if k not in ("x0", "left_x", "right_x")), full,
                   "x0: missing, but it can be active")
    # keeping a child but dropping its condition
    _names_problem(_space(full.values()), full,
                   "left_x: conditioned on nothing but .* conditions it on \\['branch'\\]")
    # fixing a parent but keeping (unconditionally) the child it switches off
    stale = _space(full[k] for k in full if k not in ("branch", "right_x", "left_x"))
    stale.add([Constant("branch", "left"), Float("left_x", (0, 1)), Float("right_x", (0, 1))])
    _names_problem(stale, full, "right_x: always inactive")
    # the checks above never touched the benchmark's space
    assert spaces.to_json(full) == spaces.to_json(hpobench.get("synthetic/agree").config_space)

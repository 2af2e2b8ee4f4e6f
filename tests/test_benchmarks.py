"""The benchmark protocol, the registry, the ResNet space and bad input."""

import json
import math
import time

import pytest
from ConfigSpace import ConfigurationSpace, Float, Integer

import hpobench
from hpobench import spaces
from hpobench.benchmarks import BenchmarkError, Result, base

LOW = {"epochs": 3, "data_fraction": 0.05, "resolution": 7}


def test_registry_lists_live_and_synthetic():
    names = hpobench.names()
    for n in ("resnet/cifar10", "resnet/fashion_mnist", "synthetic/agree", "synthetic/reversed"):
        assert n in names


def test_unknown_benchmark():
    with pytest.raises(BenchmarkError, match="unknown benchmark 'resnet/mnist'.*resnet/cifar10"):
        hpobench.get("resnet/mnist")


def test_resnet_space_is_rich_and_conditional():
    cs = spaces.resnet()
    assert len(cs) >= 15
    assert len(cs.conditions) >= 8
    for name in ("learning_rate", "weight_decay", "adamw_eps", "clip_norm", "step_gamma"):
        assert cs[name].log
    default = cs.get_default_configuration()
    assert default["optimizer"] == "sgd" and default["learning_rate"] == 0.1 and default["depth"] == 20
    assert "adamw_beta1" not in default  # inactive branch
    assert spaces.from_json(spaces.to_json(cs)) == cs
    cs.seed(0)
    samples = cs.sample_configuration(200)
    for parent, child in (("optimizer", "adamw_beta2"), ("schedule", "step_drops"), ("aug_cutout", "cutout_frac"),
                          ("grad_clip", "clip_norm"), ("aug_crop", "crop_padding")):
        active = [child in dict(c) for c in samples]
        assert any(active) and not all(active), (parent, child)


def test_space_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not a valid ConfigSpace JSON"):
        spaces.load(bad)
    with pytest.raises(ValueError, match="not found"):
        spaces.load(tmp_path / "missing.json")


def test_fidelity_space_and_full_point():
    bench = hpobench.get("resnet/cifar10")
    assert bench.full_fidelity == {"epochs": 50, "data_fraction": 1.0, "resolution": 32}
    assert bench.cost(bench.full_fidelity) == 50
    assert bench.cost({"epochs": 2, "data_fraction": 0.5, "resolution": 16}) == pytest.approx(0.25)
    assert hpobench.get("resnet/cifar10", max_epochs=12).full_fidelity["epochs"] == 12


@pytest.mark.parametrize("fidelity, match", [
    ({"epochs": 0}, "epochs=0 out of range"),
    ({"epochs": 51}, "epochs=51 out of range"),
    ({"epochs": 1.5}, "must be an integer"),
    ({"data_fraction": 0.0}, "data_fraction=0.0 out of range"),
    ({"data_fraction": 1.2}, "out of range"),
    ({"resolution": 12}, r"resolution=12 out of range; allowed \[8, 16, 32\]"),
    ({"width": 3}, "unknown fidelity knob"),
])
def test_bad_fidelity(fidelity, match):
    with pytest.raises(BenchmarkError, match=match):
        hpobench.get("resnet/cifar10").evaluate("default", fidelity)


@pytest.mark.parametrize("config, match", [
    ({"learning_rate": 5.0}, "IllegalValue"),
    ({"optimizer": "adamw", "sgd_momentum": 0.5}, "inactive"),
    ({"depth": 19}, "IllegalValue"),
    ({"learnig_rate": 0.1}, r"unknown hyperparameter\(s\) \['learnig_rate'\]"),
    ("resnet", "must be a mapping"),
])
def test_bad_config(config, match):
    from hpobench import programs
    before = programs.STORE.built
    with pytest.raises(BenchmarkError, match=match):
        hpobench.get("resnet/cifar10").evaluate(config, {"epochs": 1})
    assert programs.STORE.built == before  # rejected before any compute


def test_partial_config_is_completed():
    bench = hpobench.get("resnet/cifar10")
    cfg = dict(bench.config({"optimizer": "adamw"}))
    assert cfg["adamw_beta1"] == 0.9 and "sgd_momentum" not in cfg


def test_missing_dataset_is_an_error_not_a_result(tmp_path, monkeypatch):
    monkeypatch.setenv("HPOBENCH_DATA_DIR", str(tmp_path))
    bench = hpobench.get("resnet/cifar10", source=str(tmp_path / "nowhere.tar.gz"))
    t = time.perf_counter()
    with pytest.raises(BenchmarkError, match="not found; to get it"):
        bench.evaluate("default", {"epochs": 1, "data_fraction": 0.01, "resolution": 8})
    assert time.perf_counter() - t < 2.0


@pytest.mark.slow
def test_evaluate_fashion_mnist_records_everything():
    bench = hpobench.get("resnet/fashion_mnist")
    r = bench.evaluate({"depth": 8, "width": 8, "batch_size": 64}, LOW, seed=1)
    assert r.status == "ok" and 0.3 < r.f1 <= 1 and 0.3 < r.accuracy <= 1 and r.loss > 0
    assert r.cost == pytest.approx(3 * 0.05 * (7 / 28) ** 2) and r.cost_s > 0
    assert r.info["fidelity"] == LOW
    assert r.info["seed"] == 1 and r.info["config"]["depth"] == 8
    assert r.info["build_s"] >= 0 and r.info["compile_s"] >= 0  # built (in the background or not) vs waited
    env = r.info["env"]
    assert env["versions"]["jax"] and env["cpu_count"] and env["devices"]
    row = base.trial_row(bench.name, r.info["config"], r.info["fidelity"], 1, r, bench.config_space)
    assert row["config.adamw_beta1"] is None and row["fidelity.resolution"] == 7
    assert json.loads(row["curve"])[0]["epoch"] == 1


@pytest.mark.slow
def test_diverging_run_is_recorded_not_raised():
    bench = hpobench.get("resnet/fashion_mnist")
    cfg = dict(bench.config({"depth": 8, "width": 8, "batch_size": 64, "schedule": "constant"}))
    r = bench.fn(cfg | {"learning_rate": 1e6}, bench.fidelity(LOW | {"epochs": 2}), 0)  # beyond the space on purpose
    assert r.status == "diverged" and math.isnan(r.f1) and r.cost_s > 0


def test_objective_exception_becomes_crashed():
    def boom(config, fidelity, seed):
        raise RuntimeError("out of memory")
    bench = hpobench.Benchmark("boom", ConfigurationSpace({"x": Float("x", (0, 1))}),
                               ConfigurationSpace({"epochs": Integer("epochs", (1, 3), default=3)}), boom)
    r = bench.evaluate({"x": 0.5}, {"epochs": 1})
    assert r.status == "crashed" and "RuntimeError: out of memory" in r.error and math.isnan(r.f1)


def test_register_user_objective():
    cs = ConfigurationSpace({"x": Float("x", (-2, 2), default=1.0)})
    fs = ConfigurationSpace({"epochs": Integer("epochs", (1, 9), default=9)})

    def objective(config, fidelity, seed):
        f1 = 1 - config["x"] ** 2 / 4 * fidelity["epochs"] / 9
        return Result("ok", f1, f1, 1 - f1, 0.001, fidelity["epochs"])

    hpobench.register("mine/quadratic", objective, cs, fs, overwrite=True)
    assert "mine/quadratic" in hpobench.names()
    assert hpobench.evaluate("mine/quadratic", {"x": 0.0}).f1 == 1.0
    with pytest.raises(BenchmarkError, match="already registered"):
        hpobench.register("mine/quadratic", objective, cs, fs)


def test_result_rejects_unknown_status():
    with pytest.raises(ValueError, match="status"):
        Result("fine", 1, 1, 0, 0, 0)

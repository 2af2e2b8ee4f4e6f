"""Optimizers end to end on synthetic benchmarks: accounting, conditional and scoped spaces,
failures, budget axes, Dask workers, the CLI verb, and every bad input named in the issue."""

import dataclasses
import json
import time

import pandas as pd
import pytest

import hpobench
from hpobench import optimizers, spaces
from hpobench.benchmarks.base import Benchmark
from hpobench.experiments import cli
from hpobench.optimizers.base import Axis, OptimizerError
from hpobench.optimizers.hyperband import bracket_sizes
from hpobench.optimizers.parallel import ExecutorError
from hpobench.records import RecordError, space_of

FULL = 81  # cost of one full-fidelity trial of the synthetic benchmarks
BUDGETS = {"random": 6, "smac": 5, "sh": 6, "hyperband": 6, "bohb": 6, "bohb-paper": 6, "smac-mf": 4, "optuna-tpe": 5}


@pytest.fixture(scope="module")
def bench():
    return hpobench.get("synthetic/agree")


def _config(row) -> dict:
    return {k[len("config."):]: v for k, v in row.items() if k.startswith("config.") and not pd.isna(v)}


def _check_run(run, bench, budget, space=None):
    t = run.trials
    assert list(sorted(t["trial"])) == list(range(len(t)))  # no trial lost or duplicated
    first = t[t["trial"] == 0].iloc[0]
    assert first["full"] and json.loads(first["opt_info"]) == {"origin": "default"}
    assert _config(first) == dict((space or bench.config_space).get_default_configuration())
    assert run.spent <= budget + 1e-9 and run.spent == pytest.approx(t["charged"].sum())
    assert (t["spent"].diff().dropna() > 0).all()
    for _, row in t.iterrows():
        cfg = _config(row)
        bench.config(cfg)  # valid (active hps only) in the benchmark's conditional space
        if space is not None:
            assert set(cfg) <= set(space)
            for k in space:
                if hasattr(space[k], "value"):
                    assert cfg[k] == space[k].value
    assert run.incumbent_f1 >= run.default_f1
    ok_full = t[t["full"] & (t["status"] == "ok")]
    assert run.incumbent_f1 == ok_full["f1"].max()


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "smac-mf" else n
                                  for n in optimizers.names()])
def test_every_optimizer_on_the_conditional_space(name, bench):
    budget = BUDGETS[name] * FULL
    run = hpobench.tune(bench, name, budget=budget, seed=1)
    _check_run(run, bench, budget)
    t = run.trials
    assert (t["config.left_x"].notna() == (t["config.branch"] == "left")).all()
    assert (t["config.right_x"].notna() == (t["config.branch"] == "right")).all()
    assert set(t["config.branch"]) == {"left", "right"} or len(t) < 10
    low = t["fidelity.epochs"] < FULL
    if name in optimizers.MULTI_FIDELITY:
        assert low.sum() > len(t) / 2 and budget - run.spent < FULL
        assert set(t["fidelity.data_fraction"]) == {1.0}  # other knobs stay at full fidelity
    else:
        assert not low.any() and len(t) == BUDGETS[name]


def test_hyperband_schedule():
    assert bracket_sizes(4, 4, 3) == [81, 27, 9, 3, 1]
    assert bracket_sizes(2, 4, 3) == [15, 5, 1]
    assert bracket_sizes(0, 4, 3) == [5]
    b = hpobench.get("synthetic/agree")
    assert Axis.of(b.fidelity_space, "epochs").rungs(3) == [1, 3, 9, 27, 81]
    assert Axis.of(b.fidelity_space, "data_fraction").rungs(3) == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert Axis.of(b.fidelity_space, "epochs", min_budget=9).rungs(3) == [9, 27, 81]
    assert Axis.of(spaces.fidelity(30, (8, 16, 32)), "resolution").rungs(2) == [8, 16, 32]


def test_successive_halving_promotes_the_best_third(bench):
    run = hpobench.tune(bench, "sh", budget=FULL + 5 * FULL, seed=2)  # the default + one bracket
    t = run.trials[run.trials["trial"] > 0].copy()
    info = t["opt_info"].map(json.loads)
    t["rung"], t["cid"] = info.map(lambda i: i["rung"]), info.map(lambda i: i["cid"])
    assert list(t.groupby("rung").size()) == [81, 27, 9, 3, 1]
    assert list(t.groupby("rung")["fidelity.epochs"].first()) == [1, 3, 9, 27, 81]
    for r, n in ((0, 27), (1, 9), (2, 3), (3, 1)):
        here = t[t["rung"] == r].assign(loss=lambda d: 1 - d["f1"].fillna(-1.0))
        best = set(here.sort_values(["loss", "cid"]).head(n)["cid"])
        assert set(t[t["rung"] == r + 1]["cid"]) == best


def test_budget_axis_is_configurable(bench):
    run = hpobench.tune(bench, "hyperband", budget=8 * FULL, seed=0, axis="data_fraction")
    t = run.trials
    assert set(t["fidelity.epochs"]) == {FULL}
    assert sorted(set(t["fidelity.data_fraction"].round(6))) == pytest.approx([1 / 9, 1 / 3, 1.0], abs=1e-6)
    # the cost really is machine-independent: epochs x data fraction
    assert (t["charged"][t["status"] == "ok"] == (t["fidelity.epochs"] * t["fidelity.data_fraction"])[
        t["status"] == "ok"]).all()


@pytest.mark.parametrize("name", ["bohb", "smac", "optuna-tpe"])
def test_scoped_space(name, bench):
    scoped = spaces.fix(bench.config_space, {"branch": "right", "x0": 0.3, "cat": "b"})
    budget = 6 * FULL
    run = hpobench.tune(bench, name, budget=budget, seed=0, space=scoped)
    _check_run(run, bench, budget, space=scoped)
    t = run.trials
    assert t["config.left_x"].isna().all() and t["config.right_x"].notna().all()
    assert run.meta["scoped"] and space_of(run.meta) == scoped


def _flaky(bench) -> Benchmark:
    """The synthetic benchmark, but every configuration with x1 > 0.5 raises."""
    def fn(config, fidelity, seed):
        if config["x1"] > 0.5:
            raise RuntimeError("simulated crash (out of memory)")
        return bench.fn(config, fidelity, seed)
    return dataclasses.replace(bench, name="synthetic/flaky", fn=fn)


@pytest.mark.parametrize("name", ["hyperband", "smac"])
def test_failed_trials_are_recorded_as_worst_and_never_stop_a_run(name, bench):
    flaky = _flaky(bench)
    budget = 8 * FULL
    run = hpobench.tune(flaky, name, budget=budget, seed=3)
    t = run.trials
    crashed = t[t["status"] == "crashed"]
    assert len(crashed) > 0 and crashed["f1"].isna().all()
    assert crashed["error"].str.contains("simulated crash").all()
    assert (crashed["charged"] > 0).all()  # a failure still costs its planned cost
    assert budget - run.spent < FULL  # the run went on to the end of its budget
    inc = t[t["trial"] == t["incumbent_trial"].iloc[-1]].iloc[0]
    assert inc["status"] == "ok"
    if name == "hyperband":  # a crashed configuration is never promoted while a working one waits
        info = t["opt_info"].map(json.loads)
        promoted = t[info.map(lambda i: i.get("rung", 0) > 0)]
        assert (promoted["status"] == "ok").all()


def test_diverged_trials_are_recorded(bench):
    run = hpobench.tune(bench, "sh", budget=6 * FULL, seed=0)
    div = run.trials[run.trials["status"] == "diverged"]
    assert len(div) > 0 and (div["config.lr"] > 0.5).all() and div["f1"].isna().all()


def _slow(bench, seconds=0.03) -> Benchmark:
    def fn(config, fidelity, seed):
        time.sleep(seconds)
        return bench.fn(config, fidelity, seed)
    return dataclasses.replace(bench, name="synthetic/slow", fn=fn)


def _check_parallel(run, bench, budget, out):
    _check_run(run, bench, budget)
    t = run.trials
    assert t["worker"].nunique() == 2
    assert t["asked_after"].duplicated().any()  # trials were asked before others finished
    assert (t["wall_s"] >= 0.03).all()
    stored = pd.read_parquet(out / "trials.parquet")
    assert list(stored["trial"]) == list(t["trial"])


@pytest.mark.slow
def test_two_dask_workers_on_a_local_cluster(bench, tmp_path):
    budget = 4 * FULL
    run = hpobench.tune(_slow(bench), "bohb", budget=budget, seed=4, workers=2, out=tmp_path, min_budget=9)
    _check_parallel(run, bench, budget, tmp_path)


@pytest.mark.slow  # a Dask cluster (in-process workers)
def test_an_existing_dask_cluster(bench, tmp_path):
    from distributed import LocalCluster
    hpobench.register("test/slow", _slow(bench), overwrite=True)  # workers look it up by name
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        budget = 4 * FULL
        run = hpobench.tune("test/slow", "smac", budget=budget, seed=4, scheduler=cluster.scheduler_address,
                            out=tmp_path)
    _check_parallel(run, bench, budget, tmp_path)


def test_cli_tune(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["tune", "synthetic/agree", "--optimizer", "hyperband", "--budget", "500", "--seed", "1",
                     "--out", str(out), "--quiet"]) == 0
    assert "incumbent F1" in capsys.readouterr().out
    t = pd.read_parquet(out / "trials.parquet")
    assert t["spent"].iloc[-1] <= 500 and (t["optimizer"] == "hyperband").all()
    assert cli.main(["tune", "synthetic/agree", "--optimizer", "tpe", "--budget", "500", "--out",
                     str(tmp_path / "x")]) == 2
    assert "unknown optimizer 'tpe'" in capsys.readouterr().err


# --- bad input: a clear error before any compute, and nothing written --------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    (dict(optimizer="tpe"), OptimizerError, "unknown optimizer 'tpe'; known: bohb, bohb-paper, hyperband"),
    (dict(budget=80), OptimizerError, "budget 80 is too small: one full-fidelity trial .* costs 81"),
    (dict(budget="lots"), OptimizerError, "budget must be a number"),
    (dict(budget=float("inf")), OptimizerError, "budget must be a finite total cost"),
    pytest.param(dict(scheduler="tcp://127.0.0.1:9"), ExecutorError, "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'",
                 marks=pytest.mark.slow),  # waits out the connection timeout
    (dict(workers=0), ExecutorError, "workers must be a positive integer"),
    (dict(workers=2, scheduler="tcp://127.0.0.1:9"), ExecutorError, "not both"),
    (dict(axis="resolution"), OptimizerError, "budget axis 'resolution' is not a fidelity knob"),
    (dict(min_budget=0), OptimizerError, "min budget 0 is below the range"),
    (dict(options={"eta": 3, "colour": "red"}), OptimizerError, "has no option\\(s\\) \\['colour'\\]"),
    (dict(space="missing.json"), ValueError, "space file not found"),
])
def test_bad_input(kwargs, error, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = dict(benchmark="synthetic/agree", optimizer="bohb", budget=10 * FULL, out=tmp_path / "run") | kwargs
    with pytest.raises(error, match=match):
        hpobench.tune(**args)
    assert not (tmp_path / "run").exists()


def test_bad_input_a_space_that_is_not_a_subspace(tmp_path):
    other = spaces.resnet()
    (tmp_path / "scoped.json").write_text(spaces.to_json(spaces.fix(other, ["optimizer"])))
    with pytest.raises(spaces.SpaceError, match="not a sub-space of the space of synthetic/agree"):
        hpobench.tune("synthetic/agree", "smac", budget=500, space=tmp_path / "scoped.json", out=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_bad_input_resuming_a_different_run(tmp_path):
    hpobench.tune("synthetic/agree", "random", budget=2 * FULL, seed=0, out=tmp_path)
    with pytest.raises(RecordError, match="holds a different run.*optimizer: 'random' there, 'sh' here"):
        hpobench.tune("synthetic/agree", "sh", budget=2 * FULL, seed=0, out=tmp_path)
    with pytest.raises(RecordError, match="seed: 0 there, 1 here"):
        hpobench.tune("synthetic/agree", "random", budget=2 * FULL, seed=1, out=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smac", "smac-mf"])
def test_same_seed_same_run_in_any_process(name):
    """SMAC orders its local search's start points by Python's string hash; hpobench fixes the order."""
    import os
    import subprocess
    import sys
    code = (f"import hpobench; r = hpobench.tune('synthetic/agree', {name!r}, budget=12 * 81, seed=3)\n"
            "print(r.trials.filter(like='config.').to_json())")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env=os.environ | {"PYTHONHASHSEED": h}).stdout for h in ("1", "2")]
    assert runs[0] == runs[1] and len(json.loads(runs[0])["config.lr"]) >= 12


def test_smac_mf_starts_from_5_random_configs_and_models_a_budget_with_d_plus_1_trials():
    """SMAC3 2.x's defaults (60 random configurations for 6-d, a model from 1 trial) replaced (smac.py)."""
    from hpobench.optimizers.base import Problem
    problem = Problem.make(hpobench.get("mf/hartmann6"), axis="budget", seed=0, budget=100 * 27)
    opt = optimizers.factory("smac-mf")(problem)
    try:
        selector = opt.facade._config_selector
        assert len(selector._initial_design_configs) == 5 and selector._min_trials == 6 + 1
    finally:
        opt.close()

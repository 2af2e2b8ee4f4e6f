"""`optuna-tpe` (hpobench.optimizers.tpe): Optuna's TPE behind the ask/tell interface, conditional spaces
suggested define-by-run, its options, and resuming: the replayed journal rebuilds the sampler's state, so a
resumed run evaluates nothing twice and goes on as if never stopped."""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import hpobench
from hpobench import records
from hpobench.distributions import to_optuna
from hpobench.experiments import cli
from hpobench.optimizers import record, tpe
from hpobench.optimizers.base import OptimizerError, Problem, Trial

FULL = 81  # cost of one full-fidelity trial of the synthetic benchmarks
BOTH = [{}, {"multivariate": True, "group": True}]  # the defaults (independent TPE) and the grouped one


def _events(out) -> list[dict]:
    """Journal events without timing and environment (which differ between runs)."""
    events = []
    for e in records.read_journal(out / "journal.jsonl"):
        e = {k: v for k, v in e.items() if k not in ("started", "wall_s")}
        if "result" in e:
            e["result"] = {k: v for k, v in e["result"].items() if k not in ("info", "cost_s")}
        events.append(e)
    return events


@pytest.mark.parametrize("options", BOTH)
def test_only_active_hyperparameters_are_suggested_through_optuna(options):
    bench = hpobench.get("synthetic/agree")
    space = bench.config_space
    opt = tpe.make(Problem.make(bench, seed=4), **options)
    told = 0
    for k in range(16):  # past the 10 random startup trials: the model proposes the last 6
        p = opt.ask()
        assert p.budget is None and set(p.config) == set(bench.config(p.config))  # active values only
        result = bench.evaluate(p.config, None, seed=0)
        opt.tell(Trial(k, p.config, bench.full_fidelity, None, p.info, told, result.status), 1 - result.f1)
        told += 1
    trials = opt.study.trials
    assert len(trials) == 16 and all(t.state.name == "COMPLETE" for t in trials)
    for t in trials:  # Optuna was asked for exactly the active hyperparameters, with their distributions
        active = bench.config(t.params)
        assert set(t.params) == set(active)
        assert all(t.distributions[k] == to_optuna(space[k]) for k in t.params)
        assert ("left_x" in t.params) == (t.params["branch"] == "left") != ("right_x" in t.params)


def test_tune_records_it_like_every_optimizer(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["tune", "synthetic/agree", "--optimizer", "optuna-tpe", "--option", "multivariate=true",
            "--option", "group=true", "--budget", str(12 * FULL), "--seed", "2", "--out", str(out), "--quiet"]
    assert cli.main(argv) == 0
    assert "12 trials, cost 972 of 972" in capsys.readouterr().out
    meta, trials, _ = record.load(out)
    assert meta["optimizer"] == "optuna-tpe" and meta["options"] == {"multivariate": True, "group": True}
    assert list(trials["trial"]) == list(range(12)) and trials["full"].all()
    assert [json.loads(i)["optuna"] for i in trials["opt_info"][1:]] == list(range(11))  # trial 0: the default
    assert trials["opt_loss"].tolist() == pytest.approx((1 - trials["f1"]).tolist())


@pytest.mark.parametrize("options", BOTH)
def test_a_resumed_run_goes_on_as_if_never_stopped(options, tmp_path):
    """A run stopped at 12 trials and resumed to 16 (the budget may grow): the same asks and tells, in the
    same order, as one run of 16; the model had taken over from the startup trials before the stop."""
    kw = dict(seed=5, options=options)
    ref = hpobench.tune("synthetic/agree", "optuna-tpe", budget=16 * FULL, out=tmp_path / "ref", **kw)
    hpobench.tune("synthetic/agree", "optuna-tpe", budget=12 * FULL, out=tmp_path / "run", **kw)
    run = hpobench.tune("synthetic/agree", "optuna-tpe", budget=16 * FULL, out=tmp_path / "run", **kw)
    events = _events(tmp_path / "run")
    assert events == _events(tmp_path / "ref")
    tells = [e["trial"] for e in events if e["event"] == "tell"]
    assert tells == list(range(16))  # nothing evaluated twice, nothing lost
    pd.testing.assert_series_equal(run.trials["f1"], ref.trials["f1"])
    assert len(run.meta["sessions"]) == 2


@pytest.mark.slow  # starts a process
def test_resume_in_another_process_with_another_string_hash(tmp_path):
    """Optuna's grouped search space is built from sets of names: the replay must not depend on Python's
    per-process string hash (PYTHONHASHSEED), as SMAC's did (smac.py)."""
    options = {"multivariate": True, "group": True}
    hpobench.tune("synthetic/agree", "optuna-tpe", budget=16 * FULL, seed=6, out=tmp_path / "ref", options=options)
    hpobench.tune("synthetic/agree", "optuna-tpe", budget=12 * FULL, seed=6, out=tmp_path / "run", options=options)
    script = textwrap.dedent(f"""
        import hpobench
        hpobench.tune("synthetic/agree", "optuna-tpe", budget={16 * FULL}, seed=6, out={str(tmp_path / "run")!r},
                      options={options!r})
    """)
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=300)
        assert _events(tmp_path / "run") == _events(tmp_path / "ref")


@pytest.mark.parametrize("options, match", [
    ({"group": True}, "group=true needs multivariate=true"),
    ({"multivariate": "maybe"}, "multivariate must be true or false"),
    ({"n_startup_trials": "abc"}, "n_startup_trials must be an integer"),
    ({"n_startup_trials": 0}, "n_startup_trials must be at least 1"),
    ({"gamma": 0.1}, r"has no option\(s\) \['gamma'\]"),
])
def test_bad_options_fail_before_any_trial(options, match):
    with pytest.raises(OptimizerError, match=match):
        hpobench.tune("synthetic/agree", "optuna-tpe", budget=3 * FULL, options=options)


def test_options_from_the_command_line_are_read_as_flags():
    bench = hpobench.get("synthetic/agree")
    opt = tpe.make(Problem.make(bench), multivariate="true", group="True", n_startup_trials="4",
                   constant_liar="false")
    assert (opt.multivariate, opt.group, opt.n_startup_trials, opt.constant_liar) == (True, True, 4, False)

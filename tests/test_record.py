"""The run record: Parquet tables, trajectory, and resuming a killed run (kill -9 included)."""

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import hpobench
from hpobench import records, spaces
from hpobench.benchmarks.base import trial_row
from hpobench.optimizers import record
from hpobench.records import RecordError

FULL = 81
TIMING = ("started", "wall_s")


def _events(out: Path) -> list[dict]:
    """Journal events without timing and environment (which differ between runs)."""
    events = []
    for e in records.read_journal(out / "journal.jsonl"):  # complete lines only
        e = {k: v for k, v in e.items() if k not in TIMING}
        if "result" in e:
            e["result"] = {k: v for k, v in e["result"].items() if k not in ("info", "cost_s")}
        events.append(e)
    return events


def _cut(src: Path, dst: Path, keep: float) -> int:
    """A copy of the run `src` as if killed after `keep` of its journal, mid-way through a line."""
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "meta.json", dst / "meta.json")
    lines = (src / "journal.jsonl").read_text().splitlines(keepends=True)
    n = int(len(lines) * keep)
    (dst / "journal.jsonl").write_text("".join(lines[:n]) + lines[n][: len(lines[n]) // 2])
    return n


@pytest.mark.parametrize("name", ["random", "sh", "hyperband", "bohb", "smac", "optuna-tpe",
                                  pytest.param("smac-mf", marks=pytest.mark.slow)])
def test_resume_reproduces_the_uninterrupted_run(name, tmp_path):
    budget = 5 * FULL
    ref = hpobench.tune("synthetic/agree", name, budget=budget, seed=7, out=tmp_path / "ref")
    n = _cut(tmp_path / "ref", tmp_path / "killed", keep=0.6)
    asked = {e["trial"] for e in _events(tmp_path / "killed")[:n] if e["event"] == "ask"}
    told = {e["trial"] for e in _events(tmp_path / "killed")[:n] if e["event"] == "tell"}
    # batch optimizers: trials were running
    assert len(asked) > len(told) or name in ("random", "smac", "smac-mf", "optuna-tpe")
    run = hpobench.tune("synthetic/agree", name, budget=budget, seed=7, out=tmp_path / "killed")
    assert _events(tmp_path / "killed") == _events(tmp_path / "ref")
    pd.testing.assert_series_equal(run.trials["f1"], ref.trials["f1"])
    assert len(run.meta["sessions"]) == 2


@pytest.mark.parametrize("name", ["smac", pytest.param("smac-mf", marks=pytest.mark.slow)])
def test_resume_smac_without_losing_or_repeating_trials(name, tmp_path):
    budget = (4 if name == "smac" else 2) * FULL
    hpobench.tune("synthetic/agree", name, budget=budget, seed=7, out=tmp_path / "ref")
    n = _cut(tmp_path / "ref", tmp_path / "killed", keep=0.5)
    before = _events(tmp_path / "killed")[:n]
    run = hpobench.tune("synthetic/agree", name, budget=budget, seed=7, out=tmp_path / "killed")
    after = _events(tmp_path / "killed")
    assert after[:n] == before  # the record is only ever appended to
    tells = [e["trial"] for e in after if e["event"] == "tell"]
    asks = [e["trial"] for e in after if e["event"] == "ask"]
    assert len(tells) == len(set(tells)) and sorted(tells) == sorted(asks) == list(range(len(asks)))
    assert run.spent <= budget and budget - run.spent < FULL


@pytest.mark.slow
def test_kill_minus_9_then_resume(tmp_path):
    """A real `kill -9` of a run in a subprocess, then a resume: the same trials as without it."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import dataclasses, sys, time
        import hpobench

        def slow(delay):
            bench = hpobench.get("synthetic/agree")
            def fn(config, fidelity, seed):
                time.sleep(delay)
                return bench.fn(config, fidelity, seed)
            return dataclasses.replace(bench, name="synthetic/slow", fn=fn)

        if __name__ == "__main__":
            hpobench.tune(slow(float(sys.argv[2])), "bohb", budget=5 * 81, seed=11, out=sys.argv[1])
    """))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, str(script), str(out), "0.02"], cwd=tmp_path)
    journal = out / "journal.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if journal.exists() and journal.read_text().count('"event": "tell"') >= 40:
            break
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "trials.parquet").exists()  # it never got to write its tables
    killed = len(_events(out))

    sys.path.insert(0, str(tmp_path))
    try:
        from run import slow
    finally:
        sys.path.remove(str(tmp_path))
    run = hpobench.tune(slow(0.0), "bohb", budget=5 * 81, seed=11, out=out)
    ref = hpobench.tune(slow(0.0), "bohb", budget=5 * 81, seed=11, out=tmp_path / "ref")
    assert killed < len(_events(out))
    assert _events(out) == _events(tmp_path / "ref")  # nothing lost, nothing run twice
    assert list(run.trials["trial"]) == list(ref.trials["trial"])
    assert len(pd.read_parquet(out / "trials.parquet")) == len(ref.trials)


def test_a_finished_run_resumes_to_itself_and_a_larger_budget_extends_it(tmp_path):
    a = hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)
    b = hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)
    pd.testing.assert_frame_equal(a.trials, b.trials)
    c = hpobench.tune("synthetic/agree", "random", budget=5 * FULL, seed=0, out=tmp_path)
    assert len(c.trials) == 5 and list(c.trials["f1"][:3]) == list(a.trials["f1"])
    assert [s["budget"] for s in c.meta["sessions"]] == [3 * FULL, 3 * FULL, 5 * FULL]


def test_tables_schema_and_trajectory(tmp_path):
    bench = hpobench.get("synthetic/agree")
    scoped = spaces.fix(bench.config_space, {"branch": "left"})
    budget = 10 * FULL
    run = hpobench.tune(bench, "hyperband", budget=budget, seed=5, space=scoped, out=tmp_path)
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    traj = pd.read_parquet(tmp_path / "trajectory.parquet")
    # the project's trial schema over the benchmark's full space, plus the run's columns
    base = trial_row(bench.name, {}, bench.full_fidelity, 0, bench.evaluate(None, {"epochs": 1}), bench.config_space)
    extra = {"trial", "order", "optimizer", "run_seed", "budget", "full", "opt_info", "worker", "started",
             "wall_s", "charged", "spent", "spent_s", "incumbent_trial", "incumbent_f1", "asked_after",
             "opt_loss", "incumbent_value"}
    assert set(trials.columns) == set(base) | extra
    assert "config.right_x" in trials and trials["config.right_x"].isna().all()
    assert (trials["config.branch"] == "left").all() and (trials["benchmark"] == bench.name).all()
    # the meta says what ran and with which software
    meta = records.read_meta(tmp_path)
    assert meta["optimizer"] == "hyperband" and meta["env"]["versions"]["smac"] == "2.4.1"
    assert records.space_of(meta) == scoped and records.space_of(meta, "fidelity_space") == bench.fidelity_space
    # anytime performance: incumbent over cumulative cost, non-decreasing, ending where the run ends
    assert traj["incumbent_f1"].is_monotonic_increasing and traj["spent"].is_monotonic_increasing
    assert traj["spent"].iloc[-1] == pytest.approx(run.spent)
    assert traj["incumbent_f1"].iloc[0] == pytest.approx(run.default_f1)  # the default comes first
    trial, f1 = record.incumbent_at(traj, budget / 2)
    half = trials[trials["spent"] <= budget / 2]
    ok = half[half["full"] & (half["status"] == "ok")]
    assert f1 == pytest.approx(ok["f1"].max()) and trial == ok.loc[ok["f1"].idxmax(), "trial"]
    assert record.incumbent_at(traj, 0) == (None, pytest.approx(float("nan"), nan_ok=True))
    # load() rebuilds the same tables from the journal
    meta2, t2, traj2 = record.load(tmp_path)
    pd.testing.assert_frame_equal(t2, trials)
    pd.testing.assert_frame_equal(traj2, traj, check_dtype=False)


def test_a_corrupt_journal_is_refused(tmp_path):
    hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)
    lines = (tmp_path / "journal.jsonl").read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    (tmp_path / "journal.jsonl").write_text("".join(lines))
    with pytest.raises(RecordError, match="journal.jsonl:2: corrupt journal line"):
        hpobench.tune("synthetic/agree", "random", budget=3 * FULL, seed=0, out=tmp_path)


def test_a_journal_has_one_writer_at_a_time(tmp_path):
    first = records.Journal(tmp_path / "j.jsonl")
    first.append({"event": 1})
    with pytest.raises(RecordError, match="being written by another process"):
        records.Journal(tmp_path / "j.jsonl")
    first.close()
    again = records.Journal(tmp_path / "j.jsonl")  # released on close: the run resumes
    assert again.events == [{"event": 1}]
    again.close()

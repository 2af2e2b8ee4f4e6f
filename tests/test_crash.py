"""A training process that dies mid-trial is one recorded `crashed` trial; nothing else is lost or repeated."""

import os
import signal
import time

import pandas as pd
import pytest
from ConfigSpace import ConfigurationSpace, Float

from hpobench.benchmarks.base import Benchmark, Result
from hpobench.experiments import grid
from hpobench.experiments.spec import Cell, cell_key

VICTIM = 0.5


def _objective(config, fidelity, seed):
    if config["x"] == VICTIM:  # the worker process dies mid-trial, as on a segfault or an OOM kill
        with open(os.environ["CRASH_ATTEMPTS"], "a") as f:
            f.write("attempt\n")
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return Result("ok", config["x"], config["x"], 0.0, 0.2, 1.0)


@pytest.mark.slow  # a 2-worker Dask cluster
def test_killed_worker_is_a_crashed_trial_and_the_rest_are_recorded_once(tmp_path, monkeypatch):
    attempts = tmp_path / "attempts"
    monkeypatch.setenv("CRASH_ATTEMPTS", str(attempts))  # the workers inherit it
    space = ConfigurationSpace({"x": Float("x", (0.0, 1.0))})
    bench = Benchmark("crashy", space, ConfigurationSpace({"epochs": Float("epochs", (1.0, 2.0), default=2.0)}),
                      _objective)
    xs = [0.1, 0.2, VICTIM, 0.3, 0.4, 0.6, 0.7]
    cells = [Cell(cell_key("crashy", {}, {"x": x}, {"epochs": 2.0}, 0), i, {"x": x}, {"epochs": 2.0}, 0)
             for i, x in enumerate(xs)]
    df = grid.run_cells(bench, None, {}, cells, tmp_path / "run", {}, workers=2, progress=False)
    assert len(df) == len(xs) and df["key"].is_unique
    status = dict(zip(df["config_id"], df["status"]))
    assert status.pop(xs.index(VICTIM)) == "crashed"
    assert set(status.values()) == {"ok"}
    assert "KilledWorker" in df.loc[df["status"] == "crashed", "error"].iloc[0]
    assert attempts.read_text().count("attempt") == 1  # not rescheduled onto another worker
    # a second run has nothing left to do: the crashed trial is a result, not a hole
    again = grid.run_cells(bench, None, {}, cells, tmp_path / "run", {}, workers=2, progress=False)
    pd.testing.assert_frame_equal(again, df)


def _die_soon():
    import threading
    threading.Timer(0.1, os._exit, (1,)).start()


@pytest.mark.slow  # a 2-worker Dask cluster
def test_trials_that_lost_the_shipped_benchmark_with_a_dead_worker_run_once_it_is_shipped_again():
    from hpobench.optimizers import parallel
    space = ConfigurationSpace({"x": Float("x", (0.0, 1.0))})
    bench = Benchmark("crashy", space, ConfigurationSpace({"epochs": Float("epochs", (1.0, 2.0), default=2.0)}),
                      _objective)
    ex = parallel.executor(bench, None, {}, workers=2)
    try:
        holder = sorted(ex.client.scheduler_info()["workers"])[0]
        ex.bench_ref = ex.client.scatter(bench, workers=[holder], hash=False)  # one worker holds it...
        ex.client.run(_die_soon, workers=[holder])  # ...and dies before the trials are asked for
        while holder in ex.client.scheduler_info()["workers"]:
            time.sleep(0.05)
        for i in range(4):
            ex.submit(i, {"x": 0.1 * i}, {"epochs": 2.0}, 0)
        got = []
        while ex.futures:
            got += ex.wait()
    finally:
        ex.close()
    assert sorted((k, o.result.status) for k, o in got) == [(i, "ok") for i in range(4)]

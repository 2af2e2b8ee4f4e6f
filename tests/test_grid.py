"""Experiment grids: spec validation, resumable loss-free runs, corrupt results."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from hpobench import records
from hpobench.experiments import grid, spec

SPEC = """\
name: g
benchmark: synthetic/partial
configs: {sample: %d, seed: 1, default: true}
fidelities:
  full: true
  ladder: {epochs: [1, 9]}
  points: [{epochs: 3, data_fraction: 0.2}]
seeds: [0, 1]
"""


def write(tmp_path, text, name="spec.yaml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # results/<name>/ lands in tmp
    return tmp_path


def test_cells_cross_product(cwd):
    sp = spec.load(write(cwd, SPEC % 4))
    cs = spec.cells(sp)
    assert len(cs) == 5 * 4 * 2 and len({c.key for c in cs}) == len(cs)
    assert cs[0].config_id == 0 and cs[-1].config_id == 4  # configuration by configuration
    assert sp.fidelities[0] == {"epochs": 81, "data_fraction": 1.0}


def test_extend_keeps_the_first_configurations_and_first_takes_a_prefix(cwd):
    """A study grows by `extend` without changing the cells it already has; `first` nests a
    smaller grid (seed replicates, a larger scale) inside it."""
    small = spec.cells(spec.load(write(cwd, SPEC % 4)))
    grown = spec.load(write(cwd, SPEC.replace("default: true}", "default: true, extend: [{sample: 3, seed: 7}]}") % 4))
    assert [c.key for c in spec.cells(grown)][:len(small)] == [c.key for c in small]
    assert len(spec.cells(grown)) == len(small) + 3 * 4 * 2
    nested = spec.load(write(cwd, SPEC.replace("default: true}", "default: true, first: 2}") % 4))
    assert [c.key for c in spec.cells(nested)] == [c.key for c in small if c.config_id < 2]
    with pytest.raises(spec.SpecError, match=r"spec.yaml:3: configs.extend\[0\].sample must be a positive"):
        spec.load(write(cwd, SPEC.replace("default: true}", "default: true, extend: [{sample: 0, seed: 1}]}") % 4))


@pytest.mark.parametrize("text, match", [
    ("name: g\nbenchmark: synthetic/partial\nfidelites: {full: true}\n", r"spec.yaml:3: unknown key 'fidelites'"),
    ("name: g\nbenchmark: nope\nfidelities: {full: true}\n", r"spec.yaml:2: unknown benchmark 'nope'"),
    ("name: g\nbenchmark: synthetic/partial\nfidelities:\n  ladder: {epochs: [1, 900]}\n",
     r"spec.yaml:4: .*epochs=900 out of range"),
    ("name: g\nbenchmark: synthetic/partial\nconfigs: {sample: -1}\nfidelities: {full: true}\n",
     r"spec.yaml:3: configs.sample must be a non-negative integer"),
    ("name: g\nbenchmark: synthetic/partial\nfidelities: {full: true}\nseeds: [a]\n", r"spec.yaml:4: seeds"),
    ("name: g\nbenchmark: synthetic/partial\nbenchmark_args: {agreement: 0.5}\nfidelities: {full: true}\n",
     r"spec.yaml:3: bad benchmark_args"),
    ("name: [g\n", "not valid YAML"),
])
def test_broken_spec_names_the_line(cwd, text, match):
    with pytest.raises(spec.SpecError, match=match):
        spec.load(write(cwd, text))


def test_run_status_and_rerun_is_a_no_op(cwd):
    sp = spec.load(write(cwd, SPEC % 4))
    st = grid.run(sp, progress=False, max_cells=15)
    assert st["done"] + st["failed"] == 15 and st["left"] == 25
    st = grid.run(sp, progress=False)
    assert st == {"total": 40, "done": st["done"], "failed": st["failed"], "running": 0, "left": 0}
    df = pd.read_parquet(cwd / "results/g/evaluations.parquet")
    assert len(df) == 40 and df["key"].is_unique
    assert {"config.x0", "fidelity.epochs", "f1", "status", "info", "config_id"} <= set(df.columns)
    before = df.copy()
    grid.run(sp, progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(cwd / "results/g/evaluations.parquet"), before)


@pytest.mark.slow
def test_two_dask_workers(cwd):
    sp = spec.load(write(cwd, SPEC % 2))
    st = grid.run(sp, workers=2, progress=False)
    assert st["left"] == 0
    df = records.evaluations(sp.out)
    assert len(df) == 3 * 4 * 2 and df["worker"].nunique() == 2


@pytest.mark.slow
def test_kill_minus_9_loses_and_repeats_nothing(cwd):
    path = write(cwd, SPEC % 150)  # 151 configurations x 4 fidelities x 2 seeds = 1,208 cells of ~2 ms
    sp = spec.load(path)
    argv = [sys.executable, "-m", "hpobench.experiments.cli", "grid", "run", str(path), "--quiet", "--workers", "1"]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = cwd / "results/g/journal.jsonl"
    t = time.time()
    while time.time() - t < 120 and (not journal.exists() or journal.read_bytes().count(b"\n") < 300):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = records.evaluations(sp.out)
    assert 300 <= len(partial) < 1208, "the run must be killed mid-way"
    grid.run(sp, progress=False)
    full = records.evaluations(sp.out)
    assert len(full) == 1208 and full["key"].is_unique
    merged = partial.merge(full, on="key", suffixes=("_a", "_b"))
    assert len(merged) == len(partial)
    assert (merged["f1_a"].fillna(-1) == merged["f1_b"].fillna(-1)).all()  # finished cells kept as they were


def test_corrupt_results_file_is_reported_not_used(cwd):
    sp = spec.load(write(cwd, SPEC % 1))
    grid.run(sp, progress=False)
    target = cwd / "results/g/evaluations.parquet"
    target.write_bytes(target.read_bytes()[:100])
    with pytest.raises(records.RecordError, match="evaluations.parquet: unreadable results file"):
        grid.run(sp, progress=False)
    assert len(target.read_bytes()) == 100  # nothing overwritten


def test_missing_dataset_fails_before_compute(cwd, monkeypatch):
    monkeypatch.setenv("HPOBENCH_DATA_DIR", str(cwd / "empty"))
    monkeypatch.setenv("HPOBENCH_CIFAR10", str(cwd / "missing.tar.gz"))
    sp = spec.load(write(cwd, "name: r\nbenchmark: resnet/cifar10\nfidelities: {points: [{epochs: 1}]}\n"))
    with pytest.raises(ValueError, match="not found; to get it"):
        grid.run(sp, progress=False)
    assert not (cwd / "results/r/journal.jsonl").exists()


def test_default_workers_is_one_per_core_on_cpu():
    import jax

    from hpobench.optimizers.parallel import default_workers
    expected = len(os.sched_getaffinity(0)) if jax.default_backend() == "cpu" else 1
    assert default_workers() == expected >= 1


def test_queued_cells_are_prefetched_in_order(tmp_path):
    """The serial runner hints the next cells to the benchmark (the ResNets compile them meanwhile):
    each cell is hinted before it runs, and a hint with bad input is ignored, not an error."""
    import dataclasses

    import hpobench
    from hpobench.experiments.spec import Cell
    events = []
    base = hpobench.get("synthetic/partial")

    def fn(config, fidelity, seed):
        events.append(("run", fidelity["epochs"]))
        return base.fn(config, fidelity, seed)
    bench = dataclasses.replace(base, fn=fn, warm=lambda config, fidelity: events.append(("warm", fidelity["epochs"])))
    cells = [Cell(f"k{e}", 0, dict(base.default), {"epochs": e}, 0) for e in (1, 2, 3)]
    grid.run_cells(bench, None, {}, cells, tmp_path / "run", {}, progress=False)
    assert events.index(("warm", 2)) < events.index(("run", 2)) and events.index(("warm", 3)) < events.index(("run", 3))
    assert ("warm", 1) not in events  # the first cell runs at once: nothing to overlap
    n = len(events)
    bench.prefetch({"no_such_hp": 1}, {"epochs": 1})  # advisory: evaluate reports bad input
    assert len(events) == n

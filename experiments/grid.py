"""Run an experiment grid: resumable, loss-free, on Dask (local cluster or an existing one).

Storage under `results/<name>/` (see `hpobench.experiments.spec` for the spec), read and
written by `hpobench.records`:

    meta.json            spec (as loaded), benchmark space and metric, versions and hardware
    journal.jsonl        one fsync'ed line per finished cell: the source of truth while running
    evaluations.parquet  every finished cell (project trial schema + `key`, `config_id`),
                         rewritten atomically from parquet + journal at the end of each run

Cells the benchmark can train together (`Benchmark.groups`: for the ResNet benchmarks, the same
fidelity, depth, width and batch size) run as one task (`Benchmark.evaluate_many`), and are
recorded when their group finishes. A cell is finished once its journal line is on disk. kill -9
at any moment loses at most the cells in flight (a whole group), and they are the ones run again:
a cell is never repeated once recorded (keys are content hashes) and never lost. A torn last journal line is
dropped; an unreadable Parquet file or a corrupt journal line stops the run with an
error naming the file, and nothing is overwritten.

    hpobench grid run experiments/specs/demo.yaml --workers 2
    hpobench grid status experiments/specs/demo.yaml
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from hpobench import env, records
from hpobench.benchmarks.base import json_default, trial_row
from hpobench.experiments.spec import Cell, Spec, cells

LOOKAHEAD = 4  # queued cells whose preparation (compiling) may start early: bounded memory


def status(spec: Spec) -> dict:
    """Counts of done (ok), failed (diverged/crashed), running and left cells."""
    df = records.evaluations(spec.out)
    keys = {c.key for c in cells(spec)}
    done = df[df["key"].isin(keys)] if len(df) else df
    running = set()
    info = records.read_running(spec.out)
    if info is not None and _alive(info.get("pid")):
        running = set(info["keys"]) - set(done.get("key", []))
    n_ok = int((done["status"] == "ok").sum()) if len(done) else 0
    return {"total": len(keys), "done": n_ok, "failed": len(done) - n_ok, "running": len(running),
            "left": len(keys) - len(done) - len(running)}


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, TypeError, ValueError):
        return False


def run(spec: Spec, workers: int = 1, scheduler: str | None = None, max_cells: int | None = None,
        progress: bool = True) -> dict:
    """Run the cells of `spec` not yet recorded; returns `status` afterwards."""
    import hpobench
    bench = hpobench.get(spec.benchmark, **spec.benchmark_args)
    meta = {"spec": {k: v for k, v in vars(spec).items() if k != "lines"}}
    run_cells(bench, spec.benchmark, spec.benchmark_args, cells(spec), spec.out, meta, workers, scheduler,
              max_cells, progress, desc=spec.name)
    return status(spec)


def run_cells(bench, name: str | None, bench_kwargs: dict, all_cells: list[Cell], out: Path, meta: dict,
              workers: int = 1, scheduler: str | None = None, max_cells: int | None = None,
              progress: bool = True, desc: str = "") -> pd.DataFrame:
    """Evaluate the cells not yet recorded under `out`; returns every recorded row."""
    from hpobench.optimizers.parallel import executor
    bench.check()  # missing data fails here, before compute
    out = Path(out)
    done = set(records.evaluations(out).get("key", []))  # also refuses a corrupt results file up front
    todo = [c for c in all_cells if c.key not in done][:max_cells]
    ex = executor(bench, name, bench_kwargs, workers=workers, scheduler=scheduler)
    extra = {"objective": bench.meta["objective"]} if "objective" in bench.meta else {}  # your own objective
    records.write_meta(out, meta | {"space": records.space_json(bench.config_space),
                                    "metric": bench.metric.to_dict(), **extra, "env": env.describe()})
    journal = records.journal(out)
    # progress in cost units, so the ETA weighs a full-fidelity cell more than a cheap one
    bar = _bar(sum(bench.cost(c.fidelity) for c in todo), progress, desc)
    queue, inflight, task_of = tasks(bench, todo), {}, {}  # task_of: cell position -> its task's first
    try:
        while queue or inflight:
            while queue and len(set(task_of.values())) < ex.capacity:
                task = queue.pop(0)
                ex.submit_many([i for i, _ in task], [c.config for _, c in task], task[0][1].fidelity,
                               [c.seed for _, c in task])
                inflight.update(task)
                task_of.update((i, task[0][0]) for i, _ in task)
            for task in queue[:LOOKAHEAD]:  # their programs compile while these train
                ex.prefetch_many([c.config for _, c in task], task[0][1].fidelity)
            records.write_running(out, [c.key for c in inflight.values()])
            for i, outcome in ex.wait():
                cell = inflight.pop(i)
                task_of.pop(i)
                journal.append({"key": cell.key, "row": _row(bench, cell, outcome)})
                if bar is not None:
                    bar.update(bench.cost(cell.fidelity))
                    bar.set_postfix({bench.metric.name: f"{outcome.result.value(bench.metric):.4g}",
                                     "status": outcome.result.status})
    finally:
        ex.close()
        journal.close()
        if bar is not None:
            bar.close()
        records.clear_running(out)
    records.compact(out)
    return records.evaluations(out)


def tasks(bench, cells: list[Cell]) -> list[list[tuple[int, Cell]]]:
    """`cells` (with their positions) in the tasks that run them: per fidelity, the benchmark's
    `groups` (trained together), each alone otherwise; in order of each task's first cell."""
    by_fidelity: dict[str, list[int]] = {}
    for i, c in enumerate(cells):
        by_fidelity.setdefault(json.dumps(c.fidelity, sort_keys=True, default=str), []).append(i)
    out = []
    for idx in by_fidelity.values():
        for group in bench.groups([cells[i].config for i in idx], cells[idx[0]].fidelity):
            out.append([(idx[j], cells[idx[j]]) for j in group])
    return sorted(out, key=lambda task: task[0][0])


def _row(bench, cell: Cell, outcome) -> dict:
    row = trial_row(bench.name, cell.config, cell.fidelity, cell.seed, outcome.result, bench.config_space,
                    bench.metric)
    row.update(key=cell.key, config_id=cell.config_id, worker=outcome.worker, started=outcome.started,
               wall_s=outcome.wall_s)
    if cell.cluster is not None:  # a grouped design's sampling group (`spaces.clusters`): the bootstrap's unit
        row["cluster"] = cell.cluster
    return json.loads(json.dumps(row, default=json_default))


def _bar(total: float, enabled: bool, name: str):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=round(total, 6), desc=name, unit="cost", dynamic_ncols=True,
                bar_format="{l_bar}{bar}| {n:.3g}/{total:.3g} cost [{elapsed}<{remaining}{postfix}]")

"""Where trials run: in this process, on a local Dask cluster, or on an existing Dask cluster.

Every executor has the same calls: `submit(trial_id, config, fidelity, seed)`,
`submit_many(trial_ids, configs, fidelity, seeds)` (trials the benchmark trains together,
`Benchmark.evaluate_many`: one task), `wait()` (the trials that finished since the last call,
as (trial_id, Outcome); a task's all at once), `prefetch(config, fidelity)` and
`prefetch_many(configs, fidelity)` (hints about a later task) and `close()`. `capacity` is how
many tasks it runs at once. A trial that raises, or whose worker dies (killed, aborted, out of
memory), comes back as a `crashed` result and is not run again; a local cluster restarts the
worker. A run never stops because of one trial.

Workers rebuild a registered benchmark by name (cached per worker process); a
`Benchmark` object that is not registered is shipped to them once (scattered), and again when
a dead worker took it with it (the trials that lost it had not started, so they run then).

    >>> import hpobench
    >>> ex = executor(hpobench.get("synthetic/agree"), "synthetic/agree", {})
    >>> ex.submit(0, "default", {"epochs": 1}, 0)
    >>> [(k, o.result.status, o.worker) for k, o in ex.wait()]
    [(0, 'ok', 'main')]
"""

from __future__ import annotations

import functools
import logging
import os
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from hpobench import env
from hpobench.benchmarks.base import Benchmark, Result


class ExecutorError(ValueError):
    """Bad parallelism input (workers, unreachable scheduler); raised before any trial runs."""


@dataclass
class Outcome:
    result: Result
    worker: str
    started: float  # unix time
    wall_s: float


def run_trial(bench, config, fidelity: dict, seed: int, worker: str = "main") -> Outcome:
    """Evaluate one trial; never raises (a failure is a crashed result)."""
    if isinstance(bench, tuple):  # (name, kwargs): rebuild from the registry on this worker
        bench = _registered(bench[0], tuple(sorted(bench[1].items())))
    started, t0 = time.time(), time.perf_counter()
    try:
        result = bench.evaluate(config, fidelity, seed)
    except Exception as e:  # bad input reaching a worker is still one failed trial, not a dead run
        result = Result.failed("crashed", f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}",
                               cost=float("nan"))
    return Outcome(result, worker, started, time.perf_counter() - t0)


def run_group(bench, configs: list, fidelity: dict, seeds: list[int], worker: str = "main") -> list[Outcome]:
    """Evaluate trials together (`Benchmark.evaluate_many`; one alone is `run_trial`); never raises.
    Each Outcome's wall_s is its share of the group's."""
    if len(configs) == 1:
        return [run_trial(bench, configs[0], fidelity, seeds[0], worker)]
    if isinstance(bench, tuple):
        bench = _registered(bench[0], tuple(sorted(bench[1].items())))
    started, t0 = time.time(), time.perf_counter()
    try:
        results = bench.evaluate_many(configs, fidelity, seeds)
    except Exception as e:
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=5)}"
        results = [Result.failed("crashed", error, cost=float("nan")) for _ in configs]
    share = (time.perf_counter() - t0) / len(configs)
    return [Outcome(r, worker, started, share) for r in results]


@functools.lru_cache(maxsize=8)
def _registered(name: str, kwargs: tuple) -> Benchmark:
    from hpobench import benchmarks
    return benchmarks.get(name, **dict(kwargs))


@dataclass
class Serial:
    """Trials run one at a time in this process (the default)."""

    bench: Benchmark
    capacity: int = 1
    queue: deque = field(default_factory=deque)

    def submit(self, key: int, config, fidelity: dict, seed: int) -> None:
        self.submit_many([key], [config], fidelity, [seed])

    def submit_many(self, keys: list[int], configs: list, fidelity: dict, seeds: list[int]) -> None:
        self.queue.append((keys, configs, fidelity, seeds))

    def wait(self) -> list[tuple[int, Outcome]]:
        keys, configs, fidelity, seeds = self.queue.popleft()
        return list(zip(keys, run_group(self.bench, configs, fidelity, seeds)))

    def prefetch(self, config, fidelity: dict) -> None:
        """A trial that comes later: let the benchmark prepare it (compile) while others run."""
        self.bench.prefetch(config, fidelity)

    def prefetch_many(self, configs: list, fidelity: dict) -> None:
        """Trials that come later, trained together: let the benchmark prepare their program."""
        self.bench.prefetch_many(configs, fidelity)

    def close(self) -> None:
        self.queue.clear()


def _remote(bench, configs, fidelity, seeds) -> list[Outcome]:
    from distributed import get_worker
    w = get_worker()
    pin(w.name)
    return run_group(bench, configs, fidelity, seeds, worker=str(w.name if w.name is not None else w.address))


@functools.cache
def pin(name) -> None:
    """Pin local worker `name` (0, 1, ...) to one core before JAX starts its threads there.

    Measured on 2 cores (ResNet-20 on the oneDNN kernels, `hpobench.experiments.studies.throughput --measure`,
    two pinned processes at once): one 2-thread process 8296 / 2422 / 656 img/s at 8 / 16 / 32 px,
    two pinned workers 5722+5780 / 1572+1593 / 352+343, i.e. 1.39x / 1.31x / 1.06x the throughput.
    (Pinned before the first training, so OpenMP and XLA size their thread pools to one core.
    Not on a machine with an accelerator: its workers feed the device and need every core.)
    """
    if isinstance(name, int) and hasattr(os, "sched_setaffinity") and not env.accelerator_expected():
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) > 1:
            os.sched_setaffinity(0, {cpus[name % len(cpus)]})


@dataclass
class Dask:
    """Trials run on a Dask cluster: a local one (`workers` processes) or an existing one."""

    client: object
    cluster: object | None  # ours to close; None for an existing cluster
    bench_ref: object  # (name, kwargs) or a scattered Benchmark
    capacity: int
    shipped: Benchmark | None = None  # the unregistered benchmark behind a scattered bench_ref
    futures: dict = field(default_factory=dict)  # future -> (trial ids, configs, fidelity, seeds)

    def submit(self, key: int, config, fidelity: dict, seed: int) -> None:
        self.submit_many([key], [config], fidelity, [seed])

    def submit_many(self, keys: list[int], configs: list, fidelity: dict, seeds: list[int]) -> None:
        fut = self.client.submit(_remote, self.bench_ref, configs, fidelity, seeds, pure=False,
                                 key=f"hpobench-trial-{keys[0]}-{time.time_ns()}")
        self.futures[fut] = (keys, configs, fidelity, seeds)

    def wait(self) -> list[tuple[int, Outcome]]:
        from concurrent.futures import CancelledError

        from distributed import wait
        out = []
        while not out and self.futures:
            try:
                wait(list(self.futures), return_when="FIRST_COMPLETED")
            except CancelledError:  # distributed raises when a finished task was cancelled: handled below
                pass
            done = sorted((f for f in self.futures if f.status != "pending"), key=lambda f: self.futures[f][0][0])
            lost = [self.futures.pop(f) for f in done if f.cancelled() and self.shipped is not None]
            if lost:  # never started: a dead worker took the scattered benchmark with it. Ship it again.
                self.bench_ref = self.client.scatter(self.shipped, broadcast=True, hash=False)
                for task in lost:
                    self.submit_many(*task)
            for fut in (f for f in done if f in self.futures):  # simultaneous completions: ask order
                keys = self.futures.pop(fut)[0]
                try:
                    outcomes = fut.result()
                except Exception as e:  # the worker died or the task was lost
                    outcomes = [Outcome(Result.failed("crashed", f"{type(e).__name__}: {e}", cost=float("nan")),
                                        "unknown", time.time(), 0.0) for _ in keys]
                out += list(zip(keys, outcomes))
        return out

    def prefetch(self, config, fidelity: dict) -> None:
        """No-op: which worker runs a trial is not known in advance (each worker's store still helps)."""

    def prefetch_many(self, configs: list, fidelity: dict) -> None:
        """No-op, as `prefetch`."""

    def close(self) -> None:
        for fut in self.futures:
            fut.cancel()
        self.futures.clear()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def default_workers() -> int:
    """Trainings in parallel when the user does not say: one single-core worker per core on a
    CPU-only machine (2 pinned workers train 1.06-1.39x faster than one 2-thread process, `pin`),
    one process where an accelerator is visible (it runs one training at a time best)."""
    import jax
    return 1 if jax.default_backend() != "cpu" else env.cpus_usable()


def executor(bench: Benchmark, name: str | None, bench_kwargs: dict, workers: int = 1,
             scheduler: str | None = None, connect_timeout: float = 5.0):
    """Serial (workers=1), a local Dask cluster (workers>1) or the cluster at `scheduler`.

    name: the registry name of `bench` (None: ship the object itself to the workers).
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ExecutorError(f"workers must be a positive integer, got {workers!r}")
    if scheduler and workers != 1:
        raise ExecutorError("give either --workers (a local cluster) or --scheduler (an existing one), not both")
    if not scheduler and workers == 1:
        return Serial(bench)
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{connect_timeout}s")
        except (OSError, TimeoutError, ValueError) as e:
            raise ExecutorError(f"cannot reach the Dask scheduler at {scheduler!r}: {type(e).__name__}: {e}") from None
        capacity = max(1, sum(client.nthreads().values()))
    else:
        import dask
        # A trial whose process dies is a crashed trial, not one Dask reschedules on another worker
        # (by default up to 3 times: a trial that kills its process would take 4 workers with it).
        # A worker holds only the task it runs (saturation 1: none queued behind it), so a crash takes no other.
        with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                              "distributed.scheduler.worker-saturation": 1.0}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        capacity = workers
    shipped = None if name is not None else bench
    try:
        ref = (name, dict(bench_kwargs)) if shipped is None else client.scatter(shipped, broadcast=True, hash=False)
    except Exception:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return Dask(client, cluster, ref, capacity, shipped)

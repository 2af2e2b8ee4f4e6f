"""Where trials run: in this process, on a local Dask cluster, or on an existing Dask cluster.

Every executor has the same four calls: `submit(trial_id, config, fidelity, seed)`,
`wait()` (the trials that finished since the last call, as (trial_id, Outcome)),
`prefetch(config, fidelity)` (a hint about a later trial) and `close()`. `capacity` is how
many trials it runs at once. A trial that raises, or whose worker dies (killed, aborted, out of
memory), comes back as a `crashed` result and is not run again; a local cluster restarts the
worker. A run never stops because of one trial.

Workers rebuild a registered benchmark by name (cached per worker process); a
`Benchmark` object that is not registered is shipped to them once (scattered).

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
        self.queue.append((key, config, fidelity, seed))

    def wait(self) -> list[tuple[int, Outcome]]:
        key, config, fidelity, seed = self.queue.popleft()
        return [(key, run_trial(self.bench, config, fidelity, seed))]

    def prefetch(self, config, fidelity: dict) -> None:
        """A trial that comes later: let the benchmark prepare it (compile) while others run."""
        self.bench.prefetch(config, fidelity)

    def close(self) -> None:
        self.queue.clear()


def _remote(bench, config, fidelity, seed) -> Outcome:
    from distributed import get_worker
    w = get_worker()
    pin(w.name)
    return run_trial(bench, config, fidelity, seed, worker=str(w.name if w.name is not None else w.address))


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
    futures: dict = field(default_factory=dict)  # future -> trial id

    def submit(self, key: int, config, fidelity: dict, seed: int) -> None:
        fut = self.client.submit(_remote, self.bench_ref, config, fidelity, seed, pure=False,
                                 key=f"hpobench-trial-{key}-{time.time_ns()}")
        self.futures[fut] = key

    def wait(self) -> list[tuple[int, Outcome]]:
        from distributed import wait
        done, _ = wait(list(self.futures), return_when="FIRST_COMPLETED")
        out = []
        for fut in sorted(done, key=self.futures.get):  # simultaneous completions: ask order
            key = self.futures.pop(fut)
            try:
                outcome = fut.result()
            except Exception as e:  # the worker died or the task was lost
                outcome = Outcome(Result.failed("crashed", f"{type(e).__name__}: {e}", cost=float("nan")),
                                  "unknown", time.time(), 0.0)
            out.append((key, outcome))
        return out

    def prefetch(self, config, fidelity: dict) -> None:
        """No-op: which worker runs a trial is not known in advance (each worker's store still helps)."""

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
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
        capacity = workers
    try:
        ref = (name, dict(bench_kwargs)) if name is not None else client.scatter(bench, broadcast=True, hash=False)
    except Exception:
        client.close()
        if cluster is not None:
            cluster.close()
        raise
    return Dask(client, cluster, ref, capacity)

"""Benchmark registry: look up by name, or register your own objective.

    >>> from hpobench import benchmarks
    >>> "synthetic/agree" in benchmarks.names()
    True

Third-party packages can also add benchmarks without editing this one, through
the entry-point group `hpobench.benchmarks` (name -> zero-argument factory).
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import inspect
import os
from collections.abc import Callable
from pathlib import Path

from ConfigSpace import ConfigurationSpace

from hpobench.benchmarks.base import F1, Benchmark, BenchmarkError, Metric, Result, trial_row

__all__ = ["F1", "Benchmark", "BenchmarkError", "Metric", "Result", "get", "names", "register", "trial_row"]

_FACTORIES: dict[str, Callable[..., Benchmark]] = {}


def _check_args(where: str, fn: Callable, kw: dict, taken: tuple[str, ...] = ()) -> None:
    """A clear error for a benchmark argument `fn` does not take (before any data is read or compiled)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    takes = [n for n in params if n not in taken]
    bad = sorted(set(kw) - set(takes))
    if bad:
        raise BenchmarkError(f"{where}: unknown benchmark argument{'s' * (len(bad) > 1)} {', '.join(bad)}; "
                             f"it takes {', '.join(takes) or 'none'}")


def _synthetic(agreement: float, label: str | None = None) -> Callable[..., Benchmark]:
    def factory(seed: int = 0, **kw) -> Benchmark:
        from hpobench.benchmarks import synthetic
        _check_args(f"synthetic/{label}" if label else "synthetic", synthetic.make, kw, ("agreement", "seed"))
        name = f"synthetic/{label}" + (f",seed={seed}" if seed else "") if label else None
        return synthetic.make(agreement=agreement, seed=seed, name=name, **kw)
    return factory


def _mf(name: str) -> Benchmark:
    from hpobench.benchmarks import mf_functions
    return mf_functions.make(name)


def _resnet(dataset: str, **preset) -> Callable[..., Benchmark]:
    def factory(data: str | None = None, **kw) -> Benchmark:
        """data: where the images are (the CLI's --data): for resnet/folder a class-per-folder image tree
        or a tar archive of one, for the named datasets their source files (`resnet.make`'s `source`)."""
        from hpobench.benchmarks import resnet  # imports JAX: only when asked for
        _check_args(preset.get("name", f"resnet/{dataset}"), resnet.make, kw, ("dataset",))
        return resnet.make(dataset, **(preset | kw | ({"source": str(data)} if data is not None else {})))
    return factory


def study() -> Path:
    """The recorded CIFAR-10 study behind surrogate/ and replay/cifar10-cpu: $HPOBENCH_STUDY, else the
    copy shipped in the package, cifar10_cpu.parquet beside this module (pyproject package-data), in a
    checkout and installed alike; tests/test_installed.py keeps it byte-identical to the record,
    results/cifar10_cpu/evaluations.parquet."""
    if os.environ.get("HPOBENCH_STUDY"):
        return Path(os.environ["HPOBENCH_STUDY"])
    return Path(__file__).resolve().parent / "cifar10_cpu.parquet"


def _tabular(kind: str, live: str) -> Callable[..., Benchmark]:
    def factory(table: str | None = None, **kw) -> Benchmark:
        path = Path(table or study())
        if not path.exists():
            raise BenchmarkError(f"{kind}/{live.split('/', 1)[1]}: no recorded trials at {path}; pass table=PATH "
                                 "(a trial table, e.g. results/cifar10_cpu/evaluations.parquet) or set $HPOBENCH_STUDY")
        return _fit(kind, live, str(path), path.stat().st_mtime, tuple(sorted(kw.items())))
    return factory


@functools.lru_cache(maxsize=8)  # Dask workers ask for the benchmark per trial: fit once per file version
def _fit(kind: str, live: str, path: str, mtime: float, kw: tuple) -> Benchmark:
    from hpobench.benchmarks import tabular
    _check_args(f"{kind}/{live.split('/', 1)[1]}", getattr(tabular, kind), dict(kw), ("table", "live", "name"))
    return getattr(tabular, kind)(tabular.read(path), get(live), f"{kind}/{live.split('/', 1)[1]}", **dict(kw))


def _builtin() -> None:
    for ds in ("cifar10", "fashion_mnist", "cifar100"):
        _FACTORIES[f"resnet/{ds}"] = _resnet(ds)
    _FACTORIES["resnet/cifar10-cpu"] = _resnet("cifar10", max_epochs=8, max_fraction=0.1, max_resolution=16,
                                               name="resnet/cifar10-cpu")
    _FACTORIES["resnet/fashion_mnist-cpu"] = _resnet("fashion_mnist", max_epochs=8, max_fraction=0.1, max_resolution=14,
                                                     name="resnet/fashion_mnist-cpu")  # results/fashion_mnist_cpu's
    _FACTORIES["resnet/folder"] = _resnet("folder")  # data=PATH (required), native=32: your own images
    for kind in ("surrogate", "replay"):  # from the recorded study (`study`)
        _FACTORIES[f"{kind}/cifar10-cpu"] = _tabular(kind, "resnet/cifar10-cpu")
    for name, agreement in (("agree", 1.0), ("partial", 0.5), ("uncorrelated", 0.0), ("reversed", -1.0)):
        _FACTORIES[f"synthetic/{name}"] = _synthetic(agreement, name)

    from hpobench.benchmarks import mf_functions
    for fn in mf_functions.FUNCTIONS:  # known optimum, biased cheap fidelities
        _FACTORIES[f"mf/{fn}"] = functools.partial(_mf, fn)

    def synthetic_any(agreement: float = 1.0, seed: int = 0, **kw) -> Benchmark:
        return _synthetic(agreement)(seed=seed, **kw)
    _FACTORIES["synthetic"] = synthetic_any


@functools.cache
def _plugins() -> None:
    for ep in md.entry_points(group="hpobench.benchmarks"):
        _FACTORIES.setdefault(ep.name, ep.load())


def register(name: str, fn: Callable | Benchmark, config_space: ConfigurationSpace | None = None,
             fidelity_space: ConfigurationSpace | None = None, *, overwrite: bool = False, **kw) -> None:
    """Register a benchmark, a factory returning one, or a plain objective.

    For a plain objective `fn(config: dict, fidelity: dict, seed: int)` pass its
    `config_space` and `fidelity_space` (defaults = full fidelity) and, unless it reports
    F1, its `metric=Metric(name, "maximize" | "minimize", lower, upper)`. It may return a
    `Result`, a number (the metric) or a dict of metrics (`Benchmark`, `base.py`).
    `hpobench.load_objective` (`objective.load`) builds one from a file or module and JSON
    spaces (the CLI's `--objective`).
    """
    if name in _FACTORIES and not overwrite:
        raise BenchmarkError(f"benchmark {name!r} is already registered (pass overwrite=True)")
    if isinstance(fn, Benchmark):
        _FACTORIES[name] = lambda: fn
    elif config_space is not None:
        if fidelity_space is None:
            raise BenchmarkError(f"register {name!r}: an objective needs a fidelity_space too")
        bench = Benchmark(name, config_space, fidelity_space, fn, **kw)
        _FACTORIES[name] = lambda: bench
    elif callable(fn):
        _FACTORIES[name] = fn
    else:
        raise BenchmarkError(f"register {name!r}: expected a Benchmark, a factory or an objective")


def names() -> list[str]:
    _plugins()
    return sorted(_FACTORIES)


def get(name: str, **kwargs) -> Benchmark:
    """The benchmark registered as `name`; kwargs go to its factory."""
    _plugins()
    if name not in _FACTORIES:
        raise BenchmarkError(f"unknown benchmark {name!r}; registered: {', '.join(sorted(_FACTORIES))}")
    return _FACTORIES[name](**kwargs)


_builtin()

"""hpobench: search-space scoping for hyperparameter optimization.

    >>> import hpobench
    >>> bench = hpobench.get("synthetic/partial")
    >>> hpobench.evaluate("synthetic/partial", "default", {"epochs": 9}).status
    'ok'
"""

from hpobench import heap

KEEPS_FREED_MEMORY = heap.keep_freed_memory()  # first: before JAX starts threads

from hpobench.benchmarks import Benchmark, BenchmarkError, Metric, Result, get, names, register, trial_row  # noqa: E402
from hpobench.benchmarks.objective import load as load_objective  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Benchmark", "BenchmarkError", "Metric", "Result", "evaluate", "get", "load_objective", "names",
           "register", "trial_row", "tune"]


def evaluate(name: str, config="default", fidelity=None, seed: int = 0, **bench_kwargs) -> Result:
    """Evaluate one configuration of the benchmark `name` at `fidelity` (default: full)."""
    return get(name, **bench_kwargs).evaluate(config, fidelity, seed)


def __getattr__(name: str):
    if name == "tune":  # imported on first use: pandas and the optimizers are not needed to evaluate
        from hpobench.optimizers import tune
        return tune
    raise AttributeError(f"module 'hpobench' has no attribute {name!r}")

"""hpobench: search-space scoping for hyperparameter optimization.

    >>> import hpobench
    >>> bench = hpobench.get("synthetic/partial")
    >>> hpobench.evaluate("synthetic/partial", "default", {"epochs": 9}).status
    'ok'
"""

from hpobench.benchmarks import Benchmark, BenchmarkError, Result, get, names, register, trial_row

__version__ = "0.1.0"
__all__ = ["Benchmark", "BenchmarkError", "Result", "evaluate", "get", "names", "register", "trial_row"]


def evaluate(name: str, config="default", fidelity=None, seed: int = 0, **bench_kwargs) -> Result:
    """Evaluate one configuration of the benchmark `name` at `fidelity` (default: full)."""
    return get(name, **bench_kwargs).evaluate(config, fidelity, seed)

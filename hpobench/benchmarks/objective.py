"""Your own objective as a benchmark: a function in a file or module, its spaces as ConfigSpace JSON.

The function is `fn(config: dict, fidelity: dict, seed: int)` and returns a number (the
declared metric), a dict of numbers (the declared metric is optimised, the others are
recorded) or a full `Result`; an exception is a `crashed` trial. The fidelity space's
defaults are the full fidelity. `load` checks everything it can before any compute: the
file or module, the function and its signature, both spaces, the metric.

    >>> import hpobench
    >>> from hpobench.benchmarks import objective
    >>> bench = objective.load("experiments/examples/sklearn_objective.py:objective",
    ...                        "experiments/examples/space.json", "experiments/examples/fidelity.json",
    ...                        metric="log_loss", direction="minimize", lower=0)
    >>> bench.name, bench.metric.direction
    ('objective/sklearn_objective:objective', 'minimize')

From the command line the same is `--objective FILE.py:FUNCTION` (or `MODULE:FUNCTION`)
`--space SPACE.json --fidelity-space FIDELITY.json --metric NAME --direction D` on
`hpobench scope`, `tune` and `evaluate`.

Cost. A trial's cost (the unit of every budget) is the fraction of the full fidelity it
runs: the product over the numeric fidelity knobs of value / full value (knobs whose full
value is not positive, and categorical ones, count 1). A full-fidelity trial costs 1, so a
budget is a number of full-fidelity trial equivalents.

Parallel workers (Dask). The benchmark travels to the workers as the objective's *address*
(the file's absolute path or the module's name, and the function's name), never as pickled
code: each worker process loads the file (its folder on `sys.path`, so modules beside it
import too) or imports the module on first use. Local workers (`--workers N`) share this
machine's files, so nothing needs doing; workers on other machines (`--scheduler`) need the
file at the same absolute path (a shared filesystem) or the module installed in their
environment, with whatever the objective imports.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from ConfigSpace import ConfigurationSpace
from ConfigSpace.hyperparameters import CategoricalHyperparameter

from hpobench import spaces
from hpobench.benchmarks.base import Benchmark, BenchmarkError, Metric


class Objective:
    """A picklable reference to `FUNCTION` in a file or module, resolved on first call in each process."""

    def __init__(self, target: str):
        self.target = target
        self.location, self.function, self.is_file = _parse(target)
        self._fn: Callable | None = None

    def resolve(self) -> Callable:
        if self._fn is None:
            module = _load_file(Path(self.location)) if self.is_file else _import(self.location)
            where = f"{self.location}" if self.is_file else f"module {self.location!r}"
            if not hasattr(module, self.function):
                names = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                               and getattr(v, "__module__", None) == module.__name__)
                raise BenchmarkError(f"{where} has no function {self.function!r}; functions there: {names}")
            fn = getattr(module, self.function)
            if not callable(fn):
                raise BenchmarkError(f"{where}: {self.function!r} is a {type(fn).__name__}, not a function")
            try:
                sig = inspect.signature(fn)
            except (TypeError, ValueError):
                sig = None  # some builtins have none: the first call will tell
            if sig is not None:
                try:
                    sig.bind({}, {}, 0)
                except TypeError:
                    raise BenchmarkError(f"{where}: {self.function}{sig} must take (config, fidelity, seed)") from None
            self._fn = fn
        return self._fn

    def __call__(self, config: dict, fidelity: dict, seed: int):
        return self.resolve()(config, fidelity, seed)

    def __getstate__(self) -> dict:  # the address, not the code: workers load it themselves
        return {"target": self.target, "location": self.location, "function": self.function, "is_file": self.is_file}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fn = None

    def __repr__(self) -> str:
        return f"Objective({self.target!r})"


class ProportionalCost:
    """Cost of a fidelity: product over numeric knobs of value / full value (module docstring)."""

    def __init__(self, fidelity_space: ConfigurationSpace):
        self.full = {}
        for k in fidelity_space:
            hp = fidelity_space[k]
            v = spaces.plain(hp.default_value)
            if not isinstance(hp, CategoricalHyperparameter) and isinstance(v, (int, float)) \
                    and not isinstance(v, bool) and v > 0:
                self.full[k] = float(v)

    def __call__(self, fidelity: dict) -> float:
        return math.prod(float(fidelity[k]) / full for k, full in self.full.items() if k in fidelity)


def load(target: str, space: ConfigurationSpace | str | Path, fidelity_space: ConfigurationSpace | str | Path,
         metric: Metric | str = "f1", direction: str | None = None, lower: float | None = None,
         upper: float | None = None, name: str | None = None) -> Benchmark:
    """The objective at `target` ("path/to/file.py:function" or "module:function") as a Benchmark.

    space / fidelity_space: ConfigurationSpace objects or ConfigSpace JSON files (the fidelity
    space's defaults are the full fidelity). metric: a Metric, or its name with `direction`
    ("maximize" or "minimize", required with a name other than "f1") and optional range.
    Raises BenchmarkError, before any compute, on anything that would fail later.
    """
    if isinstance(metric, Metric):
        if direction is not None or lower is not None or upper is not None:
            raise BenchmarkError("give a Metric, or a metric name with direction/lower/upper, not both")
    elif metric == "f1" and direction is None and lower is None and upper is None:
        metric = Metric.of("f1")
    else:
        if direction is None:
            raise BenchmarkError(f"metric {metric!r}: say whether to maximize or minimize it (--direction)")
        metric = Metric(metric, direction, lower, upper)
    fn = Objective(target)
    fn.resolve()  # file/module, function and signature: checked now
    cs = _space(space, "config space (--space)")
    fs = _space(fidelity_space, "fidelity space (--fidelity-space)")
    if len(list(cs)) == 0:
        raise BenchmarkError(f"config space (--space) of {target}: no hyperparameters")
    if len(list(fs)) == 0:
        raise BenchmarkError(f"fidelity space (--fidelity-space) of {target}: no fidelity knob; its defaults "
                             f"must be the full fidelity")
    clash = sorted(set(cs) & set(fs))
    if clash:
        raise BenchmarkError(f"{clash} are both hyperparameters (--space) and fidelity knobs (--fidelity-space)")
    label = name or f"objective/{Path(fn.location).stem if fn.is_file else fn.location}:{fn.function}"
    meta = {"objective": {"target": target, "resolved": f"{fn.location}:{fn.function}",
                          "space": _where(space), "fidelity_space": _where(fidelity_space)}}
    return Benchmark(label, cs, fs, fn, description=f"user objective {target}", cost_fn=ProportionalCost(fs),
                     meta=meta, metric=metric)


def _parse(target: str) -> tuple[str, str, bool]:
    if not isinstance(target, str) or ":" not in target:
        raise BenchmarkError(f"objective {target!r}: expected FILE.py:FUNCTION or MODULE:FUNCTION")
    location, _, function = target.rpartition(":")
    if not location or not function.isidentifier():
        raise BenchmarkError(f"objective {target!r}: expected FILE.py:FUNCTION or MODULE:FUNCTION "
                             f"(FUNCTION a Python name)")
    path = Path(location).expanduser()
    is_file = location.endswith(".py") or "/" in location or path.exists()
    if is_file:
        if not path.is_file():
            raise BenchmarkError(f"objective file not found: {location}")
        if path.suffix != ".py":
            raise BenchmarkError(f"objective file {location}: a Python file (.py) is needed")
        return str(path.resolve()), function, True
    if not all(part.isidentifier() for part in location.split(".")):
        raise BenchmarkError(f"objective {target!r}: {location!r} is neither a file nor a module name")
    return location, function, False


def _load_file(path: Path):
    """Import a file as a module under a name fixed by its absolute path (the same in every process)."""
    stem = re.sub(r"\W", "_", path.stem)
    name = f"hpobench_objective_{stem}_{hashlib.blake2b(str(path).encode(), digest_size=4).hexdigest()}"
    if name in sys.modules:
        return sys.modules[name]
    folder = str(path.parent)
    if folder not in sys.path:  # modules beside the file import as they would when it runs as a script
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise BenchmarkError(f"cannot import objective file {path}: {type(e).__name__}: {e}") from None
    return module


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BenchmarkError(f"cannot import objective module {module!r} ({type(e).__name__}: {e}); give "
                             f"FILE.py:FUNCTION or a module on the Python path") from None
    except Exception as e:
        raise BenchmarkError(f"cannot import objective module {module!r}: {type(e).__name__}: {e}") from None


def _space(space, what: str) -> ConfigurationSpace:
    if isinstance(space, ConfigurationSpace):
        return space
    if space is None:
        raise BenchmarkError(f"{what} is needed with an objective (a ConfigSpace JSON file)")
    try:
        return spaces.load(space)
    except ValueError as e:
        raise BenchmarkError(f"{what}: {e}") from None


def _where(space) -> str | None:
    return None if isinstance(space, ConfigurationSpace) else str(space)

"""Live multi-fidelity ResNet benchmarks: real training on real images.

Fidelity knobs: `epochs` (a complete short run, see `hpobench.train`),
`data_fraction` (nested stratified subsets of the training split) and
`resolution` (area-averaged downsampling). The full-fidelity point is each
knob's upper value: `max_epochs` epochs (default 50, the GPU-scale point; the
CPU-scale studies pass their own), all data, native resolution.

Cost in machine-independent units: epochs x data_fraction x (resolution/native)^2,
i.e. full-data, native-resolution epoch equivalents (a ResNet's FLOPs scale with
pixels).

    >>> import hpobench
    >>> bench = hpobench.get("resnet/fashion_mnist")
    >>> r = bench.evaluate("default", {"epochs": 1, "data_fraction": 0.02, "resolution": 7})  # doctest: +SKIP
    >>> r.status, r.f1 > 0.3  # doctest: +SKIP
    ('ok', True)
"""

from __future__ import annotations

from hpobench import spaces
from hpobench.benchmarks.base import Benchmark, BenchmarkError, Result

RESOLUTIONS = {"cifar10": (8, 16, 32), "cifar100": (8, 16, 32), "fashion_mnist": (7, 14, 28)}
NATIVE = {k: v[-1] for k, v in RESOLUTIONS.items()}


def make(dataset: str, max_epochs: int = 50, min_fraction: float = 0.01, source: str | None = None,
         report_test: bool = False, name: str | None = None) -> Benchmark:
    """A ResNet benchmark on `dataset`; `source` overrides where its files are read from."""
    if dataset not in RESOLUTIONS:
        raise BenchmarkError(f"no ResNet benchmark for dataset {dataset!r}; known: {sorted(RESOLUTIONS)}")
    native = NATIVE[dataset]

    def cost(fidelity: dict) -> float:
        return fidelity["epochs"] * fidelity["data_fraction"] * (fidelity["resolution"] / native) ** 2

    def fn(config: dict, fidelity: dict, seed: int) -> Result:
        from hpobench import data, train  # JAX and the data only when something runs
        try:
            ds = data.load(dataset, source)
        except data.DataError as e:
            raise BenchmarkError(str(e)) from None
        out = train.run(config, ds, fidelity["epochs"], fidelity["data_fraction"], fidelity["resolution"],
                        seed, report_test=report_test)
        info = {"spec": out.spec, "compile_s": out.compile_seconds, "images": out.images}
        return Result(out.status, out.f1, out.accuracy, out.loss, out.seconds, cost(fidelity), out.curve,
                      out.error, out.test, info)

    return Benchmark(
        name=name or f"resnet/{dataset}", config_space=spaces.resnet(),
        fidelity_space=spaces.fidelity(max_epochs, RESOLUTIONS[dataset], min_fraction), fn=fn,
        description=f"CIFAR-style ResNet trained with optax on {dataset}; metric: validation macro-F1.",
        cost_fn=cost, meta={"dataset": dataset, "max_epochs": max_epochs, "native_resolution": native})

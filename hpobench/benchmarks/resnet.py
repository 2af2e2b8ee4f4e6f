"""Live multi-fidelity ResNet benchmarks: real training on real images.

Fidelity knobs: `epochs` (a complete short run, see `hpobench.train`),
`data_fraction` (nested stratified subsets of the training split) and
`resolution` (area-averaged downsampling). The full-fidelity point is each
knob's upper value: by default 50 epochs, all data, native resolution (the GPU-scale
point). `resnet/cifar10-cpu` is the CPU-scale point of this project's study: 8 epochs
on a 10% (4,500-image) subset at 16 px, about a minute for the default configuration
on 2 CPU cores. `resnet/folder` (`data=PATH`, `native=32`) is the same on any class-per-folder
image tree or tar archive (`hpobench.data.load_folder`), resolutions native/4, native/2, native.

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
# Configurations trained together (`Benchmark.evaluate_many`): at most MAX_GROUP, and at most as many
# as keep a group's memory under GROUP_BOUND by the linear model of `max_group` (fitted to the peak
# resident memory of batched trainings, results/batched/README.md).
MAX_GROUP = 16
GROUP_BOUND = 6 * 2**30  # bytes; with two workers and the data, well inside a 24 GiB machine
BYTES_PER_UNIT = 45.0  # peak bytes each configuration adds, per depth x width x resolution^2 x batch size
FOLDER = "folder"  # any class-per-folder image tree or archive (`hpobench.data.load_folder`): source required


def max_group(depth: int, width: int, batch_size: int, resolution: int) -> int:
    """How many configurations of this shape train together: MAX_GROUP, or fewer where the
    memory model (each adds BYTES_PER_UNIT x depth x width x resolution^2 x batch size) would
    pass GROUP_BOUND; at least 1."""
    per = BYTES_PER_UNIT * depth * width * resolution**2 * batch_size
    return int(max(1, min(MAX_GROUP, GROUP_BOUND // per if per > 0 else MAX_GROUP)))


def ladder(native: int) -> tuple[int, ...]:
    """The resolution fidelities of a native size: native/4, native/2, native (integers >= 4)."""
    return tuple(native // d for d in (4, 2, 1) if native % d == 0 and native // d >= 4)


def make(dataset: str, max_epochs: int = 50, max_fraction: float = 1.0, max_resolution: int | None = None,
         min_fraction: float = 0.01, source: str | None = None, report_test: bool = False,
         name: str | None = None, native: int | None = None, shared_programs: bool = False) -> Benchmark:
    """A ResNet benchmark on `dataset`; `source` overrides where its files are read from.

    max_epochs, max_fraction, max_resolution: the full-fidelity point (CPU-scale studies
    lower all three; fractions stay relative to the whole training split).
    dataset "folder": `source` is an image folder or archive (`hpobench.data.load_folder`),
    prepared at `native` x `native` px (default 32), resolutions `ladder(native)`.
    shared_programs: one compiled train step for both optimizer families and Nesterov or not (a
    traced conditional, `hpobench.descent.step`): 27 -> 22 train programs for the main job's 30
    configurations, 48 -> 30 for 60. It does not pay at the main job's scale (ResNet-20 w16 b128
    7 px, one core: compile 6.5 s vs 5.0-5.6 s per program, step +2-9%; 22 x 6.5 s ~ 27 x 5.3 s),
    and it is not bit for bit: SGD is, AdamW's parameters differ by up to 9.2e-7 after 8 steps (F1
    by 4.3e-4 on 2-epoch runs at 7 and 14 px), as XLA fuses its update differently. Off by default.
    """
    if not isinstance(shared_programs, bool):
        raise BenchmarkError(f"shared_programs must be true or false, got {shared_programs!r}")
    if dataset == FOLDER:
        native = 32 if native is None else native
        if isinstance(native, bool) or not isinstance(native, int) or native < 4:
            raise BenchmarkError(f"resnet/folder: native must be an integer >= 4 (pixels), got {native!r}")
        rungs = ladder(native)
    elif dataset not in RESOLUTIONS:
        raise BenchmarkError(f"no ResNet benchmark for dataset {dataset!r}; known: {sorted(RESOLUTIONS)}")
    else:
        if native not in (None, NATIVE[dataset]):
            raise BenchmarkError(f"{dataset} is stored at {NATIVE[dataset]} px; native={native} is for resnet/folder")
        native, rungs = NATIVE[dataset], RESOLUTIONS[dataset]
    resolutions = tuple(r for r in rungs if max_resolution is None or r <= max_resolution)
    if not resolutions or (max_resolution is not None and resolutions[-1] != max_resolution):
        raise BenchmarkError(f"max_resolution {max_resolution} is not one of {rungs}")
    if not min_fraction <= max_fraction <= 1:
        raise BenchmarkError(f"max_fraction must be in [{min_fraction}, 1], got {max_fraction}")

    def cost(fidelity: dict) -> float:
        return fidelity["epochs"] * fidelity["data_fraction"] * (fidelity["resolution"] / native) ** 2

    def prepare():
        from hpobench import data
        try:
            if dataset == FOLDER:
                if not source:
                    raise data.DataError("resnet/folder needs a dataset: --data PATH on the command line, "
                                         "data=PATH in Python or in a grid spec's benchmark_args (a class-per-"
                                         "folder tree of JPEG/PNG images, or a tar archive of one)")
                return data.load_folder(source, native)
            return data.load(dataset, source)
        except data.DataError as e:
            raise BenchmarkError(str(e)) from None

    def result(out, fidelity: dict) -> Result:
        info = {"spec": out.spec, "compile_s": out.compile_seconds, "build_s": out.build_seconds, "images": out.images}
        if out.group > 1:
            info["group"] = out.group
        return Result(out.status, out.f1, out.accuracy, out.loss, out.seconds, cost(fidelity), out.curve,
                      out.error, out.test, info)

    def fn(config: dict, fidelity: dict, seed: int) -> Result:
        from hpobench import train  # JAX only when something runs
        ds = prepare()
        out = train.run(config, ds, fidelity["epochs"], fidelity["data_fraction"], fidelity["resolution"],
                        seed, report_test=report_test, shared=shared_programs)
        return result(out, fidelity)

    def many(configs: list[dict], fidelity: dict, seeds: list[int]) -> list[Result]:
        from hpobench import train
        outs = train.run_many(configs, prepare(), fidelity["epochs"], fidelity["data_fraction"],
                              fidelity["resolution"], seeds, report_test=report_test, shared=shared_programs)
        return [result(out, fidelity) for out in outs]

    def batch(config: dict, fidelity: dict) -> tuple:
        """Configurations with the same depth, width and batch size share a program (`train.group_spec`)."""
        static = (int(config["depth"]), int(config["width"]), int(config["batch_size"]))
        return static, max_group(*static, fidelity["resolution"])

    def warm(configs: list[dict], fidelity: dict) -> None:
        from hpobench import train
        ds, res = prepare(), fidelity["resolution"]
        train.prefetch(train.spec_of(configs[0], ds, res, shared_programs) if len(configs) == 1
                       else train.group_spec(configs, ds, res, shared_programs))

    return Benchmark(
        name=name or f"resnet/{dataset}", config_space=spaces.resnet(),
        fidelity_space=spaces.fidelity(max_epochs, resolutions, min_fraction, max_fraction), fn=fn,
        description=f"CIFAR-style ResNet trained with optax on {source if dataset == FOLDER else dataset}; "
                    f"metric: validation macro-F1.",
        cost_fn=cost, prepare=prepare, warm=warm, batch=batch, many=many,
        meta={"dataset": dataset, "max_epochs": max_epochs, "max_fraction": max_fraction,
              "native_resolution": native, **({"data": str(source)} if dataset == FOLDER else {})})

"""Population-batched training (`hpobench.train.run_many`) against one configuration at a time: cheap
trainings per minute and per CPU-minute, the peak memory of each group size, and how far a batched
configuration is from the same configuration trained alone.

    python -m hpobench.experiments.studies.batched --out results/batched            # the benchmark (issue 33)
    python -m hpobench.experiments.studies.batched --quick --out /tmp/batched       # that it runs (a minute or two)

Trainings: `--n` configurations of the ResNet-20 default family (depth 20, width 16, batch 128;
every other hyperparameter drawn at random, `--seed`, so both optimizer families and every schedule
are among them) at the scope's low fidelity (`make run`'s: 3 epochs, 3.125% of the data, at 7 px on
Fashion-MNIST and 8 px on CIFAR-10). Ways: one at a time (`alone`: `train.run`, each on its
family's program, as the benchmark trains it alone) and in groups of K (`batched K`:
`train.run_many`, K = 1 too: the stacked program with one configuration).

Each way runs in a fresh process. A first pass builds every way's programs and stores them
(`programs_s`); then, for each of `--repeats`, each way in turn (alternating, so the machine's noise
hits them alike) loads its programs, trains one short group (or configuration: 1 epoch, 1% of the
data) to warm the kernels,
and times the `--n` trainings: wall time and the process's CPU time (every thread), as trainings per
minute and per CPU-minute (the medians over repeats; `speedup`: against `alone` in the same
run). Memory: the process's peak resident set size (`resource.getrusage(RUSAGE_SELF)` at its end:
the data, the loaded programs and one group at a time; the largest over the repeats), and on an
accelerator its device's peak bytes in use. The per-configuration bytes fitted to them (peak = base
+ K x bytes) are set beside `hpobench.benchmarks.resnet`'s memory model, which the scope and the
grids use to keep a group under `GROUP_BOUND`.

Identity: `--identity-n` configurations trained as one group against each trained alone with its
seed (`train.run`); on a CPU also with the kernels one after another on the group's program
(`onednn.one_after_another`, `shared=True`: then only XLA's fusion of the batched program differs).
Per configuration: |F1 difference|, the largest relative difference of its per-epoch training and
validation losses, the largest absolute difference of its final parameters.

The same command runs unchanged on a GPU (XLA's kernels there: the one-after-another comparison is
left out) and `--k` takes any group sizes (e.g. `--k 1 4 16 64`). Writes to `--out`:
`machine.json` (CPU model and flags, usable cores, device, kernels, versions, load average),
`throughput.csv`, `memory.csv`, `identity.csv`, `summary.json` and `README.md` (the tables). A
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hpobench  # noqa: F401  keeps freed memory (hpobench.heap); before JAX starts its threads

DATASETS = {"fashion_mnist": 7, "cifar10": 8}  # the scope's low resolution on each
FIDELITY = {"epochs": 3, "data_fraction": 0.03125}  # `make run`'s low fidelity (`hpobench.experiments.scope.plan`)
FAMILY = {"depth": 20, "width": 16, "batch_size": 128}  # the ResNet-20 default family
WARM_FRACTION = 0.01  # the warm-up training's data fraction (one epoch)
QUICK = dict(n=2, k=[1, 2], repeats=1, epochs=1, identity_n=2, depth=8, width=8, batch_size=32)


def family(n: int, seed: int, static: dict) -> list[dict]:
    """`n` configurations sharing the static part `static`: random but for it."""
    from hpobench import spaces
    return [c | static for c in spaces.sample(spaces.resnet(), n, seed, default=False)]


def device_peak_mib() -> float | None:
    """The accelerator's peak bytes in use (MiB), where the device reports it (not the CPU)."""
    import jax
    stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
    return round(stats["peak_bytes_in_use"] / 2**20, 1) if stats and "peak_bytes_in_use" in stats else None


def measure(dataset: str, res: int, k: int, args, build_only: bool = False) -> dict:
    """In this process: train `args.n` configurations one at a time (k = 0) or in groups of k:
    their programs first, then one warm-up group (or training), then the timed ones. build_only:
    the programs only (the first pass, which compiles and stores them)."""
    from hpobench import data, train
    ds = data.load(dataset)
    n, static = args.n, {"depth": args.depth, "width": args.width, "batch_size": args.batch_size}
    configs, seeds = family(n, args.seed, static), list(range(n))
    chunks = [list(range(i, min(i + k, n))) for i in range(0, n, k)] if k else [[i] for i in range(n)]

    def go(idx: list[int], epochs: int = args.epochs, fraction: float = args.data_fraction) -> list:
        if k:
            return train.run_many([configs[i] for i in idx], ds, epochs, fraction, res, [seeds[i] for i in idx])
        return [train.run(configs[idx[0]], ds, epochs, fraction, res, seeds[idx[0]])]
    t0 = time.perf_counter()
    specs = ({train.group_spec([configs[i] for i in c], ds, res) for c in chunks} if k
             else {train.spec_of(c, ds, res) for c in configs})
    for spec in specs:
        train.STORE.get(spec)
    row = {"programs_s": round(time.perf_counter() - t0, 2), "programs": len(specs)}
    if not build_only:
        # the kernels' first calls (oneDNN creates its primitives) and the data at this resolution, on a
        # short training: the programs do not depend on epochs or data fraction
        go(chunks[0], 1, WARM_FRACTION)
        c0, w0 = time.process_time(), time.perf_counter()
        outs = [o for c in chunks for o in go(c)]
        row |= {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                "ok": sum(o.status == "ok" for o in outs), "f1": [round(o.f1, 4) for o in outs]}
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return row | {"peak_rss_mib": round(kib / 1024, 1), "device_peak_mib": device_peak_mib()}


def in_process(dataset: str, k: int, args, store: str, build_only: bool = False) -> dict:
    """`measure` in a fresh process (its own peak memory), sharing the program store `store`."""
    env = os.environ | {"HPOBENCH_JAX_CACHE": store}
    argv = [sys.executable, "-m", "hpobench.experiments.studies.batched", "--measure", dataset, str(k),
            *settings(args), *(["--build-only"] if build_only else [])]
    out = subprocess.run(argv, env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def settings(args) -> list[str]:
    """The command-line settings a measuring process needs."""
    return ["--n", str(args.n), "--seed", str(args.seed), "--epochs", str(args.epochs), "--data-fraction",
            str(args.data_fraction), "--depth", str(args.depth), "--width", str(args.width), "--batch-size",
            str(args.batch_size), *(["--resolution", str(args.resolution)] if args.resolution else [])]


def identity(dataset: str, res: int, args) -> list[dict]:
    """Per configuration of one batched group: how far it is from training alone (module docstring)."""
    import jax
    import numpy as np

    from hpobench import data, onednn, train
    ds = data.load(dataset)
    n, static = args.identity_n, {"depth": args.depth, "width": args.width, "batch_size": args.batch_size}
    configs, seeds = family(n, args.seed, static), list(range(n))
    fid = (args.epochs, args.data_fraction, res)
    ways = [("default", train.run_many(configs, ds, *fid, seeds, keep_params=True), False)]
    if jax.default_backend() == "cpu":
        with onednn.one_after_another():
            ways.append(("one after another", train.run_many(configs, ds, *fid, seeds, keep_params=True), True))
    rows = []
    for way, group, shared in ways:
        for c, s, batched in zip(configs, seeds, group):
            alone = train.run(c, ds, *fid, s, shared=shared, keep_params=True)
            loss = max(abs(p[key] - q[key]) / abs(q[key]) for p, q in zip(batched.curve, alone.curve)
                       for key in ("train_loss", "val_loss") if key in q)
            gap = max(float(np.max(np.abs(x - y))) for x, y in zip(jax.tree.leaves(batched.params),
                                                                    jax.tree.leaves(alone.params)))
            rows.append({"dataset": dataset, "resolution": res, "k": n, "way": way, "optimizer": c["optimizer"],
                         "learning_rate": round(c["learning_rate"], 5), "status": batched.status,
                         "status_alone": alone.status, "f1": batched.f1, "f1_alone": alone.f1,
                         "f1_gap": abs(batched.f1 - alone.f1), "loss_rel_gap": float(loss), "params_gap": gap})
    return rows


def machine() -> dict:
    """What the figures were measured on."""
    import jax

    from hpobench import env, onednn
    flags = []
    if Path("/proc/cpuinfo").exists():
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    return {**env.describe(), "device": str(jax.devices()[0]), "backend": jax.default_backend(),
            "kernels": onednn.describe(), "cpu_flags": sorted(flags),
            "load_average": [round(x, 2) for x in os.getloadavg()], "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def throughput(args, store: str) -> tuple[list[dict], list[dict]]:
    """Every way on every dataset (module docstring): (throughput rows, memory rows)."""
    ways = [0] + args.k
    rows, memory = [], []
    for dataset in args.datasets:
        res = args.resolution or DATASETS[dataset]
        built = {k: in_process(dataset, k, args, store, build_only=True) for k in ways}  # compiles and stores
        runs = {k: [] for k in ways}
        for r in range(args.repeats):
            for k in ways:  # alternate: noise hits every way alike
                runs[k].append(in_process(dataset, k, args, store))
                print(f"{dataset} repeat {r + 1}/{args.repeats} {'alone' if k == 0 else f'K={k}'}: "
                      f"{runs[k][-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
        per_min = {k: statistics.median(args.n / x["wall_s"] * 60 for x in rs) for k, rs in runs.items()}
        per_cpu = {k: statistics.median(args.n / x["cpu_s"] * 60 for x in rs) for k, rs in runs.items()}
        for k, rs in runs.items():
            way = "alone" if k == 0 else f"batched K={k}"
            rows.append({"dataset": dataset, "resolution": res, "way": way, "k": k, "n": args.n,
                         "trainings_per_min": round(per_min[k], 2), "trainings_per_cpu_min": round(per_cpu[k], 2),
                         "speedup": round(per_min[k] / per_min[0], 3),
                         "speedup_cpu": round(per_cpu[k] / per_cpu[0], 3),
                         "per_min_all": json.dumps([round(args.n / x["wall_s"] * 60, 2) for x in rs]),
                         "programs_s": built[k]["programs_s"], "programs": built[k]["programs"],
                         "ok": min(x["ok"] for x in rs)})
            memory.append({"dataset": dataset, "resolution": res, "way": way, "k": k,
                           "peak_rss_mib": max(x["peak_rss_mib"] for x in rs),
                           "device_peak_mib": max((x["device_peak_mib"] for x in rs if x["device_peak_mib"]),
                                                  default=None),
                           "build_peak_rss_mib": built[k]["peak_rss_mib"]})
    return rows, memory


def memory_model(memory: list[dict], args) -> list[dict]:
    """Per dataset: the peak bytes each batched configuration adds (least squares over K), beside
    `hpobench.benchmarks.resnet`'s model for the family, and the group it lets train under its bound."""
    import numpy as np

    from hpobench.benchmarks import resnet
    out = []
    for dataset in args.datasets:
        pts = [(m["k"], m["peak_rss_mib"]) for m in memory if m["dataset"] == dataset and m["k"] >= 1]
        res = args.resolution or DATASETS[dataset]
        units = args.depth * args.width * res**2 * args.batch_size
        row = {"dataset": dataset, "resolution": res,
               "model_mib_per_config": round(resnet.BYTES_PER_UNIT * units / 2**20, 1),
               "model_max_group": resnet.max_group(args.depth, args.width, args.batch_size, res),
               "largest_shape_max_group": resnet.max_group(20, 32, 256, res),
               "group_bound_gib": resnet.GROUP_BOUND / 2**30}
        if len({k for k, _ in pts}) >= 2:
            slope, base = np.polyfit([k for k, _ in pts], [m for _, m in pts], 1)
            row |= {"measured_mib_per_config": round(float(slope), 1), "measured_base_mib": round(float(base), 1),
                    "measured_bytes_per_unit": round(float(slope) * 2**20 / units, 1)}
        out.append(row)
    return out


def table(rows: list[dict], cols: list[str]) -> list[str]:
    if not rows:
        return ["(not measured)"]
    return (["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows])


def _cell(v) -> str:
    if isinstance(v, float):
        v = v + 0.0  # no -0
        return f"{v:.3g}" if abs(v) < 1e-2 and v else f"{v:.4g}"
    return "" if v is None else str(v)


def readme(info: dict, args, argv: list[str], seconds: float, rows, memory, model, ident) -> str:
    m = info
    worst = []
    for (dataset, way), g in _groups(ident).items():
        worst.append({"dataset": dataset, "way": way, "configurations": len(g),
                      "max_f1_gap": max(r["f1_gap"] for r in g), "max_loss_rel_gap": max(r["loss_rel_gap"] for r in g),
                      "max_params_gap": max(r["params_gap"] for r in g),
                      "status_equal": all(r["status"] == r["status_alone"] for r in g)})
    lines = ["# Population-batched training: throughput, memory, identity", "",
             f"`python -m hpobench.experiments.studies.batched {' '.join(argv)}` ({seconds / 60:.1f} min wall).", "",
             f"Machine: {m['cpu']} ({m['isa']}), {m['cpus_usable']} usable cores, device {m['device']}, kernels "
             f"{m['kernels']}, jax {m['versions'].get('jax')}, load average at the start {m['load_average']} "
             "(`machine.json`: flags and versions).", "",
             f"Family: depth {args.depth}, width {args.width}, batch {args.batch_size}, the rest random (seed "
             f"{args.seed}); {args.epochs} epoch(s), data fraction {args.data_fraction}; {args.n} trainings per way, "
             f"medians over {args.repeats} repeat(s).", "",
             "## Cheap trainings per minute (`throughput.csv`)", "",
             *table(rows, ["dataset", "resolution", "way", "trainings_per_min", "trainings_per_cpu_min", "speedup",
                           "speedup_cpu", "programs_s", "ok"]), "",
             "## Peak memory per group size (`memory.csv`)", "",
             *table(memory, ["dataset", "way", "k", "peak_rss_mib", "device_peak_mib", "build_peak_rss_mib"]), "",
             "Memory model (`hpobench.benchmarks.resnet.max_group`; the scope keeps a group under the bound):", "",
             *table(model, ["dataset", "resolution", "model_mib_per_config", "measured_mib_per_config",
                            "measured_base_mib", "measured_bytes_per_unit", "model_max_group",
                            "largest_shape_max_group", "group_bound_gib"]), "",
             "## Identity: batched against alone (`identity.csv`)", "",
             *table(worst, ["dataset", "way", "configurations", "max_f1_gap", "max_loss_rel_gap", "max_params_gap",
                            "status_equal"]), ""]
    return "\n".join(lines)


def _groups(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault((r["dataset"], r["way"]), []).append(r)
    return out


def write_csv(path: Path, rows: list[dict]) -> None:
    import pandas as pd
    pd.DataFrame(rows).to_csv(path, index=False)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=sorted(DATASETS))
    p.add_argument("--k", type=int, nargs="+", default=[1, 4, 8, 16], help="group sizes (default 1 4 8 16)")
    p.add_argument("--n", type=int, default=16, help="timed trainings per way (a multiple of every K is fairest)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--identity-n", type=int, default=8, help="configurations of the identity check's group")
    p.add_argument("--parts", nargs="+", default=["throughput", "identity"], choices=["throughput", "identity"],
                   help="throughput (with memory) and/or identity")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=FIDELITY["epochs"])
    p.add_argument("--data-fraction", type=float, default=FIDELITY["data_fraction"])
    p.add_argument("--resolution", type=int, default=None, help="instead of the scope's (7 px / 8 px)")
    p.add_argument("--depth", type=int, default=FAMILY["depth"], choices=[8, 14, 20])
    p.add_argument("--width", type=int, default=FAMILY["width"], choices=[8, 16, 32])
    p.add_argument("--batch-size", type=int, default=FAMILY["batch_size"], choices=[32, 64, 128, 256])
    p.add_argument("--quick", action="store_true", help="a tiny family and 2 trainings per way: that it runs")
    p.add_argument("--out", type=Path, default=Path("results/batched"))
    p.add_argument("--measure", nargs=2, metavar=("DATASET", "K"), help=argparse.SUPPRESS)
    p.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        for key, v in QUICK.items():
            setattr(args, key, v)
    if args.n < 1 or args.repeats < 1 or args.identity_n < 1 or any(k < 1 for k in args.k):
        p.error("need --n, --repeats, --identity-n and every --k >= 1")
    if args.measure:
        dataset, k = args.measure[0], int(args.measure[1])
        row = measure(dataset, args.resolution or DATASETS[dataset], k, args, args.build_only)
        print(json.dumps(row))
        return
    from hpobench import data
    for dataset in args.datasets:  # a missing dataset fails here, before anything is timed
        data.load(dataset)
    argv = argv if argv is not None else sys.argv[1:]
    args.out.mkdir(parents=True, exist_ok=True)
    info = machine()
    (args.out / "machine.json").write_text(json.dumps(info | {"argv": argv}, indent=1))
    t0 = time.perf_counter()
    rows, memory, model, ident = [], [], [], []
    if "throughput" in args.parts:
        with tempfile.TemporaryDirectory() as store:  # a run's first pass compiles each program, later ones load it
            rows, memory = throughput(args, store)
        model = memory_model(memory, args)
        write_csv(args.out / "throughput.csv", rows)
        write_csv(args.out / "memory.csv", memory)
    if "identity" in args.parts:
        for dataset in args.datasets:
            ident += identity(dataset, args.resolution or DATASETS[dataset], args)
        write_csv(args.out / "identity.csv", ident)
    seconds = time.perf_counter() - t0
    summary = {"machine": info, "argv": argv, "seconds": round(seconds, 1), "throughput": rows, "memory": memory,
               "memory_model": model, "identity": ident}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    text = readme(info, args, argv, seconds, rows, memory, model, ident)
    (args.out / "README.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

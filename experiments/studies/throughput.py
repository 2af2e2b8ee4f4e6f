"""Training throughput of the ResNet train step, JAX vs PyTorch, and compile time.

    python -m hpobench.experiments.studies.throughput                                  # JAX, ResNet-8/20 at 8/16/32 px
    python -m hpobench.experiments.studies.throughput --frameworks jax torch torch-cl  # side by side (torch==2.13.0)
    python -m hpobench.experiments.studies.throughput --frameworks jax jax-xla         # oneDNN kernels vs XLA's own
    python -m hpobench.experiments.studies.throughput --second-process   # compile: fresh process vs a later one

Both frameworks train the same CIFAR ResNet (3x3 stem, three stages of basic blocks,
BatchNorm, projection shortcuts, SGD with Nesterov momentum and weight decay) on the
same random batch. Each timed run is a fresh process (thread pools of two frameworks in
one process contend); frameworks alternate within every repeat so that the machine's
noise shows in all of them alike; each line is one JSON object with the median
img/s over repeats. `jax` is the project's step (oneDNN convolutions and BatchNorm on
CPU, `hpobench/onednn.py`), `jax-xla` the same step lowered by XLA alone; `torch-cl` is
channels_last, `torch-bf16` adds bf16 autocast.
The first line is the machine's peak: a large fp32 matrix product (GFLOP/s).
`--second-process` instead times getting the programs (`hpobench.programs.STORE.get`) in a fresh
process with an empty store, then in a second process that finds them stored.
A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import hpobench  # noqa: F401  keeps freed memory (hpobench.heap); before JAX starts its threads


def peak_gflops(n: int = 2048, repeats: int = 5) -> float:
    """fp32 matmul GFLOP/s through XLA (the same BLAS the train step can reach)."""
    import jax
    import jax.numpy as jnp
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        f(a).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def step_flops(depth: int, width: int, resolution: int, batch_size: int) -> float:
    """FLOPs of one train step, from XLA's cost analysis of its own lowering (it counts none in
    custom calls); the same architecture in every framework."""
    from hpobench import onednn, programs
    with onednn.off():
        step = programs.compile_all(programs.Spec(depth, width, 10, "sgd", True, resolution, 3, batch_size))[1]
        cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float((cost or {}).get("flops", float("nan")))


def jax_runner(depth: int, width: int, resolution: int, batch_size: int, xla_only: bool = False):
    """(step(n) -> seconds, compile_s) for the project's jitted train step; `xla_only`: with XLA's
    own convolutions and BatchNorm instead of oneDNN's (compiled afresh, never stored)."""
    import jax

    from hpobench import onednn, programs, spaces, train
    config = dict(spaces.resnet().get_default_configuration()) | {"depth": depth, "width": width}
    spec = programs.Spec(depth, width, 10, "sgd", True, resolution, 3, batch_size)
    t0 = time.perf_counter()
    if xla_only:
        with onednn.off():
            init, step, _ = programs.compile_all(spec)
    else:
        init, step, _ = programs.STORE.get(spec)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, resolution, resolution, 3), dtype=np.float32)
    y = rng.integers(0, 10, batch_size).astype(np.int32)
    hp, opt_hp = train.step_inputs(config, resolution)
    key = jax.random.key(0)
    state = [init(key, opt_hp)]

    def run(n: int) -> float:
        t = time.perf_counter()
        for i in range(n):
            state[0], loss = step(state[0], x, y, key, np.int32(i + 1), np.float32(0.1), hp)
        loss.block_until_ready()
        return time.perf_counter() - t
    run(1)  # warm-up
    return run, compile_s


def torch_runner(depth: int, width: int, resolution: int, batch_size: int, channels_last=False, bf16=False):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                          if stride != 1 or cin != cout else nn.Identity())

        def forward(self, x):
            return F.relu(self.short(x) + self.b2(self.c2(F.relu(self.b1(self.c1(x))))))

    n = (depth - 2) // 6
    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage in range(3):
        for b in range(n):
            cout = width * 2**stage
            layers.append(Block(cin, cout, 2 if stage and not b else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10)]
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    x = torch.randn(batch_size, 3, resolution, resolution)
    y = torch.randint(0, 10, (batch_size,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def one():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def run(k: int) -> float:
        t = time.perf_counter()
        for _ in range(k):
            one()
        return time.perf_counter() - t
    t0 = time.perf_counter()
    run(1)  # warm-up (PyTorch eager: nothing to compile)
    return run, time.perf_counter() - t0


def second_process(depth: int, width: int, resolution: int, batch_size: int) -> tuple[float, float]:
    """Seconds to get the programs in a fresh process with an empty store, then in a second one."""
    code = ("import json, sys; from hpobench import programs; "
            "programs.STORE.get(programs.Spec(*json.loads(sys.argv[1]))); print(programs.STORE.seconds)")
    spec = json.dumps([depth, width, 10, "sgd", True, resolution, 3, batch_size])
    with tempfile.TemporaryDirectory() as store:
        env = os.environ | {"HPOBENCH_JAX_CACHE": store}

        def run() -> float:
            out = subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True,
                                 check=True)
            return float(out.stdout.split()[-1])
        return run(), run()


RUNNERS = {
    "jax": jax_runner,
    "jax-xla": lambda *a: jax_runner(*a, xla_only=True),
    "torch": torch_runner,
    "torch-cl": lambda *a: torch_runner(*a, channels_last=True),
    "torch-bf16": lambda *a: torch_runner(*a, channels_last=True, bf16=True),
}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--frameworks", nargs="+", default=["jax"], choices=sorted(RUNNERS))
    p.add_argument("--depth", type=int, nargs="+", default=[8, 20])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--resolution", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="timed steps at 32 px (more at lower resolution)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--second-process", action="store_true", help="time compiling vs loading stored programs")
    p.add_argument("--measure", nargs=6, metavar=("FRAMEWORK", "DEPTH", "WIDTH", "RES", "BATCH", "STEPS"),
                   help=argparse.SUPPRESS)  # one timed run, in the process `measure_in_process` starts
    args = p.parse_args(argv)
    if args.measure:
        return measure(args.measure[0], *map(int, args.measure[1:]))
    if args.second_process:
        for depth in args.depth:
            for res in args.resolution:
                first, second = zip(*(second_process(depth, args.width, res, args.batch_size)
                                      for _ in range(args.repeats)))
                f, s = statistics.median(first), statistics.median(second)
                print(json.dumps({"framework": "jax", "model": f"resnet{depth}-w{args.width}", "resolution": res,
                                  "batch_size": args.batch_size, "compile_s_first": round(f, 2),
                                  "compile_s_second": round(s, 2), "second_over_first": round(s / f, 3),
                                  "first_all": [round(x, 2) for x in first],
                                  "second_all": [round(x, 2) for x in second]}), flush=True)
        return
    peak = peak_gflops()
    from hpobench import env, onednn
    print(json.dumps({"peak_fp32_gflops": round(peak, 1), "kernels": onednn.describe(),
                      "cpus_usable": env.cpus_usable()}), flush=True)
    with tempfile.TemporaryDirectory() as store:  # the first process per config compiles, later ones load
        for depth in args.depth:
            for res in args.resolution:
                steps = max(args.steps, int(args.steps * (32 / res) ** 2 / 4))  # similar wall time per size
                config = [depth, args.width, res, args.batch_size, steps]
                flops = step_flops(depth, args.width, res, args.batch_size)
                runs = {fw: [] for fw in args.frameworks}
                for _ in range(args.repeats):
                    for fw in args.frameworks:  # alternate: noise hits every framework alike
                        runs[fw].append(measure_in_process(fw, config, store))
                for fw, rs in runs.items():
                    rates = [r["img_per_s"] for r in rs]
                    med = statistics.median(rates)
                    gflops = flops * med / args.batch_size / 1e9 if flops == flops else None
                    print(json.dumps({"framework": fw, "model": f"resnet{depth}-w{args.width}", "resolution": res,
                                      "batch_size": args.batch_size, "img_per_s": round(med, 1),
                                      "img_per_s_all": [round(r, 1) for r in rates],
                                      "compile_s": round(rs[0]["compile_s"], 2),
                                      "gflops": round(gflops, 1) if gflops else None,
                                      "share_of_peak": round(gflops / peak, 3) if gflops else None}), flush=True)


def measure_in_process(framework: str, config: list, store: str) -> dict:
    """One timed run in a fresh process: frameworks' thread pools (two OpenMP runtimes, XLA's)
    spin and contend when they share one (measured: -40% for both at 32 px)."""
    env = os.environ | {"HPOBENCH_JAX_CACHE": store}
    if framework == "jax-xla":  # as a user without the kernels runs (`hpobench.heap` stays off too)
        env["HPOBENCH_ONEDNN"] = "0"
    argv = [sys.executable, "-m", "hpobench.experiments.studies.throughput", "--measure", framework, *map(str, config)]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def measure(framework: str, depth: int, width: int, resolution: int, batch_size: int, steps: int) -> None:
    run, compile_s = RUNNERS[framework](depth, width, resolution, batch_size)
    run(max(1, steps // 5))  # thread pools and caches warm
    print(json.dumps({"img_per_s": steps * batch_size / run(steps), "compile_s": compile_s}))

if __name__ == "__main__":
    main()

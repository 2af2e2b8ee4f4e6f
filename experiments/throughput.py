"""Training throughput of the jitted ResNet train step, and its compile time.

    python -m experiments.throughput                      # ResNet-8/20 at 8/16/32 px, batch 128
    python -m experiments.throughput --depth 20 --resolution 32 --repeats 5

Prints one JSON object per line: framework, model, resolution, batch_size,
img_per_s (median over repeats), compile_s. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def jax_step(depth: int, width: int, resolution: int, batch_size: int, steps: int, repeats: int) -> dict:
    import jax
    from hpobench import spaces, train
    config = dict(spaces.resnet().get_default_configuration()) | {"depth": depth, "width": width,
                                                                    "batch_size": batch_size}
    spec = train.Spec(depth, width, 10, "sgd", True, resolution, 3, batch_size)
    t0 = time.perf_counter()
    init, step, _ = train.programs(spec)
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, resolution, resolution, 3), dtype=np.float32)
    y = rng.integers(0, 10, batch_size).astype(np.int32)
    hp = {k: (np.int32(v) if k == "crop" else np.float32(v))
          for k, v in train.step_hparams(config, resolution).items()}
    opt_hp = {k: np.float32(v) for k, v in train.optimizer_hparams(config).items()}
    key = jax.random.key(0)
    state = init(key, opt_hp)
    state, loss = step(state, x, y, key, np.int32(1), np.float32(0.1), hp)  # warm-up
    loss.block_until_ready()
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(steps):
            state, loss = step(state, x, y, key, np.int32(i), np.float32(0.1), hp)
        loss.block_until_ready()
        rates.append(steps * batch_size / (time.perf_counter() - t))
    return {"framework": "jax", "model": f"resnet{depth}-w{width}", "resolution": resolution,
            "batch_size": batch_size, "img_per_s": round(statistics.median(rates), 1),
            "img_per_s_all": [round(r, 1) for r in rates], "compile_s": round(compile_s, 2),
            "device": str(jax.devices()[0])}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, nargs="+", default=[8, 20])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--resolution", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    for depth in args.depth:
        for res in args.resolution:
            steps = max(args.steps, int(args.steps * (32 / res) ** 2 / 4))  # similar wall time per size
            print(json.dumps(jax_step(depth, args.width, res, args.batch_size, steps, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

"""GPU self-check: the same code on a GPU, checked in a few minutes (`make gpu-check`).

    python -m hpobench.experiments.studies.gpu_check --out gpu_check.json

Without a GPU it says so and exits 0. With one it
1. checks that nothing CPU-specific is on: no oneDNN custom calls in the lowered step, the heap
   settings (`hpobench.heap`) and core pinning off;
2. runs the same train steps (ResNet-8, 16 px, batch 64, 3 steps, float32 at full precision) on
   the GPU and in a CPU process, and compares loss and the whole training state;
3. measures ResNet-20 train-step img/s at 32 px, batch 128 and 512;
4. trains the default configuration at a small fidelity (`resnet/cifar10`, 2 epochs, 5% of the
   data, 16 px), where the CIFAR-10 archive is found;
5. runs the cheapest cell of `experiments/specs/cifar10_gpu.yaml` for the default configuration
   (into a temporary folder; `results/` is not touched).
Each part reports its figures; a failed comparison exits 1. Budget: under 5 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import hpobench

PARITY = """
import json, sys
import jax
jax.config.update("jax_default_matmul_precision", "highest")  # compare the arithmetic, not TF32
import numpy as np
from hpobench import programs, spaces, train
spec = programs.Spec(8, 16, 10, "sgd", True, 16, 3, 64)
config = dict(spaces.resnet().get_default_configuration()) | {"depth": 8, "width": 16}
init, step, _ = programs.STORE.get(spec)
hp, opt_hp = train.step_inputs(config, 16)
key = jax.random.key(0)
rng = np.random.default_rng(0)
state, losses = init(key, opt_hp), []
for i in range(3):
    x = rng.standard_normal((64, 16, 16, 3), dtype=np.float32)
    state, loss = step(state, x, rng.integers(0, 10, 64).astype(np.int32), key, np.int32(i + 1), np.float32(0.05), hp)
    losses.append(float(loss))
leaves = [np.asarray(v, np.float64).ravel() for v in jax.tree_util.tree_leaves(state)
          if np.asarray(v).dtype.kind == "f"]
np.save(sys.argv[1], np.concatenate(leaves))
print(json.dumps({"losses": losses, "device": str(jax.devices()[0])}))
"""
LOSS_RTOL, STATE_RTOL = 1e-3, 5e-3


def _gpu() -> str | None:
    import jax
    return None if jax.default_backend() == "cpu" else str(jax.devices()[0])


def cpu_specific_off() -> dict:
    import jax
    import jax.numpy as jnp

    from hpobench import onednn
    from hpobench.optimizers import parallel
    x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    hlo = jax.jit(lambda x, w: onednn.conv_general_dilated(x, w, (1, 1), "SAME",
                                                           dimension_numbers=("NHWC", "HWIO", "NHWC"))).lower(x, w)
    before = os.sched_getaffinity(0)
    parallel.pin(0)  # a no-op where an accelerator is expected
    pinned = os.sched_getaffinity(0) != before
    os.sched_setaffinity(0, before)
    return {"onednn_in_step": "hpobench_" in hlo.compile().as_text(), "heap_settings": hpobench.KEEPS_FREED_MEMORY,
            "pinned": pinned}


def parity(tmp: Path) -> dict:
    out = {}
    for name, env in (("gpu", {}), ("cpu", {"JAX_PLATFORMS": "cpu"})):
        r = subprocess.run([sys.executable, "-c", PARITY, str(tmp / f"{name}.npy")], capture_output=True, text=True,
                           env=os.environ | env | {"HPOBENCH_JAX_CACHE": str(tmp / "store")})
        if r.returncode:
            raise RuntimeError(f"{name} parity process failed:\n{r.stderr[-2000:]}")
        out[name] = json.loads(r.stdout.splitlines()[-1])
    gpu, cpu = np.load(tmp / "gpu.npy"), np.load(tmp / "cpu.npy")
    loss_rel = max(abs(a - b) / abs(b) for a, b in zip(out["gpu"]["losses"], out["cpu"]["losses"]))
    state_rel = float(np.max(np.abs(gpu - cpu)) / np.max(np.abs(cpu)))
    return {"losses_gpu": out["gpu"]["losses"], "losses_cpu": out["cpu"]["losses"], "loss_max_rel": loss_rel,
            "state_max_rel": state_rel, "ok": loss_rel <= LOSS_RTOL and state_rel <= STATE_RTOL,
            "tolerances": {"loss": LOSS_RTOL, "state": STATE_RTOL}}


def throughput() -> dict:
    from hpobench.experiments.studies.throughput import jax_runner
    out = {}
    for batch in (128, 512):
        run, compile_s = jax_runner(20, 16, 32, batch)
        run(5)
        out[f"batch{batch}"] = {"img_per_s": round(20 * batch / run(20), 1), "compile_s": round(compile_s, 2)}
    return out


def train_default() -> dict:
    bench = hpobench.get("resnet/cifar10")
    try:
        bench.check()
    except hpobench.BenchmarkError as e:
        return {"skipped": str(e)}
    r = bench.evaluate("default", {"epochs": 2, "data_fraction": 0.05, "resolution": 16}, seed=0)
    return {"status": r.status, "f1": r.f1, "seconds": r.cost_s}


def grid_cell(tmp: Path) -> dict:
    from hpobench.experiments import grid, spec
    sp = spec.load(Path(__file__).parent / "specs" / "cifar10_gpu.yaml")
    bench = hpobench.get(sp.benchmark, **sp.benchmark_args)
    try:
        bench.check()
    except hpobench.BenchmarkError as e:
        return {"skipped": str(e)}
    cell = min((c for c in spec.cells(sp) if c.config_id == 0), key=lambda c: bench.cost(c.fidelity))
    df = grid.run_cells(bench, sp.benchmark, sp.benchmark_args, [cell], tmp / "grid", {}, progress=False)
    row = df.iloc[0]
    return {"fidelity": cell.fidelity, "status": row["status"], "f1": float(row["f1"]), "seconds": float(row["cost_s"])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--anyway", action="store_true", help="run every part on the CPU too (tests the script)")
    a = ap.parse_args(argv)
    device = _gpu()
    if device is None and not a.anyway:
        print("gpu_check: no GPU here (JAX's backend is cpu); nothing to check.")
        return 0
    t0, report = time.perf_counter(), {"device": device or "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        for name, part in (("cpu_specific", cpu_specific_off), ("parity", lambda: parity(Path(tmp))),
                           ("throughput", throughput), ("train", train_default),
                           ("grid_cell", lambda: grid_cell(Path(tmp)))):
            t = time.perf_counter()
            try:
                report[name] = part()
            except Exception as e:  # report every part, even after one fails
                report[name] = {"error": f"{type(e).__name__}: {e}"}
            report[name]["wall_s"] = round(time.perf_counter() - t, 1)
            print(name, json.dumps(report[name], default=str), flush=True)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    from hpobench import env
    report["env"] = env.describe()
    if a.out:
        a.out.write_text(json.dumps(report, indent=1, default=str))
    cpu = report["cpu_specific"]
    cpu_only_off = device is None or not any(cpu.get(k) for k in ("onednn_in_step", "heap_settings", "pinned"))
    ok = (report["parity"].get("ok") and cpu_only_off
          and not any("error" in report[k] for k in ("cpu_specific", "throughput", "train", "grid_cell")))
    print(f"gpu_check: {'ok' if ok else 'FAILED'} in {report['wall_s']} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

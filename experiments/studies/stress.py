"""Process stress for the CPU kernels: many short training processes, two at a time, counting aborts.

Each process compiles (or loads from a shared program store) the train step of one small ResNet,
runs a few steps and exits; the store is emptied every `--store-every` processes so compiling,
storing and loading all recur. Processes alternate between the machine's own oneDNN kernels
and `ONEDNN_MAX_CPU_ISA=AVX2` (the AVX2 code paths an AVX-512 machine would not run otherwise),
and between shapes with fewer channels than a oneDNN block and with whole blocks. Any non-zero
exit (an abort is -6) is a failure; its stderr tail is kept.

    python -m hpobench.experiments.studies.stress --processes 200 --parallel 2 --out results/stress/stress.json
    python -m hpobench.experiments.studies.stress --processes 20 --asan       # kernels built with AddressSanitizer

`--asan` builds the kernels with `-fsanitize=address` (`HPOBENCH_ONEDNN_SANITIZE`) and preloads
the runtime (with libstdc++, which it must intercept) into every process; a report counts as a
failure. ASan sees the kernels' own accesses, not the code oneDNN generates at run time: that is
what the AVX2 processes are for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# (depth, width, batch, resolution): width 4 has fewer channels than a oneDNN block
SHAPES = [(8, 4, 8, 8), (8, 8, 16, 8), (8, 4, 16, 16), (14, 8, 8, 8)]
STEP = """
import json, sys
import jax, numpy as np
from hpobench import programs, spaces, train
depth, width, batch, res, steps = map(int, sys.argv[1:6])
init, step, _ = programs.STORE.get(programs.Spec(depth, width, 10, "sgd", True, res, 3, batch))
hp, opt_hp = train.step_inputs(dict(spaces.resnet().get_default_configuration()), res)
key = jax.random.key(0)
rng = np.random.default_rng(0)
state = init(key, opt_hp)
for i in range(steps):
    x = rng.standard_normal((batch, res, res, 3), dtype=np.float32)
    state, loss = step(state, x, np.arange(batch, dtype=np.int32) % 10, key, np.int32(i + 1), np.float32(0.05), hp)
print(json.dumps({"loaded": programs.STORE.loaded, "loss": float(loss)}))
"""


def asan_env() -> dict:
    """The environment that runs the AddressSanitizer build of the kernels in a Python process."""
    def lib(name):
        return subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True,
                              check=True).stdout.strip()
    return {"HPOBENCH_ONEDNN_SANITIZE": "address", "LD_PRELOAD": f"{lib('libasan.so')} {lib('libstdc++.so.6')}",
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1"}


def one(i: int, store: Path, steps: int, extra: dict) -> dict:
    shape = SHAPES[i % len(SHAPES)]
    isa = "AVX2" if (i // len(SHAPES)) % 2 else "native"
    env = os.environ | extra | {"HPOBENCH_JAX_CACHE": str(store), "JAX_PLATFORMS": "cpu"}
    if isa == "AVX2":
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", STEP, *map(str, (*shape, steps))], env=env, capture_output=True,
                         text=True)
    row = {"process": i, "shape": shape, "isa": isa, "rc": out.returncode, "seconds": time.perf_counter() - t0}
    try:
        row |= json.loads(out.stdout.splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        pass
    if out.returncode != 0 or "AddressSanitizer" in out.stderr:
        row["stderr"] = out.stderr[-1500:]
    return row


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--store-every", type=int, default=16, help="empty the program store this often")
    ap.add_argument("--asan", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    extra = asan_env() if a.asan else {}
    rows, t0 = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(a.parallel) as pool:
        for start in range(0, a.processes, a.store_every):
            store = Path(tmp) / f"store{start}"  # a fresh store: the first of each shape compiles
            batch = range(start, min(start + a.store_every, a.processes))
            rows += pool.map(lambda i, store=store: one(i, store, a.steps, extra), batch)
    failed = [r for r in rows if r["rc"] != 0 or "stderr" in r]
    summary = {"processes": len(rows), "parallel": a.parallel, "asan": a.asan, "failed": len(failed),
               "aborts": sum(r["rc"] == -6 for r in rows), "compiled": sum(r.get("loaded") == 0 for r in rows),
               "loaded": sum(r.get("loaded", 0) > 0 for r in rows),
               "by_isa": {isa: sum(r["isa"] == isa for r in rows) for isa in ("native", "AVX2")},
               "wall_s": round(time.perf_counter() - t0, 1), "failures": failed[:10]}
    from hpobench import env
    summary["env"] = env.describe()
    print(json.dumps({k: v for k, v in summary.items() if k not in ("env", "failures")}))
    for r in failed[:3]:
        print(f"process {r['process']} {r['shape']} {r['isa']} rc={r['rc']}:\n{r.get('stderr', '')}", file=sys.stderr)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(summary | {"rows": rows}, indent=1, default=str))
    return summary


if __name__ == "__main__":
    sys.exit(1 if main()["failed"] else 0)

"""The compiled programs: the disk store across processes, its key, the compiler options, and the
in-process store (prefetch in the background, bounded memory)."""

import json
import os
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest

from hpobench import onednn, programs, spaces, train

_STEP = """
import json, sys
import jax, numpy as np
from hpobench import programs, spaces, train
init, step, _ = programs.STORE.get(programs.Spec(8, 4, 10, "sgd", True, 8, 3, 8))
hp, opt_hp = train.step_inputs(dict(spaces.resnet().get_default_configuration()), 8)
key = jax.random.key(0)
x = np.random.default_rng(0).standard_normal((8, 8, 8, 3), dtype=np.float32)
state, loss = step(init(key, opt_hp), x, np.arange(8, dtype=np.int32), key, np.int32(1), np.float32(0.1), hp)
print(json.dumps({"loaded": programs.STORE.loaded, "loss": float(loss)}))
"""


@pytest.mark.slow
def test_programs_stored_for_later_processes(tmp_path):
    """A second process loads the stored programs instead of compiling and computes the same
    step bit for bit; a corrupt stored file is compiled afresh and replaced, not a crash."""
    env = os.environ | {"HPOBENCH_JAX_CACHE": str(tmp_path)}

    def step():
        out = subprocess.run([sys.executable, "-c", _STEP], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.splitlines()[-1])

    first = step()
    stored = list((tmp_path / "hpobench").glob("*.pkl"))
    assert first["loaded"] == 0 and len(stored) == 3  # init, train step, eval step
    assert step() == {"loaded": 3, "loss": first["loss"]}
    stored[0].write_bytes(b"not a program")
    assert step() == {"loaded": 2, "loss": first["loss"]}
    assert step() == {"loaded": 3, "loss": first["loss"]}


def test_xla_flags_are_part_of_the_program_store_key(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    base = programs.fingerprint.__wrapped__()
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")
    assert programs.fingerprint.__wrapped__() != base  # programs compiled under other flags are not reused


def test_no_disk_store_with_an_empty_path(monkeypatch, tmp_path):
    spec = programs.Spec(8, 4, 10, "sgd", True, 8, 3, 8)
    monkeypatch.setenv("HPOBENCH_JAX_CACHE", str(tmp_path))
    assert programs.stored("train", spec).parent == tmp_path / "hpobench"
    assert programs.stored("train", spec) != programs.stored("eval", spec)
    monkeypatch.setenv("HPOBENCH_JAX_CACHE", "")
    assert programs.stored("train", spec) is None


@pytest.mark.slow
def test_cpu_compiler_options_keep_the_numerics(monkeypatch):
    """The step without YNNPACK fusions (CPU, >1 core) against XLA's default lowering: same loss
    and parameters after two steps, within float tolerance."""
    if jax.default_backend() != "cpu":
        pytest.skip("CPU compiler options")
    spec = programs.Spec(8, 8, 10, "sgd", True, 16, 3, 32)
    config = dict(spaces.resnet().get_default_configuration()) | {"depth": 8, "width": 8}
    hp, opt_hp = train.step_inputs(config, 16)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 10, 32).astype(np.int32)
    out = {}
    lowerings = {"ynn": {"xla_backend_optimization_level": 1},
                 "xla": {"xla_backend_optimization_level": 1, "xla_cpu_experimental_ynn_fusion_type": ""}}
    for name, opts in lowerings.items():
        monkeypatch.setattr(programs, "compiler_options", lambda opts=opts: opts)
        with onednn.off():  # the options matter for XLA's own convolutions, the fallback
            init, step, _ = programs.compile_all(spec)
        out[name + "_text"] = step.as_text()
        state = init(jax.random.key(0), opt_hp)
        for i in (1, 2):
            state, loss = step(state, x, y, jax.random.key(0), np.int32(i), np.float32(0.1), hp)
        out[name] = (float(loss), jax.tree.leaves(state["params"]))
    assert "ynn_fusion" in out["ynn_text"] and "ynn_fusion" not in out["xla_text"]  # the switch is real
    assert out["xla"][0] == pytest.approx(out["ynn"][0], rel=1e-4)
    for a, b in zip(out["xla"][1], out["ynn"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.slow
def test_prefetch_builds_once_in_the_background(monkeypatch):
    """A prefetched spec is built once, off the calling thread; `get` then returns it."""
    monkeypatch.setenv("HPOBENCH_JAX_CACHE", "")
    monkeypatch.setattr(programs.env, "cpus_usable", lambda: 2)
    store, spec = programs.Store(), programs.Spec(8, 4, 10, None, None, 8, 3, 16)
    threads, before = [], programs.STORE.built
    build = store.build
    monkeypatch.setattr(store, "build", lambda part, s: threads.append(threading.current_thread().name)
                        or build(part, s))
    store.prefetch(spec)
    store.prefetch(spec)  # idempotent
    progs = store.get(spec)
    assert store.get(spec) == progs and store.built == 3 and store.loaded == 0  # init, train, eval
    assert store.build_seconds(spec) > 0 and store.build_seconds(spec) == 0  # charged once, to the first asker
    assert len(threads) == 3 and all(t.startswith("hpobench-build") for t in threads)
    store.prefetch(programs.Spec(8, 4, 10, None, None, 8, 3, 24))  # another batch size: its train step only
    store.get(programs.Spec(8, 4, 10, None, None, 8, 3, 24))
    assert len(threads) == 4 and store.built == 4
    monkeypatch.setattr(programs.env, "cpus_usable", lambda: 1)
    store.prefetch(programs.Spec(8, 4, 10, None, None, 8, 3, 40))  # one core: nothing starts
    assert len(threads) == 4
    assert programs.STORE.built == before  # the process's store is another


@pytest.mark.slow
def test_store_keeps_at_most_capacity_programs(tmp_path, monkeypatch):
    """Past `capacity` the least recently asked built program is dropped; asked again, it is built again."""
    monkeypatch.setenv("HPOBENCH_JAX_CACHE", str(tmp_path))
    store = programs.Store(capacity=3)
    a, b = (programs.Spec(8, 4, 10, "sgd", True, 8, 3, n) for n in (8, 16))
    store.get(a)
    store.get(b)  # init and eval shared with a, asked again; a new train step: a's is dropped
    assert store.built == 4 and list(store.cache) == [(p, programs.part_key(p, b)) for p in ("init", "train", "eval")]
    store.get(a)  # its train step again, loaded from the disk store this time
    assert store.built == 5 and store.loaded == 1 and len(store.cache) == 3

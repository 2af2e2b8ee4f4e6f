"""The compiled programs of a ResNet trial, and the store that builds and keeps them.

Three programs per `Spec` (`PARTS`), compiled ahead of time (`compile_part`): init (parameters,
BatchNorm statistics and optimizer state from a key), the train step (augmentation, forward and
backward pass, `descent.step`) and the eval step (predictions and losses of `EVAL_BATCH` images).
Every hyperparameter outside the Spec is a traced input, so none triggers a recompile. Init and
eval depend on the architecture and input shape only, so every optimizer family and batch size
shares them (`part_key`); with `Spec.optimizer` None one train step serves both optimizer families
and Nesterov or not (traced flags, `descent.step`). `Spec.population` k >= 1 makes the programs of k
configurations trained together (`batched`: `jax.vmap` over a leading configuration axis; the
oneDNN kernels run each configuration's slices in one call), for `hpobench.train.run_many`.

A `Store` keeps built programs in memory (the least recently asked dropped past `capacity`) and on
disk (`$HPOBENCH_JAX_CACHE`), so a later process loads them without tracing, lowering or compiling;
`Store.prefetch` builds a coming trial's programs in a background thread while the current one
trains (with two or more usable cores). `STORE` is the process's store; tests make their own.
Measurements behind these choices: results/throughput/README.md.

    >>> from hpobench import programs
    >>> spec = programs.Spec(8, 4, 10, "sgd", True, 8, 3, 64)
    >>> programs.part_key("eval", spec)
    Spec(depth=8, width=4, num_classes=10, optimizer=None, nesterov=None, resolution=8, channels=3,
         batch_size=0, population=0)
    >>> init, train_step, eval_step = programs.STORE.get(spec)  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import json
import math
import os
import pickle
import platform
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

from hpobench import descent, env, models, onednn
from hpobench.data import data_dir
from hpobench.models import ResNet

PARTS = ("init", "train", "eval")
EVAL_BATCH = 500  # images per eval step
HP_KEYS = ("label_smoothing", "dropout", "bn_momentum", "flip", "crop", "cutout")  # the train step's traced inputs
MAX_PROGRAMS = 3 * 64  # built programs kept per process: bounded memory in long studies; the disk store refills fast


@dataclass(frozen=True)
class Spec:
    """Everything that changes the compiled program; nothing else does."""

    depth: int
    width: int
    num_classes: int
    optimizer: str | None  # None: one program for both families, picked by traced flags (`descent.step`)
    nesterov: bool | None  # None with optimizer None
    resolution: int
    channels: int
    batch_size: int
    population: int = 0  # k >= 1: k configurations stacked along a leading axis (`batched`); 0: one, unstacked


def part_key(part: str, spec: Spec) -> Spec:
    """What decides `part`'s program: initialisation and evaluation depend on the architecture and
    the input shape only (one for every optimizer family and batch size), the train step on all."""
    return spec if part == "train" else dataclasses.replace(spec, optimizer=None, nesterov=None, batch_size=0)


def compiler_options() -> dict | None:
    """On CPU: LLVM optimisation level 1 (half the compile time of the default level, the same step
    time). With more than one core also no YNNPACK fusions: they scale poorly across threads, and
    their layouts make XLA transpose every saved activation for the weight gradients, recomputing
    the BatchNorm/ReLU chain inside each transpose; a pinned single-core worker keeps them, faster
    there. (This concerns XLA's own convolutions, i.e. the fallback: with the oneDNN kernels,
    `onednn.py`, none are left.) Other backends: defaults."""
    if jax.default_backend() != "cpu":
        return None
    opts = {"xla_backend_optimization_level": 1}
    return opts if env.cpus_usable() == 1 else opts | {"xla_cpu_experimental_ynn_fusion_type": ""}


def _augment(x, key, hp, max_pad: int):
    """Random flip, translation by up to hp['crop'] px (zero fill), cutout; all traced strengths."""
    n, h, w, _ = x.shape
    kf, ky, kx, kc = jax.random.split(key, 4)
    flip = jax.random.uniform(kf, (n,)) < hp["flip"]
    x = jnp.where(flip[:, None, None, None], x[:, :, ::-1], x)
    if max_pad:
        pad = hp["crop"]
        dy = jax.random.randint(ky, (n,), -pad, pad + 1) + max_pad
        dx = jax.random.randint(kx, (n,), -pad, pad + 1) + max_pad
        xp = jnp.pad(x, ((0, 0), (max_pad, max_pad), (max_pad, max_pad), (0, 0)))
        x = jax.vmap(lambda im, a, b: jax.lax.dynamic_slice(im, (a, b, 0), (h, w, im.shape[-1])))(xp, dy, dx)
    size = hp["cutout"] * h
    cy, cx = (jax.random.uniform(k, (n, 1, 1)) * s for k, s in zip(jax.random.split(kc), (h, w)))
    rows, cols = jnp.arange(h)[None, :, None], jnp.arange(w)[None, None, :]
    hole = (jnp.abs(rows + 0.5 - cy) < size / 2) & (jnp.abs(cols + 0.5 - cx) < size / 2)
    return jnp.where(hole[..., None], 0.0, x)


def functions(spec: Spec):
    """(init, train_step, eval_step) of one configuration of `spec` as plain JAX functions:
    init(key, opt_hp) -> state; train_step(state, x, y, key, step, lr, hp) -> (state, loss);
    eval_step(variables, x, y) -> (predictions, losses). `spec.population` is not looked at."""
    model = ResNet(spec.depth, spec.width, spec.num_classes)
    family = None if spec.optimizer is None else (spec.optimizer, spec.nesterov)

    def init(key, opt_hp):
        x = jnp.zeros((1, spec.resolution, spec.resolution, spec.channels))
        variables = model.init(key, x, train=False)
        params = variables["params"]
        return {"params": params, "batch_stats": variables["batch_stats"], "opt_state": descent.init(params, opt_hp)}

    def train_step(state, x, y, key, step, lr, hp):
        ka, kd = jax.random.split(jax.random.fold_in(key, step))
        x = _augment(x, ka, hp, math.ceil(6 * spec.resolution / 32))

        def loss_fn(params):
            logits, new = model.apply({"params": params, "batch_stats": state["batch_stats"]}, x, train=True,
                                      dropout=hp["dropout"], rng=kd, mutable=["batch_stats"])
            labels = optax.smooth_labels(jax.nn.one_hot(y, spec.num_classes), hp["label_smoothing"])
            return optax.softmax_cross_entropy(logits, labels).mean(), new["batch_stats"]

        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        params, opt_state = descent.step(grads, state["opt_state"], state["params"], lr, family)
        m = hp["bn_momentum"]
        stats = jax.tree.map(lambda old, new: m * old + (1 - m) * new, state["batch_stats"], batch_stats)
        return {"params": params, "batch_stats": stats, "opt_state": opt_state}, loss

    def eval_step(variables, x, y):  # params and batch_stats only: no optimizer state in its signature
        logits = model.apply(variables, x, train=False)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y)
        return jnp.argmax(logits, -1), loss

    return init, train_step, eval_step


def batched(spec: Spec):
    """`functions(spec)` for `spec.population` configurations at once (`jax.vmap`; 0: unchanged).
    Each configuration has its own key, optimizer inputs, parameters, statistics, optimizer state,
    batch, learning rate and step inputs (every argument but the shared step number); eval_step
    scores the same images with each configuration's variables. The oneDNN kernels run each
    configuration's slices in one call (`onednn._call`); XLA batches the rest (on a GPU, all)."""
    init, train_step, eval_step = functions(spec)
    if not spec.population:
        return init, train_step, eval_step
    return (jax.vmap(init), jax.vmap(train_step, in_axes=(0, 0, 0, 0, None, 0, 0)),
            jax.vmap(eval_step, in_axes=(0, None, None)))


def compile_part(part: str, spec: Spec):
    """`part`'s program for `spec` (`part_key(part, spec)`), compiled ahead of time."""
    init, train_step, eval_step = batched(spec)
    k = (spec.population,) if spec.population else ()

    def arg(*shape, dtype=jnp.float32):  # one input; stacked configurations: with a leading axis
        return jax.ShapeDtypeStruct(k + shape, dtype)
    key = jax.ShapeDtypeStruct(k, jax.eval_shape(lambda: jax.random.key(0)).dtype)
    opt_hp = {name: arg() for name in descent.KEYS}
    opts = compiler_options()
    if part == "init":
        return jax.jit(init).lower(key, opt_hp).compile(opts)
    state = jax.eval_shape(init, key, opt_hp)
    shape = (spec.resolution, spec.resolution, spec.channels)
    if part == "eval":
        variables = {name: state[name] for name in ("params", "batch_stats")}
        return jax.jit(eval_step).lower(variables, jax.ShapeDtypeStruct((EVAL_BATCH, *shape), jnp.float32),
                                        jax.ShapeDtypeStruct((EVAL_BATCH,), jnp.int32)).compile(opts)
    hp = {name: arg(dtype=jnp.int32 if name == "crop" else jnp.float32) for name in HP_KEYS}
    step = jax.ShapeDtypeStruct((), jnp.int32)
    return jax.jit(train_step, donate_argnums=0).lower(state, arg(spec.batch_size, *shape),
                                                       arg(spec.batch_size, dtype=jnp.int32), key, step, arg(),
                                                       hp).compile(opts)


def compile_all(spec: Spec):
    """(init, train_step, eval_step) compiled ahead of time for `spec`, afresh (no store)."""
    return tuple(compile_part(part, part_key(part, spec)) for part in PARTS)


@functools.cache
def fingerprint() -> list:
    """What besides the Spec decides a compiled binary; fixed for the life of a process: library
    versions, device, CPU, compiler options, XLA_FLAGS, the kernels, and the source files that
    define the programs (this one, descent.py, models.py, onednn.py and its C++)."""
    dev = jax.devices()[0]
    return [[env.version(p) for p in ("jax", "jaxlib", "flax", "optax")], dev.platform, dev.device_kind,
            env.cpu_model(), platform.machine(), compiler_options(), os.environ.get("XLA_FLAGS", ""),
            onednn.describe(), [hashlib.sha256(Path(f).read_bytes()).hexdigest()
                                for f in (models.__file__, __file__, descent.__file__, onednn.__file__, onednn.SOURCE)]]


def stored(part: str, spec: Spec) -> Path | None:
    """Where `part`'s compiled program for `spec` (a `part_key`) is kept on disk
    (`$HPOBENCH_JAX_CACHE`, default under `data_dir()`; empty string: nowhere), keyed by the part,
    the spec and `fingerprint()`. This replaces JAX's own persistent cache, which still traces and
    lowers on a hit, and whose hits re-serialise broken."""
    root = os.environ.get("HPOBENCH_JAX_CACHE", str(data_dir() / "jax"))
    if not root:
        return None
    key = json.dumps([part, vars(spec), fingerprint()], sort_keys=True, default=str)
    return Path(root) / "hpobench" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pkl"


def _load(path: Path):
    from jax.experimental import serialize_executable as se
    onednn.available()  # registers the custom calls a stored program may make
    return se.deserialize_and_load(*pickle.loads(zlib.decompress(path.read_bytes())))


def _save(path: Path, prog) -> None:
    from jax.experimental import serialize_executable as se
    blob = zlib.compress(pickle.dumps(se.serialize(prog)), 1)  # level 1: most of the size for little time
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # parallel workers may store the same spec
    tmp.write_bytes(blob)
    tmp.replace(path)


def _builder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="hpobench-build")


@dataclass(eq=False)
class Store:
    """Programs built by this process, by (part, `part_key` spec): `get` returns them, building
    what is missing (loaded from the disk store, else compiled and stored there); `prefetch` builds
    them ahead in `executor`, one at a time. `capacity`: built programs kept (least recently asked
    dropped first). Counters: `built` programs (compiled or loaded), `loaded` of them, `seconds`."""

    capacity: int = MAX_PROGRAMS
    built: int = 0
    loaded: int = 0
    seconds: float = 0.0
    cache: collections.OrderedDict[tuple[str, Spec], Future] = field(default_factory=collections.OrderedDict)
    unbilled: dict[tuple[str, Spec], float] = field(default_factory=dict)  # build seconds no trial was charged
    lock: threading.Lock = field(default_factory=threading.Lock)
    executor: ThreadPoolExecutor = field(default_factory=_builder)

    def build(self, part: str, spec: Spec):
        """`part`'s program for `spec` (a `part_key`): loaded from disk if stored, else compiled and stored."""
        t0, path = time.perf_counter(), stored(part, spec)
        prog, loaded = None, 0
        if path is not None and path.exists():
            try:
                prog, loaded = _load(path), 1
            except Exception:  # unreadable or from an incompatible build: compile afresh, overwrite
                pass
        if prog is None:
            prog = compile_part(part, spec)
            if path is not None:
                try:
                    _save(path, prog)
                except Exception:  # a backend without serialisation still trains; only the store is lost
                    pass
        seconds = time.perf_counter() - t0
        with self.lock:
            self.built += 1
            self.loaded += loaded
            self.seconds += seconds
            self.unbilled[(part, spec)] = seconds
        return prog

    def _claim(self, key: tuple[str, Spec]) -> tuple[Future, bool]:
        """(future program, whether the caller must build it) for (part, part_key spec); evicts the oldest built."""
        with self.lock:
            fut = self.cache.get(key)
            if fut is not None:
                self.cache.move_to_end(key)
                return fut, False
            fut = self.cache[key] = Future()
            for old in [k for k, f in self.cache.items() if f.done()][:max(0, len(self.cache) - self.capacity)]:
                del self.cache[old]
            return fut, True

    def _fill(self, key: tuple[str, Spec], fut: Future) -> None:
        try:
            fut.set_result(self.build(*key))
        except BaseException as e:  # the trial that asks gets the error; a later ask builds afresh
            with self.lock:
                self.cache.pop(key, None)
            fut.set_exception(e)

    def prefetch(self, spec: Spec) -> None:
        """Start building `spec`'s programs in the background (one build at a time, in call order),
        so that a later `get(spec)` finds them ready: the next trials' compiles overlap the current
        training instead of stalling it. Idempotent; a program already built or asked for costs
        nothing. Off with one usable core, or with HPOBENCH_PREFETCH=0."""
        if env.cpus_usable() < 2 or os.environ.get("HPOBENCH_PREFETCH", "1") == "0":
            return  # one core: a background build would only slow the training it overlaps
        for part in PARTS:
            key = (part, part_key(part, spec))
            fut, mine = self._claim(key)
            if mine:
                self.executor.submit(self._fill, key, fut)

    def get(self, spec: Spec):
        """(init, train_step, eval_step) for `spec`: each built by this store before (or being built
        by `prefetch`: then waited for), loaded from the disk store, or compiled and stored."""
        out = []
        for part in PARTS:
            key = (part, part_key(part, spec))
            fut, mine = self._claim(key)
            if mine:
                self._fill(key, fut)
            out.append(fut.result())
        return tuple(out)

    def build_seconds(self, spec: Spec) -> float:
        """Seconds spent building `spec`'s programs that no trial was charged for yet (then charged):
        a background build's cost, which the trial that waits for it may not see."""
        with self.lock:
            return sum(self.unbilled.pop((part, part_key(part, spec)), 0.0) for part in PARTS)


STORE = Store()  # the process's programs

"""Train and evaluate a ResNet from a hyperparameter dict: jitted steps and the epoch loop.

What an `epochs` fidelity means here: a *complete short run*. The learning-rate
schedule (warmup, cosine or step decay) is compressed into the given number of
epochs, so a 3-epoch run ends annealed like a 30-epoch one; it is not a prefix
of the longer run. The per-epoch learning curve is recorded either way
(intermediate epochs on a fixed 1,000-image validation subset, the last on the
whole validation split).

Compilation: one program per `Spec` (architecture, optimizer family, input
shape, batch size) per process; with `shared=True` (`spec_of`) one program serves
both optimizer families and Nesterov or not (traced flags, `descent.step`). Every
other hyperparameter (learning rate, momentum, weight decay, label smoothing,
dropout, BatchNorm momentum, augmentation strengths, clipping) is a traced array,
and a partial last batch is filled with extra random examples, so neither triggers
a recompile. The init and eval programs depend on the architecture and input
shape only, so every optimizer family and batch size shares them (`part_key`).
Compiled programs are stored on disk (`$HPOBENCH_JAX_CACHE`), so a later process
loads them without tracing, lowering or compiling (ResNet-20 w16 at 7 px, one
core: init/train/eval load in 0.38/0.5/0.08 s, compile in 3.2/5.0/0.9 s).
`prefetch(spec)` builds a coming trial's programs in a background thread while
the current one trains (with two or more usable cores).

    >>> from hpobench import data, spaces, train
    >>> ds = data.load("fashion_mnist")  # doctest: +SKIP
    >>> cfg = dict(spaces.resnet().get_default_configuration())
    >>> out = train.run(cfg | {"depth": 8, "width": 8}, ds, epochs=1, data_fraction=0.02,
    ...                 resolution=7, seed=0)  # doctest: +SKIP
    >>> out.status, round(out.f1, 2)  # doctest: +SKIP
    ('ok', 0.5)
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
import numpy as np
import optax

from hpobench import descent, env, models, onednn
from hpobench.data import Dataset, data_dir, nested_subset, resize
from hpobench.models import ResNet

EVAL_BATCH = 500
CURVE_VAL = 1000  # validation images scored at intermediate epochs


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


@dataclass
class Output:
    status: str  # ok | diverged
    f1: float
    accuracy: float
    loss: float
    curve: list[dict]
    seconds: float  # training + evaluation wall time, compilation excluded
    compile_seconds: float  # waited for this call's programs (~0 when built before or prefetched in time)
    images: int  # training images processed
    test: dict | None = None
    error: str | None = None
    spec: dict = field(default_factory=dict)
    build_seconds: float = 0.0  # spent building this call's new programs, waited for or in the background


COMPILES = {"count": 0, "seconds": 0.0, "loaded": 0}  # programs built (compiled or loaded) by this process


def spec_of(config: dict, ds: Dataset, resolution: int, shared: bool = False) -> Spec:
    """`config`'s program; `shared`: the one both optimizer families share (`descent.step`)."""
    family = (None, None) if shared else (config["optimizer"], bool(config.get("sgd_nesterov", False)))
    return Spec(int(config["depth"]), int(config["width"]), ds.num_classes, *family, resolution,
                ds.x_train.shape[-1], int(config["batch_size"]))


def step_hparams(config: dict, resolution: int) -> dict:
    """Per-step traced scalars (augmentation sizes scaled from 32-px units)."""
    return {
        "label_smoothing": float(config["label_smoothing"]),
        "dropout": float(config["dropout"]),
        "bn_momentum": float(config["bn_momentum"]),
        "flip": 0.5 if config["aug_flip"] else 0.0,
        "crop": round(config["crop_padding"] * resolution / 32) if config["aug_crop"] else 0,
        "cutout": float(config["cutout_frac"]) if config["aug_cutout"] else 0.0,
    }


def step_inputs(config: dict, resolution: int) -> tuple[dict, dict]:
    """(per-step hyperparameters, optimizer hyperparameters) as the arrays the programs take."""
    hp = {k: (np.int32(v) if k == "crop" else np.float32(v)) for k, v in step_hparams(config, resolution).items()}
    return hp, {k: np.float32(v) for k, v in descent.hparams(config).items()}


def schedule(config: dict, total_steps: int) -> np.ndarray:
    """Learning rate of every step: linear warmup, then constant, cosine or step decay."""
    base = float(config["learning_rate"])
    t = np.arange(total_steps, dtype=np.float64)
    warm = int(round(float(config["warmup_frac"]) * total_steps))
    progress = np.clip((t - warm) / max(1, total_steps - warm), 0.0, 1.0)
    kind = config["schedule"]
    if kind == "cosine":
        lr = 0.5 * base * (1 + np.cos(np.pi * progress))
    elif kind == "step":
        drops = int(config["step_drops"])
        lr = base * float(config["step_gamma"]) ** np.floor(progress * (drops + 1) - 1e-9).clip(0, drops)
    else:
        lr = np.full(total_steps, base)
    if warm:
        lr[:warm] *= (t[:warm] + 1) / warm
    return lr.astype(np.float32)


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


PARTS = ("init", "train", "eval")


def part_key(part: str, spec: Spec) -> Spec:
    """What decides `part`'s program: initialisation and evaluation depend on the architecture and
    the input shape only (one for every optimizer family and batch size), the train step on all."""
    return spec if part == "train" else dataclasses.replace(spec, optimizer=None, nesterov=None, batch_size=0)


def _compile(part: str, spec: Spec):
    """`part`'s program for `spec` (`part_key(part, spec)`), compiled ahead of time."""
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

    f32 = jax.ShapeDtypeStruct((), jnp.float32)
    key = jax.eval_shape(lambda: jax.random.key(0))
    opt_hp = {k: f32 for k in descent.KEYS}
    opts = compiler_options()
    if part == "init":
        return jax.jit(init).lower(key, opt_hp).compile(opts)
    state = jax.eval_shape(init, key, opt_hp)
    shape = (spec.resolution, spec.resolution, spec.channels)
    if part == "eval":
        variables = {k: state[k] for k in ("params", "batch_stats")}
        return jax.jit(eval_step).lower(variables, jax.ShapeDtypeStruct((EVAL_BATCH, *shape), jnp.float32),
                                        jax.ShapeDtypeStruct((EVAL_BATCH,), jnp.int32)).compile(opts)
    hp = {k: (jax.ShapeDtypeStruct((), jnp.int32) if k == "crop" else f32) for k in _HP_KEYS}
    bx = jax.ShapeDtypeStruct((spec.batch_size, *shape), jnp.float32)
    by = jax.ShapeDtypeStruct((spec.batch_size,), jnp.int32)
    i32 = jax.ShapeDtypeStruct((), jnp.int32)
    return jax.jit(train_step, donate_argnums=0).lower(state, bx, by, key, i32, f32, hp).compile(opts)


def _programs(spec: Spec):
    """(init, train_step, eval_step) compiled ahead of time for `spec` (no store, no cache)."""
    return tuple(_compile(part, part_key(part, spec)) for part in PARTS)


def compiler_options() -> dict | None:
    """On CPU: LLVM optimisation level 1, half the compile time of the default level and the same
    step time (ResNet-20 16 px, 1 thread: 20 s -> 9 s). With more than one core, no YNNPACK
    fusions: they scale poorly across threads, and their layouts make XLA transpose every saved
    activation for the weight gradients, recomputing the BatchNorm/ReLU chain inside each
    transpose (43% of a 2-thread ResNet-20 32-px step). Measured (`hpobench.experiments.studies.throughput`,
    ResNet-8/20 at 8-32 px): on 2 threads +17-51% img/s without them; on 1 thread they are 5-15%
    faster, so a pinned single-core worker keeps them. (This concerns XLA's own convolutions, i.e.
    the fallback: with the oneDNN kernels, `onednn.py`, none are left.) Other backends: defaults."""
    if jax.default_backend() != "cpu":
        return None
    opts = {"xla_backend_optimization_level": 1}
    return opts if env.cpus_usable() == 1 else opts | {"xla_cpu_experimental_ynn_fusion_type": ""}


_HP_KEYS = ("label_smoothing", "dropout", "bn_momentum", "flip", "crop", "cutout")


@functools.cache
def _build() -> list:
    """What besides the Spec decides a compiled binary; fixed for the life of a process."""
    dev = jax.devices()[0]
    return [[env.version(p) for p in ("jax", "jaxlib", "flax", "optax")], dev.platform, dev.device_kind,
            env.cpu_model(), platform.machine(), compiler_options(), os.environ.get("XLA_FLAGS", ""),
            onednn.describe(), [hashlib.sha256(Path(f).read_bytes()).hexdigest()
                                for f in (models.__file__, __file__, descent.__file__, onednn.__file__, onednn.SOURCE)]]


def _stored(part: str, spec: Spec) -> Path | None:
    """Where a compiled program is kept (`$HPOBENCH_JAX_CACHE`; empty string: nowhere), keyed by
    everything that could change the binary: part and `part_key` spec, this file, descent.py and models.py,
    library versions, device, CPU, compiler options, XLA_FLAGS. This replaces JAX's own persistent
    cache, which still traces and lowers on a hit (~40% of a compile), and whose hits re-serialise broken."""
    root = os.environ.get("HPOBENCH_JAX_CACHE", str(data_dir() / "jax"))
    if not root:
        return None
    key = json.dumps([part, vars(spec), _build()], sort_keys=True, default=str)
    return Path(root) / "hpobench" / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.pkl"


def _load(path: Path):
    from jax.experimental import serialize_executable as se
    onednn.available()  # registers the custom calls a stored program may make
    return se.deserialize_and_load(*pickle.loads(zlib.decompress(path.read_bytes())))


def _store(path: Path, prog) -> None:
    from jax.experimental import serialize_executable as se
    blob = zlib.compress(pickle.dumps(se.serialize(prog)), 1)  # ResNet-20's three: 4.8 MB -> 0.9 MB
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # parallel workers may store the same spec
    tmp.write_bytes(blob)
    tmp.replace(path)


def _build_program(part: str, spec: Spec):
    """`part`'s program for `spec` (a `part_key`): loaded from disk if stored, else compiled and stored."""
    t0, path = time.perf_counter(), _stored(part, spec)
    prog, loaded = None, 0
    if path is not None and path.exists():
        try:
            prog, loaded = _load(path), 1
        except Exception:  # unreadable or from an incompatible build: compile afresh, overwrite
            pass
    if prog is None:
        prog = _compile(part, spec)
        if path is not None:
            try:
                _store(path, prog)
            except Exception:  # a backend without serialisation still trains; only the store is lost
                pass
    seconds = time.perf_counter() - t0
    with _LOCK:
        COMPILES["count"] += 1
        COMPILES["loaded"] += loaded
        COMPILES["seconds"] += seconds
        _BUILD_S[(part, spec)] = seconds
    return prog


MAX_PROGRAMS = 3 * 64  # built programs kept per process: bounded memory in long studies; the disk store refills fast
_LOCK = threading.Lock()
_BUILD_S: dict[tuple[str, Spec], float] = {}  # build seconds not yet charged to a trial (`build_seconds`)
_BUILT: collections.OrderedDict[tuple[str, Spec], Future] = collections.OrderedDict()  # least recently asked first


def _claim(key: tuple[str, Spec]) -> tuple[Future, bool]:
    """(future program, whether the caller must build it) for (part, part_key spec); evicts the oldest built."""
    with _LOCK:
        fut = _BUILT.get(key)
        if fut is not None:
            _BUILT.move_to_end(key)
            return fut, False
        fut = _BUILT[key] = Future()
        for old in [k for k, f in _BUILT.items() if f.done()][:max(0, len(_BUILT) - MAX_PROGRAMS)]:
            del _BUILT[old]
        return fut, True


def _fill(key: tuple[str, Spec], fut: Future) -> None:
    try:
        fut.set_result(_build_program(*key))
    except BaseException as e:  # the trial that asks gets the error; a later ask builds afresh
        with _LOCK:
            _BUILT.pop(key, None)
        fut.set_exception(e)


@functools.cache
def _builder() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(1, thread_name_prefix="hpobench-build")


def prefetch(spec: Spec) -> None:
    """Start building `spec`'s programs in a background thread (one build at a time, in call order),
    so that a later `programs(spec)` finds them ready: the next trials' compiles overlap the current
    training instead of stalling it. Idempotent; a program already built or asked for costs nothing.
    Off with one usable core, or with HPOBENCH_PREFETCH=0."""
    if env.cpus_usable() < 2 or os.environ.get("HPOBENCH_PREFETCH", "1") == "0":
        return  # one core: a background build would only slow the training it overlaps
    for part in PARTS:
        key = (part, part_key(part, spec))
        fut, mine = _claim(key)
        if mine:
            _builder().submit(_fill, key, fut)


def programs(spec: Spec):
    """(init, train_step, eval_step) for `spec`: each built in this process before (or being built
    by `prefetch`: then waited for), loaded from the disk store, or compiled and stored."""
    out = []
    for part in PARTS:
        key = (part, part_key(part, spec))
        fut, mine = _claim(key)
        if mine:
            _fill(key, fut)
        out.append(fut.result())
    return tuple(out)


def build_seconds(spec: Spec) -> float:
    """Seconds spent building `spec`'s programs that no trial was charged for yet (then charged):
    a background build's cost, which the trial that waits for it may not see."""
    with _LOCK:
        return sum(_BUILD_S.pop((part, part_key(part, spec)), 0.0) for part in PARTS)


@functools.lru_cache(maxsize=8)
def _inputs(ds: Dataset, resolution: int):
    """Normalised float32 arrays at `resolution` (train statistics), cached per process."""
    x_train = resize(ds.x_train, resolution).astype(np.float32)
    mean = x_train.mean(axis=(0, 1, 2))
    std = x_train.std(axis=(0, 1, 2)) + 1e-6

    def norm(x):
        return ((resize(x, resolution).astype(np.float32) - mean) / std).astype(np.float32)
    return (x_train - mean) / std, norm(ds.x_val), norm(ds.x_test)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of per-class F1 (a class never predicted nor present counts 0)."""
    cm = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(np.float64)
    denom = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def evaluate(eval_step, state, x: np.ndarray, y: np.ndarray, num_classes: int) -> dict:
    preds, losses = [], []
    for i in range(0, len(x), EVAL_BATCH):
        xb, yb = x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH]
        n = len(xb)
        if n < EVAL_BATCH:  # pad, then drop the padding's outputs: no second compile
            xb = np.concatenate([xb, np.zeros((EVAL_BATCH - n, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.zeros(EVAL_BATCH - n, yb.dtype)])
        p, loss_b = eval_step({k: state[k] for k in ("params", "batch_stats")}, xb, yb)
        preds.append(np.asarray(p)[:n])
        losses.append(np.asarray(loss_b)[:n])
    pred, loss = np.concatenate(preds), np.concatenate(losses)
    return {"f1": macro_f1(y, pred, num_classes), "accuracy": float(np.mean(pred == y)),
            "loss": float(np.mean(loss))}


def run(config: dict, ds: Dataset, epochs: int, data_fraction: float, resolution: int, seed: int,
        report_test: bool = False, data_seed: int = 0, shared: bool = False) -> Output:
    """Train `config` on a nested `data_fraction` subset at `resolution` for `epochs` (a complete run).
    shared: on the program both optimizer families share (`spec_of`)."""
    spec = spec_of(config, ds, resolution, shared)
    c0 = time.perf_counter()
    init, train_step, eval_step = programs(spec)
    compile_s = time.perf_counter() - c0  # waited for: a prefetched build overlapped earlier trials
    build_s = build_seconds(spec)
    x_train, x_val, x_test = _inputs(ds, resolution)  # once per process, like compilation
    t0 = time.perf_counter()
    idx = nested_subset(ds.y_train, data_fraction, data_seed)
    b = spec.batch_size
    steps_per_epoch = -(-len(idx) // b)
    lrs = schedule(config, epochs * steps_per_epoch)
    hp, opt_hp = step_inputs(config, resolution)
    key = jax.random.key(seed)
    state = init(key, opt_hp)  # step keys fold in step >= 1, never 0
    rng = np.random.default_rng(seed)
    curve_idx = np.linspace(0, len(x_val) - 1, min(CURVE_VAL, len(x_val))).astype(int)
    curve, status, step = [], "ok", 0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(idx)
        order = np.concatenate([order, rng.choice(idx, steps_per_epoch * b - len(order))])  # fill last batch
        losses = []
        for batch in order.reshape(steps_per_epoch, b):
            state, loss = train_step(state, x_train[batch], ds.y_train[batch], key, np.int32(step + 1), lrs[step], hp)
            losses.append(loss)
            step += 1
        train_loss = float(np.mean([np.asarray(v) for v in losses]))  # numpy: no per-length compile
        point = {"epoch": epoch, "train_loss": train_loss}
        if not math.isfinite(train_loss):
            status = "diverged"
            curve.append(point)
            break
        last = epoch == epochs
        xs, ys = (x_val, ds.y_val) if last else (x_val[curve_idx], ds.y_val[curve_idx])
        point.update({f"val_{k}": v for k, v in evaluate(eval_step, state, xs, ys, ds.num_classes).items()})
        curve.append(point)
    if status == "diverged":
        nan = float("nan")
        return Output("diverged", nan, nan, nan, curve, time.perf_counter() - t0, compile_s, step * b,
                      error=f"non-finite training loss at epoch {len(curve)}", spec=vars(spec), build_seconds=build_s)
    final = curve[-1]
    test = evaluate(eval_step, state, x_test, ds.y_test, ds.num_classes) if report_test else None
    return Output("ok", final["val_f1"], final["val_accuracy"], final["val_loss"], curve,
                  time.perf_counter() - t0, compile_s, step * b, test=test, spec=vars(spec), build_seconds=build_s)

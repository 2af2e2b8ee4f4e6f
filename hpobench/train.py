"""Train and evaluate a ResNet from a hyperparameter dict: the steps' inputs and the epoch loop.

What an `epochs` fidelity means here: a *complete short run*. The learning-rate
schedule (warmup, cosine or step decay) is compressed into the given number of
epochs, so a 3-epoch run ends annealed like a 30-epoch one; it is not a prefix
of the longer run. The per-epoch learning curve is recorded either way
(intermediate epochs on a fixed 1,000-image validation subset, the last on the
whole validation split).

The compiled programs come from `hpobench.programs`: one per `Spec` (architecture,
optimizer family, input shape, batch size) per process, with `shared=True` (`spec_of`)
one for both optimizer families and Nesterov or not, stored on disk for later processes.
Every other hyperparameter (learning rate, momentum, weight decay, label smoothing,
dropout, BatchNorm momentum, augmentation strengths, clipping) is a traced input
(`step_inputs`, `schedule`), and a partial last batch is filled with extra random
examples, so neither triggers a recompile. `prefetch(spec)` builds a coming trial's
programs in a background thread while the current one trains (two or more usable cores).

`run_many` trains configurations that share a program (the same depth, width and batch size)
together in one, stacked along a leading configuration axis (`programs.batched`), each as `run`
trains it alone: its own parameters, optimizer state, data order, keys and hyperparameters; one
that diverges does not touch the others. Measured against one at a time: results/batched/.

    >>> from hpobench import data, spaces, train
    >>> ds = data.load("fashion_mnist")  # doctest: +SKIP
    >>> cfg = dict(spaces.resnet().get_default_configuration())
    >>> out = train.run(cfg | {"depth": 8, "width": 8}, ds, epochs=1, data_fraction=0.02,
    ...                 resolution=7, seed=0)  # doctest: +SKIP
    >>> out.status, round(out.f1, 2)  # doctest: +SKIP
    ('ok', 0.5)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field

import jax
import numpy as np

from hpobench import descent
from hpobench.data import Dataset, nested_subset, resize
from hpobench.programs import EVAL_BATCH, STORE, Spec

CURVE_VAL = 1000  # validation images scored at intermediate epochs


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
    group: int = 1  # configurations trained together in its program (`run_many`); times are its share
    params: dict | None = None  # the final parameters (numpy), when asked for (`keep_params`)


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


def prefetch(spec: Spec) -> None:
    """Start building `spec`'s programs for a later `run` in the background (`programs.Store.prefetch`)."""
    STORE.prefetch(spec)


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


def evaluate(eval_step, state, x: np.ndarray, y: np.ndarray, num_classes: int, stacked: bool = False) -> list[dict]:
    """Macro-F1, accuracy and mean loss of `state`'s predictions for (x, y), `EVAL_BATCH` images per
    call: one dict per configuration (`stacked`: the state of several, along a leading axis)."""
    preds, losses = [], []
    for i in range(0, len(x), EVAL_BATCH):
        xb, yb = x[i:i + EVAL_BATCH], y[i:i + EVAL_BATCH]
        n = len(xb)
        if n < EVAL_BATCH:  # pad, then drop the padding's outputs: no second compile
            xb = np.concatenate([xb, np.zeros((EVAL_BATCH - n, *xb.shape[1:]), xb.dtype)])
            yb = np.concatenate([yb, np.zeros(EVAL_BATCH - n, yb.dtype)])
        p, loss_b = eval_step({k: state[k] for k in ("params", "batch_stats")}, xb, yb)
        preds.append(np.asarray(p)[..., :n])
        losses.append(np.asarray(loss_b)[..., :n])
    pred, loss = np.concatenate(preds, axis=-1), np.concatenate(losses, axis=-1)
    if not stacked:
        pred, loss = pred[None], loss[None]
    return [{"f1": macro_f1(y, p, num_classes), "accuracy": float(np.mean(p == y)), "loss": float(np.mean(ls))}
            for p, ls in zip(pred, loss)]


def group_spec(configs: list[dict], ds: Dataset, resolution: int, shared: bool = False) -> Spec:
    """The one program that trains all of `configs` together (`run_many`): their shared `spec_of`,
    with `population` their number; the per-family program when they share an optimizer family
    and Nesterov or not (and `shared` is off), else the one both families share. Raises
    ValueError when they differ in depth, width or batch size (another program each)."""
    if not configs:
        raise ValueError("no configurations to train")
    static = {spec_of(c, ds, resolution, shared=True) for c in configs}
    if len(static) > 1:
        parts = sorted({(s.depth, s.width, s.batch_size) for s in static})
        raise ValueError(f"configurations trained together must share depth, width and batch size; "
                         f"got (depth, width, batch_size) {parts}")
    families = {(c["optimizer"], bool(c.get("sgd_nesterov", False))) for c in configs}
    spec = spec_of(configs[0], ds, resolution, shared or len(families) > 1)
    return dataclasses.replace(spec, population=len(configs))


def run(config: dict, ds: Dataset, epochs: int, data_fraction: float, resolution: int, seed: int,
        report_test: bool = False, data_seed: int = 0, shared: bool = False, keep_params: bool = False) -> Output:
    """Train `config` on a nested `data_fraction` subset at `resolution` for `epochs` (a complete run).
    shared: on the program both optimizer families share (`spec_of`). keep_params: return the
    final parameters too (`Output.params`)."""
    spec = spec_of(config, ds, resolution, shared)
    return _train(spec, [config], [seed], ds, epochs, data_fraction, resolution, report_test, data_seed,
                  keep_params)[0]


def run_many(configs: list[dict], ds: Dataset, epochs: int, data_fraction: float, resolution: int,
             seeds: list[int], report_test: bool = False, data_seed: int = 0, shared: bool = False,
             keep_params: bool = False) -> list[Output]:
    """Train `configs` together in one program (`group_spec`), each as `run(config, ..., seed)` trains
    it alone: its own parameters, optimizer state, data order, augmentation and dropout keys, and
    traced hyperparameters; the same fidelity for all. One that diverges is 'diverged' and the rest
    go on. Each Output's seconds (and compile seconds) are its share of the group's (the group's
    divided by its size, `Output.group`). Raises ValueError for configurations that share no program
    or a seed count that is not theirs."""
    if len(seeds) != len(configs):
        raise ValueError(f"{len(configs)} configurations but {len(seeds)} seeds")
    spec = group_spec(configs, ds, resolution, shared)
    return _train(spec, configs, seeds, ds, epochs, data_fraction, resolution, report_test, data_seed, keep_params)


def _train(spec: Spec, configs: list[dict], seeds: list[int], ds: Dataset, epochs: int, data_fraction: float,
           resolution: int, report_test: bool, data_seed: int, keep_params: bool = False) -> list[Output]:
    """The epoch loop of `run` (spec.population 0: one configuration) and `run_many` (stacked)."""
    c0 = time.perf_counter()
    init, train_step, eval_step = STORE.get(spec)
    compile_s = time.perf_counter() - c0  # waited for: a prefetched build overlapped earlier trials
    build_s = STORE.build_seconds(spec)
    x_train, x_val, x_test = _inputs(ds, resolution)  # once per process, like compilation
    t0 = time.perf_counter()
    k, stacked = len(configs), spec.population > 0

    def stack(values):  # the programs' inputs: stacked configurations, or the one
        return np.stack(values) if stacked else values[0]
    idx = nested_subset(ds.y_train, data_fraction, data_seed)
    b = spec.batch_size
    steps_per_epoch = -(-len(idx) // b)
    lrs = stack([schedule(c, epochs * steps_per_epoch) for c in configs])
    inputs = [step_inputs(c, resolution) for c in configs]
    hp, opt_hp = ({name: stack([i[j][name] for i in inputs]) for name in inputs[0][j]} for j in (0, 1))
    key = (jax.random.wrap_key_data(np.stack([jax.random.key_data(jax.random.key(s)) for s in seeds]))
           if stacked else jax.random.key(seeds[0]))
    state = init(key, opt_hp)  # step keys fold in step >= 1, never 0
    rngs = [np.random.default_rng(s) for s in seeds]
    curve_idx = np.linspace(0, len(x_val) - 1, min(CURVE_VAL, len(x_val))).astype(int)
    curves, diverged, step = [[] for _ in configs], [0] * k, 0  # diverged: steps run before its loss went non-finite
    for epoch in range(1, epochs + 1):
        orders = []
        for rng in rngs:
            order = rng.permutation(idx)
            orders.append(np.concatenate([order, rng.choice(idx, steps_per_epoch * b - len(order))]))  # fill last batch
        batches = np.stack(orders, axis=1).reshape(steps_per_epoch, b, k).transpose(0, 2, 1)  # step, config, image
        losses = []
        for batch in batches:
            batch = stack(list(batch))
            state, loss = train_step(state, x_train[batch], ds.y_train[batch], key, np.int32(step + 1),
                                     lrs[..., step], hp)
            losses.append(loss)
            step += 1
        losses = np.stack([np.atleast_1d(np.asarray(v)) for v in losses])  # numpy: no per-length compile
        live = [i for i in range(k) if not diverged[i]]
        for i in live:
            train_loss = float(np.mean(np.ascontiguousarray(losses[:, i])))
            curves[i].append({"epoch": epoch, "train_loss": train_loss})
            if not math.isfinite(train_loss):
                diverged[i] = step
        live = [i for i in live if not diverged[i]]
        if not live:
            break
        last = epoch == epochs
        xs, ys = (x_val, ds.y_val) if last else (x_val[curve_idx], ds.y_val[curve_idx])
        scores = evaluate(eval_step, state, xs, ys, ds.num_classes, stacked)
        for i in live:
            curves[i][-1].update({f"val_{name}": v for name, v in scores[i].items()})
    tests = (evaluate(eval_step, state, x_test, ds.y_test, ds.num_classes, stacked)
             if report_test and not all(diverged) else [None] * k)
    seconds = (time.perf_counter() - t0) / k
    outs, nan = [], float("nan")

    def params_of(i: int) -> dict:
        return jax.tree.map(lambda v: np.asarray(v[i] if stacked else v), state["params"])
    for i, curve in enumerate(curves):
        params = params_of(i) if keep_params else None
        common = dict(seconds=seconds, compile_seconds=compile_s / k, spec=vars(spec), build_seconds=build_s / k,
                      group=k, params=params)
        if diverged[i]:
            outs.append(Output("diverged", nan, nan, nan, curve, images=diverged[i] * b,
                               error=f"non-finite training loss at epoch {len(curve)}", **common))
        else:
            final = curve[-1]
            outs.append(Output("ok", final["val_f1"], final["val_accuracy"], final["val_loss"], curve,
                               images=step * b, test=tests[i] if report_test else None, **common))
    return outs

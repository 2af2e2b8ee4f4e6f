"""A worked example in PyTorch: a small CNN on Fashion-MNIST (offline), scoped like any objective.

Needs torch (`pip install 'hpobench[bench]'`, which pins torch==2.13.0; a CPU build is
enough). Copy this file, torch_space.json and torch_fidelity.json, put your model and data in
`network` and `_data`, and scope it with one command (from the repository root; the README
gives its measured wall time):

    hpobench scope --objective experiments/examples/torch_objective.py:objective \
        --space experiments/examples/torch_space.json \
        --fidelity-space experiments/examples/torch_fidelity.json \
        --metric f1 --direction maximize --metric-range 0,1 --budget 0.5 --n-low 20 --out runs/torch-example

Data. Fashion-MNIST (28 x 28 greyscale, 10 classes) from the Debian package
`dataset-fashion-mnist`, or wherever $HPOBENCH_FASHION_MNIST points (`hpobench.data.sources`),
read through `hpobench.data.load`: the project's fixed stratified 10% of the training set is
the validation set (6,000 images), the same one `resnet/fashion_mnist` uses; the test set stays
out of HPO. Without it, scikit-learn's bundled digits (8 x 8, 1,797 images; a stratified 25%
validates), so the example runs anywhere offline; `dataset()` says which is in use.

Hyperparameters (torch_space.json, 11): learning_rate (log), optimizer (sgd or adamw) with
momentum and nesterov active only under sgd, batch_size (log), weight_decay (log), schedule
(cosine or constant), width (channels of the first block, log), blocks (conv-BN-ReLU blocks,
channels doubling, 2x2 max-pooling between them), dropout (before the classifier) and
label_smoothing (of the training loss).

Fidelity (torch_fidelity.json; the defaults are the full fidelity): `epochs` (1 to 10; the
learning-rate schedule spans the trial's own epochs), `data_fraction` (a stratified subset of
the training set, nested: the 25% subset is inside the 50% one; `hpobench.data.nested_subset`)
and `resolution` (7 to 28 px: images are resized by area averaging, or bilinearly when
enlarged, as the digits are; the network ends in global average pooling, so every size fits).
A trial's cost is the fraction of the full fidelity it runs, epochs / 10 x data_fraction x
resolution / 28; compute grows about with resolution squared, so lower resolutions are
charged more than they use.

Metric: validation macro-F1 (`f1`, maximised), with the validation accuracy and
cross-entropy (`accuracy`, `loss`) recorded. A non-finite training loss stops the trial as
`diverged` (F1 NaN). Deterministic given the seed (weights, dropout, batch order) on one CPU
thread (`THREADS`; more threads are faster and may change the last digits).

    >>> r = objective({"learning_rate": 0.05, "optimizer": "sgd", "momentum": 0.9, "nesterov": True,
    ...                "batch_size": 64, "weight_decay": 5e-4, "schedule": "cosine", "width": 8, "blocks": 2,
    ...                "dropout": 0.0, "label_smoothing": 0.0},
    ...               {"epochs": 1, "data_fraction": 0.02, "resolution": 7}, seed=0)
    >>> sorted(r), 0 <= r["f1"] <= 1
    (['accuracy', 'f1', 'loss'], True)
"""

from __future__ import annotations

import functools
import math

import numpy as np

THREADS = 1  # CPU threads per trial: bit-for-bit repeatable, and parallel workers do not compete
VAL_BATCH = 1000


@functools.cache
def dataset() -> tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(name, x_train, y_train, x_val, y_val): images as float32 NCHW in [0, 1], labels as int64."""
    from hpobench import data
    from hpobench.data import sources
    if sources.find("fashion_mnist") is not None:
        ds = data.load("fashion_mnist")
        x, y, x_val, y_val, name = ds.x_train, ds.y_train, ds.x_val, ds.y_val, "fashion_mnist"
    else:
        from sklearn.datasets import load_digits
        images, labels = load_digits(return_X_y=True)
        images = (images.reshape(-1, 8, 8, 1) * (255 / 16)).astype(np.uint8)
        rest, held = data.stratified_split(labels, 0.25, seed=0)
        x, y, x_val, y_val, name = images[rest], labels[rest], images[held], labels[held], "digits"

    def nchw(a):
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    return name, nchw(x), y.astype(np.int64), nchw(x_val), y_val.astype(np.int64)


def _at(x, resolution: int):
    """Images at resolution x resolution: area averaging to shrink, bilinear to enlarge."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(x)
    if t.shape[-1] == resolution:
        return t
    mode = "area" if resolution < t.shape[-1] else "bilinear"
    return F.interpolate(t, size=(resolution, resolution), mode=mode, **({} if mode == "area" else
                                                                        {"align_corners": False}))


@functools.lru_cache(maxsize=2)
def inputs(resolution: int):
    """(x_train, y_train, x_val, y_val) as tensors at `resolution`, standardised by the training mean and SD."""
    import torch
    _, x, y, x_val, y_val = dataset()
    x, x_val = _at(x, resolution), _at(x_val, resolution)
    mean, sd = x.mean(), x.std()
    return (x - mean) / sd, torch.from_numpy(y), (x_val - mean) / sd, torch.from_numpy(y_val)


def network(channels: int, classes: int, width: int, blocks: int, dropout: float):
    """`blocks` conv3x3-BN-ReLU blocks (width, 2 x width, ...) with 2x2 max-pooling between, global
    average pooling, dropout and a linear classifier."""
    from torch import nn
    layers, c = [], channels
    for b in range(blocks):
        out = width * 2**b
        layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
        if b < blocks - 1:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(c, classes))


def objective(config: dict, fidelity: dict, seed: int) -> dict:
    import torch
    from sklearn.metrics import f1_score
    from torch import nn

    from hpobench import data

    torch.set_num_threads(THREADS)
    x, y, x_val, y_val = inputs(int(fidelity["resolution"]))
    keep = torch.from_numpy(data.nested_subset(y.numpy(), float(fidelity["data_fraction"]), seed=0))
    x, y = x[keep], y[keep]
    classes = int(max(y.max(), y_val.max())) + 1

    torch.manual_seed(seed)  # weights and dropout
    order = torch.Generator().manual_seed(seed)  # batch order
    model = network(x.shape[1], classes, int(config["width"]), int(config["blocks"]), float(config["dropout"]))
    lr, wd = float(config["learning_rate"]), float(config["weight_decay"])
    if config["optimizer"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(config["momentum"]),
                              nesterov=bool(config["nesterov"]), weight_decay=wd)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    batch, epochs = int(config["batch_size"]), int(fidelity["epochs"])
    steps = epochs * math.ceil(len(y) / batch)
    cosine = config["schedule"] == "cosine"
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)) if cosine else 1.0)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(config["label_smoothing"]))

    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=order).split(batch):
            loss = loss_fn(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                return {"f1": math.nan, "accuracy": math.nan, "loss": math.nan}  # diverged
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(xb) for xb in x_val.split(VAL_BATCH)])
    pred = logits.argmax(1).numpy()
    return {"f1": float(f1_score(y_val.numpy(), pred, average="macro")),
            "accuracy": float((pred == y_val.numpy()).mean()),
            "loss": float(nn.functional.cross_entropy(logits, y_val))}

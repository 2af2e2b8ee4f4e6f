"""A worked example of your own objective: a scikit-learn MLP on the digits bundled with scikit-learn.

No JAX, no download. Copy this file, space.json and fidelity.json, change the model and the
data, and scope it with one command (from the repository root):

    hpobench scope --objective experiments/examples/sklearn_objective.py:objective \
        --space experiments/examples/space.json --fidelity-space experiments/examples/fidelity.json \
        --metric log_loss --direction minimize --metric-range 0, --budget 6 --n-low 40 --out runs/example

The contract (`hpobench.benchmarks.objective`): `objective(config, fidelity, seed)` gets the
configuration (active hyperparameters of space.json only: `momentum` exists only when
`solver` is "sgd"), the fidelity (every knob of fidelity.json; its defaults are the full
fidelity) and a seed, and returns a number or, as here, a dict of numbers: the one named by
--metric is optimised (here the validation log loss, minimised), the others are recorded
(here in the tables' `accuracy` column; a name other than f1, accuracy or loss gets a
`metric.<name>` column). An exception is a crashed trial; it never stops a run.

Fidelity: `epochs` (passes over the training data, the solver's max_iter) and
`train_fraction` (a stratified subset of the training split, nested: the 25% subset is
inside the 50% one). A trial's cost is the fraction of the full fidelity it runs,
epochs / 50 x train_fraction.

Validation: a fixed, stratified 25% of the digits, never trained on, the same for every
trial; the test split of a real study would stay out of HPO altogether.

    >>> r = objective({"hidden_units": 32, "n_layers": 1, "activation": "relu", "alpha": 1e-4,
    ...                "learning_rate_init": 1e-3, "batch_size": 64, "solver": "adam"},
    ...               {"epochs": 5, "train_fraction": 0.5}, seed=0)
    >>> sorted(r), 0 < r["log_loss"] < 3
    (['accuracy', 'log_loss'], True)
"""

from __future__ import annotations

import functools
import warnings

import numpy as np


@functools.cache
def _data():
    """(X_train, y_train, X_val, y_val): the digits, scaled to [0, 1], split 75/25 stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    return X_train, y_train, X_val, y_val


@functools.cache
def _order(n: int) -> np.ndarray:
    """A fixed stratified order of the training rows: every prefix is a stratified, nested subset."""
    _, y, _, _ = _data()
    rng = np.random.default_rng(0)
    per_class = [rng.permutation(np.flatnonzero(y == c)) for c in np.unique(y)]
    ranks = np.concatenate([np.arange(len(p)) / len(p) for p in per_class])  # position within its class
    return np.concatenate(per_class)[np.argsort(ranks, kind="stable")]


def objective(config: dict, fidelity: dict, seed: int) -> dict:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.neural_network import MLPClassifier

    X, y, X_val, y_val = _data()
    keep = _order(len(y))[: max(10, int(round(fidelity["train_fraction"] * len(y))))]
    model = MLPClassifier(
        hidden_layer_sizes=(config["hidden_units"],) * config["n_layers"],
        activation=config["activation"], alpha=config["alpha"], solver=config["solver"],
        learning_rate_init=config["learning_rate_init"], batch_size=config["batch_size"],
        momentum=config.get("momentum", 0.9),  # only active (and only used) with sgd
        max_iter=int(fidelity["epochs"]), n_iter_no_change=10**6, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # a short budget of epochs is the point
        model.fit(X[keep], y[keep])
    p = model.predict_proba(X_val)
    if not np.isfinite(p).all():
        raise FloatingPointError("the network diverged (non-finite probabilities)")
    return {"log_loss": float(log_loss(y_val, p, labels=model.classes_)),
            "accuracy": float(accuracy_score(y_val, model.classes_[p.argmax(1)]))}

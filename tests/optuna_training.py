"""A made-up training for tests that need a real Optuna study: reported each epoch, pruned by the study's
pruner; the learning rate matters most, momentum only for sgd."""

import math

import numpy as np
import optuna

EPOCHS = 10


def training(trial, fails=()) -> float:
    """One trial; trials numbered in `fails` raise after their second epoch."""
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    mom = trial.suggest_float("momentum", 0.0, 0.99) if opt == "sgd" else None
    units = trial.suggest_int("units", 16, 256, log=True)
    drop = trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
    rng = np.random.default_rng(trial.number)
    quality = 0.9 - 0.08 * (math.log10(lr) + 2) ** 2 - 0.1 * drop + 0.005 * math.log2(units / 16)
    if mom is not None:
        quality -= 0.05 * abs(mom - 0.9)
    acc = 0.0
    for step in range(EPOCHS):
        acc = quality * (1 - math.exp(-(step + 1) / 3)) + rng.normal(0, 0.005)
        trial.report(acc, step)
        if trial.number in fails and step == 1:
            raise ValueError("out of memory")
        if trial.should_prune():
            raise optuna.TrialPruned()
    return acc

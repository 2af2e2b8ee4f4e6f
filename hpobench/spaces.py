"""The ResNet search space (conditional, 25 hyperparameters) and fidelity spaces.

The default configuration is what a team uses untuned: ResNet-20 (width 16),
SGD with Nesterov momentum 0.9, lr 0.1 with cosine decay and no warmup, weight
decay 5e-4, batch 128, flips and 4-px crops, no label smoothing, dropout or clipping.

    >>> from hpobench import spaces
    >>> cs = spaces.resnet()
    >>> len(cs), cs.get_default_configuration()["optimizer"]
    (25, 'sgd')
    >>> spaces.from_json(spaces.to_json(cs)) == cs
    True
"""

from __future__ import annotations

import json
from pathlib import Path

from ConfigSpace import (Categorical, ConfigurationSpace, EqualsCondition, Float, Integer,
                         OrdinalHyperparameter)

DEPTHS = (8, 14, 20)  # 6n + 2, n blocks per stage
WIDTHS = (8, 16, 32)
BATCH_SIZES = (32, 64, 128, 256)


def resnet(seed: int | None = None) -> ConfigurationSpace:
    cs = ConfigurationSpace(seed=seed)
    optimizer = Categorical("optimizer", ["sgd", "adamw"], default="sgd")
    momentum = Float("sgd_momentum", (0.0, 0.99), default=0.9)
    nesterov = Categorical("sgd_nesterov", [True, False], default=True)
    beta1 = Float("adamw_beta1", (0.8, 0.99), default=0.9)
    beta2 = Float("adamw_beta2", (0.9, 0.9999), default=0.999)
    eps = Float("adamw_eps", (1e-10, 1e-6), default=1e-8, log=True)
    schedule = Categorical("schedule", ["cosine", "step", "constant"], default="cosine")
    step_gamma = Float("step_gamma", (0.05, 0.5), default=0.1, log=True)
    step_drops = Integer("step_drops", (1, 3), default=2)
    aug_crop = Categorical("aug_crop", [True, False], default=True)
    crop_pad = Integer("crop_padding", (1, 6), default=4)
    aug_cutout = Categorical("aug_cutout", [True, False], default=False)
    cutout = Float("cutout_frac", (0.1, 0.6), default=0.25)
    clip = Categorical("grad_clip", [True, False], default=False)
    clip_norm = Float("clip_norm", (0.1, 10.0), default=1.0, log=True)
    cs.add([
        optimizer, momentum, nesterov, beta1, beta2, eps,
        Float("learning_rate", (1e-4, 1.0), default=0.1, log=True),
        schedule, step_gamma, step_drops,
        Float("warmup_frac", (0.0, 0.2), default=0.0),
        Float("weight_decay", (1e-6, 1e-2), default=5e-4, log=True),
        OrdinalHyperparameter("batch_size", BATCH_SIZES, default_value=128),
        Float("label_smoothing", (0.0, 0.3), default=0.0),
        Float("dropout", (0.0, 0.5), default=0.0),
        OrdinalHyperparameter("width", WIDTHS, default_value=16),
        OrdinalHyperparameter("depth", DEPTHS, default_value=20),
        Categorical("aug_flip", [True, False], default=True),
        aug_crop, crop_pad, aug_cutout, cutout,
        Float("bn_momentum", (0.8, 0.999), default=0.9),
        clip, clip_norm,
        EqualsCondition(momentum, optimizer, "sgd"),
        EqualsCondition(nesterov, optimizer, "sgd"),
        EqualsCondition(beta1, optimizer, "adamw"),
        EqualsCondition(beta2, optimizer, "adamw"),
        EqualsCondition(eps, optimizer, "adamw"),
        EqualsCondition(step_gamma, schedule, "step"),
        EqualsCondition(step_drops, schedule, "step"),
        EqualsCondition(crop_pad, aug_crop, True),
        EqualsCondition(cutout, aug_cutout, True),
        EqualsCondition(clip_norm, clip, True),
    ])
    return cs


def fidelity(max_epochs: int, resolutions: tuple[int, ...], min_fraction: float = 0.01) -> ConfigurationSpace:
    """Fidelity knobs; each default is the full-fidelity value."""
    return ConfigurationSpace({
        "epochs": Integer("epochs", (1, max_epochs), default=max_epochs),
        "data_fraction": Float("data_fraction", (min_fraction, 1.0), default=1.0),
        "resolution": OrdinalHyperparameter("resolution", resolutions, default_value=resolutions[-1]),
    })


def to_json(cs: ConfigurationSpace) -> str:
    """ConfigSpace's own JSON serialisation."""
    from ConfigSpace.read_and_write import json as cs_json
    return cs_json.write(cs)


def from_json(text: str) -> ConfigurationSpace:
    from ConfigSpace.read_and_write import json as cs_json
    return cs_json.read(text)


def load(path: str | Path) -> ConfigurationSpace:
    """Read a ConfigSpace JSON file, with an error naming the file when it is broken."""
    path = Path(path)
    try:
        return from_json(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"space file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: not a valid ConfigSpace JSON file ({type(e).__name__}: {e})") from None

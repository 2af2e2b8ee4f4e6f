"""Gradient descent for the ResNet programs: SGD (momentum, Nesterov's or not) and AdamW.

Each family updates parameters as its optax chain computes them. Both families share one state
(`State`) and one set of inputs (`hparams`, every value a traced scalar), so a family or Nesterov
switch need not be another program: `step` with `family` None picks the chain by traced flags.

    >>> from hpobench import descent
    >>> h = descent.hparams({"optimizer": "sgd", "weight_decay": 5e-4, "sgd_momentum": 0.9, "sgd_nesterov": True})
    >>> h["momentum"], h["nesterov"], h["adamw"], h["clip_norm"] == descent.NO_CLIP
    (0.9, 1.0, 0.0, True)
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import optax

OPTIMIZERS = ("sgd", "adamw")
KEYS = ("weight_decay", "clip_norm", "momentum", "nesterov", "b1", "b2", "eps", "adamw")  # `hparams`' keys
NO_CLIP = 1e9  # clip_by_global_norm threshold that never triggers


class State(NamedTuple):
    """One state for both optimizer families, so a family or Nesterov switch is no new program."""
    hyperparams: dict  # every optimizer input (`hparams`), traced
    count: jax.Array  # AdamW's step count
    mu: dict  # AdamW's first moment; SGD's momentum trace
    nu: dict  # AdamW's second moment (SGD carries it unused: one parameter-sized buffer)


def init(params, hp: dict) -> State:
    """The state before the first step for `params`, carrying the inputs `hp` (`hparams`)."""
    s = optax.scale_by_adam().init(params)
    return State(dict(hp), s.count, s.mu, s.nu)


def step(grads, state: State, params, lr, family: tuple[str, bool] | None = None):
    """(new parameters, new state): each family's update as its optax chain computes it (clip;
    SGD: weight decay, momentum trace (Nesterov's or not), learning rate; AdamW: Adam, decoupled
    weight decay, learning rate; then applied). `family` (optimizer, nesterov) fixed: that chain
    alone, bit for bit the per-family programs the studies ran (tests/test_descent.py). None: the
    traced flags pick the chain in a conditional (only it runs), one program for all."""
    h = state.hyperparams
    g, _ = optax.clip_by_global_norm(h["clip_norm"]).update(grads, optax.EmptyState())
    decay, scale = optax.add_decayed_weights(h["weight_decay"]), optax.scale_by_learning_rate(lr)

    def apply(updates):
        return optax.apply_updates(params, scale.update(updates, optax.EmptyState())[0])

    def sgd():
        nesterov, trace = optax.trace(h["momentum"], nesterov=True).update(
            decay.update(g, optax.EmptyState(), params)[0], optax.TraceState(trace=state.mu))
        new = pick(h["nesterov"], family and family[1], lambda: apply(nesterov), lambda: apply(trace.trace))
        return new, state._replace(mu=trace.trace)

    def adamw():
        upd, a = optax.scale_by_adam(h["b1"], h["b2"], h["eps"]).update(
            g, optax.ScaleByAdamState(state.count, state.mu, state.nu))
        return apply(decay.update(upd, optax.EmptyState(), params)[0]), state._replace(count=a.count, mu=a.mu, nu=a.nu)

    return pick(h["adamw"], family and family[0] == "adamw", adamw, sgd)


def pick(flag, static: bool | None, yes, no):
    """yes() if the traced `flag` > 0, else no(): a conditional, so only the picked family's update
    runs; when `static` is a bool (a per-family program), that one alone is traced."""
    if static is not None:
        return yes() if static else no()
    return jax.lax.cond(flag > 0, yes, no)


def hparams(config: dict) -> dict:
    """Every optimizer input of `config` (keys `KEYS`); the other family's are inert placeholders
    (finite, never selected). Raises ValueError for an optimizer not in `OPTIMIZERS`."""
    if config["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {config['optimizer']!r}; known: {OPTIMIZERS}")
    clip = float(config["clip_norm"]) if config.get("grad_clip") else NO_CLIP
    out = {"weight_decay": float(config["weight_decay"]), "clip_norm": clip,
           "momentum": 0.0, "nesterov": 0.0, "b1": 0.9, "b2": 0.999, "eps": 1e-8, "adamw": 0.0}
    if config["optimizer"] == "sgd":
        return out | {"momentum": float(config["sgd_momentum"]),
                      "nesterov": float(bool(config.get("sgd_nesterov", False)))}
    return out | {"b1": float(config["adamw_beta1"]), "b2": float(config["adamw_beta2"]),
                  "eps": float(config["adamw_eps"]), "adamw": 1.0}

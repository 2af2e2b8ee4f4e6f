"""SGD and AdamW as the programs run them, against optax's own chains."""

import jax
import numpy as np
import optax
import pytest

from hpobench import descent


def _chain(config: dict, h: dict, lr):
    """The per-family optax chain train.py compiled before the shared program (its reference);
    `h`: the hyperparameters, traced as they were (constants would be folded otherwise)."""
    if config["optimizer"] == "sgd":
        mid = [optax.add_decayed_weights(h["weight_decay"]),
               optax.trace(decay=h["momentum"], nesterov=bool(config["sgd_nesterov"]))]
    else:
        mid = [optax.scale_by_adam(h["b1"], h["b2"], h["eps"]), optax.add_decayed_weights(h["weight_decay"])]
    return optax.chain(optax.clip_by_global_norm(h["clip_norm"]), *mid, optax.scale_by_learning_rate(lr))


_FAMILIES = {"nesterov": {"optimizer": "sgd", "sgd_momentum": 0.9, "sgd_nesterov": True},
             "momentum": {"optimizer": "sgd", "sgd_momentum": 0.7, "sgd_nesterov": False},
             "adamw": {"optimizer": "adamw", "adamw_beta1": 0.85, "adamw_beta2": 0.99, "adamw_eps": 1e-7}}


@pytest.mark.parametrize("family", sorted(_FAMILIES))
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.slow
def test_optimizer_programs_match_the_optax_chains(family, clip):
    """A per-family program updates parameters bit for bit as optax's chain for that family (what
    the recorded studies ran); the shared program picks the same family, equal to float rounding."""
    config = _FAMILIES[family] | {"weight_decay": 1e-3, "grad_clip": clip, "clip_norm": 0.5}
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((3, 3, 16, 32), np.float32), "b": rng.standard_normal(32, np.float32)}
    grads = [jax.tree.map(lambda p, i=i: np.random.default_rng(i).standard_normal(p.shape, np.float32), params)
             for i in range(6)]
    lr = np.float32(0.05)
    opt_hp = {k: np.float32(v) for k, v in descent.hparams(config).items()}

    @jax.jit
    def reference(p, s, g, h):
        u, s = _chain(config, h, lr).update(g, s, p)
        return optax.apply_updates(p, u), s

    fixed = (config["optimizer"], bool(config.get("sgd_nesterov", False)))
    ours = {name: jax.jit(lambda p, s, g, f=f: descent.step(g, s, p, lr, f)) for name, f in
            (("per-family", fixed), ("shared", None))}
    ref_p, ref_s = params, _chain(config, opt_hp, lr).init(params)
    got = {name: (params, descent.init(params, opt_hp)) for name in ours}
    for g in grads:
        ref_p, ref_s = reference(ref_p, ref_s, g, opt_hp)
        got = {name: step(*got[name], g) for name, step in ours.items()}
        for a, b in zip(jax.tree.leaves(ref_p), jax.tree.leaves(got["per-family"][0])):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(jax.tree.leaves(ref_p), jax.tree.leaves(got["shared"][0])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.array_equal(ref_p["w"], params["w"])  # it did move


def test_unknown_optimizer_is_named():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        descent.hparams({"optimizer": "lion", "weight_decay": 0.0})

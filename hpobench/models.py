"""CIFAR-style ResNets (He et al. 2016, sec. 4.2): depth 6n+2, three stages of basic blocks.

Hyperparameters that vary per trial but not per architecture (dropout rate,
BatchNorm momentum) are call-time arrays, not module fields, so one compiled
step serves every value of them. BatchNorm runs with momentum 0: the module
returns the batch statistics, and `train.py` blends them into the running
averages with the traced momentum. Convolutions and training-mode BatchNorm
run on oneDNN's kernels on CPU (`onednn.py`), XLA's elsewhere.

    >>> import jax, jax.numpy as jnp
    >>> model = ResNet(depth=8, width=8, num_classes=10)
    >>> v = model.init(jax.random.key(0), jnp.zeros((2, 8, 8, 3)), train=False)
    >>> model.apply(v, jnp.zeros((2, 8, 8, 3)), train=False).shape
    (2, 10)
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from hpobench import onednn

Conv = functools.partial(nn.Conv, use_bias=False, conv_general_dilated=onednn.conv_general_dilated)


class Norm(nn.Module):
    """flax.linen.BatchNorm(momentum=0, epsilon=1e-5) over NHWC, same variables, on `onednn.batch_norm`;
    `relu`: followed by a ReLU (fused into the BatchNorm on CPU)."""
    use_running_average: bool
    scale_init: Callable = nn.initializers.ones
    epsilon: float = 1e-5
    relu: bool = False

    @nn.compact
    def __call__(self, x):
        c = (x.shape[-1],)
        scale, bias = self.param("scale", self.scale_init, c), self.param("bias", nn.initializers.zeros, c)
        ra_mean = self.variable("batch_stats", "mean", jnp.zeros, c)
        ra_var = self.variable("batch_stats", "var", jnp.ones, c)
        if self.use_running_average:
            return onednn.normalise(x, ra_mean.value, ra_var.value, scale, bias, self.epsilon, self.relu)
        y, mean, var = onednn.batch_norm(x, scale, bias, self.epsilon, self.relu)
        if not self.is_initializing():
            ra_mean.value, ra_var.value = mean, var
        return y


class Block(nn.Module):
    width: int
    stride: int

    @nn.compact
    def __call__(self, x, train: bool):
        conv = functools.partial(Conv, self.width, (3, 3))
        y = Norm(use_running_average=not train, relu=True)(conv(strides=self.stride)(x))
        y = Norm(use_running_average=not train, scale_init=nn.initializers.zeros)(conv()(y))
        if x.shape != y.shape:  # projection shortcut when the stage changes shape
            x = Conv(self.width, (1, 1), strides=self.stride)(x)
            x = Norm(use_running_average=not train)(x)
        return nn.relu(x + y)


class ResNet(nn.Module):
    depth: int = 20
    width: int = 16
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool, dropout: jax.Array | float = 0.0, rng: jax.Array | None = None):
        if (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2, got {self.depth}")
        blocks = (self.depth - 2) // 6
        x = Norm(use_running_average=not train, relu=True)(Conv(self.width, (3, 3))(x))
        for stage in range(3):
            for b in range(blocks):
                x = Block(self.width * 2**stage, 2 if stage and not b else 1)(x, train)
        x = jnp.mean(x, axis=(1, 2))
        if train and rng is not None:  # inverted dropout with a traced rate
            keep = jax.random.uniform(rng, x.shape) >= dropout
            x = jnp.where(keep, x / (1.0 - dropout), 0.0)
        return nn.Dense(self.num_classes)(x)

"""oneDNN kernels against XLA's own lowering: same values and gradients, and only where they apply."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from hpobench import onednn, programs, spaces, train

pytestmark = [pytest.mark.slow,  # every test compiles
              pytest.mark.skipif(jax.default_backend() != "cpu" or onednn.available() is not None,
                                 reason=f"oneDNN kernels on CPU only ({onednn.available()})")]
NHWC = ("NHWC", "HWIO", "NHWC")


def _grads(conv, x, w, **kw):
    """Output and gradients of a loss that weighs every output element differently."""
    def loss(x, w):
        y = conv(x, w, dimension_numbers=NHWC, **kw)
        return jnp.sum(jnp.sin(y) * jnp.arange(y.size).reshape(y.shape) / y.size), y
    (_, y), g = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(x, w)
    return [y, *g]


@pytest.mark.parametrize("n,h,c,o,k,stride,padding", [
    (4, 8, 3, 16, 3, 1, "SAME"),         # the stem: 3 input channels
    (4, 8, 16, 16, 3, 1, "SAME"),
    (4, 8, 16, 32, 3, 2, "SAME"),        # stage change: padding (0, 1)
    (3, 9, 5, 7, 3, 2, "SAME"),          # odd size: padding (1, 1)
    (4, 8, 16, 32, 1, 2, "SAME"),        # projection shortcut
    (8, 8, 4, 8, 1, 2, "SAME"),          # ... with fewer channels than a oneDNN block (subsampled)
    (2, 7, 4, 6, 1, 2, ((1, 0), (0, 1))),  # strided 1x1 with padding
    (2, 7, 4, 6, 3, 1, ((2, 0), (1, 1))),  # explicit, asymmetric
    (2, 7, 4, 6, 3, 2, "VALID"),
])
def test_convolution_matches_xla(n, h, c, o, k, stride, padding):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((n, h, h, c), dtype=np.float32))
    w = jnp.asarray(rng.standard_normal((k, k, c, o), dtype=np.float32))
    kw = dict(window_strides=(stride, stride), padding=padding)
    hlo = jax.jit(lambda x, w: onednn.conv_general_dilated(x, w, dimension_numbers=NHWC, **kw)).lower(x, w).as_text()
    assert "hpobench_conv_fwd" in hlo and "convolution" not in hlo
    for a, b in zip(_grads(onednn.conv_general_dilated, x, w, **kw), _grads(lax.conv_general_dilated, x, w, **kw)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("case", ["dilation", "groups", "bfloat16", "nchw"])
def test_what_onednn_does_not_cover_stays_with_xla(case):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((2, 8, 8, 4), dtype=np.float32))
    w = jnp.asarray(rng.standard_normal((3, 3, 4, 4), dtype=np.float32))
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=NHWC)
    if case == "dilation":
        kw["rhs_dilation"] = (2, 2)
    elif case == "groups":
        kw["feature_group_count"], w = 2, w[:, :, :2]
    elif case == "bfloat16":
        x, w = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    else:
        x, kw["dimension_numbers"] = x.transpose(0, 3, 1, 2), ("NCHW", "HWIO", "NCHW")
    f = jax.jit(lambda x, w: onednn.conv_general_dilated(x, w, **kw))
    assert "hpobench_" not in f.lower(x, w).as_text()
    np.testing.assert_array_equal(f(x, w), jax.jit(lambda x, w: lax.conv_general_dilated(x, w, **kw))(x, w))


@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_matches_reference(relu):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((8, 5, 5, 16), dtype=np.float32)) * 3 + 1
    scale, bias = (jnp.asarray(rng.standard_normal(16, dtype=np.float32)) for _ in range(2))

    def run(norm):
        def loss(x, scale, bias):
            y, mean, var = norm(x, scale, bias, 1e-5, relu)
            return jnp.sum(jnp.sin(y)) + jnp.sum(mean) + jnp.sum(var), (y, mean, var)  # statistics: no gradient
        (_, out), g = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))(x, scale, bias)
        return [*out, *g]

    def reference(*a):
        y, mean, var = onednn._norm_reference(*a)
        return y, lax.stop_gradient(mean), lax.stop_gradient(var)

    hlo = jax.jit(lambda *a: onednn.batch_norm(*a, 1e-5, relu)).lower(x, scale, bias).as_text()
    assert ("hpobench_norm_relu_fwd" if relu else "hpobench_norm_fwd") in hlo
    for a, b in zip(run(onednn.batch_norm), run(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(b))))


def _two_steps(spec, config):
    hp, opt_hp = train.step_inputs(config, spec.resolution)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((spec.batch_size, spec.resolution, spec.resolution, 3), dtype=np.float32)
    y = rng.integers(0, 10, spec.batch_size).astype(np.int32)
    init, step, _ = programs.compile_all(spec)
    state = init(jax.random.key(0), opt_hp)
    for i in (1, 2):
        state, loss = step(state, x, y, jax.random.key(0), np.int32(i), np.float32(0.1), hp)
    return step.as_text(), float(loss), jax.tree.leaves(state)


def test_train_step_matches_xla_lowering():
    """The ResNet train step on oneDNN kernels against XLA's own: no XLA convolution left, and the
    same loss, parameters, BatchNorm statistics and optimizer state after two steps."""
    spec = programs.Spec(8, 8, 10, "sgd", True, 16, 3, 32)
    config = dict(spaces.resnet().get_default_configuration()) | {"depth": 8, "width": 8}
    fast = _two_steps(spec, config)
    with onednn.off():
        ref = _two_steps(spec, config)
    assert "convolution(" not in fast[0] and '"hpobench_norm_bwd"' in fast[0]
    assert "convolution(" in ref[0] and '"hpobench_' not in ref[0]
    assert fast[1] == pytest.approx(ref[1], rel=1e-4)
    for a, b in zip(fast[2], ref[2]):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


_TRAIN = """
import json
from hpobench import data, onednn, spaces, train
cfg = dict(spaces.resnet().get_default_configuration()) | {"depth": 8, "width": 8, "batch_size": 64}
out = train.run(cfg, data.load("cifar10"), 3, 0.1, 8, 0)
print(json.dumps({"f1": out.f1, "onednn": onednn.available() is None}))
"""


@pytest.mark.slow
def test_short_training_reaches_the_same_f1():
    """3 epochs on 10% of CIFAR-10 at 8 px, with and without the kernels (`HPOBENCH_ONEDNN=0`,
    which also shows the fallback): float differences change the trajectory, not where it gets."""
    out = {}
    for flag in ("1", "0"):
        env = os.environ | {"HPOBENCH_ONEDNN": flag, "HPOBENCH_JAX_CACHE": ""}
        p = subprocess.run([sys.executable, "-c", _TRAIN], env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr[-2000:]
        out[flag] = json.loads(p.stdout.splitlines()[-1])
    assert out["1"]["onednn"] and not out["0"]["onednn"]
    assert out["1"]["f1"] > 0.25 and abs(out["1"]["f1"] - out["0"]["f1"]) < 0.04, out


def test_no_heap_corruption_where_onednn_writes_past_its_workspace(tmp_path):
    """oneDNN 2.x's AVX2 weight gradient of a strided 1x1 convolution with fewer input channels
    than its block (the width-4 shortcut here) wrote past its workspace, and glibc aborted the
    process (10 of 10 runs before the fix). Compiling and loading the step must exit cleanly."""
    from test_programs import _STEP
    env = os.environ | {"HPOBENCH_JAX_CACHE": str(tmp_path), "ONEDNN_MAX_CPU_ISA": "AVX2"}
    for loaded in (0, 3, 3):  # init, train step and eval step loaded
        out = subprocess.run([sys.executable, "-c", _STEP], env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.splitlines()[-1])["loaded"] == loaded

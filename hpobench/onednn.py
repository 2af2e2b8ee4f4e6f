"""oneDNN's CPU kernels (the ones PyTorch uses) as XLA custom calls, for the ResNet's hot path.

- `conv_general_dilated`: a drop-in for `lax.conv_general_dilated`. XLA:CPU's convolutions reach
  ~55 GFLOP/s on CIFAR shapes and transpose every saved activation for the weight gradient;
  oneDNN's direct NHWC kernels reach ~130.
- `batch_norm`: training-mode BatchNorm, optionally fused with the ReLU after it. XLA:CPU turns
  each per-channel reduction into an unfused reduce-window; a ResNet-20 step has 126 of them (a
  third of the step at 32 px).

Both have their own VJPs (the gradients are oneDNN primitives too) and take this path only for
f32 NHWC arrays on CPU; everything else, and every other platform, stays with XLA.

The kernels (`onednn.cc`) are compiled on first use against the system's oneDNN, 2.x or 3.x
(`apt-get install libdnnl-dev`, see the Makefile; `HPOBENCH_ONEDNN_ROOT` names another install),
and kept under the data directory. Where
that is impossible, or `HPOBENCH_ONEDNN=0`, XLA's own lowering is used and `available()` says
why.

    >>> import jax.numpy as jnp
    >>> x, w = jnp.ones((2, 8, 8, 3)), jnp.ones((3, 3, 3, 4))
    >>> conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")).shape
    (2, 8, 8, 4)
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import subprocess
import threading
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

SOURCE = Path(__file__).with_suffix(".cc")
TARGETS = {"conv_fwd": "HpoConvFwd", "conv_bwd_data": "HpoConvBwdData", "conv_bwd_weights": "HpoConvBwdWeights",
           "norm_fwd": "HpoNormFwd", "norm_bwd": "HpoNormBwd",
           "norm_relu_fwd": "HpoNormReluFwd", "norm_relu_bwd": "HpoNormReluBwd"}


def _build_dir() -> Path:
    from hpobench.data import data_dir
    return data_dir() / "kernels"


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int), ("hash", ctypes.c_char_p)]


@functools.cache
def _library() -> tuple[ctypes.CDLL | None, str | None]:
    """(the loaded kernels, None) with their FFI targets registered, or (None, why not)."""
    if os.environ.get("HPOBENCH_ONEDNN", "1") == "0":
        return None, "HPOBENCH_ONEDNN=0"
    # HPOBENCH_ONEDNN_SANITIZE=address: a separate AddressSanitizer build, for `make asan`
    sanitize = os.environ.get("HPOBENCH_ONEDNN_SANITIZE", "")
    flags = [f"-fsanitize={sanitize}", "-fno-omit-frame-pointer", "-g"] if sanitize else []
    # HPOBENCH_ONEDNN_ROOT: a oneDNN install (include/, lib/) to use instead of the system's
    root = os.environ.get("HPOBENCH_ONEDNN_ROOT")
    include = Path(root or "/usr") / "include"
    paths = [f"-I{include}", f"-L{root}/lib", f"-Wl,-rpath,{root}/lib"] if root else []
    cmd = ["c++", "-O2", "-std=c++17", "-shared", "-fPIC", "-fopenmp", "-w", *flags, *paths,
           f"-I{jax.ffi.include_dir()}", str(SOURCE), "-ldnnl"]
    header = include / "oneapi" / "dnnl" / "dnnl_version.h"  # a new oneDNN is a new build
    key = hashlib.sha256((SOURCE.read_text() + " ".join(cmd[:-2]) + jax.__version__
                          + (header.read_text() if header.exists() else "")).encode()).hexdigest()[:16]
    lib = _build_dir() / f"onednn-{key}.so"
    try:
        if not lib.exists():
            lib.parent.mkdir(parents=True, exist_ok=True)
            tmp = lib.with_name(f".{lib.name}.{os.getpid()}.{threading.get_ident()}")
            subprocess.run(cmd + ["-o", str(tmp)], check=True, capture_output=True, text=True)
            tmp.replace(lib)  # parallel workers may build at once
        so = ctypes.CDLL(str(lib))
    except (OSError, subprocess.CalledProcessError) as e:
        why = (getattr(e, "stderr", None) or str(e)).strip() or type(e).__name__
        warnings.warn(f"oneDNN kernels unavailable, XLA's own are used (slower on CPU): {why[:500]}", stacklevel=2)
        return None, why.splitlines()[0]
    for name, symbol in TARGETS.items():
        jax.ffi.register_ffi_target(f"hpobench_{name}", jax.ffi.pycapsule(getattr(so, symbol)), platform="cpu")
    so.dnnl_version.restype = ctypes.POINTER(_Version)
    so.HpoNormReluWorkspaceBytes.restype = ctypes.c_int64
    return so, None


def available() -> str | None:
    """None when the oneDNN kernels are built and registered with XLA; else why they are not."""
    return _library()[1]


def describe() -> dict:
    """What a run's convolutions and BatchNorms ran on, for its record."""
    so, why = _library()
    if so is None:
        return {"onednn": None, "why_not": why}
    v = so.dnnl_version().contents
    return {"onednn": f"{v.major}.{v.minor}.{v.patch}"}


_OFF = [0]


@contextlib.contextmanager
def one_after_another():
    """Stacked configurations (`jax.vmap`) run one after another, each primitive on every thread,
    while inside, instead of spread over the threads one each (`onednn.cc`, `Run`): then each
    configuration's kernels are the ones it runs alone, bit for bit. For tests and measurements."""
    so = _library()[0]
    if so is None:
        yield
        return
    so.HpoSplit(0)
    try:
        yield
    finally:
        so.HpoSplit(1)


@contextlib.contextmanager
def off():
    """XLA's own lowering for whatever is traced inside (references in tests, FLOP counts)."""
    _OFF[0] += 1
    try:
        yield
    finally:
        _OFF[0] -= 1


def _use() -> bool:
    return not _OFF[0] and jax.default_backend() == "cpu" and available() is None


def _call(name: str, shapes, *args, **attrs):
    """Custom call `name`; `shapes`: of its results, f32 unless given as ShapeDtypeStruct. Under
    `jax.vmap` every operand gets the mapped axes in front (an unmapped one broadcast) and the
    kernels run once per configuration on its slices, in one call (`onednn.cc`, `Run`)."""
    out = [s if isinstance(s, jax.ShapeDtypeStruct) else jax.ShapeDtypeStruct(s, jnp.float32) for s in shapes]
    return jax.ffi.ffi_call(f"hpobench_{name}", out, vmap_method="broadcast_all")(*args, **attrs)


def _conv_call(name: str, shape, a, b, geometry):
    return _call(name, [shape], a, b, **dict(zip(("sh", "sw", "pt", "pl", "pb", "pr"), map(int, geometry))))[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, w, geometry, out_shape):
    return _conv_call("conv_fwd", out_shape, x, w, geometry)


def _conv_fwd(x, w, geometry, out_shape):
    return _conv(x, w, geometry, out_shape), (x, w)


def _conv_bwd(geometry, out_shape, res, dy):
    x, w = res
    return (_conv_call("conv_bwd_data", x.shape, dy, w, geometry),
            _conv_call("conv_bwd_weights", w.shape, x, dy, geometry))


_conv.defvjp(_conv_fwd, _conv_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, batch_group_count=1, precision=None,
                         preferred_element_type=None):
    """`lax.conv_general_dilated`, through oneDNN for what it covers on CPU (see module docstring)."""
    xla = functools.partial(lax.conv_general_dilated, window_strides=window_strides, padding=padding,
                            lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                            dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
                            batch_group_count=batch_group_count, precision=precision,
                            preferred_element_type=preferred_element_type)
    nhwc = ("NHWC", "HWIO", "NHWC")
    plain = (lhs.ndim == 4 and dimension_numbers is not None
             and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
             == lax.conv_dimension_numbers(lhs.shape, rhs.shape, nhwc)
             and lhs.dtype == rhs.dtype == jnp.float32 and preferred_element_type in (None, jnp.float32)
             and feature_group_count == batch_group_count == 1
             and all(d == 1 for d in (lhs_dilation or ()) + (rhs_dilation or ())))
    if not plain or not _use():
        return xla(lhs, rhs)
    pads = lax.padtype_to_pads(lhs.shape[1:3], rhs.shape[:2], window_strides, padding) \
        if isinstance(padding, str) else padding
    (pt, pb), (pl, pr) = pads
    out_shape = jax.eval_shape(xla, lhs, rhs).shape
    geometry = (*window_strides, pt, pl, pb, pr)

    def cpu(x, w):
        if rhs.shape[:2] == (1, 1) and tuple(window_strides) != (1, 1):
            return _conv(_subsample(x, window_strides, pads, out_shape), w, (1, 1, 0, 0, 0, 0), out_shape)
        return _conv(x, w, geometry, out_shape)
    return lax.platform_dependent(lhs, rhs, cpu=cpu, default=xla)


def _subsample(x, strides, pads, out_shape):
    """The pixels a strided 1x1 convolution reads, so oneDNN runs it at unit stride.

    oneDNN 2.x does this copy itself ("rtus") for strided 1x1 convolutions, but its NHWC weight
    gradient offsets each thread's copy by the channel block, not the channel count, so with fewer
    input channels than a block (8 on AVX2, 16 on AVX-512) it writes past its workspace into the
    heap (uxlfoundation/oneDNN#6035): glibc then aborts at a later free ("munmap_chunk(): invalid
    pointer"), typically at exit. Reproduced 10 of 10 with `ONEDNN_MAX_CPU_ISA=AVX2`."""
    if any(p for pair in pads for p in pair):
        x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)))
    (sh, sw), (_, oh, ow, _) = strides, out_shape
    return lax.slice(x, (0, 0, 0, 0), (x.shape[0], (oh - 1) * sh + 1, (ow - 1) * sw + 1, x.shape[3]), (1, sh, sw, 1))


def normalise(x, mean, var, scale, bias, eps: float, relu: bool = False):
    """BatchNorm's affine normalisation with given statistics, then ReLU if `relu` (XLA's lowering)."""
    y = (x - mean) * (scale * lax.rsqrt(var + eps)) + bias
    return jax.nn.relu(y) if relu else y


def _norm_reference(x, scale, bias, eps: float, relu: bool):
    """flax.linen.BatchNorm's training-mode arithmetic (biased variance from E[x^2] - E[x]^2)."""
    axes = tuple(range(x.ndim - 1))
    mean = jnp.mean(x, axes)
    var = jnp.maximum(0.0, jnp.mean(x * x, axes) - mean * mean)
    return normalise(x, mean, var, scale, bias, eps, relu), mean, var


def _norm_call(x, scale, bias, eps: float, relu: bool):
    """(y, mean, var, ReLU mask or None) from oneDNN."""
    c = (x.shape[-1],)
    if not relu:
        return (*_call("norm_fwd", [x.shape, c, c], x, scale, bias, eps=np.float32(eps)), None)
    n, h, w, _ = x.shape
    size = _library()[0].HpoNormReluWorkspaceBytes(*map(ctypes.c_int64, (n, c[0], h, w)))
    ws = jax.ShapeDtypeStruct((size,), jnp.uint8)
    return tuple(_call("norm_relu_fwd", [x.shape, c, c, ws], x, scale, bias, eps=np.float32(eps)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _norm(x, scale, bias, eps: float, relu: bool):
    return _norm_call(x, scale, bias, eps, relu)[:3]


def _norm_fwd(x, scale, bias, eps, relu):
    y, mean, var, mask = _norm_call(x, scale, bias, eps, relu)
    return (y, mean, var), (x, scale, bias, mean, var, mask)


def _norm_bwd(eps, relu, res, cts):
    x, scale, bias, mean, var, mask = res  # the statistics' cotangents are zero: `batch_norm` stops their gradient
    c = (x.shape[-1],)
    operands = (x, cts[0], scale, bias, mean, var) + ((mask,) if relu else ())
    return tuple(_call("norm_relu_bwd" if relu else "norm_bwd", [x.shape, c, c], *operands, eps=np.float32(eps)))


_norm.defvjp(_norm_fwd, _norm_bwd)


def batch_norm(x, scale, bias, eps: float, relu: bool = False):
    """Training-mode BatchNorm over all but the last axis, then ReLU if `relu`: (output, batch mean,
    batch variance). The statistics are for running averages: no gradient flows through them."""
    fast = x.ndim == 4 and x.dtype == scale.dtype == bias.dtype == jnp.float32 and _use()
    ref = functools.partial(_norm_reference, eps=eps, relu=relu)
    y, mean, var = (lax.platform_dependent(x, scale, bias, cpu=functools.partial(_norm, eps=eps, relu=relu),
                                           default=ref) if fast else ref(x, scale, bias))
    return y, lax.stop_gradient(mean), lax.stop_gradient(var)

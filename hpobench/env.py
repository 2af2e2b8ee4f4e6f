"""What produced a result: package versions and hardware, recorded with every run.

    >>> from hpobench import env
    >>> {"git", "versions", "cpu", "cpus_usable", "devices"} <= set(env.describe())
    True
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import importlib.util
import os
import pkgutil
import platform
import subprocess
import sys
from pathlib import Path

PACKAGES = ("hpobench", "jax", "jaxlib", "flax", "optax", "numpy", "scipy", "pandas",
            "ConfigSpace", "smac", "tensorflow-datasets")


def version(pkg: str) -> str | None:
    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa() -> str:
    """The widest x86 vector ISA this CPU has (oneDNN and XLA pick kernels by it), with the
    extensions that change which kernels run; results may differ in the last digits across them."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return platform.machine()
    base = next((isa for isa in ("avx512f", "avx2", "avx", "sse4_2") if isa in flags), platform.machine())
    extra = sorted(f for f in flags if f in ("avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile"))
    return "+".join([base.replace("avx512f", "avx512"), *extra])


def accelerator_expected() -> bool:
    """Whether JAX will find an accelerator, answered without starting JAX (the CPU-only settings,
    `hpobench.heap` and core pinning, must be decided before it starts its threads)."""
    platforms = os.environ.get("JAX_PLATFORMS", "").lower()
    if platforms:
        return any(p in platforms for p in ("cuda", "gpu", "rocm", "tpu"))
    try:
        import jax_plugins  # the namespace JAX's GPU and TPU plugins install into
        if any(True for _ in pkgutil.iter_modules(jax_plugins.__path__)):
            return True
    except ImportError:
        pass
    return importlib.util.find_spec("libtpu") is not None


def source_tree() -> Path | None:
    """The source checkout this package is loaded from (editable install), or None when installed."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else None


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=5).stdout.strip()


def _git_commit() -> str | None:
    """The project's commit (with '+dirty' for local changes): code identity of a result.

    None when installed (the hpobench version identifies the code) or when the source tree is not
    itself the git work tree (a tree unpacked inside another repository has no commit of its own).
    """
    root = source_tree()
    if root is None:
        return None
    try:
        top, _, head = _git(root, "rev-parse", "--show-toplevel", "HEAD").partition("\n")
        if not top or Path(top).resolve() != root:
            return None
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return (head + ("+dirty" if dirty else "")) or None


@functools.lru_cache(maxsize=1)
def _static() -> dict:
    return {
        "git": _git_commit(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "isa": cpu_isa(),
        "cpu_count": os.cpu_count(),
        "versions": {p: version(p) for p in PACKAGES},
    }


def cpus_usable() -> int:
    """The cores this process may run on (its affinity), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def describe() -> dict:
    """Versions and hardware; JAX devices only if JAX is already in use (no import cost)."""
    out = dict(_static())
    out["cpus_usable"] = cpus_usable()  # XLA:CPU splits its sums by thread, so F1 depends on it
    jax = sys.modules.get("jax")
    out["devices"] = [str(d) for d in jax.devices()] if jax is not None else None
    kernels = sys.modules.get("hpobench.onednn")
    out["kernels"] = kernels.describe() if kernels is not None else None
    return out

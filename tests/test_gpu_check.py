"""The GPU self-check and the CPU-only settings it checks."""

import subprocess
import sys

import jax
import pytest

from hpobench import env
from hpobench.experiments.studies import gpu_check


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the no-GPU path")
def test_without_a_gpu_it_says_so_and_exits_0(capsys):
    assert gpu_check.main([]) == 0
    assert "no GPU here" in capsys.readouterr().out


@pytest.mark.parametrize("platforms, expected", [("cpu", False), ("cuda", True), ("cuda,cpu", True), ("tpu", True)])
def test_accelerator_expected_follows_jax_platforms(monkeypatch, platforms, expected):
    monkeypatch.setenv("JAX_PLATFORMS", platforms)
    assert env.accelerator_expected() is expected


@pytest.mark.slow  # a fresh process
def test_cpu_only_settings_stay_off_where_an_accelerator_is_expected():
    """hpobench.heap's arena settings and worker pinning are decided before JAX starts."""
    code = ("import os, hpobench; from hpobench.optimizers import parallel; a = os.sched_getaffinity(0); "
            "parallel.pin(0); print(hpobench.KEEPS_FREED_MEMORY, os.sched_getaffinity(0) == a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"JAX_PLATFORMS": "cuda", "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["False", "True"]

"""Every verb's stdout is its result alone: `hpobench evaluate ... | jq` works on a new machine too.

Preparing a dataset (once per data directory) is said on stderr in the project's words
(`hpobench.data.preparing`); tfds' own "Downloading and preparing dataset ..." lines, printed
on stdout and wrong for a local source (nothing is downloaded), never appear. The first
evaluations run the CLI as a subprocess on an empty data directory, as on a new machine.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hpobench import data
from hpobench.data import sources

TFDS_WORDS = ("Downloading", "downloaded and prepared", "Unknown size")


def hpobench(*argv, data_dir, timeout=600):
    """`hpobench ARGV` in a subprocess with its own data directory: (stdout, stderr); it must succeed."""
    env = {**os.environ, "HPOBENCH_DATA_DIR": str(data_dir)}
    p = subprocess.run([sys.executable, "-m", "hpobench.experiments.cli", *map(str, argv)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, p.stderr


def test_preparing_a_folder_says_so_on_stderr_only(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("HPOBENCH_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"c{c}/{i}.png")
    ds = data.load_folder.__wrapped__(tmp_path / "imgs", native=8)
    out, err = capfd.readouterr()
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 6
    assert out == ""
    assert f"hpobench: preparing folder/imgs at 8x8 from {tmp_path / 'imgs'} into {tmp_path / 'data'} (once)" in err
    assert "hpobench: folder/imgs at 8x8 ready (" in err
    assert not any(w in err for w in TFDS_WORDS), err
    data.load_folder.__wrapped__(tmp_path / "imgs", native=8)  # from the cache: silent
    assert capfd.readouterr() == ("", "")


@pytest.mark.slow
@pytest.mark.parametrize("name, resolution", [("fashion_mnist", 7), ("cifar10", 8)])  # cifar10: ~1 min to prepare
def test_first_evaluation_prints_only_json(name, resolution, tmp_path):
    source = sources.find(name)
    if source is None:
        pytest.skip(f"{name} is not on this machine ({sources.HOW_TO_GET[name]})")
    fidelity = f"epochs=1,data_fraction=0.01,resolution={resolution}"
    argv = ("evaluate", f"resnet/{name}", "--fidelity", fidelity, "--compact")
    out, err = hpobench(*argv, data_dir=tmp_path)
    assert json.loads(out)["status"] == "ok"
    assert f"hpobench: preparing {name} from {source} into {tmp_path} (once) ..." in err
    assert re.search(rf"hpobench: {name} ready \(\d+ s\); later loads read the cache", err)
    assert not any(w in err + out for w in TFDS_WORDS), err
    out, err = hpobench(*argv, data_dir=tmp_path)  # prepared: nothing said
    assert json.loads(out)["status"] == "ok" and "preparing" not in err


@pytest.mark.slow
def test_every_verb_prints_only_its_result(tmp_path):
    from hpobench import benchmarks, spaces

    out, _ = hpobench("list", data_dir=tmp_path)
    assert out.splitlines() == list(benchmarks.names())
    out, _ = hpobench("space", "resnet/cifar10", data_dir=tmp_path)
    assert spaces.from_json(out) == spaces.resnet()
    out, _ = hpobench("evaluate", "synthetic/agree", "--fidelity", "epochs=3", data_dir=tmp_path)
    assert json.loads(out)["status"] == "ok"
    out, err = hpobench("tune", "synthetic/agree", "--optimizer", "smac", "--budget", 300,
                        "--out", tmp_path / "tune", data_dir=tmp_path)
    assert re.fullmatch(r"\d+ trials, cost [\d.]+ of 300; default F1 [\d.]+, incumbent F1 [\d.]+ \(maximized\); "
                        r"record: \S+/trials.parquet\n", out), out
    assert "cost" in err  # the progress bar
    out, _ = hpobench("scope", "synthetic/agree", "--budget", 100, "--n-low", 20, "--n-probe", 15,
                      "--out", tmp_path / "scope", data_dir=tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("verdict: ") and lines[-1].startswith(f"report: {tmp_path / 'scope'}/report.md")
    assert not any("%|" in line or "[INFO]" in line for line in lines), out  # no progress bar, no SMAC log
    out, _ = hpobench("importance", tmp_path / "scope", "--n-boot", 5, data_dir=tmp_path)
    header, *rows = out.splitlines()  # a table, one row per hyperparameter and fidelity
    assert header.split()[:3] == ["hp", "importance", "lower"] and len(rows) == 2 * 12, out
    out, _ = hpobench("agreement", tmp_path / "scope", "--n-boot", 5, data_dir=tmp_path)
    header, *rows, note = out.splitlines()  # a table, one row per statistic, and the note on its intervals
    assert header.split()[:3] == ["a", "b", "statistic"] and note.startswith("lower, upper: "), out
    assert rows and all(r.split()[0] == "data_fraction=0.125,epochs=10" for r in rows), out

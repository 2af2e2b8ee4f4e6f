"""Every verb's stdout is its result alone: `hpobench evaluate ... | jq` works on a new machine too.

Preparing a dataset (once per data directory) is said on stderr in the project's words
(`hpobench.data.preparing`); tfds' own "Downloading and preparing dataset ..." lines, printed
on stdout and wrong for a local source (nothing is downloaded), never appear. The first
evaluations run the CLI as a subprocess on an empty data directory, as on a new machine, from sources in
the datasets' own formats (a CIFAR-10 JPEG archive, Fashion-MNIST's idx files) cut to a few images per
class: the same preparation, seconds instead of a minute (the full ones: tests/test_data.py).
"""

import gzip
import io
import json
import os
import re
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from PIL import Image

from hpobench import data
from hpobench.data import sources

TFDS_WORDS = ("Downloading", "downloaded and prepared", "Unknown size")


def hpobench(*argv, data_dir, timeout=600, env=None):
    """`hpobench ARGV` in a subprocess with its own data directory (and `env` added): (stdout, stderr); it
    must succeed."""
    env = {**os.environ, **(env or {}), "HPOBENCH_DATA_DIR": str(data_dir)}
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


def small_cifar10(path, train=20, test=5):
    """A CIFAR-10 archive as ../shared/data holds it (`cifar10/{train,test}/<class>/NNNN.jpg`), `train` and
    `test` 32x32 JPEGs per class."""
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("train", train), ("test", test)):
            for c, name in enumerate(sources.CIFAR10_CLASSES):
                for i in range(n):
                    jpeg = io.BytesIO()
                    pixels = np.clip(rng.normal(25 * c, 30, (32, 32, 3)), 0, 255).astype(np.uint8)
                    Image.fromarray(pixels).save(jpeg, "JPEG")
                    member = tarfile.TarInfo(f"cifar10/{split}/{name}/{i:04d}.jpg")
                    member.size = len(jpeg.getvalue())
                    tar.addfile(member, io.BytesIO(jpeg.getvalue()))
    return path


def small_fashion_mnist(folder, train=20, test=5):
    """Fashion-MNIST's four idx files as the Debian package installs them, `train` and `test` 28x28 images
    per class."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for prefix, n in (("train", train), ("t10k", test)):
        y = np.repeat(np.arange(10, dtype=np.uint8), n)
        x = rng.integers(0, 256, (len(y), 28, 28), dtype=np.uint8)
        for kind, arr in (("images-idx3", x), ("labels-idx1", y)):
            header = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
            with gzip.open(folder / f"{prefix}-{kind}-ubyte.gz", "wb") as f:
                f.write(header + arr.tobytes())
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name, resolution, make", [("fashion_mnist", 7, small_fashion_mnist),
                                                    ("cifar10", 8, small_cifar10)])
def test_first_evaluation_prints_only_json(name, resolution, make, tmp_path):
    source = make(tmp_path / "source.tar.gz" if name == "cifar10" else tmp_path / "source")
    env = {sources.ENV[name]: str(source)}
    (tmp_path / "tiny.json").write_text('{"depth": 8, "width": 8, "batch_size": 64}')  # quick to compile
    fidelity = f"epochs=1,data_fraction=0.5,resolution={resolution}"
    argv = ("evaluate", f"resnet/{name}", "--config", tmp_path / "tiny.json", "--fidelity", fidelity, "--compact")
    out, err = hpobench(*argv, data_dir=tmp_path / "data", env=env)
    assert json.loads(out)["status"] == "ok"
    assert f"hpobench: preparing {name} from {source} into {tmp_path / 'data'} (once) ..." in err
    assert re.search(rf"hpobench: {name} ready \(\d+ s\); later loads read the cache", err)
    assert not any(w in err + out for w in TFDS_WORDS), err
    out, err = hpobench(*argv, data_dir=tmp_path / "data", env=env)  # prepared: nothing said
    assert json.loads(out)["status"] == "ok" and "preparing" not in err


@pytest.mark.slow
def test_every_verb_prints_only_its_result(tmp_path):
    from hpobench import spaces

    out, _ = hpobench("list", data_dir=tmp_path)
    # the registry a fresh process has (other tests register benchmarks in this one)
    code = "from hpobench import benchmarks; print(*benchmarks.names(), sep='\\n')"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == fresh.splitlines() and "resnet/cifar10" in fresh.splitlines()
    out, _ = hpobench("space", "resnet/cifar10", data_dir=tmp_path)
    assert spaces.from_json(out) == spaces.resnet()
    out, _ = hpobench("evaluate", "synthetic/agree", "--fidelity", "epochs=3", data_dir=tmp_path)
    assert json.loads(out)["status"] == "ok"
    out, err = hpobench("tune", "synthetic/agree", "--optimizer", "smac", "--budget", 300,
                        "--out", tmp_path / "tune", data_dir=tmp_path)
    assert re.fullmatch(r"\d+ trials, cost [\d.]+ of 300; default F1 [\d.]+, incumbent F1 [\d.]+ \(maximized\); "
                        r"record: \S+/trials.parquet\n", out), out
    assert "cost" in err  # the progress bar
    out, _ = hpobench("scope", "synthetic/agree", "--budget", 100, "--n-low", 20, "--n-probe", 15, "--n-boot", 10,
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
